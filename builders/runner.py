"""Run a builder's datatrove pipeline into the local hub and report what every stage kept and dropped.

The logging folder is keyed by the build's config hash: rerunning a killed build with the same config skips the
datatrove tasks that completed and redoes the rest, so the output is the same as an uninterrupted run.
"""

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import ParquetWriter
from datatrove.utils.stats import PipelineStats

from cursorcore.builders import BuildReport
from cursorcore.builders.hub import hub_root
from cursorcore.builders.progress import COUNTER_NAME, DocumentCounter, stage_progress, stderr_to

Adapter = Callable[[Any, Document], dict]


def config_hash(config: Any) -> str:
    """A short stable hash of a builder config (a dataclass or anything JSON-serialisable)."""
    payload = json.dumps(config, default=lambda o: getattr(o, "__dict__", str(o)), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass
class Stage:
    """One datatrove job of a multi-stage build (MinHash needs four); the last stage's output goes to the hub.

    Progress counts the documents that leave step `count_after` (the reader, or the reader and an input selection);
    `expected`, when the stage knows it, is how many documents that will be, for an estimate of the time left."""

    name: str
    steps: Sequence[PipelineStep]
    tasks: int = 1
    count_after: int = 1
    expected: int | None = None


def run_to_hub(
    steps: Sequence[PipelineStep] | Sequence[Stage],
    *,
    repo_id: str,
    adapter: Adapter,
    config: Any,
    hub: str | Path | None = None,
    config_name: str = "default",
    split: str = "train",
    tasks: int = 1,
    workers: int = 1,
    schema: Any = None,
    output_filename: str | None = None,
) -> BuildReport:
    """Run the stages (or one list of steps with `tasks`) in order, the last one followed by a parquet writer into
    the build's staging folder, `data/<config_name>/<split>-<rank>.parquet` in the Hub layout. Nothing in the
    published dataset folder changes until `cursorcore.builders.release.release` turns the staged build into a
    version."""
    stages = list(steps) if steps and isinstance(steps[0], Stage) else [Stage("main", steps, tasks)]
    folder = build_workdir(repo_id, config, hub) / "dataset"
    output = folder / "data" / config_name
    if output_filename:  # documents choose their config and split through metadata tags in the file name
        output = folder / "data"
    writer = ParquetWriter(
        str(output),
        output_filename=output_filename or f"{split}-${{rank}}.parquet",
        adapter=adapter,
        schema=schema,
        max_file_size=-1,
    )
    first_logs = build_workdir(repo_id, config, hub) / "logs" / f"{config_name}-{stages[0].name}"
    if not (first_logs / "completions").is_dir():  # a fresh build: shards of an earlier build must not linger
        for stale in output.rglob("*.parquet"):
            stale.unlink()
    stats: dict[str, dict[str, int]] = {}
    timings: dict[str, float] = {}
    log_file = build_workdir(repo_id, config, hub) / "logs" / "datatrove.log"
    with stderr_to(log_file) as terminal:
        print(f"{repo_id}: {len(stages)} stage(s); datatrove's logs go to {log_file}", file=terminal)
        for index, stage in enumerate(stages):
            last = index == len(stages) - 1
            logging_dir = build_workdir(repo_id, config, hub) / "logs" / f"{config_name}-{stage.name}"
            steps = list(stage.steps)
            if stage.count_after < len(steps):  # a step that only writes files (MinHash 2, 3) yields nothing to count
                steps.insert(stage.count_after, DocumentCounter(logging_dir / COUNTER_NAME))
            pipeline = [*steps, writer] if last else steps
            started = time.monotonic()
            executor = LocalPipelineExecutor(
                pipeline=pipeline, tasks=stage.tasks, workers=min(workers, stage.tasks), logging_dir=str(logging_dir)
            )
            with stage_progress(stage.name, logging_dir, stage.tasks, stage.expected, terminal):
                executor.run()
            _check_complete(logging_dir, stage)
            timings[f"{config_name}/{stage.name}"] = round(time.monotonic() - started, 3)
            prefix = "" if len(stages) == 1 else f"{stage.name}/"
            stats.update({prefix + name: counters for name, counters in read_stats(logging_dir).items()})
    rows = _row_counts(folder) or {split: 0}
    return BuildReport(repo_id=repo_id, folder=folder, rows=rows, stats=stats, timings=timings)


def _row_counts(folder: Path) -> dict[str, int]:
    """Rows per split, or per `config/split` when the dataset has several configs."""
    counts: dict[tuple[str, str], int] = {}
    for shard in sorted((folder / "data").glob("*/*.parquet")):
        key = (shard.parent.name, shard.name.split("-", 1)[0])
        counts[key] = counts.get(key, 0) + pq.read_metadata(shard).num_rows
    several = len({config for config, _ in counts}) > 1
    return {f"{config}/{split}" if several else split: n for (config, split), n in counts.items()}


def _check_complete(logging_dir: Path, stage: Stage) -> None:
    """datatrove logs a failed task and returns; a build must stop there instead of publishing a partial dataset."""
    done = len(list((logging_dir / "completions").glob("*"))) if (logging_dir / "completions").is_dir() else 0
    if done < stage.tasks:
        raise RuntimeError(
            f"stage {stage.name!r}: {stage.tasks - done} of {stage.tasks} datatrove tasks did not finish; "
            f"see {logging_dir}/logs"
        )


def build_workdir(repo_id: str, config: Any, hub: str | Path | None = None) -> Path:
    """Scratch space of one build (logs, completion markers, intermediate files), keyed by the config hash."""
    return hub_root(hub) / ".work" / repo_id / config_hash(config)


def read_stats(logging_dir: Path) -> dict[str, dict[str, int]]:
    """Counters per stage summed over every task's stats file (so a resumed build still reports all tasks)."""
    merged = PipelineStats()
    for path in sorted((logging_dir / "stats").glob("*.json")):
        merged = merged + PipelineStats.from_json(json.loads(path.read_text()))
    return {
        _stage_name(stage.name): {name: _count(value) for name, value in stage.stats.items()}
        for stage in merged.stats
        if not stage.name.endswith(COUNTER_NAME)
    }


def _stage_name(name: str) -> str:
    """datatrove names stages "<type>: <name>" with emoji; keep the words."""
    return name.removeprefix("None: ").encode("ascii", "ignore").decode().strip(" -:")


def _count(value: Any) -> int:
    if hasattr(value, "total"):
        return int(value.total)
    return int(value["total"]) if isinstance(value, dict) else int(value)


class RankFileReader(JsonlReader):
    """Reads back exactly the file its own rank wrote, so MinHash's per-rank document indices line up even when
    some ranks wrote nothing."""

    name = "own shard"

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        own = f"{rank:05d}.jsonl.gz"
        if self.data_folder.exists(own):
            yield from self.read_files_shard([own])
