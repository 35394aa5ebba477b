"""pass@k, tables and the results file."""

import json
from itertools import combinations

import pytest

from cursorcore.eval.results import (
    MISSING,
    Run,
    SampleResult,
    TaskResult,
    category_scores,
    markdown_table,
    pass_at_k,
)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 0, 1), (5, 2, 1), (5, 2, 2), (6, 3, 4), (10, 9, 10), (4, 4, 3)])
def test_pass_at_k_is_the_chance_that_some_draw_of_k_is_correct(n, c, k):
    outcomes = [True] * c + [False] * (n - c)
    draws = list(combinations(outcomes, k))
    assert pass_at_k(n, c, k) == pytest.approx(sum(any(draw) for draw in draws) / len(draws))


def test_pass_at_k_needs_k_samples():
    with pytest.raises(ValueError, match="pass@10"):
        pass_at_k(5, 1, 10)


def _task(task_id, category, *verdicts, plus_requires_base=False):
    return TaskResult(task_id, [SampleResult(b, p) for b, p in verdicts], category, plus_requires_base)


def test_plus_counts_alone_for_apeval_and_with_base_for_evalplus():
    verdicts = [("fail", "pass"), ("pass", "pass"), ("pass", "fail")]
    assert _task("t", "C", *verdicts).plus_correct == 2
    assert _task("t", "C", *verdicts, plus_requires_base=True).plus_correct == 1


def test_table_per_category_and_average_in_base_plus_form():
    tasks = [
        _task("a", "C", ("pass", "pass")),
        _task("b", "C", ("pass", "fail")),
        _task("c", "H+C", ("fail", "fail")),
        _task("d", "H+C", ("timeout", "error")),
    ]
    scores = category_scores(tasks, ["C", "H+C"])
    assert scores["C"] == {"base": {"pass@1": 100.0}, "plus": {"pass@1": 50.0}}
    assert scores["Avg"] == {"base": {"pass@1": 50.0}, "plus": {"pass@1": 25.0}}
    table = markdown_table({"model": scores})
    assert table.splitlines()[0] == "| Model | C | H+C | Avg |"
    assert table.splitlines()[2] == "| model | 100.0 (50.0) | 0.0 (0.0) | 50.0 (25.0) |"


def test_results_file_holds_one_entry_per_task_with_pass_or_fail(tmp_path):
    tasks = [_task("a", "C", ("pass", "timeout"), ("fail", "fail")), _task("b", "C", ("error", "error"))]
    run = Run(benchmark={"name": "X"}, tasks=tasks, harness={"name": "cursorcore"}, categories=("C",))
    run.write(tmp_path / "results.json")
    data = json.loads((tmp_path / "results.json").read_text())
    assert [(t["task_id"], t["category"], t["base"], t["plus"]) for t in data["tasks"]] == [
        ("a", "C", "pass", "fail"),
        ("b", "C", "fail", "fail"),
    ]
    assert data["tasks"][0]["samples"][0] == {"base": "pass", "plus": "timeout"}
    assert data["errors"] == 1
    assert data["scores"]["C"]["base"] == {"pass@1": pytest.approx(25.0)}


def test_results_file_says_how_much_of_the_benchmark_the_scores_cover():
    tasks = [_task("a", "C", ("pass", "pass")), _task("b", "C", (MISSING, MISSING))]
    limited = Run(benchmark={"name": "X"}, tasks=tasks, harness={}, total_tasks=10).to_dict()
    assert limited["task_count"] == {"scored": 2, "answered": 1, "benchmark": 10}
    full = Run(benchmark={"name": "X"}, tasks=tasks[:1], harness={})
    assert full.to_dict()["task_count"] == {"scored": 1, "answered": 1, "benchmark": 1} and not full.partial
    assert Run(benchmark={"name": "X"}, tasks=tasks, harness={}).partial  # a task without a solution
