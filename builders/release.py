"""Turn a staged build into a new version of the dataset in the local hub: card, manifest, files, git tag.

The published folder changes only here, at the end of a successful build; if copying fails (a full disk, an
unwritable folder) it is put back to its previous version and the error says what happened.
"""

import hashlib
import json
import shutil
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cursorcore import __version__
from cursorcore.builders import BuildReport
from cursorcore.builders.card import CardInfo, write_card
from cursorcore.builders.hub import dataset_folder
from cursorcore.builders.runner import config_hash
from cursorcore.builders.versions import commit_version, next_version, restore_last_version, versions

MANIFEST = "manifest.json"


def release(
    report: BuildReport,
    card: CardInfo,
    config: Any,
    hub: str | Path | None = None,
    version: str | None = None,
    sources: dict[str, str] | None = None,
) -> BuildReport:
    """Publish the staged build as the next version of `report.repo_id` and return the report for the new folder."""
    target = dataset_folder(report.repo_id, hub)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(f"cannot create the dataset folder {target}: {error.strerror}") from error
    tag = next_version(target, version)
    config_dict = asdict(config) if hasattr(config, "__dataclass_fields__") else dict(config)
    staged = report.folder
    manifest = {
        "repo_id": report.repo_id,
        "version": tag,
        "config_hash": config_hash(config_dict),
        "config": config_dict,
        "package_version": __version__,
        "sources": sources or {},
        "rows": report.rows,
        "timings_seconds": report.timings,
        "stats": report.stats,
        "rows_per_task": report.rows_per_task,
        **({"accounting": report.accounting} if report.accounting else {}),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        staged.mkdir(parents=True, exist_ok=True)  # a build that kept nothing staged no shard
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
        _replace_contents(staged, target)
        released = BuildReport(report.repo_id, target, report.rows, report.stats, report.timings)
        write_card(released, card, version=tag, config_hash=manifest["config_hash"], local_path=target)
        commit_version(target, tag, f"{report.repo_id} {tag}: {sum(report.rows.values())} rows")
    except OSError as error:
        restore_last_version(target)
        previous = versions(target)[-1] if versions(target) else "(none)"
        raise OSError(
            f"could not write {report.repo_id} {tag} into {target}: {error.strerror or error} "
            f"(a full disk or a file size limit?); the previous version {previous} is unchanged"
        ) from error
    return replace(report, folder=target, version=tag)


def _replace_contents(staged: Path, target: Path) -> None:
    if (target / "data").exists():
        shutil.rmtree(target / "data")
    for item in staged.iterdir():
        if item.name == "data":
            _copy_shards_by_content(item, target / "data")
        elif item.is_dir():
            shutil.copytree(item, target / item.name, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target / item.name)


def _copy_shards_by_content(staged: Path, target: Path) -> None:
    """Copy every shard as `<config>/<split>-<index>-of-<count>-<digest>.parquet`, the digest taken from its bytes.

    `datasets` caches a local folder under its name, config and the card's `data_files` only, so two hub folders
    with the same dataset name, or a rebuilt folder, would share a cache entry and one would load the other's rows.
    Shard names that carry their content, listed one by one in the card, make every distinct build a distinct
    cache entry (identical builds share one, rightly)."""
    for config in sorted(p for p in staged.iterdir() if p.is_dir()):
        by_split: dict[str, list[Path]] = {}
        for shard in sorted(config.glob("*.parquet")):
            by_split.setdefault(shard.name.split("-", 1)[0].removesuffix(".parquet"), []).append(shard)
        (target / config.name).mkdir(parents=True, exist_ok=True)
        for split, shards in by_split.items():
            for index, shard in enumerate(shards):
                digest = hashlib.sha256(shard.read_bytes()).hexdigest()[:12]
                shutil.copyfile(
                    shard, target / config.name / f"{split}-{index:05d}-of-{len(shards):05d}-{digest}.parquet"
                )
