"""`cursorcore eval prompts | extract | apeval --answers`: APEval prompts and raw answers from the command line."""

import json

import pytest

from cursorcore.apps.cli import main
from cursorcore.eval import answers, generate
from cursorcore.processing.formats import get_format
from tests.eval import cursorcore_reference as reference


@pytest.fixture(scope="module")
def tasks(apeval_path):
    return json.loads(apeval_path.read_text())


def _printed_rows(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _answers_file(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_cli_choices_are_the_harness_choices():
    assert (answers.MODES, answers.EXTRACTIONS) == (generate.MODES, generate.EXTRACTIONS)


@pytest.mark.parametrize("target_area", [False, True])
@pytest.mark.parametrize("mode", answers.MODES)
def test_prompts_command_prints_cursorcores_prompt_per_task(apeval_path, tasks, capsys, mode, target_area):
    arguments = ["eval", "prompts", "--mode", mode, "--apeval", str(apeval_path)]
    assert main(arguments + (["--target-area"] if target_area else [])) == 0
    rows = _printed_rows(capsys)
    assert [row["task_id"] for row in rows] == [task["task_id"] for task in tasks]
    for row, task in zip(rows, tasks, strict=True):
        wanted = reference.PROMPTS[mode](reference.with_target_area(task) if target_area else task)
        assert row == {"task_id": task["task_id"], "text" if mode == "base" else "messages": wanted}


def _lc_answers(tasks, wrap):
    """An LC answer per task that appends a line, as a server returns it or wrapped in a full answer with chat."""
    rows = []
    for task in tasks:
        current = task["current"]["code"]
        edit = get_format("lc").render(current, current + "\n# done", "python")
        rows.append({"task_id": task["task_id"], "answer": wrap(edit)})
    return rows


@pytest.mark.parametrize(
    "wrap",
    [lambda edit: edit, lambda edit: f"<|next_start|>{edit}<|next_end|>\nAdded a comment."],
    ids=["served", "full"],
)
def test_extract_command_turns_answers_into_solutions(apeval_path, tasks, tmp_path, capsys, wrap):
    path = _answers_file(tmp_path / "answers.jsonl", _lc_answers(tasks, wrap))
    assert main(["eval", "extract", "--mode", "lc", "--apeval", str(apeval_path), "--answers", path]) == 0
    rows = _printed_rows(capsys)
    assert rows == [{"task_id": t["task_id"], "solution": t["current"]["code"] + "\n# done"} for t in tasks]


def test_extract_command_strict_and_reference_differ_on_a_sloppy_answer(apeval_path, tasks, tmp_path, capsys):
    task = tasks[0]
    sloppy = "Here you go:\n0,1\n```python\nprint('first line')\n```\nHope it helps."
    path = _answers_file(tmp_path / "answers.jsonl", [{"task_id": task["task_id"], "answer": sloppy}])
    command = ["eval", "extract", "--mode", "lc", "--apeval", str(apeval_path), "--answers", path]
    assert main(command) == 0
    tolerant = _printed_rows(capsys)[0]["solution"]
    assert main([*command, "--extraction", "strict"]) == 0
    strict = _printed_rows(capsys)[0]["solution"]
    assert strict == task["current"]["code"] != tolerant
    assert tolerant.split("\n")[0] == "print('first line')"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"task_id": "HumanEval/999", "answer": "x"}, "not in the benchmark"),
        ({"task_id": "HumanEval/0", "solution": "x"}, "expected"),
    ],
)
def test_bad_answers_files_are_exit_status_2(apeval_path, tmp_path, capsys, row, message):
    path = _answers_file(tmp_path / "answers.jsonl", [row])
    assert main(["eval", "extract", "--mode", "wf", "--apeval", str(apeval_path), "--answers", path]) == 2
    assert message in capsys.readouterr().err


def test_apeval_scores_answers_and_records_how_they_were_read(apeval_path, humaneval_path, tasks, tmp_path, capsys):
    solutions = {}
    for line in _humaneval_rows(humaneval_path):
        solutions[line["task_id"]] = line["prompt"] + line["canonical_solution"]
    rows = [
        {"task_id": t["task_id"], "answer": get_format("wf").render("", solutions[t["task_id"]], "python")}
        for t in tasks[:3]
    ]
    path = _answers_file(tmp_path / "answers.jsonl", rows)
    output = tmp_path / "results.json"
    arguments = ["eval", "apeval", "--answers", path, "--mode", "wf", "--limit", "3", "--output", str(output)]
    assert main([*arguments, "--apeval", str(apeval_path), "--humanevalplus", str(humaneval_path)]) == 0
    results = json.loads(output.read_text())
    assert [t["base"] for t in results["tasks"]] == ["pass"] * 3
    assert results["generation"]["extraction"] == "reference"
    assert results["generation"]["prompt_mode"] == "wf"
    assert results["generation"]["answers"] == path and len(results["generation"]["answers_md5"]) == 32


def _humaneval_rows(path):
    import gzip

    with gzip.open(path, "rt", encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def test_generated_run_records_the_extraction(llm_server, apeval_path, humaneval_path, tmp_path):
    """A CursorCore-format mode end to end on the local llama.cpp server: prompts as the template's text."""
    output = tmp_path / "results.json"
    arguments = ["eval", "apeval", "--backend", "endpoint", "--endpoint-url", llm_server.base_url, "--model"]
    arguments += [llm_server.served_model, "--mode", "lc", "--extraction", "strict", "--limit", "1"]
    arguments += ["--max-tokens", "16", "--output", str(output), "--apeval", str(apeval_path)]
    assert main([*arguments, "--humanevalplus", str(humaneval_path)]) == 0
    generation = json.loads(output.read_text())["generation"]
    assert (generation["prompt_mode"], generation["extraction"], generation["max_tokens"]) == ("lc", "strict", 16)
