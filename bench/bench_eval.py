"""Scoring throughput: this harness (sandboxed) against `evalplus.evaluate` on the same solutions, same machine.

Solution sets, 164 each, from ../shared beside the repository: the HumanEval+ reference solutions (all pass) and
APEval's current code unchanged (mostly wrong). Both harnesses score base and plus tests with their reference
outputs already cached (each computes them once per dataset), EvalPlus with `--parallel` = cores, in this process
one after the other. Verdicts must be identical, apart from HumanEval/32, which EvalPlus 0.3.1 fails whatever the
solution (see cursorcore.eval.evalplus); a solution on which EvalPlus differs is rerun in EvalPlus alone, and one
whose verdict then agrees is reported as an EvalPlus flip, not a disagreement. EvalPlus runs offline on the same
release file (its override variables). Its wall time is given to its exit and to its results file (its exit waits
for a watchdog thread that sleeps in 20 s steps).

With --smollm2, also run APEval end to end with SmolLM2-135M-Instruct on the local llama.cpp server (instruct
prompts, greedy, 512 tokens; it takes a while) and record its table.

Usage: python bench/bench_eval.py [--no-write] [--smollm2]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import REPO, RESULTS, SHARED, machine, now, write_section

from cursorcore.eval.crosscheck import INSTALL_HINT, evalplus_python, run_evalplus
from cursorcore.eval.evalplus import PlusScorer, load_humanevalplus
from cursorcore.eval.results import markdown_table
from cursorcore.eval.sources import read_bytes

HUMANEVAL = SHARED / "benchmarks" / "humaneval" / "HumanEvalPlus-v0.1.10.jsonl.gz"
APEVAL = SHARED / "benchmarks" / "apeval" / "apeval.json"
KNOWN_DIFFERENCE = "HumanEval/32"
EVALPLUS_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "evalplus"


def solution_sets() -> dict[str, list[tuple[str, str]]]:
    problems = load_humanevalplus(HUMANEVAL).problems
    apeval = json.loads(APEVAL.read_text())
    return {
        "HumanEval+ reference solutions": [(task_id, problem.reference) for task_id, problem in problems.items()],
        "APEval current code, unchanged": [(task["task_id"], task["current"]["code"]) for task in apeval],
    }


def compare(name: str, solutions: list[tuple[str, str]], python: str, workdir: Path) -> tuple[str, int, list[str]]:
    """One table row, the number of disagreements other than the known one, and the tasks where EvalPlus differed
    from us but changed its verdict when rerun alone."""
    cores = os.cpu_count() or 1
    benchmark = load_humanevalplus(HUMANEVAL)
    with PlusScorer(benchmark) as scorer:
        scorer.ground_truth(benchmark.problems)  # cached after the first run, like EvalPlus's own
        start = time.perf_counter()
        ours = scorer.score(solutions)
        seconds = time.perf_counter() - start
    if not (EVALPLUS_CACHE / f"{benchmark.hash}.pkl").exists():  # its reference outputs, computed once
        run_evalplus("humaneval", solutions, HUMANEVAL, workdir / "warm-up", python=python, parallel=cores)
    theirs = run_evalplus("humaneval", solutions, HUMANEVAL, workdir, python=python, parallel=cores)
    differing = [
        index
        for index, ((task_id, _), v, (base, plus)) in enumerate(zip(solutions, ours, theirs.statuses, strict=True))
        if not agree(v, base, plus) and task_id != KNOWN_DIFFERENCE
    ]
    flaky = rerun_alone([solutions[index] for index in differing], ours, differing, python, workdir / "rerun")
    disagreements = [index for index in differing if index not in flaky]
    for index in differing:
        task_id, verdict, (base, plus) = solutions[index][0], ours[index], theirs.statuses[index]
        kind = "evalplus changed its verdict when rerun alone" if index in flaky else "DISAGREEMENT"
        print(f"  {task_id}: ours {verdict.base}/{verdict.plus}, evalplus {base}/{plus}: {kind}")
    both = sum(v.passed for v in ours)
    their_both = sum(base == plus == "pass" for base, plus in theirs.statuses)
    cell = f"{len(disagreements)}" + (f" ({len(flaky)} evalplus flip(s) on rerun)" if flaky else "")
    row = (
        f"| {name} | {seconds:.1f} | {theirs.seconds:.1f} | {seconds / theirs.seconds:.2f}x "
        f"| {theirs.results_seconds:.1f} | {seconds / theirs.results_seconds:.2f}x | {both} | {their_both} | {cell} |"
    )
    print(row, flush=True)
    return row, len(disagreements), [solutions[index][0] for index in sorted(flaky)]


def agree(verdict, base: str, plus: str) -> bool:
    return (verdict.base == "pass", verdict.plus == "pass") == (base == "pass", plus == "pass")


def rerun_alone(solutions, ours, indices, python: str, workdir: Path) -> set[int]:
    """Indices whose EvalPlus verdict, rerun with only those solutions, agrees with ours. EvalPlus's per-input limits
    are wall-clock seconds, so on a busy machine a slow solution can fail there in one run and pass in the next.
    EvalPlus needs a solution for every task of its dataset file, hence a subset file; its reference outputs for it
    go to a cache in `workdir`, not the user's."""
    if not solutions:
        return set()
    workdir.mkdir(parents=True)
    wanted = {task_id for task_id, _ in solutions}
    lines = [line for line in read_bytes(HUMANEVAL).decode().splitlines() if json.loads(line)["task_id"] in wanted]
    subset = workdir / "subset.jsonl"
    subset.write_text("\n".join(lines) + "\n")
    again = run_evalplus("humaneval", solutions, subset, workdir, python=python, cache=workdir / "cache")
    pairs = zip(indices, again.statuses, strict=True)
    return {index for index, (base, plus) in pairs if agree(ours[index], base, plus)}


def smollm2_table(workdir: Path) -> str:
    """APEval end to end with the embedded default model; the table as `cursorcore eval apeval` prints it."""
    output = workdir / "smollm2.json"
    command = [sys.executable, "-m", "cursorcore.apps.cli", "eval", "apeval", "--local", "--mode", "instruct"]
    command += ["--max-tokens", "512", "--apeval", str(APEVAL), "--humanevalplus", str(HUMANEVAL)]
    start = time.perf_counter()
    subprocess.run([*command, "--output", str(output)], check=True, cwd=REPO)
    minutes = (time.perf_counter() - start) / 60
    results = json.loads(output.read_text())
    table = markdown_table({results["model"]["name"]: results["scores"]})
    generation = results["generation"]
    return (
        f"{table}\n\nInstruct prompts (CursorCore's one-shot), greedy, at most {generation['max_tokens']} tokens, "
        f"llama.cpp server, {minutes:.0f} min for generation and scoring; template hash "
        f"`{generation['template_hash'][:12]}`, APEval `{results['benchmark']['hash']}`, HumanEval+ "
        f"`{results['benchmark']['tests']['hash']}`. A 135M model barely edits code: the score is expected to be low "
        "(unchanged current code scores about 3.7 (3.0))."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-write", action="store_true", help=f"do not update {RESULTS.relative_to(REPO)}")
    parser.add_argument("--smollm2", action="store_true", help="also run APEval with SmolLM2 end to end")
    args = parser.parse_args()
    if not HUMANEVAL.exists() or not APEVAL.exists():
        print(f"bench_eval: skipped, {HUMANEVAL.parent.parent} is missing (the shared/ folder beside the repository)")
        return 0
    python = evalplus_python()
    if python is None:
        print(f"bench_eval: skipped, evalplus is not installed ({INSTALL_HINT})")
        return 0
    header = f"{machine()}; {now()}."
    print(header, flush=True)
    rows = [
        "| solutions (164) | cursorcore s | evalplus s | ratio | evalplus s to its results | ratio "
        "| both pass (ours) | both pass (evalplus) | disagreements |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    disagreements, flips = 0, []
    with tempfile.TemporaryDirectory() as workdir:
        for number, (name, solutions) in enumerate(solution_sets().items()):
            row, found, flipped = compare(name, solutions, python, Path(workdir) / str(number))
            rows.append(row)
            disagreements += found
            flips += [f"{task_id} ({name})" for task_id in flipped]
        smollm2 = smollm2_table(Path(workdir)) if args.smollm2 else None
    table = "\n".join(rows)
    note = (
        f"Ratio = cursorcore / evalplus wall time (lower is faster). evalplus.evaluate ran with --parallel "
        f"{os.cpu_count()}; its wall time runs to its exit, which waits for a watchdog thread that sleeps in 20 s "
        "steps, so the second ratio is against the time it took to write its results file. Both harnesses start "
        "with their reference outputs cached; cursorcore's time includes starting its sandbox workers. Verdicts "
        "(pass or not, base and plus tests, per solution): "
        f"{'identical' if not disagreements else f'{disagreements} disagreement(s)'} apart from {KNOWN_DIFFERENCE}, "
        "which EvalPlus 0.3.1 fails for every solution, its reference included."
    )
    if flips:
        note += (
            f" Not counted as disagreements: {', '.join(flips)}, where EvalPlus's verdict differed from ours in the "
            "run timed here but agreed with it when that solution was rerun in EvalPlus alone (EvalPlus's per-input "
            "limits are wall-clock seconds, so on a busy machine a slow solution can fail there in one run and pass "
            "in the next; this harness counts time net of waiting for a CPU)."
        )
    print(f"\n{table}\n\n{note}")
    if not args.no_write:
        write_section(
            "bench_eval",
            f"## Evaluation: scoring vs evalplus.evaluate (HumanEval+ tests)\n\n{header}\n\n{table}\n\n{note}",
        )
        if smollm2:
            write_section(
                "bench_eval_smollm2",
                f"## Evaluation: APEval, SmolLM2-135M-Instruct end to end\n\n{header}\n\n{smollm2}",
            )
        print(f"written to {RESULTS.relative_to(REPO)}")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
