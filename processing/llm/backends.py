"""Backends: where requests go, and the server process when the tooling owns one.

`make_backend(config)` gives an `EndpointBackend` (a server someone else runs), a `LlamaCppBackend` (llama.cpp's
OpenAI-compatible server on 127.0.0.1, SmolLM2-135M-Instruct by default) or a `TGIBackend`
(`text-generation-launcher`, one per pipeline task on a GPU node). vLLM and SGLang servers come from datatrove
itself; see `cursorcore.processing.llm.runtime`.

    with make_backend(LLMConfig(backend="local")) as backend:   # started, ready; stopped on exit
        answer = asyncio.run(ask(backend))   # where ask() does `async with backend.client() as client: ...`
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from cursorcore.local_model import smollm2_gguf
from cursorcore.processing.llm.client import LLMClient, is_loopback
from cursorcore.processing.llm.config import LLMConfig
from cursorcore.processing.llm.errors import ServerStartError
from cursorcore.processing.llm.process import ServerProcess, free_port
from cursorcore.processing.llm.readiness import wait_for_inference_endpoint, wait_until_ready
from cursorcore.processing.llm.servers import RULES

LLAMA_CPP_HINT = "pip install 'llama-cpp-python[server]'   (make install builds it with portable CPU flags)"
TGI_HINT = (
    "install text-generation-inference on the GPU nodes (its launcher is not on PyPI: use the "
    "ghcr.io/huggingface/text-generation-inference image or build it) or run it yourself and use backend: endpoint"
)


class Backend(ABC):
    """A server address plus, for spawned servers, the process behind it; a context manager that starts/stops."""

    def __init__(self, config: LLMConfig):
        self.config = config

    @property
    @abstractmethod
    def base_url(self) -> str:
        """Root URL of the server (no `/v1`)."""

    @property
    @abstractmethod
    def served_model(self) -> str:
        """The model name requests carry."""

    @abstractmethod
    def launch(self) -> None:
        """Start whatever must run (returns at once)."""

    @abstractmethod
    def wait_ready(self) -> None:
        """Block until the server answers."""

    @abstractmethod
    def stop(self) -> None:
        """Stop what `launch` started; safe to call any time."""

    def alive(self) -> bool:
        return True

    def start(self) -> Backend:
        self.launch()
        self.wait_ready()
        return self

    def client(self, rank: int = 0) -> LLMClient:
        return LLMClient.from_config(self.config, self.base_url, self.served_model, rank=rank)

    def endpoint_config(self, **overrides: Any) -> LLMConfig:
        """The config that points other tools (another process, a pipeline) at this running server."""
        values = {"endpoint_url": self.base_url, "model": self.served_model, "server": self.config.server_kind}
        return LLMConfig(**{"backend": "endpoint", **values, **overrides})

    def __enter__(self) -> Backend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EndpointBackend(Backend):
    """A server the tooling does not own: TGI, vLLM, SGLang, llama.cpp or an HF Inference Endpoint."""

    @property
    def base_url(self) -> str:
        return self.config.endpoint_url or ""

    @property
    def served_model(self) -> str:
        # TGI and Inference Endpoints ignore the name; vLLM and SGLang want the one they serve
        return self.config.model or "tgi"

    def launch(self) -> None:
        """Nothing to start: someone else runs the server."""

    def wait_ready(self) -> None:
        """Wait until the server answers: an HF Inference Endpoint named by `endpoint_name` is woken through the Hub
        API first; then its health route is polled (503 while scaled to zero or loading), with progress shown, for
        at most `startup_timeout` seconds (`server_gone_wait` while nothing listens at all)."""
        config = self.config
        token = os.environ.get(config.token_env) if config.token_env else None
        if config.endpoint_name:
            wait_for_inference_endpoint(config.endpoint_name, token, config.startup_timeout)
        kind = config.server_kind
        health = RULES[kind].health_path if kind in RULES else "/health"
        wait_until_ready(
            self.base_url,
            tuple(dict.fromkeys((health, "/v1/models"))),
            headers={"Authorization": f"Bearer {token}"} if token else {},
            timeout=config.startup_timeout,
            refused_timeout=config.server_gone_wait,
            trust_env=not is_loopback(self.base_url),
        )

    def stop(self) -> None:
        """Nothing to stop."""


class SpawnedBackend(Backend):
    """A server process started here on 127.0.0.1 with a free (or the given) port, its output in a log file."""

    name: str
    ready_path = "/v1/models"

    def __init__(self, config: LLMConfig, *, port: int = 0, log_path: str | Path | None = None):
        super().__init__(config)
        self.port = port
        self._log_path = Path(log_path) if log_path else None
        self.process: ServerProcess | None = None

    @abstractmethod
    def command(self, port: int) -> list[str]:
        """The launch command for a server listening on 127.0.0.1:`port`."""

    def check_installed(self) -> None:
        """Raise `ServerStartError` with the install hint when the server software is missing."""

    @property
    def base_url(self) -> str:
        if self.process is None:
            raise RuntimeError(f"the {self.name} server is not started")
        return self.process.url

    @property
    def log_path(self) -> Path | None:
        return self.process.log_path if self.process else self._log_path

    def launch(self) -> None:
        if self.alive():
            return
        self.check_installed()
        port = self.port or free_port()
        log_path = self._log_path or self._default_log_path(port)
        self.process = ServerProcess(
            self.name,
            self.command(port),
            f"http://127.0.0.1:{port}",
            log_path=log_path,
            ready_path=self.ready_path,
            startup_timeout=self.config.startup_timeout,
        )
        self.process.launch()

    def wait_ready(self) -> None:
        if self.process is None:
            raise RuntimeError("launch() the server first")
        self.process.wait_ready()

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def _default_log_path(self, port: int) -> Path:
        folder = self.config.server_log_dir or tempfile.mkdtemp(prefix="cursorcore-llm-")
        return Path(folder) / f"{self.name}-{port}.log"


class LlamaCppBackend(SpawnedBackend):
    """llama-cpp-python's OpenAI-compatible server: one request at a time, CPU only, any GGUF file."""

    name = "llama.cpp"

    @property
    def gguf(self) -> Path:
        return Path(self.config.model) if self.config.model else smollm2_gguf()

    @property
    def served_model(self) -> str:
        return self.gguf.stem

    def check_installed(self) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise ServerStartError(f"llama-cpp-python is not installed: {LLAMA_CPP_HINT}")
        try:
            gguf = self.gguf
        except FileNotFoundError as error:
            raise ServerStartError(str(error)) from error
        if not gguf.is_file():
            raise ServerStartError(f"GGUF model file not found: {gguf}")

    def command(self, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.gguf),
            "--model_alias",
            self.served_model,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(self.config.context_length),
            *_flags(self.config.server_args, valued_booleans=True),
        ]


class TGIBackend(SpawnedBackend):
    """Hugging Face text-generation-inference, launched per task the way datatrove launches vLLM and SGLang."""

    name = "tgi"
    ready_path = "/health"

    @property
    def served_model(self) -> str:
        return self.config.model or ""

    def check_installed(self) -> None:
        if shutil.which("text-generation-launcher") is None:
            raise ServerStartError(f"text-generation-launcher is not on PATH: {TGI_HINT}")

    def command(self, port: int) -> list[str]:
        context = self.config.context_length
        return [
            "text-generation-launcher",
            "--model-id",
            self.served_model,
            "--hostname",
            "127.0.0.1",
            "--port",
            str(port),
            "--num-shard",
            str(self.config.tp),
            "--max-total-tokens",
            str(context),
            "--max-input-tokens",
            str(context - 1),
            # TGI answers 429 above this; let the client's own limit be the one that applies
            "--max-concurrent-requests",
            str(max(128, self.config.max_concurrency)),
            *_flags(self.config.server_args, valued_booleans=False),
        ]


BACKEND_CLASSES: dict[str, type[Backend]] = {
    "endpoint": EndpointBackend,
    "local": LlamaCppBackend,
    "tgi": TGIBackend,
}


def make_backend(config: LLMConfig, **options: Any) -> Backend:
    """The backend `config.backend` names; `options` (port, log_path) go to spawned servers."""
    if config.backend in ("vllm", "sglang"):
        raise ValueError(
            f"{config.backend} servers are spawned per pipeline task by the rollout runtime (datatrove's own server "
            "classes); outside a pipeline, start the server yourself and use backend: endpoint"
        )
    cls = BACKEND_CLASSES[config.backend]
    return cls(config, **options) if issubclass(cls, SpawnedBackend) else cls(config)


def _flags(args: dict[str, Any], *, valued_booleans: bool) -> list[str]:
    """`{"n_threads": 2, "trust-remote-code": True}` → command-line flags in the launcher's style."""
    out: list[str] = []
    for key, value in args.items():
        if isinstance(value, bool) and not valued_booleans:
            out += [f"--{key}"] if value else []
        else:
            out += [f"--{key}", str(value)]
    return out
