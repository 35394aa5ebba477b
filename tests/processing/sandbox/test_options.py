"""Sandbox options: one schema per provider, checked before anything runs, and E2B's team limits shared by tasks."""

import pytest

from cursorcore.builders import programming_instruct as pi
from cursorcore.processing.sandbox import get_sandbox
from cursorcore.processing.sandbox.options import E2BOptions, LocalOptions, SandboxOptionsError, sandbox_options


def test_an_option_the_provider_does_not_take_names_both():
    with pytest.raises(SandboxOptionsError, match=r"provider 'e2b' has no option 'workers'"):
        sandbox_options("e2b", {"workers": 1})
    with pytest.raises(SandboxOptionsError, match=r"provider 'local' has no option 'template'"):
        get_sandbox("local", template="base")


def test_values_are_checked_by_type_and_range():
    with pytest.raises(SandboxOptionsError, match=r"'e2b': option 'max_concurrent' must be int, not str"):
        sandbox_options("e2b", {"max_concurrent": "20"})
    with pytest.raises(SandboxOptionsError, match="creations_per_second must be positive"):
        sandbox_options("e2b", {"creations_per_second": 0})
    with pytest.raises(SandboxOptionsError, match="workers must be at least 1"):
        sandbox_options("local", {"workers": 0})
    # YAML gives ints for floats and lists for tuples
    assert sandbox_options("e2b", {"creations_per_second": 5}).creations_per_second == 5.0
    assert sandbox_options("local", {"preload": ["math"]}) == LocalOptions(preload=("math",))


def test_e2b_defaults_fit_the_hobby_plan_and_tasks_share_the_team_limits():
    options = E2BOptions()
    assert (options.max_concurrent, options.creations_per_second) == (20, 1.0)
    assert E2BOptions(max_concurrent=100, creations_per_second=5).task_share(8) == {
        "max_concurrent": 12,
        "creations_per_second": 0.625,
    }
    with pytest.raises(SandboxOptionsError, match="64 tasks at once cannot share max_concurrent=20"):
        options.task_share(64)


def test_the_builder_refuses_a_wrong_option_when_the_config_is_read(tmp_path):
    """The full-scale config used to hand `workers` to E2B in every task (a TypeError per task)."""
    path = tmp_path / "pi.yaml"
    path.write_text("sandbox: e2b\nsandbox_options: {workers: 1}\n")
    with pytest.raises(ValueError, match=r"'aiprogrammer'.*provider 'e2b' has no option 'workers'"):
        pi.Config.from_yaml(path)
    path.write_text("sandbox: e2b\nsynthesis: {aiev: {sandbox_options: {allow_internet: yes}}}\n")
    config = pi.Config.from_yaml(path)
    assert pi.kind_config("aiev", config, 4).sandbox_options == {
        "allow_internet": True,
        "max_concurrent": 5,
        "creations_per_second": 0.25,
    }
    assert "allow_internet" not in pi.kind_config("oj", config).sandbox_options
    assert pi.kind_config("oj", pi.Config()).sandbox_options == {"workers": 1}  # local: one worker per task
