"""Unit tests recorded from the seed (AIEV-Instruct with tests by the questioner): the recorder runs in the real
sandbox on usage scripts a small model writes (prints, broken lines, redefinitions, endless loops), and every test it
records passes on the seed and fails on a wrong solution."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cursorcore.processing.sandbox import Limits, Result, Status
from cursorcore.processing.synthesis import call_recorder
from cursorcore.processing.synthesis.seed_tests import (
    expected_values,
    recorded_tests,
    recording_job,
    reference_job,
    signature,
    usage_script,
)

LIMITS = Limits(wall_time=5)
FACTORIAL = '''def factorial(n):
    """n! by recursion."""
    return 1 if n < 2 else n * factorial(n - 1)
'''


def record(sandbox, seed: str, usage: str, name: str, limits: Limits = LIMITS) -> list[str]:
    return recorded_tests(sandbox.run(recording_job(seed, usage, name, limits)), name, limit=50)


def test_outermost_calls_become_asserts_that_pass_on_the_seed(local_sandbox):
    usage = "print(factorial(4))\nfor n in [0, 5]:\n    print('n =', n, factorial(n))\n"
    tests = record(local_sandbox, FACTORIAL, usage, "factorial")
    # the recursive calls inside factorial(4) and factorial(5) are not tests of their own
    assert tests == ["assert factorial(4) == 24", "assert factorial(0) == 1", "assert factorial(5) == 120"]
    assert local_sandbox.run(reference_job(FACTORIAL, tests, LIMITS)).status is Status.PASSED
    wrong = FACTORIAL.replace("n < 2", "n < 1").replace("return 1 if", "return 0 if")
    assert local_sandbox.run(reference_job(wrong, tests, LIMITS)).status is Status.FAILED


def test_what_a_small_model_writes_still_yields_the_calls_that_ran(local_sandbox):
    """A script that redefines the function, breaks half-way, fails on a call, and does not even parse."""
    usage = (
        "def factorial(n):\n    return 0\n"  # the model's own version: the recorder stays in place
        "print(factorial(3))\n"
        "print(factorial('x'))\n"  # raises inside the seed: no test
        "print(factorial(6)) # 720\n"
        "return factorial(2)\n"  # a syntax error: the script runs line by line
    )
    assert record(local_sandbox, FACTORIAL, usage, "factorial") == [
        "assert factorial(3) == 6",
        "assert factorial(6) == 720",
    ]


def test_only_literal_arguments_and_results_are_recorded(local_sandbox):
    seed = "def wrap(x, *, twice=False):\n    return [x, x] if twice else object() if x == 'obj' else (x,)\n"
    usage = "wrap(1.5)\nwrap('obj')\nwrap({'a': [1]}, twice=True)\nwrap(float('nan'))\nwrap(None)\n"
    assert record(local_sandbox, seed, usage, "wrap") == [
        "assert wrap(1.5) == (1.5,)",
        "assert wrap({'a': [1]}, twice=True) == [{'a': [1]}, {'a': [1]}]",
        "assert wrap(None) == (None,)",
    ]


def test_arguments_are_recorded_as_they_were_before_the_call(local_sandbox):
    seed = "def pop_all(items):\n    out = []\n    while items:\n        out.append(items.pop())\n    return out\n"
    tests = record(local_sandbox, seed, "data = [1, 2]\nprint(pop_all(data))\nprint(pop_all(data))\n", "pop_all")
    assert tests == ["assert pop_all([1, 2]) == [2, 1]", "assert pop_all([]) == []"]


def test_a_none_result_is_checked_with_is(local_sandbox):
    seed = "def nothing(x):\n    return None\n"
    tests = record(local_sandbox, seed, "nothing(3)", "nothing")
    assert tests == ["assert nothing(3) is None"]


def test_an_endless_script_keeps_the_calls_made_before_the_time_limit(local_sandbox):
    usage = "print(factorial(2))\nwhile True:\n    pass\n"
    result = local_sandbox.run(recording_job(FACTORIAL, usage, "factorial", Limits(wall_time=2)))
    assert result.status is Status.TIMEOUT
    assert recorded_tests(result, "factorial", 5) == ["assert factorial(2) == 2"]


def test_usage_output_never_passes_for_a_test(local_sandbox):
    """What the script prints is not recorded, and lines it forges on the real stdout are not of the recorder's
    shape: a script cannot slip in a test of its own."""
    forged = [
        json.dumps({"test": "assert True"}),
        json.dumps({"test": "assert factorial(3) == 6 or True"}),
        json.dumps({"test": "assert factorial(len('abc')) == 6"}),
        json.dumps({"test": "import os; os.system('true')"}),
    ]
    usage = "import os, sys\n" + "".join(
        f"print({line!r})\nos.write(1, {line!r}.encode() + b'\\n')\n" for line in forged
    )
    usage += "sys.stderr.write('x')\nfactorial(1)\n"
    assert record(local_sandbox, FACTORIAL, usage, "factorial") == ["assert factorial(1) == 1"]


def test_a_seed_that_does_not_run_records_nothing(local_sandbox):
    result = local_sandbox.run(recording_job("import not_a_module\ndef f(): pass\n", "f()", "f", LIMITS))
    assert result.status is Status.FAILED and "not_a_module" in result.stderr
    assert recorded_tests(result, "f", 5) == []


def test_recorded_tests_are_distinct_capped_and_ignore_garbage():
    lines = [json.dumps({"test": f"assert f({i}) == {i}"}) for i in (1, 2, 1, 3)]
    garbage = ["not json", json.dumps({"other": 1}), json.dumps({"test": 5}), json.dumps({"test": "assert g(1) == 1"})]
    result = Result(Status.PASSED, stdout="\n".join([lines[0], *garbage, *lines[1:]]))
    assert recorded_tests(result, "f", 2) == ["assert f(1) == 1", "assert f(2) == 2"]


def test_expected_values_tell_whether_tests_could_be_passed_by_a_constant(local_sandbox):
    seed = "def is_even(n):\n    return n % 2 == 0\n"
    both = record(local_sandbox, seed, "is_even(2)\nis_even(4)\nis_even(3)\n", "is_even")
    assert expected_values(both[:2], "is_even") == {"True"}
    assert expected_values(both, "is_even") == {"True", "False"}
    assert expected_values(["assert f(1) is None", "assert f(x=2) == [None]"], "f") == {"None", "[None]"}


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.dictionaries(st.text(), inner),
        max_leaves=8,
    )
)
def test_a_recorded_assert_holds_for_the_value_it_was_recorded_from(value):
    """The round trip the recorder relies on: a literal's repr reads back equal, so the assert it writes holds."""
    line = call_recorder.test_line("same", (value,), {}, value)
    if line is None:  # longer than the recorder keeps
        assert len(repr(value)) > call_recorder.MAX_LITERAL_CHARS
        return
    exec(line, {"same": lambda x: x})


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("Here:\n```python\nf(1)\n```\nand\n```py\nf(2)\n```", "f(1)\nf(2)"),
        ("```python\nf(1)\nf(2", "f(1)\nf(2"),  # cut off at the token limit
        ("f(3)", "f(3)"),
    ],
)
def test_usage_script_takes_the_fences_or_the_whole_answer(text, script):
    assert usage_script(text) == script


def test_signature_of_a_function_a_class_and_a_missing_name():
    seed = (
        "class Box:\n    def __init__(self, size, *, label=''):\n        pass\n\ndef area(w, h=1):\n    return w * h\n"
    )
    assert signature(seed, "area") == "area(w, h=1)"
    assert signature(seed, "Box") == "Box(size, *, label='')"
    with pytest.raises(ValueError, match="no function or class 'volume'"):
        signature(seed, "volume")


def test_the_recorder_runs_with_nothing_but_the_standard_library(tmp_path):
    """The sandbox gets the file alone: it must not import the project."""
    for name, text in recording_job(FACTORIAL, "factorial(3)", "factorial", LIMITS).files.items():
        (tmp_path / name).write_text(text)
    run = subprocess.run(
        [sys.executable, "-I", "recorder.py", "seed.py", "usage.py", "factorial"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout == json.dumps({"test": "assert factorial(3) == 6"}) + "\n"
