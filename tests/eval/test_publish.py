"""Results into model cards: metadata merged without clobbering, the results section rewritten, partial runs refused
or labelled, local paths never taken for Hub ids, the card read from the Hub only when it answers (a fake Hub file
endpoint and an unreachable one, in subprocesses); and once for real on the Hub when HF_TOKEN is set."""

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard

from cursorcore.apps.cli import main
from cursorcore.eval.publish import SECTION_END, SECTION_START, publish

CLI = Path(sys.executable).parent / "cursorcore"
EXISTING_CARD = """---
license: apache-2.0
tags:
- code
model-index:
- name: my-model
  results:
  - task:
      type: text-generation
    dataset:
      type: openai_humaneval
      name: HumanEval
    metrics:
    - type: pass@1
      value: 12.3
      name: pass@1
---

# my-model

Words written by people, which stay.
"""


def _run(name, avg_base, avg_plus=None, mode="wf", answered=164, columns=("C", "Avg")):
    cell = {"base": {"pass@1": avg_base}} | ({"plus": {"pass@1": avg_plus}} if avg_plus is not None else {})
    return {
        "benchmark": {"name": name},
        "generation": {"prompt_mode": mode},
        "scores": {column: cell for column in columns},
        "task_count": {"scored": answered, "answered": answered, "benchmark": 164},
    }


def _metadata(text):
    return yaml.safe_load(text.split("---")[1])


def _results(text):
    found = {}
    for result in _metadata(text)["model-index"][0]["results"]:
        for metric in result["metrics"]:
            dataset = result["dataset"]
            found[(dataset["name"], dataset.get("config"), metric.get("name"), metric.get("config"))] = metric["value"]
    return found


def test_publishing_merges_into_an_existing_card(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(EXISTING_CARD)
    publish(str(readme), [_run("APEval", 40.04, 35.0)])
    text = readme.read_text()
    meta = _metadata(text)
    assert meta["license"] == "apache-2.0" and meta["tags"] == ["code"]
    results = _results(text)
    assert results[("HumanEval", None, "pass@1", None)] == 12.3  # someone else's result stays
    assert results[("APEval", "C", "pass@1 (base)", "wf")] == 40.0
    assert results[("APEval", None, "pass@1 (plus)", "wf")] == 35.0
    assert "Words written by people, which stay." in text
    assert text.count(SECTION_START) == text.count(SECTION_END) == 1
    assert "| APEval | wf | 40.0 (35.0) | 40.0 (35.0) |" in text

    publish(str(readme), [_run("APEval", 50.0, 45.0), _run("APEval", 30.0, 20.0, mode="instruct")])
    again = readme.read_text()
    results = _results(again)
    assert results[("APEval", None, "pass@1 (base)", "wf")] == 50.0  # updated, not duplicated
    assert results[("APEval", None, "pass@1 (base)", "instruct")] == 30.0  # another prompt mode: its own result
    assert len(results) == 1 + 2 * 2 * 2
    assert again.count(SECTION_START) == 1 and "| APEval | instruct | 30.0 (20.0) |" in again


def test_dry_run_writes_nothing(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(EXISTING_CARD)
    text = publish(str(readme), [_run("EditEval", 10.0)], dry_run=True)
    assert readme.read_text() == EXISTING_CARD
    assert ("EditEval", None, "pass@1 (base)", "wf") in _results(text)
    assert ModelCard(text).data.eval_results  # the Hub's own parser reads it back


def test_a_partial_run_is_refused_unless_allowed_and_then_labelled_wherever_it_shows(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(EXISTING_CARD)
    partial = _run("APEval", 100.0, 100.0, answered=5)
    with pytest.raises(ValueError, match=r"5 of 164 tasks.*--allow-partial"):
        publish(str(readme), [_run("APEval", 40.0, 35.0), partial])
    assert readme.read_text() == EXISTING_CARD  # nothing written

    publish(str(readme), [_run("APEval", 40.0, 35.0), partial], allow_partial=True)
    text = readme.read_text()
    results = _results(text)
    assert results[("APEval", None, "pass@1 (plus, 5 of 164 tasks)", "wf")] == 100.0
    assert results[("APEval", None, "pass@1 (plus)", "wf")] == 35.0  # the full run's result stays its own
    assert [name for (_, _, name, _), value in results.items() if value == 100.0] == [
        "pass@1 (base, 5 of 164 tasks)",
        "pass@1 (plus, 5 of 164 tasks)",
    ] * 2  # C and the average: no number of the partial run without its label
    assert "| APEval | wf | 40.0 (35.0) | 40.0 (35.0) |" in text
    assert "| APEval (5 of 164 tasks) | wf | 100.0 (100.0) | 100.0 (100.0) |" in text
    assert "a partial run, not comparable with full scores" in text
    assert ModelCard(text).data.eval_results  # the Hub's own parser reads it back


def test_results_that_do_not_say_how_many_tasks_they_cover_are_refused(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(EXISTING_CARD)
    older = _run("APEval", 40.0, 35.0)
    del older["task_count"]
    with pytest.raises(ValueError, match="does not say how many"):
        publish(str(readme), [older], allow_partial=True)


def test_other_benchmarks_have_their_own_column_not_apevals_average(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(EXISTING_CARD)
    runs = [_run("APEval", 40.0, 35.0), _run("HumanEval+", 60.0, 55.0, columns=("all",))]
    text = publish(str(readme), runs, dry_run=True)
    apeval_table = (
        "| Benchmark | Prompt | C | Avg |\n| --- | --- | ---: | ---: |\n| APEval | wf | 40.0 (35.0) | 40.0 (35.0) |\n"
    )
    other_table = "| Benchmark | Prompt | All tasks |\n| --- | --- | ---: |\n| HumanEval+ | wf | 60.0 (55.0) |\n"
    assert apeval_table in text and other_table in text


def test_the_model_index_name(tmp_path):
    readme = tmp_path / "card" / "README.md"
    readme.parent.mkdir()
    readme.write_text("---\nlicense: mit\n---\n# a model\n")
    run = _run("APEval", 40.0, 35.0)
    with pytest.raises(ValueError, match="--model-name"):  # not the folder's name ("card")
        publish(str(readme), [run], dry_run=True)
    named = publish(str(readme), [run | {"model": {"name": "some-org/tiny-coder"}}], dry_run=True)
    assert _metadata(named)["model-index"][0]["name"] == "tiny-coder"
    chosen = publish(str(readme), [run], dry_run=True, model_name="Tiny Coder 1")
    assert _metadata(chosen)["model-index"][0]["name"] == "Tiny Coder 1"
    readme.write_text(EXISTING_CARD)
    kept = publish(str(readme), [run | {"model": {"name": "some-org/tiny-coder"}}], dry_run=True)
    assert _metadata(kept)["model-index"][0]["name"] == "my-model"  # the card's own name stays


@pytest.mark.parametrize("repo", ["no-such-dir/README.md", "README.md", "./my-model", "/no/such/card", "a/b/c"])
def test_a_local_path_that_does_not_exist_is_an_error_not_a_hub_id(repo, tmp_path, monkeypatch, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_run("APEval", 40.0, 35.0)))
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "publish", str(results), "--repo", repo, "--dry-run"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_folder_is_not_a_card(tmp_path, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_run("APEval", 40.0, 35.0)))
    assert main(["eval", "publish", str(results), "--repo", str(tmp_path), "--dry-run"]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_a_limited_run_is_recorded_as_partial_and_publishing_says_so(humaneval_path, humanevalplus, tmp_path, capsys):
    rows = [{"task_id": t, "solution": humanevalplus.problems[t].reference} for t in ("HumanEval/0", "HumanEval/1")]
    rows.append({"task_id": "HumanEval/7", "solution": "beyond the limit: not scored"})
    solutions = tmp_path / "solutions.jsonl"
    solutions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    output = tmp_path / "results.json"
    arguments = ["eval", "humaneval", "--solutions", str(solutions), "--limit", "2", "--output", str(output)]
    assert main([*arguments, "--humanevalplus", str(humaneval_path)]) == 0
    assert "HumanEval+ (2 of 164 tasks: a partial run)" in capsys.readouterr().out
    results = json.loads(output.read_text())
    assert results["task_count"] == {"scored": 2, "answered": 2, "benchmark": 164}
    assert [task["task_id"] for task in results["tasks"]] == ["HumanEval/0", "HumanEval/1"]

    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: mit\n---\n# tiny\n")
    publishing = ["eval", "publish", str(output), "--repo", str(readme), "--model-name", "tiny", "--dry-run"]
    assert main(publishing) == 2
    assert "2 of 164 tasks" in capsys.readouterr().err
    assert main([*publishing, "--allow-partial"]) == 0
    card = capsys.readouterr().out
    assert "| HumanEval+ (2 of 164 tasks) | - | 100.0 (100.0) |" in card
    assert "pass@1 (plus, 2 of 164 tasks)" in card

    assert main([*arguments, "--dataset", str(humaneval_path)]) == 0  # the option's former name still works
    assert "--dataset is deprecated here, use --humanevalplus" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ reading the card on the Hub
class FakeHubFiles(BaseHTTPRequestHandler):
    """The Hub's file endpoint (`{endpoint}/{repo_id}/resolve/{revision}/{filename}`) answering as the server's
    `answer` says. What huggingface_hub needs of it: an error's kind in the `X-Error-Code` header
    (utils/_http.py, `hf_raise_for_status`: EntryNotFound, RepoNotFound, GatedRepo), and for a file its
    `X-Repo-Commit` and `ETag` headers (file_download.py, `get_hf_file_metadata` / `_get_metadata_or_catch_error`)."""

    def do_HEAD(self):
        self._answer(with_body=False)

    def do_GET(self):
        self._answer(with_body=True)

    def _answer(self, with_body):
        self.server.paths.append(self.path)
        status, error_code, card = self.server.answer
        body = card.encode() if card else b""
        self.send_response(status)
        if error_code:
            self.send_header("X-Error-Code", error_code)
        if card:
            self.send_header("X-Repo-Commit", "1" * 40)
            self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_hub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHubFiles)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _publish_with_hub(endpoint: str, tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    """`cursorcore eval publish` to the Hub model someone/some-model, the client pointed at `endpoint`."""
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_run("APEval", 40.0, 35.0)))
    env = {name: value for name, value in os.environ.items() if name not in ("HF_HUB_OFFLINE", "HF_TOKEN")}
    env |= {"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_ETAG_TIMEOUT": "5"}
    command = [str(CLI), "eval", "publish", str(results), "--repo", "someone/some-model", *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("dry_run", [True, False])
def test_an_unreachable_hub_stops_publishing(dry_run, tmp_path):
    with socket.socket() as closed:  # bound, never listening: connections to it are refused
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
        done = _publish_with_hub(endpoint, tmp_path, *(["--dry-run"] if dry_run else []))
    assert done.returncode == 1
    assert "error: cannot read the card of someone/some-model" in done.stderr
    assert "nothing was published" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""  # no template card


@pytest.mark.parametrize(
    ("status", "error_code"), [(500, None), (503, None), (403, "GatedRepo"), (401, None), (404, None)]
)
def test_any_answer_but_no_card_stops_publishing(status, error_code, fake_hub, tmp_path):
    fake_hub.answer = (status, error_code, None)
    done = _publish_with_hub(f"http://127.0.0.1:{fake_hub.server_port}", tmp_path, "--dry-run")
    assert "/someone/some-model/resolve/main/README.md" in fake_hub.paths
    assert done.returncode == 1 and "cannot read the card of someone/some-model" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("error_code", ["EntryNotFound", "RepoNotFound"])
def test_only_a_confirmed_missing_card_starts_from_the_template(error_code, fake_hub, tmp_path):
    fake_hub.answer = (404, error_code, None)
    done = _publish_with_hub(f"http://127.0.0.1:{fake_hub.server_port}", tmp_path, "--dry-run")
    assert done.returncode == 0, done.stderr
    card = ModelCard(done.stdout)
    assert card.data.model_name == "some-model"  # the repo's name
    assert card.data.eval_results and SECTION_START in card.text


def test_a_card_on_the_hub_is_merged_into(fake_hub, tmp_path):
    fake_hub.answer = (200, None, EXISTING_CARD)
    done = _publish_with_hub(f"http://127.0.0.1:{fake_hub.server_port}", tmp_path, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "Words written by people, which stay." in done.stdout
    results = _results(done.stdout)
    assert results[("HumanEval", None, "pass@1", None)] == 12.3
    assert results[("APEval", None, "pass@1 (plus)", "wf")] == 35.0
    assert not (tmp_path / "hf-home" / "hub").exists()  # read afresh, never kept in the user's cache


@pytest.mark.hub
@pytest.mark.skipif(not os.environ.get("HF_TOKEN"), reason="HF_TOKEN is not set")
def test_publishing_to_a_real_hub_repo(monkeypatch):
    from huggingface_hub import HfApi

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    api = HfApi(token=os.environ["HF_TOKEN"])
    repo = f"{api.whoami()['name']}/cursorcore-eval-test-{uuid.uuid4().hex[:8]}"
    api.create_repo(repo, private=True)
    try:
        ModelCard(EXISTING_CARD).push_to_hub(repo, token=os.environ["HF_TOKEN"])
        publish(repo, [_run("APEval", 40.0, 35.0)], token=os.environ["HF_TOKEN"])
        card = ModelCard.load(repo, token=os.environ["HF_TOKEN"])
        assert _results(str(card))[("APEval", None, "pass@1 (plus)", "wf")] == 35.0
        assert "Words written by people, which stay." in card.text
    finally:
        api.delete_repo(repo)
