"""Seed-function pipeline over the whole standard library, and its MinHash stage against datatrove's own example.

1. `cursorcore build stack-seeds` on its embedded default (this interpreter's standard library): files/s,
   functions/s and each step's share of the time (datatrove's per-step timings).
2. On the same filtered seeds, the four MinHash stages with this project's parameters (5-grams, 32 buckets x 5
   hashes: candidates at Jaccard ~0.5, SelfCodeAlign's threshold) against the parameters of datatrove's
   `examples/minhash_deduplication.py` (5-grams, 14 buckets x 8 hashes, 64-bit hashes: ~0.72): time and removals.

Usage: python bench/bench_seeds.py [--tasks N] [--workers N] [--no-write]
"""

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _results import RESULTS, machine, now, write_section
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.readers import JsonlReader
from datatrove.utils.hashing import HashConfig

from cursorcore.builders.runner import read_stats
from cursorcore.builders.stack_seeds import Config, build, work_folder

DATATROVE_EXAMPLE = MinhashConfig(hash_config=HashConfig(precision=64), num_buckets=14, hashes_per_bucket=8)


def step_seconds(logging_dir: Path) -> dict[str, float]:
    """Seconds per step, summed over tasks, from datatrove's stats files."""
    seconds: dict[str, float] = defaultdict(float)
    for path in sorted((logging_dir / "stats").glob("*.json")):
        for step in json.loads(path.read_text()):
            timing = step.get("time_stats")
            seconds[step["name"].encode("ascii", "ignore").decode().strip(" -:")] += (
                timing.get("total", 0.0) if isinstance(timing, dict) else 0.0
            )
    return dict(seconds)


def run_minhash(filtered: Path, work: Path, config: MinhashConfig) -> tuple[float, int]:
    """The four MinHash stages over the filtered seeds; (seconds, documents removed)."""
    started = time.perf_counter()
    stages = [
        [JsonlReader(str(filtered)), MinhashDedupSignature(str(work / "sigs"), config=config, language="eng")],
        [MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=config)],
        [MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config=config)],
        [JsonlReader(str(filtered)), MinhashDedupFilter(str(work / "remove"))],
    ]
    tasks = [1, config.num_buckets, 1, 1]
    for index, (pipeline, count) in enumerate(zip(stages, tasks, strict=True)):
        LocalPipelineExecutor(pipeline, tasks=count, workers=1, logging_dir=str(work / f"logs{index}")).run()
    removed = read_stats(work / "logs3")
    dropped = sum(counters.get("dropped", 0) for counters in removed.values())
    return time.perf_counter() - started, dropped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help=f"do not update {RESULTS.name}")
    args = parser.parse_args()
    host = f"{machine()}; {now()}"
    print(host, flush=True)
    with tempfile.TemporaryDirectory() as hub:
        config = Config(tasks=args.tasks)
        started = time.perf_counter()
        report = build(config, hub=hub, workers=args.workers)
        total = time.perf_counter() - started
        counters = {name.split(": ", 1)[-1]: c for name, c in report.stats.items()}
        files = counters["local .py files"]["files"]
        functions = counters["docstring functions"]["functions"]
        work = work_folder(config, hub)
        seconds = step_seconds(work / "logs" / "default-extract")
        share = sum(seconds.values()) or 1.0
        steps = "\n".join(f"| {name} | {s:.1f} | {100 * s / share:.0f}% |" for name, s in seconds.items())
        shards = sum(1 for _ in (work / "kept").glob("*"))
        signed = next(c["total"] for name, c in report.stats.items() if "MinHash stage 1" in name)
        ours = run_minhash(work / "kept", Path(hub) / "ours", config.minhash)
        theirs = run_minhash(work / "kept", Path(hub) / "theirs", DATATROVE_EXAMPLE)
    section = f"""## Seed functions: the standard library end to end, MinHash vs datatrove's example

{host}. {args.tasks} tasks on {args.workers} workers.

{files} files and {functions} docstring functions in {total:.0f} s: **{files / total:.1f} files/s,
{functions / total:.1f} functions/s**; {report.rows["train"]} seeds kept.

Extraction stage, time per step (summed over tasks):

| step | seconds | share |
| --- | ---: | ---: |
{steps}

MinHash on the same {signed} filtered seeds ({shards} shards):

| parameters | seconds | removed | vs datatrove example |
| --- | ---: | ---: | ---: |
| cursorcore: 5-grams, 32x5 (Jaccard ~0.5) | {ours[0]:.1f} | {ours[1]} | {theirs[0] / ours[0]:.2f}x speed |
| datatrove example: 5-grams, 14x8 (~0.72) | {theirs[0]:.1f} | {theirs[1]} | 1.00x |
"""
    print(section)
    if not args.no_write:
        write_section("bench_seeds", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
