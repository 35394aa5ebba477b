"""The card's table of mutation scores: for each kind of sample verified by its own tests, how strongly those tests
pin the solution down (see processing/synthesis/mutation.py), read from the shards a build wrote."""

import statistics
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from cursorcore.processing.assembly import REJECTED
from cursorcore.processing.synthesis.mutation import mutation_summary
from cursorcore.schema import Source

QUARTERS = ("0-25%", "25-50%", "50-75%", "75-100%")


def _rows(folder: Path, config: str) -> list[dict[str, Any]]:
    rows = []
    for shard in sorted((folder / "data" / config).glob("*.parquet")):
        rows += pq.read_table(shard, columns=["source", "verification"]).to_pylist()
    return rows


def _too_weak(row: dict[str, Any]) -> bool:
    checks = row["verification"]["checks"]
    return bool(checks) and checks[-1]["name"] == "rejection" and checks[-1]["detail"].startswith("tests_too_weak:")


def mutation_table(folder: Path) -> list[dict[str, Any]]:
    """One row per kind whose samples were mutation-tested: kept samples scored, the score's spread and quarters
    (how many scores fall in 0-25 %, ..., 75-100 %), kept samples whose check had nothing to measure, and candidates
    rejected as `tests_too_weak`. Empty when no sample of the build was mutation-tested."""
    rejected = [row["source"] for row in _rows(folder, REJECTED) if _too_weak(row)]
    table = []
    for source in Source:
        kept = [row["verification"] for row in _rows(folder, source)]
        scores = [summary["score"] for summary in map(mutation_summary, kept) if summary is not None]
        measured = sum(any(check["name"] == "mutation" for check in v["checks"]) for v in kept)
        if not measured and source not in rejected:
            continue
        quarters = [0] * len(QUARTERS)
        for score in scores:
            quarters[min(int(score * len(QUARTERS)), len(QUARTERS) - 1)] += 1
        table.append(
            {
                "kind": source.value,
                "scored": len(scores),
                "mean": f"{statistics.fmean(scores):.2f}" if scores else "-",
                "min": f"{min(scores):.2f}" if scores else "-",
                "median": f"{statistics.median(scores):.2f}" if scores else "-",
                "max": f"{max(scores):.2f}" if scores else "-",
                "quarters": " / ".join(map(str, quarters)),
                "unmeasured": measured - len(scores),
                "too_weak": rejected.count(source),
            }
        )
    return table
