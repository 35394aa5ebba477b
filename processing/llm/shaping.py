"""Requests as each server accepts them, and answers read back into one meaning.

A caller writes one OpenAI-style request (`messages` or `prompt`, `max_tokens`, `temperature`, `top_p`, `stop`,
`seed`, ...). `shape` turns one sample of it into what the server in `ServerRules` takes: TGI gets no `top_p` of 1.0
(its validation wants 0 < top_p < 1; 1.0 means "the whole distribution", the same as leaving it out), greedy
requests without sampling knobs, at most its number of stop sequences (the rest are applied to the text here), only
the parameters its chat route reads, and `logprobs`/`details` so that special tokens can be put back into the text;
vLLM and SGLang get their switch that keeps special tokens. `read_answer` gives (text, finish_reason) per choice with
the same conventions everywhere: special tokens kept, the stop sequence that ended the text left out, finish reason
`stop` or `length`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cursorcore.processing.llm.servers import TGI_GENERATE_PARAMS, ServerRules

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
TGI_GENERATE_PATH = "/generate"
_NOT_SAMPLING = ("messages", "prompt", "stream", "model", "n")
_TGI_FINISH = {"eos_token": "stop", "stop_sequence": "stop", "length": "length"}


@dataclass(frozen=True)
class WireRequest:
    """One HTTP request: where it goes, its JSON body, and what reading the answer needs to know."""

    path: str
    body: dict[str, Any]
    sent_stops: tuple[str, ...] = ()
    client_stops: tuple[str, ...] = ()  # stop sequences beyond the server's limit, applied to the text here
    rebuild: bool = False  # the text is rebuilt from token details (special tokens included)


@dataclass(frozen=True)
class Answer:
    choices: list[tuple[str, str]]  # (text, finish_reason) per choice
    usage: dict[str, int]
    reasoning: str = ""


def shape(
    request: dict[str, Any], rules: ServerRules, model: str, n: int = 1, *, keep_special: bool = True
) -> WireRequest:
    """The request for one call of `n` samples (n > 1 only where the server honours `n`)."""
    params = {k: v for k, v in request.items() if k not in _NOT_SAMPLING}
    stops = params.pop("stop", None) or []
    stops = [stops] if isinstance(stops, str) else list(stops)
    limit = len(stops) if rules.max_stop is None else rules.max_stop
    sent, extra = tuple(stops[:limit]), tuple(stops[limit:])
    if rules.open_top_p:
        _fit_open_top_p(params)
    if sent:
        params["stop"] = list(sent)
    rebuild = keep_special and rules.token_details
    if "prompt" in request and rules.kind == "tgi":
        return WireRequest(TGI_GENERATE_PATH, _tgi_generate_body(request["prompt"], params), sent, extra, rebuild)
    if rules.chat_params is not None:
        params = {k: v for k, v in params.items() if k in rules.chat_params}
    body: dict[str, Any] = {"model": model, **params}
    if n > 1:
        body["n"] = n
    if keep_special:
        body.update(rules.special_token_switch)
        if rules.token_details:
            body["logprobs"] = True
    if "messages" in request:
        return WireRequest(CHAT_PATH, {**body, "messages": request["messages"]}, sent, extra, rebuild)
    return WireRequest(COMPLETIONS_PATH, {**body, "prompt": request["prompt"]}, sent, extra, rebuild)


def _fit_open_top_p(params: dict[str, Any]) -> None:
    """TGI: top_p only strictly inside (0, 1), and greedy decoding only without sampling knobs.

    top_p >= 1 keeps the whole distribution, which is what leaving it out does; top_p <= 0 keeps the single most
    likely token, which is greedy decoding. Greedy requests (temperature 0) lose top_p and top_k: TGI samples as
    soon as any of them is set, whatever `do_sample` says (`server/text_generation_server/utils/tokens.py`,
    `NextTokenChooser`: `sampling = do_sample or has_warpers`).
    """
    top_p = params.get("top_p")
    if top_p is not None and top_p >= 1:
        del params["top_p"]
    elif top_p is not None and top_p <= 0:
        params["temperature"] = 0.0
    if params.get("temperature") == 0:
        params.pop("top_p", None)
        params.pop("top_k", None)


def _tgi_generate_body(prompt: str, params: dict[str, Any]) -> dict[str, Any]:
    """TGI's native `/generate`: temperature must be > 0, so greedy is `do_sample: false` without a temperature."""
    parameters = {k: v for k, v in params.items() if k in TGI_GENERATE_PARAMS}
    if "max_tokens" in params:
        parameters["max_new_tokens"] = params["max_tokens"]
    temperature = parameters.pop("temperature", None)
    greedy = temperature == 0
    if not greedy and temperature is not None:
        parameters["temperature"] = temperature
    # without do_sample, TGI decodes greedily; OpenAI-style requests sample unless temperature is 0
    parameters["do_sample"] = not greedy
    parameters["details"] = True
    return {"inputs": prompt, "parameters": parameters}


def read_answer(wire: WireRequest, data: Any, rules: ServerRules) -> Answer:
    """The choices of a server's JSON answer, in the client's conventions (see the module docstring)."""
    if wire.path == TGI_GENERATE_PATH:
        return _read_tgi_generate(wire, data[0] if isinstance(data, list) else data)
    choices, reasoning = [], ""
    for choice in data.get("choices") or []:
        finish = choice.get("finish_reason") or ""
        if wire.path == CHAT_PATH:
            message = choice.get("message") or {}
            text = message.get("content") or ""
            reasoning = reasoning or message.get("reasoning") or message.get("reasoning_content") or ""
            if wire.rebuild and choice.get("logprobs"):
                tokens = [entry.get("token", "") for entry in choice["logprobs"].get("content") or []]
                text = rebuild_text(text, tokens, end_on_special=finish == "stop", stops=wire.sent_stops)
        else:
            text = choice.get("text") or ""
        if rules.stop_in_text and finish == "stop":
            text = _strip_stop(text, wire.sent_stops)
        choices.append(_client_stop(text, finish, wire.client_stops))
    usage = {k: int(v or 0) for k, v in (data.get("usage") or {}).items() if k.endswith("_tokens")}
    return Answer(choices, usage, reasoning)


def _read_tgi_generate(wire: WireRequest, data: dict[str, Any]) -> Answer:
    details = data.get("details") or {}
    finish = details.get("finish_reason") or ""
    text = data.get("generated_text") or ""
    tokens = details.get("tokens") or []
    if wire.rebuild and tokens:
        if finish == "eos_token" and tokens[-1].get("special"):
            tokens = tokens[:-1]  # the end-of-sequence token is how the answer ended, not part of it
        text = "".join(token.get("text", "") for token in tokens)
    if finish == "stop_sequence":
        text = _strip_stop(text, wire.sent_stops)
    usage = {"completion_tokens": int(details.get("generated_tokens") or 0)}
    if details.get("prefill"):
        usage["prompt_tokens"] = len(details["prefill"])
    return Answer([_client_stop(text, _TGI_FINISH.get(finish, finish), wire.client_stops)], usage)


def rebuild_text(content: str, tokens: list[str], *, end_on_special: bool, stops: tuple[str, ...]) -> str:
    """The generated text with special tokens, from the server's text without them and the text of every token.

    Tokens are laid along `content`: one that continues it is ordinary, one that does not was skipped by the
    server's decoder (a special token) and goes back in. A special token at the very end of an answer that stopped
    is its end-of-sequence token and stays out (unless it is the stop sequence asked for). When the tokens cannot be
    laid along the content (a decoder that also rewrote spaces), the server's text is kept as it is.
    """
    position, pieces = 0, []
    for token in tokens:
        ordinary = bool(token) and content.startswith(token, position)
        position += len(token) if ordinary else 0
        pieces.append((token, ordinary))
    if position != len(content):
        return content
    text = "".join(token for token, _ in pieces)
    if end_on_special and pieces and not pieces[-1][1] and not any(text.endswith(stop) for stop in stops):
        pieces.pop()
    return "".join(token for token, _ in pieces)


def _strip_stop(text: str, stops: tuple[str, ...]) -> str:
    """Leave out the stop sequence that ended `text` (TGI keeps it; OpenAI-style servers do not)."""
    for stop in sorted(stops, key=len, reverse=True):
        if stop and text.endswith(stop):
            return text[: -len(stop)]
    return text


def _client_stop(text: str, finish: str, stops: tuple[str, ...]) -> tuple[str, str]:
    """Apply the stop sequences the server could not take: cut at the first one found."""
    cuts = [index for stop in stops if stop and (index := text.find(stop)) >= 0]
    return (text[: min(cuts)], "stop") if cuts else (text, finish)
