"""`cursorcore sandbox run`: run one file in a sandbox and print what happened as JSON, for people and scripts."""

import argparse
import json
import sys
from pathlib import Path

# Which job a file becomes, by its suffix.
_PRESETS = {".py": "python", ".c": "c", ".cpp": "cpp", ".cc": "cpp", ".cxx": "cpp"}


def add_sandbox_parser(commands: argparse._SubParsersAction) -> None:
    sandbox = commands.add_parser(
        "sandbox",
        help="run untrusted code in a sandbox",
        description="Run code in the sandbox that verification and evaluation use.",
    )
    actions = sandbox.add_subparsers(
        dest="sandbox_command", metavar="ACTION", required=True, parser_class=_ProgramArgumentsParser
    )
    run = actions.add_parser(
        "run",
        help="run one Python, C or C++ file and print the result as JSON",
        description="Run FILE (.py, .c, .cpp) in a sandbox and print its result as JSON (status, exit_code, stdout, "
        "stderr, duration, ...). Exits 0 whatever the program did; 2 when no sandbox can run here.",
    )
    run.add_argument("--provider", choices=("local", "e2b"), default="local", help="where to run (default: local)")
    run.add_argument("--timeout", type=float, default=10.0, metavar="S", help="wall time limit in seconds (10)")
    run.add_argument("--memory", type=int, default=1024, metavar="MB", help="memory limit in MB (1024)")
    run.add_argument("--stdin", type=Path, metavar="INPUT", help="file to feed the program on standard input")
    run.add_argument("file", type=Path, metavar="FILE", help="the program: a .py, .c, .cpp, .cc or .cxx file")
    run.add_argument("args", nargs="*", metavar="ARGS", help="arguments for the program (after --)")
    run.set_defaults(handler=_run)


class _ProgramArgumentsParser(argparse.ArgumentParser):
    """Everything after the first `--` is the program's arguments, wherever FILE and the options stand: argparse on
    its own gives `args` nothing once an option follows FILE (`run FILE --stdin in.txt -- a b`)."""

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        if "--" not in args:
            return super().parse_known_args(args, namespace)
        cut = args.index("--")
        namespace, unknown = super().parse_known_args(args[:cut], namespace)
        namespace.args = [*namespace.args, *args[cut + 1 :]]
        return namespace, unknown


def _run(args: argparse.Namespace) -> int:
    from cursorcore.processing.sandbox import Job, Limits, SandboxUnavailable, get_sandbox

    preset = _PRESETS.get(args.file.suffix)
    if preset is None:
        print(f"error: cannot run {args.file}: use a {', '.join(_PRESETS)} file", file=sys.stderr)
        return 2
    try:
        source = args.file.read_text()
        stdin = args.stdin.read_bytes() if args.stdin else b""
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    limits = Limits(wall_time=args.timeout, memory_mb=args.memory)
    if preset == "python":  # keep the file's own name, for tracebacks and __file__
        name = args.file.name
        job = Job(files={name: source}, command=["python", name, *args.args], stdin=stdin, limits=limits)
    else:
        job = getattr(Job, preset)(source, args=args.args, stdin=stdin, limits=limits)
    try:
        with get_sandbox(args.provider) as sandbox:
            result = sandbox.run(job)
    except SandboxUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2))
    return 0
