"""`programming-instruct` with its input datasets on datatrove's local, Ray and Slurm executors: wall time per executor
and its ratio to local, and the rows each task read in every stage at 8 synthesis tasks.

The config is smaller than the embedded default (which takes ~10 minutes locally): two kinds (oj, aiprogrammer), one
input per synthesis task, 8 synthesis tasks, answers cut short. A first local build fills the request cache (its time
is reported as "local, cold"); the three timed builds then answer every request from that cache, so what differs
between them is the executor (scheduling, process start-up, Slurm's polling), not the model. Each build starts from
an empty hub, so the inputs (stack-seeds, oj-trajectories) are built on the executor too. Slurm runs on a single-node
cluster started here (tests/slurm_cluster.py; `make install-slurm`), Ray on a local instance with this machine's CPUs.

Usage: python bench/bench_executors.py [--no-write]
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _results import REPO, machine, now, write_section

sys.path.insert(0, str(REPO))  # tests.slurm_cluster

from cursorcore.builders import programming_instruct as pi
from cursorcore.builders.executors import ExecutorConfig
from cursorcore.builders.hub import dataset_folder
from tests.slurm_cluster import SlurmCluster, missing_commands

TASKS = 8
SHORT = {"max_attempts": 1, "instruction_max_tokens": 24, "judge_max_tokens": 24, "chat_max_tokens": 24}
ACTIVATE = str(Path(sys.executable).parent / "activate")


def config(cache: Path, executor: ExecutorConfig) -> pi.Config:
    return pi.Config(
        kinds=["oj", "aiprogrammer"],
        inputs_per_kind={"oj": 1, "aiprogrammer": 1},
        synthesis_tasks=TASKS,
        assembly_tasks=2,
        synthesis={
            "oj": SHORT,
            "aiprogrammer": {**pi.DEFAULT_SYNTHESIS["aiprogrammer"], **SHORT, "aiprogrammer_max_tokens": 96},
        },
        llm={"backend": "local", "cache_path": str(cache / "{rank:05d}.sqlite")},
        executor=executor,
    )


def timed_build(cache: Path, executor: ExecutorConfig, hub: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    report = pi.build(config(cache, executor), hub=hub, workers=2 if executor.kind == "local" else None)
    seconds = time.perf_counter() - started
    per_task = {"programming-instruct": report.rows_per_task}
    stages = {"programming-instruct": sum(report.timings.values())}
    for name in ("stack-seeds", "oj-trajectories"):
        manifest = json.loads((dataset_folder(f"cursorcore/{name}", hub) / "manifest.json").read_text())
        per_task[name] = manifest["rows_per_task"]
        stages[name] = sum(manifest["timings_seconds"].values())
    return seconds, {"rows": report.rows, "rows_per_task": per_task, "stage_seconds": stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    header = f"{machine()}; {now()}."
    times: dict[str, float] = {}
    results: dict[str, dict] = {}
    root = Path(tempfile.mkdtemp(prefix="bench-executors-"))  # left in place if a build fails, for its logs
    cache = root / "llm-cache"
    times["local, cold"], results["cold"] = timed_build(cache, ExecutorConfig(), root / "cold")
    times["local"], results["local"] = timed_build(cache, ExecutorConfig(), root / "local")
    ray = ExecutorConfig(kind="ray", address="local", num_cpus=2, workers=2, tasks_per_job=1, mem_per_cpu_gb=0.5)
    times["ray"], results["ray"] = timed_build(cache, ray, root / "ray")
    if missing := missing_commands():
        print(f"Slurm left out: {', '.join(missing)} not installed (make install-slurm)")
    else:
        cluster = SlurmCluster(root / "slurm").start()
        try:
            os.environ.update(cluster.env)
            slurm = ExecutorConfig(kind="slurm", venv_path=ACTIVATE, mem_per_cpu_gb=0.5, poll_seconds=2)
            times["slurm"], results["slurm"] = timed_build(cache, slurm, root / "slurm-hub")
        finally:
            cluster.stop()
    shutil.rmtree(root)
    same = all(result["rows"] == results["local"]["rows"] for result in results.values())
    same_tasks = all(result["rows_per_task"] == results["local"]["rows_per_task"] for result in results.values())
    datasets = list(results["local"]["stage_seconds"])
    lines = [
        "## Executors: programming-instruct with its inputs on local, Ray and Slurm",
        "",
        header + " Config: kinds oj + aiprogrammer, one input per synthesis task, 8 synthesis tasks, 2 assembly "
        "tasks, answers capped at 24 tokens (96 for the AI programmer's drafts), the local llama.cpp server "
        "(SmolLM2-135M-Instruct); `bench/bench_executors.py`. Local runs 2 tasks at a time (`--workers 2`), Ray has "
        "2 CPUs, the single-node Slurm 4 CPU slots (the machine has 2 cores).",
        "",
        "| executor | wall time s | vs local | " + " | ".join(f"{name} stages s" for name in datasets) + " |",
        "| --- | ---: | ---: |" + " ---: |" * len(datasets),
        *(
            f"| {name} | {seconds:.1f} | {seconds / times['local']:.2f}x | "
            + " | ".join(f"{result['stage_seconds'][dataset]:.1f}" for dataset in datasets)
            + " |"
            for (name, seconds), result in zip(times.items(), results.values(), strict=True)
        ),
        "",
        "Stage seconds: the sum over the dataset's stages of the time from a stage's start (local, Ray) or from the "
        "moment the build began waiting on it (Slurm) to its last task's completion marker.",
        "",
        f"Rows: {results['local']['rows']}; {'the same' if same else 'NOT the same'} on every executor.",
        "",
        f"Rows read per task at {TASKS} synthesis tasks (from the stages' counters; "
        f"{'the same' if same_tasks else 'NOT the same'} on every executor):",
        "",
        "| dataset | stage | tasks | rows read per task | idle |",
        "| --- | --- | ---: | --- | ---: |",
    ]
    for dataset, stages in results["local"]["rows_per_task"].items():
        for stage, counts in stages.items():
            idle = sum(1 for count in counts if count == 0)
            lines.append(f"| {dataset} | {stage} | {len(counts)} | {' '.join(map(str, counts))} | {idle} |")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("bench_executors", text)


if __name__ == "__main__":
    main()
