"""Online-judge trajectories (CursorCore's "online submit" source) as datatrove steps.

One Document per (user, problem): the user's submissions to the problem in time order, which synthesis later turns
into history / current / next. The steps follow CursorCore's `data/submit.py` and `data/submit_process.py`:

1. `OJReader`: metadata of a CodeNet or AtCoder folder (see `oj_layouts`) -> one trajectory per (user, problem),
   code not read yet. A datatrove disk reader: CodeNet's metadata files, one per problem, are dealt to tasks;
   AtCoder's single `metadata.csv` is read by one task. All of a problem's trajectories come out together sorted by
   user, so the per-problem limits below see the whole problem in one task and the output does not depend on the
   number of tasks. Problems identical to an earlier one (CodeNet's clusters) are skipped, as CursorCore does.
2. `OJSingleLanguageFilter`: the user wrote the problem in one language.
3. `OJFirstAcceptedFilter`: keep submissions up to and including the first Accepted; none -> drop.
4. `OJUsableCodeFilter`: read the code of the kept submissions; a missing, unreadable, binary, non-UTF-8 or oversized
   file drops the trajectory (a gap would make the history lie). Line endings are normalised as Python's text mode
   does.
5. `OJDuplicateFilter`: consecutive identical submissions. `mode="dedupe"` (default) keeps the last of each run;
   `mode="drop"` drops the trajectory, as CursorCore's script does.
6. `OJShapeFilter`: a single submission, a final with at most one non-blank line, or a final with four consecutive
   newlines (CursorCore's extra check) -> drop.
7. `OJAsciiFilter`: any non-ASCII character in any submission -> drop.
8. `OJHistorySimilarityFilter`: ROUGE-L(earlier, final) against `threshold` (0.7). `mode="submission"` (default)
   drops the earlier submissions below it (then merges drafts that became neighbours) and the trajectory if none is
   left; `mode="trajectory"` keeps everything when at least one earlier submission reaches it and drops the
   trajectory otherwise, as CursorCore's script does.
9. `OJProblemDiversityFilter`: per problem, greedily in user order, keep a trajectory only while fewer than 50 are
   kept for the problem and 10 for its language, and its final has ROUGE-L < 0.4 with every kept final.
10. `OJStatementAnnotator`: attach the problem statement (CodeNet HTML description as text), "" when none.

Every drop is counted as `dropped_<reason>` in the stage's datatrove stats.
"""

from collections import Counter
from collections.abc import Iterator

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolder, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.readers.base import BaseDiskReader
from datatrove.utils.logging import logger

from cursorcore.processing.sources.listing import literal_glob
from cursorcore.processing.sources.oj_layouts import (
    ACCEPTED,
    ATCODER,
    CODENET,
    LAYOUTS,
    PROBLEM_LIST,
    BrokenRow,
    Submission,
    detect_layout,
    has_metadata,
    identical_problems,
    iter_problem_rows,
    read_atcoder,
    read_codenet_problem,
)
from cursorcore.processing.sources.oj_statements import StatementIndex
from cursorcore.processing.sources.rouge import rouge_l, rouge_tokens

DEFAULT_MAX_CODE_BYTES = 256 * 1024
SUBMISSION_FIELDS = ("submission_id", "code", "status", "timestamp")
_TEXT_COLUMNS = ("id", "source", "dataset", "layout", "license", "problem_id", "user_id", "language")
OJ_SCHEMA = pa.schema(
    [(column, pa.string()) for column in (*_TEXT_COLUMNS, "statement_id", "statement")]
    + [
        (
            "submissions",
            pa.list_(
                pa.struct(
                    [
                        ("submission_id", pa.string()),
                        ("code", pa.string()),
                        ("status", pa.string()),
                        ("timestamp", pa.int64()),
                    ]
                )
            ),
        )
    ]
)
_TRACKED = ("submission_id", "status", "timestamp", "path")  # per submission until the code is read
METADATA_FILES = {CODENET: "metadata/*.csv", ATCODER: literal_glob("metadata.csv")}  # what OJReader's tasks share


def submissions(doc: Document) -> list[dict]:
    """The trajectory's submissions, oldest first: submission_id, status, timestamp, path and (once read) code."""
    return doc.metadata["submissions"]


class OJReader(BaseDiskReader):
    """Online-judge submission metadata -> one Document per (user, problem), with datatrove's file sharding, `limit`,
    `skip`, `default_metadata` and progress bars. Documents have no text until `OJUsableCodeFilter` reads the code."""

    name = "OJ submissions"

    def __init__(
        self,
        source: str,
        layout: str = "auto",
        dataset: str = "oj",
        license: str = "",
        limit: int = -1,
        skip: int = 0,
        default_metadata: dict | None = None,
        file_progress: bool = False,
        doc_progress: bool = False,
    ) -> None:
        if layout not in (*LAYOUTS, "auto"):
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)} or auto, got {layout!r}")
        super().__init__(
            source,
            limit=limit,
            skip=skip,
            default_metadata=default_metadata,
            file_progress=file_progress,
            doc_progress=doc_progress,
        )
        self.layout = layout
        self.dataset = dataset
        self.license = license
        self._layout: str | None = None  # the layout read, once a task has looked at the folder
        self._identical: set[str] = set()

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        layout = detect_layout(self.data_folder) if self.layout == "auto" else self.layout
        if layout is None or not has_metadata(self.data_folder, layout):
            if data:
                yield from data
            logger.warning(
                f"{self.data_folder.path}: no {layout or 'metadata.csv or metadata/'} metadata; nothing to read"
            )
            if rank == 0:
                self.stat_update("dropped_no_metadata")
            return
        # an "auto" layout is known only once the folder is looked at, here: it decides which files datatrove lists
        self._layout, self.glob_pattern = layout, METADATA_FILES[layout]
        self._identical = identical_problems(self.data_folder) if layout == CODENET else set()
        yield from super().run(data, rank, world_size)

    def read_file(self, filepath: str) -> DocumentsPipeline:
        if self._layout == CODENET:
            name = filepath.rsplit("/", 1)[-1]
            problem = name.removesuffix(".csv")
            if name == PROBLEM_LIST:  # CodeNet's list of problems, not one problem's submissions
                return
            if problem in self._identical:
                self.stat_update("dropped_identical_problem")
                return
            problems = [(problem, read_codenet_problem(self.data_folder, problem))]
        else:
            problems = iter_problem_rows(read_atcoder(self.data_folder))
        for problem, rows in problems:
            with self.track_time():
                documents = list(self._trajectories(problem, rows))
            yield from documents

    def _trajectories(self, problem: str, rows: list[Submission | BrokenRow]) -> Iterator[Document]:
        by_user: dict[str, list[Submission]] = {}
        for row in rows:
            if isinstance(row, BrokenRow):
                self.stat_update(f"dropped_{row.reason}")
            else:
                by_user.setdefault(row.user_id, []).append(row)
        for user in sorted(by_user):
            attempts = sorted(by_user[user], key=lambda s: (s.timestamp, s.submission_id))
            self.stat_update("trajectories")
            metadata = {
                "problem_id": problem,
                "user_id": user,
                "languages": sorted({s.language for s in attempts}),
                "submissions": [{key: getattr(a, key) for key in _TRACKED} for a in attempts],
                "dataset": self.dataset,
                "layout": self._layout,
                "license": self.license,
            }
            # datatrove's readers merge `default_metadata` in `get_document_from_dict`, which skips text-less documents
            yield Document(
                text="", id=f"{self.dataset}/{problem}/{user}", metadata=(self.default_metadata or {}) | metadata
            )


class OJSingleLanguageFilter(BaseFilter):
    """CursorCore keeps users who wrote the problem in one language (a switch is not an edit of the same program)."""

    name = "OJ one language"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        languages = doc.metadata["languages"]
        if len(languages) != 1:
            return False, "multiple_languages"
        doc.metadata["language"] = languages[0]
        return True


class OJFirstAcceptedFilter(BaseFilter):
    """Cut the trajectory after its first Accepted: what follows is polishing, not getting it right."""

    name = "OJ up to first Accepted"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        statuses = [s["status"] for s in submissions(doc)]
        if ACCEPTED not in statuses:
            return False, "no_accepted"
        doc.metadata["submissions"] = submissions(doc)[: statuses.index(ACCEPTED) + 1]
        return True


class UnusableCode(Exception):
    """A code file the trajectory cannot use; the message is the drop reason."""


class OJUsableCodeFilter(BaseFilter):
    """Keeps trajectories whose every submission has usable code, reading it into the submissions on the way;
    unusable code drops the trajectory with the reason."""

    name = "OJ usable code"

    def __init__(self, source: str, max_bytes: int = DEFAULT_MAX_CODE_BYTES) -> None:
        super().__init__()
        self.source = source
        self.max_bytes = max_bytes
        self._folder: DataFolder | None = None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        try:
            for submission in submissions(doc):
                submission["code"] = self.read(submission["path"])
        except UnusableCode as error:
            return False, str(error)
        doc.text = submissions(doc)[-1]["code"]
        return True

    def read(self, path: str) -> str:
        """The code at `path` (relative to the source folder) with `\\n` line endings."""
        if self._folder is None:
            self._folder = get_datafolder(self.source)
        try:
            with self._folder.open(path, "rb") as file:
                data = file.read(self.max_bytes + 1)
        except FileNotFoundError:
            raise UnusableCode("missing_file") from None
        except (IsADirectoryError, PermissionError):
            raise UnusableCode("unreadable_file") from None
        if len(data) > self.max_bytes:
            raise UnusableCode("too_large")
        if b"\0" in data:
            raise UnusableCode("binary_file")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UnusableCode("not_utf8") from None
        return text.replace("\r\n", "\n").replace("\r", "\n")


def last_of_runs(attempts: list[dict]) -> list[dict]:
    """The last submission of each run of identical consecutive code (so a run ending in the final keeps Accepted)."""
    return [s for s, after in zip(attempts, [*attempts[1:], {}], strict=True) if s["code"] != after.get("code")]


class OJDuplicateFilter(BaseFilter):
    """Consecutive identical submissions (a resubmission teaches no edit): dedupe them, or drop the trajectory."""

    name = "OJ consecutive duplicates"

    def __init__(self, mode: str = "dedupe") -> None:
        super().__init__()
        if mode not in ("dedupe", "drop"):
            raise ValueError(f"mode must be 'dedupe' or 'drop', got {mode!r}")
        self.mode = mode

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        attempts = submissions(doc)
        kept = last_of_runs(attempts)
        if len(kept) == len(attempts):
            return True
        if self.mode == "drop":
            return False, "consecutive_duplicates"
        self.stat_update("deduped_submissions", value=len(attempts) - len(kept))
        doc.metadata["submissions"] = kept
        return True


class OJShapeFilter(BaseFilter):
    """Trajectories that cannot make an edit sample: one submission, or a trivial or padded final."""

    name = "OJ shape"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if len(submissions(doc)) < 2:
            return False, "single_submission"
        final = submissions(doc)[-1]["code"]
        if sum(1 for line in final.splitlines() if line.strip()) <= 1:
            return False, "one_line_final"
        if "\n\n\n\n" in final:
            return False, "blank_lines_final"
        return True


class OJAsciiFilter(BaseFilter):
    """Non-ASCII code (comments and strings in other scripts) is dropped, as CursorCore does."""

    name = "OJ ASCII"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if all(s["code"].isascii() for s in submissions(doc)):
            return True
        return False, "non_ascii"


class OJHistorySimilarityFilter(BaseFilter):
    """Earlier submissions must resemble the final (ROUGE-L), or they are another program, not an earlier draft."""

    name = "OJ history similarity"

    def __init__(self, threshold: float = 0.7, mode: str = "submission") -> None:
        super().__init__()
        if mode not in ("submission", "trajectory"):
            raise ValueError(f"mode must be 'submission' or 'trajectory', got {mode!r}")
        self.threshold = threshold
        self.mode = mode

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        *earlier, final = submissions(doc)
        final_tokens = rouge_tokens(final["code"])
        similar = [rouge_l(rouge_tokens(s["code"]), final_tokens) >= self.threshold for s in earlier]
        if not any(similar):
            return False, "dissimilar_history"
        if self.mode == "submission" and not all(similar):
            self.stat_update("dissimilar_submissions", value=similar.count(False))
            # A draft, an unrelated program, the same draft again: without the middle one, the drafts are one run.
            kept = [s for s, keep in zip(earlier, similar, strict=True) if keep] + [final]
            doc.metadata["submissions"] = last_of_runs(kept)
            if merged := len(kept) - len(doc.metadata["submissions"]):
                self.stat_update("deduped_submissions", value=merged)
        return True


class OJProblemDiversityFilter(BaseFilter):
    """Per problem: at most `max_per_problem` trajectories, `max_per_language` per language, finals mutually
    dissimilar (ROUGE-L < `threshold`), chosen greedily in the order the reader yields them (by user)."""

    name = "OJ per-problem diversity"

    def __init__(self, threshold: float = 0.4, max_per_problem: int = 50, max_per_language: int = 10) -> None:
        super().__init__()
        self.threshold = threshold
        self.max_per_problem = max_per_problem
        self.max_per_language = max_per_language
        self._problem: str | None = None
        self._finished: set[str] = set()
        self._finals: list[list[str]] = []
        self._per_language: Counter[str] = Counter()

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        problem = doc.metadata["problem_id"]
        if problem != self._problem:
            if problem in self._finished:
                raise RuntimeError(f"trajectories of problem {problem} are not contiguous; the reader must group them")
            if self._problem is not None:
                self._finished.add(self._problem)
            self._problem, self._finals, self._per_language = problem, [], Counter()
        language = doc.metadata["language"]
        if len(self._finals) >= self.max_per_problem:
            return False, "problem_limit"
        if self._per_language[language] >= self.max_per_language:
            return False, "language_limit"
        final = rouge_tokens(doc.text)
        if any(rouge_l(final, kept) >= self.threshold for kept in self._finals):
            return False, "similar_final"
        self._finals.append(final)
        self._per_language[language] += 1
        return True


class OJStatementAnnotator(PipelineStep):
    """Attach each problem's statement; loaded on first use so the step pickles small for worker processes."""

    name = "OJ statements"
    type = "🏷 - ANNOTATOR"

    def __init__(self, descriptions: str | None = None, problem_list: str | None = None) -> None:
        super().__init__()
        self.descriptions = descriptions
        self.problem_list = problem_list
        self._index: StatementIndex | None = None

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data or ():
            statement_id, statement = self._lookup(doc.metadata["problem_id"])
            doc.metadata["statement_id"], doc.metadata["statement"] = statement_id, statement
            self.stat_update("with_statement" if statement else "without_statement")
            yield doc

    def _lookup(self, problem_id: str) -> tuple[str, str]:
        if not self.descriptions:
            return "", ""
        if self._index is None:
            with self.track_time("load"):
                self._index = StatementIndex(self.descriptions, self.problem_list)
        return self._index.lookup(problem_id)


def oj_row(writer: object, doc: Document) -> dict:
    """A kept trajectory as one `OJ_SCHEMA` row (a ParquetWriter adapter)."""
    meta = doc.metadata
    return {
        "id": doc.id,
        "source": "oj",
        "dataset": meta["dataset"],
        "layout": meta["layout"],
        "license": meta["license"],
        "problem_id": meta["problem_id"],
        "user_id": meta["user_id"],
        "language": meta["language"],
        "statement_id": meta.get("statement_id", ""),
        "statement": meta.get("statement", ""),
        "submissions": [{key: s[key] for key in SUBMISSION_FIELDS} for s in submissions(doc)],
    }
