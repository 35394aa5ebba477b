"""Glob patterns for datatrove's file listing (`DataFolder.list_files`, which `BaseDiskReader` shards by)."""

import glob


def literal_glob(name: str) -> str:
    """A pattern matching the file `name` and nothing else. datatrove turns a pattern without wildcards into
    `*<pattern>` (so that `.jsonl` means every JSONL file), which would also match `old_<name>`; a one-character
    class around the first character makes it a wildcard pattern that still matches only `name`."""
    escaped = glob.escape(name)
    return escaped if glob.has_magic(escaped) else f"[{escaped[0]}]{escaped[1:]}"
