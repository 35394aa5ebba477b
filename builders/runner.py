"""Run a builder's datatrove stages into the local hub, on the executor its config names, and report what every
stage kept and dropped and how many rows each task read.

The logging folder is keyed by the build's config hash (the executor left out): rerunning a killed build with the
same config skips the datatrove tasks that completed and redoes the rest, so the output is the same as an
uninterrupted run, wherever either ran.
"""

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.executor.base import PipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import ParquetWriter
from datatrove.utils.stats import PipelineStats

from cursorcore.builders import BuildReport
from cursorcore.builders.executors import (
    BuildSubmitted,
    ExecutorConfig,
    SubmittedJobs,
    cancel_jobs,
    make_executor,
    queued_jobs,
)
from cursorcore.builders.hub import dataset_folder, hub_root
from cursorcore.builders.progress import (
    COUNTER_NAME,
    DocumentCounter,
    documents_per_task,
    stage_progress,
    stderr_to,
)
from cursorcore.builders.shards import reshard
from cursorcore.builders.versions import versions

Adapter = Callable[[Any, Document], dict]


def config_hash(config: Any) -> str:
    """A short stable hash of a builder config (a dataclass or anything JSON-serialisable); its `executor` section
    is left out, since where a build runs does not change its rows."""
    values = config if isinstance(config, dict) else getattr(config, "__dict__", config)
    if isinstance(values, dict) and "executor" in values:
        config = {key: value for key, value in values.items() if key != "executor"}
    payload = json.dumps(config, default=lambda o: getattr(o, "__dict__", str(o)), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass
class Stage:
    """One datatrove job of a multi-stage build (MinHash needs four); the last stage's output goes to the hub.

    Progress counts the documents that leave step `count_after` (the reader, or the reader and an input selection);
    `expected`, when the stage knows it, is how many documents that will be, for an estimate of the time left.
    `logging_dir` (datatrove's logs, stats and completion markers) defaults to the build's work folder; a stage
    whose work is keyed by fewer settings than the build (synthesis) keeps its own, so builds that share those
    settings find its tasks complete and skip them."""

    name: str
    steps: Sequence[PipelineStep]
    tasks: int = 1
    count_after: int = 1
    expected: int | None = None
    logging_dir: Path | None = None


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
    workers: int | None = None,
    schema: Any = None,
    output_filename: str | None = None,
    executor: ExecutorConfig | None = None,
) -> BuildReport:
    """Run the stages (or one list of steps with `tasks`) in order on `executor`, the last one followed by a parquet
    writer into the build's staging folder, `data/<config_name>/<split>-<rank>.parquet` in the Hub layout, which is
    then cut into at least `executor.shards` files per split. Nothing in the published dataset folder changes until
    `cursorcore.builders.release.release` turns the staged build into a version. `workers` (the CLI's --workers)
    overrides `executor.workers`. A detached Slurm build raises `BuildSubmitted` once its jobs are queued."""
    executor = executor or ExecutorConfig()
    stages = list(steps) if steps and isinstance(steps[0], Stage) else [Stage("main", steps, tasks)]
    workdir = build_workdir(repo_id, config, hub)
    folder = workdir / "dataset"
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
    logs = [stage.logging_dir or workdir / "logs" / f"{config_name}-{stage.name}" for stage in stages]
    own = [folder for stage, folder in zip(stages, logs, strict=True) if stage.logging_dir is None]
    if not own or not (own[0] / "completions").is_dir():  # a fresh build: earlier shards must not linger
        for stale in output.rglob("*.parquet"):
            stale.unlink()
    pipelines = []
    for index, (stage, logging_dir) in enumerate(zip(stages, logs, strict=True)):
        steps = list(stage.steps)
        if stage.count_after < len(steps):  # a step that only writes files (MinHash 2, 3) yields nothing to count
            steps.insert(stage.count_after, DocumentCounter(logging_dir / COUNTER_NAME))
        pipelines.append([*steps, writer] if index == len(stages) - 1 else steps)
    job_prefix = executor.job_name or repo_id.rpartition("/")[2]
    runs = [
        _StageRun(stage, logging_dir, pipeline, f"{job_prefix}-{stage.name}")
        for stage, logging_dir, pipeline in zip(stages, logs, pipelines, strict=True)
    ]
    log_file = workdir / "logs" / "datatrove.log"
    with stderr_to(log_file) as terminal:
        where = f"{len(stages)} stage(s) on {executor.kind}"
        print(f"{repo_id}: {where}; datatrove's logs go to {log_file}", file=terminal)
        if executor.kind == "slurm":
            timings = _run_on_slurm(runs, executor, workdir, workers, terminal)
        else:
            timings = _run_here(runs, executor, workers, terminal)
    stats: dict[str, dict[str, int]] = {}
    rows_per_task: dict[str, list[int]] = {}
    for run in runs:
        prefix = "" if len(stages) == 1 else f"{run.stage.name}/"
        stats.update({prefix + name: counters for name, counters in read_stats(run.logging_dir).items()})
        if run.stage.count_after < len(run.stage.steps):
            rows_per_task[run.stage.name] = documents_per_task(run.logging_dir / COUNTER_NAME, run.stage.tasks)
    released = workdir / "release"  # what `release` publishes: the staged files, cut for readers with many tasks
    try:
        reshard(folder / "data", released / "data", executor.shards)
    except OSError as error:
        known = versions(dataset_folder(repo_id, hub))
        previous = f"the previous version {known[-1]} is unchanged" if known else "nothing was published"
        raise OSError(
            f"could not lay out {repo_id}'s files in {released}: {error.strerror or error} "
            f"(a full disk or a file size limit?); {previous}"
        ) from error
    rows = _row_counts(released) or {split: 0}
    timings = {f"{config_name}/{name}": seconds for name, seconds in timings.items()}
    return BuildReport(
        repo_id=repo_id, folder=released, rows=rows, stats=stats, timings=timings, rows_per_task=rows_per_task
    )


@dataclass
class _StageRun:
    stage: Stage
    logging_dir: Path
    pipeline: list[PipelineStep]
    job_name: str

    def executor(self, config: ExecutorConfig, workers: int | None, depends: Any = None) -> PipelineExecutor:
        return make_executor(
            config,
            self.pipeline,
            tasks=self.stage.tasks,
            logging_dir=self.logging_dir,
            job_name=self.job_name,
            workers=workers,
            depends=depends,
        )

    def progress(self, terminal: IO[str]) -> AbstractContextManager[None]:
        return stage_progress(self.stage.name, self.logging_dir, self.stage.tasks, self.stage.expected, terminal)


def _run_here(
    runs: list[_StageRun], config: ExecutorConfig, workers: int | None, terminal: IO[str]
) -> dict[str, float]:
    """Local and Ray: each stage runs to its end from this process before the next one starts."""
    timings = {}
    for run in runs:
        started = time.monotonic()
        executor = run.executor(config, workers)
        with run.progress(terminal):
            executor.run()
        if missing := executor.get_incomplete_ranks():
            raise RuntimeError(
                f"stage {run.stage.name!r}: {len(missing)} of {run.stage.tasks} datatrove tasks did not finish; "
                f"see {run.logging_dir}/logs"
            )
        timings[run.stage.name] = round(time.monotonic() - started, 3)
    return timings


def _run_on_slurm(
    runs: list[_StageRun], config: ExecutorConfig, workdir: Path, workers: int | None, terminal: IO[str]
) -> dict[str, float]:
    """Submit every stage at once (job arrays chained with `depends=`) unless this build's jobs are still queued,
    then wait for each stage in turn; a detached build returns after submitting.

    The build is still queued when the job of its first incomplete stage is: then this run only waits. Otherwise
    that stage failed or was cancelled, the stages after it can never start (they wait on it with `afterok`, even
    before Slurm marks them `DependencyNeverSatisfied`), and everything not complete is cancelled and submitted
    again."""
    submitted = SubmittedJobs(workdir / "logs" / "slurm-jobs.json")
    jobs = submitted.read()
    waiting = {run.stage.name: run.executor(config, workers) for run in runs}
    first = next((name for name, executor in waiting.items() if executor.get_incomplete_ranks()), None)
    if first is not None and not queued_jobs([jobs.get(first, "")]):
        cancel_jobs(list(jobs.values()))
        executors: list[PipelineExecutor] = []
        for run in runs:
            executors.append(run.executor(config, workers, depends=executors[-1] if executors else None))
        executors[-1].run()  # launches its dependencies first: one submission for the whole build
        jobs = {run.stage.name: str(ex.job_id) for run, ex in zip(runs, executors, strict=True)}
        submitted.write(jobs)
    if config.detach and any(ex.get_incomplete_ranks() for ex in waiting.values()):
        queued = ", ".join(f"{name} {job}" for name, job in jobs.items() if job != "-1")
        raise BuildSubmitted(
            f"queued on Slurm (jobs: {queued}); run the same `cursorcore build` command again without --detach "
            "to wait for them and release the build (squeue / sacct show them meanwhile)"
        )
    timings = {}
    for run in runs:
        started = time.monotonic()
        executor = waiting[run.stage.name]
        with run.progress(terminal):
            while missing := executor.get_incomplete_ranks():
                if not queued_jobs([jobs.get(run.stage.name, "")]) and executor.get_incomplete_ranks():
                    cancel_jobs(list(jobs.values()))
                    raise RuntimeError(
                        f"stage {run.stage.name!r}: {len(missing)} of {run.stage.tasks} Slurm tasks did not finish "
                        f"(job {jobs.get(run.stage.name)}); see {run.logging_dir}/logs and slurm_logs; the later "
                        "stages were cancelled; run the same command again to resubmit what is left"
                    )
                time.sleep(config.poll_seconds)
        timings[run.stage.name] = round(time.monotonic() - started, 3)
    return timings


def _row_counts(folder: Path) -> dict[str, int]:
    """Rows per split, or per `config/split` when the dataset has several configs."""
    counts: dict[tuple[str, str], int] = {}
    for shard in sorted((folder / "data").glob("*/*.parquet")):
        key = (shard.parent.name, shard.name.split("-", 1)[0])
        counts[key] = counts.get(key, 0) + pq.read_metadata(shard).num_rows
    several = len({config for config, _ in counts}) > 1
    return {f"{config}/{split}" if several else split: n for (config, split), n in counts.items()}


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


class JsonlFolders(PipelineStep):
    """Reads several folders of JSONL files as one input, each rank its share of every folder: stages whose inputs
    live in folders of their own (each kind's synthesis, keyed by its own settings)."""

    type = "📖 - READER"
    name = "JSONL folders"

    def __init__(self, folders: Sequence[str | Path], glob_pattern: str = "*.jsonl.gz"):
        super().__init__()
        self.folders = [str(folder) for folder in folders]
        self.glob_pattern = glob_pattern

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if data:
            yield from data
        for _, document in self.read(rank, world_size):
            yield document

    def read(self, rank: int, world_size: int) -> Iterator[tuple[str, Document]]:
        """This rank's documents, each with the folder it came from."""
        for folder in self.folders:
            if not Path(folder).is_dir():  # a kind that wrote nothing
                continue
            reader = JsonlReader(folder, glob_pattern=self.glob_pattern)
            shard = reader.data_folder.get_shard(rank, world_size, glob_pattern=self.glob_pattern)
            for document in reader.read_files_shard(shard):
                self.stat_update("documents")
                yield folder, document
