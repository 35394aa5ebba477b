"""What only the local provider does: its own workers, the host uid, offline package installs, and its refusals."""

import logging
import os
import subprocess
import sys
import threading
import time
import uuid
import zipfile

import pytest

from cursorcore.processing.sandbox import Job, Limits, SandboxUnavailable, Status, get_sandbox
from cursorcore.processing.sandbox.local import DEFAULT_HOST_UID
from tests.processing.sandbox.conftest import assert_recovers, descendants, host_processes_matching


@pytest.fixture(scope="module")
def one_worker():
    with get_sandbox("local", workers=1) as sandbox:
        yield sandbox


def wait_for(condition, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def test_a_job_leaves_nothing_for_the_next_one(one_worker):
    litter = "for path in ('/tmp/litter', '/dev/shm/litter', 'litter'):\n    open(path, 'w').write('x')"
    assert one_worker.run(Job.python(litter)).status is Status.PASSED
    check = "import os\nprint([p for p in ('/tmp/litter', '/dev/shm/litter', 'litter') if os.path.exists(p)])"
    assert one_worker.run(Job.python(check)).stdout == "[]\n"


def test_jobs_run_as_an_unprivileged_host_uid(one_worker):
    marker = f"{7000 + uuid.uuid4().int % 1000}.5"
    expected = DEFAULT_HOST_UID if os.geteuid() == 0 else os.geteuid()
    finished = []
    runner = threading.Thread(target=lambda: finished.append(one_worker.run(Job(files={}, command=["sleep", marker]))))
    runner.start()
    try:
        [pid] = wait_for(lambda: host_processes_matching(f"sleep\0{marker}"))
        uids = next(line for line in open(f"/proc/{pid}/status") if line.startswith("Uid:")).split()[1:]
        assert {int(uid) for uid in uids} == {expected}
    finally:
        os.kill(pid, 9)
        runner.join()
    assert finished[0].status is Status.FAILED  # killed from outside, by us: the program did not succeed


def test_a_crashed_worker_is_error_and_replaced(one_worker):
    [worker] = one_worker.worker_pids()
    _, fork_server = descendants(worker)
    marker = f"{8000 + uuid.uuid4().int % 1000}.5"
    finished = []
    runner = threading.Thread(target=lambda: finished.append(one_worker.run(Job(files={}, command=["sleep", marker]))))
    runner.start()
    assert wait_for(lambda: host_processes_matching(f"sleep\0{marker}"))
    os.kill(fork_server, 9)
    runner.join()
    assert finished[0].status is Status.ERROR
    assert "worker failed" in finished[0].detail
    assert wait_for(lambda: not host_processes_matching(f"sleep\0{marker}"))
    assert_recovers(one_worker)
    assert one_worker.worker_pids() != [worker]


def make_wheel(folder, name: str = "cc_probe", version: str = "1.0") -> None:
    """A minimal pure-Python wheel, written by hand so the test needs no build tools or index."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 42\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)


def test_packages_install_offline_from_the_wheelhouse(tmp_path):
    make_wheel(tmp_path)
    tmp_path.chmod(0o755)  # the sandbox runs as another user
    with get_sandbox("local", workers=1, wheelhouse=tmp_path) as sandbox:
        installed = sandbox.run(Job.python("import cc_probe; print(cc_probe.VALUE)", packages=["cc_probe"]))
        assert (installed.status, installed.stdout) == ("passed", "42\n"), installed
        missing = sandbox.run(Job.python("print('never')", packages=["not-in-the-wheelhouse"]))
        assert missing.status is Status.ERROR
        assert "installing" in missing.detail and "not-in-the-wheelhouse" in missing.stderr
        assert sandbox.run(Job.python("import cc_probe")).status is Status.FAILED  # installs do not persist


def test_an_interpreter_under_tmp_keeps_its_packages_read_only(tmp_path):
    """A checkout under /tmp (a CI clone) has its venv there, where each job gets a fresh /tmp: the venv must stay
    importable, and read-only."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "cc_under_tmp.py").write_text("VALUE = 7\n")
    for folder in (tmp_path, *venv.rglob("*")):
        if folder.is_dir():
            folder.chmod(0o755)  # the sandbox runs as another user
    with get_sandbox("local", workers=1, python=str(venv / "bin" / "python")) as sandbox:
        code = "import sys, cc_under_tmp; print(cc_under_tmp.VALUE, sys.prefix); open(sys.prefix + '/x', 'w')"
        result = sandbox.run(Job.python(code))
    assert result.stdout == f"7 {venv}\n", result
    assert "Read-only file system" in result.stderr


def test_packages_without_a_wheelhouse_are_an_error_with_the_fix(one_worker):
    result = one_worker.run(Job.python("pass", packages=["numpy"]))
    assert result.status is Status.ERROR
    assert "wheelhouse" in result.detail and "pip download" in result.detail


def test_missing_bubblewrap_is_refused_with_the_install_hint():
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        get_sandbox("local", bwrap="/nonexistent/bwrap")


def test_unisolated_mode_runs_and_warns_every_time(caplog, tmp_path):
    with get_sandbox("local", workers=1, bwrap="/nonexistent/bwrap", allow_unisolated=True) as sandbox:
        with caplog.at_level(logging.WARNING):
            first = sandbox.run(Job.python("import os; print(os.getcwd())"))
            second = sandbox.run(Job.python("while True:\n    pass", limits=Limits(wall_time=1)))
    assert first.status is Status.PASSED and not os.path.exists(first.stdout.strip())
    assert second.status is Status.TIMEOUT
    assert sum("WITHOUT isolation" in record.message for record in caplog.records) == 2
