"""The dataset card's figure: rows per source and the length distribution of one config, as a small SVG.

Written by hand rather than with a plotting library: the build stays light, and the same shards give the same bytes
(the figure is part of a versioned, reproducible release). The Hub renders an image stored beside the README.
"""

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pyarrow.parquet as pq

FIGURE = "figures/overview.svg"
WIDTH = 720
BAR_HEIGHT = 18
GAP = 6
LABEL_WIDTH = 200
COUNT_WIDTH = 70
HISTOGRAM_HEIGHT = 160
COLOR = "#4f7cac"
MAX_SOURCES = 12  # the rest is one "other" bar


@dataclass(frozen=True)
class Overview:
    """Which columns of which config the figure summarizes (the first config of the dataset by default)."""

    source_column: str
    length_column: str
    config: str | None = None


@dataclass(frozen=True)
class Summary:
    sources: Counter
    lengths: list[int]
    config: str
    overview: Overview


def text_length(value: Any) -> int:
    """Characters of every string inside a cell: a code string, a snapshot, or a whole conversation."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(text_length(item) for item in value.values())
    if isinstance(value, list | tuple):
        return sum(text_length(item) for item in value)
    return 0


def summarize(folder: Path, overview: Overview) -> Summary | None:
    """Source counts and lengths over every split of the config, read column by column; None without shards."""
    configs = sorted(path.name for path in (folder / "data").glob("*") if path.is_dir())
    config = overview.config if overview.config in configs else (configs[0] if configs else None)
    shards = sorted((folder / "data" / config).glob("*.parquet")) if config else []
    if not shards:
        return None
    sources: Counter = Counter()
    lengths = []
    for shard in shards:
        columns = [overview.source_column, overview.length_column]
        for batch in pq.ParquetFile(shard).iter_batches(columns=columns):
            sources.update(str(source) for source in batch.column(0).to_pylist())
            lengths.extend(text_length(value) for value in batch.column(1).to_pylist())
    return Summary(sources, lengths, config, overview)


def length_bins(lengths: Sequence[int]) -> list[tuple[str, int]]:
    """Counts per power-of-two length bucket, from the shortest to the longest non-empty one."""
    counts = Counter(max(0, math.ceil(math.log2(length))) if length > 1 else 0 for length in lengths)
    if not counts:
        return []
    low, high = min(counts), max(counts)
    return [(_bin_label(exponent), counts.get(exponent, 0)) for exponent in range(low, high + 1)]


def _bin_label(exponent: int) -> str:
    upper = 2**exponent
    return f"≤{upper // 1024}k" if upper >= 1024 else f"≤{upper}"


def overview_svg(summary: Summary) -> str:
    """Two panels: horizontal bars of rows per source, then a histogram of lengths on power-of-two bins."""
    ranked = sorted(summary.sources.items(), key=lambda item: (-item[1], item[0]))
    if len(ranked) > MAX_SOURCES:
        rest = sum(count for _, count in ranked[MAX_SOURCES - 1 :])
        ranked = [*ranked[: MAX_SOURCES - 1], ("other", rest)]
    parts = []
    y = 28
    parts.append(_text(10, y, f"Rows per {summary.overview.source_column} (config {summary.config})", bold=True))
    y += 10
    top = max((count for _, count in ranked), default=1)
    span = WIDTH - LABEL_WIDTH - COUNT_WIDTH - 20
    for name, count in ranked:
        width = max(1, round(span * count / top))
        parts.append(_text(LABEL_WIDTH, y + BAR_HEIGHT - 5, _shorten(name), anchor="end"))
        parts.append(_rect(LABEL_WIDTH + 8, y, width, BAR_HEIGHT))
        parts.append(_text(LABEL_WIDTH + 14 + width, y + BAR_HEIGHT - 5, str(count)))
        y += BAR_HEIGHT + GAP
    y += 30
    column = summary.overview.length_column
    parts.append(_text(10, y, f"Length of {column} in characters (rows per bucket)", bold=True))
    y += 14
    bins = length_bins(summary.lengths)
    tallest = max((count for _, count in bins), default=1) or 1
    slot = (WIDTH - 40) / max(len(bins), 1)
    base = y + HISTOGRAM_HEIGHT
    for index, (label, count) in enumerate(bins):
        height = round(HISTOGRAM_HEIGHT * count / tallest)
        x = 20 + index * slot
        parts.append(_rect(x + 2, base - height, max(1, slot - 4), height))
        if count:
            parts.append(_text(x + slot / 2, base - height - 4, str(count), anchor="middle", size=10))
        parts.append(_text(x + slot / 2, base + 14, label, anchor="middle", size=10))
    height = base + 28
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">\n'
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>\n' + "\n".join(parts) + "\n</svg>\n"
    )


def write_overview(folder: Path, overview: Overview) -> Summary | None:
    """Write `figures/overview.svg` into the dataset folder; None (and no file) when there are no rows."""
    summary = summarize(folder, overview)
    if summary is None:
        return None
    path = folder / FIGURE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(overview_svg(summary))
    return summary


def _shorten(name: str, limit: int = 30) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _rect(x: float, y: float, width: float, height: float) -> str:
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{COLOR}"/>'


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 12, bold: bool = False) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"{weight}>{escape(text)}</text>'


def describe(summary: Summary) -> str:
    """The figure's numbers in words, for readers of the raw README and screen readers."""
    total = sum(summary.sources.values())
    mix = ", ".join(f"{name} {count}" for name, count in sorted(summary.sources.items(), key=lambda i: (-i[1], i[0])))
    ordered = sorted(summary.lengths)
    median = ordered[len(ordered) // 2]
    return (
        f"{total} rows of config `{summary.config}` by {summary.overview.source_column}: {mix}. "
        f"Length of `{summary.overview.length_column}`: median {median} characters, "
        f"shortest {ordered[0]}, longest {ordered[-1]}."
    )
