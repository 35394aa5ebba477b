"""The `e2b` provider: jobs run in E2B cloud sandboxes (Firecracker microVMs) via `e2b-code-interpreter`'s async API.

A sandbox takes a while to create and is billed while it lives, so each one is reused: after a job, a reset run as
root kills every process of the job's user and deletes the work dir. The plan's limits are kept on this side (see
`options.E2BOptions`): at most `max_concurrent` sandboxes exist at once, creations are spaced to
`creations_per_second`, and a failed creation (the API's 429 `RateLimitException`, 503 `ServiceBusyException`, a
dropped connection) is tried again with jittered exponential backoff, up to `creation_attempts` times.
All E2B objects live on one private event loop thread, so `run` (from any thread) and `arun` (from any event loop)
share the same pool. The API key comes from the environment (E2B_API_KEY) only and is never logged.

Limits are applied inside the sandbox with `ulimit` and `timeout`; the SDK's own timeout is the job's wall time plus a
margin, so a command that hangs the connection still ends as `timeout`. Failing to create a sandbox or losing one
mid-job is `error`, never `failed`. Sandboxes are created without internet access unless `allow_internet` is set
(jobs that install packages need it); a failed install is reported as one ("installing packages failed", or "the
job asks for packages" without internet), so synthesis counts it as an install failure.
"""

import asyncio
import os
import random
import shlex
import signal
import threading
import time
from dataclasses import dataclass

from cursorcore.processing.sandbox.base import (
    Job,
    Limits,
    Result,
    Sandbox,
    SandboxUnavailable,
    Status,
    StepOutcome,
    step_verdict,
)
from cursorcore.processing.sandbox.options import E2BOptions

E2B_HINT = "pip install 'cursorcore[e2b]'"
WORKDIR = "/home/user/job"
STDIN_FILE = ".stdin"
RESET = f"pkill -KILL -u user; rm -rf {WORKDIR} /tmp/* /tmp/.[!.]* 2>/dev/null; true"


@dataclass(frozen=True)
class E2BStep:
    name: str
    command: str
    limits: Limits


@dataclass(frozen=True)
class E2BPlan:
    """What one job becomes in an E2B sandbox: files to upload (absolute paths) and shell commands to run."""

    files: dict[str, bytes]
    steps: list[E2BStep]
    envs: dict[str, str]


def _limited(argv, limits: Limits, stdin: str | None = None) -> str:
    """A shell command running `argv` under the job's limits, killed outright when its wall time runs out."""
    ulimits = (
        f"ulimit -t {limits.cpu_seconds} -v {limits.memory_mb * 1024} -u {limits.processes} "
        f"-f {limits.file_size_mb * 1024} -c 0"
    )
    redirect = f" < {stdin}" if stdin else ""
    return f"{ulimits} && exec timeout --signal=KILL {limits.wall_time:g} {shlex.join(argv)}{redirect}"


def plan_job(job: Job) -> E2BPlan:
    """Translate a job into E2B uploads and commands (pure, so it is tested without the network)."""
    files = {f"{WORKDIR}/{path}": data for path, data in job.file_bytes().items()}
    files[f"{WORKDIR}/{STDIN_FILE}"] = job.stdin_bytes()
    steps = []
    if job.packages:
        pip = ["python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *job.packages]
        steps.append(E2BStep("install", _limited(pip, job.build_limits), job.build_limits))
    if job.build:
        steps.append(E2BStep("build", _limited(job.build, job.build_limits), job.build_limits))
    steps.append(E2BStep("run", _limited(job.command, job.limits, STDIN_FILE), job.limits))
    envs = {"LANG": "C.UTF-8", **{name: os.environ[name] for name in job.pass_env if name in os.environ}, **job.env}
    return E2BPlan(files=files, steps=steps, envs=envs)


def _exit_code(shell_status: int) -> int:
    """Shells report death by signal N as 128+N; report it as -N like the local provider does."""
    return -(shell_status - 128) if shell_status > 128 else shell_status


class CreationPacer:
    """Spaces sandbox creations to at most `per_second` (E2B counts creations per team and answers 429 past it)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


class E2BSandbox(Sandbox):
    """Run jobs in E2B cloud sandboxes. Needs `pip install 'cursorcore[e2b]'` and E2B_API_KEY in the environment."""

    name = "e2b"

    def __init__(self, options: E2BOptions | None = None) -> None:
        try:
            import e2b_code_interpreter  # noqa: F401
        except ImportError as error:
            raise SandboxUnavailable(f"the e2b provider needs e2b-code-interpreter: {E2B_HINT}") from error
        if not os.environ.get("E2B_API_KEY"):
            raise SandboxUnavailable("E2B_API_KEY is not set; the e2b provider takes its API key from the environment")
        self.options = options = options or E2BOptions()
        super().__init__(options.max_concurrent)
        self.allow_internet = options.allow_internet
        self.isolates_network = not options.allow_internet
        self.creation_failures = 0  # failed creation attempts, retried or not (what a rehearsal reports)
        self._idle: list = []
        self._semaphore = asyncio.Semaphore(self.concurrency)
        self._pacer = CreationPacer(options.creations_per_second)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="e2b-sandbox", daemon=True)
        self._thread.start()

    def run(self, job: Job) -> Result:
        return asyncio.run_coroutine_threadsafe(self._run(job), self._loop).result()

    async def arun(self, job: Job) -> Result:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._run(job), self._loop))

    async def _run(self, job: Job) -> Result:
        if job.packages and not self.allow_internet:
            return Result.infrastructure_error(
                f"the job asks for packages {list(job.packages)}, but the e2b sandbox has no internet: set "
                "sandbox_options: {allow_internet: true}"
            )
        async with self._semaphore:
            try:
                sandbox = self._idle.pop() if self._idle else await self._create()
            except Exception as error:
                return Result.infrastructure_error(f"cannot create an E2B sandbox: {type(error).__name__}: {error}")
            try:
                result = await self._execute(sandbox, job)
                await sandbox.commands.run(RESET, user="root", timeout=60)
            except Exception as error:
                await asyncio.gather(sandbox.kill(), return_exceptions=True)
                return Result.infrastructure_error(f"the E2B sandbox failed: {type(error).__name__}: {error}")
            self._idle.append(sandbox)
            return result

    async def _create(self):
        """A new sandbox, paced to the plan's creation rate, tried again with backoff while creation fails for a
        reason that may pass (rate limit, busy service, network); a wrong key or template fails at once."""
        from e2b import AuthenticationException, InvalidArgumentException
        from e2b_code_interpreter import AsyncSandbox

        options, attempt = self.options, 0
        while True:
            await self._pacer.wait()
            try:
                return await AsyncSandbox.create(
                    template=options.template, timeout=options.lifetime, allow_internet_access=options.allow_internet
                )
            except (AuthenticationException, InvalidArgumentException):
                self.creation_failures += 1
                raise
            except Exception:
                self.creation_failures += 1
                attempt += 1
                if attempt == options.creation_attempts:
                    raise
            delay = min(options.backoff_max, options.backoff_initial * 2 ** (attempt - 1))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    async def _execute(self, sandbox, job: Job) -> Result:
        from e2b import CommandExitException, TimeoutException

        plan = plan_job(job)
        await sandbox.set_timeout(self.options.lifetime)
        for path, data in plan.files.items():
            await sandbox.files.write(path, data)
        stdout, stderr, duration = "", "", 0.0
        for step in plan.steps:
            start = time.monotonic()
            timed_out = False
            try:
                done = await sandbox.commands.run(
                    step.command,
                    envs=plan.envs,
                    cwd=WORKDIR,
                    timeout=step.limits.wall_time + self.options.timeout_margin,
                )
                code, out, err = 0, done.stdout, done.stderr
            except CommandExitException as exited:
                code, out, err = _exit_code(exited.exit_code), exited.stdout, exited.stderr
            except TimeoutException:
                code, out, err, timed_out = -signal.SIGKILL, "", "", True
            elapsed = time.monotonic() - start
            duration += elapsed
            stdout, stderr = stdout + out, stderr + err
            timed_out = timed_out or (code == -signal.SIGKILL and elapsed >= step.limits.wall_time)
            status, detail = step_verdict(step.name, StepOutcome(code, timed_out), step.limits, stderr)
            if status is not Status.PASSED:
                break
        cap = job.limits.output_bytes
        out_bytes, err_bytes = stdout.encode(), stderr.encode()
        return Result(
            status=status,
            exit_code=code,
            stdout=out_bytes[:cap].decode(errors="replace"),
            stderr=err_bytes[:cap].decode(errors="replace"),
            duration=duration,
            stdout_truncated=len(out_bytes) > cap,
            stderr_truncated=len(err_bytes) > cap,
            detail=detail,
        )

    def close(self) -> None:
        async def kill_all() -> None:
            idle, self._idle = self._idle, []
            await asyncio.gather(*(sandbox.kill() for sandbox in idle), return_exceptions=True)

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(kill_all(), self._loop).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()
