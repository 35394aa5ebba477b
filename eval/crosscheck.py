"""Run EvalPlus itself on the same solutions, offline, to check this harness against it (tests, the benchmark).

EvalPlus executes solutions in forked processes with no isolation; use it on trusted solutions only. It is not a
dependency: it runs in whichever interpreter has it (`$EVALPLUS_PYTHON`, else this one), installed with
`pip install --no-deps evalplus==0.3.1 wget tempdir appdirs termcolor fire tree-sitter tree-sitter-python
multipledispatch psutil` (its other requirements are model providers that scoring never imports).
"""

import json
import os
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from cursorcore.eval.sources import read_bytes

INSTALL_HINT = (
    "pip install --no-deps evalplus==0.3.1 wget tempdir appdirs termcolor fire tree-sitter tree-sitter-python "
    "multipledispatch psutil"
)


def evalplus_python() -> str | None:
    """An interpreter that can import evalplus, or None."""
    candidates = [os.environ.get("EVALPLUS_PYTHON"), sys.executable]
    for python in filter(None, candidates):
        probe = subprocess.run([python, "-c", "import evalplus.evaluate"], capture_output=True)
        if probe.returncode == 0:
            return python
    return None


@dataclass(frozen=True)
class EvalPlusRun:
    """EvalPlus's `(base_status, plus_status)` per solution, in the order of the solutions file; its wall time until
    it exited, and until it had written its results file (its exit then waits for a watchdog thread that sleeps in
    20 s steps)."""

    statuses: list[tuple[str, str]]
    seconds: float
    results_seconds: float


def run_evalplus(
    dataset: str,
    solutions: list[tuple[str, str]],
    dataset_path: str | Path,
    workdir: Path,
    *,
    python: str | None = None,
    parallel: int | None = None,
    min_time_limit: float | None = None,
    max_memory_bytes: int | None = None,
    cache: Path | None = None,
) -> EvalPlusRun:
    """`evalplus.evaluate` on `(task_id, code)` rows. The dataset file is given to EvalPlus through its override
    variables, so nothing is downloaded; EvalPlus needs a solution for every task of that file. `max_memory_bytes`
    sets its EVALPLUS_MAX_MEMORY_BYTES (-1: no limit); `cache` is where EvalPlus keeps its reference outputs (its
    `evalplus` folder under $XDG_CACHE_HOME; default: the user's)."""
    import time

    python = python or evalplus_python()
    if python is None:
        raise FileNotFoundError(f"evalplus is not installed: {INSTALL_HINT}")
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / f"{dataset}-dataset.jsonl"
    data.write_bytes(read_bytes(dataset_path))
    samples = workdir / f"{dataset}-samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "solution": code}) + "\n" for t, code in solutions))
    command = [python, "-m", "evalplus.evaluate", "--dataset", dataset, "--samples", str(samples)]
    command += ["--i_just_wanna_run"]
    if parallel:
        command += ["--parallel", str(parallel)]
    if min_time_limit is not None:
        command += ["--min_time_limit", str(min_time_limit)]
    env = {**os.environ, "HUMANEVAL_OVERRIDE_PATH": str(data), "MBPP_OVERRIDE_PATH": str(data)}
    if max_memory_bytes is not None:
        env["EVALPLUS_MAX_MEMORY_BYTES"] = str(max_memory_bytes)
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    results_file = samples.with_name(samples.stem + "_eval_results.json")
    started, started_at = time.monotonic(), time.time()
    subprocess.run(command, env=env, check=True, capture_output=True, cwd=workdir)
    seconds = time.monotonic() - started
    results_seconds = min(seconds, results_file.stat().st_mtime - started_at)
    results = json.loads(results_file.read_text())["eval"]
    position: dict[str, int] = defaultdict(int)
    statuses = []
    for task_id, _ in solutions:  # EvalPlus lists each task's results in the order its samples came
        entry = results[task_id][position[task_id]]
        position[task_id] += 1
        statuses.append((entry["base_status"], entry["plus_status"]))
    return EvalPlusRun(statuses, seconds, results_seconds)
