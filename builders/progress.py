"""What a person sees while a build runs: one progress line per stage, datatrove's own logs in a file.

datatrove logs every task's start, every step's stats and a summary table to stderr: hundreds of lines for a
20-second build. Here the stage's stderr (the file descriptor, so worker processes inherit it) goes to the build's
log file, and the terminal gets one line per stage with its tasks, the documents it has taken in (counted by
`DocumentCounter`, which each task writes to a small file so every executor's tasks can report) and, when the
stage knows how many documents to expect, an estimate of the time left (on a terminal the line is refreshed every
second; a log file gets each stage's final line only).
"""

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

COUNTER_NAME = "progress"


class DocumentCounter(PipelineStep):
    """Passes documents through and writes how many it has seen to `<folder>/<rank>` (at most once a second)."""

    type = "📊 - PROGRESS"
    name = COUNTER_NAME

    def __init__(self, folder: str | Path, interval: float = 1.0):
        super().__init__()
        self.folder = Path(folder)
        self.interval = interval

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.folder.mkdir(parents=True, exist_ok=True)
        seen, written_at = 0, 0.0
        for document in data:
            seen += 1
            if time.monotonic() - written_at >= self.interval:
                self._write(rank, seen)
                written_at = time.monotonic()
            yield document
        self._write(rank, seen)

    def _write(self, rank: int, seen: int) -> None:
        path = self.folder / f"{rank:05d}"
        partial = path.with_suffix(".tmp")
        partial.write_text(str(seen))
        partial.replace(path)


def documents_seen(folder: Path) -> int:
    total = 0
    for path in folder.glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError):
            total += int(path.read_text() or 0)
    return total


def documents_per_task(folder: Path, tasks: int) -> list[int]:
    """What each task's counter says it read (0 for a task that wrote none): an idle task shows as a 0."""
    counts = [0] * tasks
    for rank in range(tasks):
        with contextlib.suppress(OSError, ValueError):
            counts[rank] = int((folder / f"{rank:05d}").read_text() or 0)
    return counts


def tasks_done(logging_dir: Path) -> int:
    completions = logging_dir / "completions"
    return sum(1 for _ in completions.iterdir()) if completions.is_dir() else 0


@contextlib.contextmanager
def stderr_to(log_file: Path) -> Iterator[IO[str]]:
    """Point file descriptor 2 at `log_file` (appending) and yield a stream on the terminal's stderr."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log_file, "a") as log:
        os.dup2(log.fileno(), 2)
        terminal = os.fdopen(os.dup(saved), "w", buffering=1)
        try:
            yield terminal
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            terminal.close()


@contextlib.contextmanager
def stage_progress(
    label: str, logging_dir: Path, tasks: int, expected: int | None, terminal: IO[str]
) -> Iterator[None]:
    """One line for the stage, refreshed every second on a terminal (a log gets the final line only)."""
    interactive = terminal.isatty()
    started = time.monotonic()
    stop = threading.Event()

    def line() -> str:
        documents, done = documents_seen(logging_dir / COUNTER_NAME), tasks_done(logging_dir)
        elapsed = time.monotonic() - started
        parts = [f"{done}/{tasks} tasks"]
        if expected:
            parts.append(f"{min(documents, expected)}/{expected} docs in")
            if 0 < documents < expected and done < tasks:
                parts.append(f"~{_clock(elapsed * (expected - documents) / documents)} left")
        elif documents:
            parts.append(f"{documents} docs in")
        return f"{label:<26} " + " · ".join(parts) + f" · {_clock(elapsed)}"

    def poll() -> None:
        while not stop.wait(1.0):
            terminal.write("\r" + line().ljust(79))
            terminal.flush()

    poller = threading.Thread(target=poll, daemon=True)
    if interactive:
        poller.start()
    try:
        yield
    finally:
        stop.set()
        if interactive:
            poller.join()
        terminal.write(("\r" if interactive else "") + line().ljust(79 if interactive else 0) + "\n")
        terminal.flush()


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


# ---------------------------------------------------------------- the summary in words

# character totals and per-file writer counts say nothing about the build; `kind|unit|outcome` counters are the
# accounting's, shown in its own table (builders/accounting.py)
_HIDDEN_COUNTERS = ("doc_len", "XXXXX", "|")
_RENAMED = {"total": "in", "forwarded": "kept"}


def readable_stage(name: str) -> str:
    """`extract/FILTER: seed rules` -> `extract / seed rules (filter)`."""
    stage, _, step = name.rpartition("/")
    kind, _, step_name = step.partition(":")
    label = f"{step_name.strip()} ({kind.strip().lower()})" if step_name else step.strip()
    return f"{stage} / {label}" if stage else label


def readable_rows_per_task(counts: list[int]) -> str:
    """`[3, 2, 0]` -> `3 · 2 · 0 (1 idle)`; past 16 tasks, the spread instead of every number."""
    idle = sum(1 for count in counts if count == 0)
    shown = " · ".join(map(str, counts)) if len(counts) <= 16 else f"min {min(counts)} · max {max(counts)}"
    return f"{len(counts)} tasks: {shown}" + (f" ({idle} idle)" if idle else "")


def readable_counters(counters: dict[str, int]) -> str:
    """`total=10, forwarded=7, dropped=3, dropped_too_long=3, doc_len=512` -> `in 10 · kept 7 · dropped 3 (too long
    3)`: the reasons next to the count they explain, internal counters left out."""
    shown = {k: v for k, v in counters.items() if not any(hidden in k for hidden in _HIDDEN_COUNTERS)}
    reasons = {k.removeprefix("dropped_"): v for k, v in shown.items() if k.startswith("dropped_")}
    parts = []
    for key in sorted(shown, key=lambda k: (k not in _RENAMED, k != "total", k)):
        if key.startswith("dropped_"):
            continue
        text = f"{_RENAMED.get(key, key.replace('_', ' '))} {shown[key]}"
        if key == "dropped" and reasons:
            text += " (" + ", ".join(f"{r.replace('_', ' ')} {n}" for r, n in sorted(reasons.items())) + ")"
        parts.append(text)
    if reasons and "dropped" not in shown:
        parts.append("dropped: " + ", ".join(f"{r.replace('_', ' ')} {n}" for r, n in sorted(reasons.items())))
    return " · ".join(parts)
