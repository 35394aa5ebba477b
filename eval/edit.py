"""Code-editing benchmarks scored by running their tests on the edited file: CanItEdit and EditEval.

* CanItEdit (nuprl/CanItEdit, 105 tasks): `before` plus an instruction, descriptive or lazy; the edited file is
  followed by the task's `tests` and run as one program. Some tasks import libraries (numpy, pandas, torch, scipy,
  z3, ...); where the sandbox's interpreter lacks one, that task cannot pass here, its reference included.
* EditEval (InstructCoder, 194 tasks): `input` plus `instruction`; the edited code goes into the task's `context`
  wherever it says `{{Code}}` (some tests also read it back as the string `edited_code`), followed by the task's
  `check()` test, which is then called.

A task is a `Sample` (current code and instruction, no history), so the APEval prompt modes apply unchanged.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cursorcore.eval.execution import make_sandbox, run_jobs
from cursorcore.eval.results import MISSING, Run, SampleResult, TaskResult, harness_info
from cursorcore.eval.sources import fetch, load_hub_rows, md5_hex, parse_json_rows, read_bytes, rows_hash
from cursorcore.processing.sandbox import Job, Limits, Status
from cursorcore.schema import Sample, Snapshot

logger = logging.getLogger(__name__)

CANITEDIT_HUB_ID = "nuprl/CanItEdit"
EDITEVAL_URL = "https://raw.githubusercontent.com/qishenghu/InstructCoder/main/edit_eval/edit_eval.jsonl"
INSTRUCTIONS = ("descriptive", "lazy")
CODE_SLOT = "{{Code}}"
# Test programs of these benchmarks run in well under a second; the limit only stops runaway edits.
DEFAULT_LIMITS = Limits(wall_time=30.0, memory_mb=4096)


@dataclass(frozen=True)
class EditTask:
    """One task: what the model sees (`sample`), the reference edit, and the program its tests make of a solution."""

    task_id: str
    sample: Sample
    reference: str
    context: str  # the code around the solution, which goes wherever it says {{Code}}
    tests: str

    def program(self, solution: str) -> str:
        return self.context.replace(CODE_SLOT, solution) + self.tests


@dataclass(frozen=True)
class EditBenchmark:
    name: str
    tasks: list[EditTask]
    hash: str
    source: str

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "tasks": len(self.tasks), "hash": self.hash, "source": self.source}


def _rows(path: str | Path | None, hub_id: str | None, url: str | None = None) -> tuple[list[dict], str, str]:
    """Rows, their hash and where they came from: a local file, else a Hub dataset, else a URL fetched once."""
    if path is None and hub_id is not None:
        rows = load_hub_rows(hub_id)
        return rows, rows_hash(rows), hub_id
    if path is None:
        path = fetch(url, url.rsplit("/", 1)[-1])
    data = read_bytes(path)
    return parse_json_rows(data), md5_hex(data), str(path)


def load_canitedit(
    path: str | Path | None = None, instruction: str = "descriptive", hub_id: str = CANITEDIT_HUB_ID
) -> EditBenchmark:
    """CanItEdit with its descriptive or lazy instructions, from a JSON-lines file or the Hub."""
    if instruction not in INSTRUCTIONS:
        raise ValueError(f"CanItEdit instructions are {' or '.join(INSTRUCTIONS)}, not {instruction!r}")
    rows, digest, source = _rows(path, hub_id)
    ids = [row.get("full_name") or str(row["id"]) for row in rows]
    tasks = [
        EditTask(
            task_id=task_id,
            sample=Sample(current=Snapshot(row["before"]), user=row[f"instruction_{instruction}"], id=task_id),
            reference=row["after"],
            context=CODE_SLOT,
            tests="\n\n" + row["tests"] + "\n",
        )
        for task_id, row in zip(ids, rows, strict=True)
    ]
    return EditBenchmark(f"CanItEdit ({instruction})", tasks, digest, source)


def load_editeval(path: str | Path | None = None, hub_id: str | None = None) -> EditBenchmark:
    """EditEval from a JSON-lines file, a Hub dataset id, or InstructCoder's repository (fetched once)."""
    rows, digest, source = _rows(path, hub_id, EDITEVAL_URL)
    tasks = []
    for row in rows:
        context = row.get("context") or ""
        tasks.append(
            EditTask(
                task_id=row["task_id"],
                sample=Sample(current=Snapshot(row["input"]), user=row["instruction"], id=row["task_id"]),
                reference=row["output"],
                context=context if CODE_SLOT in context else context + CODE_SLOT,
                tests=f"\n\n{row['test']}\n\ncheck()\n",
            )
        )
    return EditBenchmark("EditEval", tasks, digest, source)


def score_edits(
    benchmark: EditBenchmark,
    solutions: Sequence[tuple[str, str]],
    *,
    provider: str = "local",
    workers: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> list[str]:
    """pass / fail / timeout / error for each `(task_id, code)`: the task's tests run on the edited code."""
    tasks = {task.task_id: task for task in benchmark.tasks}
    unknown = sorted({task_id for task_id, _ in solutions} - set(tasks))
    if unknown:
        raise ValueError(f"not in {benchmark.name}: {', '.join(unknown[:5])}")
    jobs = [Job.python(tasks[task_id].program(code), limits=limits) for task_id, code in solutions]
    with make_sandbox(provider, workers) as sandbox:
        results = run_jobs(sandbox, jobs)
    verdicts = {Status.PASSED: "pass", Status.TIMEOUT: "timeout", Status.ERROR: "error"}
    return [verdicts.get(result.status, "fail") for result in results]


def evaluate_edits(
    benchmark: EditBenchmark,
    solutions: Mapping[str, Sequence[SampleResult]],
    *,
    provider: str = "local",
    workers: int | None = None,
    **run_info: Any,
) -> Run:
    """Score every task's samples (`SampleResult`s holding a `solution`); tasks without one count as failed."""
    missing = [task.task_id for task in benchmark.tasks if not solutions.get(task.task_id)]
    if missing:
        logger.warning("%d %s task(s) have no solution and count as failed", len(missing), benchmark.name)
    flat = [(task_id, result) for task_id, results in solutions.items() for result in results]
    statuses = score_edits(benchmark, [(t, r.solution or "") for t, r in flat], provider=provider, workers=workers)
    for (_, result), status in zip(flat, statuses, strict=True):
        result.base = status
    tasks = [
        TaskResult(task.task_id, list(solutions.get(task.task_id) or [SampleResult(base=MISSING)]))
        for task in benchmark.tasks
    ]
    harness = harness_info(sandbox=provider, wall_time=DEFAULT_LIMITS.wall_time, memory_mb=DEFAULT_LIMITS.memory_mb)
    return Run(benchmark=benchmark.describe(), tasks=tasks, harness=harness, **run_info)
