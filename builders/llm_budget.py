"""One LLM budget per build: `llm.max_concurrency` is what the server takes in total, and every task of a stage
that runs at the same time gets an equal share of it (32 tasks of a 64-request budget would otherwise send 2,048
requests at once to a server that takes 128 or 512).

The request cache is one SQLite file per task (`{rank}` in `cache_path`): SQLite's locking is not safe on the
network filesystems clusters share, and a file per rank has one writer at a time wherever it lives. Stages run one
after the other, so a rank's file is never written by two processes at once, and a rerun with the same task count
finds every answer it had paid for.
"""

from dataclasses import replace
from pathlib import Path

from cursorcore.builders.executors import ExecutorConfig
from cursorcore.processing.llm import LLMConfig


def task_llm(
    llm: LLMConfig, total: int, executor: ExecutorConfig, tasks: int, workers: int | None, work: Path
) -> LLMConfig:
    """The LLM config each of a stage's `tasks` runs with: its share of `total` requests in flight (a server shared
    by the tasks, `backend: endpoint`; a server spawned per task keeps the whole budget) and a per-task cache in the
    folder `work` (programming-instruct: the dataset's, shared by its builds) unless `cache_path` names one."""
    cache = llm.cache_path or str(work / "llm-cache" / "{rank:05d}.sqlite")
    if "{rank" not in cache and executor.kind != "local":
        raise ValueError(
            f"llm.cache_path {cache!r} would be one SQLite file written by many {executor.kind} tasks at once; "
            "put {rank} in it (e.g. cache/llm-{rank:05d}.sqlite) to give each task its own file"
        )
    if llm.backend != "endpoint":
        return replace(llm, cache_path=cache)
    share = max(1, total // executor.running_tasks(tasks, workers))
    return replace(llm, max_concurrency=share, cache_path=cache)
