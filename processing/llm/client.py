"""Async client for TGI and OpenAI-compatible servers: retries, concurrency limit, `n` samples, cache, accounting.

A request is a dict in the OpenAI style: `messages` goes to the chat-completion API (TGI, vLLM, SGLang, llama.cpp,
HF Inference Endpoints), `prompt` to TGI's `/generate` (or `/v1/completions` elsewhere); every other key is a
sampling parameter (`max_tokens`, `temperature`, `top_p`, `seed`, `n`, `stop`, ...). Each request is shaped to
what the server accepts (shaping.py, servers.py), and each failure handled by its class (failures.py): the
server's refusals are counted and never retried, 429/503 are waited out up to `overload_wait` seconds, errors and
dropped connections are retried `max_retries` times, a refused connection starts health checks. The HTTP calls are
plain JSON over httpx (no `text-generation` package: it pins `huggingface-hub<1.0`; no huggingface_hub client: it
hides the server's status and error body that the classes above are read from).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlparse

import httpx2
from datatrove.pipeline.inference.types import InferenceResult
from huggingface_hub import get_token
from loguru import logger

from cursorcore.processing.llm.budget import Budget, BudgetExhausted
from cursorcore.processing.llm.cache import RequestCache
from cursorcore.processing.llm.config import LLMConfig, normalize_base_url
from cursorcore.processing.llm.errors import LLMRequestError, LLMTimeoutError, LLMUnavailableError
from cursorcore.processing.llm.failures import Failure, HTTPFailure, classify
from cursorcore.processing.llm.servers import ServerRules, detect_server, rules_for
from cursorcore.processing.llm.shaping import Answer, WireRequest, read_answer, shape

T = TypeVar("T")


@dataclass
class Choice:
    text: str
    finish_reason: str


@dataclass
class Generation(InferenceResult):
    """A model answer, usable wherever datatrove expects an `InferenceResult` (`.text` is the first choice).

    `choices` holds all `n` samples. `cached` tells whether it came from the request cache; it is a class-level
    default, not a field, so it never reaches the written dataset (a resumed run must write identical rows).
    """

    choices: list[Choice] = field(default_factory=list)
    cached: ClassVar[bool] = False

    @property
    def texts(self) -> list[str]:
        return [choice.text for choice in self.choices]

    @classmethod
    def from_answer(cls, answer: Answer) -> Generation:
        return cls.from_choices([Choice(*c) for c in answer.choices], answer.usage, answer.reasoning)

    @classmethod
    def from_choices(cls, choices: list[Choice], usage: dict[str, int], reasoning: str = "") -> Generation:
        first = choices[0] if choices else Choice("", "error")
        return cls(
            text=first.text, finish_reason=first.finish_reason, usage=usage, reasoning=reasoning, choices=choices
        )

    def to_json(self) -> dict[str, Any]:
        return {"choices": [asdict(c) for c in self.choices], "usage": self.usage, "reasoning": self.reasoning}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Generation:
        return cls.from_choices([Choice(**c) for c in data["choices"]], data["usage"], data.get("reasoning", ""))


@dataclass
class ClientStats:
    """Token accounting and request counters; `requests` counts HTTP attempts, retries included.

    `retries` counts every attempt sent again, `overload_waits` the ones after a 429/503; `validation_errors` and
    `prompt_too_long` count the server's refusals, and `refusals` counts each refusal's reason as the server gave it.
    """

    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    overload_waits: int = 0
    failures: int = 0
    validation_errors: int = 0
    prompt_too_long: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    refusals: Counter[str] = field(default_factory=Counter)


def derive_seed(seed: int, index: int) -> int:
    """Seed of the `index`-th sample when `n` is emulated; sample 0 keeps the caller's seed."""
    if index == 0:
        return seed
    digest = hashlib.blake2b(f"{seed}/{index}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


def is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LLMClient:
    """Send requests to one server: at most `max_concurrency` in flight, each shaped for the server, failed attempts
    handled by their class (see the module docstring), every finished call stored in the request cache (when given)
    and replayed instead of re-sent.

    Use it inside one event loop: `async with LLMClient(...) as client: await client.complete({...})`.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        token: str | None = None,
        server: str = "auto",
        max_concurrency: int = 16,
        request_timeout: float = 600.0,
        max_retries: int = 5,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        overload_wait: float = 1800.0,
        server_gone_wait: float = 120.0,
        keep_special_tokens: bool = True,
        cache: RequestCache | str | Path | None = None,
        defaults: dict[str, Any] | None = None,
        budget: Budget | None = None,
    ):
        self.base_url = normalize_base_url(base_url)
        self.model = model
        self.server = server
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.overload_wait = overload_wait
        self.server_gone_wait = server_gone_wait
        self.keep_special_tokens = keep_special_tokens
        self.defaults = dict(defaults or {})
        self.cache = RequestCache(cache) if isinstance(cache, (str, Path)) else cache
        self.budget = budget
        self.stats = ClientStats()
        self._rules: ServerRules | None = None if server in ("auto", "tgi") else rules_for(server)
        self._server_honours_n: bool | None = None
        self._health: asyncio.Task[bool] | None = None
        self._detecting = asyncio.Lock()
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._paid_in_flight = 0  # requests sent whose answer is not stored yet
        self._settled = asyncio.Condition()
        limits = httpx2.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency)
        local = is_loopback(self.base_url)
        # proxies from the environment are for the outside world, never for servers on this machine; a server of
        # the outside world gets the saved Hub token when none is given (Inference Endpoints)
        self._http = httpx2.AsyncClient(limits=limits, timeout=None, trust_env=not local)
        token = token or (None if local else get_token())
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    @classmethod
    def from_config(cls, config: LLMConfig, base_url: str, model: str, rank: int = 0) -> LLMClient:
        """Client for a server of `config`; `{rank}` in `cache_path` gives each pipeline task its own file."""
        token = os.environ.get(config.token_env) if config.token_env else None
        limited = config.max_requests is not None or config.max_output_tokens is not None
        budget = Budget(config.budget_path, config.max_requests, config.max_output_tokens) if limited else None
        return cls(
            base_url,
            model,
            token=token or None,
            server=config.server_kind,
            max_concurrency=config.max_concurrency,
            request_timeout=config.request_timeout,
            max_retries=config.max_retries,
            backoff_initial=config.backoff_initial,
            backoff_max=config.backoff_max,
            overload_wait=config.overload_wait,
            server_gone_wait=config.server_gone_wait,
            keep_special_tokens=config.keep_special_tokens,
            cache=config.cache_path.format(rank=rank) if config.cache_path else None,
            defaults=config.generation,
            budget=budget,
        )

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._health is not None:
            self._health.cancel()
        await self._http.aclose()
        if self.cache is not None:
            self.cache.close()
        if self.budget is not None:
            self.budget.close()

    # ------------------------------------------------------------------ requests
    async def chat(self, messages: list[dict[str, str]], **params: Any) -> Generation:
        return await self.complete({"messages": messages, **params})

    async def text_generation(self, prompt: str, **params: Any) -> Generation:
        """A plain prompt: TGI's `/generate`, or `/v1/completions` on other servers."""
        return await self.complete({"prompt": prompt, **params})

    async def complete(self, payload: dict[str, Any]) -> Generation:
        """Answer one request (the `generate(payload)` of a rollout), from the cache when it was answered before."""
        request = {**self.defaults, **payload}
        request.pop("model", None)  # the client is bound to one served model
        if "messages" not in request and "prompt" not in request:
            raise ValueError("a request needs `messages` (chat completion) or `prompt` (plain text generation)")
        n = int(request.pop("n", None) or 1)
        key = {"model": self.model, **request, "n": n}
        # SQLite waits on its lock (other tasks' writes to a shared file) off the event loop, never blocking the
        # requests in flight
        if self.cache is not None and (hit := await asyncio.to_thread(self.cache.get, key)) is not None:
            self.stats.cache_hits += 1
            generation = Generation.from_json(hit)
            generation.cached = True
            return generation

        rules = await self.server_rules()
        honours_n = rules.honours_n if self._server_honours_n is None else self._server_honours_n
        if n > 1 and honours_n is False:
            generation = await self._emulate_n(request, n)
        else:
            generation = await self._call(request, key)
            if len(generation.choices) < n:
                # a server that answers one choice whatever `n` says (llama.cpp, TGI)
                self._server_honours_n = False
                generation = await self._emulate_n(request, n, first=generation)
                if self.cache is not None:  # the parts are stored each under its own request
                    await asyncio.to_thread(self.cache.put, key, generation.to_json())
            elif n > 1:
                self._server_honours_n = True
        return generation

    async def server_rules(self) -> ServerRules:
        """What the server accepts: known from the config, or asked once (TGI's limits come from its `/info`)."""
        async with self._detecting:  # the first requests of a run arrive together: one of them asks
            if self._rules is None:
                rules = await self._with_retries(
                    f"asking {self.base_url} what it serves",
                    lambda: detect_server(self._http, self.base_url, self._headers),
                    counted=False,
                )
                if self.server == "tgi" and rules.kind != "tgi":
                    rules = rules_for("tgi")  # a TGI without `/info` (old versions): the launcher's defaults
                self._rules = rules
        return self._rules

    async def _emulate_n(self, request: dict[str, Any], n: int, first: Generation | None = None) -> Generation:
        """n single-sample requests with derived seeds (each cached on its own), merged into one answer."""
        seed = request.get("seed")
        seed = 0 if seed is None else int(seed)
        pending = [self.complete({**request, "seed": derive_seed(seed, i)}) for i in range(1 if first else 0, n)]
        parts = ([first] if first else []) + list(await asyncio.gather(*pending))
        usage: dict[str, int] = {}
        for part in parts:
            for name, value in part.usage.items():
                usage[name] = usage.get(name, 0) + value
        merged = Generation.from_choices([p.choices[0] for p in parts], usage, parts[0].reasoning)
        merged.cached = all(p.cached for p in parts)
        return merged

    async def _call(self, request: dict[str, Any], key: dict[str, Any]) -> Generation:
        """Send one request (cache key `key`) and store its answer: under `key`, or, when the server answered one
        choice of several, under the same request with `n` 1."""
        rules = await self.server_rules()
        wire = shape(request, rules, self.model, key["n"], keep_special=self.keep_special_tokens)
        await self._pay()
        try:
            answer = await self._with_retries(self._what(request), lambda: self._post(wire, rules))
            generation = Generation.from_answer(answer)
            if self.budget is not None:
                tokens = generation.usage.get("completion_tokens", 0)
                await asyncio.to_thread(self.budget.add_output_tokens, tokens)
            if self.cache is not None and generation.choices:
                stored = key if len(generation.choices) >= key["n"] else {**key, "n": 1}
                await asyncio.to_thread(self.cache.put, stored, generation.to_json())
        finally:
            async with self._settled:
                self._paid_in_flight -= 1
                self._settled.notify_all()
        self.stats.prompt_tokens += generation.usage.get("prompt_tokens", 0)
        self.stats.completion_tokens += generation.usage.get("completion_tokens", 0)
        return generation

    async def _pay(self) -> None:
        """Count a request about to be sent in the budget's ledger (off the event loop). When the budget is spent,
        the requests already paid for are let finish and reach the cache before `BudgetExhausted` stops the task,
        so that the rerun which resumes it pays for none of them again."""
        if self.budget is not None:
            try:
                await asyncio.to_thread(self.budget.reserve)
            except BudgetExhausted:
                async with self._settled:
                    await self._settled.wait_for(lambda: self._paid_in_flight == 0)
                raise
        self._paid_in_flight += 1

    async def _post(self, wire: WireRequest, rules: ServerRules) -> Answer:
        url = self.base_url + wire.path
        response = await self._http.post(url, json=wire.body, headers=self._headers)
        if not response.is_success:
            raise HTTPFailure(response.status_code, response.text, dict(response.headers), url)
        return read_answer(wire, response.json(), rules)

    async def _with_retries(self, what: str, attempt: Callable[[], Awaitable[T]], counted: bool = True) -> T:
        """Run `attempt` until it succeeds or its failure class says to stop (see the module docstring); `counted`
        attempts are model requests (`stats.requests`)."""
        started = time.monotonic()
        errors = waits = 0
        while True:
            try:
                async with self._semaphore:
                    if counted:
                        self.stats.requests += 1
                    async with asyncio.timeout(self.request_timeout):
                        return await attempt()
            except Exception as error:  # classified below; unknown errors propagate unchanged
                failure = classify(error)
                if failure is None:
                    self.stats.failures += 1
                    raise
                if failure.is_request_fault:
                    raise self._refused(what, failure) from error
                if failure.kind == "overloaded":
                    delay = self._backoff(waits, error)
                    waits += 1
                    if time.monotonic() - started + delay > self.overload_wait:
                        raise self._gave_up(what, started, f"{failure.status} answers for", error) from error
                    self.stats.overload_waits += 1
                elif failure.kind == "gone":
                    errors += 1
                    if errors > self.max_retries or not await self._comes_back():
                        raise self._gone(what, error) from error
                    delay = 0.0
                else:
                    errors += 1
                    if errors > self.max_retries:
                        raise self._gave_up(what, started, f"{errors} attempt(s) in", error) from error
                    delay = self._backoff(errors - 1, error)
                self.stats.retries += 1
                # a busy server answers 429 to many requests at once: say so once, the counters keep the rest
                quiet = failure.kind == "overloaded" and self.stats.overload_waits > 1
                log = logger.debug if quiet else logger.warning
                log(f"{what}: {_describe(error, self.request_timeout)} ({failure.kind}); retrying in {delay:.1f}s")
                await asyncio.sleep(delay)

    def _refused(self, what: str, failure: Failure) -> LLMRequestError:
        """The server refused this request: counted with its reason, never sent again."""
        self.stats.failures += 1
        if failure.kind == "prompt_too_long":
            self.stats.prompt_too_long += 1
        else:
            self.stats.validation_errors += 1
        if not self.stats.refusals[failure.reason]:
            logger.warning(f"{what} was refused ({failure.kind}, {failure.status}): {failure.reason}")
        self.stats.refusals[failure.reason] += 1
        return LLMRequestError(
            f"{what} was refused ({failure.status}, {failure.kind}): {failure.reason}", failure.status, failure.kind
        )

    def _gave_up(self, what: str, started: float, how: str, error: BaseException) -> LLMUnavailableError:
        self.stats.failures += 1
        cls = LLMTimeoutError if isinstance(error, (TimeoutError, httpx2.TimeoutException)) else LLMUnavailableError
        elapsed = time.monotonic() - started
        return cls(f"{what} failed after {how} {elapsed:.1f}s; last error: {_describe(error, self.request_timeout)}")

    def _gone(self, what: str, error: BaseException) -> LLMUnavailableError:
        self.stats.failures += 1
        return LLMUnavailableError(
            f"{what} failed: the server is gone ({_describe(error, self.request_timeout)}; health checks for"
            f" {self.server_gone_wait:g}s). The task stops here; run it again once the server is back: it resumes"
            " (finished documents are kept, finished calls come from the cache)."
        )

    async def _comes_back(self) -> bool:
        """Health checks after a refused connection, shared by every request in flight: True once it answers."""
        if self._health is None or self._health.done():
            self._health = asyncio.create_task(self._poll_health())
        return await asyncio.shield(self._health)

    async def _poll_health(self) -> bool:
        path = self._rules.health_path if self._rules is not None else "/v1/models"
        deadline = time.monotonic() + self.server_gone_wait
        delay = self.backoff_initial
        while True:
            try:
                response = await self._http.get(self.base_url + path, headers=self._headers, timeout=10)
                if response.is_success:
                    return True
                state = f"answers {response.status_code}"
            except httpx2.TransportError as error:
                state = f"{type(error).__name__}"
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            logger.warning(f"{self.base_url}{path}: {state}; next health check in {min(delay, left):.1f}s")
            await asyncio.sleep(min(delay, left))
            delay = min(self.backoff_max, delay * 2)

    def _backoff(self, attempt: int, error: BaseException) -> float:
        """Exponential backoff with jitter (so that many clients do not come back at once); Retry-After honoured."""
        delay = min(self.backoff_max, self.backoff_initial * 2**attempt) * random.uniform(0.5, 1.0)
        retry_after = error.retry_after if isinstance(error, HTTPFailure) else None
        return min(self.backoff_max, max(delay, retry_after)) if retry_after is not None else delay

    def _what(self, request: dict[str, Any]) -> str:
        api = "chat completion" if "messages" in request else "text generation"
        return f"{api} request to {self.base_url} (model {self.model})"


def _describe(error: BaseException, timeout: float) -> str:
    if isinstance(error, TimeoutError) and not str(error):
        return f"no answer within the {timeout:g}s request timeout"
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, httpx2.ConnectError):
        text += " (is the server running?)"
    return text
