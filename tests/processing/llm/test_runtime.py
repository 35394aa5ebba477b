"""The rollout runtime: datatrove's InferenceRunner driving rollouts against real llama.cpp servers."""

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dill
import pytest
from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor, SlurmPipelineExecutor
from datatrove.pipeline.readers import JsonlReader

from cursorcore.processing.llm import LLMConfig, Rejected, RolloutRunner, TGIBackend, chunked_jsonl_writer, reject
from cursorcore.processing.sandbox import SandboxOutage
from tests.processing.llm.rollout_job import DOCUMENTS

JOB = Path(__file__).with_name("rollout_job.py")


async def mixed_rollout(document, generate):
    """Every outcome a synthesis step has: an answer, n samples, a rejection, an error, a dropped document."""
    if document.id == "error":
        raise Rejected("no_code", "the answer had no code block")
    if document.id == "drop":
        return None
    if document.id == "short":
        return reject("too_short", "the seed has one line")
    answer = await generate({"messages": [{"role": "user", "content": document.text}], "max_tokens": 6, "n": 2})
    return {"texts": answer.texts, "result": answer}


def run_pipeline(step, documents, logs: Path) -> dict:
    LocalPipelineExecutor(pipeline=[documents, step], logging_dir=str(logs)).run()
    return json.loads((logs / "stats.json").read_text())[0]["stats"]


def read_rows(folder: Path) -> dict[str, list[dict]]:
    """Rows of every output file, sorted by id (documents of a chunk finish in any order)."""
    return {
        path.name: sorted((json.loads(line) for line in path.read_text().splitlines()), key=lambda row: row["id"])
        for path in sorted(folder.glob("*.jsonl"))
    }


def total(stats: dict, name: str) -> int:
    value = stats.get(name, 0)
    return value["total"] if isinstance(value, dict) else value


def test_rollouts_answers_rejections_and_drops(llm_server, tmp_path):
    documents = [Document(text=f"Say {word}.", id=word) for word in ("yes", "no")]
    documents += [Document(text="", id=name) for name in ("error", "drop", "short")]
    llm = llm_server.endpoint_config(cache_path=str(tmp_path / "cache.sqlite"), generation={"temperature": 0.8})

    def step(out: str) -> RolloutRunner:
        writer = chunked_jsonl_writer(tmp_path / out, compression=None)
        return RolloutRunner(mixed_rollout, llm, writer, tmp_path / f"{out}-checkpoints", records_per_chunk=2)

    stats = run_pipeline(step("out"), documents, tmp_path / "logs")
    rows = {
        row["id"]: row["metadata"]["rollout_results"] for rows in read_rows(tmp_path / "out").values() for row in rows
    }
    assert sorted(rows) == ["error", "no", "short", "yes"]  # `drop` returned None
    assert rows["error"] == [{"rejected": "no_code", "detail": "the answer had no code block"}]
    assert rows["short"] == [{"rejected": "too_short", "detail": "the seed has one line"}]
    for word in ("yes", "no"):
        (result,) = rows[word]
        assert len(result["texts"]) == 2 and result["result"]["text"] == result["texts"][0]
    assert total(stats, "rejected_no_code") == total(stats, "rejected_too_short") == 1
    assert total(stats, "llm_calls") == 2 and total(stats, "completion_tokens") > 0
    # a finished job leaves no resume marker behind: its checkpoint folder cannot make a later run skip documents
    assert not list((tmp_path / "out-checkpoints").rglob("*.txt"))

    # the same job again: every call is answered by the request cache, the rows are the same
    stats = run_pipeline(step("again"), documents, tmp_path / "logs-again")
    assert (total(stats, "llm_calls"), total(stats, "llm_cache_hits")) == (0, 2)
    assert read_rows(tmp_path / "again") == read_rows(tmp_path / "out")


@pytest.mark.parametrize(
    "error", [KeyError("seed"), SandboxOutage("the sandbox lost its worker")], ids=["a bug", "a sandbox outage"]
)
def test_a_bug_or_an_outage_in_a_rollout_fails_its_task_instead_of_becoming_data(llm_server, tmp_path, error):
    """Only `Rejected` (and a refused request) become rejections: a `KeyError` is a bug, a sandbox outage is an
    outage, and either must stop the task where a person sees it, not show up as a `rejected_KeyError` count."""

    async def rollout(document, generate):
        raise error

    writer = chunked_jsonl_writer(tmp_path / "out", compression=None)
    step = RolloutRunner(rollout, llm_server.endpoint_config(), writer, tmp_path / "checkpoints")
    executor = LocalPipelineExecutor(pipeline=[[Document(text="x", id="a")], step], logging_dir=str(tmp_path / "logs"))
    with pytest.raises(Exception, match="Failed to process document a") as failure:
        executor.run()
    assert failure.value.__cause__ is error or str(error) in str(failure.value)
    assert executor.get_incomplete_ranks() == [0] and not list((tmp_path / "out").glob("*.jsonl"))


def test_an_unreachable_server_fails_the_task_instead_of_rejecting(llm_server, proxy, tmp_path):
    gone = proxy(llm_server.base_url)
    gone.close()
    llm = llm_server.endpoint_config(endpoint_url=gone.url, max_retries=1, backoff_initial=0.05, server_gone_wait=1)
    step = RolloutRunner(mixed_rollout, llm, chunked_jsonl_writer(tmp_path / "out", compression=None), tmp_path / "c")
    # the endpoint is checked before the first request: nothing listens, so the task fails saying so
    with pytest.raises(Exception, match=rf"{gone.url} is not ready after \d+s: connection refused"):
        run_pipeline(step, [Document(text="Say yes.", id="yes")], tmp_path / "logs")
    assert not (tmp_path / "logs/completions/00000").exists()
    assert not any(read_rows(tmp_path / "out").values())


def llama_servers(pid: int) -> set[int]:
    """The llama.cpp server processes started by process `pid`."""
    found = {
        int(child) for task in Path(f"/proc/{pid}/task").iterdir() for child in (task / "children").read_text().split()
    }
    return {child for child in found if b"llama_cpp.server" in Path(f"/proc/{child}/cmdline").read_bytes()}


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def cached_calls(folder: Path) -> int:
    with sqlite3.connect(folder / "llm-cache.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]


async def rollout_killing_its_server(document, generate, kill_marker: Path, spare: frozenset[int]):
    """Kills the pipeline's own llama.cpp server before answering doc-2, once (not the servers in `spare`, such as
    the test session's shared one)."""
    if document.id == "doc-2" and not kill_marker.exists():
        kill_marker.touch()
        for pid in llama_servers(os.getpid()) - spare:
            os.killpg(pid, signal.SIGKILL)
    answer = await generate({"messages": [{"role": "user", "content": document.text}], "max_tokens": 4})
    return {"text": answer.text}


@pytest.mark.timeout(900)
def test_a_server_dying_mid_run_fails_the_task_and_a_rerun_resumes_on_a_new_server(tmp_path):
    documents = [Document(text=f"Say {i}.", id=f"doc-{i}") for i in range(5)]
    llm = LLMConfig(max_concurrency=1, max_retries=1, backoff_initial=0.05, server_log_dir=str(tmp_path / "logs"))
    kill_marker = tmp_path / "killed"

    def run() -> dict:
        step = RolloutRunner(
            rollout_killing_its_server,
            llm,
            chunked_jsonl_writer(tmp_path / "out", compression=None),
            tmp_path / "checkpoints",
            records_per_chunk=2,
            shared_context={"kill_marker": kill_marker, "spare": spare},
        )
        return run_pipeline(step, documents, tmp_path / "pipeline-logs")

    spare = frozenset(llama_servers(os.getpid()))  # servers of other tests in this session live on

    with pytest.raises(Exception, match=r"is the server running|server exited"):
        run()
    assert kill_marker.exists()
    assert sorted(row["id"] for rows in read_rows(tmp_path / "out").values() for row in rows) == ["doc-0", "doc-1"]

    stats = run()  # a new server is spawned; the finished chunk is not redone
    rows = [row for rows in read_rows(tmp_path / "out").values() for row in rows]
    assert sorted(row["id"] for row in rows) == [d.id for d in documents]
    assert total(stats, "llm_calls") == 3 and all(row["metadata"]["rollout_results"][0]["text"] for row in rows)


@pytest.mark.timeout(900)
def test_a_pipeline_killed_midway_resumes_to_identical_output(tmp_path):
    job = [sys.executable, str(JOB)]
    subprocess.run([*job, str(tmp_path / "whole")], check=True, timeout=300, capture_output=True)

    killed = tmp_path / "killed"
    # its own process group, killed whole as a scheduler would (datatrove's executor forks a manager process);
    # the server it spawns runs in a session of its own and must go down with the pipeline all the same
    process = subprocess.Popen(
        [*job, str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    marker = killed / "checkpoints/last_chunk/00000.txt"  # written when the first chunk (2 documents) is done
    deadline = time.monotonic() + 240
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    servers = llama_servers(process.pid)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the job finished before it could be killed"
    assert servers, "the job had no llama.cpp server child"
    deadline = time.monotonic() + 15
    while any(map(running, servers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(running, servers)), "the llama.cpp server outlived the killed pipeline"
    done_before = sum(map(len, read_rows(killed / "out").values()))
    assert done_before < DOCUMENTS
    calls_before = cached_calls(killed)

    subprocess.run([*job, str(killed)], check=True, timeout=300, capture_output=True)
    assert read_rows(killed / "out") == read_rows(tmp_path / "whole" / "out")
    assert sum(map(len, read_rows(killed / "out").values())) == DOCUMENTS
    stats = json.loads((killed / "logs/stats.json").read_text())[0]["stats"]
    # every request the rerun sent was new: nothing finished before the kill was paid for twice
    assert total(stats, "llm_calls") == cached_calls(killed) - calls_before
    assert cached_calls(killed) == cached_calls(tmp_path / "whole") == 2 * DOCUMENTS
    assert os.listdir(killed / "logs/completions") == ["00000"]


def test_a_slurm_job_spawns_a_tgi_server_per_task(tmp_path):
    llm = LLMConfig(
        backend="tgi",
        model="bigcode/starcoder2-15b-instruct-v0.1",
        cache_path=str(tmp_path / "cache/llm-{rank:05d}.sqlite"),
        server_log_dir=str(tmp_path / "server-logs"),
    )
    runner = RolloutRunner(mixed_rollout, llm, chunked_jsonl_writer(tmp_path / "out"), tmp_path / "checkpoints")
    executor = SlurmPipelineExecutor(
        pipeline=[JsonlReader(str(tmp_path / "seeds")), runner],
        tasks=64,
        time="12:00:00",
        partition="gpu",
        gpus_per_task=1,
        cpus_per_task=8,
        logging_dir=str(tmp_path / "logs"),
        job_name="self-instruct",
    )
    script = executor.get_launch_file_contents(executor.get_sbatch_args(64), "srun launch_pickled_pipeline x.pik")
    assert "#SBATCH --gpus=1" in script and "#SBATCH --partition=gpu" in script

    # each Slurm task unpickles the executor and runs its copy of the step, which starts its own server
    step = dill.loads(dill.dumps(executor)).pipeline[1]

    async def server_of_task(rank):
        return step._init_server(rank)

    server = asyncio.run(server_of_task(5))
    assert isinstance(server.backend, TGIBackend)
    assert server.backend.log_path == tmp_path / "server-logs/tgi-rank00005.log"
    assert server.backend.command(3000)[:3] == ["text-generation-launcher", "--model-id", llm.model]
