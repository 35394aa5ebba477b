"""APEval (CursorCore's benchmark): rows as samples without `next`, and scoring whole-file solutions.

Each task gives the coding history, the current code, an optional user instruction and an optional target
`area` (a cursor offset or a [start, end] selection of characters in the current code), which becomes `loc`.
The category (C, H+C, C+U, H+C+U) follows from which of history and instruction the task has.

A solution is the whole next file. It is scored with the HumanEval (base) and HumanEval+ (plus) tests of the
HumanEval task of the same id, and the table counts base and plus passes separately, as CursorCore's
`extract_results.py` reads EvalPlus's `base_status` and `plus_status`.
"""

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cursorcore.eval.evalplus import PlusScorer
from cursorcore.eval.results import MISSING, Run, SampleResult, TaskResult
from cursorcore.eval.sources import md5_hex, rows_hash
from cursorcore.schema import Sample

logger = logging.getLogger(__name__)

HUB_ID = "TechxGenus/APEval"
CATEGORIES = ("C", "H+C", "C+U", "H+C+U")


def category(sample: Sample) -> str:
    return ("H+" if sample.history else "") + "C" + ("+U" if sample.user else "")


def apeval_sample(task: Mapping[str, Any]) -> Sample:
    """One APEval task as a sample (`id` = task_id, `source` = "apeval")."""
    task_id = task.get("task_id")
    area = task.get("area")
    if isinstance(area, str):  # some exports serialise the int-or-pair column as JSON text
        area = json.loads(area) if area.strip() else None
    row = {
        "id": task_id,
        "source": "apeval",
        "history": task.get("history") or [],
        "current": task.get("current"),
        "user": task.get("user") or "",
        "loc": area,
    }
    return Sample.from_row(row, row_index=task_id)


def load_apeval(path: str | Path | None = None, revision: str | None = None) -> list[Sample]:
    """All tasks from a local `apeval.json` (a JSON list, or JSON lines), or from the Hub dataset."""
    return [apeval_sample(task) for task in _read_tasks(path, revision)]


@dataclass(frozen=True)
class APEvalSet:
    """The tasks and what identifies them: the md5 of the file read, or of the rows when they came from the Hub."""

    samples: list[Sample]
    hash: str
    source: str
    revision: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"name": "APEval", "tasks": len(self.samples), "hash": self.hash, "source": self.source} | (
            {"revision": self.revision} if self.revision else {}
        )


def open_apeval(path: str | Path | None = None, revision: str | None = None) -> APEvalSet:
    rows = list(_read_tasks(path, revision))
    digest = md5_hex(Path(path).read_bytes()) if path else rows_hash(rows)
    return APEvalSet([apeval_sample(row) for row in rows], digest, str(path) if path else HUB_ID, revision)


def evaluate_apeval(
    apeval: APEvalSet,
    solutions: Mapping[str, Sequence[SampleResult]],
    scorer: PlusScorer,
    **run_info: Any,
) -> Run:
    """Score every task's samples (`SampleResult`s holding a `solution`) against HumanEval base and plus tests. A
    task without a solution counts as failed and is reported. `run_info` goes to the `Run` (model, generation)."""
    missing = [sample.id for sample in apeval.samples if not solutions.get(sample.id)]
    if missing:
        logger.warning("%d APEval task(s) have no solution and count as failed: %s", len(missing), missing[:5])
    flat = [(task_id, result) for task_id, results in solutions.items() for result in results]
    verdicts = scorer.score([(task_id, result.solution or "") for task_id, result in flat])
    for (_, result), verdict in zip(flat, verdicts, strict=True):
        result.base, result.plus = verdict.base, verdict.plus
    tasks = [
        TaskResult(
            sample.id,
            list(solutions.get(sample.id) or [SampleResult(base=MISSING, plus=MISSING)]),
            category=category(sample),
            plus_requires_base=False,
        )
        for sample in apeval.samples
    ]
    return Run(
        benchmark=apeval.describe() | {"tests": scorer.benchmark.describe()},
        tasks=tasks,
        harness=scorer.describe(),
        categories=CATEGORIES,
        **run_info,
    )


def _read_tasks(path: str | Path | None, revision: str | None) -> Iterable[Mapping[str, Any]]:
    if path is None:
        import datasets

        return datasets.load_dataset(HUB_ID, split="test", revision=revision)
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]
