"""What each inference server accepts and how it answers: the facts request shaping (shaping.py) works from.

TGI's rules are read from its source, text-generation-inference v3.x (router at commit 01067f8, `Cargo.toml`
version 3.1.1-dev0):
  * `router/src/validation.rs` `Validation::validate`: `temperature` must be > 0 ("`temperature` must be strictly
    positive"), `top_p` and `typical_p` strictly inside (0, 1) ("`top_p` must be > 0.0 and < 1.0"), `top_k` > 0,
    `max_new_tokens` > 0, at most `max_stop_sequences` stop sequences ("`stop` supports up to {0} stop sequences"),
    `best_of` needs sampling and no seed, input tokens < `max_input_tokens` and input + `max_new_tokens` <=
    `max_total_tokens`. Every failure is `InferError::ValidationError`: HTTP 422,
    `{"error": "Input validation error: <reason>", "error_type": "validation"}` (`router/src/server.rs`).
  * `router/src/lib.rs` `ChatRequest::try_into_generate` (the `/v1/chat/completions` route): `n` is UNUSED (one
    choice comes back), temperature 0 turns into greedy decoding (`do_sample: false`, no temperature), `top_p` and
    `stop` go to the validation above unchanged, `details` are always computed and `logprobs: true` returns every
    generated token's text, special tokens included, while `message.content` is decoded without them.
  * `router/src/infer/mod.rs`: past `--max-concurrent-requests` (default 128) a request gets
    `InferError::Overloaded`, HTTP 429 `{"error": "Model is overloaded", "error_type": "overloaded"}`.
  * `GET /info` reports `max_stop_sequences`, `max_best_of`, `max_input_tokens`, `max_total_tokens`,
    `max_concurrent_requests`, `version` and `router` ("text-generation-router"); `GET /health` answers 200 or 503.
vLLM and SGLang take `skip_special_tokens` and `spaces_between_special_tokens` in their OpenAI-compatible requests
and honour `n`; llama-cpp-python answers one choice whatever `n` says and has no per-request special-token switch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import httpx2
from loguru import logger

from cursorcore.processing.llm.failures import HTTPFailure

TGI_DEFAULT_MAX_STOP_SEQUENCES = 4  # text-generation-launcher --max-stop-sequences default

# sampling parameters TGI's chat route reads (router/src/lib.rs ChatRequest); anything else is not sent
TGI_CHAT_PARAMS = frozenset(
    {
        "max_tokens",
        "temperature",
        "top_p",
        "seed",
        "stop",
        "frequency_penalty",
        "presence_penalty",
        "logprobs",
        "top_logprobs",
        "response_format",
        "tools",
        "tool_choice",
        "tool_prompt",
        "guideline",
    }
)
# TGI's native GenerateParameters (router/src/lib.rs) that requests may carry, by their OpenAI-style names
TGI_GENERATE_PARAMS = frozenset(
    {"max_new_tokens", "temperature", "top_p", "top_k", "seed", "stop", "repetition_penalty", "frequency_penalty"}
)


@dataclass(frozen=True)
class ServerRules:
    """One server's request rules.

    `honours_n`: whether `n > 1` gives n choices (None: find out from the first answer). `max_stop`: how many stop
    sequences a request may carry (None: no limit). `open_top_p`: `top_p` must lie strictly inside (0, 1).
    `chat_params`: the parameters the chat route takes (None: pass everything). `special_token_switch`: request
    fields that keep special tokens in the generated text. `token_details`: the text is rebuilt from the tokens the
    server reports, special ones included (TGI has no switch). `stop_in_text`: the generated text ends with the
    stop sequence that ended it (TGI); OpenAI-style servers leave it out, and so does the client, for every server.
    `health_path`: where readiness is checked.
    """

    kind: str
    honours_n: bool | None = None
    max_stop: int | None = None
    open_top_p: bool = False
    chat_params: frozenset[str] | None = None
    special_token_switch: dict[str, Any] = field(default_factory=dict)
    token_details: bool = False
    stop_in_text: bool = False
    health_path: str = "/v1/models"


_KEEP_SPECIAL = {"skip_special_tokens": False, "spaces_between_special_tokens": False}
RULES: dict[str, ServerRules] = {
    "tgi": ServerRules(
        "tgi",
        honours_n=False,
        max_stop=TGI_DEFAULT_MAX_STOP_SEQUENCES,
        open_top_p=True,
        chat_params=TGI_CHAT_PARAMS,
        token_details=True,
        stop_in_text=True,
        health_path="/health",
    ),
    "vllm": ServerRules("vllm", honours_n=True, special_token_switch=_KEEP_SPECIAL, health_path="/health"),
    "sglang": ServerRules("sglang", honours_n=True, special_token_switch=_KEEP_SPECIAL, health_path="/health"),
    "llama.cpp": ServerRules("llama.cpp", honours_n=False),
    "openai": ServerRules("openai"),
}


def rules_for(kind: str, info: dict[str, Any] | None = None) -> ServerRules:
    """The rules of server `kind`; for TGI, the limits its `/info` reported replace the launcher's defaults."""
    rules = RULES[kind]
    if kind == "tgi" and info:
        rules = replace(rules, max_stop=int(info.get("max_stop_sequences", rules.max_stop)))
    return rules


async def detect_server(http: httpx2.AsyncClient, base_url: str, headers: dict[str, str]) -> ServerRules:
    """Ask the server at `base_url` what it is: TGI (`/info`), SGLang (`/get_server_info`), vLLM (`/version`),
    else a generic OpenAI-compatible server. A server that is not up yet (refused connection, 429 or 5xx) raises
    as a request would, so the caller waits for it instead of guessing."""
    info = await _get_json(http, f"{base_url}/info", headers)
    if isinstance(info, dict) and ("max_stop_sequences" in info or str(info.get("router", "")).startswith("text-gen")):
        rules = rules_for("tgi", info)
    elif isinstance(await _get_json(http, f"{base_url}/get_server_info", headers), dict):
        rules = rules_for("sglang")
    elif isinstance(version := await _get_json(http, f"{base_url}/version", headers), dict) and "version" in version:
        rules = rules_for("vllm")
    else:
        rules = rules_for("openai")
    logger.info(f"{base_url} answers as {rules.kind}; requests are shaped for it")
    return rules


async def _get_json(http: httpx2.AsyncClient, url: str, headers: dict[str, str]) -> Any:
    response = await http.get(url, headers=headers, timeout=30)
    if response.status_code == 429 or response.status_code >= 500:
        raise HTTPFailure(response.status_code, response.text, dict(response.headers), url)
    try:
        return response.json() if response.status_code == 200 else None
    except ValueError:
        return None
