"""Sandboxes shared by the sandbox tests: one real provider per parameter, started once per session."""

import os
from pathlib import Path

import pytest

from cursorcore.processing.sandbox import Job, Sandbox, get_sandbox

PROVIDERS = ["local", pytest.param("e2b", marks=pytest.mark.e2b)]


@pytest.fixture(scope="session")
def e2b_sandbox():
    if not os.environ.get("E2B_API_KEY"):
        pytest.skip("E2B_API_KEY is not set")
    with get_sandbox("e2b", max_concurrent=2) as sandbox:
        yield sandbox


@pytest.fixture(params=PROVIDERS)
def sandbox(request) -> Sandbox:
    """Every provider in turn; the conformance and hostile suites run against each."""
    return request.getfixturevalue(f"{request.param}_sandbox")


def assert_recovers(sandbox: Sandbox) -> None:
    """After anything a job did, nothing of it is left running and the next job runs normally."""
    assert leftover_processes(sandbox) == []
    result = sandbox.run(Job.python("print(sum(range(10)))"))
    assert (result.status, result.stdout) == ("passed", "45\n"), result


def descendants(root: int) -> list[int]:
    """Host pids below `root`, parents before children."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat:
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    found, stack = [], list(children.get(root, []))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack += children.get(pid, [])
    return found


def leftover_processes(sandbox: Sandbox) -> list[int]:
    """Processes under an idle local worker besides bubblewrap's init and the fork server (none for remote VMs)."""
    if sandbox.name != "local":
        return []
    return [pid for worker in sandbox.worker_pids() for pid in descendants(worker)[2:]]


def host_processes_matching(marker: str) -> list[int]:
    """Host pids whose command line contains `marker` (how tests look for escaped processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
