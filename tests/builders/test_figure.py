"""The card's figure: rows per source and the length distribution, drawn from the shards of the build."""

import xml.etree.ElementTree as ET
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st

from cursorcore.builders.figure import (
    FIGURE,
    MAX_SOURCES,
    Overview,
    Summary,
    length_bins,
    overview_svg,
    summarize,
    text_length,
)
from cursorcore.builders.hub import dataset_folder
from cursorcore.builders.oj_trajectories import REPO_ID, Config, build

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    return [node.text or "" for node in ET.fromstring(svg).iter(f"{SVG}text")]


def test_text_length_counts_every_string_inside_a_cell():
    messages = [{"role": "user", "content": "abc"}, {"role": "assistant", "content": "de"}]
    assert text_length("héllo") == 5
    assert text_length(messages) == len("user") + 3 + len("assistant") + 2
    assert text_length({"code": "x", "lines": 7, "nested": [{"a": "yz"}]}) == 3
    assert text_length(None) == 0


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=200))
def test_length_bins_keep_every_row_in_contiguous_power_of_two_buckets(lengths):
    bins = length_bins(lengths)
    assert sum(count for _, count in bins) == len(lengths)
    assert bins[0][1] > 0 and bins[-1][1] > 0  # no empty bucket at either end
    longest = max(lengths)
    label = bins[-1][0]
    upper = int(label[1:-1]) * 1024 if label.endswith("k") else int(label[1:])
    assert upper >= longest and (longest <= 1 or upper < 2 * longest)
    assert len(bins) == len({label for label, _ in bins})


def test_the_svg_has_one_bar_per_source_and_folds_the_long_tail_into_other():
    sources = Counter({f"repo-{i:02d}": 100 - i for i in range(MAX_SOURCES + 5)})
    summary = Summary(sources, [10, 100, 1000, 1000, 5000], "default", Overview("repo", "content"))
    svg = overview_svg(summary)
    shown = texts(svg)
    assert "repo-00" in shown and "100" in shown
    assert f"repo-{MAX_SOURCES - 2:02d}" in shown and f"repo-{MAX_SOURCES - 1:02d}" not in shown
    tail = sum(100 - i for i in range(MAX_SOURCES - 1, MAX_SOURCES + 5))
    assert "other" in shown and str(tail) in shown
    assert "≤1k" in shown and "≤8k" in shown  # 1000 and 5000 characters
    assert overview_svg(summary) == svg  # the same rows draw the same bytes


def test_summaries_read_the_chosen_config_of_a_dataset_folder(tmp_path):
    for config, rows in (("aa", [("x", "a" * 3)]), ("wf", [("commit", "b" * 40), ("oj", "c" * 5), ("oj", "d")])):
        (tmp_path / "data" / config).mkdir(parents=True)
        table = pa.table({"source": [s for s, _ in rows], "code": [c for _, c in rows]})
        pq.write_table(table, tmp_path / "data" / config / "train-00000.parquet")
    summary = summarize(tmp_path, Overview("source", "code", config="wf"))
    assert summary.config == "wf" and summary.sources == Counter({"oj": 2, "commit": 1})
    assert sorted(summary.lengths) == [1, 5, 40]
    fallback = summarize(tmp_path, Overview("source", "code", config="missing"))
    assert fallback.config == "aa" and fallback.lengths == [3]
    assert summarize(tmp_path / "empty", Overview("source", "code")) is None


def test_a_built_dataset_card_embeds_the_figure_of_its_rows(tmp_path):
    report = build(Config(), hub=tmp_path)
    folder = dataset_folder(REPO_ID, tmp_path)
    svg = (folder / FIGURE).read_text()
    rows = sum(pq.read_metadata(shard).num_rows for shard in folder.glob("data/default/*.parquet"))
    assert rows == sum(report.rows.values()) > 0
    card = (folder / "README.md").read_text()
    assert f"![Rows per source and length distribution]({FIGURE})" in card
    mix = Counter(
        row["dataset"] for shard in folder.glob("data/default/*.parquet") for row in pq.read_table(shard).to_pylist()
    )
    assert set(mix) <= set(texts(svg))
    described = ", ".join(
        f"{name} {count}" for name, count in sorted(mix.items(), key=lambda item: (-item[1], item[0]))
    )
    assert f"{rows} rows of config `default` by dataset: {described}." in card
