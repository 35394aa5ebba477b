"""Self-OSS-Instruct with the real local model (SmolLM2-135M-Instruct) and the real sandbox: one seed through the
pipeline step, seeds drawn until one yields a verified sample, and a pipeline killed midway that resumes to the same
output. Nothing is faked: every answer comes from the model, every verdict from the sandbox.

A 135M model rarely writes a task, a solution and tests that agree (most seeds end in a rejection), so the test
that needs a verified sample draws small standard-library functions until one gets through (slow: minutes).

Run as a script (`python test_self_oss_instruct_llm.py FOLDER ENDPOINT`) this module is the pipeline job that the
resume test starts and kills.
"""

import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from cursorcore.processing.sources.seeds import extract_seeds
from cursorcore.processing.synthesis.documents import row_document
from cursorcore.processing.synthesis.self_oss_instruct import (
    SelfOSSInstructConfig,
    self_oss_instruct_step,
)
from cursorcore.processing.synthesis.soi_answers import ANSWER_PROBLEMS
from cursorcore.schema import Sample, Source

# Seed functions simple enough for a 135M model, written for these tests; they go through `extract_seeds` like
# any source file. After them come small functions of the running interpreter's standard library.
SIMPLE_SOURCE = '''
def add(a, b):
    """Return the sum of a and b."""
    return a + b


def is_even(n):
    """Return True if the integer n is even."""
    return n % 2 == 0


def square(x):
    """Return x multiplied by itself."""
    return x * x


def reverse_string(text):
    """Return the characters of text in reverse order."""
    return text[::-1]


def count_vowels(text):
    """Count the vowels (a, e, i, o, u) in text, ignoring case."""
    return sum(1 for char in text.lower() if char in "aeiou")


def factorial(n):
    """Return n! for a non-negative integer n."""
    result = 1
    for factor in range(2, n + 1):
        result *= factor
    return result


def celsius_to_fahrenheit(celsius):
    """Convert a temperature from degrees Celsius to degrees Fahrenheit."""
    return celsius * 9 / 5 + 32


def is_palindrome(text):
    """Return True if text reads the same forwards and backwards."""
    return text == text[::-1]


def average(numbers):
    """Return the arithmetic mean of a non-empty list of numbers."""
    return sum(numbers) / len(numbers)


def largest(numbers):
    """Return the largest number of a non-empty list."""
    return max(numbers)
'''
STDLIB_SEEDS = [
    ("calendar.py", "isleap"),
    ("inspect.py", "indentsize"),
    ("string.py", "capwords"),
    ("quopri.py", "ishex"),
    ("shlex.py", "join"),
    ("ntpath.py", "basename"),
]
# small prompts and answers: SmolLM2 decodes ~100 tokens/s on an idle 2-core machine, much less on a busy one
SMALL = dict(
    fewshot_concepts=2,
    fewshot_instruction=2,
    fewshot_response=1,
    responses=8,
    difficulties=("easy",),
    categories=("function implementation",),
    max_tokens_concepts=48,
    max_tokens_instruction=192,
    max_tokens_response=256,
    test_timeout=5.0,
)
TINY = {**SMALL, "fewshot_concepts": 1, "fewshot_instruction": 1, "responses": 2, "max_tokens_response": 192}
STAGE_PROBLEMS = ("truncated", "refusal", "empty", "too_short", "special_token", "mentions_snippet", "unparseable")
KNOWN_REASONS = {
    *ANSWER_PROBLEMS,
    "no_responses",
    "no_passing_response",
    "verification_failed",
    "tests_too_weak",
    "sandbox_error",
    "llm_request_error",
    *(f"{stage}_{problem}" for stage in ("concepts", "instruction") for problem in STAGE_PROBLEMS),
}


def seed_rows(source: str, path: str, names: list[str] | None = None) -> list[dict]:
    """`cursorcore/stack-seeds` rows for the seed functions of one source file (the builder's row layout)."""
    rows = []
    for seed in extract_seeds(source):
        if names is not None and seed.name not in names:
            continue
        content = "\n".join(seed.imports) + ("\n\n\n" if seed.imports else "") + seed.code
        rows.append(
            {
                "id": hashlib.sha1(content.encode()).hexdigest(),
                "content": content,
                "entry_point": seed.name,
                "docstring": seed.docstring,
                "lines": seed.lines,
                "repo": "tests",
                "path": path,
                "license": "",
                "source": "local",
            }
        )
    return rows


def candidate_seeds() -> list[dict]:
    """The simple seeds, then the standard-library ones."""
    root = Path(sysconfig.get_paths()["stdlib"])
    rows = seed_rows(SIMPLE_SOURCE, "simple.py")
    for path, name in STDLIB_SEEDS:
        rows += seed_rows((root / path).read_text(), path, [name])
    return rows


def read_rows(folder: Path) -> dict[str, dict]:
    """The documents a step wrote (gzipped JSONL chunks), by id."""
    rows = {}
    for path in folder.glob("*.jsonl.gz"):
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            row = json.loads(line)
            rows[row["id"]] = row
    return rows


def run_step(
    step, rows: list[dict], folder: Path, kind: Source = Source.SELF_OSS_INSTRUCT
) -> tuple[dict[str, dict], dict[str, float]]:
    """Run a synthesis step over seed rows with LocalPipelineExecutor: (rollout result by seed id, step stats)."""
    from datatrove.executor import LocalPipelineExecutor

    LocalPipelineExecutor(
        pipeline=[[row_document(row, kind) for row in rows], step], logging_dir=str(folder / "logs")
    ).run()
    results = {seed_id: row["metadata"]["rollout_results"][0] for seed_id, row in read_rows(folder / "out").items()}
    (stats,) = [s["stats"] for s in json.loads((folder / "logs/stats.json").read_text()) if "LLM" in s["name"]]
    return results, {name: value["total"] if isinstance(value, dict) else value for name, value in stats.items()}


def rejections(result: dict) -> list[dict]:
    """A result's rejections, a whole-document one included, as {reason, detail, sample}."""
    if "rejected" in result:
        return [{"reason": result["rejected"], "detail": result["detail"], "sample": None}]
    return result["rejections"]


def show(kind: str, results: list[dict]) -> None:
    print(f"\n{kind} on {len(results)} seed(s):")
    for result in results:
        print(" ", json.dumps({key: value for key, value in result.items() if key != "samples"})[:400])


def check_rejections(results: list[dict], known: set[str]) -> None:
    for result in results:
        for rejection in rejections(result):
            assert rejection["reason"] in known and rejection["detail"], rejection
            if rejection["sample"]:
                assert Sample.from_row(rejection["sample"]).verification.status in ("failed", "unverified")


def none_completed(kind: str, results: list[dict], executed: int, known: set[str]) -> None:
    """A 135M model may complete no seed in a run. What the pipeline owes is still checked (every seed ends with a
    known reason, answers reached the sandbox); the model's miss is reported as an expected failure, not hidden."""
    check_rejections(results, known)
    assert executed > 0, f"no {kind} answer of SmolLM2 reached the sandbox"
    ran = f"{executed} answers ran, none passed"
    pytest.xfail(f"SmolLM2 completed none of {len(results)} {kind} seeds this run ({ran})")


def test_one_seed_through_the_pipeline_step(llm_server, local_sandbox, tmp_path):
    """The mechanics on one seed, whatever the model makes of it: the result is a verified sample or rejections with
    reasons, and the step's stats count what the rollout reports."""
    config = SelfOSSInstructConfig(**TINY)
    llm = llm_server.endpoint_config()
    step = self_oss_instruct_step(config, llm, tmp_path / "out", tmp_path / "checkpoints", sandbox=local_sandbox)
    (row,) = candidate_seeds()[:1]
    results, stats = run_step(step, [row], tmp_path)
    show("Self-OSS-Instruct", list(results.values()))
    result = results[row["id"]]
    check_rejections([result], KNOWN_REASONS)
    assert stats["llm_calls"] >= 1 and stats["completion_tokens"] > 0
    for name, value in result["stats"].items():
        assert stats[name] == value
    if "rejected" in result:  # the concepts or the instruction were unusable
        assert stats[f"rejected_{result['rejected']}"] == 1
        return
    assert result["stats"]["responses"] == TINY["responses"]
    assert stats["llm_calls"] == 3  # concepts, instruction, then k responses in one request
    for sample in map(Sample.from_row, result["samples"]):
        assert sample.verification.status == "passed" and sample.source == Source.SELF_OSS_INSTRUCT
    assert stats.get("samples", 0) == len(result["samples"])


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_self_oss_instruct_yields_a_verified_sample_with_smollm2(llm_server, local_sandbox, tmp_path):
    """Seeds are drawn until one yields a verified sample; every other seed is rejected with a reason. With
    SelfCodeAlign's published check (passing tests are enough): SmolLM2's tests kill no mutant, so with the mutation
    check on it keeps nothing (its rejection as tests_too_weak is tested in test_mutation.py)."""
    config = SelfOSSInstructConfig(**SMALL, mutation=False)
    llm = llm_server.endpoint_config(max_concurrency=1)
    results = []
    for index, row in enumerate(candidate_seeds()):
        step = self_oss_instruct_step(
            config, llm, tmp_path / f"{index}/out", tmp_path / f"{index}/ckpt", sandbox=local_sandbox
        )
        results += run_step(step, [row], tmp_path / str(index))[0].values()
        if results[-1].get("samples"):
            break
    show("Self-OSS-Instruct", results)
    samples = [Sample.from_row(row) for result in results for row in result.get("samples", [])]
    if not samples:
        executed = sum(result.get("stats", {}).get("responses_executed", 0) for result in results)
        none_completed("Self-OSS-Instruct", results, executed, KNOWN_REASONS)
    (sample,) = samples
    assert (sample.source, sample.current.code, sample.verification.status) == (Source.SELF_OSS_INSTRUCT, "", "passed")
    checks = {check.name: check for check in sample.verification.checks}
    assert checks["tests"].status == "passed" and checks["self-validation"].status == "passed"
    passed = int(checks["self-validation"].detail.split("/")[0])
    assert 1 <= passed == results[-1]["stats"]["responses_passed"] <= SMALL["responses"]
    assert (
        sample.user and sample.next.code and [m["role"] for m in sample.messages] == ["current", "user", "assistant"]
    )
    check_rejections(results[:-1], KNOWN_REASONS)


# ---------------------------------------------------------------- resume: the job, and the test that kills it

RESUME_SEEDS = 3


def resume_job(folder: str, endpoint: str) -> None:
    """Self-OSS-Instruct over three seeds, one document per checkpoint chunk, with a request cache in `folder`."""
    from datatrove.executor import LocalPipelineExecutor

    from cursorcore.processing.llm import LLMConfig

    config = SelfOSSInstructConfig(**TINY, temperature=0.0, records_per_chunk=1, sandbox_options={"workers": 1})
    llm = LLMConfig(backend="endpoint", endpoint_url=endpoint, cache_path=f"{folder}/llm-cache.sqlite")
    step = self_oss_instruct_step(config, llm, f"{folder}/out", f"{folder}/checkpoints")
    documents = [row_document(row, Source.SELF_OSS_INSTRUCT) for row in candidate_seeds()[:RESUME_SEEDS]]
    LocalPipelineExecutor(pipeline=[documents, step], logging_dir=f"{folder}/logs").run()


def llm_stats(folder: Path) -> dict:
    steps = json.loads((folder / "logs/stats.json").read_text())
    (stats,) = [step["stats"] for step in steps if "LLM" in step["name"]]
    return stats


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_killed_pipeline_resumes_to_the_same_output(llm_server, tmp_path):
    """Killed after its first document and rerun, the job ends with what an uninterrupted run over the same answers
    writes. The reference replays the resumed run's answers from its cache: llama.cpp's greedy decoding depends on
    which requests share a batch, so two live runs may differ in what the model said, not in what the job did."""
    job = [sys.executable, __file__]
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [*job, str(killed), llm_server.base_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    marker = killed / "checkpoints/last_chunk/00000.txt"  # written once the first document's chunk is done
    deadline = time.monotonic() + 600
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the job finished before it could be killed"

    subprocess.run([*job, str(killed), llm_server.base_url], check=True, timeout=900, capture_output=True)
    assert llm_stats(killed)["llm_calls"]["total"] > 0, "nothing was left to do: the job was not killed midway"
    resumed = read_rows(killed / "out")
    assert len(resumed) == RESUME_SEEDS

    replay = tmp_path / "replay"
    replay.mkdir()
    shutil.copy(killed / "llm-cache.sqlite", replay / "llm-cache.sqlite")
    subprocess.run([*job, str(replay), llm_server.base_url], check=True, timeout=900, capture_output=True)
    assert "llm_calls" not in llm_stats(replay), "the replay asked the model: the resumed run lost an answer"
    assert read_rows(replay / "out") == resumed


if __name__ == "__main__":
    resume_job(*sys.argv[1:3])
