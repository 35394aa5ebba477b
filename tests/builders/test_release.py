"""Every build is a version of the local-hub dataset: tagged, with a manifest, earlier versions loadable, and a
failed update leaves the previous version as it was."""

import json
import resource
import signal
import subprocess
import sys

import datasets
import pytest

from cursorcore.builders.hub import dataset_folder
from cursorcore.builders.oj_trajectories import REPO_ID, Config, build
from cursorcore.builders.versions import version_folder, versions


def _ids(folder) -> list[str]:
    return sorted(datasets.load_dataset(str(folder), split="train", download_mode="force_redownload")["id"])


def test_builds_are_tagged_versions_and_earlier_ones_stay_loadable(tmp_path):
    first = build(Config(), hub=tmp_path)
    second = build(Config(tasks=2), hub=tmp_path)
    assert (first.version, second.version) == ("v0.1.0", "v0.1.1")
    folder = dataset_folder(REPO_ID, tmp_path)
    assert versions(folder) == ["v0.1.0", "v0.1.1"]
    assert _ids(version_folder(folder, "v0.1.0")) == _ids(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == "v0.1.1" and manifest["rows"] == second.rows
    assert manifest["config"]["tasks"] == 2 and len(manifest["config_hash"]) == 12
    assert set(manifest["timings_seconds"]) == {"default/main"}
    assert "Version **v0.1.1**" in (folder / "README.md").read_text()
    with pytest.raises(ValueError, match=r"v0\.1\.0 exists already"):
        build(Config(), hub=tmp_path, version="v0.1.0")


def test_same_config_gives_byte_identical_shards(tmp_path):
    one = build(Config(tasks=2), hub=tmp_path / "one")
    two = build(Config(tasks=2), hub=tmp_path / "two", workers=2)
    shards = sorted(p.relative_to(one.folder) for p in one.folder.glob("data/*/*.parquet"))
    assert shards and shards == sorted(p.relative_to(two.folder) for p in two.folder.glob("data/*/*.parquet"))
    assert all((one.folder / s).read_bytes() == (two.folder / s).read_bytes() for s in shards)


def test_an_unusable_output_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "cursorcore.apps.cli", "build", "oj-trajectories", "--hub", str(blocker / "hub")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def _tiny_file_size_limit() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, like a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))


def test_a_full_disk_leaves_the_previous_version_intact(tmp_path):
    build(Config(), hub=tmp_path)
    folder = dataset_folder(REPO_ID, tmp_path)
    before = _ids(folder)
    result = subprocess.run(
        [sys.executable, "-m", "cursorcore.apps.cli", "build", "oj-trajectories", "--hub", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_tiny_file_size_limit,
    )
    assert result.returncode != 0
    assert "File too large" in result.stderr and "the previous version v0.1.0 is unchanged" in result.stderr
    assert versions(folder) == ["v0.1.0"]
    assert _ids(folder) == before
    status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""
