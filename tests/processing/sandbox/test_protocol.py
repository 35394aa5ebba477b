"""The host/sandbox protocol is typed in server.py; these tests hold the fork server to those types, so a field added
on one side and forgotten on the other fails here rather than as a KeyError deep in a build."""

import base64
import json
import pickle
import subprocess
import sys
from typing import get_type_hints

from cursorcore.processing.sandbox import server
from cursorcore.processing.sandbox.base import Job, Limits
from cursorcore.processing.sandbox.local import _step


def _request(steps: list[server.StepRequest]) -> server.JobRequest:
    return server.JobRequest(
        files={"main.py": b"import sys\nprint(sys.stdin.read().upper())\nsys.exit(3)\n"},
        stdin=b"hello",
        env={"PATH": "/usr/bin:/bin"},
        packages=False,
        steps=steps,
        disk_bytes=16 << 20,
        output_bytes=1 << 10,
    )


def _serve(request: server.JobRequest) -> dict:
    """One job through a real fork server (unisolated: the protocol, not the isolation, is under test here)."""
    process = subprocess.Popen(
        [sys.executable, server.__file__, "--unisolated"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert json.loads(server.read_frame(process.stdout.fileno())) == {"ready": True}
        server.write_frame(process.stdin.fileno(), pickle.dumps(request))
        return json.loads(server.read_frame(process.stdout.fileno()))
    finally:
        process.stdin.close()
        process.wait(timeout=30)
        process.stdout.close()


def test_a_reply_has_exactly_the_fields_the_host_reads():
    limits = Limits(wall_time=10)
    reply = _serve(_request([_step("run", [sys.executable, "main.py"], limits)]))

    assert set(reply) == set(get_type_hints(server.JobReply))
    assert reply["error"] is None
    assert base64.b64decode(reply["stdout"]) == b"HELLO\n"
    [step] = reply["steps"]
    assert set(step) == set(get_type_hints(server.StepReport))
    assert (step["name"], step["exit_code"], step["timed_out"]) == ("run", 3, False)


def test_a_request_the_server_cannot_read_gets_a_failure_reply_of_the_same_shape():
    broken = _request([_step("run", [sys.executable, "main.py"], Limits())])
    del broken["steps"][0]["limits"]
    reply = _serve(broken)

    assert set(reply) == set(get_type_hints(server.JobReply))
    assert reply["steps"] == [] and "sandbox server failed: KeyError" in reply["error"]


def test_the_host_builds_requests_of_the_typed_shape():
    job = Job(command=("python", "main.py"), files={"main.py": "print(1)"}, limits=Limits(wall_time=5))
    step = _step("run", job.command, job.limits)

    assert set(step) == set(get_type_hints(server.StepRequest))
    assert set(step["limits"]) == set(get_type_hints(server.StepLimits))
    assert step["limits"]["memory_bytes"] == job.limits.memory_mb << 20
