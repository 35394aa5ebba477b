"""Self-OSS-Instruct and AIEV-Instruct (either role writing the tests) synthesis throughput with the local server:
samples per hour, the verified fraction, and where the time goes.

Each kind runs as it does in a build: the datatrove pipeline step from `self_oss_instruct_step` / `aiev_step`
(LocalPipelineExecutor, RolloutRunner, checkpointed JSONL output) over the same seed functions taken from the
running interpreter's standard library, against one llama.cpp server with SmolLM2-135M-Instruct started by this
script, and the local bubblewrap sandbox. Documents go one at a time (the server answers one request at a time), so
the time split adds up: LLM = wall time with a model request in flight, sandbox = wall time with a sandbox job in
flight (self-validation runs k jobs at once; their overlap counts once), pipeline = the rest (prompt rendering,
parsing, datatrove, writing). Server start-up is not counted; the request cache is off.

Usage: python bench/bench_synthesis_soi_aiev.py [--seeds 6] [--responses 10] [--max-tokens 384] [--no-write]
"""

import argparse
import contextlib
import json
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _results import REPO, RESULTS, machine, now, write_section
from datatrove.executor import LocalPipelineExecutor

from cursorcore.builders.programming_instruct import DEFAULT_SYNTHESIS
from cursorcore.processing.llm import LlamaCppBackend, LLMConfig, chunked_jsonl_writer
from cursorcore.processing.sandbox import get_sandbox
from cursorcore.processing.sources.seeds import extract_seeds
from cursorcore.processing.synthesis.aiev import AIEVConfig, AIEVInstruct
from cursorcore.processing.synthesis.documents import row_document
from cursorcore.processing.synthesis.plumbing import SynthesisContext, SynthesisRunner
from cursorcore.processing.synthesis.self_oss_instruct import SelfOSSInstruct, SelfOSSInstructConfig
from cursorcore.schema import Source

# standard-library modules whose small documented functions serve as seeds, in this order
SEED_MODULES = ("calendar.py", "string.py", "quopri.py", "shlex.py", "fnmatch.py", "heapq.py", "colorsys.py")


def seed_rows(paths: list[Path], count: int, repo: str = "stdlib") -> list[dict]:
    """Stack-seeds rows for the first `count` functions of these files that have 3-15 lines, arguments and a return
    value."""
    rows = []
    for path in paths:
        for seed in extract_seeds(path.read_text()):
            if 3 <= seed.lines <= 15 and seed.has_arguments and seed.returns_value and not seed.name.startswith("_"):
                content = "\n".join(seed.imports) + ("\n\n\n" if seed.imports else "") + seed.code
                rows.append(
                    {
                        "id": f"{path.name}:{seed.name}",
                        "content": content,
                        "entry_point": seed.name,
                        "docstring": seed.docstring,
                        "path": path.name,
                        "repo": repo,
                    }
                )
    return rows[:count]


def stdlib_seeds(count: int) -> list[dict]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return seed_rows([root / module for module in SEED_MODULES], count)


class Busy:
    """Wall time during which at least one operation of a kind is in flight (overlapping ones count once)."""

    def __init__(self) -> None:
        self.seconds, self._inflight, self._since = 0.0, 0, 0.0

    async def time(self, awaitable: Any) -> Any:
        if self._inflight == 0:
            self._since = time.perf_counter()
        self._inflight += 1
        try:
            return await awaitable
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self.seconds += time.perf_counter() - self._since


class TimedSandbox:
    """The sandbox, with the time its jobs take recorded."""

    def __init__(self, sandbox: Any, busy: Busy):
        self.sandbox, self.busy = sandbox, busy

    async def arun(self, job: Any) -> Any:
        return await self.busy.time(self.sandbox.arun(job))


class Timed:
    """A rollout whose model requests and sandbox jobs are timed."""

    def __init__(self, rollout: Any):
        self.rollout, self.llm, self.sandbox = rollout, Busy(), Busy()

    def __deepcopy__(self, memo: dict) -> "Timed":
        return self  # datatrove copies the pipeline per task: the copy must record into this one

    async def __call__(self, document: Any, generate: Any, *, sandbox: Any, **context: Any) -> Any:
        async def timed_generate(payload: dict) -> Any:
            return await self.llm.time(generate(payload))

        return await self.rollout(document, timed_generate, sandbox=TimedSandbox(sandbox, self.sandbox), **context)


@dataclass
class Run:
    kind: str
    seeds: int
    samples: int
    wall: float
    llm: float
    sandbox: float
    stats: dict[str, int]
    rejections: dict[str, int]


@contextlib.contextmanager
def local_services() -> Iterator[tuple[Path, LLMConfig, Any]]:
    """A work folder, the local llama.cpp server (one request at a time) as an endpoint, and the local sandbox."""
    with (
        tempfile.TemporaryDirectory() as work,
        LlamaCppBackend(LLMConfig(server_log_dir=work)) as server,
        get_sandbox("local", workers=2) as sandbox,
    ):
        yield Path(work), server.endpoint_config(max_concurrency=1), sandbox


def run_kind(
    kind: str, source: Source, rollout: Any, rows: list[dict], llm: LLMConfig, sandbox: Any, folder: Path
) -> Run:
    timed = Timed(rollout)
    step = SynthesisRunner(
        timed,
        llm,
        chunked_jsonl_writer(folder / "out"),
        folder / "checkpoints",
        shared_context=SynthesisContext(sandbox),
    )
    started = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=[[row_document(row, source) for row in rows], step], logging_dir=str(folder / "logs")
    ).run()
    wall = time.perf_counter() - started
    (raw,) = [s["stats"] for s in json.loads((folder / "logs/stats.json").read_text()) if "LLM" in s["name"]]
    stats = {name: value["total"] if isinstance(value, dict) else value for name, value in raw.items()}
    rejections = {name.removeprefix("rejected_"): n for name, n in stats.items() if name.startswith("rejected_")}
    return Run(
        kind, len(rows), stats.get("samples", 0), wall, timed.llm.seconds, timed.sandbox.seconds, stats, rejections
    )


def table(runs: list[Run]) -> str:
    lines = [
        "| kind | seeds | verified samples | verified fraction | samples/hour | seconds | LLM | sandbox | pipeline |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        parts = [run.llm, run.sandbox, run.wall - run.llm - run.sandbox]
        shares = " | ".join(f"{part:.1f} s ({100 * part / run.wall:.0f}%)" for part in parts)
        lines.append(
            f"| {run.kind} | {run.seeds} | {run.samples} | {run.samples / run.seeds:.2f} | "
            f"{3600 * run.samples / run.wall:.1f} | {run.wall:.1f} | {shares} |"
        )
    return "\n".join(lines)


def details(run: Run) -> str:
    counters = ", ".join(
        f"{name} {value}"
        for name, value in sorted(run.stats.items())
        if not name.startswith(("rejected_", "llm_", "prompt_", "completion_")) and isinstance(value, int | float)
    )
    rejected = ", ".join(f"{reason} {n}" for reason, n in sorted(run.rejections.items())) or "none"
    tokens = run.stats.get("completion_tokens", 0)
    return (
        f"* {run.kind}: rejections by reason: {rejected}. Counters: {counters}. "
        f"{run.stats.get('llm_calls', 0)} model calls, {tokens} completion tokens ({tokens / run.llm:.1f} tokens/s "
        "while the model was busy)."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=6, help="seed functions per kind (default: 6)")
    parser.add_argument("--responses", type=int, default=10, help="Self-OSS-Instruct responses per instruction")
    parser.add_argument("--max-tokens", type=int, default=384, help="max_tokens of responses and answers")
    parser.add_argument("--no-write", action="store_true", help=f"do not update {RESULTS.relative_to(REPO)}")
    args = parser.parse_args()
    host = f"{machine()}; {now()}"
    print(host, flush=True)
    rows = stdlib_seeds(args.seeds)
    soi = SelfOSSInstructConfig(responses=args.responses, max_tokens_response=args.max_tokens)
    aiev = AIEVConfig(max_tokens_answer=args.max_tokens)
    aiev_default = AIEVConfig(**DEFAULT_SYNTHESIS["aiev"])
    rollouts = (
        ("Self-OSS-Instruct", Source.SELF_OSS_INSTRUCT, SelfOSSInstruct(soi)),
        ("AIEV-Instruct", Source.AIEV, AIEVInstruct(aiev)),
        ("AIEV-Instruct, questioner's tests", Source.AIEV, AIEVInstruct(aiev_default)),
    )
    runs = []
    with local_services() as (work, llm, sandbox):
        for kind, source, rollout in rollouts:
            runs.append(run_kind(kind, source, rollout, rows, llm, sandbox, work / kind))
            print(table(runs[-1:]), flush=True)

    section = f"""## Synthesis: Self-OSS-Instruct and AIEV-Instruct

{host}. SmolLM2-135M-Instruct (Q4_1) on llama-cpp-python's server, local bubblewrap sandbox (2 workers). The same
{len(rows)} seed functions of the standard library for both kinds, one document at a time, request cache off.
Self-OSS-Instruct: SelfCodeAlign's settings (8-shot concepts and instructions, 1-shot responses, {soi.responses}
responses at T={soi.temperature}) with responses capped at {soi.max_tokens_response} tokens. AIEV-Instruct: up to
{aiev.max_fix_rounds} fix rounds, programmer T={aiev.programmer_temperature}, questioner
T={aiev.questioner_temperature}, answers capped at {aiev.max_tokens_answer} tokens, the programmer writing the tests
(AutoCoder). AIEV-Instruct, questioner's tests: the embedded default build's settings (the questioner writes calls of
the seed, their expected values recorded by running it; at least {aiev_default.min_tests} tests with two different
results; answers capped at {aiev_default.max_tokens_answer} tokens). LLM / sandbox: wall time with a model request / a
sandbox job in flight; pipeline: the rest.

{table(runs)}

{chr(10).join(details(run) for run in runs)}
"""
    print("\n" + section)
    if not args.no_write:
        write_section("bench_synthesis_soi_aiev", section)
        print(f"written to {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
