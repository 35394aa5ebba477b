"""The Programming-Instruct step as a datatrove pipeline: parquet rows read through the adapter, results written in
chunks, and a run SIGKILLed midway that, rerun, finishes every document exactly once without paying twice for a
model call, and ends with the output an uninterrupted run computes from the same model answers.

(An uninterrupted run against the live server is no reference: llama.cpp reuses the previous prompt's cache, so
even greedy answers drift with the order of requests. The reference is a run that replays the killed run's request
cache, where every answer is fixed.)

Run as a script, this file is the pipeline job itself: `python test_programming_instruct_resume.py FOLDER URL CACHE`
synthesizes the CodeNet sample's online-judge trajectories against the llama.cpp server at URL.
"""

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cursorcore.processing.llm import LLMConfig
from cursorcore.processing.synthesis.programming_instruct import ProgrammingInstructConfig, programming_instruct_step
from cursorcore.processing.synthesis.results import SynthesisResult

CONFIG = ProgrammingInstructConfig(
    max_attempts=2,
    instruction_max_tokens=96,
    judge_max_tokens=160,
    chat_max_tokens=64,
    records_per_chunk=1,
)


def job(folder: str, url: str, cache: str) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import ParquetReader

    from cursorcore.processing.synthesis.documents import input_adapter
    from cursorcore.schema import Source

    llm = LLMConfig(
        backend="endpoint",
        endpoint_url=url,
        cache_path=cache,
        max_concurrency=1,
    )
    step = programming_instruct_step(CONFIG, llm, f"{folder}/out", f"{folder}/checkpoints")
    reader = ParquetReader(
        str(Path(folder).parent / "rows"), adapter=input_adapter, default_metadata={"kind": Source.OJ}
    )
    LocalPipelineExecutor(pipeline=[reader, step], logging_dir=f"{folder}/logs").run()


def results(folder: Path) -> dict[str, list]:
    """The rollout results by document id (chunks list documents in completion order)."""
    found = {}
    for path in sorted((folder / "out").glob("*.jsonl.gz")):
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            row = json.loads(line)
            assert row["id"] not in found, f"{row['id']} written twice"
            found[row["id"]] = row["metadata"]["rollout_results"]
    return found


def cached_calls(cache: Path) -> int:
    with sqlite3.connect(cache) as db:
        return db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]


def counter(folder: Path, name: str) -> int:
    """A counter of the synthesis step in the run's datatrove stats."""
    (step,) = [s for s in json.loads((folder / "logs/stats.json").read_text()) if "candidates" in s["stats"]]
    value = step["stats"].get(name, 0)
    return value["total"] if isinstance(value, dict) else value


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_killed_run_resumes_without_repeating_work(llm_server, tmp_path):
    from tests.processing.synthesis.test_programming_instruct import oj_rows

    rows = oj_rows()
    (tmp_path / "rows").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "rows" / "train-00000.parquet")
    killed, cache = tmp_path / "killed", tmp_path / "killed-cache.sqlite"
    command = [sys.executable, __file__, str(killed), llm_server.base_url, str(cache)]

    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    marker = killed / "checkpoints/last_chunk/00000.txt"  # written when the first document is done
    deadline = time.monotonic() + 1200
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the job finished before it could be killed"
    assert marker.exists() and not (killed / "logs/completions/00000").exists()
    calls_before = cached_calls(cache)

    subprocess.run(command, check=True, timeout=1500, capture_output=True)
    resumed = results(killed)
    assert sorted(resumed) == sorted(row["id"] for row in rows)
    # every request the rerun sent was new: what finished before the kill came from the checkpoint or the cache
    assert counter(killed, "llm_calls") == cached_calls(cache) - calls_before
    documents = [result for (result,) in resumed.values()]
    assert all("samples" in result or "rejected" in result for result in documents)
    assert any(SynthesisResult.from_json(result).samples for result in documents if "samples" in result)

    replay, replay_cache = tmp_path / "replay", tmp_path / "replay-cache.sqlite"
    with sqlite3.connect(cache) as source, sqlite3.connect(replay_cache) as copy:
        source.backup(copy)  # the cache is in WAL mode: copying the file alone would lose recent answers
    subprocess.run(
        [sys.executable, __file__, str(replay), llm_server.base_url, str(replay_cache)],
        check=True,
        timeout=1500,
        capture_output=True,
    )
    assert counter(replay, "llm_calls") == 0
    assert results(replay) == resumed
    samples = sum(len(SynthesisResult.from_json(r).samples) for r in documents if "samples" in r)
    assert counter(replay, "samples") == samples


if __name__ == "__main__":
    job(sys.argv[1], sys.argv[2], sys.argv[3])
