"""`cursorcore llm serve` (what `make serve-llm` runs): a foreground server and instructions to use it."""

import json
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

SERVE = [sys.executable, "-m", "cursorcore.apps.cli", "llm", "serve"]


def _serve(*args: str, **options) -> subprocess.Popen:
    return subprocess.Popen([*SERVE, *args], stdout=subprocess.PIPE, text=True, **options)


def _until_ready(process: subprocess.Popen) -> str:
    """What the server printed up to its last line of instructions."""
    lines = []
    while not lines or lines[-1] != "Press Ctrl-C to stop.\n":
        line = process.stdout.readline()
        assert line, f"serve exited early: {''.join(lines)}"
        lines.append(line)
    return "".join(lines)


@pytest.mark.timeout(900)
def test_serve_prints_how_to_use_the_server_and_stops_on_ctrl_c(tmp_path):
    """Started with SIGINT ignored, as a shell's `&` job or nohup starts it: Ctrl-C (SIGINT) still stops it."""
    process = _serve(
        "--port", "0", "--log-dir", str(tmp_path), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)
    )
    try:
        text = _until_ready(process)
        url = text.split("base URL  ")[1].split()[0]
        assert "curl -s " + url + "/v1/chat/completions" in text
        assert f"backend: endpoint\n    endpoint_url: {url}\n    model: SmolLM2-135M-Instruct.Q4_1" in text

        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
        request = urllib.request.Request(url + "/v1/chat/completions", json.dumps(body).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with no_proxy.open(request, timeout=60) as response:
            assert json.load(response)["choices"][0]["message"]["content"]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=180) == 0
    assert "stopping the server" in process.stdout.read()
    with pytest.raises(OSError):
        no_proxy.open(url + "/v1/models", timeout=5)


def test_serve_refuses_a_busy_port():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([*SERVE, "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and f"port {port} on 127.0.0.1 is in use" in result.stderr


def _port_in_time_wait() -> int:
    """A port held only by a closed connection in TIME-WAIT, as a server stopped a moment ago leaves it."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server's (asyncio's) socket has it
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the server's end closes first, so it is the one left in TIME-WAIT
            assert client.recv(1) == b""
    return port


@pytest.mark.timeout(900)
def test_serve_starts_on_a_port_held_only_by_time_wait_connections(tmp_path):
    port = _port_in_time_wait()
    with socket.socket() as plain, pytest.raises(OSError):  # what the check did before: bind without SO_REUSEADDR
        plain.bind(("127.0.0.1", port))
    process = _serve("--port", str(port), "--log-dir", str(tmp_path))
    try:
        assert f"base URL  http://127.0.0.1:{port} " in _until_ready(process)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=180) == 0
