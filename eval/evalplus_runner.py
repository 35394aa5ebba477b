"""EvalPlus's differential testing, run inside a sandbox job as `python main.py` with a nonce on stdin.

The host (`cursorcore.eval.evalplus`) copies this file into each job together with `task.pkl`; cursorcore itself is
not importable there, so only the standard library and numpy are used. The answer is one stdout line,
`<MARKER><nonce> <json>`: the nonce is read only after every solution process has ended, so nothing a solution
prints can pass for a verdict.

Modes (`task["mode"]`):

* `oracle`: run the reference solution on every input of each split, recording the outputs (pickled, returned when
  small, else a digest of each output's pickle) and the time each call took. This is EvalPlus's `get_groundtruth`.
* `check`: for each split, fork a child that runs the solution and compares its outputs with the expected ones the
  way `evalplus.eval.unsafe_execute` does (fast check: stop at the first failing input); this process never runs
  the solution itself and enforces the split's time budget. Expected outputs too large to ship are known by their
  digests: an output that pickles to the expected bytes is compared with its own unpickled copy (which is then what
  EvalPlus's cache would hold), any other output with the reference solution's output, computed there and then on
  an untouched copy of the input.

Time is *effective* time: wall-clock time minus the time the process waited for a CPU (`/proc/<pid>/schedstat`).
Sleeping counts, as it does for EvalPlus's wall-clock limits, but a loaded machine does not turn a correct solution
into a timeout. Where schedstat is missing, effective time is plain wall-clock time.
"""

import base64
import builtins
import contextlib
import copy
import faulthandler
import hashlib
import io
import json
import math
import os
import pickle
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

MARKER = "@@cursorcore-evalplus@@"
PASS, FAIL, TIMEOUT = "pass", "fail", "timeout"

# EvalPlus's special oracles for MBPP+, keyed by entry point as EvalPlus keys them.
MBPP_OUTPUT_NOT_NONE = frozenset({"check_str", "text_match_three", "text_starta_endb"})
MBPP_OUTPUT_SET_EQUAL = frozenset(
    {"similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum",
     "intersection_array", "find_dissimilar", "Diff"}
)  # fmt: skip


def _poly(xs: list, x: float) -> float:
    """HumanEval/32's polynomial, for checking that a returned root is one."""
    return sum(coefficient * math.pow(x, power) for power, coefficient in enumerate(xs))


def _pyramid_surface_area(base_edge: float, height: float) -> int:
    """Mbpp/581 also accepts the reading of "height" as the pyramid's perpendicular height."""
    slant = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 4 * (base_edge * slant) / 2)


def _digit_distance_padded(first: int, second: int) -> int:
    """Mbpp/558 also accepts padding the shorter number with leading zeros."""
    width = max(len(str(first)), len(str(second)))
    return sum(abs(int(a) - int(b)) for a, b in zip(str(first).zfill(width), str(second).zfill(width), strict=True))


def _is_floats(value) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)) and value:
        return all(isinstance(item, float) for item in value)
    if isinstance(value, np.ndarray):
        return value.dtype in (np.float64, np.float32)
    return False


class Comparison:
    """Whether one output matches its expected value, with EvalPlus's rules: exact equality, the per-task special
    oracles, and `np.allclose` when the task has a tolerance. Like EvalPlus, the tolerance becomes 1e-6 for the rest
    of the split once an expected value is a float and the task gave none."""

    def __init__(self, dataset: str, entry_point: str, atol: float) -> None:
        self.dataset, self.entry_point, self.atol = dataset, entry_point, atol

    def matches(self, inp, out, exp) -> bool:
        exact = out == exp
        name = self.entry_point
        if self.dataset == "mbpp":
            if name == "are_equivalent":  # Mbpp/164: any answer is accepted
                exact = True
            elif name == "sum_div":  # Mbpp/295
                exact = exact or out == 0
            elif name == "surface_Area":  # Mbpp/581
                exact = exact or abs(out - _pyramid_surface_area(*inp)) <= self.atol
            elif name == "digit_distance_nums":  # Mbpp/558
                exact = exact or out == _digit_distance_padded(*inp)
            elif name in MBPP_OUTPUT_SET_EQUAL:
                exact = set(out) == set(exp)
            elif name in MBPP_OUTPUT_NOT_NONE:  # the expected value only says whether the output is None
                exact = out == exp if isinstance(out, bool) else exp == (out is not None)
        if self.dataset == "humaneval" and name == "find_zero":
            # Any root will do. EvalPlus 0.3.1 checks this too but then skips counting the input as passed, so it
            # fails every solution of HumanEval/32, the reference one included; here a root passes.
            return bool(abs(_poly(*inp, out)) <= self.atol)
        if self.atol == 0 and _is_floats(exp):
            self.atol = 1e-6
        if not exact and self.atol != 0:
            if type(out) is not type(exp) or (isinstance(exp, (list, tuple)) and len(out) != len(exp)):
                return False
            return bool(np.allclose(out, exp, rtol=1e-07, atol=self.atol))
        return bool(exact)


class _WriteOnlyIO(io.StringIO):
    """What a solution sees as stdin/stdout/stderr: writes are kept (as EvalPlus keeps them), reads fail."""

    def read(self, *args, **kwargs):
        raise OSError("stdin is not readable here")

    readline = readlines = read

    def readable(self) -> bool:
        return False


@contextlib.contextmanager
def _swallow_io():
    stream = _WriteOnlyIO()
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = sys.stdout = sys.stderr = stream
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved


class _EffectiveClock:
    """Wall-clock time minus the time a process spent runnable but waiting for a CPU."""

    def __init__(self, pid: int | str = "self") -> None:
        try:
            self._fd = os.open(f"/proc/{pid}/schedstat", os.O_RDONLY)
        except OSError:
            self._fd = None
        self._start = self._now()

    def _now(self) -> float:
        waited = 0.0
        if self._fd is not None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                waited = int(os.pread(self._fd, 128, 0).split()[1]) / 1e9
        return time.monotonic() - waited

    def elapsed(self) -> float:
        return self._now() - self._start

    def restart(self) -> None:
        self._start = self._now()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class TimeLimitExceeded(Exception):
    pass


class _Deadline:
    """A per-call time limit in effective seconds: SIGALRM fires at the wall-clock limit, and the handler re-arms it
    for whatever part of the limit was spent waiting for a CPU instead of raising."""

    def __init__(self) -> None:
        self.clock = _EffectiveClock()
        self.limit = 0.0
        signal.signal(signal.SIGALRM, self._on_alarm)

    def _on_alarm(self, signum, frame) -> None:
        left = self.limit - self.clock.elapsed()
        if left <= 0.001:
            raise TimeLimitExceeded(f"over {self.limit:g}s")
        signal.setitimer(signal.ITIMER_REAL, left)

    @contextlib.contextmanager
    def limit_to(self, seconds: float):
        self.limit = seconds
        self.clock.restart()
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _guard(memory_bytes: int) -> None:
    """EvalPlus's `reliability_guard`: the same functions disabled, so a solution that needs them fails here as it
    fails there (isolation itself comes from the sandbox)."""
    for limit in (resource.RLIMIT_AS, resource.RLIMIT_DATA, resource.RLIMIT_STACK):
        with contextlib.suppress(ValueError, OSError):
            hard = resource.getrlimit(limit)[1]
            value = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
            resource.setrlimit(limit, (value, value))
    faulthandler.disable()
    builtins.exit = builtins.quit = builtins.open = builtins.help = None
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in (
        "kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork", "forkpty", "killpg",
        "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown", "chmod", "chown", "chroot",
        "lchflags", "lchmod", "lchown", "getcwd", "chdir",
    ):  # fmt: skip
        setattr(os, name, None)
    shutil.rmtree = shutil.move = shutil.chown = None
    subprocess.Popen = None
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[name] = None


def _reference_function(task: dict):
    namespace: dict = {}
    exec(task["reference"], namespace)
    return namespace[task["entry_point"]]


def _reference(task: dict):
    """The trusted reference solution's function, called the way EvalPlus's `trusted_exec` calls it: on a copy of
    the input, and reduced to "is it not None" for the MBPP tasks that only check that."""
    function = _reference_function(task)

    def call(inp):
        output = function(*copy.deepcopy(inp))
        return output is not None if task["output_not_none"] else output

    return call


def reference_outputs(task: dict, inputs: list) -> tuple[list, list[float]]:
    """The reference's output and effective seconds for each input; like EvalPlus's `trusted_exec`, the time is the
    call's alone (the input is copied before the clock starts, the not-None reduction is done after it stops)."""
    function, clock = _reference_function(task), _EffectiveClock()
    outputs, times = [], []
    for inp in inputs:
        inp = copy.deepcopy(inp)
        clock.restart()
        output = function(*inp)
        times.append(clock.elapsed())
        outputs.append(output is not None if task["output_not_none"] else output)
    clock.close()
    return outputs, times


class _PlainPickler(pickle.Pickler):
    """Pickles trees of exact builtin values only (str, int, float, bool, None, bytes, list, tuple, dict, set,
    frozenset), which the C pickler handles without calling `reducer_override`: anything else raises, so no code of
    a solution's own classes runs while its output is pickled."""

    def reducer_override(self, obj):
        raise pickle.PicklingError(f"not a plain value: {type(obj).__name__}")


def plain_pickle(value) -> bytes | None:
    """`value` pickled when it is a tree of exact builtin values, else None."""
    stream = io.BytesIO()
    try:
        _PlainPickler(stream, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    except Exception:  # not plain, or too deep
        return None
    return stream.getvalue()


def output_digest(value) -> str | None:
    """What identifies an expected output too large to ship: the sha256 of its plain pickle (None if not plain)."""
    blob = plain_pickle(value)
    return hashlib.sha256(blob).hexdigest() if blob is not None else None


class _Expectations:
    """The expected output of each input of a split: shipped (EvalPlus's cache, unpickled), or, for outputs too large
    to ship, the solution's own output unpickled from its plain pickle when that pickle has the expected digest (the
    very value unpickling the expected output gives), else the reference's output on an untouched copy of the input.
    `keep(index, inp)` is called before the solution sees the input, `expected(index, kept, out)` after."""

    def __init__(self, task: dict, split: dict) -> None:
        self._values = pickle.loads(split["expected"]) if split["expected"] is not None else None
        if self._values is None:
            self._call, self._digests = _reference(task), split.get("digests") or []

    def keep(self, index: int, inp):
        return None if self._values is not None else copy.deepcopy(inp)

    def expected(self, index: int, kept, out):
        if self._values is not None:
            return self._values[index]
        digest = self._digests[index] if index < len(self._digests) else None
        if digest is not None:
            blob = plain_pickle(out)
            if blob is not None and hashlib.sha256(blob).hexdigest() == digest:
                return pickle.loads(blob)
        return self._call(kept)


def _test_solution(task: dict, split: dict, expectations: _Expectations) -> dict:
    """The body of a child process: run the solution on one split. Mirrors `evalplus.eval.unsafe_execute`."""
    deadline = _Deadline()
    comparison = Comparison(task["dataset"], task["entry_point"], task["atol"])
    passed = 0
    try:
        namespace: dict = {}
        with _swallow_io():
            exec(task["code"], namespace)
            function = namespace[task["entry_point"]]
        for index, (inp, seconds) in enumerate(zip(split["inputs"], split["limits"], strict=True)):
            kept = expectations.keep(index, inp)
            try:
                with deadline.limit_to(seconds), _swallow_io():
                    out = function(*inp)
                ok = comparison.matches(inp, out, expectations.expected(index, kept, out))
            except BaseException:
                ok = False
            if not ok:
                return {"status": FAIL, "passed": passed}
            passed += 1
    except BaseException:
        return {"status": FAIL, "passed": passed}
    return {"status": PASS, "passed": passed}


def _child(task: dict, split: dict, expectations: _Expectations, write_fd: int) -> None:
    """Never returns. The verdict goes to the parent through `write_fd` as one JSON line."""
    write, dumps, leave = os.write, json.dumps, os._exit
    try:
        os.setpgid(0, 0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        budget = math.ceil(split["budget"]) + 1
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_CPU, (budget, budget + 1))
        os.chdir(tempfile.mkdtemp())
        _guard(task["memory_bytes"])
        verdict = _test_solution(task, split, expectations)
        write(write_fd, (dumps(verdict) + "\n").encode())
    finally:
        leave(0)


def _wait_for_verdict(pid: int, read_fd: int, budget: float, backstop: float) -> dict:
    """Read the child's verdict line; past `budget` effective seconds (or `backstop` wall seconds) it is a timeout,
    as a process EvalPlus has to kill is one."""
    clock, started, data = _EffectiveClock(pid), time.monotonic(), b""
    try:
        while b"\n" not in data:
            spent, waited = clock.elapsed(), time.monotonic() - started
            if spent >= budget or waited >= backstop:
                return {"status": TIMEOUT, "passed": 0}
            ready, _, _ = select.select([read_fd], [], [], min(0.25, budget - spent, backstop - waited))
            if ready:
                chunk = os.read(read_fd, 1 << 16)
                if not chunk:  # the child died without a verdict (os._exit, a crash, a CPU-time kill)
                    return {"status": TIMEOUT, "passed": 0}
                data += chunk
    finally:
        clock.close()
    return json.loads(data.split(b"\n", 1)[0])


def _run_split(task: dict, split: dict) -> dict:
    expectations = _Expectations(task, split)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(task, split, expectations, write_fd)
    os.close(write_fd)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)
    try:
        return _wait_for_verdict(pid, read_fd, split["budget"], split["budget"] * task["backstop_factor"] + 5)
    finally:
        os.close(read_fd)
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def run_oracle(task: dict) -> dict:
    answer = {}
    for split in task["splits"]:
        with _swallow_io():
            outputs, times = reference_outputs(task, split["inputs"])
        try:
            blob = pickle.dumps(outputs, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # an output pickle cannot carry: recompute it in every check job instead
            blob = None
        keep = blob is not None and len(blob) <= task["max_expected_bytes"]
        answer[split["name"]] = {
            "times": times,
            "expected": base64.b64encode(blob).decode() if keep else None,
            "digests": None if keep else [output_digest(output) for output in outputs],
        }
    return answer


def run_check(task: dict) -> dict:
    return {split["name"]: _run_split(task, split) for split in task["splits"]}


def main() -> None:
    with open("task.pkl", "rb") as file:
        task = pickle.load(file)
    os.unlink("task.pkl")  # a solution must not find the expected outputs beside it
    answer = run_oracle(task) if task["mode"] == "oracle" else run_check(task)
    nonce = sys.stdin.read().strip()
    sys.stdout.write(f"{MARKER}{nonce} {json.dumps(answer)}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
