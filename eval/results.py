"""Scores from verdicts: unbiased pass@k, per-category tables in CursorCore's "base (plus)" form, and the results
file that says everything needed to reproduce a number."""

import json
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import comb
from pathlib import Path
from typing import Any

from cursorcore import __version__

PASS = "pass"
FAIL = "fail"
MISSING = "missing"  # the verdict of a task that had no solution: it counts as failed


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chance that at least one of k samples drawn from n (c of them correct) is correct: 1 - C(n-c, k) / C(n, k),
    the unbiased estimator of Chen et al. (2021)."""
    if not 0 < k <= n:
        raise ValueError(f"pass@{k} needs at least {k} sample(s) per task, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


@dataclass
class SampleResult:
    """One scored sample: the statuses the tests gave (pass, fail, timeout, error) and, when generated, the code."""

    base: str = ""
    plus: str | None = None
    solution: str | None = None
    answer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if value is not None}


@dataclass
class TaskResult:
    """All samples of one task. `plus_requires_base` says whether the plus score counts a sample only when the base
    tests pass too (EvalPlus's HumanEval+ / MBPP+ scores) or on the plus tests alone (CursorCore's APEval table)."""

    task_id: str
    samples: list[SampleResult]
    category: str | None = None
    plus_requires_base: bool = True

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def base_correct(self) -> int:
        return sum(sample.base == PASS for sample in self.samples)

    @property
    def plus_correct(self) -> int:
        return sum(
            sample.plus == PASS and (sample.base == PASS or not self.plus_requires_base) for sample in self.samples
        )

    @property
    def errors(self) -> int:
        return sum("error" in (sample.base, sample.plus) for sample in self.samples)

    def to_dict(self) -> dict[str, Any]:
        """`base` / `plus` are the first sample's verdicts as pass or fail (the greedy answer when n = 1)."""
        first = self.samples[0]
        row: dict[str, Any] = {"task_id": self.task_id}
        if self.category is not None:
            row["category"] = self.category
        row["base"] = PASS if first.base == PASS else FAIL
        if first.plus is not None:
            row["plus"] = PASS if first.plus == PASS else FAIL
        row |= {"n": self.n, "base_correct": self.base_correct}
        if first.plus is not None:
            row["plus_correct"] = self.plus_correct
        row["samples"] = [sample.to_dict() for sample in self.samples]
        return row


def ks_for(tasks: Sequence[TaskResult]) -> list[int]:
    """The k of pass@k that every task has samples for, among 1, 10 and 100 (as EvalPlus reports)."""
    fewest = min((task.n for task in tasks), default=0)
    return [k for k in (1, 10, 100) if k <= fewest]


def scores(tasks: Sequence[TaskResult]) -> dict[str, dict[str, float]]:
    """Mean pass@k in percent, for the base tests and (when there are any) the plus tests."""
    out: dict[str, dict[str, float]] = {"base": {}}
    has_plus = any(task.samples[0].plus is not None for task in tasks)
    if has_plus:
        out["plus"] = {}
    for k in ks_for(tasks):
        out["base"][f"pass@{k}"] = 100 * sum(pass_at_k(t.n, t.base_correct, k) for t in tasks) / len(tasks)
        if has_plus:
            out["plus"][f"pass@{k}"] = 100 * sum(pass_at_k(t.n, t.plus_correct, k) for t in tasks) / len(tasks)
    return out


def category_scores(tasks: Sequence[TaskResult], categories: Iterable[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Scores per category, then over all tasks under "Avg" (CursorCore's table averages the 164 tasks)."""
    table = {}
    for name in categories:
        members = [task for task in tasks if task.category == name]
        if members:  # a partial run (--limit) may leave a category empty
            table[name] = scores(members)
    table["Avg"] = scores(tasks)
    return table


def format_cell(cell: Mapping[str, Mapping[str, float]], k: int = 1) -> str:
    base = cell["base"][f"pass@{k}"]
    return f"{base:.1f} ({cell['plus'][f'pass@{k}']:.1f})" if "plus" in cell else f"{base:.1f}"


def markdown_table(rows: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]], k: int = 1) -> str:
    """`{row name: {column: cell}}` as a Markdown table of "base (plus)" pass@k cells."""
    columns = list(next(iter(rows.values())))
    lines = ["| Model | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for name, cells in rows.items():
        lines.append(f"| {name} | " + " | ".join(format_cell(cells[column], k) for column in columns) + " |")
    return "\n".join(lines)


@dataclass
class Run:
    """One evaluation: what was scored, how, and the verdicts. `to_dict` is the results file."""

    benchmark: dict[str, Any]
    tasks: list[TaskResult]
    harness: dict[str, Any]
    categories: tuple[str, ...] = ()
    model: dict[str, Any] | None = None
    generation: dict[str, Any] | None = None
    total_tasks: int | None = None  # the benchmark's full task count, when `tasks` holds only some (--limit)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def scores(self) -> dict[str, Any]:
        return category_scores(self.tasks, self.categories) if self.categories else {"all": scores(self.tasks)}

    @property
    def errors(self) -> int:
        return sum(task.errors for task in self.tasks)

    @property
    def answered(self) -> int:
        """Tasks that had at least one solution."""
        return sum(any(sample.base != MISSING for sample in task.samples) for task in self.tasks)

    @property
    def task_count(self) -> dict[str, int]:
        """How much of the benchmark the scores cover, so that a partial run is never read as a full score."""
        return {"scored": len(self.tasks), "answered": self.answered, "benchmark": self.total_tasks or len(self.tasks)}

    @property
    def partial(self) -> bool:
        return self.answered < self.task_count["benchmark"]

    @property
    def model_name(self) -> str:
        return (self.model or {}).get("name") or "solutions"

    def table(self, k: int = 1) -> str:
        return markdown_table({self.model_name: self.scores}, k)

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "model": self.model,
            "generation": self.generation,
            "harness": self.harness,
            "created": self.created,
            "scores": self.scores,
            "task_count": self.task_count,
            "errors": self.errors,
            "tasks": [task.to_dict() for task in self.tasks],
        }

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")


def harness_info(**options: Any) -> dict[str, Any]:
    """This harness's identity and the options that change verdicts."""
    return {"name": "cursorcore", "version": __version__, "python": platform.python_version(), **options}
