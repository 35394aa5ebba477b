"""APEval end to end through the CLI: scoring a solutions file, generating with the local server, the Hub layout,
and publishing the results file."""

import json

import pytest

from cursorcore.apps.cli import main
from cursorcore.eval import apeval as apeval_module
from cursorcore.eval.apeval import CATEGORIES, evaluate_apeval, open_apeval
from cursorcore.eval.results import SampleResult


@pytest.fixture
def paths(apeval_path, humaneval_path):
    return ["--apeval", str(apeval_path), "--humanevalplus", str(humaneval_path)]


def _solutions_file(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_unchanged_current_code_is_a_low_baseline(paths, apeval_path, tmp_path, capsys):
    tasks = json.loads(apeval_path.read_text())
    solutions = _solutions_file(
        tmp_path / "current.jsonl", [{"task_id": t["task_id"], "solution": t["current"]["code"]} for t in tasks]
    )
    output = tmp_path / "results.json"
    assert main(["eval", "apeval", "--solutions", solutions, *paths, "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "| Model | C | H+C | C+U | H+C+U | Avg |" in printed
    results = json.loads(output.read_text())
    assert len(results["tasks"]) == 164
    assert {
        (t["category"], t["base"] in ("pass", "fail"), t["plus"] in ("pass", "fail")) for t in results["tasks"]
    } == {(name, True, True) for name in CATEGORIES}
    assert results["scores"]["Avg"]["base"]["pass@1"] < 10  # most current code is unfinished or wrong
    assert results["benchmark"]["tests"]["hash"] == "fe585eb4df8c88d844eeb463ea4d0302"
    assert results["benchmark"]["hash"] and results["harness"]["name"] == "cursorcore" and results["errors"] == 0


def test_reference_solutions_pass_and_missing_tasks_fail(apeval_path, humaneval_scorer, humanevalplus):
    apeval = open_apeval(apeval_path)
    chosen = ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    solutions = {t: [SampleResult(solution=humanevalplus.problems[t].reference)] for t in chosen}
    run = evaluate_apeval(apeval, solutions, humaneval_scorer)
    rows = {row["task_id"]: row for row in run.to_dict()["tasks"]}
    assert all(rows[t]["base"] == rows[t]["plus"] == "pass" for t in chosen)
    assert rows["HumanEval/3"]["samples"] == [{"base": "missing", "plus": "missing"}]
    assert run.scores["Avg"]["base"]["pass@1"] == pytest.approx(300 / 164)


def test_apeval_loads_from_a_hub_dataset_layout(apeval_path, tmp_path, monkeypatch):
    rows = json.loads(apeval_path.read_text())
    for row in rows:  # the Hub stores the int-or-pair `area` column as JSON text
        row["area"] = json.dumps(row["area"]) if "area" in row else ""
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    monkeypatch.setattr(apeval_module, "HUB_ID", str(tmp_path))
    from_hub, from_file = open_apeval(), open_apeval(apeval_path)
    assert from_hub.samples == from_file.samples
    assert from_hub.source == str(tmp_path) and from_hub.hash != from_file.hash


def test_generating_with_the_local_server_then_scoring(llm_server, paths, tmp_path, capsys):
    output = tmp_path / "generated.json"
    arguments = ["eval", "apeval", "--backend", "endpoint", "--endpoint-url", llm_server.base_url, "--model"]
    arguments += [llm_server.served_model, "--limit", "2", "--max-tokens", "32", "--output", str(output), *paths]
    assert main(arguments) == 0
    results = json.loads(output.read_text())
    assert results["model"]["name"] == llm_server.served_model
    generation = results["generation"]
    assert (generation["prompt_mode"], generation["n"], generation["temperature"]) == ("instruct", 1, 0.0)
    assert len(generation["template_hash"]) == 64
    assert [len(task["samples"]) for task in results["tasks"]] == [1, 1]
    assert all("answer" in task["samples"][0] and "solution" in task["samples"][0] for task in results["tasks"])
    assert "| Model |" in capsys.readouterr().out


def test_humaneval_command_scores_like_evalplus(humaneval_path, humanevalplus, tmp_path, capsys):
    rows = [{"task_id": "HumanEval/0", "solution": humanevalplus.problems["HumanEval/0"].reference}]
    rows += [{"task_id": "HumanEval/1", "completion": "    return []\n"}]
    output = tmp_path / "results.json"
    solutions = _solutions_file(tmp_path / "samples.jsonl", rows)
    arguments = ["eval", "humaneval", "--solutions", solutions, "--humanevalplus", str(humaneval_path)]
    assert main([*arguments, "--output", str(output)]) == 0
    tasks = {t["task_id"]: t for t in json.loads(output.read_text())["tasks"]}
    assert (tasks["HumanEval/0"]["base"], tasks["HumanEval/0"]["plus"]) == ("pass", "pass")
    assert (tasks["HumanEval/1"]["base"], tasks["HumanEval/2"]["base"]) == ("fail", "fail")
    assert "162 task(s) have no solution" in capsys.readouterr().err


def test_bad_input_is_exit_status_2(paths, tmp_path, capsys):
    solutions = _solutions_file(tmp_path / "bad.jsonl", [{"task_id": "HumanEval/999", "solution": "x"}])
    assert main(["eval", "apeval", "--solutions", solutions, *paths]) == 2
    assert "HumanEval/999" in capsys.readouterr().err


def test_publish_command_dry_run(tmp_path, capsys):
    results = tmp_path / "results.json"
    counts = {"scored": 164, "answered": 164, "benchmark": 164}
    run = {"benchmark": {"name": "APEval"}, "scores": {"Avg": {"base": {"pass@1": 5.0}}}, "task_count": counts}
    results.write_text(json.dumps(run | {"model": {"name": "some-org/some-model"}}))
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: mit\n---\n# model\n")
    assert main(["eval", "publish", str(results), "--repo", str(readme), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "TechxGenus/APEval" in printed and "- name: some-model\n" in printed  # the evaluated model names it
    assert readme.read_text() == "---\nlicense: mit\n---\n# model\n"
