"""Builds on datatrove's three executors: the same rows on this machine, a real single-node Slurm cluster and a local
Ray instance; Slurm builds submitted once (stages chained), waited for or detached and collected by the same
command; every task of a sharded stage given rows; one `executor:` section in every builder's YAML and on the CLI."""

import json
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cursorcore.apps.cli import main
from cursorcore.builders import BUILDERS, BuildReport, get_builder
from cursorcore.builders import oj_trajectories as oj
from cursorcore.builders import stack_seeds as seeds
from cursorcore.builders.executors import BuildSubmitted, ExecutorConfig, SubmittedJobs
from cursorcore.builders.llm_budget import task_llm
from cursorcore.builders.runner import build_workdir
from cursorcore.builders.shards import reshard
from cursorcore.processing.llm import LLMConfig
from tests.builders.conftest import ACTIVATE


def rows(report: BuildReport) -> list[dict]:
    """The released rows as `datasets` loads them (with a cache of its own), sorted by id."""
    with tempfile.TemporaryDirectory() as cache:
        dataset = datasets.load_dataset(str(report.folder), split="train", cache_dir=cache)
        return sorted(dataset.to_list(), key=lambda row: row["id"])


# ------------------------------------------------------------------ sharding


@settings(max_examples=40, deadline=None)
@given(files=st.lists(st.integers(0, 9), min_size=1, max_size=4), shards=st.integers(1, 12))
def test_resharding_keeps_every_row_in_order_and_gives_every_reader_a_file(files, shards):
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "staged", Path(tmp) / "released"
        (source / "default").mkdir(parents=True)
        expected, start = [], 0
        for index, count in enumerate(files):
            values = list(range(start, start + count))
            table = pa.table({"n": pa.array(values, pa.int64())})
            pq.write_table(table, source / "default" / f"train-{index:05d}.parquet")
            expected += values
            start += count
        reshard(source, target, shards)
        written = sorted((target / "default").glob("*.parquet"))
        assert [n for path in written for n in pq.read_table(path)["n"].to_pylist()] == expected
        assert len(written) >= min(shards, len(expected))
        assert len(written) == max(len(files), min(shards, len(expected)))
        reshard(source, target, shards)  # rebuilt from the staged files, never cut twice
        assert sorted((target / "default").glob("*.parquet")) == written


def test_every_sharded_stage_of_stack_seeds_gives_every_task_rows(tmp_path):
    config = seeds.Config(tasks=8, typecheck=False, executor=ExecutorConfig(shards=8))
    report = seeds.build(config, hub=tmp_path)
    assert set(report.rows_per_task) == {"extract", "dedup"}  # buckets and cluster read signature files, not rows
    for stage, counts in report.rows_per_task.items():
        assert len(counts) == 8 and min(counts) > 0, (stage, counts)
    released = sorted((report.folder / "data" / "default").glob("*.parquet"))
    assert len(released) >= 8 and all(pq.read_metadata(path).num_rows for path in released)
    manifest = json.loads((report.folder / "manifest.json").read_text())
    assert manifest["rows_per_task"] == report.rows_per_task


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_builder_reads_the_same_executor_section(name, tmp_path):
    builder = get_builder(name)
    path = tmp_path / "config.yaml"
    path.write_text("executor:\n  kind: slurm\n  partition: cpu\n  venv_path: /shared/venv/bin/activate\n")
    config = builder.Config.from_yaml(path)
    assert config.executor == ExecutorConfig(kind="slurm", partition="cpu", venv_path="/shared/venv/bin/activate")
    path.write_text("executor:\n  kind: slurm\n  partiton: cpu\n")
    with pytest.raises(ValueError, match="executor: unknown keys partiton"):
        builder.Config.from_yaml(path)
    path.write_text("executor:\n  kind: kubernetes\n")
    with pytest.raises(ValueError, match=r"executor\.kind must be one of local, slurm, ray"):
        builder.Config.from_yaml(path)


def test_where_a_build_runs_is_not_part_of_its_identity(tmp_path):
    local, slurm = oj.Config(), oj.Config(executor=ExecutorConfig(kind="slurm", partition="cpu"))
    assert build_workdir(oj.REPO_ID, local, tmp_path) == build_workdir(oj.REPO_ID, slurm, tmp_path)
    assert build_workdir(oj.REPO_ID, local, tmp_path) != build_workdir(oj.REPO_ID, oj.Config(tasks=2), tmp_path)


def test_executor_settings_that_cannot_work_are_refused():
    with pytest.raises(ValueError, match="env_command or venv_path"):
        ExecutorConfig(kind="slurm", env_command="module load python", venv_path="/venv/bin/activate")
    with pytest.raises(ValueError, match="detach needs kind slurm"):
        ExecutorConfig(kind="ray", detach=True)


def test_one_llm_budget_is_shared_by_the_tasks_running_at_once(tmp_path):
    endpoint = LLMConfig(backend="endpoint", endpoint_url="http://127.0.0.1:1", max_concurrency=16)
    slurm = ExecutorConfig(kind="slurm")
    per_task = task_llm(endpoint, 512, slurm, tasks=32, workers=None, work=tmp_path)
    assert per_task.max_concurrency == 16 and per_task.cache_path == str(tmp_path / "llm-cache" / "{rank:05d}.sqlite")
    assert task_llm(endpoint, 512, replace(slurm, workers=4), 32, None, tmp_path).max_concurrency == 128
    assert task_llm(endpoint, 64, ExecutorConfig(), 8, 2, tmp_path).max_concurrency == 32  # --workers 2
    assert task_llm(endpoint, 4, slurm, 8, None, tmp_path).max_concurrency == 1
    spawned = LLMConfig(backend="local", max_concurrency=8)  # a server per task: each keeps the whole budget
    assert task_llm(spawned, 8, slurm, 8, None, tmp_path).max_concurrency == 8
    with pytest.raises(ValueError, match=r"put \{rank\} in it"):
        task_llm(replace(endpoint, cache_path="/shared/llm.sqlite"), 64, slurm, 8, None, tmp_path)


# ------------------------------------------------------------------ Ray


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")
def test_ray_gives_the_same_rows_as_the_local_executor(ray_executor, tmp_path):
    local = oj.build(oj.Config(tasks=3), hub=tmp_path / "local")
    on_ray = oj.build(oj.Config(tasks=3, executor=ray_executor), hub=tmp_path / "ray")
    assert rows(on_ray) == rows(local) and on_ray.rows == local.rows
    assert json.dumps(on_ray.stats, sort_keys=True) == json.dumps(local.stats, sort_keys=True)
    assert on_ray.rows_per_task == local.rows_per_task


def fail_on_rank_one(data, rank: int = 0, world_size: int = 1):
    if rank == 1:
        raise RuntimeError("broken task")
    yield from data or []


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")
def test_a_failed_ray_task_fails_the_build(ray_executor, tmp_path, monkeypatch):
    monkeypatch.setattr(oj, "pipeline", lambda config, pipeline=oj.pipeline: [*pipeline(config), fail_on_rank_one])
    with pytest.raises(RuntimeError, match=r"Ray tasks \[1\] did not complete"):
        oj.build(oj.Config(tasks=2, executor=ray_executor), hub=tmp_path)


def test_ray_tasks_never_ask_for_more_cpus_than_the_cluster_has(ray_executor, tmp_path):
    with pytest.raises(ValueError, match="the Ray cluster has 2 CPUs"):
        oj.build(oj.Config(executor=replace(ray_executor, cpus_per_task=3)), hub=tmp_path)


# ------------------------------------------------------------------ Slurm


@pytest.mark.slurm
def test_slurm_gives_the_same_rows_as_the_local_executor(slurm_executor, tmp_path):
    local = oj.build(oj.Config(tasks=3), hub=tmp_path / "local")
    on_slurm = oj.build(oj.Config(tasks=3, executor=slurm_executor), hub=tmp_path / "slurm")
    assert rows(on_slurm) == rows(local) and on_slurm.rows == local.rows
    assert json.dumps(on_slurm.stats, sort_keys=True) == json.dumps(local.stats, sort_keys=True)
    assert on_slurm.rows_per_task == local.rows_per_task and sum(on_slurm.rows_per_task["main"]) > 0
    logs = build_workdir(oj.REPO_ID, oj.Config(tasks=3), tmp_path / "slurm") / "logs"
    script = (logs / "default-main" / "launch_script.slurm").read_text()
    assert "#SBATCH --array=0-2" in script and "#SBATCH --job-name=oj-trajectories-main" in script
    assert "--partition" not in script  # left empty: the cluster's default partition
    assert f"source {ACTIVATE}" in script
    assert set(SubmittedJobs(logs / "slurm-jobs.json").read()) == {"main"}


@pytest.mark.slurm
def test_a_multi_stage_build_is_submitted_once_and_a_detached_one_is_collected_by_rerunning(slurm_executor, tmp_path):
    config = seeds.Config(tasks=2, typecheck=False, executor=replace(slurm_executor, detach=True))
    with pytest.raises(BuildSubmitted, match="run the same `cursorcore build` command again without --detach"):
        seeds.build(config, hub=tmp_path)
    jobs_file = SubmittedJobs(build_workdir(seeds.REPO_ID, config, tmp_path) / "logs" / "slurm-jobs.json")
    jobs = jobs_file.read()
    assert list(jobs) == ["extract", "buckets", "cluster", "dedup"] and len(set(jobs.values())) == 4
    logs = jobs_file.path.parent
    for stage, before in [("buckets", "extract"), ("cluster", "buckets"), ("dedup", "cluster")]:
        submitted = json.loads((logs / f"default-{stage}" / "executor.json").read_text())
        assert submitted["depends_job_id"] == jobs[before]  # sbatch --dependency=afterok:<the stage before>
    with pytest.raises(BuildSubmitted):  # still queued: a second detached run submits nothing new
        seeds.build(config, hub=tmp_path)
    assert jobs_file.read() == jobs
    report = seeds.build(replace(config, executor=slurm_executor), hub=tmp_path)  # waits for those jobs, releases
    assert jobs_file.read() == jobs and report.version == "v0.1.0" and report.rows["train"] > 0
    local = seeds.build(replace(config, executor=ExecutorConfig()), hub=tmp_path / "local")
    assert rows(report) == rows(local)


@pytest.mark.slurm
def test_cli_executor_option_overrides_the_config(slurm_executor, tmp_path, capsys):
    path = tmp_path / "oj.yaml"
    path.write_text(f"tasks: 2\nexecutor:\n  kind: local\n  venv_path: {ACTIVATE}\n  poll_seconds: 1\n")
    args = ["build", "oj-trajectories", "--config", str(path), "--hub", str(tmp_path / "hub")]
    assert main([*args, "--executor", "slurm", "--detach"]) == 0
    assert "without --detach" in capsys.readouterr().out
    assert main([*args, "--executor", "slurm"]) == 0
    assert "oj-trajectories v0.1.0" in capsys.readouterr().out
    logs = build_workdir(oj.REPO_ID, oj.Config.from_yaml(path), tmp_path / "hub") / "logs"
    assert (logs / "default-main" / "launch_script.slurm").is_file()


@pytest.mark.slurm
def test_a_failed_slurm_task_fails_the_build_and_a_rerun_resubmits_it(slurm_executor, tmp_path, monkeypatch):
    broken = tmp_path / "broken"
    monkeypatch.setenv("CURSORCORE_TEST_FAIL_MARKER", str(broken))
    broken.write_text("")
    source = tmp_path / "source"
    subprocess.run(["cp", "-r", oj.DEFAULT_SOURCE, source], check=True)
    config = oj.Config(source=str(source), tasks=2, executor=slurm_executor)
    env_path = tmp_path / "activate"  # the job fails while the marker exists, the way a node might
    env_path.write_text(f'source {ACTIVATE}\n[ -e "$CURSORCORE_TEST_FAIL_MARKER" ] && exit 3\n')
    failing = replace(config, executor=replace(slurm_executor, venv_path=str(env_path)))
    with pytest.raises(RuntimeError, match=r"stage 'main': 2 of 2 Slurm tasks did not finish"):
        oj.build(failing, hub=tmp_path / "hub")
    broken.unlink()
    report = oj.build(failing, hub=tmp_path / "hub")
    local = oj.build(replace(config, executor=ExecutorConfig()), hub=tmp_path / "local")
    assert report.version == "v0.1.0" and rows(report) == rows(local)
