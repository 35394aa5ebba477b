"""Mutation adequacy: mutants change only the solution's code, run in one sandbox job against the sample's tests,
and decide whether a test-verified sample is kept (Self-OSS-Instruct and AIEV-Instruct, real bubblewrap sandbox)."""

import asyncio
import io
import json
import random
import subprocess
import sys
import tokenize
from collections import Counter

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cursorcore.processing.llm.client import Choice
from cursorcore.processing.sandbox import Limits, Result, Status
from cursorcore.processing.synthesis.aiev import AIEVConfig, AIEVInstruct
from cursorcore.processing.synthesis.mutants import mutants
from cursorcore.processing.synthesis.mutation import (
    MutationConfig,
    driver_outcomes,
    mutation_check,
    mutation_plan,
    mutation_summary,
)
from cursorcore.processing.synthesis.results import Rejection
from cursorcore.processing.synthesis.self_oss_instruct import SelfOSSInstruct, SelfOSSInstructConfig
from cursorcore.processing.synthesis.soi_answers import Answer, parse_answer
from cursorcore.schema import CheckStatus

INSTRUCTION = "Write a Python function `sign(x)` that returns -1, 0 or 1 for a negative, zero or positive x."


def response(explanation: str, solution: str, tests: str) -> str:
    return f"{explanation}\n\n```python\n{solution}\n```\n\nTests:\n```python\n{tests}\n```"


SIGN = "def sign(x):\n    if x > 0:\n        return {positive}\n    if x < 0:\n        return -1\n    return 0"
# the case: a wrong sign() whose only test cannot tell right from wrong
SIGN_WEAK = response(
    "Positive numbers get a small negative weight.",
    SIGN.format(positive="-1.125"),
    "assert not isinstance(sign(4), bool)",
)
SIGN_GOOD = response(
    "Compare with zero.",
    SIGN.format(positive="1"),
    "assert sign(4) == 1\nassert sign(-2.5) == -1\nassert sign(0) == 0",
)


def program_of(tests: str):
    return lambda code: Answer(code, tests, "").program


def run_plan(sandbox, code: str, tests: str, config: MutationConfig | None = None, wall_time: float = 5.0):
    config = config or MutationConfig()
    plan = mutation_plan(code, program_of(tests), config, Limits(wall_time=wall_time), seed=0)
    result = sandbox.run(plan.job)
    return plan, result, mutation_check(plan, result, config)


def select(sandbox, *texts: str, rng_seed: int = 0, **config):
    stats: Counter = Counter()
    soi = SelfOSSInstruct(SelfOSSInstructConfig(**config))
    choices = [Choice(text, "stop") for text in texts]
    return asyncio.run(soi.select(INSTRUCTION, choices, sandbox, random.Random(rng_seed), stats)), stats


# ---------------------------------------------------------------- kept and rejected samples


def test_a_wrong_solution_with_a_weak_test_is_rejected_as_tests_too_weak(local_sandbox):
    result, stats = select(local_sandbox, SIGN_WEAK)
    assert not result.samples
    (rejection,) = result.rejections
    assert rejection.reason == "tests_too_weak"
    assert stats["responses_passed"] == 1 and stats["responses_tests_too_weak"] == 1
    checks = {check.name: check for check in rejection.sample.verification.checks}
    assert checks["tests"].status == "passed" and checks["mutation"].status == "failed"
    summary = mutation_summary(rejection.sample.verification)
    assert summary["score"] == 0.0 and summary["killed"] == summary["timed_out"] == 0
    assert summary["survived"] == summary["tried"] > 0
    # every mutant's outcome stays with the rejected row, which goes through JSON like every synthesis result
    back = Rejection.from_json(json.loads(json.dumps(rejection.to_json())))
    outcomes = mutation_summary(back.sample.to_row()["verification"])["mutants"]
    assert len(outcomes) == summary["tried"] and {o["outcome"] for o in outcomes} == {"survived"}
    assert "line 3: return `-1.125` -> `None`" in {o["mutant"] for o in outcomes}


def test_a_sample_with_good_tests_is_kept_with_its_score(local_sandbox):
    result, _ = select(local_sandbox, SIGN_GOOD)
    (sample,) = result.samples
    assert sample.verification.status == "passed"
    summary = mutation_summary(sample.verification)
    assert summary["tried"] == summary["killed"] + summary["timed_out"] + summary["survived"] > 0
    assert 0.5 < summary["score"] <= 1.0 and summary["score"] == round(summary["killed"] / summary["tried"], 4)
    assert "mutants" not in summary  # kept samples carry the score and counts only
    assert [check.name for check in sample.verification.checks][-2:] == ["mutation", "self-validation"]


def test_self_validation_moves_on_to_a_passing_response_with_stronger_tests(local_sandbox):
    kept = {select(local_sandbox, SIGN_WEAK, SIGN_GOOD, rng_seed=seed)[0].samples[0].next.code for seed in range(4)}
    assert kept == {parse_answer(SIGN_GOOD).code}


def test_mutation_off_keeps_the_published_behaviour(local_sandbox):
    result, _ = select(local_sandbox, SIGN_WEAK, mutation=False)
    (sample,) = result.samples
    assert sample.next.code == parse_answer(SIGN_WEAK).code
    assert "mutation" not in {check.name for check in sample.verification.checks}
    assert mutation_summary(sample.verification) is None


def test_a_threshold_above_the_score_rejects_a_sample_that_kills_some_mutants(local_sandbox):
    partial = SIGN_GOOD.replace("assert sign(-2.5) == -1\nassert sign(0) == 0\n", "")
    result, _ = select(local_sandbox, partial, mutation={"min_score": 0.99})
    (rejection,) = result.rejections
    summary = mutation_summary(rejection.sample.verification)
    assert rejection.reason == "tests_too_weak" and 0 < summary["score"] < 0.99
    kept, _ = select(local_sandbox, partial)
    assert mutation_summary(kept.samples[0].verification)["score"] == summary["score"]


def test_aiev_keeps_a_dialogue_only_when_its_tests_kill_a_mutant(local_sandbox):
    aiev = AIEVInstruct(AIEVConfig())
    outcomes = {}
    for name, text in (("weak", SIGN_WEAK), ("good", SIGN_GOOD)):
        result = asyncio.run(aiev.keep(INSTRUCTION, parse_answer(text), [], local_sandbox, 0))
        outcomes[name] = [r.reason for r in result.rejections] or [mutation_summary(result.samples[0].verification)]
    assert outcomes["weak"] == ["tests_too_weak"]
    assert outcomes["good"][0]["score"] > 0.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mutation: off", MutationConfig(enabled=False)),
        ("mutation: false", MutationConfig(enabled=False)),
        ("mutation: on", MutationConfig()),
        ("mutation: {enabled: true, min_score: 0.5}", MutationConfig(min_score=0.5)),
        ("{}", MutationConfig()),
    ],
)
def test_kind_configs_read_mutation_settings_from_yaml(value, expected):
    fields = yaml.safe_load(value)
    assert SelfOSSInstructConfig(**fields).mutation == expected
    assert AIEVConfig(**fields).mutation == expected


def test_unknown_mutation_settings_are_refused():
    with pytest.raises(ValueError, match="mutation: expected"):
        SelfOSSInstructConfig(mutation="sometimes")
    with pytest.raises(TypeError):
        AIEVConfig(mutation={"min_scor": 0.5})


# ---------------------------------------------------------------- the mutants


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("y = a < b", {"y = a <= b", "y = a >= b"}),
        ("y = a is not b", {"y = a is  b"}),
        ("y = a not in b", {"y = a in  b"}),
        ("y = a ** 2", {"y = (a * 2)", "y = a ** 3", "y = a ** 1"}),
        ("y += a", {"y -= a"}),
        ("y = a and b", {"y = (a or b)"}),
        ("y = not a", {"y =  a"}),
        ("y = True", {"y = False"}),
        ("y = min(a, b)", {"y = max(a, b)"}),
        ("y = a[::-1]", {"y = a[:]", "y = a[::-2]", "y = a[::-0]", "y = a[::1]"}),
        ("y = a[b:]", {"y = (a[b:])[::-1]"}),
        ("def f(a):\n    return a", {"def f(a):\n    return None"}),
        ("y = 0", {"y = 1", "y = (-1)"}),
    ],
)
def test_each_operator_changes_only_its_tokens(code, expected):
    assert {mutant.code for mutant in mutants(code, seed=0, limit=50).selected} == expected


def test_strings_comments_annotations_f_strings_and_decorators_are_never_mutated():
    code = (
        "@cache(1)\n"
        "def f(a: int = 3) -> list[int]:\n"
        '    """a < b + 1"""\n'
        "    # a < b + 1\n"
        '    s = f"{a + 1}" + "x < 2"  # 1 + 1\n'
        "    return s\n"
    )
    found = mutants(code, seed=0, limit=50).selected
    assert sorted(m.describe() for m in found) == [
        "line 2: constant `3` -> `2`",  # a default value is behaviour; the annotations are not
        "line 2: constant `3` -> `4`",
        "line 5: arithmetic `+` -> `-`",
        "line 6: return `s` -> `None`",
    ]


def test_mutants_in_unreachable_code_are_equivalent_and_never_run():
    code = "def f(a):\n    return a\n    b = a + 1\n    return b\n"
    found = mutants(code, seed=0, limit=50)
    assert found.equivalent == 4  # `+`, 1 -> 2, 1 -> 0 and `return b` -> None, all after the return
    assert [m.describe() for m in found.selected] == ["line 2: return `a` -> `None`"]


def test_a_subset_is_drawn_in_source_order_and_depends_only_on_the_seed():
    code = "def f(a, b):\n" + "".join(f"    a = a + {i} * b - (a < {i})\n" for i in range(10)) + "    return a\n"
    everything = mutants(code, seed=0, limit=1000).selected
    subset = mutants(code, seed=7, limit=12).selected
    assert len(everything) > 12 and len(subset) == 12
    positions = [everything.index(mutant) for mutant in subset]
    assert positions == sorted(positions)
    assert mutants(code, seed=8, limit=12).selected != subset
    # the same seed draws the same mutants in another interpreter with another hash seed
    script = (
        "from cursorcore.processing.synthesis.mutants import mutants\n"
        f"print([m.describe() for m in mutants({code!r}, seed=7, limit=12).selected])"
    )
    for hash_seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": hash_seed},
        ).stdout
        assert out.strip() == str([m.describe() for m in subset])


# programs with strings and comments full of operators, the places a text-based mutator would get wrong
NAMES = st.sampled_from(["a", "b", "xs"])
STRINGS = st.sampled_from(['"a < b"', "'x + 1'", '"not True"', '"min(a, b)"', '"[::-1]"', '"""1 and 2"""'])
COMMENTS = st.sampled_from(["", "  # a < b", "  # return 1 + 1", "  # min(True, 0)"])
F_STRINGS = st.sampled_from(['f"{a + 1}"', "f'{b < 2}'", 'f"{min(a, b)!r:>{3}}"'])
ATOMS = st.one_of(NAMES, st.integers(-3, 20).map(str), st.sampled_from(["True", "False", "None"]), STRINGS, F_STRINGS)
EXPRESSIONS = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.tuples(
            inner, st.sampled_from(["+", "-", "*", "//", "%", "<", "<=", "==", "!=", " and ", " or "]), inner
        ).map(lambda t: f"({t[0]} {t[1].strip()} {t[2]})"),
        inner.map(lambda e: f"(not {e})"),
        inner.map(lambda e: f"(-{e})"),
        st.tuples(inner, inner).map(lambda t: f"min({t[0]}, {t[1]})"),
        st.tuples(NAMES, inner).map(lambda t: f"{t[0]}[{t[1]}:]"),
    ),
    max_leaves=6,
)
STATEMENTS = st.one_of(
    st.tuples(NAMES, EXPRESSIONS, COMMENTS).map(lambda t: f"    {t[0]} = {t[1]}{t[2]}"),
    st.tuples(EXPRESSIONS, EXPRESSIONS).map(lambda t: f"    if {t[0]}:\n        return {t[1]}"),
    STRINGS.map(lambda s: f"    {s}"),
)


@st.composite
def solutions(draw) -> str:
    body = draw(st.lists(STATEMENTS, min_size=1, max_size=5))
    return "def f(a, b, xs):\n" + "\n".join(body) + f"\n    return {draw(EXPRESSIONS)}{draw(COMMENTS)}\n"


def tokens_of(code: str, kind: int) -> Counter:
    return Counter(t.string for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type == kind)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(solutions(), st.integers(0, 5))
def test_every_mutant_parses_differs_and_keeps_strings_and_comments(code, seed):
    found = mutants(code, seed=seed, limit=30)
    assert found.generated >= len(found.selected)
    strings, comments = tokens_of(code, tokenize.STRING), tokens_of(code, tokenize.COMMENT)
    for mutant in found.selected:
        compile(mutant.code, "mutant.py", "exec")
        assert mutant.code != code
        assert mutant.code.count("\n") == code.count("\n")  # line numbers stay those of the original
        assert tokens_of(mutant.code, tokenize.COMMENT) == comments
        assert not tokens_of(mutant.code, tokenize.STRING) - strings  # a string may go (return None), never change
    assert mutants(code, seed=seed, limit=30) == found


def test_the_tests_run_unchanged_after_every_mutant():
    tests = "assert sign(4) == 1  # a < b\nassert sign(-1) == -1"
    plan = mutation_plan(parse_answer(SIGN_GOOD).code, program_of(tests), MutationConfig(), Limits(), seed=0)
    payload = json.loads(plan.job.files["payload.json"])
    assert payload["original"] == Answer(parse_answer(SIGN_GOOD).code, tests, "").program
    assert len(payload["mutants"]) == len(plan.mutants.selected) > 0
    for program, mutant in zip(payload["mutants"], plan.mutants.selected, strict=True):
        assert program == f"{mutant.code}\n\n\n{tests}\n"


# ---------------------------------------------------------------- the driver in the real sandbox


def test_driver_lines_become_check_statuses_and_anything_else_is_ignored():
    lines = [
        {"index": -1, "outcome": "passed"},
        {"index": 0, "outcome": "failed"},
        {"index": 0, "outcome": "passed"},  # only the first line of an index counts
        {"index": 1, "outcome": ["timeout"]},  # not a string: a mutant printing lookalike output
        {"index": 2, "outcome": "error"},  # not an outcome the driver reports
        {"index": "3", "outcome": "timeout"},
        {"index": 4, "outcome": "timeout"},
    ]
    stdout = "noise\n" + "\n".join(map(json.dumps, lines)) + "\n{broken"
    outcomes = driver_outcomes(Result(Status.PASSED, stdout=stdout))
    assert outcomes == {-1: CheckStatus.PASSED, 0: CheckStatus.FAILED, 4: CheckStatus.TIMEOUT}
    assert all(type(outcome) is CheckStatus for outcome in outcomes.values())


def test_a_mutant_that_loops_forever_times_out_and_the_others_still_run(local_sandbox):
    code = "def count(n):\n    i = 0\n    while i < n:\n        i += 1\n    return i\n"
    plan, result, check = run_plan(local_sandbox, code, "assert count(3) == 3")
    assert result.status is Status.PASSED and check.status == "passed"
    summary = json.loads(check.detail)
    looping = [i for i, m in enumerate(plan.mutants.selected) if m.describe() == "line 4: arithmetic `+=` -> `-=`"]
    assert looping and summary["timed_out"] >= 1 and summary["not_run"] == 0
    assert summary["tried"] == len(plan.mutants.selected)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["index"] for line in lines] == list(range(-1, len(plan.mutants.selected)))
    assert lines[looping[0] + 1]["outcome"] == "timeout"


def test_mutants_that_exit_early_or_print_fake_results_do_not_fool_the_driver(local_sandbox):
    code = (
        "import os\nimport sys\n\n\ndef double(x):\n"
        "    if x > 100:\n        os._exit(0)\n"
        "    if x < -100:\n"
        "        for i in range(20):\n"
        '            print(\'{"index": %d, "outcome": "failed", "seconds": 0}\' % i)\n'
        '            sys.stderr.write("\\x00\\xff garbage")\n'
        '        os.write(1, b\'{"index": 0, "outcome": "failed"}\\n\')\n'
        "    return x * 2\n"
    )
    plan, result, check = run_plan(local_sandbox, code, "assert double(3) == 6")
    by_change = {
        m.describe(): json.loads(line)["outcome"]
        for m, line in zip(plan.mutants.selected, result.stdout.splitlines()[1:], strict=True)
    }
    assert result.status is Status.PASSED and result.stdout.count("\n") == len(plan.mutants.selected) + 1
    assert by_change["line 6: comparison `>` -> `<=`"] == "passed"  # os._exit(0) before the assert: survived
    assert by_change["line 8: comparison `<` -> `>=`"] == "passed"  # its printed "failed" lines went nowhere
    assert by_change["line 13: arithmetic `*` -> `/`"] == "failed"
    assert check.status == "passed"


def test_a_mutant_cannot_reach_the_drivers_output_through_proc(local_sandbox):
    code = (
        "import os\n\n\ndef leak(x):\n"
        "    if x != 1:\n"
        "        for fd in os.listdir(f'/proc/{os.getppid()}/fd'):\n"
        "            os.write(os.open(f'/proc/{os.getppid()}/fd/{fd}', os.O_WRONLY), b'{\"index\": 0}\\n')\n"
        "    return x\n"
    )
    plan, result, _ = run_plan(local_sandbox, code, "assert leak(1) == 1")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["index"] for line in lines] == list(range(-1, len(plan.mutants.selected)))


def test_a_mutant_that_kills_the_driver_leaves_the_rest_not_run(local_sandbox):
    code = "import os\n\n\ndef boom(x):\n    if x > 5:\n        os.kill(os.getppid(), 9)\n    return x + 1\n"
    plan, result, check = run_plan(local_sandbox, code, "assert boom(1) == 2")
    summary = json.loads(check.detail)
    assert result.status is Status.FAILED  # the driver died: the job failed, the sandbox did not
    assert summary["not_run"] >= 1 and summary["tried"] + summary["not_run"] == len(plan.mutants.selected)


def test_tests_that_fail_in_the_driver_leave_the_sample_unmeasured(local_sandbox):
    _, _, check = run_plan(local_sandbox, "def f():\n    return 1\n", "assert f() == 2")
    assert (check.status, check.detail) == (
        "skipped",
        "the tests failed on the original solution in the mutation driver",
    )


def test_a_budget_leaves_the_mutants_it_had_no_time_for_unrun(local_sandbox):
    code = "def count(n):\n    i = 0\n    while i < n:\n        i += 1\n    return i\n"
    config = MutationConfig(budget=0.0)
    _, _, check = run_plan(local_sandbox, code, "assert count(3) == 3", config)
    assert check.status == "skipped" and json.loads(check.detail)["not_run"] > 0
