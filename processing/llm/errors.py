"""What can go wrong talking to an LLM server, split by who is to blame.

Infrastructure failures (`LLMUnavailableError`, `LLMTimeoutError`, `ServerStartError`) must fail the pipeline task
so that a rerun retries them; only `LLMRequestError` (the server refused this particular request) may be recorded
as a rejected sample.
"""

from cursorcore.errors import InfrastructureError


class LLMError(Exception):
    """Base class of every error raised by `cursorcore.processing.llm`."""


class LLMInfrastructureError(LLMError, InfrastructureError):
    """The server could not answer (down, overloaded, too slow): retry later, never blame the sample."""


class LLMUnavailableError(LLMInfrastructureError):
    """5xx answers or dropped connections through every retry, 429/503 past the wait bound, or a server gone."""


class LLMTimeoutError(LLMInfrastructureError):
    """Every attempt exceeded the per-request timeout."""


class ServerStartError(LLMInfrastructureError):
    """A server process that the tooling started died or never became ready."""


class LLMRequestError(LLMError):
    """The server refused the request itself (4xx other than 408/425/429): retrying cannot help.

    `reason` is `validation` (a setting the server does not accept) or `prompt_too_long`.
    """

    def __init__(self, message: str, status: int | None = None, reason: str = "validation"):
        super().__init__(message)
        self.status = status
        self.reason = reason
