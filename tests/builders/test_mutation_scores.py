"""The card's mutation-score table, from real parquet shards laid out as a build writes them."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cursorcore.builders import BuildReport
from cursorcore.builders.card import CardInfo, write_card
from cursorcore.builders.mutation_scores import mutation_table
from cursorcore.schema import FEATURES, Check, Sample, Snapshot, Verification


def sample(source: str, *checks: Check, code: str = "def f():\n    return 1\n") -> dict:
    verification = Verification("passed", (Check("tests", "passed"), *checks))
    return Sample(current=Snapshot(""), next=Snapshot(code), source=source, verification=verification).to_row()


def scored(source: str, score: float, status: str = "passed") -> dict:
    detail = {"score": score, "tried": 4, "killed": round(4 * score), "timed_out": 0, "survived": 4 - round(4 * score)}
    return sample(source, Check("mutation", status, json.dumps(detail)))


def write(folder: Path, config: str, rows: list[dict]) -> None:
    (folder / "data" / config).mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=FEATURES.arrow_schema)
    pq.write_table(table, folder / "data" / config / f"{'rejected' if config == 'rejected' else 'train'}-0.parquet")


def built(tmp_path: Path) -> Path:
    soi = [scored("self-oss-instruct", s) for s in (0.25, 0.5, 1.0)]
    soi.append(sample("self-oss-instruct", Check("mutation", "skipped", "no mutant to run (0 equivalent)")))
    aiev = [scored("aiev", 0.8)]
    commit = [sample("commit")]  # no tests of its own: never mutation-tested
    for config, rows in (("self-oss-instruct", soi), ("aiev", aiev), ("commit", commit), ("wf", soi + aiev + commit)):
        write(tmp_path, config, rows)
    weak = scored("self-oss-instruct", 0.0, "failed")
    weak["verification"]["checks"].append({"name": "rejection", "status": "failed", "detail": "tests_too_weak: ..."})
    other = sample("aiev", Check("rejection", "failed", "unresolved: tests still fail"))
    write(tmp_path, "rejected", [weak, other])
    return tmp_path


def test_each_mutation_tested_kind_gets_its_score_distribution(tmp_path):
    table = mutation_table(built(tmp_path))
    assert table == [
        {
            "kind": "self-oss-instruct",
            "scored": 3,
            "mean": "0.58",
            "min": "0.25",
            "median": "0.50",
            "max": "1.00",
            "quarters": "0 / 1 / 1 / 1",
            "unmeasured": 1,
            "too_weak": 1,
        },
        {
            "kind": "aiev",
            "scored": 1,
            "mean": "0.80",
            "min": "0.80",
            "median": "0.80",
            "max": "0.80",
            "quarters": "0 / 0 / 0 / 1",
            "unmeasured": 0,
            "too_weak": 0,
        },
    ]


def test_the_card_shows_the_table_only_when_something_was_mutation_tested(tmp_path):
    info = CardInfo(pretty_name="T", summary="s", license="other", sources=[])
    card = write_card(BuildReport("o/t", built(tmp_path / "a"), rows={}), info).read_text()
    assert "## How strong the tests are" in card
    assert "| self-oss-instruct | 3 | 0.58 | 0.25 | 0.50 | 1.00 | 0 / 1 / 1 / 1 | 1 | 1 |" in card
    assert "| aiev | 1 | 0.80 | 0.80 | 0.80 | 0.80 | 0 / 0 / 0 / 1 | 0 | 0 |" in card
    write(tmp_path / "b", "commit", [sample("commit")])
    assert "How strong the tests are" not in write_card(BuildReport("o/t", tmp_path / "b", rows={}), info).read_text()
