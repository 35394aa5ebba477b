"""`cursorcore build commit-trajectories` end to end: real repositories in temporary folders, output read back with
`datasets.load_dataset`, a killed build resumed, workers compared (Slurm and Ray: tests/builders/test_executors.py)."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from cursorcore.builders import BuildReport
from cursorcore.builders import commit_trajectories as ct
from cursorcore.processing.sources.git_history import GitError
from tests.processing.sources.test_commit_git import CALC, Repo, make_history_repo
from tests.processing.sources.test_commit_steps import HUB_ROWS, KEPT_PATHS

FULL_CONFIG = Path(ct.__file__).parent / "configs" / "commit-trajectories-full.yaml"
LIMITS = {"max_bytes": 2000, "max_changed_lines": 40, "max_versions": 4, "tasks": 4}
MESSAGES = [
    "Add calculator and assets",
    "Second pass — naïve ünïcode",
    "Rename calc to calculator",
    "Merge branch 'feature'",
]
CLI = shutil.which("cursorcore", path=str(Path(sys.executable).parent)) or "cursorcore"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("builder") / "demo"
    return root, make_history_repo(root)


@pytest.fixture(scope="module")
def clean(repo, tmp_path_factory):
    """One uninterrupted local build: the reference every other way of building is compared with."""
    hub = tmp_path_factory.mktemp("hub-clean")
    report = ct.build(ct.Config(repos=[str(repo[0])], **LIMITS), hub=hub)
    return report, rows(report)


def rows(report: BuildReport) -> list[dict]:
    """The built rows as `datasets` loads them from the Hub-layout folder the build wrote (with a cache of its own:
    `datasets` keys local folders by name and file times, so two same-named folders can share a stale cache)."""
    with tempfile.TemporaryDirectory() as cache:
        dataset = datasets.load_dataset(str(report.folder), split="train", cache_dir=cache)
        return sorted(dataset.to_list(), key=lambda row: row["id"])


def test_build_writes_a_loadable_dataset(repo, clean):
    _, shas = repo
    report, loaded = clean
    assert report.rows == {"train": 8}
    assert sorted(row["path"] for row in loaded) == KEPT_PATHS
    (calculator,) = [row for row in loaded if row["path"] == "src/calculator.py"]
    assert calculator == {
        "id": f"demo:src/calculator.py@{shas['c1'][:12]}",
        "source": "commit",
        "repo": "demo",
        "path": "src/calculator.py",
        "language": "python",
        "versions": [
            {"commit": shas[name], "date": date, "message": message, "code": code}
            for name, date, message, code in zip(
                ("c1", "c2", "c3", "merge"),
                [calculator["versions"][i]["date"] for i in range(4)],
                MESSAGES,
                [CALC[0], CALC[1], CALC[2], CALC[5]],
                strict=True,
            )
        ],
        "license": None,
        "provenance": {"kind": "git", "origin": None, "revision": shas["c9"], "renamed_from": ["src/calc.py"]},
    }
    assert all(len(row["versions"]) >= 2 for row in loaded)
    card = (report.folder / "README.md").read_text()  # released with a card that carries the drop counts
    assert report.version == "v0.1.0" and "vendored 4" in card and "huge diff 1" in card
    # the report carries every stage's drop reasons
    dropped = {name for counters in report.stats.values() for name in counters if name.startswith("dropped_")}
    assert {
        "dropped_language",
        "dropped_vendored",
        "dropped_binary",
        "dropped_non_utf8",
        "dropped_generated",
    } <= dropped
    assert {"dropped_too_large", "dropped_whitespace_only", "dropped_huge_diff", "dropped_too_few_versions"} <= dropped


def test_workers_and_task_counts_do_not_change_rows(repo, clean, tmp_path):
    config = ct.Config(repos=[str(repo[0])], **LIMITS)
    assert rows(ct.build(config, hub=tmp_path / "two-workers", workers=2)) == clean[1]
    assert rows(ct.build(replace(config, tasks=1), hub=tmp_path / "one-task")) == clean[1]


KILL_AFTER_FIRST_TASK = """
import os, signal, sys
from cursorcore.builders import commit_trajectories as ct
from cursorcore.processing.sources import commits

window = commits.RecentWindow.run

def run(self, data, rank=0, world_size=1):
    for document in window(self, data, rank, world_size):
        if rank > 0:  # the whole build dies (helpers too) in the middle of the second task that has rows
            os.killpg(0, signal.SIGKILL)
        yield document

commits.RecentWindow.run = run
ct.build(ct.Config(repos=[sys.argv[1]], **{limits}), hub=sys.argv[2])
"""


def test_resume_after_a_killed_build_gives_the_same_rows(repo, clean, tmp_path):
    hub = tmp_path / "hub"
    script = KILL_AFTER_FIRST_TASK.format(limits=LIMITS)
    killed = subprocess.run(
        [sys.executable, "-c", script, str(repo[0]), str(hub)],
        capture_output=True,
        timeout=120,
        start_new_session=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    completions = list(hub.glob("**/completions/*"))
    assert 0 < len(completions) < LIMITS["tasks"]  # some tasks finished, the killed one did not
    report = ct.build(ct.Config(repos=[str(repo[0])], **LIMITS), hub=hub)
    assert rows(report) == clean[1]
    assert report.rows == clean[0].rows and report.stats == clean[0].stats


def test_new_commits_start_a_new_build_instead_of_resuming(tmp_path):
    repository = Repo(tmp_path / "growing")
    for i in range(2):
        repository.commit(f"v{i}", {"a.py": f"a = {i}\n"})
    config = ct.Config(repos=[str(repository.root)], tasks=2)
    assert ct.build(config, hub=tmp_path / "hub").rows == {"train": 1}
    repository.commit("v2", {"a.py": "a = 2\n"})
    (row,) = rows(ct.build(config, hub=tmp_path / "hub"))
    assert [version["code"] for version in row["versions"]] == ["a = 0\n", "a = 1\n", "a = 2\n"]


def test_empty_repositories_are_counted_and_bad_paths_refused(repo, clean, tmp_path):
    Repo(tmp_path / "empty")
    report = ct.build(ct.Config(repos=[str(repo[0]), str(tmp_path / "empty")], **LIMITS), hub=tmp_path / "hub")
    assert rows(report) == clean[1]
    assert report.stats["READER:  Git history"]["dropped_empty_repository"] == 1
    with pytest.raises(GitError, match="not inside a Git repository"):
        ct.build(ct.Config(repos=[str(tmp_path / "nowhere")]), hub=tmp_path / "hub")
    shutil.copytree(repo[0], tmp_path / "copy" / "demo", symlinks=True)
    with pytest.raises(ValueError, match="several repositories are named demo"):
        ct.build(ct.Config(repos=[str(repo[0]), str(tmp_path / "copy" / "demo")]), hub=tmp_path / "hub")


def test_embedded_default_reads_this_projects_repository(tmp_path, monkeypatch):
    project = ct.project_repository()
    assert (project / "builders" / "commit_trajectories.py").is_file()
    monkeypatch.chdir(tmp_path)  # outside any repository: found from the package's location
    assert ct.project_repository() == project
    report = ct.build(ct.Config(), hub=tmp_path / "hub")
    loaded = rows(report)
    assert report.rows["train"] == len(loaded) > 0
    assert all(row["id"].startswith(f"{project.name}:") and len(row["versions"]) >= 2 for row in loaded)
    assert {row["language"] for row in loaded} <= set(ct.Config().languages.values())
    monkeypatch.setattr(ct, "toplevel", lambda path: None)
    with pytest.raises(FileNotFoundError, match="list `repos:` in a config"):
        ct.project_repository()


def test_cli_builds_from_a_yaml_config(repo, clean, tmp_path):
    config = tmp_path / "configs" / "local.yaml"
    config.parent.mkdir()
    relative = os.path.relpath(repo[0], config.parent)  # relative to the YAML file, not to the working directory
    config.write_text(yaml.safe_dump({"repos": [relative], **LIMITS}))
    result = subprocess.run(
        [CLI, "build", "commit-trajectories", "--config", str(config), "--hub", str(tmp_path / "hub")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"train +│ 8 rows", result.stdout) and "vendored 4" in result.stdout
    folder = result.stdout.splitlines()[-1].rpartition(" -> ")[2]  # the last line names the output
    assert rows(BuildReport(ct.REPO_ID, Path(folder), {})) == clean[1]


def test_config_validation(tmp_path):
    full = ct.Config.from_yaml(FULL_CONFIG)
    assert full.repos == [] and full.executor.kind == "slurm"
    assert [hub.name or hub.dataset for hub in full.hub_datasets] == ["bigcode/commitpackft", "nuprl/EditPackFT-Multi"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_bytse: 10\n")
    with pytest.raises(ValueError, match="unknown config keys max_bytse"):
        ct.Config.from_yaml(bad)
    with pytest.raises(ValueError, match="min_versions <= max_versions"):
        ct.Config(max_versions=1)
    with pytest.raises(ValueError, match=r"executor\.kind"):
        ct.Config(executor=ct.ExecutorConfig(kind="kubernetes"))


@pytest.fixture
def hub_twin(tmp_path) -> ct.HubSource:
    path = tmp_path / "editpack" / "train-00000-of-00001.parquet"
    path.parent.mkdir()
    pq.write_table(pa.Table.from_pylist(HUB_ROWS), path)
    return ct.HubSource("parquet", {"data_files": str(path)}, name="nuprl/EditPackFT-Multi")


def test_hub_datasets_and_repositories_in_one_build(repo, clean, hub_twin, tmp_path):
    config = ct.Config(repos=[str(repo[0])], hub_datasets=[hub_twin], **LIMITS)
    report = ct.build(config, hub=tmp_path / "hub")
    loaded = rows(report)
    hub_rows = [row for row in loaded if row["provenance"]["kind"] == "hub"]
    assert sorted(row["path"] for row in hub_rows) == ["cmd/main.go", "pkg/stats.py", "src/New.java"]
    assert [row for row in loaded if row["provenance"]["kind"] == "git"] == clean[1]
    assert report.stats["READER:  Hub commits"]["dropped_broken_row"] == 1
