"""`cursorcore build oj-trajectories`: the embedded sample, the shared AtCoder archive, determinism and resume."""

import re
from collections import Counter
from importlib.resources import files
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from cursorcore.apps.cli import main
from cursorcore.builders import oj_trajectories
from cursorcore.builders.oj_trajectories import REPO_ID, Config, build

ROOT = Path(__file__).parents[2]
CONFIGS = ROOT / "builders" / "configs"
SAMPLE_KEPT = [
    "codenet-sample/p90001/u00000001",
    "codenet-sample/p90001/u00000002",
    "codenet-sample/p90001/u00000010",
    "codenet-sample/p90002/u00000023",
    "codenet-sample/p90003/u00000030",
]
SAMPLE_DROPPED = {
    "dropped_broken_metadata_row": 2,
    "dropped_unreadable_metadata_file": 1,
    "dropped_identical_problem": 1,
    "dropped_multiple_languages": 1,
    "dropped_no_accepted": 1,
    "dropped_binary_file": 1,
    "dropped_not_utf8": 1,
    "dropped_missing_file": 1,
    "dropped_single_submission": 1,
    "dropped_one_line_final": 1,
    "dropped_blank_lines_final": 1,
    "dropped_non_ascii": 1,
    "dropped_dissimilar_history": 1,
    "dropped_similar_final": 1,
    "dropped_consecutive_duplicates": 1,
}


def counters(report) -> Counter:
    total = Counter()
    for stage in report.stats.values():
        total.update(stage)
    return total


def dropped(report) -> dict[str, int]:
    return {name: count for name, count in counters(report).items() if name.startswith("dropped_")}


def rows(hub: Path) -> list[dict]:
    """The built rows as `load_dataset` gives them, sorted by id."""
    folder = hub / "datasets" / REPO_ID
    loaded = datasets.load_dataset(str(folder), split="train", cache_dir=str(hub / ".hf-cache"))
    return sorted(loaded.to_list(), key=lambda row: row["id"])


def test_the_embedded_sample_ships_with_the_package():
    sample = files("cursorcore.builders.defaults") / "codenet-sample"
    assert (sample / "metadata" / "p90001.csv").is_file() and (sample / "problem_descriptions").is_dir()
    assert Path(Config().source) == Path(str(sample))


def test_embedded_default_keeps_five_trajectories_and_says_why_it_dropped_the_rest(tmp_path):
    report = build(Config(), hub=tmp_path)
    assert report.rows == {"train": 5}
    assert dropped(report) == SAMPLE_DROPPED
    assert counters(report)["deduped_submissions"] == counters(report)["dissimilar_submissions"] == 0
    loaded = rows(tmp_path)
    assert [row["id"] for row in loaded] == SAMPLE_KEPT
    by_id = {row["id"]: row for row in loaded}
    first = by_id["codenet-sample/p90001/u00000001"]
    assert [s["status"] for s in first["submissions"]] == ["Compile Error", "Wrong Answer", "Accepted"]
    assert first["statement"].startswith("Running Total\n\nA shop records") and first["statement_id"] == "p90001"
    assert (first["source"], first["layout"], first["license"], first["language"]) == (
        "oj",
        "codenet",
        "Apache-2.0",
        "C++",
    )
    assert "\r" not in by_id["codenet-sample/p90002/u00000023"]["submissions"][0]["code"]
    assert by_id["codenet-sample/p90002/u00000023"]["statement"].startswith("Score : 200 points")
    assert by_id["codenet-sample/p90003/u00000030"]["statement"] == ""


def test_lenient_modes_repair_trajectories_that_the_published_filter_drops(tmp_path):
    report = build(Config(duplicates="dedupe", history_similarity="submission"), hub=tmp_path)
    assert "dropped_consecutive_duplicates" not in dropped(report)
    assert counters(report)["deduped_submissions"] == counters(report)["dissimilar_submissions"] == 1
    kept = {row["id"]: row for row in rows(tmp_path)}
    assert "codenet-sample/p90001/u00000008" in kept
    assert len(kept["codenet-sample/p90001/u00000010"]["submissions"]) == 2  # the unrelated first one is cut


def test_published_filter_keeps_a_dissimilar_draft_when_another_is_similar(tmp_path):
    build(Config(), hub=tmp_path)
    kept = {row["id"]: row for row in rows(tmp_path)}
    assert len(kept["codenet-sample/p90001/u00000010"]["submissions"]) == 3


def test_rows_do_not_depend_on_tasks_or_workers(tmp_path):
    one = build(Config(tasks=1), hub=tmp_path / "one", workers=1)
    two = build(Config(tasks=3), hub=tmp_path / "two", workers=2)
    assert rows(tmp_path / "one") == rows(tmp_path / "two")
    assert dropped(one) == dropped(two) == SAMPLE_DROPPED


def test_a_build_killed_midway_resumes_to_the_same_rows(tmp_path):
    build(Config(tasks=3), hub=tmp_path)
    expected = rows(tmp_path)
    shards = sorted((tmp_path / "datasets" / REPO_ID / "data" / "default").glob("train-*.parquet"))
    markers = sorted(tmp_path.rglob("completions/*"))
    assert len(markers) == 3 and shards
    # task 0 (p90001, the largest shard) died while writing: no completion marker, half a parquet file
    marker = next(path for path in markers if int(path.name) == 0)
    marker.unlink()
    shard = shards[0]
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's error type for a truncated file varies
        pq.read_metadata(shard)
    report = build(Config(tasks=3), hub=tmp_path)
    assert marker.exists()
    assert rows(tmp_path) == expected
    assert dropped(report) == SAMPLE_DROPPED  # the finished tasks' stats are still counted


def test_empty_folder_builds_nothing_and_a_missing_one_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    report = build(Config(source=str(tmp_path / "empty")), hub=tmp_path / "hub")
    assert report.rows == {"train": 0} and dropped(report) == {"dropped_no_metadata": 1}
    with pytest.raises(FileNotFoundError, match="nowhere"):
        build(Config(source=str(tmp_path / "nowhere")), hub=tmp_path / "hub")
    with pytest.raises(FileNotFoundError, match="descriptions not found"):
        build(Config(descriptions=str(tmp_path / "nowhere.tar.gz")), hub=tmp_path / "hub")


def test_yaml_paths_are_relative_to_the_yaml_file(tmp_path):
    (tmp_path / "configs").mkdir()
    config_file = tmp_path / "configs" / "oj.yaml"
    config_file.write_text("source: ../judge\nlayout: atcoder\nproblem_list: s3://bucket/problem_list.csv\ntasks: 2\n")
    config = Config.from_yaml(config_file)
    assert Path(config.source) == tmp_path / "judge" and config.problem_list == "s3://bucket/problem_list.csv"
    assert (config.layout, config.tasks, config.descriptions) == ("atcoder", 2, None)
    config_file.write_text("source: ../judge\nmax_per_problme: 3\n")
    with pytest.raises(ValueError, match="max_per_problme"):
        Config.from_yaml(config_file)


def test_full_scale_codenet_config_only_names_paths():
    config = Config.from_yaml(CONFIGS / "oj-trajectories-codenet.yaml")
    assert (config.layout, config.dataset, config.license) == ("codenet", "codenet", "CDLA-Permissive-2.0")
    assert (config.max_per_problem, config.max_per_language, config.history_threshold) == (50, 10, 0.7)


def test_cli_builds_the_embedded_default(tmp_path, capsys):
    assert main(["build", "oj-trajectories", "--hub", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert f"{REPO_ID} v0.1.0 -> {tmp_path}" in output and "non ascii 1" in output
    assert re.search(r"train +│ 5 rows", output)


def test_cli_builds_the_shared_atcoder_archive(shared, tmp_path, capsys):
    config = CONFIGS / "oj-trajectories-atcoder.yaml"
    assert Path(Config.from_yaml(config).source) == (shared / "sources" / "oj" / "atcoder-yukikamome316").resolve()
    assert main(["build", "oj-trajectories", "--config", str(config), "--hub", str(tmp_path)]) == 0
    assert re.search(r"train +│ 86 rows", capsys.readouterr().out)
    loaded = rows(tmp_path)
    assert len(loaded) == 86 and {row["layout"] for row in loaded} == {"atcoder"}
    assert sum(bool(row["statement"]) for row in loaded) == 20
    statement = next(row for row in loaded if row["problem_id"] == "abc057_c")
    assert statement["statement_id"] == "p03775" and "Problem Statement" in statement["statement"]
    assert {row["license"] for row in loaded} == {"MIT"}


def test_builder_is_registered():
    from cursorcore.builders import get_builder

    assert get_builder("oj-trajectories") is oj_trajectories
