"""Self-OSS-Instruct without a model: the few-shot examples, the answer and concept parsers on real model outputs
(answers SmolLM2-135M gave to these prompts), and self-validation choosing one passing response among k that run in
the real sandbox."""

import asyncio
import copy
import random
from collections import Counter

import pytest

from cursorcore.processing.llm import Rejected
from cursorcore.processing.llm.client import Choice, Generation
from cursorcore.processing.sandbox import Job, Status
from cursorcore.processing.synthesis.documents import row_document
from cursorcore.processing.synthesis.plumbing import SynthesisContext
from cursorcore.processing.synthesis.self_oss_instruct import (
    CATEGORIES,
    SelfOSSInstruct,
    SelfOSSInstructConfig,
    draw_category,
    parse_concepts,
)
from cursorcore.processing.synthesis.soi_answers import AnswerError, parse_answer, pip_requirements
from cursorcore.processing.synthesis.soi_common import (
    answer_job,
    chat_messages,
    examples,
    generated_text,
)
from cursorcore.schema import Sample, Source

# What SmolLM2-135M-Instruct answered to "Write a Python function `add(a, b)` that returns the sum of a and b."
SMOLLM_PASSING = """Here's a concise and efficient way to do this:

```python
def add(a, b):
    return a + b
```

[Tests]
```python
assert add(3, 4) == 7
assert add(0, 4) == 4
```"""
SMOLLM_WRONG_TESTS = """The sum of two numbers is the product of their multiplicities.

```python
def add(a, b):
    return a + b
```

[Tests]
```python
assert add(3, 4) == 7
assert add(-2, -5) == 8
```"""
SMOLLM_NO_TESTS = """The sum of two numbers is the product of their multiplicities.

```python
def add(a, b):
    return a + b * (b - a) // 2
```"""
SMOLLM_BROKEN_TESTS = """The sum of the two arguments is defined to be 1.

```python
def add(a, b):
    return a + b
```

[Tests]
```python
assert add(-2) == -4
assert add((5,) == 15   # This is an error in the `add` function.
```"""
SMOLLM_BROKEN_CODE = """This implementation is a bit concise and efficient:

```python
def remove_nonzero(a, b):
    return "".join([str((num % 2 == 0) * (x - 1)) for x in (int(num)**3 + int(None))) if isinstance(None, None)])
```"""


def test_every_few_shot_response_parses_and_passes_its_own_tests(local_sandbox):
    """The examples teach the response layout; each must be what self-validation keeps."""
    assert len(examples()) >= 8
    for example in examples():
        assert example.category in CATEGORIES
        assert example.difficulty in ("easy", "medium", "hard")
        assert example.concepts and all(example.concepts)
        answer = parse_answer(example.response)
        assert answer.code and answer.tests and "```python" not in answer.code
        assert answer.code not in answer.chat and answer.tests in answer.chat
        result = local_sandbox.run(answer_job(answer, SelfOSSInstructConfig()))
        assert result.status is Status.PASSED, (example.name, result)


def test_categories_follow_selfcodealigns_weights():
    rng = random.Random(0)
    drawn = Counter(draw_category(rng, CATEGORIES) for _ in range(4000))
    assert set(drawn) == set(CATEGORIES)
    assert abs(drawn["function implementation"] / 4000 - 0.5) < 0.03
    assert abs(drawn["class implementation"] / 4000 - 0.25) < 0.03
    assert draw_category(rng, ["class implementation"]) == "class implementation"  # a list: equal weights


class PromptRecorder:
    """A `generate` that records each request and answers the concepts step with concepts and every other step with
    a word, so that the rollout stops (instruction_too_short) right after the C->I request."""

    def __init__(self):
        self.requests = []

    async def __call__(self, payload):
        self.requests.append(payload)
        text = "recursion, list slicing" if len(self.requests) == 1 else "Sure."
        return Generation.from_choices([Choice(text, "stop")], {})


def prompts_for(document_id: str, config: SelfOSSInstructConfig | None = None) -> tuple[list, list]:
    """(S->C messages, C->I messages) that the rollout sends for a seed."""
    recorder = PromptRecorder()
    document = row_document({"id": document_id, "content": "def f(x):\n    return x[::-1]"}, Source.SELF_OSS_INSTRUCT)
    result = asyncio.run(SelfOSSInstruct(config)(document, recorder, sandbox=None))
    assert result["rejected"] == "instruction_too_short"
    return recorder.requests[0]["messages"], recorder.requests[1]["messages"]


def test_by_default_every_difficulty_and_category_is_asked_for_with_eight_examples_drawn_per_prompt():
    properties, drawn = Counter(), set()
    for n in range(30):
        concepts, instruction = prompts_for(f"seed-{n}")
        assert len(concepts) == len(instruction) == 1 + 2 * 8 + 1  # system, 8 examples, the query
        query = dict(line.split(": ", 1) for line in instruction[-1]["content"].splitlines())
        properties.update([query["difficulty"], query["category"]])
        drawn.add(tuple(m["content"] for m in concepts[1:-1:2]))
    assert {"easy", "medium", "hard", *CATEGORIES} <= set(properties)
    assert len(drawn) == 30  # a fresh draw for every seed
    assert len({snippet for shots in drawn for snippet in shots}) == len(examples()) == 21
    assert prompts_for("seed-0") == prompts_for("seed-0")  # and the same draw when it runs again


def test_prompts_are_k_shot_chats_in_the_order_drawn():
    shots = [({"snippet": ex.snippet}, {"concepts": ex.concepts}) for ex in examples()[:3]]
    messages = chat_messages("soi_concepts.jinja", shots, {"snippet": "def f(x):\n    return x"})
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert messages[2]["content"] == ", ".join(examples()[0].concepts)
    assert "```python\ndef f(x):\n    return x\n```" in messages[-1]["content"]


def test_an_answer_splits_into_solution_tests_and_chat():
    answer = parse_answer(SMOLLM_PASSING)
    assert answer.code == "def add(a, b):\n    return a + b"
    assert answer.tests == "assert add(3, 4) == 7\nassert add(0, 4) == 4"
    assert answer.chat.startswith("Here's a concise") and "[Tests]\n```python\nassert add(3, 4)" in answer.chat
    assert "def add" not in answer.chat
    assert answer.program.startswith(answer.code) and answer.program.rstrip().endswith(answer.tests)


def test_tests_inside_the_solution_fence_are_split_off_with_their_setup():
    text = """Use a counter.

```python
import collections

LIMIT = 3


@collections.abc.Callable.register
class Tally:
    def __init__(self):
        self.seen = collections.Counter()


# check it
tally = Tally()
assert tally.seen == {}
for value in range(LIMIT):
    assert value < LIMIT
```"""
    answer = parse_answer(text)
    assert answer.code.startswith("import collections") and answer.code.endswith("collections.Counter()")
    assert "@collections.abc.Callable.register" in answer.code  # a decorator stays with its class
    assert answer.tests.startswith("# check it\ntally = Tally()")  # setup that uses the solution goes with the tests
    assert answer.chat == "Use a counter.\n\n```python\n" + answer.tests + "\n```"


def test_unittest_and_called_test_functions_count_as_tests_but_uncalled_ones_do_not():
    unittest_style = """```python
def double(x):
    return 2 * x
```

```python
import unittest


class TestDouble(unittest.TestCase):
    def test_double(self):
        self.assertEqual(double(2), 4)


if __name__ == "__main__":
    unittest.main()
```"""
    assert "unittest.main()" in parse_answer(unittest_style).tests
    called = (
        "```python\ndef double(x):\n    return 2 * x\n\n\n"
        "def test_double():\n    assert double(2) == 4\n\n\ntest_double()\n```"
    )
    assert parse_answer(called).tests.startswith("def test_double")
    with pytest.raises(AnswerError, match="missing_tests"):
        parse_answer(called.replace("\n\n\ntest_double()", ""))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (SMOLLM_NO_TESTS, "missing_tests"),
        (SMOLLM_BROKEN_TESTS, "syntax_error"),
        (SMOLLM_BROKEN_CODE, "syntax_error"),
        ("I'm sorry, but I can't help with that.", "refusal"),
        ("Just call `sum`.", "no_code"),
        ("```python\nassert 1 + 1 == 2\n```", "missing_solution"),
        ("```python\nprint('hello')\n```\nTests:\n```python\nassert True\n```", "missing_solution"),
        ("```python\ndef f():\n    return 1\n```\nTests:\n```python\nprint(f())\n```", "missing_tests"),
        ("```python\ndef f():\n    return 1\n```\nTests:\n```python\nassert True\n```", "tests_ignore_solution"),
        ("```python\ndef f():\n    return '<|im_end|>'\n```", "special_token"),
    ],
)
def test_unusable_answers_are_rejected_with_a_reason(text, reason):
    with pytest.raises(AnswerError) as raised:
        parse_answer(text)
    assert raised.value.reason == reason


def test_only_plain_pip_installs_are_collected():
    script = """# dependencies
pip install numpy==1.26.4 'requests[socks]>=2,<3'
!pip install -q tabulate
python -m pip install --index-url http://mirror.invalid six
apt-get install -y libfoo
pip install git+https://example.invalid/repo.git
"""
    requirements, ignored = pip_requirements(script)
    assert requirements == ["numpy==1.26.4", "requests[socks]>=2,<3", "tabulate", "six"]
    assert ignored == [
        "--index-url",
        "http://mirror.invalid",
        "apt-get install -y libfoo",
        "git+https://example.invalid/repo.git",
    ]
    answer = parse_answer(f"```sh\n{script}```\n\n{SMOLLM_PASSING}", packages=True)
    assert answer.packages == tuple(requirements)
    assert parse_answer(f"```sh\n{script}```\n\n{SMOLLM_PASSING}").packages == ()  # Self-OSS-Instruct installs nothing


@pytest.mark.parametrize(
    ("text", "concepts"),
    [
        (
            "string formatting, regular expressions, list comprehension",
            ("string formatting", "regular expressions", "list comprehension"),
        ),
        ("Concepts: recursion, memoization.", ("recursion", "memoization")),
        ("- binary search\n- sorting\n- `bisect` module", ("binary search", "sorting", "bisect` module")),
    ],
)
def test_concepts_come_as_a_line_or_a_list(text, concepts):
    assert parse_concepts(text, limit=12) == concepts


def test_concepts_that_are_code_or_prose_are_unparseable_and_long_lists_are_cut():
    with pytest.raises(Rejected, match="concepts_unparseable"):
        parse_concepts("binary search, sorting\n```python\ndef ishex(c):\n    return c\n```", limit=12)
    with pytest.raises(Rejected, match="concepts_unparseable"):
        parse_concepts("This snippet " + "shows a function that does many things " * 4, limit=12)
    assert parse_concepts(", ".join(f"concept {i}" for i in range(20)), limit=5) == tuple(
        f"concept {i}" for i in range(5)
    )


@pytest.mark.parametrize(
    ("choice", "reason"),
    [
        (Choice("Write a function that", "length"), "instruction_truncated"),
        (Choice("I'm sorry, I cannot do that.", "stop"), "instruction_refusal"),
        (Choice("Write it.", "stop"), "instruction_too_short"),
        (
            Choice("Rewrite the code snippet above so that it sorts a list of numbers in place.", "stop"),
            "instruction_mentions_snippet",
        ),
        (Choice("   ", "stop"), "instruction_empty"),
    ],
)
def test_generated_text_names_what_is_wrong_with_it(choice, reason):
    with pytest.raises(Rejected) as raised:
        generated_text(Generation.from_choices([choice], {}), "instruction", min_chars=20, standalone=True)
    assert raised.value.reason == reason


INSTRUCTION = "Write a Python function `add(a, b)` that returns the sum of a and b."
CORRECT_OTHER = """Adding is built in.

```python
def add(a, b):
    return sum((a, b))
```

Tests:
```python
assert add(1, 2) == 3
```"""


def select(choices: list[Choice], rng_seed: int, sandbox, **config) -> tuple:
    stats: Counter = Counter()
    soi = SelfOSSInstruct(SelfOSSInstructConfig(**config))
    result = asyncio.run(soi.select(INSTRUCTION, choices, sandbox, random.Random(rng_seed), stats))
    return result, stats


def test_self_validation_keeps_one_passing_response_among_k(local_sandbox):
    choices = [
        Choice(SMOLLM_WRONG_TESTS, "stop"),
        Choice(SMOLLM_PASSING, "stop"),
        Choice(SMOLLM_NO_TESTS, "stop"),
        Choice(CORRECT_OTHER, "stop"),
        Choice(SMOLLM_PASSING, "length"),  # cut off: never run, like SelfCodeAlign's non-"stop" choices
        Choice(
            "```python\ndef add(a, b):\n    while True:\n        pass\n```\n"
            "Tests:\n```python\nassert add(1, 2) == 3\n```",
            "stop",
        ),
    ]
    result, stats = select(choices, 0, local_sandbox, test_timeout=2.0)
    assert not result.rejections
    (sample,) = result.samples
    assert sample.next.code in ("def add(a, b):\n    return a + b", "def add(a, b):\n    return sum((a, b))")
    assert (sample.source, sample.user, sample.current.code) == (Source.SELF_OSS_INSTRUCT, INSTRUCTION, "")
    checks = {check.name: check for check in sample.verification.checks}
    assert sample.verification.status == "passed"
    assert {"roundtrip:wf", "roundtrip:lc", "roundtrip:sr", "syntax", "tests"} <= set(checks)
    assert checks["self-validation"].detail.startswith("2/6 responses passed their tests")
    assert dict(stats) == {
        "responses": 6,
        "responses_executed": 4,
        "responses_passed": 2,
        "responses_failed": 1,
        "responses_timeout": 1,
        "responses_truncated": 1,
        "responses_missing_tests": 1,
    }
    assert Sample.from_row(sample.to_row()) == sample
    assert [m["role"] for m in sample.messages] == ["current", "user", "assistant"]
    # the choice among passing responses is seeded: the same seed keeps the same one, and both can be drawn
    kept = {select(choices[:4], seed, local_sandbox)[0].samples[0].next.code for seed in range(8)}
    assert len(kept) == 2
    assert select(choices[:4], 3, local_sandbox)[0].samples == select(choices[:4], 3, local_sandbox)[0].samples


def test_without_a_passing_response_the_instruction_is_rejected_with_the_reason(local_sandbox):
    result, _ = select([Choice(SMOLLM_WRONG_TESTS, "stop"), Choice(SMOLLM_NO_TESTS, "stop")], 0, local_sandbox)
    assert not result.samples
    (rejection,) = result.rejections
    assert rejection.reason == "no_passing_response"
    assert rejection.detail == "0/2 responses passed their tests (1 failed, 1 missing_tests)"
    assert rejection.sample.verification.status == "failed"
    failed = {check.name: check for check in rejection.sample.verification.checks}
    assert failed["tests"].status == "failed" and "AssertionError" in failed["tests"].detail
    # nothing could run: the reason says how far the best response got
    result, _ = select([Choice(SMOLLM_NO_TESTS, "stop"), Choice(SMOLLM_BROKEN_TESTS, "stop")], 0, local_sandbox)
    assert [(r.reason, r.sample) for r in result.rejections] == [("missing_tests", None)]


def test_the_step_context_opens_a_sandbox_by_name_and_shares_one_it_is_given(local_sandbox):
    with SynthesisContext("local", {"workers": 1})() as context:
        assert context["sandbox"] is not local_sandbox and "questioner" not in context
        assert context["sandbox"].run(Job.python("print(6 * 7)")).stdout == "42\n"
    given = SynthesisContext(local_sandbox)
    with copy.deepcopy(given)() as context:  # datatrove copies the pipeline before running a task
        assert context["sandbox"] is local_sandbox


def test_feedback_cut_off_at_the_token_limit_keeps_its_complete_sentences():
    cut = Choice("The second test fails. Average the two middle values! Then\n```python\ndef median(v", "length")
    generation = Generation.from_choices([cut], {})
    assert (
        generated_text(generation, "explanation", cut_off_ok=True)
        == "The second test fails. Average the two middle values!"
    )
    with pytest.raises(Rejected, match="explanation_truncated"):
        generated_text(generation, "explanation")
    with pytest.raises(Rejected, match="explanation_empty"):
        generated_text(Generation.from_choices([Choice("Look at the", "length")], {}), "explanation", cut_off_ok=True)
