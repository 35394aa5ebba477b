"""What a failed request means, whichever server answered: one class per way of handling it.

* `validation`: 400, 422 and other 4xx (not 408/425/429): counted with the server's reason, never retried.
* `prompt_too_long`: a 4xx saying the input exceeds the context: counted, never retried.
* `overloaded`: 429 (TGI: "Model is overloaded") and 503 (cold start): waited out with jittered backoff, bounded by
  the total wait time, so a busy or waking server never fails a task by itself.
* `server_error`: 408, 425, other 5xx, dropped connections, timeouts: retried `max_retries` times.
* `gone`: connection refused: health checks, then a clear failure of the task, which a rerun resumes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import httpx2

OVERLOAD_STATUSES = frozenset({429, 503})
RETRY_STATUSES = frozenset({408, 425})
# how servers word "the prompt does not fit": TGI (validation.rs InputLength / MaxTotalTokens), vLLM, SGLang and
# llama-cpp-python ("maximum context length"), llama.cpp's server ("exceeds the available context size"), OpenAI
# (code context_length_exceeded)
_TOO_LONG = re.compile(
    r"`inputs` must have less than|`inputs` tokens \+ `max_new_tokens`|context[ _](length|size|window)|too long",
    re.IGNORECASE,
)


class HTTPFailure(Exception):
    """A non-2xx answer: status, the server's own message, and the headers (Retry-After)."""

    def __init__(self, status: int, body: str, headers: dict[str, str], url: str):
        self.status = status
        self.body = body
        self.headers = {name.lower(): value for name, value in headers.items()}
        self.url = url
        super().__init__(f"{status} from {url}: {self.reason}")

    @property
    def reason(self) -> str:
        """The server's explanation: the `error` (TGI, llama.cpp) or `error.message` / `message` (OpenAI, vLLM)."""
        try:
            data = json.loads(self.body)
        except ValueError:
            return self.body.strip()[:500]
        error = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(error, dict):
            error = error.get("message") or data.get("message") or error
        return str(error)[:500]

    @property
    def retry_after(self) -> float | None:
        try:
            return float(self.headers["retry-after"])
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True)
class Failure:
    kind: str  # validation, prompt_too_long, overloaded, server_error, gone
    reason: str
    status: int | None = None

    @property
    def is_request_fault(self) -> bool:
        return self.kind in ("validation", "prompt_too_long")


def classify(error: BaseException) -> Failure | None:
    """The class of a failed attempt; None for errors that are not about the HTTP exchange (bugs propagate)."""
    if isinstance(error, HTTPFailure):
        status = error.status
        if status in OVERLOAD_STATUSES:
            return Failure("overloaded", error.reason, status)
        if status in RETRY_STATUSES or status >= 500:
            return Failure("server_error", error.reason, status)
        kind = "prompt_too_long" if _TOO_LONG.search(error.reason) else "validation"
        return Failure(kind, error.reason, status)
    if isinstance(error, httpx2.ConnectError) or isinstance(error, ConnectionRefusedError):
        return Failure("gone", f"{type(error).__name__}: {error}".rstrip(": "))
    if isinstance(error, (TimeoutError, httpx2.TimeoutException)):
        return Failure("server_error", "timeout")
    if isinstance(error, (httpx2.TransportError, ConnectionError)):
        return Failure("server_error", f"{type(error).__name__}: {error}".rstrip(": "))
    return None
