"""The e2b provider up to the network: its refusals, and how a job becomes E2B uploads and commands.

The runs themselves are in the conformance and hostile suites (the `e2b` parameter, skipped without E2B_API_KEY).
"""

import sys

import pytest

from cursorcore.processing.sandbox import Job, Limits, SandboxUnavailable, Status, get_sandbox
from cursorcore.processing.sandbox.e2b import WORKDIR, plan_job


def test_without_an_api_key_it_refuses(monkeypatch):
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    with pytest.raises(SandboxUnavailable, match="E2B_API_KEY"):
        get_sandbox("e2b")


def test_without_the_package_it_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "e2b_code_interpreter", None)
    with pytest.raises(SandboxUnavailable, match=r"pip install 'cursorcore\[e2b\]'"):
        get_sandbox("e2b")


def test_unknown_provider_is_rejected():
    with pytest.raises(ValueError, match="local, e2b"):
        get_sandbox("docker")


def test_python_job_becomes_an_upload_and_a_limited_command():
    job = Job.python("print(input())", args=["--n", "3"], stdin="hi", limits=Limits(wall_time=5, memory_mb=256))
    plan = plan_job(job)
    assert plan.files == {f"{WORKDIR}/main.py": b"print(input())", f"{WORKDIR}/.stdin": b"hi"}
    [run] = plan.steps
    assert run.name == "run" and run.limits == job.limits
    assert run.command == (
        "ulimit -t 5 -v 262144 -u 32 -f 65536 -c 0 && exec timeout --signal=KILL 5 python main.py --n 3 < .stdin"
    )


def test_cpp_job_builds_first_with_build_limits():
    plan = plan_job(Job.cpp("int main(){}"))
    assert [step.name for step in plan.steps] == ["build", "run"]
    assert "g++ -O2 -std=gnu++17 -o main main.cpp" in plan.steps[0].command
    assert "timeout --signal=KILL 60 " in plan.steps[0].command
    assert plan.steps[1].command.endswith("./main < .stdin")


def test_packages_install_first_and_environment_is_passed(monkeypatch):
    monkeypatch.setenv("CURSORCORE_TEST_MODE", "fast")
    job = Job.python("pass", packages=["numpy==2.0"], env={"A": "1"}, pass_env=["CURSORCORE_TEST_MODE"])
    plan = plan_job(job)
    assert plan.steps[0].name == "install" and "pip install" in plan.steps[0].command
    assert "numpy==2.0" in plan.steps[0].command
    assert plan.envs == {"LANG": "C.UTF-8", "CURSORCORE_TEST_MODE": "fast", "A": "1"}


def test_sandbox_creation_failure_is_an_error_not_a_failure(monkeypatch):
    """No network here: sandbox creation is replaced by one that fails the way a quota error would."""
    import e2b_code_interpreter

    async def refuse(*args, **kwargs):
        raise e2b_code_interpreter.SandboxException("sandbox quota reached")

    monkeypatch.setenv("E2B_API_KEY", "e2b_not_a_real_key")
    monkeypatch.setattr(e2b_code_interpreter.AsyncSandbox, "create", refuse)
    with get_sandbox("e2b", max_concurrent=1, creation_attempts=1) as sandbox:
        result = sandbox.run(Job.python("print(1)"))
        installs = sandbox.run(Job.python("pass", packages=["numpy"]))
    assert result.status is Status.ERROR and "quota" in result.detail
    assert installs.status is Status.ERROR and "allow_internet" in installs.detail
    assert installs.detail.startswith("the job asks for packages")  # counted as an install failure
