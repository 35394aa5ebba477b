"""LLM serving for synthesis: backends (TGI / OpenAI-compatible endpoints, an embedded llama.cpp server, servers
spawned per task), a retrying, caching async client, and the rollout runtime on datatrove's InferenceRunner.

Names are imported on first use, so the `cursorcore` CLI starts without loading datatrove and huggingface_hub.
See docs/llm.md for running synthesis against a TGI endpoint and on Slurm.
"""

import importlib
from typing import Any

_EXPORTS = {
    "backends": ("Backend", "EndpointBackend", "LlamaCppBackend", "SpawnedBackend", "TGIBackend", "make_backend"),
    "budget": ("Budget", "BudgetExhausted"),
    "cache": ("RequestCache",),
    "client": ("Choice", "ClientStats", "Generation", "LLMClient"),
    "config": ("LLMConfig",),
    "errors": (
        "LLMError",
        "LLMInfrastructureError",
        "LLMRequestError",
        "LLMTimeoutError",
        "LLMUnavailableError",
        "ServerStartError",
    ),
    "runtime": ("Rejected", "RolloutRunner", "chunked_jsonl_writer", "is_rejection", "reject"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
