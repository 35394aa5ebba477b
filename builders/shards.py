"""Cut a staged dataset into enough parquet files that every task of a later stage reading it gets rows.

datatrove's readers hand out whole files (`files[rank::world_size]`), so a dataset written by one task as one file
keeps all but one reading task idle. The staged files are laid out again in a separate folder (rebuilt from scratch
each time, so a killed run loses nothing): in every `<config>/<split>` with fewer files than `shards` and at least as
many rows, the largest piece is cut in two, repeatedly. Files left whole are hard links, not copies. The cut is
deterministic and keeps the row order: pieces are named `<file>-a`, `<file>-b`, which sort where the file did.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq


@dataclass(frozen=True)
class _Piece:
    source: Path
    name: str
    start: int
    rows: int


def reshard(source: Path, target: Path, shards: int) -> None:
    """Lay out `source/<config>/<split>-*.parquet` in `target`, with `min(shards, rows)` files per split or more."""
    shutil.rmtree(target, ignore_errors=True)
    groups: dict[tuple[str, str], list[Path]] = {}
    for path in sorted(source.glob("*/*.parquet")):
        groups.setdefault((path.parent.name, path.name.split("-", 1)[0]), []).append(path)
    for (config, _), files in groups.items():
        pieces = [_Piece(path, path.stem, 0, pq.read_metadata(path).num_rows) for path in files]
        target_count = min(shards, sum(piece.rows for piece in pieces))
        while len(pieces) < target_count:
            largest = max(pieces, key=lambda piece: piece.rows)
            cut = largest.rows // 2
            pieces.remove(largest)
            pieces += [
                _Piece(largest.source, f"{largest.name}-a", largest.start, cut),
                _Piece(largest.source, f"{largest.name}-b", largest.start + cut, largest.rows - cut),
            ]
        (target / config).mkdir(parents=True, exist_ok=True)
        _write(pieces, target / config)


def _write(pieces: list[_Piece], folder: Path) -> None:
    by_source: dict[Path, list[_Piece]] = {}
    for piece in pieces:
        by_source.setdefault(piece.source, []).append(piece)
    for source, parts in by_source.items():
        if len(parts) == 1:
            _link(source, folder / f"{parts[0].name}.parquet")
            continue
        table = pq.read_table(source)
        for part in parts:
            pq.write_table(table.slice(part.start, part.rows), folder / f"{part.name}.parquet")


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or one without hard links
        shutil.copyfile(source, target)
