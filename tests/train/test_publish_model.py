"""Publishing a trained model: the card filled from the run, everything up to the Hub call offline; the real push when
HF_TOKEN is set."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from cursorcore.apps import publish_model, train

EVALS = [
    {"dataset": "TechxGenus/APEval", "name": "APEval", "metric": "pass@1", "label": "base", "value": 55.5},
    {"dataset": "TechxGenus/APEval", "name": "APEval", "metric": "pass@1", "label": "plus", "value": 51.8},
]


def fake_run(root: Path, name: str) -> Path:
    """A run folder as `make train` leaves it: resolved config, run record, a saved (tiny, real) model, a checkpoint
    with the trainer state, and the training log."""
    from transformers import LlamaConfig, LlamaForCausalLM

    run_dir = train.resolve_config(name, root / "run").parent
    model = run_dir / "model"
    config = LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2
    )
    LlamaForCausalLM(config).save_pretrained(model)
    checkpoint = model / "checkpoint-6"
    checkpoint.mkdir()
    history = [{"step": step, "loss": 3.0 - step / 10} for step in range(1, 7)]
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 6, "log_history": history}))
    (checkpoint / "optimizer.pt").write_bytes(b"state")
    (model / "debug.log").write_text("training log\n")
    return run_dir


@pytest.fixture
def evals_file(tmp_path) -> Path:
    path = tmp_path / "evals.json"
    path.write_text(json.dumps(EVALS))
    return path


def test_card_is_filled_from_the_run(tmp_path, evals_file):
    run_dir = fake_run(tmp_path, "qwen2.5-coder-7b")
    evals = publish_model.load_evals(evals_file)
    params = publish_model.ModelCardParams.from_run(run_dir, "org/CursorCore-QW2.5-7B", "v1.2.0", "apache-2.0", evals)
    assert (params.base_model, params.dataset, params.dataset_config) == (
        "Qwen/Qwen2.5-Coder-7B",
        "cursorcore/programming-instruct",
        "wf",
    )
    assert params.hyperparameters["learning_rate"] == 5e-5 and params.hyperparameters["num_epochs"] == 2
    assert (params.steps, params.last_loss) == (6, 2.4)

    card = ModelCard(str(publish_model.render_card(params)))  # what the Hub parses back
    assert card.data.base_model == "Qwen/Qwen2.5-Coder-7B" and card.data.license == "apache-2.0"
    assert card.data.datasets == ["cursorcore/programming-instruct"]
    assert [(r.metric_name, r.metric_value) for r in card.data.eval_results] == [
        ("pass@1 (base)", 55.5),
        ("pass@1 (plus)", 51.8),
    ]
    text = card.text
    assert "version\n**v1.2.0**" in text and "whole-file (WF)" in text
    assert "make train MODEL=qwen2.5-coder-7b/wf" in text
    assert "| learning_rate | 5e-05 |" in text and "| APEval | pass@1 (plus) | 51.8 |" in text
    assert "Trained for 6 optimizer steps; last logged training loss 2.4000." in text


def test_card_without_results_or_hub_base_model(tmp_path):
    params = publish_model.ModelCardParams.from_run(fake_run(tmp_path, "tiny-cpu"), "org/tiny", "v0", "apache-2.0")
    card = ModelCard(str(publish_model.render_card(params)))
    assert card.data.base_model is None and not card.data.eval_results  # a local folder is no Hub base model
    assert "No evaluation results yet" in card.text and "(built locally)" in card.text


class RecordingApi:
    """Stands in for HfApi at the network boundary."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def create_repo(self, *args, **kwargs):
        self.calls.append(("create_repo", args, kwargs))

    def upload_folder(self, *args, **kwargs):
        self.calls.append(("upload_folder", args, kwargs))
        return "https://huggingface.co/org/CursorCore-DS-1.3B-SR/commit/0"


def test_upload_sends_the_model_and_its_card_but_no_training_leftovers(tmp_path):
    run_dir = fake_run(tmp_path, "deepseek-coder-1.3b/sr")
    params = publish_model.ModelCardParams.from_run(run_dir, "org/CursorCore-DS-1.3B-SR", "v1.0.0", "other")
    upload = publish_model.prepare_upload(run_dir / "model", params)
    assert "README.md" in upload.files and "model.safetensors" in upload.files and "config.json" in upload.files
    assert not [f for f in upload.files if f.startswith("checkpoint-") or f == "debug.log"]
    assert "search-and-replace (SR)" in (run_dir / "model/README.md").read_text()

    api = RecordingApi()
    assert publish_model.push(upload, api=api).endswith("/commit/0")
    (create, _, create_kwargs), (upload_call, _, upload_kwargs) = api.calls
    assert create == "create_repo" and create_kwargs == {"repo_type": "model", "private": True, "exist_ok": True}
    assert upload_call == "upload_folder" and upload_kwargs["folder_path"] == run_dir / "model"
    assert upload_kwargs["ignore_patterns"] == publish_model.NOT_UPLOADED


def test_dry_run_cli_writes_the_card_and_lists_the_files(tmp_path, evals_file, capsys):
    run_dir = fake_run(tmp_path, "yi-coder-9b")
    argv = [str(run_dir), "--repo-id", "org/CursorCore-Yi-9B", "--data-version", "v1.0.0", "--license", "apache-2.0"]
    assert publish_model.main([*argv, "--evals", str(evals_file), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "org/CursorCore-Yi-9B (private)" in out and "model.safetensors" in out and "pushed" not in out
    assert ModelCard.load(run_dir / "model/README.md").data.base_model == "01-ai/Yi-Coder-9B"


@pytest.mark.hub
@pytest.mark.skipif(not os.environ.get("HF_TOKEN"), reason="needs HF_TOKEN (and a namespace in CURSORCORE_TEST_ORG)")
def test_real_push_uploads_the_model_with_its_card(tmp_path):
    run_dir = fake_run(tmp_path, "qwen2.5-coder-1.5b/lc")
    # the suite runs with HF_HUB_OFFLINE=1, which huggingface_hub reads at import: push from a process without it
    script = f"""
import os
from pathlib import Path
from huggingface_hub import HfApi
from cursorcore.apps import publish_model
api = HfApi()
org = os.environ.get("CURSORCORE_TEST_ORG") or api.whoami()["name"]
repo_id = org + "/cursorcore-model-test-{uuid.uuid4().hex[:8]}"
run_dir = Path({str(run_dir)!r})
params = publish_model.ModelCardParams.from_run(run_dir, repo_id, "v0.0.0-test", "apache-2.0")
try:
    print(publish_model.push(publish_model.prepare_upload(run_dir / "model", params), api=api))
    files = api.list_repo_files(repo_id)
    assert "README.md" in files and "model.safetensors" in files, files
    assert not [f for f in files if f.startswith("checkpoint-")], files
finally:
    api.delete_repo(repo_id, missing_ok=True)
"""
    env = {key: value for key, value in os.environ.items() if key != "HF_HUB_OFFLINE"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().startswith("https://")
