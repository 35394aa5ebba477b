"""The local hub: a folder laid out like the Hugging Face Hub, so `load_dataset(<folder>)` and, once pushed,
`load_dataset("<org>/<name>")` give the same rows.

    <hub>/datasets/<org>/<name>/README.md
    <hub>/datasets/<org>/<name>/data/<config>/<split>-<index>-of-<count>-<content digest>.parquet
"""

import os
from pathlib import Path

HUB_ENV = "CURSORCORE_HUB"
DEFAULT_HUB = Path("hub")


def hub_root(path: str | Path | None = None) -> Path:
    """The hub folder: the explicit path, else $CURSORCORE_HUB, else ./hub."""
    return Path(path or os.environ.get(HUB_ENV) or DEFAULT_HUB)


def dataset_folder(repo_id: str, hub: str | Path | None = None) -> Path:
    org, _, name = repo_id.partition("/")
    if not org or not name or "/" in name:
        raise ValueError(f"a dataset id is '<org>/<name>', got {repo_id!r}")
    return hub_root(hub) / "datasets" / org / name


def split_files(folder: Path, config: str, split: str) -> list[Path]:
    return sorted((folder / "data" / config).glob(f"{split}-*.parquet"))
