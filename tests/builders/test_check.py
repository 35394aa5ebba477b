"""`cursorcore build DATASET --config F --check`: every shipped config constructs, and a wrong option is named."""

import shutil
from pathlib import Path

import pytest

from cursorcore.apps.cli import main
from cursorcore.builders import BUILDERS

CONFIGS = Path(__file__).parents[2] / "builders" / "configs"


def dataset_of(path: Path) -> str:
    return next(name for name in sorted(BUILDERS, key=len, reverse=True) if path.stem.startswith(name))


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_passes_the_check(path, capsys):
    assert main(["build", dataset_of(path), "--config", str(path), "--check"]) == 0
    plan = capsys.readouterr().out
    assert "executor:" in plan
    if path.name == "programming-instruct-full.yaml":  # its inputs' plans too, and each kind's sandbox share
        assert "cursorcore/stack-seeds:" in plan and "cursorcore/oj-trajectories:" in plan
        assert plan.count("sandbox e2b per task: ") == 5 and "max_concurrent=1," in plan  # 100 among 64 tasks
        assert "synthesis-aiev:" in plan and "allow_internet=True" in plan


def test_the_check_names_a_wrong_option_and_its_provider(tmp_path, capsys):
    full = (CONFIGS / "programming-instruct-full.yaml").read_text()
    wrong = tmp_path / "pi.yaml"
    wrong.write_text(full.replace("  max_concurrent: 100\n", "  workers: 4\n"))
    assert main(["build", "programming-instruct", "--config", str(wrong), "--check"]) == 1
    error = capsys.readouterr().err
    assert "provider 'e2b' has no option 'workers'" in error


def test_the_check_refuses_more_tasks_than_the_plan_has_sandboxes(tmp_path, capsys):
    config = tmp_path / "pi.yaml"
    config.write_text("sandbox: e2b\nsynthesis_tasks: 32\nexecutor: {kind: local, workers: 32}\n")
    assert main(["build", "programming-instruct", "--config", str(config), "--check"]) == 1
    assert "32 tasks at once cannot share max_concurrent=20" in capsys.readouterr().err


def test_the_plan_shows_the_builds_llm_budget(tmp_path, capsys):
    full = (CONFIGS / "programming-instruct-full.yaml").read_text()
    assert "budget: none set" in _plan(full, tmp_path, capsys)
    budgeted = full.replace("  # max_requests: 2000000\n", "  max_requests: 2000000\n")
    assert "budget: max_requests = 2000000 for the whole build" in _plan(budgeted, tmp_path, capsys)


def _plan(yaml_text: str, tmp_path: Path, capsys) -> str:
    for shipped in CONFIGS.glob("*.yaml"):  # the input configs it names, by relative path
        shutil.copy(shipped, tmp_path)
    config = tmp_path / "pi.yaml"
    config.write_text(yaml_text)
    assert main(["build", "programming-instruct", "--config", str(config), "--check"]) == 0
    return capsys.readouterr().out
