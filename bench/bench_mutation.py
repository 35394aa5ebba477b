"""Mutation adequacy calibrated on real tests, and what it costs per kept sample.

HumanEval+: every task's canonical solution (prompt + canonical_solution) is mutated as synthesized solutions are
(processing/synthesis/mutants.py, at most 24 mutants drawn with the task id as seed), and the same mutants run in one
sandbox job per task and test suite, through the driver synthesis uses. Two suites: base (HumanEval+'s
`base_input`, HumanEval's own test inputs) and plus (`base_input` + `plus_input`, what a HumanEval+ pass needs). A
test compares the candidate's output on each input with the reference's (a copy of the canonical solution kept in the
test code, which is never mutated), with EvalPlus's tolerance for floats. The plus suite holds the base inputs, so
it must kill at least what base kills; it should kill more.

Time: the mutation check of the worked examples of prompts/soi_examples.jinja (real solutions with their tests,
through the synthesis code path), then Self-OSS-Instruct and AIEV-Instruct at the embedded build's settings
(`DEFAULT_SYNTHESIS`, mutation on) with SmolLM2-135M-Instruct on a llama.cpp server started here and the local
bubblewrap sandbox, over the embedded default's seed functions (builders/defaults/seeds/basics.py, then calendar.py),
as many per kind as the embedded build takes (8 and 12). The mutation jobs are timed apart from everything else, and
their share of the run's wall time is the time the check adds per verified sample over the synthesis time per
verified sample (model calls included).

Usage: python bench/bench_mutation.py [--part humaneval|synthesis|all] [--tasks N] [--no-write]
"""

import argparse
import asyncio
import gzip
import json
import math
import statistics
import sys
import sysconfig
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from _results import REPO, RESULTS, SHARED, machine, now, write_section
from bench_synthesis_soi_aiev import Busy, local_services, run_kind, seed_rows

from cursorcore.builders.programming_instruct import DEFAULT_SEED_FILES, DEFAULT_SYNTHESIS, Config
from cursorcore.processing.sandbox import Job, Limits, get_sandbox
from cursorcore.processing.synthesis.aiev import AIEVConfig, AIEVInstruct
from cursorcore.processing.synthesis.mutation import MutationConfig, mutation_check, mutation_plan
from cursorcore.processing.synthesis.self_oss_instruct import SelfOSSInstruct, SelfOSSInstructConfig
from cursorcore.processing.synthesis.soi_answers import parse_answer
from cursorcore.processing.synthesis.soi_common import examples, mutation_adequacy

DATA = SHARED / "benchmarks" / "humaneval" / "HumanEvalPlus-v0.1.10.jsonl.gz"
INPUTS = "inputs.json"
# the task's program after the (mutated) solution: every input run through the reference and the candidate
ORACLE_TESTS = """
import copy as _copy
import json as _json
import math as _math

_REFERENCE = {reference!r}


def _same(got, want):
    if isinstance(want, float) or isinstance(got, float):
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return False
        return _math.isclose(got, want, rel_tol=1e-7, abs_tol=max({atol!r}, 1e-6)) or got == want
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        return type(got) is type(want) and len(got) == len(want) and all(map(_same, got, want))
    return got == want


def _check(candidate):
    namespace = {{}}
    exec(_REFERENCE, namespace)
    with open({inputs!r}) as _file:
        inputs = _json.load(_file)
    for args in inputs:
        assert _same(candidate(*_copy.deepcopy(args)), namespace[{entry!r}](*_copy.deepcopy(args))), args


_check({entry})
"""
# slow tasks run their plus inputs for seconds: room for the original and for mutants that survive them all
HUMANEVAL_LIMITS = Limits(wall_time=60.0, memory_mb=2048)
HUMANEVAL_MUTATION = MutationConfig(budget=240.0)


def humaneval_jobs(limit: int | None) -> list[tuple[str, str, Any, Job]]:
    """(task id, suite, plan, job) for base and plus of each task."""
    with gzip.open(DATA, "rt") as file:
        tasks = [json.loads(line) for line in file][:limit]
    jobs = []
    for task in tasks:
        reference = task["prompt"] + task["canonical_solution"]
        tests = ORACLE_TESTS.format(reference=reference, atol=task["atol"], inputs=INPUTS, entry=task["entry_point"])
        for suite, inputs in (("base", task["base_input"]), ("plus", task["base_input"] + task["plus_input"])):
            plan = mutation_plan(
                reference,
                lambda code, tests=tests: f"{code}\n\n\n{tests}\n",
                HUMANEVAL_MUTATION,
                HUMANEVAL_LIMITS,
                seed=task["task_id"],
            )
            job = replace(plan.job, files={**plan.job.files, INPUTS: json.dumps(inputs)})
            jobs.append((task["task_id"], suite, plan, job))
    return jobs


@dataclass
class Suite:
    scores: list[float]
    counts: Counter
    unmeasured: list[str]
    seconds: list[float]


def run_humaneval(limit: int | None) -> tuple[dict[str, Suite], dict[str, int], float]:
    jobs = humaneval_jobs(limit)
    suites = {suite: Suite([], Counter(), [], []) for suite in ("base", "plus")}
    per_task: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    with get_sandbox("local", workers=2) as sandbox:
        for (task_id, suite, plan, _), result in zip(jobs, sandbox.verify(job for *_, job in jobs), strict=True):
            check = mutation_check(plan, result, HUMANEVAL_MUTATION)
            target = suites[suite]
            target.seconds.append(result.duration)
            if check.status not in ("passed", "failed"):
                target.unmeasured.append(f"{task_id} ({check.status}: {check.detail[:80]})")
                continue
            summary = json.loads(check.detail)
            target.scores.append(summary["score"])
            target.counts.update({k: v for k, v in summary.items() if isinstance(v, int)})
            per_task.setdefault(task_id, {})[suite] = summary["score"]
    wall = time.perf_counter() - started
    paired = [scores for scores in per_task.values() if len(scores) == 2]
    comparison = {
        "plus higher": sum(s["plus"] > s["base"] for s in paired),
        "equal": sum(s["plus"] == s["base"] for s in paired),
        "plus lower": sum(s["plus"] < s["base"] for s in paired),
    }
    return suites, comparison, wall


def humaneval_section(suites: dict[str, Suite], comparison: dict[str, int], wall: float, host: str) -> str:
    lines = [
        "| suite | tasks scored | mutants run | killed | timed out | survived | equivalent | not run | pooled score "
        "| mean task score | median | job seconds (median / max) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, suite in suites.items():
        c = suite.counts
        pooled = (c["killed"] + c["timed_out"]) / c["tried"] if c["tried"] else 0.0
        lines.append(
            f"| {name} | {len(suite.scores)} | {c['tried']} | {c['killed']} | {c['timed_out']} | {c['survived']} | "
            f"{c['equivalent']} | {c['not_run']} | {pooled:.3f} | {statistics.fmean(suite.scores):.3f} | "
            f"{statistics.median(suite.scores):.3f} | {statistics.median(suite.seconds):.2f} / "
            f"{max(suite.seconds):.1f} |"
        )
    caught = {name: suite.counts["killed"] + suite.counts["timed_out"] for name, suite in suites.items()}
    unmeasured = "; ".join(f"{name}: {', '.join(s.unmeasured)}" for name, s in suites.items() if s.unmeasured)
    tasks = len(suites["base"].scores) + len(suites["base"].unmeasured)
    return f"""## Mutation adequacy: HumanEval+ base vs plus tests

{host}. {tasks} HumanEval+ v0.1.10 canonical solutions, at most {HUMANEVAL_MUTATION.max_mutants} mutants each (the
same ones for both suites, drawn with the task id as seed), one sandbox job per task and suite (local bubblewrap, 2
workers), {wall:.0f} s in all. Score = (killed + timed out) / mutants run; pooled = over all mutants, mean / median =
over tasks. Equivalent = same bytecode as the original (never run). A mutant's time limit is 10x the original's run
(at least 1 s, at most {HUMANEVAL_LIMITS.wall_time:g} s).

{chr(10).join(lines)}

Per task (same mutants): plus scores higher on {comparison["plus higher"]}, the same on {comparison["equal"]}, lower
on {comparison["plus lower"]}; the plus inputs catch {caught["plus"] - caught["base"]} more mutants in all
({suites["base"].counts["survived"]} survive the base tests, {suites["plus"].counts["survived"]} the plus tests). Not
measured: {unmeasured or "none"}.
"""


# ---------------------------------------------------------------- synthesis time


def default_seeds(count: int) -> list[dict]:
    """Stack-seeds rows of the embedded default's seed functions: the project's basics, then calendar.py."""
    paths = [*DEFAULT_SEED_FILES, Path(sysconfig.get_paths()["stdlib"]) / "calendar.py"]
    return seed_rows(paths, count, repo="defaults")


class MutationTimer:
    """The sandbox with the wall time of its mutation jobs (those running the driver) recorded apart."""

    def __init__(self, sandbox: Any):
        self.sandbox, self.busy, self.jobs = sandbox, Busy(), 0

    async def arun(self, job: Job) -> Any:
        if "driver.py" not in job.files:
            return await self.sandbox.arun(job)
        self.jobs += 1
        return await self.busy.time(self.sandbox.arun(job))


def checked_samples(folder: Path) -> list[str]:
    """`reason: mutation detail` of every sample of a run that got a mutation check, kept ("kept") or rejected."""
    found = []
    for path in sorted(folder.glob("out/*.jsonl.gz")):
        with gzip.open(path, "rt") as file:
            for line in file:
                results = json.loads(line)["metadata"].get("rollout_results") or []
                rows = []
                for result in results if isinstance(results, list) else [results]:
                    rows += [("kept", row) for row in result.get("samples", [])]
                    rows += [(r["reason"], r["sample"]) for r in result.get("rejections", []) if r.get("sample")]
                for reason, row in rows:
                    checks = {check["name"]: check for check in row["verification"]["checks"]}
                    if "mutation" in checks:
                        found.append(f"{reason}: {checks['mutation']['status']} {checks['mutation']['detail'][:160]}")
    return found


def worked_examples(sandbox: Any) -> tuple[list[float], list[int]]:
    """(seconds, mutants run) of the mutation check, through the synthesis code path, on the worked examples of
    prompts/soi_examples.jinja: real solutions with their tests, the size of a synthesized sample."""
    config = SelfOSSInstructConfig()
    seconds, tried = [], []
    for example in examples():
        started = time.perf_counter()
        check = asyncio.run(mutation_adequacy(parse_answer(example.response), sandbox, config))
        seconds.append(time.perf_counter() - started)
        tried.append(json.loads(check.detail)["tried"] if check.status in ("passed", "failed") else 0)
    return seconds, tried


def run_synthesis(host: str) -> str:
    config = Config()
    kinds = (
        ("Self-OSS-Instruct", "self-oss-instruct", SelfOSSInstruct, SelfOSSInstructConfig),
        ("AIEV-Instruct (questioner's tests)", "aiev", AIEVInstruct, AIEVConfig),
    )
    lines = [
        "| kind | seeds | seconds | verified (mutation jobs) | kept | mutation seconds | seconds per verified sample "
        "| mutation share |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    notes = []
    with local_services() as (work, llm, sandbox):
        example_seconds, example_mutants = worked_examples(sandbox)
        typical = statistics.median(example_seconds)
        for title, kind, rollout_class, config_class in kinds:
            rows = default_seeds(config.inputs(kind))
            timer = MutationTimer(sandbox)
            rollout = rollout_class(config_class(**DEFAULT_SYNTHESIS[kind], seed=config.seed))
            run = run_kind(title, rollout, rows, llm, timer, work / kind)
            mutation = timer.busy.seconds
            if timer.jobs:
                per_verified = f"{run.wall / timer.jobs:.1f}"
                share = f"{100 * mutation / run.wall:.2f}%"
            else:  # nothing verified: one verified sample costs at least the whole run
                per_verified = f"> {run.wall:.0f}"
                bound = math.ceil(10_000 * typical / run.wall) / 100  # a percentage, rounded up: still a bound
                share = f"< {bound:.2f}% (typical job {typical:.2f} s)"
            lines.append(
                f"| {title} | {run.seeds} | {run.wall:.0f} | {timer.jobs} | {run.samples} | {mutation:.2f} | "
                f"{per_verified} | {share} |"
            )
            rejected = ", ".join(f"{reason} {n}" for reason, n in sorted(run.rejections.items())) or "none"
            checked = "; ".join(checked_samples(work / kind)) or "none"
            notes.append(f"* {title}: rejections {rejected}. Mutation checks: {checked}.")
            print(lines[-1], flush=True)
    return f"""## Mutation adequacy: time added per verified sample

{host}. The mutation check of one sample is one sandbox job (at most 24 mutants, forked one by one by the driver).
On the {len(example_seconds)} worked examples of prompts/soi_examples.jinja (real solutions with their own tests, run
through `mutation_adequacy`, the synthesis code path), it took {typical:.2f} s per sample (median; max
{max(example_seconds):.2f} s) for {statistics.fmean(example_mutants):.1f} mutants on average; on the 164 HumanEval+
base suites above, whose tests are larger, the median job took the time shown there.

Against synthesis: the embedded build's settings (`DEFAULT_SYNTHESIS`, mutation on) with SmolLM2-135M-Instruct (Q4_1)
on llama-cpp-python's server, local bubblewrap sandbox (2 workers), the default seed functions
(builders/defaults/seeds/basics.py, then calendar.py), as many as the embedded build takes per kind, one document at
a time, request cache off. Verified = samples whose tests passed, each checked by one mutation job (kept or
rejected as `tests_too_weak`); mutation seconds = wall time with a mutation job in flight; mutation share = mutation
seconds / the run's wall time, that is the time the check adds per verified sample over the synthesis time per
verified sample (model calls included). When a run verifies nothing, a verified sample costs more than the whole
run, and the share is bounded with the typical job above.

{chr(10).join(lines)}

{chr(10).join(notes)}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("humaneval", "synthesis", "all"), default="all")
    parser.add_argument("--tasks", type=int, default=None, help="only the first N HumanEval+ tasks (default: all)")
    parser.add_argument("--no-write", action="store_true", help=f"do not update {RESULTS.relative_to(REPO)}")
    args = parser.parse_args()
    host = f"{machine()}; {now()}"
    print(host, flush=True)

    def record(name: str, text: str) -> None:
        print(text, flush=True)
        if not args.no_write:
            write_section(name, text)
            print(f"written to {RESULTS.relative_to(REPO)}", flush=True)

    if args.part in ("humaneval", "all"):
        suites, comparison, wall = run_humaneval(args.tasks)
        record("bench_mutation_humaneval", humaneval_section(suites, comparison, wall, host))
        if comparison["plus lower"]:
            print("plus scored lower than base on some task: check the harness", file=sys.stderr)
    if args.part in ("synthesis", "all"):
        record("bench_mutation_synthesis", run_synthesis(host))
    return 0


if __name__ == "__main__":
    sys.exit(main())
