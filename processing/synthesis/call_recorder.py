"""Run inside a sandbox: record what a seed function returns when a usage script calls it, as assert statements.

`python call_recorder.py SEED USAGE NAME` executes the seed file, replaces its function `NAME` by a recorder, then
runs the usage script statement by statement (a statement that fails is skipped, a script that does not parse runs
line by line, and redefining `NAME` does not remove the recorder). Every outermost call whose arguments and result
read back from their `repr` as equal literals is printed as one JSON line `{"test": "assert NAME(...) == ..."}`.
The seed is the reference, so the tests hold for it by construction; the usage script only has to call it.

This file has no imports from the project: the sandbox runs it on its own.
"""

import ast
import contextlib
import copy
import io
import json
import sys

MAX_LITERAL_CHARS = 300
MAX_RECORDS = 50


def literal(value):
    """`repr(value)` when it reads back (as a Python literal) to an equal value of the same type, else None."""
    try:
        text = repr(value)
        if len(text) > MAX_LITERAL_CHARS:
            return None
        back = ast.literal_eval(text)
        return text if type(back) is type(value) and back == value else None
    except Exception:  # a repr that is no literal, or a value that cannot be compared
        return None


def test_line(name, args, kwargs, result):
    """The assert statement of one call, or None when some part of it is not a literal."""
    parts = [literal(arg) for arg in args] + [literal(value) for value in kwargs.values()]
    expected = literal(result)
    if expected is None or None in parts:
        return None
    arguments = parts[: len(args)] + [f"{key}={text}" for key, text in zip(kwargs, parts[len(args) :], strict=True)]
    call = f"{name}({', '.join(arguments)})"
    return f"assert {call} is None" if result is None else f"assert {call} == {expected}"


def recorder(name, function, out):
    """`function` wrapped: outermost calls are written to `out` (recursive calls inside it are not)."""
    depth = 0
    seen = set()

    def record(*args, **kwargs):
        nonlocal depth
        try:
            before = copy.deepcopy((args, kwargs))  # the function may change its arguments
        except Exception:
            before = None
        depth += 1
        try:
            result = function(*args, **kwargs)
        finally:
            depth -= 1
        if depth == 0 and before is not None and len(seen) < MAX_RECORDS:
            line = test_line(name, *before, result)
            if line is not None and line not in seen:
                seen.add(line)
                out.write(json.dumps({"test": line}) + "\n")
                out.flush()
        return result

    return record


def statements(script):
    """The script's top-level statements as source, or its lines that parse on their own when it does not parse."""
    try:
        return [ast.get_source_segment(script, node) for node in ast.parse(script).body]
    except SyntaxError:
        lines = []
        for line in script.splitlines():
            try:
                ast.parse(line.strip())
            except SyntaxError:
                continue
            lines.append(line.strip())
        return lines


def main(seed_path, usage_path, name):
    out = sys.stdout
    namespace = {"__name__": "__main__"}
    with open(seed_path, encoding="utf-8") as seed:
        exec(compile(seed.read(), "seed.py", "exec"), namespace)
    wrapped = recorder(name, namespace[name], out)
    with open(usage_path, encoding="utf-8") as usage:
        script = usage.read()
    for statement in statements(script):
        namespace[name] = wrapped
        # what the usage script prints is not a test: only the recorder writes to the real stdout
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception, SystemExit):
            exec(compile(statement, "usage.py", "exec"), namespace)


if __name__ == "__main__":
    main(*sys.argv[1:4])
