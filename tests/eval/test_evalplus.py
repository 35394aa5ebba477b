"""HumanEval+ / MBPP+ verdicts: EvalPlus's comparison rules, the reference solutions, misbehaving solutions, the
sandbox failing, and agreement with `evalplus.evaluate` itself run offline on the same solutions."""

import dataclasses
import json
from pathlib import Path
from typing import ClassVar

import pytest

from cursorcore.eval import evalplus as evalplus_module
from cursorcore.eval import evalplus_runner as runner
from cursorcore.eval.crosscheck import INSTALL_HINT, evalplus_python, run_evalplus
from cursorcore.eval.evalplus import (
    HUMANEVAL_PLUS,
    PlusBenchmark,
    PlusScorer,
    Problem,
    Release,
    load_humanevalplus,
    load_plus,
    mbpp_inputs,
    read_solutions,
)
from cursorcore.eval.sources import read_bytes
from cursorcore.processing.sandbox import Result
from tests.eval.solutions import misbehaving, mutant

EVALPLUS = evalplus_python()
needs_evalplus = pytest.mark.skipif(EVALPLUS is None, reason=f"evalplus is not installed ({INSTALL_HINT})")
FIND_ZERO = "HumanEval/32"
MEMORY_BOUND = "Mbpp/255"


# ---------------------------------------------------------------------------------------------------- comparisons
def test_a_float_expectation_sets_a_tolerance_for_the_rest_of_the_split():
    fresh = runner.Comparison("humaneval", "f", 0)
    assert not fresh.matches([], 10**12 + 1, 10**12)
    comparison = runner.Comparison("humaneval", "f", 0)
    assert comparison.matches([], 1.0000001, 1.0)  # 1e-6 once a float is expected, as in EvalPlus
    assert comparison.matches([], 10**12 + 1, 10**12)  # ... and for every later input of the split


def test_tolerance_needs_the_same_type_and_length():
    comparison = runner.Comparison("humaneval", "f", 1e-6)
    assert comparison.matches([], [1.0, 2.0000001], [1.0, 2.0])
    assert not comparison.matches([], (1.0, 2.0), [1.0, 2.0])
    assert not comparison.matches([], [1.0], [1.0, 2.0])
    assert not comparison.matches([], 1, 1.0000001)


def test_mbpp_special_oracles():
    assert runner.Comparison("mbpp", "similar_elements", 0).matches([], (5, 4), (4, 5))
    assert not runner.Comparison("humaneval", "similar_elements", 0).matches([], (5, 4), (4, 5))
    not_none = runner.Comparison("mbpp", "check_str", 0)
    assert not_none.matches(["a"], "match", True)
    assert not not_none.matches(["a"], None, True)
    assert not not_none.matches(["a"], False, True)
    assert runner.Comparison("mbpp", "surface_Area", 0).matches([3, 4], 33, 33)
    assert runner.Comparison("mbpp", "surface_Area", 0).matches([3, 4], runner._pyramid_surface_area(3, 4), -1)
    assert runner.Comparison("mbpp", "digit_distance_nums", 0).matches([123, 45], 5, 0)


def test_find_zero_accepts_any_root_within_the_tolerance():
    comparison = runner.Comparison("humaneval", "find_zero", 1e-4)
    assert comparison.matches([[-6, 11, -6, 1]], 1.0, 0.5)
    assert comparison.matches([[-6, 11, -6, 1]], 3.00001, 0.5)
    assert not comparison.matches([[-6, 11, -6, 1]], 1.5, 1.0)


def test_an_ambiguous_array_output_is_an_error_like_in_evalplus():
    numpy = pytest.importorskip("numpy")
    with pytest.raises(ValueError):
        runner.Comparison("humaneval", "f", 0).matches([], numpy.array([1, 2]), [1, 2])


# ---------------------------------------------------------------------------------------------------- data
def test_mbpp_inputs_are_deserialised_as_evalplus_does(mbppplus, mbpp_path):
    mbpp = pytest.importorskip("evalplus.data.mbpp", reason=f"evalplus is not installed ({INSTALL_HINT})")
    rows = [json.loads(line) for line in read_bytes(mbpp_path).decode().splitlines()]
    assert len(rows) == len(mbppplus.problems) == 378
    for row in rows:
        problem = mbppplus.problems[row["task_id"]]
        theirs = mbpp.mbpp_deserialize_inputs(row["task_id"], row["base_input"])
        assert repr(problem.base_input) == repr(list(theirs)), row["task_id"]
        if row["plus_input"]:
            theirs = mbpp.mbpp_deserialize_inputs(row["task_id"], row["plus_input"])
            assert repr(problem.plus_input) == repr(list(theirs)), row["task_id"]
    assert mbpp_inputs("Mbpp/124", [[1, "1+2j"]]) == [(1.0, 1 + 2j)]


def test_the_release_is_fetched_once_into_the_cache(humaneval_path, tmp_path, monkeypatch):
    twin = Release("humaneval", "v0.1.10", humaneval_path.resolve().as_uri(), "NO_SUCH_OVERRIDE")
    monkeypatch.setenv("CURSORCORE_EVAL_CACHE", str(tmp_path))
    first = load_plus(twin)
    assert first.hash == "fe585eb4df8c88d844eeb463ea4d0302"  # EvalPlus's own hash of HumanEval+ v0.1.10
    assert Path(first.source).parent == tmp_path and len(first.problems) == 164

    def no_network(*args, **kwargs):
        raise AssertionError("fetched twice")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    assert load_plus(twin).problems == first.problems


def test_offline_mode_refuses_to_fetch_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("CURSORCORE_EVAL_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(HUMANEVAL_PLUS.override_env, raising=False)
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE"):
        load_humanevalplus()


def test_evalplus_override_variable_is_honoured(humaneval_path, monkeypatch):
    monkeypatch.setenv(HUMANEVAL_PLUS.override_env, str(humaneval_path))
    assert load_humanevalplus().source == str(humaneval_path)


def test_solutions_may_be_completions(tmp_path, humanevalplus):
    path = tmp_path / "samples.jsonl"
    rows = [{"task_id": "HumanEval/0", "completion": "    return 1\n"}, {"task_id": "HumanEval/1", "solution": "x"}]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    solutions = read_solutions(path, humanevalplus.problems)
    prompt = humanevalplus.problems["HumanEval/0"].prompt
    assert solutions == [("HumanEval/0", prompt + "    return 1\n"), ("HumanEval/1", "x")]


# ---------------------------------------------------------------------------------------------------- scoring
def test_every_reference_solution_passes_base_and_plus(humaneval_scorer, humanevalplus):
    verdicts = humaneval_scorer.score([(task_id, p.reference) for task_id, p in humanevalplus.problems.items()])
    assert len(verdicts) == 164
    assert [v.task_id for v in verdicts if not v.passed] == []


MISBEHAVING_VERDICTS = {
    "prints garbage, right answer": ("pass", "pass"),
    "prints garbage, wrong answer": ("fail", "fail"),
    "raises": ("fail", "fail"),
    "loops forever in the call": ("fail", "fail"),
    "sleeps in the call": ("fail", "fail"),
    "loops forever at import": ("timeout", "timeout"),
    "exits at import": ("fail", "fail"),
    "exits the process in the call": ("timeout", "timeout"),
    "syntax error": ("fail", "fail"),
    "no entry point": ("fail", "fail"),
    "opens a file": ("fail", "fail"),
    "main block is not run": ("pass", "pass"),
    "writes to the real stdout": ("pass", "pass"),
    "runs out of memory": ("fail", "fail"),
    "returns a string": ("fail", "fail"),
}


def test_misbehaving_solutions_get_evalplus_statuses(fresh_cache):
    # one input per split keeps the whole-split timeouts short (3 s)
    problem = Problem("Mini/0", "def add(a, b):\n", "add", "    return a + b\n", [[1, 2]], [[3, 4]], 0)
    benchmark = PlusBenchmark("humaneval", "test", {problem.task_id: problem}, "mini", "tests")
    cases = misbehaving(problem)
    assert set(cases) == set(MISBEHAVING_VERDICTS)
    with PlusScorer(benchmark, cache=fresh_cache) as scorer:
        verdicts = scorer.score([(problem.task_id, code) for code in cases.values()])
    assert {name: (v.base, v.plus) for name, v in zip(cases, verdicts, strict=True)} == MISBEHAVING_VERDICTS


def test_reference_outputs_are_computed_then_reused(humanevalplus, fresh_cache):
    # HumanEval/100's outputs are too large to keep: its jobs recompute them from the reference solution
    solutions = [(task_id, humanevalplus.problems[task_id].reference) for task_id in ("HumanEval/100", "HumanEval/0")]
    with PlusScorer(humanevalplus, cache=fresh_cache) as scorer:
        truth = scorer.ground_truth([task_id for task_id, _ in solutions])
        assert truth["HumanEval/100"].expected["plus"] is None and truth["HumanEval/0"].expected["plus"] is not None
        assert len(truth["HumanEval/0"].times["plus"]) == len(humanevalplus.problems["HumanEval/0"].plus_input)
        assert all(verdict.passed for verdict in scorer.score(solutions))
    with PlusScorer(humanevalplus, cache=fresh_cache) as again:
        assert again.ground_truth(["HumanEval/0"])["HumanEval/0"].times == truth["HumanEval/0"].times


class _Copied(list):
    """An input that notes when it is copied and when the reference uses it."""

    events: ClassVar[list[str]] = []

    def __deepcopy__(self, memo):
        self.events.append("copy")
        return _Copied(self)

    def used(self):
        self.events.append("call")


def test_reference_time_leaves_out_copying_the_input(monkeypatch):
    # EvalPlus's `trusted_exec` copies each input before it starts the clock: time limits come from the call alone
    events = _Copied.events = []

    class Clock:
        def restart(self):
            events.append("start")

        def elapsed(self):
            events.append("stop")
            return 0.0

        def close(self):
            pass

    monkeypatch.setattr(runner, "_EffectiveClock", Clock)
    task = {"reference": "def first(xs):\n    xs.used()\n    return xs[0]\n", "entry_point": "first"}
    outputs, _ = runner.reference_outputs({**task, "output_not_none": False}, [[_Copied([7])]])
    assert outputs == [7]
    assert events == ["copy", "start", "call", "stop"]


def test_only_builtin_values_are_pickled_for_a_digest():
    assert runner.output_digest([1, "a", (2.5, None), {"k": {True}}, b"x"]) is not None
    assert runner.output_digest(3) != runner.output_digest(3.0)

    class Text(str):
        def __reduce__(self):
            raise AssertionError("a solution's code ran while its output was pickled")

    assert runner.output_digest(Text("a")) is None
    assert runner.output_digest([1, Text("a")]) is None


EQUAL_TO_ANYTHING = """
class _Anything:
    def __eq__(self, other):
        return True

    def __reduce__(self):  # would end the process (a timeout) if pickling called it
        import os
        os._exit(3)

def total(xs):
    return _Anything()
"""


def test_outputs_too_large_to_ship_are_recognised_by_their_digest(fresh_cache, monkeypatch):
    monkeypatch.setattr(evalplus_module, "MAX_EXPECTED_BYTES", 0)  # every split's outputs count as too large
    head = "def total(xs):\n"
    problem = Problem("Mini/1", head, "total", "    return sum(xs)\n", [[[1, 2]], [[3, 4]]], [[[5, 6, 7]]], 0)
    benchmark = PlusBenchmark("humaneval", "test", {problem.task_id: problem}, "mini-digest", "tests")
    cases = {
        "right": (problem.reference, ("pass", "pass")),
        "wrong": (head + "    return sum(xs) + 1\n", ("fail", "fail")),
        # equal, but pickled otherwise: compared with the reference's output on the input as it was before the
        # solution emptied it (EvalPlus computed that output beforehand)
        "equal float, empties its input": (
            head + "    s = sum(xs)\n    xs.clear()\n    return float(s)\n",
            ("pass",) * 2,
        ),
        # not a builtin value: never pickled, compared with `==` as EvalPlus does
        "equal to anything": (EQUAL_TO_ANYTHING, ("pass", "pass")),
    }
    with PlusScorer(benchmark, cache=fresh_cache) as scorer:
        truth = scorer.ground_truth([problem.task_id])[problem.task_id]
        assert truth.expected == {"base": None, "plus": None}
        assert [len(truth.digests[split]) for split in ("base", "plus")] == [2, 1]
        verdicts = scorer.score([(problem.task_id, code) for code, _ in cases.values()])
    assert {name: (v.base, v.plus) for name, v in zip(cases, verdicts, strict=True)} == {
        name: expected for name, (_, expected) in cases.items()
    }
    # a right answer is recognised by the digest alone: a reference that raises is never called for it
    broken = dataclasses.replace(problem, canonical_solution="    raise AssertionError('the reference ran')\n")
    benchmark = PlusBenchmark("humaneval", "test", {problem.task_id: broken}, "mini-digest", "tests")
    with PlusScorer(benchmark, cache=fresh_cache) as scorer:
        right, wrong = scorer.score([(problem.task_id, problem.reference), (problem.task_id, cases["wrong"][0])])
    assert (right.base, right.plus, wrong.base, wrong.plus) == ("pass", "pass", "fail", "fail")


class _BrokenSandbox:
    """A sandbox whose every job fails for infrastructure reasons."""

    runs = 0

    def verify(self, jobs):
        for _ in jobs:
            self.runs += 1
            yield Result.infrastructure_error("the worker died")

    def close(self):
        pass


def test_a_sandbox_failure_is_an_error_never_a_failed_solution(humanevalplus, humaneval_scorer, eval_cache):
    humaneval_scorer.ground_truth(["HumanEval/0"])
    scorer = PlusScorer(humanevalplus, cache=eval_cache)
    scorer._sandbox = broken = _BrokenSandbox()
    [verdict] = scorer.score([("HumanEval/0", humanevalplus.problems["HumanEval/0"].reference)])
    assert (verdict.base, verdict.plus, verdict.passed, verdict.errored) == ("error", "error", False, True)
    assert broken.runs == 2  # it was given a second chance


# ---------------------------------------------------------------------------------------------------- vs EvalPlus
def _compare(ours, theirs, solutions) -> list[str]:
    """Disagreements, HumanEval/32 aside: EvalPlus 0.3.1 fails every solution there (asserted here instead)."""
    found = []
    for (task_id, _), verdict, (base, plus) in zip(solutions, ours, theirs.statuses, strict=True):
        if task_id == FIND_ZERO:
            assert (base, plus) == ("fail", "fail"), "EvalPlus's find_zero quirk changed"
        elif (verdict.base == "pass", verdict.plus == "pass") != (base == "pass", plus == "pass"):
            found.append(f"{task_id}: ours {verdict.base}/{verdict.plus}, evalplus {base}/{plus}")
    return found


def _subset(path: Path, task_ids: list[str], target: Path) -> Path:
    rows = [json.loads(line) for line in read_bytes(path).decode().splitlines() if line.strip()]
    target.write_text("".join(json.dumps(row) + "\n" for row in rows if row["task_id"] in task_ids))
    return target


def _solutions(problems, apeval: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """For each task: the reference, a mutant, and APEval's current code when given (all wrong in some way)."""
    solutions = []
    for task_id, problem in problems.items():
        solutions.append((task_id, problem.reference))
        if (changed := mutant(problem)) is not None:
            solutions.append((task_id, changed))
        if apeval and task_id in apeval:
            solutions.append((task_id, apeval[task_id]))
    return solutions


QUICK_MISBEHAVING = ("prints garbage, right answer", "prints garbage, wrong answer", "raises", "exits at import")
QUICK_MISBEHAVING += ("syntax error", "no entry point", "opens a file", "main block is not run", "returns a string")
HUMANEVAL_SUBSET = ["HumanEval/0", "HumanEval/2", "HumanEval/4", "HumanEval/10", "HumanEval/12", FIND_ZERO]
HUMANEVAL_SUBSET += ["HumanEval/39", "HumanEval/53", "HumanEval/101", "HumanEval/133", "HumanEval/150"]
HUMANEVAL_SUBSET += ["HumanEval/100"]  # plus outputs too large to ship: checked by digest
# set-equality, not-None, pyramid and digit-distance oracles; complex, set, dict and Counter values; no plus inputs
MBPP_SUBSET = ["Mbpp/2", "Mbpp/88", "Mbpp/98", "Mbpp/115", "Mbpp/124", "Mbpp/558", "Mbpp/579", "Mbpp/581"]
MBPP_SUBSET += ["Mbpp/722", "Mbpp/737", "Mbpp/787", "Mbpp/793"]


@needs_evalplus
@pytest.mark.parametrize("dataset", ["humaneval", "mbpp"])
def test_verdicts_agree_with_evalplus_on_a_subset(dataset, request, tmp_path, eval_cache, apeval_path):
    source = request.getfixturevalue(f"{dataset}_path")
    subset = HUMANEVAL_SUBSET if dataset == "humaneval" else MBPP_SUBSET
    path = _subset(source, subset, tmp_path / "subset.jsonl")
    benchmark = load_plus(HUMANEVAL_PLUS if dataset == "humaneval" else Release("mbpp", "v0.2.0", "", ""), path)
    apeval = {t["task_id"]: t["current"]["code"] for t in json.loads(apeval_path.read_text())}
    solutions = _solutions(benchmark.problems, apeval if dataset == "humaneval" else None)
    cheap = next(iter(benchmark.problems.values()))
    solutions += [(cheap.task_id, misbehaving(cheap)[name]) for name in QUICK_MISBEHAVING]
    with PlusScorer(benchmark, cache=eval_cache) as scorer:
        ours = scorer.score(solutions)
    theirs = run_evalplus(dataset, solutions, path, tmp_path / "evalplus", python=EVALPLUS, parallel=2)
    assert _compare(ours, theirs, solutions) == []
    assert {v.base for v in ours} >= {"pass", "fail"}  # the set holds right and wrong solutions


@pytest.mark.slow
@needs_evalplus
def test_verdicts_agree_with_evalplus_on_all_of_humanevalplus(
    humaneval_scorer, humanevalplus, humaneval_path, apeval_path, tmp_path
):
    apeval = {t["task_id"]: t["current"]["code"] for t in json.loads(apeval_path.read_text())}
    solutions = _solutions(humanevalplus.problems, apeval)
    for task_id in ("HumanEval/0", "HumanEval/39"):
        solutions += [(task_id, code) for code in misbehaving(humanevalplus.problems[task_id]).values()]
    ours = humaneval_scorer.score(solutions)
    theirs = run_evalplus("humaneval", solutions, humaneval_path, tmp_path, python=EVALPLUS, parallel=2)
    assert _compare(ours, theirs, solutions) == []
    reference = humanevalplus.problems[FIND_ZERO].reference
    assert ours[solutions.index((FIND_ZERO, reference))].passed  # where EvalPlus 0.3.1 fails it


@pytest.mark.slow
@needs_evalplus
def test_verdicts_agree_with_evalplus_on_all_of_mbppplus(mbppplus, mbpp_path, eval_cache, tmp_path):
    solutions = _solutions(mbppplus.problems)
    solutions += [("Mbpp/793", code) for code in misbehaving(mbppplus.problems["Mbpp/793"]).values()]
    # Both harnesses get a roomier minimum time limit, so EvalPlus's wall clock on a busy machine does not decide
    # slow references (Mbpp/392 takes 7 s). EvalPlus's address-space limit is lifted: with it, Mbpp/255 fails (see
    # the next test) and leaves its pool worker so large that later tasks in that worker can fail too.
    with PlusScorer(mbppplus, cache=eval_cache, min_time_limit=4.0) as scorer:
        ours = scorer.score(solutions)
    theirs = run_evalplus(
        "mbpp", solutions, mbpp_path, tmp_path, python=EVALPLUS, parallel=2, min_time_limit=4.0, max_memory_bytes=-1
    )
    assert _compare(ours, theirs, solutions) == []


@pytest.mark.slow
@needs_evalplus
def test_evalplus_runs_out_of_memory_on_mbpp_255_where_we_pass(mbpp_path, eval_cache, tmp_path):
    path = _subset(mbpp_path, [MEMORY_BOUND], tmp_path / "subset.jsonl")
    benchmark = load_plus(Release("mbpp", "v0.2.0", "", ""), path)
    solutions = [(MEMORY_BOUND, benchmark.problems[MEMORY_BOUND].reference)]
    with PlusScorer(benchmark, cache=eval_cache) as scorer:
        [ours] = scorer.score(solutions)
    theirs = run_evalplus("mbpp", solutions, path, tmp_path / "evalplus", python=EVALPLUS)
    assert (ours.base, ours.plus) == ("pass", "pass")
    assert theirs.statuses == [("pass", "fail")]  # out of memory at plus input 86 under its 4 GiB limit
