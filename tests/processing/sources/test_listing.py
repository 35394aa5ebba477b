"""Literal glob patterns against datatrove's real file listing."""

from datatrove.io import get_datafolder

from cursorcore.processing.sources.listing import literal_glob


def test_a_literal_pattern_lists_only_the_named_file(tmp_path):
    for name in ("metadata.csv", "old_metadata.csv", "a[1]*.py", "xa[1]*.py"):
        (tmp_path / name).write_text("x")
    folder = get_datafolder(str(tmp_path))
    assert folder.list_files(glob_pattern="metadata.csv") == ["metadata.csv", "old_metadata.csv"]  # why it exists
    assert folder.list_files(glob_pattern=literal_glob("metadata.csv")) == ["metadata.csv"]
    assert folder.list_files(glob_pattern=literal_glob("a[1]*.py")) == ["a[1]*.py"]
