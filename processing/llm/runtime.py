"""Rollout runtime: synthesis steps are async rollout functions run by datatrove's `InferenceRunner`.

A rollout is `async def rollout(document, generate, **shared_context)`. `generate(payload)` sends one request (see
`cursorcore.processing.llm.client`) and returns a `Generation` (`.text`, `.texts` for `n` samples, `.usage`); a
rollout may call it several times and await sandbox work in between. Its return value (any JSON value) is stored
in `document.metadata["rollout_results"]`; returning None drops the document.

    step = RolloutRunner(rollout, LLMConfig(backend="local"), chunked_jsonl_writer("out/"), checkpoints_dir="ckpt/")
    LocalPipelineExecutor(pipeline=[JsonlReader("in/"), step], logging_dir="logs/").run()

What datatrove gives: the server per task (spawned, waited for, stopped), document concurrency, output written in
chunks and checkpoints from which a killed task resumes with identical output. What this module adds: the llama.cpp
and TGI server types, requests through `LLMClient` (retries with backoff, timeouts, `n` emulation, the persistent
request cache, token accounting), and rejections: a rollout raises `Rejected(reason)` (or lets a refused request's
`LLMRequestError` through) and the document is recorded as `{"rejected": reason, "detail": ...}`; every other
exception, infrastructure failures and bugs alike, fails the task so that it is seen and a rerun resumes.

This is the one module that reaches into datatrove's private inference API (`InferenceRunner._init_server`,
`_cached_request`, `run_async`, `checkpoint_manager`; `InferenceServer._make_request`, `_wait_until_ready`): the
names and signatures are pinned by tests/processing/llm/test_datatrove_contract.py, and pyproject.toml admits only
the datatrove releases tested.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.inference.run_inference import InferenceConfig, InferenceRunner
from datatrove.pipeline.inference.servers import InferenceServer, SGLangServer, VLLMServer
from datatrove.pipeline.inference.types import GenerateFunction, RolloutFunction, ServerError
from datatrove.pipeline.writers import JsonlWriter
from datatrove.pipeline.writers.disk_base import DiskWriter

from cursorcore.processing.llm.backends import make_backend
from cursorcore.processing.llm.client import ClientStats, Generation, LLMClient, derive_seed
from cursorcore.processing.llm.config import LLMConfig
from cursorcore.processing.llm.errors import LLMRequestError

REJECTED = "rejected"


class Rejected(Exception):
    """Raised by a rollout: this document yields nothing, for a counted `reason`. With `LLMRequestError` (the server
    refused one request) the only exceptions that become rejections; any other exception is a bug or an outage and
    fails the task, so that it is seen and a rerun resumes."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def reject(reason: str, detail: str = "") -> dict[str, str]:
    """A rollout result saying why this document yields no sample (counted in the step's stats)."""
    return {REJECTED: reason, "detail": detail}


def is_rejection(result: Any) -> bool:
    return isinstance(result, dict) and REJECTED in result


def chunked_jsonl_writer(folder: str | Path, compression: str | None = "gzip") -> JsonlWriter:
    """A writer whose file names carry `${chunk_index}`, as checkpointed runs require."""
    return JsonlWriter(str(folder), output_filename="${rank}_chunk_${chunk_index}.jsonl", compression=compression)


class _ClientServer:
    """Mixin for datatrove servers: requests go through `LLMClient` instead of datatrove's bare POST."""

    def __init__(self, llm: LLMConfig, config: InferenceConfig, rank: int):
        self.llm = llm
        self._client: LLMClient | None = None
        self._start_error: BaseException | None = None
        self.on_close: Callable[[ClientStats], None] | None = None  # receives the client's counters at the end
        super().__init__(config, rank)

    @property
    def served_model(self) -> str:
        return self.config.model_name_or_path

    async def make_request(self, payload: dict) -> Generation:
        try:
            return await super().make_request(payload)
        except ServerError as error:
            # datatrove reports "failed after N retries"; say why it failed
            if self._start_error is not None:
                raise ServerError(f"{error}: {self._start_error}") from self._start_error
            raise

    async def _make_request(self, payload: dict) -> Generation:
        if self._client is None:
            self._client = LLMClient.from_config(self.llm, self.get_base_url(), self.served_model, rank=self._rank)
        return await self._client.complete(payload)

    async def server_cleanup(self) -> None:
        await super().server_cleanup()
        client, self._client = self._client, None
        if client is not None:
            if self.on_close is not None:
                self.on_close(client.stats)
            await client.aclose()


class BackendServer(_ClientServer, InferenceServer):
    """A datatrove server type running one of our backends: `local` (llama.cpp), `tgi` or `endpoint`."""

    def __init__(self, llm: LLMConfig, config: InferenceConfig, rank: int):
        super().__init__(llm, config, rank)
        log_path = Path(llm.server_log_dir) / f"{llm.backend}-rank{rank:05d}.log" if llm.server_log_dir else None
        self.backend = make_backend(llm, log_path=log_path)

    @property
    def served_model(self) -> str:
        return self.backend.served_model

    def get_base_url(self) -> str:
        return self.backend.base_url

    async def start_server(self) -> None:
        try:
            # launched from the event loop's thread, whose life the kernel ties the server's to
            self.backend.launch()
            await asyncio.to_thread(self.backend.wait_ready)
        except Exception as error:
            self._start_error = error
            raise

    async def _wait_until_ready(self, max_attempts: int = 0, delay_sec: float = 0.0) -> None:
        """start_server already waited for readiness."""

    async def monitor_health(self) -> None:
        while self.backend.alive():
            await asyncio.sleep(1.0)
        raise RuntimeError(f"the {self.llm.backend} server exited; its log: {getattr(self.backend, 'log_path', '')}")

    async def server_cleanup(self) -> None:
        await super().server_cleanup()
        await asyncio.to_thread(self.backend.stop)


class VLLMClientServer(_ClientServer, VLLMServer):
    """datatrove's vLLM server (spawned per task), queried through `LLMClient`."""


class SGLangClientServer(_ClientServer, SGLangServer):
    """datatrove's SGLang server (spawned per task), queried through `LLMClient`."""


def make_inference_server(llm: LLMConfig, config: InferenceConfig, rank: int) -> InferenceServer:
    """The datatrove server for `llm.backend`."""
    if llm.backend == "vllm":
        return VLLMClientServer(llm, config, rank)
    if llm.backend == "sglang":
        return SGLangClientServer(llm, config, rank)
    return BackendServer(llm, config, rank)


class RolloutRunner(InferenceRunner):
    """A pipeline step that runs `rollout` on every document against the server `llm` describes.

    `checkpoints_dir` makes the step resumable: give every job its own folder (a folder left by a *killed* job
    resumes it — and would skip documents of a different job). It is cleared of its resume marker when the task
    finishes, so rerunning a finished job recomputes (from the request cache) instead of skipping everything.
    `output_writer` file names must contain `${chunk_index}` when checkpointing (see `chunked_jsonl_writer`).
    """

    name = "🤖 LLM rollouts"

    def __init__(
        self,
        rollout: RolloutFunction,
        llm: LLMConfig,
        output_writer: DiskWriter,
        checkpoints_dir: str | Path | None = None,
        *,
        records_per_chunk: int = 500,
        rollouts_per_document: int = 1,
        shared_context: Any = None,
        metadata_key: str = "rollout_results",
    ):
        config = InferenceConfig(
            server_type=llm.backend,  # informational: _init_server picks the class
            model_name_or_path=llm.model or "",
            model_max_context=llm.context_length,
            endpoint_url=llm.endpoint_url,
            tp=llm.tp,
            rollouts_per_document=rollouts_per_document,
            max_concurrent_generations=llm.max_concurrency,
            request_timeout=llm.request_timeout,
            model_kwargs=dict(llm.server_args),
            server_log_folder=llm.server_log_dir,
            server_start_timeout_sec=llm.startup_timeout + 60,
            server_ready_delay_sec=5.0,
            server_ready_max_attempts=max(1, math.ceil(llm.startup_timeout / 5.0)),
        )
        super().__init__(
            self._run_rollout,
            config,
            output_writer,
            shared_context=shared_context,
            checkpoints_local_dir=str(checkpoints_dir) if checkpoints_dir is not None else None,
            records_per_chunk=records_per_chunk,
            metadata_key=metadata_key,
        )
        self.rollout = rollout
        self.llm = llm

    def _init_server(self, rank: int) -> InferenceServer:
        server = make_inference_server(self.llm, self.config, rank)
        server.on_close = self._record_client_stats
        return server

    def _record_client_stats(self, stats: ClientStats) -> None:
        """How hard the server was to reach: attempts sent again, and those after a 429/503 (overload, cold start)."""
        self.stat_update("llm_retries", value=stats.retries, unit="task")
        self.stat_update("llm_overload_waits", value=stats.overload_waits, unit="task")

    async def _run_rollout(self, document: Document, generate: GenerateFunction, **context: Any) -> Any:
        try:
            result = await self.rollout(document, generate, **context)
        except Rejected as rejection:
            result = reject(rejection.reason, rejection.detail)
        except LLMRequestError as error:  # the server refused a request of this document's: counted, never retried
            result = reject("llm_request_error", str(error)[:300])
        if is_rejection(result):
            self.stat_update(f"rejected_{result[REJECTED]}", unit="rollout")
        return result

    async def _cached_request(
        self,
        payload: dict,
        semaphore: asyncio.Semaphore,
        server: InferenceServer,
        doc_id: str,
        rollout_idx: int,
        chunk_index: int,
        request_counters: list[int] | None = None,
    ) -> Generation:
        """The `generate` of every rollout. The client owns concurrency, retries and the (persistent) cache, so
        datatrove's semaphore and its per-chunk replay cache stay unused."""
        if request_counters is not None:
            request_counters[rollout_idx] += 1
        if self.config.rollouts_per_document > 1 and "seed" not in payload:
            # identical requests share one cached answer: give each rollout of a document its own seed
            payload = {**payload, "seed": derive_seed(int(self.llm.generation.get("seed", 0)), rollout_idx)}
        try:
            generation = await server.make_request(payload)
        except LLMRequestError as error:
            # the server refused the request: counted here whatever the rollout makes of it (llm_validation,
            # llm_prompt_too_long), so that a setting a server rejects can never thin a kind out silently
            self.stat_update(f"llm_{error.reason}", unit="request")
            raise
        if generation.cached:
            self.stat_update("llm_cache_hits", unit="request")
        else:
            self.stat_update("llm_calls", unit="request")
            self.stat_update("prompt_tokens", value=generation.usage.get("prompt_tokens", 0), unit="request")
            self.stat_update("completion_tokens", value=generation.usage.get("completion_tokens", 0), unit="request")
        return generation

    async def run_async(self, data_gen: Any, rank: int = 0) -> None:
        await super().run_async(data_gen, rank)
        if self.checkpoint_manager.checkpoints_local_dir is not None:
            Path(self.checkpoint_manager.checkpoints_local_dir, "last_chunk", f"{rank:05d}.txt").unlink(
                missing_ok=True
            )
