"""`load_dataset(<hub folder>)` with default arguments returns that folder's current rows: two hub folders holding
a dataset of the same name never answer with each other's rows, and a rebuilt folder never answers with its old
ones (`datasets` keys its cache of a local folder on the folder's name and its card, not on the files)."""

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq

from cursorcore.builders.oj_trajectories import Config, build

LOAD = """
import json, sys
import datasets
rows = datasets.load_dataset(sys.argv[1], split="train")
print(json.dumps(sorted(rows["id"])))
"""


def _loaded_ids(folder) -> list[str]:
    """The ids `load_dataset(folder)` returns in a fresh process that shares this session's `datasets` cache."""
    result = subprocess.run(
        [sys.executable, "-c", LOAD, str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _ids_on_disk(folder) -> list[str]:
    return sorted(i for shard in folder.glob("data/default/*.parquet") for i in pq.read_table(shard)["id"].to_pylist())


def test_two_hub_folders_and_a_rebuild_each_load_their_own_current_rows(tmp_path):
    first = build(Config(max_per_language=10), hub=tmp_path / "one").folder
    second = build(Config(max_per_language=1), hub=tmp_path / "two").folder
    assert first.name == second.name and _ids_on_disk(first) != _ids_on_disk(second)

    assert _loaded_ids(first) == _ids_on_disk(first)
    assert _loaded_ids(second) == _ids_on_disk(second)

    rebuilt = build(Config(max_per_language=1), hub=tmp_path / "one").folder
    assert rebuilt == first and _ids_on_disk(rebuilt) == _ids_on_disk(second)
    assert _loaded_ids(rebuilt) == _ids_on_disk(rebuilt)
    assert _loaded_ids(second) == _ids_on_disk(second)


def test_shards_are_named_by_their_content_and_listed_one_by_one_in_the_card(tmp_path):
    from huggingface_hub import DatasetCard

    folder = build(Config(tasks=2), hub=tmp_path).folder
    shards = sorted(p.name for p in folder.glob("data/default/*.parquet"))
    assert shards and all(name.startswith("train-") and name.count("-") == 4 for name in shards)
    listed = DatasetCard.load(folder / "README.md").data.to_dict()["configs"][0]["data_files"]
    assert listed == [{"split": "train", "path": [f"data/default/{name}" for name in shards]}]
