"""The fork server that runs inside a local sandbox, one per worker. Standard library only: the sandbox's Python
executes this file directly and never imports cursorcore.

Why a fork server: starting bubblewrap and a Python interpreter costs tens of milliseconds, far more than most
verification programs run. This process starts once, imports the common modules, then serves jobs from the host
over its stdin/stdout (each message a 4-byte big-endian length and a body: pickled requests from the trusted host,
JSON replies, because nothing running in the sandbox is trusted).

Each job gets three processes:

* A (a fork of this server) creates a fresh user, mount, PID, IPC and UTS namespace and forks B, then exits.
* B is PID 1 of the new PID namespace. It mounts a fresh /proc, a private size-capped tmpfs on /tmp (work dir,
  $HOME, installed packages) and on /dev/shm, forbids further user namespaces, writes the job's files, and runs the
  steps (install, build, run) one after another.
* C runs a step with rlimits and no capabilities. `python FILE ...` runs in C itself (a warm fork of this
  interpreter, so no interpreter start-up); anything else is exec'd.

The job cannot see or signal this server (other PID namespace), cannot signal B (PID 1 ignores signals from inside
its namespace), and cannot read either one's memory or file descriptors (both are non-dumpable). When a step ends
or overruns, B kills every other process in the namespace (double-forked daemons included); when B exits, the
kernel tears down the namespace, its processes, its tmpfs and its IPC objects, so nothing survives into the next job.

With `--unisolated` (no bubblewrap on the machine and the caller opted in) the namespaces are skipped: the job runs
in a temporary directory on the host with rlimits only, and its process group is killed at the end.
"""

import atexit
import base64
import builtins
import ctypes
import json
import os
import pickle
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time
import types
from typing import NotRequired, TypedDict

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID = 0x10000000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000
MS_RDONLY, MS_REMOUNT, MS_BIND = 0x1, 0x20, 0x1000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
CAPABILITY_VERSION_3 = 0x20080522
SANDBOX_ROOT = "/tmp"
# Time B may need beyond the steps' own wall limits before this server gives up on it.
SUPERVISOR_SLACK = 10.0

_libc = ctypes.CDLL(None, use_errno=True)


# The host/sandbox protocol. Requests come pickled from the trusted host; replies go back as JSON.
class StepLimits(TypedDict):
    wall_time: float
    cpu_seconds: float
    memory_bytes: int
    processes: int
    file_size_bytes: int


class StepRequest(TypedDict):
    name: str  # "install", "build" or "run": the host's verdict depends on which step ended the job
    argv: list[str]
    limits: StepLimits


class JobRequest(TypedDict):
    files: dict[str, bytes]
    stdin: bytes
    env: dict[str, str]
    packages: bool  # whether an install step puts packages under $HOME (PIP_TARGET is set for it)
    steps: list[StepRequest]
    disk_bytes: int
    output_bytes: int


class StepReport(TypedDict):
    name: str
    exit_code: int
    timed_out: bool
    cpu_time: float
    max_rss_kb: int
    duration: float


class _Reports(TypedDict):
    """B's report lines folded together."""

    steps: list[StepReport]
    init: NotRequired[int]  # B's pid as seen from here: killing it ends the job's namespace
    error: NotRequired[str]


class JobReply(TypedDict):
    steps: list[StepReport]  # the steps that ran, in order; the job stops at the first that fails
    error: str | None  # set when the sandbox itself failed, not the job
    stdout: str  # base64 of the first `output_bytes` written
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32))


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _read_exact(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return b""
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> bytes | None:
    header = _read_exact(fd, 4)
    return _read_exact(fd, struct.unpack(">I", header)[0]) if header else None


def write_frame(fd: int, body: bytes) -> None:
    data = memoryview(struct.pack(">I", len(body)) + body)
    while data:
        data = data[os.write(fd, data) :]


def _report(fd: int, message: dict) -> None:
    os.write(fd, json.dumps(message).encode() + b"\n")


# --- C: one step ------------------------------------------------------------------------------------------------


def _set_limits(limits: StepLimits, isolated: bool) -> None:
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    if isolated:
        # Counted per user *in this job's user namespace*: the job's own processes, plus A and B.
        resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"] + 2,) * 2)


def _drop_capabilities() -> None:
    header = _CapHeader(CAPABILITY_VERSION_3, 0)
    _check(_libc.capset(ctypes.byref(header), (_CapData * 2)()), "capset")


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _run_python(argv: list[str], env: dict[str, str]) -> int:
    """Behave like `python FILE ARGS...` would, in this already warm interpreter."""
    script = os.path.abspath(argv[1])
    os.environ.clear()
    os.environ.update(env)
    sys.argv = argv[1:]
    extra = [path for path in env.get("PYTHONPATH", "").split(":") if path]
    sys.path[0:1] = [os.path.dirname(script), *extra]
    sys.stdin = sys.__stdin__ = open(0, encoding="utf-8", closefd=False)
    sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = sys.__stderr__ = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)
    main = types.ModuleType("__main__")
    main.__file__, main.__builtins__ = script, builtins
    sys.modules["__main__"] = main
    try:
        with open(script, "rb") as file:
            code = compile(file.read(), script, "exec")
        exec(code, main.__dict__)
        status = 0
    except SystemExit as exit_request:
        status = _exit_status(exit_request.code)
    except BaseException as error:
        # Hide this function's frame: the traceback should look like the program's own.
        error = error.with_traceback(error.__traceback__.tb_next if error.__traceback__ else None)
        sys.excepthook(type(error), error, error.__traceback__)
        status = 1
    try:
        threading._shutdown()
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        status = status or 1
    return status


def _run_step_process(
    step: StepRequest, env: dict[str, str], workdir: str, stdin_fd: int, out_fd: int, err_fd: int, isolated: bool
) -> None:
    """The body of C; never returns."""
    try:
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        os.setsid()
        os.chdir(workdir)
        for target, fd in enumerate((stdin_fd, out_fd, err_fd)):
            os.dup2(fd, target)
        os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        _set_limits(step["limits"], isolated)
        argv = step["argv"]
        if isolated:
            _drop_capabilities()
        if argv[0] in ("python", "python3") and len(argv) > 1 and not argv[1].startswith("-"):
            _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
            os._exit(_run_python(argv, env))
        # Python ignores these; programs it starts should get the defaults.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError as error:
        os.write(2, f"sandbox: {error.filename or step['argv'][0]}: command not found\n".encode())
        os._exit(127)
    except BaseException as error:
        os.write(2, f"sandbox: cannot start {step['argv'][0]}: {error}\n".encode())
        os._exit(126)


# --- B: the job's PID 1 ----------------------------------------------------------------------------------------


def _mount(source: str, target: str, fstype: str | None, flags: int, options: str | None = None) -> None:
    encode = lambda text: text.encode() if text is not None else None  # noqa: E731
    _check(_libc.mount(encode(source), encode(target), encode(fstype), flags, encode(options)), f"mount {target}")


def _interpreter_folders_under_root() -> list[str]:
    """The interpreter's own folders (a venv in a checkout under /tmp, say) that the job's fresh /tmp would hide."""
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    found |= {os.path.realpath(path) for path in found}
    return sorted(path for path in found if path.startswith(SANDBOX_ROOT + os.sep))


def _enter_fresh_mounts(disk_bytes: int) -> None:
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    kept = [(path, os.open(path, os.O_PATH | os.O_CLOEXEC)) for path in _interpreter_folders_under_root()]
    for target in (SANDBOX_ROOT, "/dev/shm"):
        _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"size={disk_bytes},mode=1777")
    for path, handle in kept:  # bound back, read-only, from a handle taken before the tmpfs covered them
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{handle}", path, None, MS_BIND | MS_REC)
        _mount("none", path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(handle)
    # A user namespace inside the job could mount its own tmpfs without our size cap.
    with open("/proc/sys/user/max_user_namespaces", "w") as file:
        file.write("0")


def _write_files(files: dict[str, bytes], workdir: str) -> None:
    for relative, data in files.items():
        path = os.path.normpath(os.path.join(workdir, relative))
        if not path.startswith(workdir + os.sep):
            raise ValueError(f"file path leaves the work dir: {relative}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as file:
            file.write(data)
        os.chmod(path, 0o755 if data.startswith(b"#!") else 0o644)


class _Wakeup:
    """SIGCHLD through a pipe, so waiting for a step with a deadline is a plain select()."""

    def __init__(self) -> None:
        self.read_fd, write_fd = os.pipe()
        for fd in (self.read_fd, write_fd):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(write_fd)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def wait(self, timeout: float) -> None:
        if select.select([self.read_fd], [], [], max(timeout, 0))[0]:
            while os.read(self.read_fd, 4096) == 4096:
                pass


def _kill_leftovers(leader: int, isolated: bool) -> None:
    """Everything the step started dies before the next one: in the job's PID namespace kill(-1) reaches every
    process but PID 1 itself, double-forked daemons included."""
    try:
        if isolated:
            os.kill(-1, signal.SIGKILL)
        else:
            os.killpg(leader, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _run_step(
    step: StepRequest,
    env: dict[str, str],
    workdir: str,
    stdin_fd: int,
    out_fd: int,
    err_fd: int,
    isolated: bool,
    wakeup: _Wakeup,
) -> StepReport:
    limits = step["limits"]
    start = time.monotonic()
    leader = os.fork()
    if leader == 0:
        _run_step_process(step, env, workdir, stdin_fd, out_fd, err_fd, isolated)
    deadline = start + limits["wall_time"]
    ended = None
    while ended is None and time.monotonic() < deadline:
        try:
            while ended is None:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
                if pid == 0:
                    break
                if pid == leader:
                    ended = status, usage
        except ChildProcessError:
            break
        if ended is None:
            wakeup.wait(deadline - time.monotonic())
    timed_out = ended is None
    duration = time.monotonic() - start
    _kill_leftovers(leader, isolated)
    if timed_out:
        _, status, usage = os.wait4(leader, 0)
        ended = status, usage
    if isolated:
        while True:
            try:
                os.wait()
            except ChildProcessError:
                break
    status, usage = ended
    return StepReport(
        name=step["name"],
        exit_code=os.waitstatus_to_exitcode(status),
        timed_out=timed_out,
        cpu_time=usage.ru_utime + usage.ru_stime,
        max_rss_kb=usage.ru_maxrss,
        duration=duration,
    )


def _namespace_init(request: JobRequest, isolated: bool, fds: dict[str, int]) -> None:
    """The body of B; never returns."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    root = None
    try:
        if isolated:
            _enter_fresh_mounts(request["disk_bytes"])
            root = SANDBOX_ROOT
        else:
            root = tempfile.mkdtemp(prefix="cursorcore-sandbox-")
        workdir, home = os.path.join(root, "job"), os.path.join(root, "home")
        os.makedirs(workdir)
        os.makedirs(home)
        env = {**request["env"], "HOME": home, "TMPDIR": root}
        if request["packages"]:
            env["PYTHONPATH"] = env["PIP_TARGET"] = os.path.join(root, "packages")
        _write_files(request["files"], workdir)
        devnull = os.open(os.devnull, os.O_RDONLY)
        wakeup = _Wakeup()
        for step in request["steps"]:
            stdin_fd = fds["stdin"] if step["name"] == "run" else devnull
            outcome = _run_step(step, env, workdir, stdin_fd, fds["stdout"], fds["stderr"], isolated, wakeup)
            _report(fds["report"], outcome)
            if outcome["exit_code"] != 0 or outcome["timed_out"]:
                break
    except BaseException as error:
        _report(fds["report"], {"error": f"sandbox set-up failed: {type(error).__name__}: {error}"})
    finally:
        if root and not isolated:
            shutil.rmtree(root, ignore_errors=True)
        os._exit(0)


# --- A and the server loop --------------------------------------------------------------------------------------


def _start_namespace(request: JobRequest, isolated: bool, fds: dict[str, int]) -> None:
    """The body of A; never returns. It stays until B exits so that, if this server dies, the kernel's
    parent-death signals take A and then B, and with B the whole job."""
    try:
        server = os.getppid()
        if isolated:
            # Writing our own id maps needs our /proc files, which only a dumpable process owns; B turns it off again.
            _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
            uid, gid = os.getuid(), os.getgid()
            namespaces = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
            _check(_libc.unshare(namespaces), "unshare")
            for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
                with open(f"/proc/self/{name}", "w") as file:
                    file.write(text)
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != server:
            raise ProcessLookupError("the server is gone")
        init = os.fork()
        if init == 0:
            _namespace_init(request, isolated, fds)
        _report(fds["report"], {"init": init})
        for fd in fds.values():
            os.close(fd)
        os.waitpid(init, 0)
        os._exit(0)
    except BaseException as error:
        _report(fds["report"], {"error": f"cannot create the job's namespaces: {error}"})
        os._exit(1)


class _Capture:
    """Keeps the first `cap` bytes of a stream and counts the rest, so a flood of output cannot exhaust memory."""

    def __init__(self, cap: int) -> None:
        self.cap, self.data, self.total = cap, bytearray(), 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if len(self.data) < self.cap:
            self.data += chunk[: self.cap - len(self.data)]


def handle(request: JobRequest, isolated: bool, control_fds: tuple[int, int]) -> JobReply:
    """Run one job and describe what happened. If the host goes away meanwhile, end the job and this server."""
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    stdin_r, stdin_w = os.pipe()
    report_r, report_w = os.pipe()
    child_fds = {"stdin": stdin_r, "stdout": stdout_w, "stderr": stderr_w, "report": report_w}
    starter = os.fork()
    if starter == 0:
        for fd in (stdout_r, stderr_r, stdin_w, report_r, *control_fds):
            os.close(fd)
        _start_namespace(request, isolated, child_fds)
    for fd in child_fds.values():
        os.close(fd)

    captures = {stdout_r: _Capture(request["output_bytes"]), stderr_r: _Capture(request["output_bytes"])}
    reports = bytearray()
    readable = {stdout_r, stderr_r, report_r}
    pending_stdin = memoryview(request["stdin"])
    writable = [stdin_w] if pending_stdin else []
    os.set_blocking(stdin_w, False)
    if not pending_stdin:
        os.close(stdin_w)
    deadline = time.monotonic() + sum(step["limits"]["wall_time"] for step in request["steps"]) + SUPERVISOR_SLACK
    overran = False
    while readable:
        remaining = deadline - time.monotonic()
        if remaining <= 0 and not overran:
            overran = True
            os.kill(_messages(reports).get("init", starter), signal.SIGKILL)
        ready_r, ready_w, _ = select.select([*readable, control_fds[0]], writable, [], max(remaining, 0.1))
        if control_fds[0] in ready_r:  # the host sends nothing during a job: this is its end of the pipe closing
            os.kill(_messages(reports).get("init", starter), signal.SIGKILL)
            os._exit(1)
        for fd in ready_r:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                readable.discard(fd)
                os.close(fd)
            elif fd == report_r:
                reports += chunk
            else:
                captures[fd].add(chunk)
        if ready_w:
            try:
                pending_stdin = pending_stdin[os.write(stdin_w, pending_stdin[: 1 << 16]) :]
            except BrokenPipeError:
                pending_stdin = pending_stdin[:0]
            if not pending_stdin:
                writable.clear()
                os.close(stdin_w)
    if writable:
        os.close(stdin_w)
    os.waitpid(starter, 0)  # B has closed its pipes, so both are on their way out: collect A before answering
    messages = _messages(reports)
    error = messages.get("error")
    if overran:
        error = "the sandbox's job supervisor stopped answering"
    stdout, stderr = captures[stdout_r], captures[stderr_r]
    return JobReply(
        steps=messages["steps"],
        error=error,
        stdout=base64.b64encode(bytes(stdout.data)).decode(),
        stderr=base64.b64encode(bytes(stderr.data)).decode(),
        stdout_truncated=stdout.total > stdout.cap,
        stderr_truncated=stderr.total > stderr.cap,
    )


def failure_reply(error: str) -> JobReply:
    """What the host receives when the sandbox, not the job, failed."""
    return JobReply(steps=[], error=error, stdout="", stderr="", stdout_truncated=False, stderr_truncated=False)


def _messages(reports: bytes) -> _Reports:
    """Fold B's report lines: step reports in order, its pid, a set-up error."""
    folded = _Reports(steps=[])
    for line in bytes(reports).splitlines():
        message = json.loads(line)
        if "name" in message:
            folded["steps"].append(message)
        else:
            folded.update(message)
    return folded


def main() -> None:
    isolated = "--unisolated" not in sys.argv
    for argument in sys.argv[1:]:
        if argument.startswith("--preload="):
            for name in filter(None, argument.removeprefix("--preload=").split(",")):
                try:
                    __import__(name)
                except ImportError:
                    pass
    # Jobs must not read this process's memory or descriptors.
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    control_in, control_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    write_frame(control_out, json.dumps({"ready": True}).encode())
    while (frame := read_frame(control_in)) is not None:
        try:
            reply = handle(pickle.loads(frame), isolated, (control_in, control_out))
        except Exception as error:
            reply = failure_reply(f"sandbox server failed: {type(error).__name__}: {error}")
        write_frame(control_out, json.dumps(reply).encode())


if __name__ == "__main__":
    main()
