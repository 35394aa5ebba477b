"""A stand-in for E2B's cloud at the SDK boundary, for rehearsals: E2B cannot run here, its SDK's classes can.

`StandinTeam` plays one E2B team (API key) with a plan's limits, and `installed(team)` puts `StandinSandbox` where
`E2BSandbox` takes the SDK's `AsyncSandbox` from (`e2b_code_interpreter.AsyncSandbox`), so the real provider code
runs unchanged against it. It implements what `E2BSandbox` uses of the SDK (e2b 2.x,
`e2b/sandbox_async/main.py`, `commands/command.py`, `filesystem/filesystem.py`): `AsyncSandbox.create(template,
timeout, allow_internet_access)`, `set_timeout`, `files.write`, `commands.run(cmd, envs, cwd, timeout, user)` and
`kill`, and refuses what E2B refuses, with the SDK's own exception types:

* more sandboxes alive than the plan's concurrent sandboxes, or creations faster than its creation rate: E2B
  answers 429 ("When you reach the limits of your plan, subsequent requests ... will return 429",
  https://e2b.dev/docs/sandbox/rate-limits), which the SDK raises as `RateLimitException` (`e2b/api/__init__.py`);
* a sandbox past its timeout is gone: the SDK raises `SandboxNotRunningException` ("The sandbox was killed or
  reached its timeout", `e2b/exceptions.py`);
* a command running past its `timeout` raises `TimeoutException` (deadline exceeded); a non-zero exit raises
  `CommandExitException` with the command's output and exit code (`commands/command_handle.py`).

Every command runs in the real local bubblewrap sandbox, through `bash -c` in a fresh job holding the files written
so far (E2B runs commands through bash as well). A local job leaves nothing behind, so what earlier commands wrote
(a compiled program) is rebuilt by running them again, silently, before the command; a root command (`E2BSandbox`'s
reset) ends that history and deletes the uploaded files under the folders it `rm -rf`s. There is no network: a
package install fails, as an install. The team counts what a rehearsal reports: peak sandboxes alive, creations,
refusals by limit.
"""

import contextlib
import itertools
import shlex
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from e2b import CommandExitException, CommandResult, RateLimitException, SandboxNotRunningException, TimeoutException

from cursorcore.processing.sandbox.base import Job, Limits, Sandbox, Status
from cursorcore.processing.sandbox.options import HOBBY_CONCURRENT_SANDBOXES, HOBBY_CREATIONS_PER_SECOND

# room for the limits E2BSandbox sets inside with ulimit (it can only lower them): builds get 2 GB
COMMAND_LIMITS = Limits(memory_mb=4096, processes=64, file_size_mb=128, disk_mb=512)
CLOCK_SLACK = 0.02  # share of a creation token forgiven for timer jitter between client and "server"


@dataclass
class StandinTeam:
    """One E2B team: its plan's limits, the local sandbox its commands run in, and what happened."""

    sandbox: Sandbox  # where commands run (a LocalSandbox)
    max_concurrent: int = HOBBY_CONCURRENT_SANDBOXES
    creations_per_second: float = HOBBY_CREATIONS_PER_SECOND
    alive: int = 0
    peak_alive: int = 0
    creations: int = 0
    commands: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    _tokens: float = 0.0
    _refilled: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._tokens = self._capacity

    @property
    def _capacity(self) -> float:
        return max(1.0, self.creations_per_second)

    def admit(self) -> None:
        """Count a new sandbox in, or refuse it as E2B would (429)."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._refilled) * self.creations_per_second)
            self._refilled = now
            if self.alive >= self.max_concurrent:
                self.refusals["concurrent_sandboxes"] += 1
                raise RateLimitException(
                    f"429: Rate limit exceeded, please try again later. - {self.max_concurrent} concurrent sandboxes"
                )
            if self._tokens < 1.0 - CLOCK_SLACK:
                self.refusals["creation_rate"] += 1
                raise RateLimitException(
                    f"429: Rate limit exceeded, please try again later. - {self.creations_per_second:g} creations/s"
                )
            self._tokens -= 1.0
            self.alive += 1
            self.creations += 1
            self.peak_alive = max(self.peak_alive, self.alive)

    def release(self) -> None:
        with self._lock:
            self.alive -= 1

    def report(self) -> dict[str, Any]:
        return {
            "max_concurrent": self.max_concurrent,
            "creations_per_second": self.creations_per_second,
            "peak_alive": self.peak_alive,
            "creations": self.creations,
            "commands": self.commands,
            "refusals": dict(self.refusals),
        }


_TEAM: StandinTeam | None = None


@contextlib.contextmanager
def installed(team: StandinTeam) -> Iterator[StandinTeam]:
    """`e2b_code_interpreter.AsyncSandbox` is the stand-in while the block runs (in this process: run the build's
    tasks here, e.g. the local executor with one worker)."""
    import e2b_code_interpreter

    global _TEAM
    original, _TEAM = e2b_code_interpreter.AsyncSandbox, team
    e2b_code_interpreter.AsyncSandbox = StandinSandbox
    try:
        yield team
    finally:
        e2b_code_interpreter.AsyncSandbox, _TEAM = original, None


class StandinSandbox:
    """One sandbox of the team: a file store and a deadline; its commands run in the team's local sandbox."""

    _ids = itertools.count()

    def __init__(self, team: StandinTeam, timeout: int, allow_internet: bool) -> None:
        self.sandbox_id = f"standin-{next(self._ids)}"
        self.team, self.allow_internet = team, allow_internet
        self.deadline = time.monotonic() + timeout
        self.killed = False
        self.store: dict[str, bytes] = {}
        self.history: list[tuple[str, float]] = []  # commands since the last reset, with their timeouts
        self.files, self.commands = _Files(self), _Commands(self)

    @classmethod
    async def create(
        cls, template: str | None = None, timeout: int | None = None, allow_internet_access: bool = True, **_: Any
    ) -> "StandinSandbox":
        if _TEAM is None:
            raise RuntimeError("the E2B stand-in is not installed (use e2b_standin.installed(team))")
        _TEAM.admit()
        return cls(_TEAM, 300 if timeout is None else timeout, allow_internet_access)  # the SDK's default: 300 s

    def ensure_running(self) -> None:
        if not self.killed and time.monotonic() > self.deadline:
            self.killed = True
            self.team.release()
        if self.killed:
            raise SandboxNotRunningException(
                f"sandbox {self.sandbox_id} was not found: The sandbox was killed or reached its timeout."
            )

    async def set_timeout(self, timeout: int, **_: Any) -> None:
        self.ensure_running()
        self.deadline = time.monotonic() + timeout

    async def kill(self, **_: Any) -> bool:
        if self.killed:
            return False
        self.killed = True
        self.team.release()
        return True


class _Files:
    def __init__(self, owner: StandinSandbox) -> None:
        self.owner = owner

    async def write(self, path: str, data: str | bytes, **_: Any) -> None:
        self.owner.ensure_running()
        self.owner.store[path] = data.encode() if isinstance(data, str) else data


class _Commands:
    def __init__(self, owner: StandinSandbox) -> None:
        self.owner = owner

    async def run(
        self,
        cmd: str,
        envs: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = 60,
        user: str | None = None,
        **_: Any,
    ) -> CommandResult:
        owner = self.owner
        owner.ensure_running()
        owner.team.commands += 1
        if user == "root":
            _forget_deleted(owner.store, cmd)
            owner.history.clear()
        folder = PurePosixPath(cwd or "/home/user")
        files = {
            str(PurePosixPath(path).relative_to(folder)): data
            for path, data in owner.store.items()
            if PurePosixPath(path).is_relative_to(folder)
        }
        timeout = float(timeout or 3600)
        replay = "".join(f"( {earlier} ) >/dev/null 2>&1; " for earlier, _ in owner.history)
        wall = timeout + sum(seconds for _, seconds in owner.history)
        limits = Limits(**{**COMMAND_LIMITS.__dict__, "wall_time": wall, "cpu_time": wall})
        job = Job(files=files, command=["bash", "-c", replay + cmd], env=dict(envs or {}), limits=limits)
        result = await owner.team.sandbox.arun(job)
        if user != "root":
            owner.history.append((cmd, timeout))
        owner.ensure_running()  # a sandbox that timed out meanwhile is gone, with its command
        if result.status is Status.TIMEOUT and "wall time" in result.detail:
            raise TimeoutException(f"context deadline exceeded: command ran past its {timeout:g}s timeout")
        if result.status is Status.ERROR:
            raise TimeoutException(f"the sandbox could not be reached: {result.detail}")
        code = result.exit_code or 0
        code = 128 - code if code < 0 else code  # a shell reports death by signal N as 128+N
        if code:
            raise CommandExitException(
                stderr=result.stderr, stdout=result.stdout, exit_code=code, error=f"exit status {code}"
            )
        return CommandResult(stderr=result.stderr, stdout=result.stdout, exit_code=0, error=None)


def _forget_deleted(store: dict[str, bytes], cmd: str) -> None:
    """Uploaded files under the folders an `rm -rf` of a root command deletes (E2BSandbox's reset)."""
    words = shlex.split(cmd.replace(";", " ; "))
    for index, word in enumerate(words):
        if word == "rm":
            targets = itertools.takewhile(lambda w: w != ";", words[index + 1 :])
            for target in (t for t in targets if t.startswith("/")):
                for path in [p for p in store if p == target or p.startswith(target.rstrip("/") + "/")]:
                    del store[path]


__all__ = ["StandinSandbox", "StandinTeam", "installed"]
