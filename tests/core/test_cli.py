"""The `cursorcore` command, run as a user would run it."""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLI = shutil.which("cursorcore", path=str(Path(sys.executable).parent)) or "cursorcore"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


def _parsers() -> dict[str, argparse.ArgumentParser]:
    """Every (sub)command's parser by its command line ("" for the top level)."""
    from cursorcore.apps.cli import build_parser

    found = {}

    def walk(parser, prefix):
        found[" ".join(prefix)] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return found


@pytest.mark.parametrize("command", list(_parsers()), ids=lambda c: c or "top")
def test_every_subcommand_has_help(command):
    result = run(*command.split(), "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: cursorcore" in result.stdout


def test_every_option_and_argument_says_what_it_is():
    undocumented = [
        f"{command} {action.option_strings[-1] if action.option_strings else action.dest}"
        for command, parser in _parsers().items()
        for action in parser._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert undocumented == []


def test_a_usage_error_shows_the_usage_of_its_subcommand():
    result = run("eval", "publish", "results.json", "--repo", "x/y", "--no-such-option")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: cursorcore eval publish ")
    assert "unrecognized arguments: --no-such-option" in result.stderr


def test_render_prints_training_text_and_reports_bad_rows(tmp_path):
    good = {
        "current": {"code": "x = 1", "lang": "python"},
        "next": {"code": "x = 2", "lang": "python"},
        "user": "bump",
        "source": "commit",
        "id": "s1",
    }
    prompt_only = {"current": {"code": "y = 1", "lang": "python"}, "user": "", "source": "oj"}
    path = tmp_path / "samples.jsonl"
    path.write_text(
        "\n".join([json.dumps(good), "{not json", json.dumps({"current": {"code": 1}}), json.dumps(prompt_only)])
        + "\n"
    )
    result = run("render", "--format", "sr", str(path))
    assert result.returncode == 1
    assert "===== sample 1 (s1) [sr] =====" in result.stdout
    assert "x = 1\n<|search_and_replace|>\nx = 2" in result.stdout
    assert result.stdout.rstrip().endswith("<|im_start|>assistant\n<|next_start|>")
    assert f"{path}:2: invalid JSON" in result.stderr
    assert "row 3: current.code: expected a string, got int" in result.stderr
    assert "2 row(s) could not be rendered" in result.stderr


def test_render_refuses_a_non_utf8_file_clearly(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"current": {"code": "caf\xe9"}}'.encode("latin-1"))
    result = run("render", str(path))
    assert result.returncode == 2
    assert "not UTF-8" in result.stderr
    assert "Traceback" not in result.stderr
