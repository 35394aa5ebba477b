"""The real `E2BSandbox` against the E2B stand-in (the SDK boundary), which runs commands in the local sandbox and
refuses what the plan's limits refuse, with the SDK's exception types."""

import asyncio

import pytest
from e2b import RateLimitException, SandboxNotRunningException

from cursorcore.processing.sandbox import Job, Limits, Status, get_sandbox
from cursorcore.processing.sandbox.e2b_standin import StandinSandbox, StandinTeam, installed
from cursorcore.processing.synthesis.soi_common import is_install_failure


@pytest.fixture
def team(local_sandbox, monkeypatch):
    monkeypatch.setenv("E2B_API_KEY", "e2b_standin_not_a_key")
    with installed(StandinTeam(local_sandbox, max_concurrent=2, creations_per_second=4)) as team:
        yield team


def test_jobs_run_with_the_e2b_provider_and_keep_within_the_plan(team):
    jobs = [Job.python(f"print(input() * {i})", stdin="ab") for i in range(6)]
    jobs += [Job.python("while True: pass", limits=Limits(wall_time=1)), Job.python("import sys; sys.exit(3)")]
    jobs += [Job.c('#include <stdio.h>\nint main(){puts("c");}'), Job.c("int main( {")]
    with get_sandbox("e2b", max_concurrent=2, creations_per_second=4) as sandbox:
        results = list(sandbox.verify(jobs))
    assert [r.stdout for r in results[:6]] == [f"{'ab' * i}\n" for i in range(6)]
    assert results[6].status is Status.TIMEOUT
    assert (results[7].status, results[7].exit_code) == (Status.FAILED, 3)
    assert (results[8].status, results[8].stdout) == (Status.PASSED, "c\n")
    assert results[9].status is Status.FAILED and "build failed" in results[9].detail
    assert team.peak_alive == 2 and team.refusals == {} and team.alive == 0  # reused, then killed at close


def test_an_install_without_internet_or_without_network_is_an_install_failure(team):
    with get_sandbox("e2b", max_concurrent=1, allow_internet=True) as online, get_sandbox("e2b") as offline:
        tried = online.run(Job.python("pass", packages=["cursorcore-no-such-package"]))
        refused = offline.run(Job.python("pass", packages=["cursorcore-no-such-package"]))
    assert is_install_failure(tried) and tried.detail.startswith("installing packages failed")
    assert is_install_failure(refused)


def test_the_stand_in_refuses_like_e2b(team):
    async def scenario():
        first = await StandinSandbox.create(timeout=1)
        await StandinSandbox.create()
        with pytest.raises(RateLimitException, match="2 concurrent sandboxes"):
            await StandinSandbox.create()
        await first.kill()
        team.max_concurrent = 10
        with pytest.raises(RateLimitException, match="creations/s"):  # 4 per second: the bucket holds 4
            for _ in range(4):
                await StandinSandbox.create()
        await asyncio.sleep(0.3)  # a token back
        late = await StandinSandbox.create(timeout=0)
        await asyncio.sleep(0.01)
        with pytest.raises(SandboxNotRunningException, match="reached its timeout"):
            await late.files.write("/home/user/job/x", b"")

    asyncio.run(scenario())
    assert team.refusals == {"concurrent_sandboxes": 1, "creation_rate": 1}


def test_creations_refused_past_the_plan_are_retried_with_backoff(team):
    """A client configured above its plan (4 creations/s against 1) gets 429s and waits them out."""
    team.creations_per_second = 1
    options = {"max_concurrent": 2, "creations_per_second": 4, "backoff_initial": 0.2}
    with get_sandbox("e2b", **options) as sandbox:
        results = list(sandbox.verify([Job.python("print(1)")] * 4))
        failures = sandbox.creation_failures
    assert [r.stdout for r in results] == ["1\n"] * 4
    assert failures >= 1 and team.refusals["creation_rate"] == failures and team.creations == 2
