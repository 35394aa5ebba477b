"""Unit tests whose expected values come from running the seed: the questioner only writes calls.

A small model rarely writes a correct assertion, but it can write a script that calls a function. The sandbox runs
that script against the seed (the reference implementation, as EvalPlus takes expected outputs from a ground-truth
solution) and records every call as `assert f(args) == result`; the tests are then rerun against the seed alone and
kept only if they pass (a seed that depends on time or randomness records values it does not reproduce).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from cursorcore.processing.sandbox import Job, Limits, Result

RECORDER = Path(__file__).with_name("call_recorder.py")
_FENCE_BODY = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:\n```|\Z)", re.DOTALL)


def signature(seed: str, name: str) -> str:
    """`name(parameters)` of the seed's function (or of its class's constructor, without `self`)."""
    for node in ast.parse(seed).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return f"{name}({ast.unparse(node.args)})"
        if isinstance(node, ast.ClassDef) and node.name == name:
            init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
            if init is None:
                return f"{name}()"
            arguments = ast.unparse(init.args).split(", ", 1)
            return f"{name}({arguments[1] if len(arguments) > 1 else ''})"
    raise ValueError(f"the seed defines no function or class {name!r}")


def usage_script(text: str) -> str:
    """The code of a questioner's answer: its python fences (the last one may be cut off), else the whole text."""
    blocks = _FENCE_BODY.findall(text)
    return "\n".join(blocks) if blocks else text


def recording_job(seed: str, usage: str, name: str, limits: Limits) -> Job:
    files = {"recorder.py": RECORDER.read_text(encoding="utf-8"), "seed.py": seed, "usage.py": usage}
    return Job(files=files, command=["python", "recorder.py", "seed.py", "usage.py", name], limits=limits)


def recorded_tests(result: Result, name: str, limit: int) -> list[str]:
    """The first `limit` distinct tests the recorder printed (a run that timed out still printed the earlier ones).
    The usage script shares the process and could write to stdout past the recorder: only lines of the recorder's
    shape, `assert name(literals) == literal` (or `is None`), are tests."""
    tests: list[str] = []
    for line in result.stdout.splitlines():
        try:
            test = json.loads(line)["test"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(test, str) and test not in tests and expected_value(test, name) is not None:
            tests.append(test)
    return tests[:limit]


def expected_value(test: str, name: str) -> str | None:
    """The literal a recorded test expects `name(...)` to return, or None when `test` is not such a test."""
    try:
        (check,) = ast.parse(test).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    compare = check.test if isinstance(check, ast.Assert) else None
    if not isinstance(compare, ast.Compare) or [type(op) for op in compare.ops] not in ([ast.Eq], [ast.Is]):
        return None
    call, (expected,) = compare.left, compare.comparators
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == name):
        return None
    try:
        for node in (*call.args, *(keyword.value for keyword in call.keywords), expected):
            ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return None
    if any(keyword.arg is None for keyword in call.keywords):  # **mapping
        return None
    return ast.unparse(expected)


def expected_values(tests: list[str], name: str) -> set[str]:
    """The distinct results the recorded tests expect. Tests that all expect one value (every call False, say)
    cannot tell the function from a constant: a wrong solution passes them."""
    return {value for test in tests if (value := expected_value(test, name)) is not None}


def reference_job(seed: str, tests: list[str], limits: Limits) -> Job:
    """The seed run with its recorded tests: they must pass before a programmer is held to them."""
    return Job.python(f"{seed}\n\n\n" + "\n".join(tests) + "\n", limits=limits)
