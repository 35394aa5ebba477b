"""A TGI-conformant stand-in for rehearsals and tests: TGI's HTTP API and router rules in front of a real llama.cpp
server, for machines where TGI (CUDA) cannot run.

It is a rehearsal tool, not a server to deploy: the model answering is the llama.cpp server at `upstream`; what the
stand-in adds is everything TGI's router decides before and after the model, following text-generation-inference
v3.x (router at commit 01067f8, workspace version 3.1.1-dev0):

* validation (`router/src/validation.rs`, `Validation::validate` and `validate_best_of`): temperature > 0,
  0 < top_p < 1, 0 < typical_p < 1, top_k > 0, repetition_penalty > 0, -2 <= frequency_penalty <= 2,
  max_new_tokens > 0, at most `max_stop_sequences` stop sequences, best_of only with sampling, without a seed and up
  to `max_best_of`, top_n_tokens up to `max_top_n_tokens`, non-empty inputs, input tokens <= `max_input_tokens` and
  input + max_new_tokens <= `max_total_tokens` (max_new_tokens defaulting to min(room left, 1024)); every failure is
  HTTP 422 `{"error": "Input validation error: <reason>", "error_type": "validation"}` (`router/src/server.rs`);
* the chat route (`router/src/lib.rs`, `ChatRequest::try_into_generate`): `n` is ignored (one choice), temperature 0
  means greedy, `max_tokens` defaults to 100, `presence_penalty` becomes repetition_penalty + 2, `top_logprobs` is
  top_n_tokens, and `logprobs: true` lists every generated token, special ones included (`ChatCompletion::new`);
* overload (`router/src/infer/mod.rs`): past `max_concurrent_requests` requests in flight the answer is HTTP 429
  `{"error": "Model is overloaded", "error_type": "overloaded"}`, before validation;
* decoding: the generated text leaves special tokens out, token details mark them `special: true`, the text keeps
  the stop sequence that ended it, and an end-of-sequence token ends `details.tokens`; a request samples when
  `do_sample` is set or any warper is (temperature != 1, top_k, top_p < 1, typical_p < 1), else decodes greedily
  (`server/text_generation_server/utils/tokens.py`, `NextTokenChooser`).

Two things are emulated rather than taken from TGI: the tokenizer is a CursorCore one for special tokens (the
CursorCore tokens in the upstream's text count as special tokens, as they would for a CursorCore model, while
SmolLM2 writes them as plain text), and input lengths count the ChatML rendering of the messages through the
upstream's tokenizer. A cold-start mode answers 503 to everything, as an Inference Endpoint does while it scales up
from zero, for the first `cold_start_requests` requests or `cold_start_seconds` seconds.

    python -m cursorcore.processing.llm.tgi_standin --upstream http://127.0.0.1:8080 --port 3000 \\
        --max-concurrent-requests 8 --cold-start-seconds 20
"""

from __future__ import annotations

import argparse
import re
import signal
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cursorcore.tokens import IM_END, SPECIAL_TOKENS

TGI_VERSION = "3.1.1-dev0"
DEFAULT_GENERATION_LENGTH = 1024  # validation.rs: max_new_tokens when the request has none (generate route)
CHAT_DEFAULT_MAX_TOKENS = 100  # lib.rs ChatRequest::try_into_generate


@dataclass
class StandinSettings:
    """TGI launcher settings the stand-in enforces (`text-generation-launcher` defaults where TGI has them)."""

    upstream: str
    model_id: str = "tgi-standin"
    max_concurrent_requests: int = 128
    max_best_of: int = 2
    max_stop_sequences: int = 4
    max_top_n_tokens: int = 5
    max_input_tokens: int = 4095
    max_total_tokens: int = 4096
    cold_start_requests: int = 0
    cold_start_seconds: float = 0.0
    special_tokens: tuple[str, ...] = SPECIAL_TOKENS
    eos_token: str = IM_END


@dataclass
class StandinStats:
    """What the stand-in answered: counts per outcome, and each validation error's reason."""

    served: int = 0
    overloaded: int = 0
    cold: int = 0
    validation: Counter[str] = field(default_factory=Counter)


class ValidationError(Exception):
    """A request TGI's router refuses (HTTP 422)."""


class TGIStandin:
    """The stand-in's HTTP app; `serve()` runs it in a thread (context manager), `url` is where it listens."""

    def __init__(self, settings: StandinSettings):
        self.settings = settings
        self.stats = StandinStats()
        self._in_flight = 0
        self._requests = 0
        self._started = time.monotonic()
        self._http: httpx2.AsyncClient | None = None
        self._special = (
            re.compile("|".join(map(re.escape, settings.special_tokens))) if settings.special_tokens else None
        )
        self.app = Starlette(
            routes=[
                Route("/health", self.health),
                Route("/info", self.info),
                Route("/v1/models", self.models),
                Route("/generate", self.generate, methods=["POST"]),
                Route("/", self.compat_generate, methods=["POST"]),
                Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
            ]
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    # ------------------------------------------------------------------ running
    def serve(self, port: int = 0) -> TGIStandin:
        """Listen on 127.0.0.1:`port` (0: a free port) in a background thread."""
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the TGI stand-in did not start")
            time.sleep(0.02)
        self._started = time.monotonic()
        return self

    @property
    def url(self) -> str:
        if self._socket is None:
            raise RuntimeError("the stand-in is not serving")
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def close(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> TGIStandin:
        return self.serve() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ routes
    async def health(self, request: Request) -> Response:
        return self._cold_answer() or Response(status_code=200)

    async def info(self, request: Request) -> Response:
        settings = self.settings
        return self._cold_answer() or JSONResponse(
            {
                "model_id": settings.model_id,
                "model_sha": None,
                "model_pipeline_tag": "text-generation",
                "max_concurrent_requests": settings.max_concurrent_requests,
                "max_best_of": settings.max_best_of,
                "max_stop_sequences": settings.max_stop_sequences,
                "max_input_tokens": settings.max_input_tokens,
                "max_total_tokens": settings.max_total_tokens,
                "validation_workers": 2,
                "max_client_batch_size": 4,
                "router": "text-generation-router",
                "version": TGI_VERSION,
                "sha": None,
                "docker_label": "standin",
            }
        )

    async def models(self, request: Request) -> Response:
        model = {"id": self.settings.model_id, "object": "model", "created": 0, "owned_by": self.settings.model_id}
        return self._cold_answer() or JSONResponse({"object": "list", "data": [model]})

    async def generate(self, request: Request) -> Response:
        return await self._serve(request, self._generate)

    async def compat_generate(self, request: Request) -> Response:
        """`POST /`: the generate route, its answer wrapped in a list (server.rs compat_generate)."""
        return await self._serve(request, self._generate, in_list=True)

    async def chat_completions(self, request: Request) -> Response:
        return await self._serve(request, self._chat)

    # ------------------------------------------------------------------ the router's decisions
    def _cold_answer(self) -> Response | None:
        """503 while "scaling up from zero" (an Inference Endpoint's proxy answers so before TGI is up)."""
        settings = self.settings
        self._requests += 1
        cold = self._requests <= settings.cold_start_requests
        cold = cold or time.monotonic() - self._started < settings.cold_start_seconds
        if not cold:
            return None
        self.stats.cold += 1
        return JSONResponse({"error": "Service Unavailable: the endpoint is starting"}, status_code=503)

    async def _serve(self, request: Request, handler: Any, in_list: bool = False) -> Response:
        if (cold := self._cold_answer()) is not None:
            return cold
        if self._in_flight >= self.settings.max_concurrent_requests:
            self.stats.overloaded += 1
            return JSONResponse({"error": "Model is overloaded", "error_type": "overloaded"}, status_code=429)
        self._in_flight += 1
        try:
            answer = await handler(await request.json())
            return JSONResponse([answer] if in_list else answer)
        except ValidationError as error:
            self.stats.validation[str(error)] += 1
            return JSONResponse(
                {"error": f"Input validation error: {error}", "error_type": "validation"}, status_code=422
            )
        except httpx2.HTTPError as error:  # the model failed: TGI's GenerationError is a 424
            return JSONResponse(
                {"error": f"Request failed during generation: {error}", "error_type": "generation"}, status_code=424
            )
        finally:
            self._in_flight -= 1

    async def _generate(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body.get("inputs") or ""
        parameters = {k: v for k, v in (body.get("parameters") or {}).items() if v is not None}  # null: unset
        max_new_tokens = await self._validate(parameters, inputs)
        raw, finish, usage = await self._upstream(
            "/v1/completions", {"prompt": inputs}, parameters, max_new_tokens, parameters.get("stop") or []
        )
        tokens = self._tokens(raw, finish)
        details = {
            "finish_reason": finish,
            "generated_tokens": usage.get("completion_tokens", 0),
            "seed": parameters.get("seed"),
            "prefill": [],
            "tokens": tokens,
        }
        self.stats.served += 1
        answer = {"generated_text": self._decode(tokens)}
        return {**answer, "details": details} if parameters.get("details") else answer

    async def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        temperature = body.get("temperature")
        greedy = temperature == 0
        parameters = {
            "temperature": None if greedy else temperature,
            "do_sample": not greedy,
            "top_p": body.get("top_p"),
            "frequency_penalty": body.get("frequency_penalty"),
            "max_new_tokens": body.get("max_tokens") or CHAT_DEFAULT_MAX_TOKENS,
            "stop": body.get("stop") or [],
            "seed": body.get("seed"),
            "top_n_tokens": body.get("top_logprobs"),
        }
        if body.get("presence_penalty") is not None:
            parameters["repetition_penalty"] = body["presence_penalty"] + 2.0
        parameters = {k: v for k, v in parameters.items() if v is not None}
        messages = body.get("messages") or []
        rendered = "".join(f"<|im_start|>{m.get('role')}\n{m.get('content')}<|im_end|>\n" for m in messages)
        max_new_tokens = await self._validate(parameters, rendered + "<|im_start|>assistant\n")
        raw, finish, usage = await self._upstream(
            "/v1/chat/completions", {"messages": messages}, parameters, max_new_tokens, parameters.get("stop") or []
        )
        tokens = self._tokens(raw, finish)
        logprobs = None
        if body.get("logprobs"):
            logprobs = {"content": [{"token": t["text"], "logprob": t["logprob"], "top_logprobs": []} for t in tokens]}
        self.stats.served += 1
        completion = usage.get("completion_tokens", 0)
        return {
            "object": "chat.completion",
            "id": "",
            "created": int(time.time()),
            "model": self.settings.model_id,
            "system_fingerprint": f"{TGI_VERSION}-standin",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self._decode(tokens)},
                    "logprobs": logprobs,
                    "finish_reason": "length" if finish == "length" else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": usage.get("prompt_tokens", 0),
                "completion_tokens": completion,
                "total_tokens": usage.get("prompt_tokens", 0) + completion,
            },
        }

    async def _validate(self, parameters: dict[str, Any], inputs: str) -> int:
        """validation.rs `Validation::validate` (and server.rs `validate_best_of`), in TGI's order; the
        max_new_tokens to use."""
        settings = self.settings
        best_of = parameters.get("best_of") or 1
        temperature, top_p = parameters.get("temperature"), parameters.get("top_p")
        top_k, typical_p = parameters.get("top_k"), parameters.get("typical_p")
        sampling = bool(parameters.get("do_sample")) or any(
            v is not None for v in (temperature, top_k, top_p, typical_p)
        )
        if best_of > 1 and not sampling:
            raise ValidationError("you must use sampling when `best_of` is > 1")
        if (1.0 if temperature is None else temperature) <= 0:
            raise ValidationError("`temperature` must be strictly positive")
        if parameters.get("repetition_penalty", 1.0) <= 0:
            raise ValidationError("`repetition_penalty` must be strictly positive")
        if not -2.0 <= parameters.get("frequency_penalty", 0.0) <= 2.0:
            raise ValidationError("`frequency_penalty` must be >= -2.0 and <= 2.0")
        if top_p is not None and not 0.0 < top_p < 1.0:
            raise ValidationError("`top_p` must be > 0.0 and < 1.0")
        if typical_p is not None and not 0.0 < typical_p < 1.0:
            raise ValidationError("`typical_p` must be > 0.0 and < 1.0")
        if top_k is not None and top_k <= 0:
            raise ValidationError("`top_k` must be strictly positive")
        if parameters.get("max_new_tokens") == 0:
            raise ValidationError("`max_new_tokens` must be strictly positive")
        stops = parameters.get("stop") or []
        if len(stops) > settings.max_stop_sequences:
            raise ValidationError(
                f"`stop` supports up to {settings.max_stop_sequences} stop sequences. Given: {len(stops)}"
            )
        if parameters.get("seed") is not None and best_of > 1:
            raise ValidationError("`seed` must not be set when `best_of` > 1")
        top_n = parameters.get("top_n_tokens") or 0
        if top_n > settings.max_top_n_tokens:
            raise ValidationError(f"`top_n_tokens` must be >= 0 and <= {settings.max_top_n_tokens}. Given: {top_n}")
        if not inputs:
            raise ValidationError("`inputs` cannot be empty")
        input_length = await self._count_tokens(inputs)
        max_new_tokens = parameters.get("max_new_tokens")
        if max_new_tokens is None:
            max_new_tokens = min(max(settings.max_total_tokens - input_length, 0), DEFAULT_GENERATION_LENGTH)
        if input_length + max_new_tokens > settings.max_total_tokens:
            raise ValidationError(
                f"`inputs` tokens + `max_new_tokens` must be <= {settings.max_total_tokens}. "
                f"Given: {input_length} `inputs` tokens and {max_new_tokens} `max_new_tokens`"
            )
        if input_length > settings.max_input_tokens:
            raise ValidationError(
                f"`inputs` must have less than {settings.max_input_tokens} tokens. Given: {input_length}"
            )
        if best_of > 1:
            if settings.max_best_of == 1:
                raise ValidationError("`best_of` != 1 is not allowed for this endpoint")
            if best_of > settings.max_best_of:
                raise ValidationError(f"`best_of` must be > 0 and <= {settings.max_best_of}. Given: {best_of}")
        return int(max_new_tokens)

    # ------------------------------------------------------------------ the model behind it
    def _client(self) -> httpx2.AsyncClient:
        if self._http is None:
            self._http = httpx2.AsyncClient(base_url=self.settings.upstream, timeout=None, trust_env=False)
        return self._http

    async def _count_tokens(self, text: str) -> int:
        response = await self._client().post("/extras/tokenize", json={"input": text})
        response.raise_for_status()
        return len(response.json()["tokens"])

    async def _upstream(
        self, path: str, body: dict[str, Any], parameters: dict[str, Any], max_new_tokens: int, stops: list[str]
    ) -> tuple[str, str, dict[str, int]]:
        """Generate with llama.cpp: (text with special tokens, TGI finish reason, usage).

        Stop sequences are matched here, on the text with special tokens as TGI does, and kept in it; llama.cpp
        would drop them and could not say whether a stop sequence or the end-of-sequence token ended the answer.
        """
        # TGI samples when asked to or when any warper is set, whatever do_sample says
        # (server/text_generation_server/utils/tokens.py, NextTokenChooser: sampling = do_sample or has_warpers)
        warpers = (
            parameters.get("temperature", 1.0) != 1.0
            or parameters.get("top_k", 0) != 0
            or parameters.get("top_p", 1.0) < 1.0
            or parameters.get("typical_p", 1.0) < 1.0
        )
        sampling = bool(parameters.get("do_sample")) or warpers
        upstream = {**body, "max_tokens": max_new_tokens, "temperature": parameters.get("temperature", 1.0)}
        upstream["temperature"] = upstream["temperature"] if sampling else 0.0
        for name in ("top_p", "top_k", "seed", "frequency_penalty"):
            if parameters.get(name) is not None:
                upstream[name] = parameters[name]
        response = await self._client().post(path, json=upstream)
        response.raise_for_status()
        data = response.json()
        choice = data["choices"][0]
        text = choice["message"]["content"] if "message" in choice else choice["text"]
        finish = "length" if choice.get("finish_reason") == "length" else "eos_token"
        cuts = [(index + len(stop)) for stop in stops if stop and (index := text.find(stop)) >= 0]
        if cuts:
            text, finish = text[: min(cuts)], "stop_sequence"
        return text or "", finish, data.get("usage") or {}

    def _tokens(self, raw: str, finish: str) -> list[dict[str, Any]]:
        """TGI's token details for `raw`: special tokens as tokens of their own, then the end-of-sequence token."""
        pieces: list[tuple[str, bool]] = []
        position = 0
        for match in self._special.finditer(raw) if self._special else ():
            pieces += [(raw[position : match.start()], False)] if match.start() > position else []
            pieces.append((match.group(), True))
            position = match.end()
        pieces += [(raw[position:], False)] if position < len(raw) else []
        if finish == "eos_token":
            pieces.append((self.settings.eos_token, True))
        return [
            {"id": i, "text": text, "logprob": 0.0, "special": special} for i, (text, special) in enumerate(pieces)
        ]

    @staticmethod
    def _decode(tokens: list[dict[str, Any]]) -> str:
        """The generated text as TGI's decoder gives it: special tokens skipped."""
        return "".join(token["text"] for token in tokens if not token["special"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="base URL of the llama.cpp server answering")
    parser.add_argument("--port", type=int, default=3000)
    for name, default in asdict(StandinSettings(upstream="")).items():
        if name in ("upstream", "special_tokens", "eos_token"):
            continue
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    args = vars(parser.parse_args(argv))
    port = args.pop("port")
    # Ctrl-C and `kill` both stop it, also when started with SIGINT ignored (a shell's `&` job, as a rehearsal does)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    standin = TGIStandin(StandinSettings(**args)).serve(port)
    print(f"TGI stand-in on {standin.url} in front of {args['upstream']}; Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        standin.close()
        print(f"stand-in answers: {asdict(standin.stats)}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
