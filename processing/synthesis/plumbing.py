"""What every kind of synthesis shares: the per-task context its rollouts get (the sandbox, a second model's
client), the pipeline step that runs them and counts what their results hold, and the request seeds that make a
rerun send the same requests (so the request cache answers them).

A rollout returns `SynthesisResult(...).to_json()` with its own counters under `STATS`, or the runtime's
`reject(reason)`; it raises `Rejected` for a counted rejection and lets every other exception fail the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
from collections.abc import Iterator
from typing import Any

from datatrove.data import Document

from cursorcore.processing.llm import LLMConfig, RolloutRunner, is_rejection, make_backend
from cursorcore.processing.llm.client import LLMClient
from cursorcore.processing.sandbox import Sandbox, get_sandbox

STATS = "stats"  # key of the per-document counters a rollout adds to its result (the step sums them)


def stable_seed(*parts: object) -> int:
    """A request seed that depends only on its parts (document, role, attempt): a rerun sends the same requests, so
    the request cache answers them, and a retry is a new request."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


_CLOSING: set[asyncio.Task] = set()


def _close_soon(client: LLMClient) -> None:
    """The context exits inside the task's event loop, which is still running: close the client there."""
    try:
        task = asyncio.get_running_loop().create_task(client.aclose())
    except RuntimeError:
        asyncio.run(client.aclose())
        return
    _CLOSING.add(task)
    task.add_done_callback(_CLOSING.discard)


class SynthesisContext:
    """Per-task resources of a rollout, opened in the task's own process: the sandbox (a provider name, opened and
    closed here, or a sandbox someone else owns) and, when the questioner has a backend of its own, its client.
    (Not a dataclass: datatrove's executor JSON would deep-copy a live sandbox.)"""

    def __init__(
        self,
        sandbox: str | Sandbox = "local",
        sandbox_options: dict[str, Any] | None = None,
        questioner: LLMConfig | None = None,
    ):
        self.sandbox = sandbox
        self.sandbox_options = dict(sandbox_options or {})
        self.questioner = questioner

    def __deepcopy__(self, memo: dict) -> SynthesisContext:
        """datatrove deep-copies the pipeline for every task it runs in-process: a sandbox the caller owns is shared
        with the copy, not copied (only in-process runs can use one; worker processes open their own by name)."""
        return SynthesisContext(
            self.sandbox, copy.deepcopy(self.sandbox_options, memo), copy.deepcopy(self.questioner)
        )

    def __call__(self) -> contextlib.AbstractContextManager[dict[str, Any]]:
        return self._open()

    @contextlib.contextmanager
    def _open(self) -> Iterator[dict[str, Any]]:
        with contextlib.ExitStack() as stack:
            sandbox = self.sandbox
            if isinstance(sandbox, str):
                sandbox = stack.enter_context(get_sandbox(sandbox, **self.sandbox_options))
            context: dict[str, Any] = {"sandbox": sandbox}
            if self.questioner is not None:
                backend = stack.enter_context(make_backend(self.questioner))
                context["questioner"] = backend.client()
                stack.callback(_close_soon, context["questioner"])
            yield context


class SynthesisRunner(RolloutRunner):
    """A `RolloutRunner` that also counts what synthesis results report: samples kept, rejections by reason, and the
    per-document counters in `result["stats"]` (responses generated and passed, fix rounds, ...). `name` names the
    step in the build's stats."""

    def __init__(self, *args: Any, name: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if name:
            self.name = name

    async def _run_rollout(self, document: Document, generate: Any, **context: Any) -> Any:
        result = await super()._run_rollout(document, generate, **context)
        if not isinstance(result, dict):
            return result
        for name, value in result.get(STATS, {}).items():
            self.stat_update(name, value=value, unit="document")
        if not is_rejection(result):
            self.stat_update("samples", value=len(result.get("samples", [])), unit="document")
            for rejection in result.get("rejections", []):
                self.stat_update(f"rejected_{rejection['reason']}", unit="candidate")
        return result
