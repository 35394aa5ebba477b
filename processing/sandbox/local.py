"""The `local` provider: jobs run in bubblewrap sandboxes on this machine, through warm fork servers.

Design. Each worker is one long-lived `bwrap` process with new user, PID, network, IPC, UTS and cgroup namespaces
(what `--unshare-all` unshares), `--die-with-parent`, a read-only root built from the host's /usr, /etc and the
Python in use (nothing else of the host: no /home, no /root contents, no repository), a fresh /dev and /proc, no
environment but a few fixed variables, and no network but its own loopback. Inside, `server.py` (see its docstring)
forks every job into its own user, mount, PID and IPC namespaces with a private size-capped tmpfs, rlimits and no
capabilities, and tears all of that down when the job ends. A pool of such workers (one per core by default) serves
`run()` and `verify()`; start-up costs are paid once per worker, not once per job. A worker that dies or stops
answering is killed and replaced, and its job is reported as `error`, never as `failed`.

Host uid. RLIMIT_NPROC (the fork-bomb guard) is not enforced for host root, so when this process runs as root the
sandbox runs as an otherwise unused host uid instead. bubblewrap builds its mounts after switching to the sandbox
uid, relying on capabilities that only cover files whose owner is mapped into its user namespace, so we hand it a
user namespace mapping the sandbox uid to that host uid *and* host root to the overflow id 65534. No process in the
sandbox can become 65534: bubblewrap drops every capability and sets no_new_privs before the job server starts.
Without root, bubblewrap creates an ordinary unprivileged user namespace for the caller's own uid.

Teardown. bubblewrap reports the sandbox's PID 1 on --info-fd; killing it ends the whole sandbox at once (its PID
namespace dies with it), which is how a stuck worker is stopped. If this process dies, the fork server sees its
control pipe close, kills the running job and exits, and bubblewrap follows.

Known limits: memory is capped per process (RLIMIT_AS), so a job may use up to `processes × memory_mb`; there are
no cgroups here to cap the sum. Out-of-memory is recognised from what the program prints (MemoryError, bad_alloc).
"""

import base64
import json
import logging
import os
import pickle
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from cursorcore.processing.sandbox import server
from cursorcore.processing.sandbox.base import (
    Job,
    Limits,
    Result,
    Sandbox,
    SandboxUnavailable,
    StepOutcome,
    step_verdict,
)
from cursorcore.processing.sandbox.server import JobReply, JobRequest, StepRequest

logger = logging.getLogger(__name__)

BWRAP_HINT = "the local sandbox needs bubblewrap: apt-get install bubblewrap (or dnf/pacman install bubblewrap)"
# The uid jobs run as on the host when we are root; nothing else on the machine should use it.
DEFAULT_HOST_UID = 65_000
SANDBOX_UID = 1000
OVERFLOW_UID = 65_534
SERVER_PATH = "/.cursorcore/server.py"
WHEELHOUSE_PATH = "/wheelhouse"
# Imported once per worker so jobs that use them start warm (HumanEval-style programs mostly use these).
DEFAULT_PRELOAD = (
    "typing collections itertools functools math re string heapq bisect random json hashlib fractions decimal "
    "datetime copy statistics dataclasses enum operator array traceback"
).split()
# How long past a job's own time limits the host waits for its worker before declaring the worker dead.
WORKER_SLACK = 2 * server.SUPERVISOR_SLACK
STARTUP_TIMEOUT = 30.0


class WorkerFailed(RuntimeError):
    pass


class _Worker:
    """One sandbox with its fork server, spoken to over the server's stdin and stdout."""

    def __init__(self, argv: list[str], env: dict[str, str], handover_fds: tuple[int, ...] = (), info_fd=None) -> None:
        """`handover_fds` are passed to the sandbox and closed here; `info_fd` reads bubblewrap's --info-fd."""
        self.log = tempfile.TemporaryFile()
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.log,
                env=env,
                pass_fds=handover_fds,
                start_new_session=True,
            )
        finally:
            for fd in handover_fds:
                os.close(fd)
        # bubblewrap names the sandbox's PID 1 there: killing it ends everything inside at once.
        self.init_pid = self.process.pid
        deadline = time.monotonic() + STARTUP_TIMEOUT
        if info_fd is not None:
            with os.fdopen(info_fd, "rb") as info:
                text = b"".join(iter(lambda: self._read_some(info.fileno(), deadline), b""))
            try:
                self.init_pid = json.loads(text)["child-pid"]
            except (ValueError, KeyError):
                self.process.kill()
                self.process.wait()
                message = f"bubblewrap did not start; {self.log_tail()}"
                self.stop()
                raise WorkerFailed(message) from None
        self._receive(deadline)

    def call(self, request: JobRequest, timeout: float) -> JobReply:
        body = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            server.write_frame(self.process.stdin.fileno(), body)
        except OSError as error:
            raise WorkerFailed(f"cannot send the job: {error}; {self.log_tail()}") from error
        return self._receive(time.monotonic() + timeout)

    def _receive(self, deadline: float) -> JobReply:
        fd = self.process.stdout.fileno()
        header = self._read(fd, 4, deadline)
        return json.loads(self._read(fd, int.from_bytes(header, "big"), deadline))

    def _read(self, fd: int, size: int, deadline: float) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = self._read_some(fd, deadline, size - len(data))
            if not chunk:
                self.process.wait()
                raise WorkerFailed(f"the sandbox exited (status {self.process.returncode}); {self.log_tail()}")
            data += chunk
        return bytes(data)

    def _read_some(self, fd: int, deadline: float, size: int = 1 << 16) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise WorkerFailed("the sandbox stopped answering")
        return os.read(fd, size)

    def log_tail(self) -> str:
        self.log.seek(0)
        text = self.log.read()[-2000:].decode(errors="replace").strip()
        return f"it said: {text}" if text else "it said nothing"

    def stop(self) -> None:
        """Kill the sandbox's PID 1, which takes its PID namespace, and so every job process, with it."""
        if self.process.poll() is None:
            for pid in {self.init_pid, self.process.pid}:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            stream.close()
        self.log.close()


class LocalSandbox(Sandbox):
    """Run jobs in bubblewrap sandboxes on this machine (see the module docstring for how they are isolated).

    `python` is the interpreter jobs get (default: this one, with its installed packages, read-only). `wheelhouse` is
    a folder of wheels that jobs asking for `packages` install from; there is no network. Without bubblewrap the
    constructor refuses, unless `allow_unisolated=True`, which runs jobs with rlimits only and warns on every job.
    """

    name = "local"

    def __init__(
        self,
        *,
        workers: int | None = None,
        python: str | None = None,
        wheelhouse: str | os.PathLike | None = None,
        bwrap: str = "bwrap",
        allow_unisolated: bool = False,
        host_uid: int = DEFAULT_HOST_UID,
        preload: tuple[str, ...] = tuple(DEFAULT_PRELOAD),
    ) -> None:
        super().__init__(workers or os.cpu_count() or 1)
        self.python = python or sys.executable
        self.wheelhouse = Path(wheelhouse).resolve() if wheelhouse else None
        if self.wheelhouse and not self.wheelhouse.is_dir():
            raise SandboxUnavailable(f"the wheelhouse {self.wheelhouse} is not a folder")
        if self.wheelhouse and os.geteuid() == 0 and self.wheelhouse.stat().st_mode & 0o005 != 0o005:
            raise SandboxUnavailable(f"the sandbox user cannot read the wheelhouse: chmod -R a+rX {self.wheelhouse}")
        bwrap_path = shutil.which(bwrap)
        if bwrap_path is None and not allow_unisolated:
            raise SandboxUnavailable(f"bubblewrap ({bwrap}) was not found; {BWRAP_HINT}")
        self.isolated = bwrap_path is not None
        self._userns_fd = _user_namespace(host_uid) if self.isolated and os.geteuid() == 0 else None
        self._base_env = {"PATH": f"{Path(self.python).parent}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        self._bwrap, self._preload = bwrap_path, ",".join(preload)
        self._prefixes = _python_prefixes(self.python) if self.isolated else []
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.concurrency)
        try:  # fail here, with the reason, rather than once per job
            self._idle.append(self._start_worker())
        except WorkerFailed as error:
            self.close()
            raise SandboxUnavailable(f"bubblewrap could not start a sandbox here: {error}") from error

    def _bwrap_argv(self, resolv_fd: int, info_fd: int, userns_fd: int | None = None) -> list[str]:
        args = [self._bwrap, "--info-fd", str(info_fd)]
        args += ["--userns", str(userns_fd)] if userns_fd is not None else ["--unshare-user"]
        args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        args += ["--die-with-parent", "--new-session", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
        args += ["--hostname", "sandbox", "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            path = Path("/", name)
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                args += ["--ro-bind", str(path), str(path)]
        if Path("/etc/resolv.conf").exists():
            args += ["--ro-bind-data", str(resolv_fd), os.path.realpath("/etc/resolv.conf")]
        args += ["--dev", "/dev", "--remount-ro", "/dev", "--proc", "/proc", "--dir", "/tmp"]
        for prefix in self._prefixes:
            args += ["--ro-bind", prefix, prefix]
        args += ["--ro-bind", server.__file__, SERVER_PATH]
        if self.wheelhouse:
            args += ["--ro-bind", str(self.wheelhouse), WHEELHOUSE_PATH]
        args += ["--remount-ro", "/", "--clearenv"]
        for name, value in self._base_env.items():
            args += ["--setenv", name, value]
        return [*args, "--chdir", "/", self.python, SERVER_PATH, f"--preload={self._preload}"]

    def _start_worker(self) -> _Worker:
        if not self.isolated:
            argv = [self.python, server.__file__, "--unisolated", f"--preload={self._preload}"]
            return _Worker(argv, dict(self._base_env))
        resolv_r, resolv_w = os.pipe()  # the sandbox's /etc/resolv.conf: no name server but its own loopback
        os.write(resolv_w, b"nameserver 127.0.0.1\n")
        os.close(resolv_w)
        info_r, info_w = os.pipe()
        handover = (resolv_r, info_w) + ((os.dup(self._userns_fd),) if self._userns_fd is not None else ())
        return _Worker(self._bwrap_argv(*handover), dict(self._base_env), handover, info_r)

    def run(self, job: Job) -> Result:
        if not self.isolated:
            logger.warning("running a job WITHOUT isolation (bubblewrap is missing): %s", " ".join(job.command))
        if job.packages and not self.wheelhouse:
            return Result.infrastructure_error(
                f"the job asks for packages {list(job.packages)}, but the local sandbox has no network: give "
                "LocalSandbox(wheelhouse=DIR) a folder of wheels (pip download -d DIR PACKAGE)"
            )
        request = self._request(job)
        budget = sum(step["limits"]["wall_time"] for step in request["steps"]) + WORKER_SLACK
        with self._slots:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            try:
                worker = worker or self._start_worker()
                reply = worker.call(request, budget)
            except (WorkerFailed, OSError, ValueError) as error:
                if worker:
                    worker.stop()
                return Result.infrastructure_error(f"sandbox worker failed: {error}")
            with self._lock:
                self._idle.append(worker)
        return self._result(job, reply)

    def _request(self, job: Job) -> JobRequest:
        steps = []
        if job.packages:
            wheelhouse = WHEELHOUSE_PATH if self.isolated else str(self.wheelhouse)
            # pip only needs an interpreter of the same version (packages go to PIP_TARGET): take the real one, since
            # a venv under /tmp is hidden inside the sandbox by the job's own /tmp
            pip = [os.path.realpath(self.python), "-m", "pip", "install", "--no-index", "--find-links", wheelhouse]
            pip += ["--quiet", "--disable-pip-version-check", "--no-cache-dir", *job.packages]
            steps.append(_step("install", pip, job.build_limits))
        if job.build:
            steps.append(_step("build", job.build, job.build_limits))
        steps.append(_step("run", job.command, job.limits))
        passed = {name: os.environ[name] for name in job.pass_env if name in os.environ}
        return JobRequest(
            files=job.file_bytes(),
            stdin=job.stdin_bytes(),
            env={**self._base_env, **passed, **job.env},
            packages=bool(job.packages),
            steps=steps,
            disk_bytes=job.limits.disk_mb << 20,
            output_bytes=job.limits.output_bytes,
        )

    def _result(self, job: Job, reply: JobReply) -> Result:
        if reply["error"] or not reply["steps"]:
            return Result.infrastructure_error(reply["error"] or "the sandbox ran no step")
        stdout, stderr = (
            base64.b64decode(reply[name]).decode("utf-8", errors="replace") for name in ("stdout", "stderr")
        )
        steps = reply["steps"]
        last = steps[-1]
        limits = job.limits if last["name"] == "run" else job.build_limits
        outcome = StepOutcome(last["exit_code"], last["timed_out"], last["cpu_time"])
        status, detail = step_verdict(last["name"], outcome, limits, stderr)
        return Result(
            status=status,
            exit_code=last["exit_code"],
            stdout=stdout,
            stderr=stderr,
            duration=sum(step["duration"] for step in steps),
            peak_memory_mb=max(step["max_rss_kb"] for step in steps) / 1024,
            stdout_truncated=reply["stdout_truncated"],
            stderr_truncated=reply["stderr_truncated"],
            detail=detail,
        )

    def worker_pids(self) -> list[int]:
        """Host pids of the idle workers' sandboxes (for tests and diagnostics)."""
        with self._lock:
            return [worker.process.pid for worker in self._idle]

    def close(self) -> None:
        with self._lock:
            workers, self._idle = self._idle, []
        for worker in workers:
            worker.stop()
        if self._userns_fd is not None:
            os.close(self._userns_fd)
            self._userns_fd = None


def _step(name: str, argv: Sequence[str], limits: Limits) -> StepRequest:
    return StepRequest(
        name=name,
        argv=list(argv),
        limits=server.StepLimits(
            wall_time=limits.wall_time,
            cpu_seconds=limits.cpu_seconds,
            memory_bytes=limits.memory_mb << 20,
            processes=limits.processes,
            file_size_bytes=limits.file_size_mb << 20,
        ),
    )


def _python_prefixes(python: str) -> list[str]:
    """The folders the interpreter needs (a venv and the Python it was made from), minus what /usr covers."""
    code = "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]))"
    found = json.loads(subprocess.run([python, "-I", "-c", code], capture_output=True, check=True).stdout)
    prefixes = sorted({os.path.realpath(path) for path in found} | {os.path.abspath(path) for path in found})
    return [path for path in prefixes if not path.startswith("/usr/") and path != "/usr"]


def _user_namespace(host_uid: int) -> int:
    """A user namespace in which the sandbox uid is `host_uid` and host root is the unreachable overflow id."""
    helper = subprocess.Popen(
        ["unshare", "--user", "--", "sh", "-c", "echo ready; exec cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        if helper.stdout.readline() != b"ready\n":
            raise SandboxUnavailable("cannot create a user namespace for the sandbox (unshare --user failed)")
        mapping = f"{SANDBOX_UID} {host_uid} 1\n{OVERFLOW_UID} 0 1\n"
        for name, text in (("uid_map", mapping), ("setgroups", "deny"), ("gid_map", mapping)):
            Path(f"/proc/{helper.pid}/{name}").write_text(text)
        return os.open(f"/proc/{helper.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        helper.stdin.close()
        helper.stdout.close()
        helper.wait()
