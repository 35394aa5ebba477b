"""A spending limit on model requests: `max_requests` and `max_output_tokens` for a whole build.

The ledger is one small SQLite file (a build puts it in its work folder) that every task of every stage updates in
a transaction of its own, so the limit holds across the processes of a build, and a rerun finds what was already
spent: a build stopped by its budget resumes with a higher one and pays only for what it had not done (finished
tasks are skipped, answered requests come from the request cache, which never touches the ledger).

A request is counted before it is sent (so `max_requests` is never exceeded, whatever runs at once); its output
tokens once it is answered, so `max_output_tokens` stops new requests once reached and the requests then in flight
may pass it by at most their own `max_tokens`. The file uses SQLite's rollback journal, not WAL: its locks are
plain file locks, which a cluster's shared filesystem must provide for the ledger to be exact.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from cursorcore.processing.llm.errors import LLMError

LIMITS = ("max_requests", "max_output_tokens")


class BudgetExhausted(LLMError):
    """The build's budget is spent: no request is sent. Not a sample's fault and not an outage: the task stops,
    and a rerun with a higher budget resumes it."""

    def __init__(self, limit: str, spent: Spent, allowed: int):
        used = spent.requests if limit == "max_requests" else spent.output_tokens
        super().__init__(
            f"the LLM budget llm.{limit} = {allowed} is used up ({used} spent: {spent.requests} requests, "
            f"{spent.output_tokens} output tokens); raise it and run the same build again to resume"
        )
        self.limit = limit


@dataclass(frozen=True)
class Spent:
    requests: int = 0
    output_tokens: int = 0

    def over(self, max_requests: int | None, max_output_tokens: int | None) -> tuple[str, int] | None:
        """The first limit this spending has reached, with its value, or None."""
        if max_requests is not None and self.requests >= max_requests:
            return "max_requests", max_requests
        if max_output_tokens is not None and self.output_tokens >= max_output_tokens:
            return "max_output_tokens", max_output_tokens
        return None


class Budget:
    """The ledger at `path` (None: kept in memory, for this process only) with the limits of this run."""

    def __init__(self, path: str | Path | None, max_requests: int | None = None, max_output_tokens: int | None = None):
        for name, value in zip(LIMITS, (max_requests, max_output_tokens), strict=True):
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 (or unset: no limit)")
        self.max_requests = max_requests
        self.max_output_tokens = max_output_tokens
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            ":memory:" if path is None else str(path), timeout=120, isolation_level=None, check_same_thread=False
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spent (id INTEGER PRIMARY KEY CHECK (id = 0), requests INTEGER NOT NULL,"
            " output_tokens INTEGER NOT NULL)"
        )
        self._db.execute("INSERT OR IGNORE INTO spent VALUES (0, 0, 0)")

    def spent(self) -> Spent:
        with self._lock:
            return Spent(*self._db.execute("SELECT requests, output_tokens FROM spent").fetchone())

    def reserve(self) -> None:
        """Count one request about to be sent, or raise `BudgetExhausted` if a limit is reached."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # the write lock first: no other task reads between check and count
            try:
                spent = Spent(*self._db.execute("SELECT requests, output_tokens FROM spent").fetchone())
                if reached := spent.over(self.max_requests, self.max_output_tokens):
                    raise BudgetExhausted(reached[0], spent, reached[1])
                self._db.execute("UPDATE spent SET requests = requests + 1")
            finally:
                self._db.execute("COMMIT")

    def add_output_tokens(self, tokens: int) -> None:
        if tokens:
            with self._lock:
                self._db.execute("UPDATE spent SET output_tokens = output_tokens + ?", (tokens,))

    def exhausted(self) -> BudgetExhausted | None:
        """Why no further request may be sent, if a limit is reached."""
        spent = self.spent()
        reached = spent.over(self.max_requests, self.max_output_tokens)
        return BudgetExhausted(reached[0], spent, reached[1]) if reached else None

    def close(self) -> None:
        with self._lock:
            self._db.close()
