"""A build's LLM budget (`llm.max_requests`, `llm.max_output_tokens`): one ledger for every task of every stage,
and a clear stop when it is spent.

The ledger (`processing/llm/budget.py`) lives in the build's work folder, whose key leaves the budget out: a rerun
with a higher budget finds the same folder, the same ledger and the same finished tasks, and resumes. Not to be
confused with `llm_budget.py`, which shares the server's concurrency among tasks.
"""

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from cursorcore.processing.llm import LLMConfig
from cursorcore.processing.llm.budget import Budget

LEDGER = "llm-budget.sqlite"


class OverBudget(RuntimeError):
    """The build stopped because its LLM budget is spent; nothing was released, finished work is kept."""


def limited(llm: LLMConfig, limits: LLMConfig, work: Path) -> LLMConfig:
    """`llm` (what the tasks run with) with the budget of `limits` (the config's `llm:` section) and the build's
    ledger."""
    return replace(
        llm,
        max_requests=limits.max_requests,
        max_output_tokens=limits.max_output_tokens,
        budget_path=str(work / LEDGER),
    )


@contextlib.contextmanager
def stops_on_budget(limits: LLMConfig, work: Path) -> Iterator[None]:
    """Turn a stage that failed because the budget ran out into `OverBudget`, naming the budget; other failures
    pass unchanged."""
    try:
        yield
    except Exception as error:  # a task's own error (in-process executors) or the stage's "did not finish"
        if limits.max_requests is None and limits.max_output_tokens is None:
            raise
        ledger = Budget(work / LEDGER, limits.max_requests, limits.max_output_tokens)
        try:
            exhausted = ledger.exhausted()
        finally:
            ledger.close()
        if exhausted is None:
            raise
        raise OverBudget(
            f"build stopped: {exhausted}. Nothing was released; finished tasks and answered requests are kept "
            f"(ledger: {work / LEDGER}). The stage: {error}"
        ) from error
