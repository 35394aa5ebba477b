"""Submission metadata of online judges in the two layouts this project reads, as one record type.

* **CodeNet** (Project CodeNet): `metadata/<problem>.csv` (submission_id, problem_id, user_id, date as Unix seconds,
  language, original_language, filename_ext, status, cpu_time, memory, code_size, accuracy), code at
  `data/<problem>/<language>/<submission_id>.<filename_ext>`, statements at `problem_descriptions/<problem>.html`,
  identical problems listed in `derived/duplicates/identical_problem_clusters`.
* **AtCoder** (an archive of one account's AtCoder submissions): one `metadata.csv` (submission_id, problem_id,
  contest_id, user_id, date as `YYYY-MM-DD HH:MM:SS`, language, filename_ext, status as AC/WA/..., cpu_time_ms,
  path) with the code at `path`, relative to the folder.

A row that cannot be read becomes a `BrokenRow` naming its problem when it can, so the reader counts it on the task
that owns that problem and every row is counted exactly once however many tasks share the work.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from datatrove.io import DataFolder

CODENET = "codenet"
ATCODER = "atcoder"
LAYOUTS = (CODENET, ATCODER)

ACCEPTED = "Accepted"
# AtCoder's verdict abbreviations -> CodeNet's status names, so "up to the first Accepted" means one thing.
_STATUS_NAMES = {
    "AC": ACCEPTED,
    "WA": "Wrong Answer",
    "TLE": "Time Limit Exceeded",
    "MLE": "Memory Limit Exceeded",
    "OLE": "Output Limit Exceeded",
    "RE": "Runtime Error",
    "CE": "Compile Error",
    "IE": "Internal Error",
    "WJ": "Waiting for Judging",
}
_REQUIRED = {
    CODENET: ("submission_id", "problem_id", "user_id", "date", "language", "filename_ext", "status"),
    ATCODER: ("submission_id", "problem_id", "user_id", "date", "language", "status", "path"),
}
PROBLEM_LIST = "problem_list.csv"
IDENTICAL_CLUSTERS = "derived/duplicates/identical_problem_clusters"


@dataclass(frozen=True)
class Submission:
    submission_id: str
    problem_id: str
    user_id: str
    language: str
    status: str
    timestamp: int
    path: str


@dataclass(frozen=True)
class BrokenRow:
    problem_id: str
    reason: str


def has_metadata(folder: DataFolder, layout: str) -> bool:
    """Whether the folder has the layout's metadata: `metadata.csv` (AtCoder) or CSV files in `metadata/` (CodeNet)."""
    if layout == ATCODER:
        return folder.isfile("metadata.csv")
    return folder.isdir("metadata") and bool(folder.list_files("metadata", recursive=False, glob_pattern="*.csv"))


def detect_layout(folder: DataFolder) -> str | None:
    """The layout whose metadata the folder has, None for anything else (e.g. an empty folder)."""
    return next((layout for layout in (ATCODER, CODENET) if has_metadata(folder, layout)), None)


def _read_bytes(folder: DataFolder, path: str) -> bytes:
    with folder.open(path, "rb") as file:
        return file.read()


def normalise_status(status: str) -> str:
    status = status.strip()
    return _STATUS_NAMES.get(status.upper(), status)


def read_codenet_problem(folder: DataFolder, problem_id: str) -> list[Submission | BrokenRow]:
    """Every row of `metadata/<problem>.csv`."""
    return _read_metadata(folder, f"metadata/{problem_id}.csv", CODENET, problem_id)


def read_atcoder(folder: DataFolder) -> list[Submission | BrokenRow]:
    """Every row of `metadata.csv` (an unreadable file is one BrokenRow of no problem)."""
    return _read_metadata(folder, "metadata.csv", ATCODER, "")


def identical_problems(folder: DataFolder) -> set[str]:
    """CodeNet problems identical to an earlier one of their cluster (CursorCore keeps only the first of each)."""
    if not folder.isfile(IDENTICAL_CLUSTERS):
        return set()
    text = _read_bytes(folder, IDENTICAL_CLUSTERS).decode("utf-8", errors="replace")
    return {problem.strip() for line in text.splitlines() for problem in line.split(",")[1:] if problem.strip()}


def _read_metadata(folder: DataFolder, path: str, layout: str, problem_id: str) -> list[Submission | BrokenRow]:
    """The rows of a metadata CSV; a file that is not UTF-8 CSV with the layout's columns is one BrokenRow."""
    unreadable = [BrokenRow(problem_id, "unreadable_metadata_file")]
    try:
        reader = csv.DictReader(io.StringIO(_read_bytes(folder, path).decode("utf-8-sig"), newline=""))
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error):
        return unreadable
    if not set(_REQUIRED[layout]) <= set(reader.fieldnames or ()):
        return unreadable
    return [_parse(row, layout, problem_id) for row in rows]


def _parse(row: dict, layout: str, problem_id: str) -> Submission | BrokenRow:
    """One metadata row as a Submission; a short, long or malformed row as a BrokenRow."""
    problem = (problem_id or row.get("problem_id") or "").strip()
    if None in row or any(row.get(column) is None for column in _REQUIRED[layout]):
        return BrokenRow(problem, "broken_metadata_row")
    values = {column: row[column].strip() for column in _REQUIRED[layout]}
    if not all(values.values()):
        return BrokenRow(problem, "broken_metadata_row")
    timestamp = _timestamp(values["date"])
    if timestamp is None:
        return BrokenRow(problem, "broken_metadata_row")
    if layout == CODENET:
        path = f"data/{problem}/{values['language']}/{values['submission_id']}.{values['filename_ext']}"
    else:
        path = values["path"]
    return Submission(
        submission_id=values["submission_id"],
        problem_id=problem,
        user_id=values["user_id"],
        language=values["language"],
        status=normalise_status(values["status"]),
        timestamp=timestamp,
        path=path,
    )


def _timestamp(value: str) -> int | None:
    """Unix seconds from CodeNet's integer dates or ISO-like strings (naive ones read as UTC: only order matters)."""
    if value.isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())


def iter_problem_rows(rows: list[Submission | BrokenRow]) -> Iterator[tuple[str, list[Submission | BrokenRow]]]:
    """Rows grouped by problem id, problems sorted."""
    by_problem: dict[str, list[Submission | BrokenRow]] = {}
    for row in rows:
        by_problem.setdefault(row.problem_id, []).append(row)
    for problem in sorted(by_problem):
        yield problem, by_problem[problem]
