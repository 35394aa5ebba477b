"""`cursorcore build commit-trajectories` end to end: real repositories in temporary folders, output read back with
`datasets.load_dataset`, a killed build resumed, workers and executors (local, Ray, Slurm without Slurm) compared."""

import json
import math
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


def full_scale(hub_twin: ct.HubSource, **executor) -> ct.Config:
    """The shipped full-scale config with the Hub datasets swapped for a local twin (no network here)."""
    full = ct.Config.from_yaml(FULL_CONFIG)
    return replace(full, hub_datasets=[hub_twin], tasks=4, executor=replace(full.executor, **executor))


def test_slurm_submission_script_and_array_tasks(hub_twin, tmp_path, monkeypatch):
    """Slurm without Slurm: the sbatch call is intercepted, then each array task runs as Slurm would start it."""
    import datatrove.executor.slurm as slurm

    submitted = []
    monkeypatch.setattr(
        slurm, "launch_slurm_job", lambda script, retriever, *args: submitted.append((script, args)) or "42"
    )
    config = full_scale(hub_twin, tasks_per_job=3, venv_path=str(Path(sys.executable).parent / "activate"))
    report = ct.build(config, hub=tmp_path / "hub")
    assert (report.rows, report.version) == ({"train": 0}, "")  # submitted, nothing ran yet: nothing released
    (script, args), (merge_stats, _) = submitted
    array = math.ceil(config.tasks / config.executor.tasks_per_job)
    assert script.startswith("#!/bin/bash\n")
    assert {line for line in script.splitlines() if line.startswith("#SBATCH")} >= {
        f"#SBATCH --array=0-{array - 1}",
        "#SBATCH --partition=cpu",
        "#SBATCH --time=12:00:00",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --mem-per-cpu=4G",
        "#SBATCH --job-name=commit-trajectories",
    }
    assert f"source {config.executor.venv_path}" in script
    (pickled,) = (tmp_path / "hub").glob("**/executor.pik")  # the pipeline, as the array tasks load it
    logs = pickled.parent
    assert f"srun  -l -n 1 launch_pickled_pipeline {logs / 'executor.pik'}" in script
    assert (logs / "launch_script.slurm").read_text() == script
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    assert "afterok:42" in merge_stats and args == ("--export=ALL,RUN_OFFSET=0",)
    fake_slurm = tmp_path / "bin"  # the array task asks `scontrol` for its nodes
    fake_slurm.mkdir()
    (fake_slurm / "scontrol").write_text("#!/bin/sh\necho node01\n")
    (fake_slurm / "scontrol").chmod(0o755)
    for task in range(array):  # what srun runs in each array task
        env = {
            **os.environ,
            "PATH": f"{fake_slurm}:{os.environ['PATH']}",
            "SLURM_ARRAY_TASK_ID": str(task),
            "SLURM_NODELIST": "node01",
            "HF_HUB_OFFLINE": "1",
        }
        launched = subprocess.run(
            [Path(sys.executable).parent / "launch_pickled_pipeline", logs / "executor.pik"], env=env
        )
        assert launched.returncode == 0
    submitted.clear()
    report = ct.build(config, hub=tmp_path / "hub")  # after the array: collects, resubmits nothing
    assert submitted == [] and report.rows == {"train": 5}  # the full-scale limits keep d.py and e.py
    assert report.version == "v0.1.0" and (report.folder / "README.md").is_file()
    local = ct.build(replace(config, executor=ct.ExecutorConfig()), hub=tmp_path / "local")
    assert rows(report) == rows(local) and local.rows == report.rows


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance for the Ray tests (starting one costs seconds)."""
    ray = pytest.importorskip("ray", reason="the Ray tests need the `ray` extra: pip install -e '.[ray]'")
    ct.start_ray(RAY)
    yield
    ray.shutdown()


RAY = ct.ExecutorConfig(kind="ray", address="local", num_cpus=2, workers=2, tasks_per_job=2, mem_per_cpu_gb=0.5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")
def test_ray_executor_gives_the_same_rows_as_the_local_one(repo, hub_twin, ray_session, tmp_path):
    config = ct.Config(repos=[str(repo[0])], hub_datasets=[hub_twin], **LIMITS)
    ray_report = ct.build(replace(config, executor=RAY), hub=tmp_path / "ray")
    local_report = ct.build(config, hub=tmp_path / "local")
    assert rows(ray_report) == rows(local_report)
    assert ray_report.rows == local_report.rows == {"train": 11}
    assert json.dumps(ray_report.stats, sort_keys=True) == json.dumps(local_report.stats, sort_keys=True)


def fail_on_rank_one(data, rank: int = 0, world_size: int = 1):
    if rank == 1:
        raise RuntimeError("broken task")
    yield from data or []


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")
def test_a_failed_ray_task_fails_the_build(repo, ray_session, tmp_path):
    steps = [*ct.pipeline(ct.Config(repos=[str(repo[0])], **LIMITS)), fail_on_rank_one]
    with pytest.raises(RuntimeError, match=r"Ray tasks \[1\] did not complete"):
        ct.launch(RAY, steps, tmp_path / "out", tmp_path / "logs", tasks=4)


def test_ray_tasks_never_ask_for_more_cpus_than_the_cluster_has(ray_session, tmp_path):
    with pytest.raises(ValueError, match="the Ray cluster has 2 CPUs"):
        ct.make_executor(replace(RAY, cpus_per_task=3), [], str(tmp_path), tasks=1)
