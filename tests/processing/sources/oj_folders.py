"""Online-judge folders written in a temp dir (CodeNet and AtCoder layouts) and a way to run the OJ steps on them."""

import csv
from collections import Counter
from pathlib import Path

from datatrove.data import Document

from cursorcore.builders.oj_trajectories import Config, pipeline
from cursorcore.processing.sources.oj import DEFAULT_MAX_CODE_BYTES

CODENET_COLUMNS = ["submission_id", "problem_id", "user_id", "date", "language", "original_language"]
CODENET_COLUMNS += ["filename_ext", "status", "cpu_time", "memory", "code_size", "accuracy"]
EXTENSIONS = {"C++": "cpp", "Python": "py", "Java": "java"}

DRAFT = "n = int(input())\nvalues = list(map(int, input().split()))\nprint(sum(values[1:]))\n"
SOLUTION = "n = int(input())\nvalues = list(map(int, input().split()))\nprint(sum(values))\n"


def program(variant: int) -> str:
    """Distinct multi-line programs (finals of different users must not look alike)."""
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo"]
    names = [f"{word}{variant}" for word in words[variant % len(words) :] + words[: variant % len(words)]]
    return "".join(f"{name} = {index * variant}\n" for index, name in enumerate(names)) + f"print({names[0]})\n"


def write_codenet(root: Path, rows: list[tuple], statements: dict[str, str] | None = None) -> Path:
    """A CodeNet-layout folder. Each row is (problem, user, language, status, code); code is str, bytes, or None for
    a file that is missing. Submission ids and dates follow the row order."""
    by_problem: dict[str, list[list]] = {}
    for number, (problem, user, language, status, code) in enumerate(rows, start=1):
        submission = f"s{number:09d}"
        extension = EXTENSIONS[language]
        if code is not None:
            path = root / "data" / problem / language / f"{submission}.{extension}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(code if isinstance(code, bytes) else code.encode())
        row = [submission, problem, user, 1_600_000_000 + 60 * number, language, language, extension, status]
        by_problem.setdefault(problem, []).append([*row, 10, 1024, len(code or ""), "1/1"])
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    for problem, problem_rows in by_problem.items():
        with open(root / "metadata" / f"{problem}.csv", "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(CODENET_COLUMNS)
            writer.writerows(problem_rows)
    for problem, html in (statements or {}).items():
        (root / "problem_descriptions").mkdir(exist_ok=True)
        (root / "problem_descriptions" / f"{problem}.html").write_text(html)
    return root


def good(problem: str, user: str, language: str = "Python", variant: int = 0) -> list[tuple]:
    """A trajectory every filter keeps: a close draft, then the Accepted final."""
    final = SOLUTION if variant == 0 else program(variant)
    draft = DRAFT if variant == 0 else final.replace("print(", "print(-")
    return [(problem, user, language, "Wrong Answer", draft), (problem, user, language, "Accepted", final)]


def oj_steps(
    source: Path,
    descriptions: str | None = None,
    *,
    layout: str = "auto",
    duplicates: str = "dedupe",
    similarity: str = "submission",
    max_bytes: int = DEFAULT_MAX_CODE_BYTES,
    **limits,
) -> list:
    """The builder's OJ pipeline (its published order); `limits` are the per-problem diversity limits."""
    config = Config(
        source=str(source),
        layout=layout,
        dataset="test",
        license="MIT",
        descriptions=descriptions,
        duplicates=duplicates,
        history_similarity=similarity,
        max_code_bytes=max_bytes,
        **limits,
    )
    return pipeline(config)


def run(steps: list, rank: int = 0, world_size: int = 1) -> tuple[dict[str, Document], Counter]:
    """Kept documents by id and every step's counters summed (as the build report merges them)."""
    data = None
    for step in steps:
        data = step(data, rank, world_size)
    documents = {doc.id: doc for doc in data}
    counters = Counter()
    for step in steps:
        counters.update({name: int(value.total) for name, value in step.stats.stats.items()})
    return documents, counters


def statuses(doc: Document) -> list[str]:
    return [submission["status"] for submission in doc.metadata["submissions"]]
