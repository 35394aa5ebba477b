"""Dataset cards from `datacards/dataset_card.md.jinja`, filled from a build's own numbers (never typed by hand).

The YAML front matter is built with huggingface_hub's `DatasetCardData`, so it is what the Hub validates: licence,
languages, task categories, size category, `configs` with their data files and `dataset_info` features.
"""

import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import datasets
import pyarrow.parquet as pq
from huggingface_hub import DatasetCard, DatasetCardData

from cursorcore import __version__
from cursorcore.builders import BuildReport
from cursorcore.builders.figure import FIGURE, Overview, describe, write_overview
from cursorcore.builders.hub import split_files
from cursorcore.builders.mutation_scores import mutation_table
from cursorcore.builders.progress import readable_counters, readable_stage

CITATIONS = {
    "cursorcore": """@article{jiang2024cursorcore,
  title   = {CursorCore: Assist Programming through Aligning Anything},
  author  = {Jiang, Hao and Liu, Qi and Li, Rui and Ye, Shengyu and Wang, Shijin},
  journal = {arXiv preprint arXiv:2410.07002},
  year    = {2024}
}""",
    "selfcodealign": """@inproceedings{wei2024selfcodealign,
  title     = {SelfCodeAlign: Self-Alignment for Code Generation},
  author    = {Wei, Yuxiang and Cassano, Federico and Liu, Jiawei and Ding, Yifeng and Jain, Naman and Mueller, Zachary
               and de Vries, Harm and von Werra, Leandro and Guha, Arjun and Zhang, Lingming},
  booktitle = {Advances in Neural Information Processing Systems},
  year      = {2024}
}""",
    "autocoder": """@article{lei2024autocoder,
  title   = {AutoCoder: Enhancing Code Large Language Model with AIEV-Instruct},
  author  = {Lei, Bin and Li, Yuchen and Chen, Qiuwu},
  journal = {arXiv preprint arXiv:2405.14906},
  year    = {2024}
}""",
}


@dataclass(frozen=True)
class SourceInfo:
    name: str
    description: str
    license: str


@dataclass
class CardInfo:
    """What a builder knows about its dataset beyond the numbers of one build."""

    pretty_name: str
    summary: str
    license: str
    sources: list[SourceInfo]
    citations: list[str] = field(default_factory=lambda: ["cursorcore"])
    task_categories: list[str] = field(default_factory=lambda: ["text-generation"])
    tags: list[str] = field(default_factory=lambda: ["code", "cursorcore"])
    language: list[str] = field(default_factory=lambda: ["en", "code"])
    overview: Overview | None = None  # the figure: rows per source and the length distribution
    default_config: str | None = None  # the config `load_dataset(repo_id)` opens (the first one otherwise)
    details: str = ""  # markdown: how the configs and splits are organised, and why
    license_name: str | None = None  # the Hub asks for one with `license: other`
    notice: str = ""  # markdown shown right under the summary (e.g. what a demonstration build is not)
    shapes_config: str | None = None  # a config of samples (history, user, chat, loc): count its sample shapes


def size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return name
    return "1M<n<10M" if rows < 10_000_000 else "n>1M"


def _layout(folder: Path) -> dict[str, dict[str, int]]:
    """config -> split -> rows, read from the parquet footers of the shards on disk."""
    layout: dict[str, dict[str, int]] = {}
    for shard in sorted((folder / "data").glob("*/*.parquet")):
        split = shard.name.split("-", 1)[0]
        counts = layout.setdefault(shard.parent.name, {})
        counts[split] = counts.get(split, 0) + pq.read_metadata(shard).num_rows
    return layout


def _shard_paths(folder: Path, config: str, split: str) -> list[str]:
    """Each shard of a split by its own name: with content-named shards (see `release.name_shards_by_content`) the
    card then identifies the build's rows, which is what `datasets` keys its cache of a local folder on."""
    return [f"data/{config}/{shard.name}" for shard in split_files(folder, config, split)]


def _examples(folder: Path) -> list[dict[str, str]]:
    """One whole row per config, the shortest, so a reader sees every field of every config without a cut."""
    examples = []
    for config in sorted(p for p in (folder / "data").glob("*") if p.is_dir()):
        rows = [row for shard in sorted(config.glob("*.parquet")) for row in pq.read_table(shard).to_pylist()]
        texts = [json.dumps(row, ensure_ascii=False, indent=2, default=str) for row in rows]
        if texts:
            examples.append({"config": config.name, "json": min(texts, key=len)})
    return examples


SHAPES = ("C", "H+C", "C+U", "H+C+U")  # CursorCore's (and APEval's) names: history, current code, user instruction


def _shapes(folder: Path, config: str | None) -> list[dict[str, object]]:
    """Per source: how many samples have each combination of history and instruction, a chat explanation and a
    target area (`loc`), from the rows of `config` (all splits)."""
    if not config:
        return []
    counts: dict[str, dict[str, int]] = {}
    for shard in sorted((folder / "data" / config).glob("*.parquet")):
        table = pq.read_table(shard, columns=["source", "history", "user", "chat", "loc"])
        for row in table.to_pylist():
            shape = ("H+" if row["history"] else "") + ("C+U" if row["user"] else "C")
            tally = counts.setdefault(row["source"], dict.fromkeys([*SHAPES, "chat", "loc", "rows"], 0))
            tally[shape] += 1
            tally["chat"] += bool(row["chat"])
            tally["loc"] += row["loc"] is not None
            tally["rows"] += 1
    return [{"source": source, **tally} for source, tally in sorted(counts.items())]


def write_card(
    report: BuildReport,
    info: CardInfo,
    features: datasets.Features | None = None,
    version: str = "",
    config_hash: str = "",
    local_path: Path | None = None,
) -> Path:
    """Write `<dataset folder>/README.md` for the shards the build left there (features: from the shards by
    default)."""
    layout = _layout(report.folder)
    shards = sorted((report.folder / "data").glob("*/*.parquet"))
    if features is None and shards:
        features = datasets.Features.from_arrow_schema(pq.read_schema(shards[0]))
    total = sum(sum(splits.values()) for splits in layout.values())
    default = info.default_config if info.default_config in layout else min(layout, default=None)
    configs = [
        {
            "config_name": name,
            "data_files": [{"split": s, "path": _shard_paths(report.folder, name, s)} for s in sorted(splits)],
            **({"default": True} if name == default and len(layout) > 1 else {}),
        }
        for name, splits in sorted(layout.items())
    ]
    default_splits = sorted(layout.get(default, {}), key=lambda split: (split != "train", split)) or ["train"]
    card_data = DatasetCardData(
        pretty_name=info.pretty_name,
        license=info.license,
        **({"license_name": info.license_name} if info.license_name else {}),
        language=info.language,
        task_categories=info.task_categories,
        size_categories=[size_category(total)],
        tags=info.tags,
        configs=configs,
        **({"dataset_info": datasets.DatasetInfo(features=features)._to_yaml_dict()} if features else {}),
    )
    summary = write_overview(report.folder, info.overview) if info.overview else None
    template = (files("cursorcore.datacards") / "dataset_card.md.jinja").read_text()
    card = DatasetCard.from_template(
        card_data,
        template_str=template,
        repo_id=report.repo_id,
        summary=info.summary,
        version=version,
        package_version=__version__,
        config_hash=config_hash,
        configs=[c["config_name"] for c in configs] or ["default"],
        default_config=default or "default",
        default_split=default_splits[0],
        details=info.details,
        local_path=str(local_path or report.folder),
        sizes=[
            {"config": c, "split": s, "rows": n} for c, splits in sorted(layout.items()) for s, n in splits.items()
        ],
        sources=info.sources,
        funnel=[
            (readable_stage(stage), readable_counters(counters))
            for stage, counters in report.stats.items()
            if "TALLY:" not in stage  # per-kind tallies: the accounting table shows what they count
        ],
        mutation=mutation_table(report.folder),
        examples=_examples(report.folder),
        shapes=_shapes(report.folder, info.shapes_config if info.shapes_config in layout else None),
        shapes_config=info.shapes_config,
        notice=info.notice,
        figure={"path": FIGURE, "description": describe(summary)} if summary else None,
        citations="\n\n".join(CITATIONS[key] for key in info.citations),
    )
    path = report.folder / "README.md"
    card.save(path)
    return path
