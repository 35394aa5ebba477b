"""AIEV-Instruct with the real local model (SmolLM2-135M-Instruct) and the real sandbox, through the datatrove
pipeline step, with the questioner on a backend of its own (an endpoint config; here the same server): one seed's
dialogue with either role writing the tests, and seeds drawn until a dialogue of the embedded default build ends with
passing tests (slow: minutes). Nothing is faked: every turn comes from the model, every verdict from the sandbox.
"""

import pytest

from cursorcore.builders.programming_instruct import DEFAULT_SYNTHESIS
from cursorcore.processing.synthesis.aiev import AIEVConfig, aiev_step
from cursorcore.processing.synthesis.soi_answers import ANSWER_PROBLEMS
from cursorcore.schema import Sample, Source
from tests.processing.synthesis.test_self_oss_instruct_llm import (
    STAGE_PROBLEMS,
    candidate_seeds,
    check_rejections,
    none_completed,
    run_step,
    show,
)

# a 135M programmer rarely gets it right: sampled answers (T=0.7) and three fix rounds give each seed more tries
SMALL = dict(
    fewshot_problem=2,
    max_fix_rounds=3,
    programmer_temperature=0.7,
    max_tokens_problem=256,
    max_tokens_answer=320,
    max_tokens_explanation=160,
    test_timeout=5.0,
)
TINY = {**SMALL, "fewshot_problem": 1, "fewshot_answer": 0, "max_fix_rounds": 1, "max_tokens_answer": 192}
KNOWN_REASONS = {
    "unresolved",
    "answer_empty",
    "execution_special_token",
    "verification_failed",
    "tests_too_weak",
    "sandbox_error",
    "llm_request_error",
    *(f"answer_{problem}" for problem in ANSWER_PROBLEMS),
    *(f"{stage}_{problem}" for stage in ("problem", "explanation") for problem in STAGE_PROBLEMS),
    "problem_off_target",
    "tests_too_few",
    "tests_one_result",
    "tests_seed_fails",
}


def check_dialogue(sample: Sample, max_fix_rounds: int) -> None:
    """Problem, then per round an answer and its execution, with the questioner's explanation between rounds."""
    roles = [message["role"] for message in sample.messages]
    rounds = roles.count("assistant")
    assert 1 <= rounds <= max_fix_rounds + 1
    assert roles == ["current", "user"] + ["assistant", "execution", "user"] * (rounds - 1) + [
        "assistant",
        "execution",
    ]
    assert sample.messages[1]["content"] == sample.user
    assert all(m["content"].startswith("Result: ") for m in sample.messages if m["role"] == "execution")
    assert Sample.from_row(sample.to_row()) == sample


@pytest.mark.parametrize("tests_by", ["programmer", "questioner"])
def test_one_dialogue_through_the_pipeline_step(llm_server, local_sandbox, tmp_path, tests_by):
    """The mechanics on one seed, whatever the model makes of it: a passing dialogue or a rejection with a reason,
    every turn recorded, and the step's stats counting what the rollout reports."""
    config = AIEVConfig(**TINY, tests_by=tests_by, questioner=llm_server.endpoint_config())
    step = aiev_step(config, llm_server.endpoint_config(), tmp_path / "out", tmp_path / "ckpt", sandbox=local_sandbox)
    (row,) = candidate_seeds()[:1]
    results, stats = run_step(step, [row], tmp_path, Source.AIEV)
    show("AIEV-Instruct", list(results.values()))
    result = results[row["id"]]
    check_rejections([result], KNOWN_REASONS)
    for name, value in result["stats"].items():
        assert stats[name] == value
    if tests_by == "questioner" and result.get("rejected") not in ("problem_off_target", "problem_truncated"):
        assert result["stats"]["test_scripts"] >= 1  # the questioner was asked for calls of the seed
    for rejection in result.get("rejections", []):
        check_dialogue(Sample.from_row(rejection["sample"]), TINY["max_fix_rounds"])
    for sample in map(Sample.from_row, result.get("samples", [])):
        assert (sample.source, sample.verification.status) == (Source.AIEV, "passed")
        check_dialogue(sample, TINY["max_fix_rounds"])


# With the programmer writing the tests, SmolLM2-135M completed none of ~35 dialogues (2026-12-03: no assertions,
# answers that do not parse or are cut at the token cap). With the questioner's recorded tests, the default build
# keeps 1 of its 12 seeds (bench/RESULTS.md) and this seed set passed at its second seed; the budget bounds the
# test's time when the model has a bad day.
AIEV_SEED_BUDGET = 12


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_aiev_yields_a_passing_dialogue_with_smollm2(llm_server, local_sandbox, tmp_path):
    """Seeds are drawn until a dialogue of the embedded default settings ends with passing tests; every other seed
    is rejected with a reason. The tests the sample shows are the questioner's, and they hold for the seed."""
    config = AIEVConfig(**DEFAULT_SYNTHESIS["aiev"], test_timeout=5.0, questioner=llm_server.endpoint_config())
    llm = llm_server.endpoint_config(max_concurrency=1)
    results, stats, seeds, executions = [], {}, candidate_seeds()[:AIEV_SEED_BUDGET], 0
    for index, row in enumerate(seeds):
        step = aiev_step(config, llm, tmp_path / f"{index}/out", tmp_path / f"{index}/ckpt", sandbox=local_sandbox)
        found, stats = run_step(step, [row], tmp_path / str(index), Source.AIEV)
        results += found.values()
        executions += stats.get("executions", 0)
        if results[-1].get("samples"):
            break
    show("AIEV-Instruct", results)
    samples = [Sample.from_row(row) for result in results for row in result.get("samples", [])]
    if not samples:
        none_completed("AIEV", results, executions, KNOWN_REASONS)
    (sample,) = samples
    assert (sample.source, sample.current.code, sample.verification.status) == (Source.AIEV, "", "passed")
    checks = {check.name: check for check in sample.verification.checks}
    assert checks["tests"].status == "passed" and checks["execution-feedback"].status == "passed"
    check_dialogue(sample, config.max_fix_rounds)
    assert sample.messages[-1]["content"].startswith("Result: passed")
    shown = sample.user.split("It must pass these tests:\n", 1)[1].strip().strip("`").removeprefix("python\n")
    seed = seeds[len(results) - 1]
    assert f"def {seed['entry_point']}" in sample.next.code and shown.startswith(f"assert {seed['entry_point']}(")
    assert stats["samples"] == 1 and stats["executions"] >= 1 and stats["tests"] >= config.min_tests
    check_rejections(results[:-1], KNOWN_REASONS)
