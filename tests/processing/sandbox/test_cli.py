"""`cursorcore sandbox run`, through the installed console script as a person would call it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CURSORCORE = Path(sys.executable).parent / "cursorcore"


def sandbox_run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CURSORCORE), "sandbox", "run", *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture
def program(tmp_path):
    def write(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


def test_runs_a_python_file_with_arguments_and_stdin(program, tmp_path):
    (tmp_path / "input.txt").write_text("from stdin\n")
    script = program("echo.py", "import sys\nprint(sys.argv[1:], input())\n")
    done = sandbox_run("--stdin", str(tmp_path / "input.txt"), script, "--", "-x", "two words")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "passed" and result["exit_code"] == 0
    assert result["stdout"] == "['-x', 'two words'] from stdin\n"
    assert {"stderr", "duration"} <= set(result)


def test_options_may_follow_the_file(program, tmp_path):
    (tmp_path / "input.txt").write_text("from stdin\n")
    script = program("echo.py", "import sys\nprint(sys.argv[1:], input())\n")
    done = sandbox_run(script, "--stdin", str(tmp_path / "input.txt"), "--", "a", "--b")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stdout"] == "['a', '--b'] from stdin\n"


def test_a_usage_error_shows_the_usage_of_sandbox_run(program):
    done = sandbox_run(program("x.py", "pass"), "--stdin")
    assert done.returncode == 2 and done.stderr.startswith("usage: cursorcore sandbox run ")
    stray = sandbox_run(program("y.py", "pass"), "--timeout", "5", "a")  # program arguments go after --
    assert stray.returncode == 2 and stray.stderr.startswith("usage: cursorcore sandbox run ")
    assert "unrecognized arguments: a" in stray.stderr


def test_exits_zero_whatever_the_program_did(program):
    failing = json.loads(sandbox_run(program("fail.py", "raise SystemExit(4)\n")).stdout)
    assert (failing["status"], failing["exit_code"]) == ("failed", 4)
    looping = sandbox_run("--timeout", "1", program("loop.py", "while True:\n    pass\n"))
    assert looping.returncode == 0 and json.loads(looping.stdout)["status"] == "timeout"
    hungry = sandbox_run("--memory", "128", program("hungry.py", "x = bytearray(512 << 20)\n"))
    assert json.loads(hungry.stdout)["status"] == "memory"


def test_compiles_cpp(program):
    source = program("main.cpp", '#include <cstdio>\nint main() { std::puts("compiled"); }\n')
    assert json.loads(sandbox_run(source).stdout)["stdout"] == "compiled\n"


def test_usage_problems_exit_two(program):
    assert sandbox_run(program("notes.txt", "hello")).returncode == 2
    env = {name: value for name, value in os.environ.items() if name != "E2B_API_KEY"}
    no_key = sandbox_run("--provider", "e2b", program("x.py", "pass"), env=env)
    assert no_key.returncode == 2 and "E2B_API_KEY" in no_key.stderr
