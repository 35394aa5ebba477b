"""Run inside a sandbox: a sample's tests against its original solution, then against each of its mutants.

`python mutation_driver.py PAYLOAD` reads a JSON payload {"original": program, "mutants": [program, ...],
"min_timeout", "factor", "max_timeout", "budget"} (a program is a solution with its tests, as the verifier's
`main.py` holds them) and runs each program in a forked child with a fresh `__main__` module, stdin, stdout and
stderr on /dev/null, and its own process group. The original runs first: its time sets each mutant's limit (`factor`
times as long, at least `min_timeout`, at most `max_timeout`); mutants still waiting when `budget` seconds have gone
are not run. A child that exits with status 0 passed (as the verifier judges `python main.py`), any other end
failed, one past its limit is killed with its process group and timed out. One JSON line per program goes to
stdout: {"index": -1 for the original or the mutant's index, "outcome": "passed" | "failed" | "timeout",
"seconds": ...}.

What a mutant does stays in its child: it cannot write to the driver's stdout (its own descriptors point at
/dev/null, and the driver is not dumpable, so /proc/<driver>/fd is closed to it), and killing itself, looping or
exiting early ends only the child. This file has no imports from the project: the sandbox runs it on its own.
"""

import json
import linecache
import os
import select
import sys
import time
import types

PR_SET_DUMPABLE = 4


def not_dumpable():
    """Close /proc/<this process> (its file descriptors above all) to same-user processes such as the children."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def exit_status(code):
    """The interpreter's exit status for `sys.exit(code)`."""
    if code is None:
        return 0
    return code & 0xFF if isinstance(code, int) else 1


def child(program):
    """Run `program` as `python main.py` would, then leave without running anything of the driver's."""
    status = 1
    try:
        os.setpgid(0, 0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        path = os.path.abspath("main.py")
        module = types.ModuleType("__main__")
        module.__file__ = path
        sys.modules["__main__"] = module
        sys.argv = [path]
        linecache.cache[path] = (len(program), None, program.splitlines(keepends=True), path)
        try:
            exec(compile(program, path, "exec"), module.__dict__)
            status = 0
        except SystemExit as stop:
            status = exit_status(stop.code)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    except BaseException:  # an exception from the program, or from flushing what it printed
        pass
    finally:
        os._exit(status)


def wait(pid, timeout):
    """(exit status or None when killed for time, seconds): the child is killed with its group at `timeout`."""
    started = time.monotonic()
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):
        handle = None
    deadline = started + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            kill_group(pid)
            os.waitpid(pid, 0)
            status = None
            break
        if handle is not None:
            select.select([handle], [], [], remaining)
        else:
            time.sleep(min(remaining, 0.005))
    if handle is not None:
        os.close(handle)
    kill_group(pid)  # whatever the child left running
    return status, time.monotonic() - started


def kill_group(pid):
    try:
        os.killpg(pid, 9)
    except OSError:
        pass


def run(program, timeout):
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        child(program)
    try:
        os.setpgid(pid, pid)
    except OSError:  # the child got there first, or is gone already
        pass
    status, seconds = wait(pid, timeout)
    if status is None:
        outcome = "timeout"
    else:
        outcome = "passed" if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else "failed"
    return outcome, seconds


def report(index, outcome, seconds):
    sys.stdout.write(json.dumps({"index": index, "outcome": outcome, "seconds": round(seconds, 4)}) + "\n")
    sys.stdout.flush()


def main(path):
    not_dumpable()
    with open(path, encoding="utf-8") as payload_file:
        payload = json.load(payload_file)
    started = time.monotonic()
    outcome, seconds = run(payload["original"], payload["max_timeout"])
    report(-1, outcome, seconds)
    if outcome != "passed":
        return
    limit = min(payload["max_timeout"], max(payload["min_timeout"], payload["factor"] * seconds))
    for index, program in enumerate(payload["mutants"]):
        if time.monotonic() - started > payload["budget"]:
            return
        report(index, *run(program, limit))


if __name__ == "__main__":
    main(sys.argv[1])
