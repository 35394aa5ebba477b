"""Programming-Instruct synthesis throughput with the local server: samples per hour for each input kind, the
verified fraction, and where the time goes.

Each kind runs as in a build: the datatrove step from `programming_instruct_step` (LocalPipelineExecutor,
RolloutRunner, checkpointed JSONL output) over real inputs, against one llama.cpp server with SmolLM2-135M-Instruct
started by this script, and the local bubblewrap sandbox:

* seed: the smallest documented functions of the running interpreter's standard library (stack-seeds rows), through
  the AI programmer (SmolLM2 settings, as in the tests: versions listed from the final one back, greedy, at least
  two steps, every state a candidate without history);
* commit: python files of this project's own Git history (commit-trajectories rows, smallest first);
* oj: the shipped CodeNet-layout sample (oj-trajectories rows, C++ compiled in the sandbox).

Documents go one at a time (the server answers one request at a time), so the split adds up: LLM = wall time with a
model request in flight, sandbox = wall time with a sandbox job in flight, pipeline = the rest (trajectory cutting,
prompt rendering, parsing, round-trip verification, datatrove, writing). Server start-up is not counted; the request
cache is off.

Usage: python bench/bench_synthesis_pi.py [--documents 5] [--kinds seed,commit,oj] [--no-write]
"""

import argparse
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from _results import REPO, machine, now, write_section
from datatrove.executor import LocalPipelineExecutor

from cursorcore.builders import commit_trajectories, oj_trajectories
from cursorcore.processing.llm import LlamaCppBackend, LLMConfig, chunked_jsonl_writer
from cursorcore.processing.sources.commits import commit_row
from cursorcore.processing.sources.oj import oj_row
from cursorcore.processing.sources.seeds import extract_seeds, stdlib_folder
from cursorcore.processing.synthesis.documents import row_document
from cursorcore.processing.synthesis.plumbing import SynthesisContext, SynthesisRunner
from cursorcore.processing.synthesis.programming_instruct import ProgrammingInstructConfig, synthesize

SEED_MODULES = ("calendar.py", "genericpath.py", "colorsys.py", "bisect.py", "keyword.py", "fnmatch.py")
# published probabilities; answers capped so that SmolLM2's rambling does not dominate
BASE = ProgrammingInstructConfig(
    max_attempts=3,
    aiprogrammer_max_tokens=384,
    instruction_max_tokens=128,
    judge_max_tokens=256,
    chat_max_tokens=160,
    records_per_chunk=10,
)
CONFIGS = {
    # what SmolLM2 can do (as in the tests): two-version trajectories have one state, so every state is a candidate
    "aiprogrammer": replace(
        BASE, step_order="undo", min_steps=2, temperature=0.0, split_step_prob=1.0, history_prob=0.0
    ),
    "commit": BASE,
    "oj": BASE,
}


def seed_rows(count: int) -> list[dict]:
    """The smallest documented functions (what SmolLM2 can copy), in module order among equals."""
    rows = []
    for module in SEED_MODULES:
        for seed in extract_seeds((stdlib_folder() / module).read_text()):
            if seed.has_arguments and seed.returns_value:
                content = "\n".join(seed.imports) + ("\n\n\n" if seed.imports else "") + seed.code
                rows.append((seed.lines, {"id": f"{module}:{seed.name}", "content": content}))
    return [row for _, row in sorted(rows, key=lambda pair: pair[0])][:count]


def commit_rows(count: int) -> list[dict]:
    config = commit_trajectories.Config(repos=[str(REPO)], languages={".py": "python"}, max_bytes=3000)
    data = None
    for step in commit_trajectories.pipeline(config):
        data = step.run(data, 0, 1)
    rows = sorted((commit_row(None, d) for d in data), key=lambda row: len(row["versions"][-1]["code"]))
    return rows[:count]


def oj_rows(count: int) -> list[dict]:
    data = None
    for step in oj_trajectories.pipeline(oj_trajectories.Config()):
        data = step.run(data, 0, 1)
    return [oj_row(None, d) for d in data][:count]


class Busy:
    """Wall time with at least one operation of a kind in flight."""

    def __init__(self) -> None:
        self.seconds, self.inflight, self.since = 0.0, 0, 0.0

    async def time(self, awaitable: Any) -> Any:
        if self.inflight == 0:
            self.since = time.perf_counter()
        self.inflight += 1
        try:
            return await awaitable
        finally:
            self.inflight -= 1
            if self.inflight == 0:
                self.seconds += time.perf_counter() - self.since


class TimedSandbox:
    def __init__(self, sandbox: Any, busy: Busy):
        self.sandbox, self.busy = sandbox, busy

    async def arun(self, job: Any) -> Any:
        return await self.busy.time(self.sandbox.arun(job))


@dataclass
class TimedRollout:
    """`synthesize`, with its model requests and sandbox jobs timed into the result's stats (the step sums them)."""

    config: ProgrammingInstructConfig

    async def __call__(self, document: Any, generate: Any, *, sandbox: Any) -> Any:
        llm, jobs = Busy(), Busy()
        result = await synthesize(
            document,
            lambda payload: llm.time(generate(payload)),
            config=self.config,
            sandbox=TimedSandbox(sandbox, jobs),
        )
        result.setdefault("stats", {}).update(llm_ms=round(llm.seconds * 1000), sandbox_ms=round(jobs.seconds * 1000))
        return result


def run_kind(kind: str, rows: list[dict], server: LlamaCppBackend, workdir: Path) -> dict:
    documents = [row_document(row, kind) for row in rows]
    config = CONFIGS[kind]
    step = SynthesisRunner(
        TimedRollout(config),
        server.endpoint_config(max_concurrency=1),
        chunked_jsonl_writer(workdir / kind / "out"),
        workdir / kind / "checkpoints",
        records_per_chunk=config.records_per_chunk,
        shared_context=SynthesisContext(config.sandbox, config.sandbox_options),
    )
    started = time.perf_counter()
    LocalPipelineExecutor(pipeline=[documents, step], logging_dir=str(workdir / kind / "logs")).run()
    wall = time.perf_counter() - started
    stats = json.loads((workdir / kind / "logs" / "stats.json").read_text())
    counters = Counter()
    for step_stats in stats:
        for name, value in step_stats["stats"].items():
            counters[name] += value["total"] if isinstance(value, dict) else value
    llm = counters["llm_ms"] / 1000
    sandbox = counters["sandbox_ms"] / 1000
    rejected = {k.removeprefix("rejected_"): v for k, v in counters.items() if k.startswith("rejected_")}
    candidates = counters["samples"] + sum(v for k, v in rejected.items() if k.startswith("verification_"))
    return {
        "kind": kind,
        "documents": len(documents),
        "samples": counters["samples"],
        "candidates_verified": candidates,
        "wall": wall,
        "llm": llm,
        "sandbox": sandbox,
        "pipeline": max(wall - llm - sandbox, 0.0),
        "requests": counters["llm_calls"],
        "completion_tokens": counters["completion_tokens"],
        "rejected": dict(sorted(rejected.items())),
    }


def report(results: list[dict]) -> str:
    lines = [
        "| kind | documents | verified samples | samples / hour | verified / verification-checked | LLM | sandbox "
        "| pipeline | LLM requests | tokens out |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        per_hour = r["samples"] / r["wall"] * 3600
        checked = f"{r['samples']}/{r['candidates_verified']}" if r["candidates_verified"] else "—"
        split = [f"{r[p]:.0f} s ({r[p] / r['wall']:.0%})" for p in ("llm", "sandbox", "pipeline")]
        lines.append(
            f"| {r['kind']} | {r['documents']} | {r['samples']} | {per_hour:.0f} | {checked} | {' | '.join(split)} "
            f"| {r['requests']} | {r['completion_tokens']} |"
        )
    lines.append("")
    for r in results:
        reasons = ", ".join(f"{k} {v}" for k, v in r["rejected"].items()) or "none"
        lines.append(f"- {r['kind']} rejections: {reasons}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=5, help="documents per kind")
    parser.add_argument("--kinds", default="aiprogrammer,commit,oj")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update bench/RESULTS.md")
    args = parser.parse_args()
    sources = {"aiprogrammer": seed_rows, "commit": commit_rows, "oj": oj_rows}
    kinds = args.kinds.split(",")
    inputs = {kind: sources[kind](args.documents) for kind in kinds}
    header = f"{now()}; {machine()}"
    results = []
    with tempfile.TemporaryDirectory() as tmp, LlamaCppBackend(LLMConfig(backend="local")) as server:
        for kind in kinds:
            results.append(run_kind(kind, inputs[kind], server, Path(tmp)))
            print(report(results[-1:]), flush=True)
    table = report(results)
    print(header)
    print(table)
    if not args.no_write:
        write_section(
            "synthesis-pi",
            f"""## Programming-Instruct synthesis (CursorCore): samples per hour with the local server

`python bench/bench_synthesis_pi.py --documents {args.documents}` — {header}.
SmolLM2-135M-Instruct (Q4_1) on llama-cpp-python's server, one request at a time; the datatrove step of a build
(`programming_instruct_step`'s runner) with CursorCore's probabilities, at most 3 attempts per model answer, answers
capped at 384 (AI programmer) / 128 (instruction) / 256 (judge) / 160 (chat) tokens. Seeds (the smallest documented
stdlib functions) use the AI programmer's `undo` order, greedy, at least two steps, every state a candidate without
history (what SmolLM2 can do); commits come from this repository's history (python files, smallest first),
online-judge trajectories from the shipped CodeNet sample (C++ compiled in the sandbox).
"verified / verification-checked": of the candidates that reached verification, how many passed (the others were
rejected earlier, by the AI programmer's, the instruction writer's or the judge's rules).

{table}
""",
        )


if __name__ == "__main__":
    main()
