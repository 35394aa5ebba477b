"""One configuration for every LLM backend, plain enough to live in a YAML file."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

Backend = Literal["local", "endpoint", "tgi", "vllm", "sglang"]
BACKENDS: tuple[str, ...] = ("local", "endpoint", "tgi", "vllm", "sglang")
# the server software behind an address: what it accepts and how it answers (see servers.py)
SERVERS: tuple[str, ...] = ("auto", "tgi", "vllm", "sglang", "llama.cpp", "openai")
# the server each spawning backend runs
SPAWNED_SERVER = {"local": "llama.cpp", "tgi": "tgi", "vllm": "vllm", "sglang": "sglang"}


@dataclass
class LLMConfig:
    """Where synthesis requests go and how they are sent.

    `backend` picks the server: `local` starts llama.cpp on 127.0.0.1 (SmolLM2 unless `model` names a GGUF file),
    `endpoint` talks to a running server or HF Inference Endpoint at `endpoint_url`, and `tgi`, `vllm`, `sglang`
    spawn one server per pipeline task (clusters). `model` is the GGUF path (`local`), the model id or path to load
    (`tgi`, `vllm`, `sglang`), or the model name sent in requests (`endpoint`). The bearer token is read from the
    environment variable `token_env` and never stored here.

    `server` names the software behind `endpoint_url` (`tgi`, `vllm`, `sglang`, `llama.cpp`, `openai` for any other
    OpenAI-compatible API); `auto` asks the server (TGI's `/info`, SGLang's `/get_server_info`, vLLM's `/version`).
    Requests are shaped to what that server accepts. `endpoint_name` is an HF Inference Endpoint's name
    (`name` or `namespace/name`): the endpoint is woken and waited for before the first request.
    """

    backend: Backend = "local"
    model: str | None = None
    endpoint_url: str | None = None
    token_env: str | None = "HF_TOKEN"
    server: str = "auto"
    endpoint_name: str | None = None
    # client
    max_concurrency: int = 16
    request_timeout: float = 600.0
    max_retries: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    overload_wait: float = 1800.0  # total seconds one request may wait out 429/503 answers (busy or waking server)
    server_gone_wait: float = 120.0  # seconds of health checks after a refused connection before the task fails
    keep_special_tokens: bool = True  # answers keep the model's special tokens (CursorCore's <|next_start|>, ...)
    cache_path: str | None = None
    generation: dict[str, Any] = field(default_factory=dict)
    # spending limits of a whole build (budget.py): requests sent and output tokens answered, cached ones not
    # counted, in the ledger at `budget_path` (a build sets it in its work folder; None: this client's own)
    max_requests: int | None = None
    max_output_tokens: int | None = None
    budget_path: str | None = None
    # spawned servers (local, tgi, vllm, sglang)
    context_length: int = 4096
    tp: int = 1
    server_args: dict[str, Any] = field(default_factory=dict)
    server_log_dir: str | None = None
    startup_timeout: float = 900.0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown LLM backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.backend == "endpoint":
            if not self.endpoint_url:
                raise ValueError("backend 'endpoint' needs endpoint_url (the server's base URL)")
            self.endpoint_url = normalize_base_url(self.endpoint_url)
        if self.backend in ("tgi", "vllm", "sglang") and not self.model:
            raise ValueError(f"backend {self.backend!r} needs model (a model id or path to load)")
        if self.server not in SERVERS:
            raise ValueError(f"unknown server {self.server!r}; choose one of {', '.join(SERVERS)}")
        spawned = SPAWNED_SERVER.get(self.backend)
        if spawned and self.server not in ("auto", spawned):
            raise ValueError(f"backend {self.backend!r} runs {spawned}, not server {self.server!r}")
        if self.endpoint_name and self.backend != "endpoint":
            raise ValueError("endpoint_name (an HF Inference Endpoint) needs backend 'endpoint'")
        for name in ("max_concurrency", "tp", "context_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        for name in ("max_requests", "max_output_tokens"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (or unset: no limit)")
        if min(self.request_timeout, self.startup_timeout, self.overload_wait, self.server_gone_wait) <= 0:
            raise ValueError("timeouts must be > 0")

    @property
    def server_kind(self) -> str:
        """The server software: the one a spawning backend runs, else `server` (possibly `auto`)."""
        return SPAWNED_SERVER.get(self.backend, self.server)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LLMConfig:
        """Build from a mapping (a YAML section), rejecting unknown keys so typos do not pass silently."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown LLM config key(s) {unknown}; known keys: {sorted(known)}")
        return cls(**values)

    @classmethod
    def coerce(cls, value: LLMConfig | Mapping[str, Any] | None) -> LLMConfig | None:
        """An `LLMConfig` from a config object or a YAML mapping (a second model's section), None staying None."""
        if value is None or isinstance(value, LLMConfig):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(dict(value))
        raise TypeError(f"an LLM config must be a mapping of LLMConfig keys, not {type(value).__name__}")

    @classmethod
    def from_yaml(cls, path: str | Path, section: str | None = "llm") -> LLMConfig:
        """Read the `llm:` section of a YAML file (or the whole file with section=None)."""
        data = yaml.safe_load(Path(path).read_text()) or {}
        return cls.from_dict(data[section] if section else data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def answer_settings(self) -> dict[str, Any]:
        """The settings that decide what the model answers (server, model, sampling): what a work folder of results
        is keyed by. How requests are paced, retried, cached and paid for is left out, so that changing a budget or
        a timeout reuses the work done."""
        return {k: v for k, v in self.to_dict().items() if k not in RUN_ONLY}


# settings that change how requests are sent, never what comes back
RUN_ONLY = frozenset(
    {
        "token_env",
        "max_concurrency",
        "request_timeout",
        "max_retries",
        "backoff_initial",
        "backoff_max",
        "overload_wait",
        "server_gone_wait",
        "cache_path",
        "max_requests",
        "max_output_tokens",
        "budget_path",
        "server_log_dir",
        "startup_timeout",
    }
)


def normalize_base_url(url: str) -> str:
    """Strip a trailing `/v1`: clients add the API path themselves, and datatrove polls `<url>/v1/models`."""
    url = url.rstrip("/")
    return url.removesuffix("/v1")
