"""Where a build's datatrove tasks run: this machine, a Slurm cluster or a Ray cluster, from one `executor:` section.

Every builder's config has the same section and `cursorcore build --executor` overrides its `kind`. Local and Ray
stages run one after the other from this process. Slurm stages are submitted at once as job arrays chained with
datatrove's `depends=` (each array starts when the previous one succeeded); the build then waits, or with `detach`
returns, and the same command run again later waits for the jobs still queued and releases the build. Completion is
always datatrove's own (`get_incomplete_ranks` over the completion markers), never a second bookkeeping.
"""

import json
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from datatrove.executor import LocalPipelineExecutor
from datatrove.executor.base import PipelineExecutor
from datatrove.executor.ray import RayPipelineExecutor
from datatrove.executor.slurm import SlurmPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger

KINDS = ("local", "slurm", "ray")


@dataclass
class ExecutorConfig:
    """The `executor:` section of every builder config. Not part of a build's identity: the rows do not depend on
    where they were computed, so a build started on one executor can be finished on another."""

    kind: str = "local"
    workers: int | None = None  # tasks at once (default: 1 locally, no limit on Slurm and Ray)
    cpus_per_task: int = 1
    mem_per_cpu_gb: float = 2  # Slurm's --mem-per-cpu; on Ray, the memory each task reserves per CPU
    tasks_per_job: int = 1  # ranks run one after the other by each Slurm array job / Ray job
    shards: int = 8  # released files per split, at least (when there are as many rows): N reading tasks need N
    # slurm
    partition: str = ""
    time: str = "12:00:00"
    job_name: str = ""  # prefix of every stage's job name (default: the dataset's name)
    qos: str = ""
    sbatch_args: dict[str, Any] = field(default_factory=dict)  # other #SBATCH options (account, constraint, ...)
    env_command: str | None = None  # shell line that puts the environment on PATH in each job, or:
    venv_path: str | None = None  # activate script sourced by each job, e.g. /shared/cursorcore/.venv/bin/activate
    logging_dir: str | None = None  # Slurm's own stdout/stderr files (default: slurm_logs/ in each stage's logs)
    detach: bool = False  # submit and return; the same command run again waits for the jobs and releases
    poll_seconds: float = 10.0  # how often a waiting build looks at the completion markers and squeue
    # ray
    address: str = "local"  # "local": a private instance on this machine; "auto" or ray://host:port: a cluster
    num_cpus: int | None = None  # CPUs of a local Ray instance (default: all of this machine's)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"executor.kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.env_command and self.venv_path:
            raise ValueError("executor: give env_command or venv_path, not both")
        if self.detach and self.kind != "slurm":
            raise ValueError("executor.detach needs kind slurm: local and Ray builds run in this process")
        if self.cpus_per_task < 1 or self.tasks_per_job < 1 or self.shards < 1:
            raise ValueError("executor: cpus_per_task, tasks_per_job and shards must be >= 1")

    @classmethod
    def coerce(cls, value: "ExecutorConfig | dict[str, Any] | None") -> "ExecutorConfig":
        """From a YAML mapping (unknown keys named in the error), an `ExecutorConfig` or None (the default)."""
        if value is None or isinstance(value, ExecutorConfig):
            return value or cls()
        if not isinstance(value, dict):
            raise ValueError(f"executor: expected a mapping of executor keys, got {type(value).__name__}")
        if unknown := set(value) - {f.name for f in fields(cls)}:
            raise ValueError(f"executor: unknown keys {', '.join(sorted(unknown))}")
        return cls(**value)

    def running_tasks(self, tasks: int, workers: int | None = None) -> int:
        """How many of a stage's `tasks` run at the same time (what a shared budget is divided by)."""
        limit = workers if workers is not None else self.workers
        if limit is None or limit < 1:
            limit = 1 if self.kind == "local" else tasks
        return max(1, min(tasks, limit))


class ChainedSlurmExecutor(SlurmPipelineExecutor):
    """datatrove's Slurm executor with two changes for chained builds: no separate merge-stats job per stage (the
    runner merges `stats/*.json` itself; a merge job left pending after a failed array would never run), and no
    `#SBATCH` line for an option left empty (datatrove would write a bare `--partition`, which sbatch rejects), and
    memory in megabytes, so a fraction of a gigabyte works."""

    def launch_merge_stats(self) -> None:
        return None

    def get_sbatch_args(self, max_array: int = 1) -> dict:
        args = super().get_sbatch_args(max_array)
        args["mem-per-cpu"] = f"{round(self.mem_per_cpu_gb * 1024)}M"  # sbatch takes whole numbers only ("0.5G" fails)
        return {key: value for key, value in args.items() if value != "" or key == "requeue"}


class CheckedRayExecutor(RayPipelineExecutor):
    """datatrove's Ray executor, finished by datatrove's completion markers. Ray only logs a failed task and returns:
    raise instead, so a partial dataset is never taken for a whole one. And once in a while (seen on a loaded
    2-core machine) the object of a task whose actor was stopped after its ranks completed never resolves, and `run()`
    waits on it forever: when every rank has been marked complete for `grace` seconds, the stage is done."""

    grace = 60.0

    def run(self) -> None:
        failures: list[BaseException] = []
        runner = threading.Thread(target=self._run_recording, args=(failures,), daemon=True)
        runner.start()
        complete_since = None
        while runner.is_alive():
            runner.join(timeout=2)
            if not runner.is_alive() or self.get_incomplete_ranks():
                complete_since = None
                continue
            complete_since = complete_since or time.monotonic()
            if time.monotonic() - complete_since > self.grace:
                logger.warning(f"every rank of {self.logging_dir.path} completed but Ray's run did not return")
                break
        if failures:
            raise failures[0]
        if missing := self.get_incomplete_ranks():
            raise RuntimeError(f"Ray tasks {missing} did not complete; see the logs in {self.logging_dir.path}")

    def _run_recording(self, failures: list[BaseException]) -> None:
        try:
            super().run()
        except BaseException as error:  # handed to the calling thread
            failures.append(error)


def make_executor(
    config: ExecutorConfig,
    pipeline: Sequence[PipelineStep],
    *,
    tasks: int,
    logging_dir: Path,
    job_name: str,
    workers: int | None = None,
    depends: PipelineExecutor | None = None,
) -> PipelineExecutor:
    """The datatrove executor of one stage. `depends` (Slurm only) chains its job array after the previous one."""
    common = {"pipeline": list(pipeline), "tasks": tasks, "logging_dir": str(logging_dir)}
    running = config.running_tasks(tasks, workers)
    if config.kind == "local":
        return LocalPipelineExecutor(**common, workers=running)
    if config.kind == "slurm":
        return ChainedSlurmExecutor(
            **common,
            workers=-1 if running >= tasks else running,
            cpus_per_task=config.cpus_per_task,
            mem_per_cpu_gb=config.mem_per_cpu_gb,
            tasks_per_job=config.tasks_per_job,
            time=config.time,
            partition=config.partition,
            job_name=job_name,
            qos=config.qos,
            sbatch_args=dict(config.sbatch_args),
            env_command=config.env_command,
            venv_path=config.venv_path,
            slurm_logs_folder=str(Path(config.logging_dir) / job_name) if config.logging_dir else None,
            depends=depends,
        )
    if config.cpus_per_task > (cpus := start_ray(config)):
        raise ValueError(
            f"cpus_per_task={config.cpus_per_task} but the Ray cluster has {cpus:g} CPUs: tasks would wait forever"
        )
    return CheckedRayExecutor(
        **common,
        workers=running,
        cpus_per_task=config.cpus_per_task,
        mem_per_cpu_gb=config.mem_per_cpu_gb,
        tasks_per_job=config.tasks_per_job,
    )


def start_ray(config: ExecutorConfig) -> float:
    """Connect to the Ray cluster `config.address` names, or start a private one on this machine ("local");
    returns the cluster's CPU count."""
    import ray

    if not ray.is_initialized() and config.address == "local":
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private single-machine instance
        ray.init(address="local", num_cpus=config.num_cpus or os.cpu_count(), include_dashboard=False)
    elif not ray.is_initialized():
        ray.init(address=config.address)
    return ray.cluster_resources().get("CPU", 0)


# ------------------------------------------------------------------ Slurm jobs of a build

_WAITING_STATES = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}


def queued_jobs(job_ids: Sequence[str]) -> set[str]:
    """The jobs among `job_ids` that Slurm will still run (queued or running). A job pending on a dependency that
    failed (`DependencyNeverSatisfied`) never will and is left out, so the caller can cancel it."""
    ids = [str(job) for job in job_ids if str(job) not in ("", "-1", "None")]
    if not ids:
        return set()
    result = subprocess.run(
        ["squeue", "--noheader", "--array", "--jobs", ",".join(ids), "--format", "%F %T %r"],
        capture_output=True,
        text=True,
    )
    alive = set()
    for line in result.stdout.splitlines():  # an id Slurm no longer knows gives an error and no line: not queued
        job, state, reason = [*line.split(maxsplit=2), "", ""][:3]
        if state in _WAITING_STATES and "DependencyNeverSatisfied" not in reason:
            alive.add(job)
    return alive


def cancel_jobs(job_ids: Sequence[str]) -> None:
    ids = [str(job) for job in job_ids if str(job) not in ("", "-1", "None")]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, check=False)


class SubmittedJobs:
    """The Slurm job of every stage of one build, kept in its work folder so a later run of the same command finds
    them: it waits for those still queued instead of submitting the same tasks twice."""

    def __init__(self, path: Path):
        self.path = path

    def read(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.is_file() else {}

    def write(self, jobs: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(jobs, indent=1) + "\n")


class BuildSubmitted(Exception):  # not an error: a detached build has been handed to Slurm
    """A detached build was submitted (or is still queued); the message says how to collect it."""
