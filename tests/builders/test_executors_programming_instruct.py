"""`programming-instruct` on every executor, its input datasets included, with the session's SmolLM2 server: the
same rows on this machine, a real single-node Slurm cluster and Ray; every synthesis task given rows; a Slurm job
cancelled mid-synthesis and the build rerun, with the same rows and no request the cache had answered sent again."""

import dataclasses
import json
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import datasets
import pytest

from cursorcore.builders import programming_instruct as pi
from cursorcore.builders.executors import BuildSubmitted, ExecutorConfig, SubmittedJobs

# Two kinds with their two input datasets (stack-seeds from the embedded seed files, oj-trajectories' sample), with
# answers cut short: what is compared is where the build ran, not what the model wrote (rejected rows count too)
SHORT = {"max_attempts": 1, "instruction_max_tokens": 24, "judge_max_tokens": 24, "chat_max_tokens": 24}
SMALL = {
    "kinds": ["oj", "aiprogrammer"],
    "inputs_per_kind": {"oj": 1, "aiprogrammer": 2},
    "synthesis_tasks": 2,
    "synthesis": {
        "oj": SHORT,
        "aiprogrammer": {**pi.DEFAULT_SYNTHESIS["aiprogrammer"], **SHORT, "aiprogrammer_max_tokens": 96},
    },
}


def small_config(llm_server, cache: Path, executor: ExecutorConfig, **overrides) -> pi.Config:
    llm = dataclasses.asdict(llm_server.endpoint_config(cache_path=str(cache / "{rank:05d}.sqlite")))
    return pi.Config(**{**SMALL, **overrides}, llm=llm, executor=executor)


def all_rows(report) -> dict[str, list[dict]]:
    """Every config's rows, both splits, sorted by id, as `datasets` loads them (with a cache of its own)."""
    configs = sorted(path.name for path in (report.folder / "data").iterdir())
    with tempfile.TemporaryDirectory() as cache:
        loaded = {name: datasets.load_dataset(str(report.folder), name, cache_dir=cache) for name in configs}
        return {
            name: sorted((row for split in dataset.values() for row in split.to_list()), key=lambda row: row["id"])
            for name, dataset in loaded.items()
        }


@pytest.fixture(scope="module")
def local_build(llm_server, tmp_path_factory):
    """The reference: a local build, whose request cache the other executors' builds then answer from."""
    cache = tmp_path_factory.mktemp("llm-cache")
    report = pi.build(small_config(llm_server, cache, ExecutorConfig()), hub=tmp_path_factory.mktemp("hub-local"))
    return cache, report, all_rows(report)


@pytest.mark.slurm
def test_slurm_builds_the_same_rows_inputs_included(llm_server, local_build, slurm_executor, tmp_path):
    cache, local, expected = local_build
    assert sum(map(len, expected.values())) >= 4, "the small config gave too few rows to compare"
    report = pi.build(small_config(llm_server, cache, slurm_executor), hub=tmp_path)
    assert all_rows(report) == expected and report.rows == local.rows
    for name in ("stack-seeds", "oj-trajectories"):  # the inputs were built on Slurm too
        (logs,) = (tmp_path / ".work" / "cursorcore" / name).glob("*/logs")
        assert set(SubmittedJobs(logs / "slurm-jobs.json").read()), name


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")
def test_ray_builds_the_same_rows_inputs_included(llm_server, local_build, ray_executor, tmp_path):
    cache, local, expected = local_build
    report = pi.build(small_config(llm_server, cache, ray_executor), hub=tmp_path)
    assert all_rows(report) == expected and report.rows == local.rows
    assert report.rows_per_task == local.rows_per_task


def test_eight_synthesis_tasks_all_get_input_rows(llm_server, tmp_path):
    config = small_config(
        llm_server,
        tmp_path / "cache",
        ExecutorConfig(),
        kinds=["aiprogrammer"],
        inputs_per_kind={"aiprogrammer": 1},
        synthesis_tasks=8,
    )
    report = pi.build(config, hub=tmp_path, workers=2)
    seeds = pi.dataset_folder("cursorcore/stack-seeds", tmp_path)
    assert len(list((seeds / "data" / "default").glob("*.parquet"))) >= 8  # at least 8 rows, so 8 files
    counts = report.rows_per_task["synthesis-aiprogrammer"]
    assert len(counts) == 8 and min(counts) >= 1, counts
    manifest = json.loads((report.folder / "manifest.json").read_text())
    assert manifest["rows_per_task"]["synthesis-aiprogrammer"] == counts


def _answered(cache: Path) -> dict[str, float]:
    """Every cached request's key and when its answer was stored (a request sent again would be stored again)."""
    answered = {}
    for path in cache.glob("*.sqlite"):
        with sqlite3.connect(path) as db:
            answered |= dict(db.execute("SELECT key, created FROM calls"))
    return answered


@pytest.mark.slurm
def test_a_slurm_job_cancelled_mid_synthesis_resumes_without_asking_again(
    llm_server, local_build, slurm_executor, tmp_path
):
    _, _, expected = local_build
    cache = tmp_path / "cache"  # its own cache: this build pays for its requests
    config = small_config(llm_server, cache, slurm_executor)
    for name in ("stack-seeds", "oj-trajectories"):
        pi.ensure_input(name, config, tmp_path, None)
    detached = dataclasses.replace(config, executor=dataclasses.replace(slurm_executor, detach=True))
    with pytest.raises(BuildSubmitted):
        pi.build(detached, hub=tmp_path)
    (jobs_file,) = (tmp_path / ".work" / pi.REPO_ID).glob("*/logs/slurm-jobs.json")  # the assembly's work folder
    jobs = SubmittedJobs(jobs_file).read()
    (synthesis,) = (tmp_path / ".work" / pi.REPO_ID / "synthesis").glob("aiprogrammer-*/logs")  # its own folder
    deadline = time.monotonic() + 600
    while not _answered(cache) or not any(synthesis.glob("progress/0*")):  # answers stored, aiprogrammer started
        assert time.monotonic() < deadline, "synthesis did not start within 10 minutes"
        time.sleep(0.5)
    job = jobs["synthesis-aiprogrammer"]
    subprocess.run(["scancel", job], check=True)
    while subprocess.run(["squeue", "--noheader", "--jobs", job], capture_output=True).stdout:
        time.sleep(0.5)
    completed = len(list((synthesis / "completions").glob("*"))) if (synthesis / "completions").is_dir() else 0
    assert completed < config.synthesis_tasks, "the cancel came too late to interrupt the synthesis"
    before = _answered(cache)
    report = pi.build(config, hub=tmp_path)  # resubmits what is left (the stages after it never ran) and waits
    assert all_rows(report) == expected
    after = _answered(cache)
    assert {key: after[key] for key in before} == before  # no answered request was sent (and stored) again
    assert SubmittedJobs(jobs_file).read()["synthesis-aiprogrammer"] != job  # resubmitted
