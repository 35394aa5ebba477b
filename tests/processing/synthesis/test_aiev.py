"""AIEV-Instruct without a model: the worked example really fails and is really fixed in the sandbox, execution
reports, the CursorCore rendering of dialogue turns, package installs from an offline wheelhouse, and how answers are
read when the questioner wrote the tests or the answer was cut at the token cap."""

import ast
from collections import Counter

import pytest

from cursorcore.processing.llm.client import Choice
from cursorcore.processing.sandbox import Status, get_sandbox
from cursorcore.processing.synthesis.aiev import (
    AIEVConfig,
    answer_text,
    assistant_turn,
    call_script_examples,
    execution_report,
    feedback_example,
    read_answer,
)
from cursorcore.processing.synthesis.seed_tests import usage_script
from cursorcore.processing.synthesis.soi_answers import AnswerError, parse_answer
from cursorcore.processing.synthesis.soi_common import (
    answer_job,
    chat_messages,
    is_install_failure,
    read_sections,
    render_macro,
    solution_sample,
)
from cursorcore.schema import Sample, Source
from tests.processing.sandbox.test_local import make_wheel

EXAMPLE = read_sections("aiev_example.jinja")[0]
WITH_PACKAGE = """It needs the probe package.

```sh
pip install cc_probe
```

```python
import cc_probe


def probe_value():
    return cc_probe.VALUE
```

Tests:
```python
assert probe_value() == 42
```"""


def test_the_worked_example_fails_as_shown_and_its_fix_passes(local_sandbox):
    config = AIEVConfig()
    buggy, fixed = parse_answer(EXAMPLE["answer"]), parse_answer(EXAMPLE["fix"])
    failed = local_sandbox.run(answer_job(buggy, config))
    assert failed.status is Status.FAILED
    assert failed.stderr.rstrip("\n") == EXAMPLE["stderr"]
    report = execution_report(failed, buggy, config.report_chars)
    assert report == feedback_example()[0]["report"]
    assert report.startswith("Result: failed (exit code 1)\nstderr:\n```text\nTraceback")
    assert local_sandbox.run(answer_job(fixed, config)).status is Status.PASSED


def test_reports_keep_the_head_of_stdout_and_the_tail_of_stderr(local_sandbox):
    answer = parse_answer(
        "```python\ndef shout():\n    print('x' * 5000)\n    raise ValueError('y' * 5000 + ' boom')\n```\n"
        "Tests:\n```python\nassert shout() is None\n```"
    )
    result = local_sandbox.run(answer_job(answer, AIEVConfig()))
    report = execution_report(result, answer, limit=100)
    assert report.startswith("Result: failed (exit code 1)\nstdout:\n```text\nxxx")
    assert "x" * 100 + "\n[...]\n```" in report and "x" * 101 not in report
    assert report.endswith("[...]\n" + ("y" * 5000 + " boom")[-100:] + "\n```")


def test_dialogue_turns_render_in_the_cursorcore_format_and_round_trip():
    first, fixed = parse_answer(EXAMPLE["answer"]), parse_answer(EXAMPLE["fix"])
    turn = assistant_turn("", first)
    assert turn["role"] == "assistant"
    assert turn["content"].startswith("<|next_start|>```python\ndef median(values):")
    assert "<|next_end|>\nSorting the values" in turn["content"]
    assert assistant_turn(first.code, fixed)["content"].startswith("<|next_start|>```python\n" + fixed.code)
    transcript = [
        {"role": "current", "content": "```python\n\n```"},
        {"role": "user", "content": EXAMPLE["problem"]},
        turn,
        {"role": "execution", "content": feedback_example()[0]["report"]},
        {"role": "user", "content": EXAMPLE["explanation"]},
        assistant_turn(first.code, fixed),
        {"role": "execution", "content": "Result: passed"},
    ]
    sample = solution_sample(Source.AIEV, EXAMPLE["problem"], fixed, transcript)
    assert Sample.from_row(sample.to_row()) == sample
    assert sample.next.code == fixed.code and sample.current.code == ""


def test_prompts_of_both_roles_render():
    programmer = chat_messages("aiev_programmer.jinja", [], {"problem": EXAMPLE["problem"]}, packages=True)
    assert "```sh block of `pip install NAME` lines" in programmer[0]["content"]
    assert (
        "pip install" not in chat_messages("aiev_programmer.jinja", [], {"problem": "p"}, packages=False)[0]["content"]
    )
    fix = render_macro("aiev_programmer.jinja", "fix_request", report="Result: failed", explanation="Use the mean.")
    assert fix.split("\n\n")[:3] == ["Your solution was run with its tests:", "Result: failed", "Use the mean."]
    assert fix.endswith('a line "Tests:" and a ```python block of assert statements that call the solution.')
    assert programmer[-1]["content"].startswith(EXAMPLE["problem"] + "\n\nAnswer with a short explanation")
    feedback = chat_messages(
        "aiev_feedback.jinja", [feedback_example()], {"problem": "p", "answer": "a", "report": "r"}
    )
    assert [m["role"] for m in feedback] == ["system", "user", "assistant", "user"]
    assert feedback[2]["content"] == EXAMPLE["explanation"]


def test_with_the_questioners_tests_the_programmer_is_asked_for_the_solution_only():
    task = render_macro("aiev_programmer.jinja", "task", problem="Add.", signature="add(a, b)", tests="assert 1")
    assert task == "Add.\n\nWrite `add(a, b)`. It must pass these tests:\n```python\nassert 1\n```"
    messages = chat_messages(
        "aiev_programmer.jinja", [], {"problem": task, "tests_given": True}, packages=False, tests_given=True
    )
    assert "Tests:" not in messages[0]["content"] and "unit tests run right after" in messages[0]["content"]
    assert messages[-1]["content"] == f"{task}\n\n" + render_macro("aiev_programmer.jinja", "solution_layout")
    fix = render_macro("aiev_programmer.jinja", "fix_request", report="r", explanation="e", tests_given=True)
    assert fix.endswith(
        "Send the corrected solution. Answer with a short explanation and the complete solution in "
        "one ```python block."
    )


QUESTIONER_TESTS = "assert add(1, 2) == 3"


@pytest.mark.parametrize(
    ("answer", "code", "tests"),
    [
        ("Sum.\n```python\ndef add(a, b):\n    return a + b\n```", "def add(a, b):\n    return a + b", ""),
        (  # the programmer's own tests run too, before the questioner's
            "```python\ndef add(a, b):\n    return a + b\n\nassert add(0, 0) == 0\n```",
            "def add(a, b):\n    return a + b",
            "assert add(0, 0) == 0",
        ),
    ],
)
def test_an_answer_runs_with_the_questioners_tests(answer, code, tests):
    read = read_answer(answer, QUESTIONER_TESTS, AIEVConfig(tests_by="questioner"))
    assert (read.code, read.tests) == (code, "\n\n".join(filter(None, [tests, QUESTIONER_TESTS])))


def test_a_draft_keeps_the_questioners_tests_and_answers_without_code_stay_faults():
    with pytest.raises(AnswerError) as broken:
        read_answer("```python\ndef add(a, b:\n```", QUESTIONER_TESTS, AIEVConfig(tests_by="questioner"))
    assert broken.value.reason == "syntax_error" and broken.value.draft.tests == QUESTIONER_TESTS
    with pytest.raises(AnswerError) as empty:
        read_answer("I would add them.", QUESTIONER_TESTS, AIEVConfig(tests_by="questioner"))
    assert empty.value.reason == "no_code"
    with pytest.raises(AnswerError) as untested:  # without the questioner's tests the programmer must write some
        read_answer("```python\ndef add(a, b):\n    return a + b\n```", "", AIEVConfig())
    assert untested.value.reason == "missing_tests"


def test_an_answer_cut_at_the_token_limit_keeps_its_complete_blocks():
    stats = Counter()
    text = "Sum.\n```python\ndef add(a, b):\n    return a + b\n```\nTests:\n```python\nassert add(1"
    assert answer_text(Choice(text, "length"), stats) == "Sum.\n```python\ndef add(a, b):\n    return a + b\n```"
    assert answer_text(Choice("Sum.\n```python\ndef add(", "length"), stats) is None
    assert answer_text(Choice(text, "stop"), stats) == text
    assert stats == {"answers_cut_to_last_block": 1}


def test_the_test_call_examples_are_scripts_that_call_their_function():
    examples = call_script_examples()
    assert len(examples) >= 2
    for query, answer in examples:
        name = query["signature"].split("(")[0]
        script = usage_script(render_macro("aiev_tests.jinja", "answer", **answer))
        calls = [node for node in ast.walk(ast.parse(script)) if isinstance(node, ast.Call)]
        assert any(isinstance(call.func, ast.Name) and call.func.id == name for call in calls)


def test_tests_by_names_a_role():
    with pytest.raises(ValueError, match="tests_by"):
        AIEVConfig(tests_by="oracle")


@pytest.fixture(scope="module")
def wheelhouse_sandbox(tmp_path_factory):
    """A sandbox whose offline wheelhouse holds one package, `cc_probe`."""
    wheels = tmp_path_factory.mktemp("wheels")
    make_wheel(wheels)
    wheels.chmod(0o755)  # the sandbox runs as another user
    with get_sandbox("local", workers=1, wheelhouse=wheels) as sandbox:
        yield sandbox


def test_packages_the_programmer_asks_for_are_installed_offline(wheelhouse_sandbox):
    answer = parse_answer(WITH_PACKAGE, packages=True)
    assert answer.packages == ("cc_probe",)
    assert "```sh\npip install cc_probe\n```" in answer.chat  # the install stays part of the answer
    assert wheelhouse_sandbox.run(answer_job(answer, AIEVConfig())).status is Status.PASSED
    missing = parse_answer(WITH_PACKAGE.replace("cc_probe\n```", "cc_absent\nmake all\n```"), packages=True)
    result = wheelhouse_sandbox.run(answer_job(missing, AIEVConfig()))
    assert is_install_failure(result)  # the answer's problem, fed back to the dialogue, not a sandbox failure
    report = execution_report(result, missing, 2000)
    assert report.startswith(
        "Result: package installation failed\nPackages requested: cc_absent\n"
        "Shell lines not run (only `pip install NAME` is supported): make all\n"
    )
    assert "cc_absent" in report.split("stderr:")[1]
