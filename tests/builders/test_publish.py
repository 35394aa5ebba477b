"""Publishing a built version: everything up to the Hub call offline; the real push when HF_TOKEN is set."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from cursorcore.apps.cli import main
from cursorcore.builders.oj_trajectories import Config, build
from cursorcore.builders.publish import plan_push, push


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    build(Config(), hub=root)
    build(Config(tasks=2), hub=root)
    return root


def test_plan_lists_the_version_files_without_git(hub):
    plan = plan_push("oj-trajectories", hub=hub)
    assert (plan.repo_id, plan.version) == ("cursorcore/oj-trajectories", "v0.1.1")
    paths = [path for path, _ in plan.files]
    assert "README.md" in paths and "manifest.json" in paths
    assert any(p.startswith("data/default/train-") and p.endswith(".parquet") for p in paths)
    assert not any(".git" in p.split("/") for p in paths)
    older = plan_push("cursorcore/oj-trajectories", hub=hub, version="v0.1.0")
    assert older.version == "v0.1.0" and older.folder != plan.folder


def test_dry_run_prints_the_operations_and_sends_nothing(hub, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["push", "oj-trajectories", "--hub", str(hub), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "create dataset repo cursorcore/oj-trajectories" in out
    assert "in one commit 'cursorcore/oj-trajectories v0.1.1'" in out and "tag that commit v0.1.1" in out
    assert "dry run: nothing was sent" in out


def test_make_publish_uses_the_hub_folder_it_is_given(hub):
    """`make publish HUB=...` (the environment taken as installed: `-o install`)."""
    repo = Path(__file__).resolve().parents[2]
    command = ["make", "-s", "-C", str(repo), "-o", "install", "publish", "DATASET=oj-trajectories", "DRY_RUN=1"]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "VENV": str(Path(sys.executable).parents[1])}
    done = subprocess.run([*command, f"HUB={hub}"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert f"{hub}/datasets/cursorcore/oj-trajectories" in done.stdout and "dry run: nothing was sent" in done.stdout


def test_pushing_an_unbuilt_dataset_says_what_to_do(tmp_path, capsys):
    assert main(["push", "programming-instruct", "--hub", str(tmp_path), "--dry-run"]) == 2
    assert "run `cursorcore build` first" in capsys.readouterr().err


@pytest.mark.hub
@pytest.mark.skipif(not os.environ.get("HF_TOKEN"), reason="needs HF_TOKEN (and a namespace in CURSORCORE_TEST_ORG)")
def test_real_push_creates_a_tagged_commit(hub, tmp_path):
    from huggingface_hub import HfApi

    org = os.environ.get("CURSORCORE_TEST_ORG") or HfApi().whoami()["name"]
    plan = plan_push("oj-trajectories", hub=hub)
    plan = type(plan)(f"{org}/cursorcore-test-{uuid.uuid4().hex[:8]}", plan.version, plan.folder, plan.files)
    try:
        assert push(plan, private=True).startswith("https://")
        refs = HfApi().list_repo_refs(plan.repo_id, repo_type="dataset")
        assert plan.version in [tag.name for tag in refs.tags]
    finally:
        HfApi().delete_repo(plan.repo_id, repo_type="dataset", missing_ok=True)
