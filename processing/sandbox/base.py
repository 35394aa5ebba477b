"""What running untrusted code means here: a job, its limits, its result, and the provider interface.

Synthesis (self-validation, execution feedback) and evaluation (HumanEval+, APEval) both go through this one
interface, so a verdict means the same thing wherever it was produced. The most important rule is in `Status`:
`error` is the infrastructure failing and must never be counted as a wrong answer.
"""

import asyncio
import enum
import re
import signal
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import PurePosixPath
from typing import Any, ClassVar, Self

from tqdm.auto import tqdm

from cursorcore.errors import InfrastructureError


class SandboxUnavailable(InfrastructureError):
    """A provider cannot run here at all (missing tool, package or key); the message says how to fix it."""


class SandboxOutage(InfrastructureError):
    """The sandbox could not run a job it was given (its verdict was `error`): not the code's fault, so the step
    fails and a rerun retries instead of recording a verdict."""


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    ERROR = "error"


@dataclass(frozen=True)
class Limits:
    """Resource caps for one step of a job: seconds, megabytes, process count, bytes kept per output stream.
    `cpu_time=None` means the same budget as `wall_time`; `disk_mb` caps the job's private /tmp (work dir included)."""

    wall_time: float = 10.0
    cpu_time: float | None = None
    memory_mb: int = 1024
    processes: int = 32
    output_bytes: int = 1 << 20
    file_size_mb: int = 64
    disk_mb: int = 256

    @property
    def cpu_seconds(self) -> int:
        return max(1, round(self.cpu_time if self.cpu_time is not None else self.wall_time))


# Compilers need more room than the programs they build; a failing build still counts against the program.
BUILD_LIMITS = Limits(wall_time=60.0, memory_mb=2048, processes=16)

_SECRET_NAME = re.compile(
    r"(^|_)(TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIALS?|AUTH|SESSION|COOKIE)S?(_|$)|^(AWS|HF|HUGGING_FACE|E2B)_",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """Whether an environment variable looks like a credential (HF_TOKEN, E2B_API_KEY, *_SECRET, ...)."""
    return bool(_SECRET_NAME.search(name))


@dataclass(frozen=True)
class Job:
    """Files to create in an empty work dir, then optional package installs, an optional build, and a command.

    `env` sets variables explicitly and `pass_env` copies the named ones from the caller's environment; names that
    look like credentials are refused in both, so no secret can reach untrusted code by accident.
    """

    files: Mapping[str, str | bytes]
    command: Sequence[str]
    stdin: str | bytes = b""
    limits: Limits = field(default_factory=Limits)
    env: Mapping[str, str] = field(default_factory=dict)
    pass_env: Sequence[str] = ()
    packages: Sequence[str] = ()
    build: Sequence[str] | None = None
    build_limits: Limits = BUILD_LIMITS

    def __post_init__(self) -> None:
        if not self.command:
            raise ValueError("a job needs a command")
        for path in self.files:
            parts = PurePosixPath(path).parts
            if not parts or PurePosixPath(path).is_absolute() or ".." in parts:
                raise ValueError(f"job file paths must be relative and stay in the work dir: {path!r}")
        for name in [*self.env, *self.pass_env]:
            if is_secret_name(name):
                raise ValueError(f"refusing to put {name} into a sandbox: it looks like a credential")

    @classmethod
    def python(cls, code: str, *, args: Sequence[str] = (), **options: Any) -> Self:
        return cls(files={"main.py": code}, command=["python", "main.py", *args], **options)

    @classmethod
    def c(cls, source: str, *, args: Sequence[str] = (), **options: Any) -> Self:
        build = ["gcc", "-O2", "-std=gnu17", "-o", "main", "main.c", "-lm"]
        return cls(files={"main.c": source}, build=build, command=["./main", *args], **options)

    @classmethod
    def cpp(cls, source: str, *, args: Sequence[str] = (), **options: Any) -> Self:
        build = ["g++", "-O2", "-std=gnu++17", "-o", "main", "main.cpp"]
        return cls(files={"main.cpp": source}, build=build, command=["./main", *args], **options)

    def stdin_bytes(self) -> bytes:
        return self.stdin.encode() if isinstance(self.stdin, str) else self.stdin

    def file_bytes(self) -> dict[str, bytes]:
        return {path: data.encode() if isinstance(data, str) else data for path, data in self.files.items()}


@dataclass
class Result:
    """What happened. Output is capped in bytes and decoded with replacement, so it is always valid text."""

    status: Status
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    peak_memory_mb: float | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    @classmethod
    def infrastructure_error(cls, detail: str) -> Self:
        return cls(status=Status.ERROR, detail=detail)

    def to_dict(self) -> dict:
        return {**asdict(self), "status": str(self.status)}


_OUT_OF_MEMORY = re.compile(r"MemoryError|std::bad_alloc|Cannot allocate memory|out of memory", re.IGNORECASE)


@dataclass(frozen=True)
class StepOutcome:
    """How one process ended, as a provider observed it."""

    exit_code: int | None
    timed_out: bool = False
    cpu_time: float = 0.0


def classify(outcome: StepOutcome, limits: Limits, stderr: str) -> tuple[Status, str]:
    """Turn how the program ended into a verdict. Memory exhaustion is recognised from what the runtime prints,
    because an address-space limit makes allocations fail rather than killing the process."""
    if outcome.timed_out:
        return Status.TIMEOUT, f"wall time limit of {limits.wall_time:g}s exceeded"
    code = outcome.exit_code
    if code == -signal.SIGXCPU or (code == -signal.SIGKILL and outcome.cpu_time >= limits.cpu_seconds):
        return Status.TIMEOUT, f"CPU time limit of {limits.cpu_seconds}s exceeded"
    if code == 0:
        return Status.PASSED, ""
    if _OUT_OF_MEMORY.search(stderr[-2000:]):
        return Status.MEMORY, f"memory limit of {limits.memory_mb} MB exceeded"
    if code is not None and code < 0:
        return Status.FAILED, f"killed by {signal.Signals(-code).name}"
    return Status.FAILED, f"exit code {code}"


def step_verdict(step: str, outcome: StepOutcome, limits: Limits, stderr: str) -> tuple[Status, str]:
    """`classify` for a job whose last step was `step`: a failed package install is the environment's fault
    (`error`), a failed build is the program's (`failed`, with the compiler's message in stderr)."""
    status, detail = classify(outcome, limits, stderr)
    if status is Status.PASSED or step == "run":
        return status, detail
    if step == "install":
        return Status.ERROR, f"installing packages failed ({detail})"
    return Status.FAILED, f"build failed ({detail})"


class Sandbox(ABC):
    """A place to run untrusted jobs. Subclasses implement `run`; batches and async come from here."""

    name: ClassVar[str]
    # Whether the provider cuts jobs off from every network (the hostile suite checks this where it is claimed).
    isolates_network: ClassVar[bool] = True

    def __init__(self, concurrency: int) -> None:
        self.concurrency = max(1, concurrency)

    @abstractmethod
    def run(self, job: Job) -> Result:
        """Run one job to completion. Never raises for anything the job does; infrastructure trouble is `error`."""

    async def arun(self, job: Job) -> Result:
        """For async callers such as datatrove rollouts: the job runs without blocking the event loop."""
        return await asyncio.to_thread(self.run, job)

    def verify(self, jobs: Iterable[Job], *, progress: bool | None = None) -> Iterator[Result]:
        """Run many jobs `concurrency` at a time and stream their results in the order of `jobs`.

        Jobs are pulled lazily (a few per worker ahead), so an endless generator of jobs works. The progress bar
        shows by default when the batch is known to hold 100 jobs or more.
        """
        total = len(jobs) if isinstance(jobs, Sequence) else None
        show = progress if progress is not None else total is not None and total >= 100
        pending_jobs = iter(jobs)
        window = 4 * self.concurrency
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"sandbox-{self.name}")
        try:
            with tqdm(total=total, disable=not show, desc=f"sandbox ({self.name})", unit="job") as bar:
                pending = deque(pool.submit(self.run, job) for job in islice(pending_jobs, window))
                while pending:
                    result = pending.popleft().result()
                    pending.extend(pool.submit(self.run, job) for job in islice(pending_jobs, 1))
                    bar.update(1)
                    yield result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    @abstractmethod
    def close(self) -> None:
        """Release workers, remote sandboxes and anything else held between jobs."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
