"""One import namespace: everything under `cursorcore`, nothing installed as a bare `eval`/`processing`."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_parts_import_under_cursorcore_only(tmp_path):
    assert _python("import cursorcore.eval, cursorcore.processing, cursorcore.builders", tmp_path).returncode == 0
    for bare in ("eval", "processing", "builders"):
        result = _python(f"import {bare}", tmp_path)
        assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr, bare


def test_every_package_folder_is_declared():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"])
    folders = {folder: name for name, folder in config["package-dir"].items()}
    found = set()
    for folder, name in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *relative)))
    assert found <= declared, f"add to [tool.setuptools] packages: {sorted(found - declared)}"


def test_chat_template_ships_with_the_package():
    from importlib.resources import files

    assert "<|next_start|>" in (files("cursorcore.train_configs") / "chat_template.jinja").read_text()


def test_the_suite_uses_a_temporary_hugging_face_cache_not_the_users():
    """A `datasets` cache filled by the user's own builds must never answer the tests' loads."""
    import datasets.config
    import huggingface_hub.constants

    from tests.conftest import TEST_HF_HOME

    for folder in (datasets.config.HF_DATASETS_CACHE, huggingface_hub.constants.HF_HUB_CACHE):
        assert Path(folder).resolve().is_relative_to(TEST_HF_HOME.resolve())
