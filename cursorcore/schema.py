"""The Programming-Instruct sample: typed Python objects, the Arrow/`datasets` features, and row validation.

Field names follow CursorCore (`history`, `current`, `user`, `chat`, `next`, `loc`). Arrow has no union type, so
`loc` (None, a cursor offset, or a [start, end) selection of character offsets into `current.code`) is stored as a
list of int64: null, [offset] or [start, end].
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import datasets

from cursorcore.tokens import find_special_token


class Source(enum.StrEnum):
    """The kind of synthesis a sample comes from: its `source` column, the dataset config holding its samples, and
    the `kind` of the input document it was made from. Rows carry the plain string value."""

    AIPROGRAMMER = "aiprogrammer"
    COMMIT = "commit"
    OJ = "oj"
    SELF_OSS_INSTRUCT = "self-oss-instruct"
    AIEV = "aiev"


BENCHMARK_SOURCES = ("apeval",)  # rows of benchmark tasks (APEval) follow the sample schema too
ROLES = ("system", "history", "current", "user", "assistant", "execution")

Loc = int | tuple[int, int] | None


class SampleError(ValueError):
    """A row that does not follow the sample contract; the message names the row and every bad field."""


@dataclass(frozen=True)
class Snapshot:
    """One version of a file."""

    code: str
    lang: str = "python"
    type: str = "code"


class CheckStatus(enum.StrEnum):
    """How one check ended: the sandbox's statuses (a run passed, failed, ran out of time or memory, or could not
    run: `error`), and `skipped` for a check that does not apply (no syntax checker for the language)."""

    PASSED = "passed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    ERROR = "error"
    SKIPPED = "skipped"

    @property
    def is_failure(self) -> bool:
        """The checked code is wrong; `error` is not a failure: nothing was checked."""
        return self in (CheckStatus.FAILED, CheckStatus.TIMEOUT, CheckStatus.MEMORY)


class VerificationStatus(enum.StrEnum):
    """A sample's verdict over its checks: `unverified` when a check could not run (or there was none)."""

    PASSED = "passed"
    FAILED = "failed"
    UNVERIFIED = "unverified"


@dataclass(frozen=True)
class Check:
    """One thing that was verified: an edit-format round trip, a syntax check, a test run. A status given as its
    string value becomes the `CheckStatus` (any other string is a ValueError)."""

    name: str
    status: CheckStatus
    detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", CheckStatus(self.status))


@dataclass(frozen=True)
class Verification:
    status: VerificationStatus = VerificationStatus.UNVERIFIED
    checks: tuple[Check, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", VerificationStatus(self.status))


@dataclass
class Sample:
    current: Snapshot
    history: list[Snapshot] = field(default_factory=list)
    user: str = ""
    chat: str = ""
    next: Snapshot | None = None
    loc: Loc = None
    source: str = ""
    id: str = ""
    verification: Verification = field(default_factory=Verification)
    messages: list[dict[str, str]] = field(default_factory=list)

    def to_row(self) -> dict[str, Any]:
        """The row as stored in parquet (see `FEATURES`)."""
        return {
            "id": self.id,
            "source": str(self.source),
            "history": [_snapshot_row(s) for s in self.history],
            "current": _snapshot_row(self.current),
            "user": self.user,
            "chat": self.chat,
            "next": None if self.next is None else _snapshot_row(self.next),
            "loc": _loc_row(self.loc),
            "verification": {
                "status": str(self.verification.status),
                "checks": [
                    {"name": c.name, "status": str(c.status), "detail": c.detail} for c in self.verification.checks
                ],
            },
            "messages": [{"role": m["role"], "content": m["content"]} for m in self.messages],
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any], row_index: int | str | None = None) -> "Sample":
        """Validate a row (stored form, or CursorCore's JSON with an int/pair `loc`) and build the sample."""
        problems: list[str] = []
        sample = _build(row, problems)
        if problems or sample is None:
            where = "row" if row_index is None else f"row {row_index}"
            raise SampleError(f"{where}: " + "; ".join(problems))
        return sample


def _snapshot_row(snapshot: Snapshot) -> dict[str, str]:
    return {"type": snapshot.type, "lang": snapshot.lang, "code": snapshot.code}


def _loc_row(loc: Loc) -> list[int] | None:
    if loc is None:
        return None
    return [loc] if isinstance(loc, int) else [loc[0], loc[1]]


_SNAPSHOT_FEATURES = {
    "type": datasets.Value("string"),
    "lang": datasets.Value("string"),
    "code": datasets.Value("string"),
}

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "source": datasets.Value("string"),
        "history": datasets.List(_SNAPSHOT_FEATURES),
        "current": _SNAPSHOT_FEATURES,
        "user": datasets.Value("string"),
        "chat": datasets.Value("string"),
        "next": _SNAPSHOT_FEATURES,
        "loc": datasets.List(datasets.Value("int64")),
        "verification": {
            "status": datasets.Value("string"),
            "checks": datasets.List(
                {
                    "name": datasets.Value("string"),
                    "status": datasets.Value("string"),
                    "detail": datasets.Value("string"),
                }
            ),
        },
        "messages": datasets.List({"role": datasets.Value("string"), "content": datasets.Value("string")}),
    }
)


# ---- validation: every helper appends "field: what is wrong" to `problems` and returns what it could build ----


def _build(row: Mapping[str, Any], problems: list[str]) -> Sample | None:
    if not isinstance(row, Mapping):
        problems.append(f"expected a mapping, got {type(row).__name__}")
        return None
    current = _snapshot(row.get("current"), "current", problems, required=True)
    history_value = row.get("history") or []
    if not isinstance(history_value, list | tuple):
        problems.append(f"history: expected a list, got {type(history_value).__name__}")
        history_value = []
    history = [_snapshot(item, f"history[{i}]", problems, required=True) for i, item in enumerate(history_value)]
    next_snapshot = _snapshot(row.get("next"), "next", problems, required=False)
    user = _text(row.get("user"), "user", problems)
    chat = _text(row.get("chat"), "chat", problems)
    source = _text(row.get("source"), "source", problems)
    if source and source not in (*Source, *BENCHMARK_SOURCES):
        problems.append(f"source: {source!r} is not one of {', '.join((*Source, *BENCHMARK_SOURCES))}")
    sample_id = _text(row.get("id"), "id", problems)
    loc = _loc(row.get("loc"), current, problems)
    verification = _verification(row.get("verification"), problems)
    messages = _messages(row.get("messages"), problems)
    if current is None or problems:
        return None
    return Sample(
        current=current,
        history=[h for h in history if h is not None],
        user=user,
        chat=chat,
        next=next_snapshot,
        loc=loc,
        source=source,
        id=sample_id,
        verification=verification,
        messages=messages,
    )


def _text(value: Any, name: str, problems: list[str], *, allow_tokens: bool = False) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(f"{name}: expected a string, got {type(value).__name__}")
        return ""
    if not allow_tokens and (token := find_special_token(value)):
        problems.append(f"{name}: contains the special token {token}, which the conversation format reserves")
    return value


def _snapshot(value: Any, name: str, problems: list[str], *, required: bool) -> Snapshot | None:
    if value is None:
        if required:
            problems.append(f"{name}: missing")
        return None
    if not isinstance(value, Mapping):
        problems.append(f"{name}: expected a mapping with type, lang and code, got {type(value).__name__}")
        return None
    if not isinstance(value.get("code"), str):
        problems.append(f"{name}.code: expected a string, got {type(value.get('code')).__name__}")
        return None
    code = _text(value["code"], f"{name}.code", problems)
    lang = _text(value.get("lang"), f"{name}.lang", problems) or "python"
    kind = _text(value.get("type"), f"{name}.type", problems) or "code"
    return Snapshot(code=code, lang=lang, type=kind)


def _loc(value: Any, current: Snapshot | None, problems: list[str]) -> Loc:
    if value is None:
        return None
    limit = len(current.code) if current is not None else None
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int | list | tuple):
        problems.append(f"loc: expected null, an offset or [start, end], got {value!r}")
        return None
    if isinstance(value, int):
        if value < 0 or (limit is not None and value > limit):
            problems.append(f"loc: cursor {value} is outside current.code (0..{limit})")
        return value
    if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        problems.append(f"loc: expected [start, end] of two ints, got {value!r}")
        return None
    start, end = value
    if not 0 <= start <= end or (limit is not None and end > limit):
        problems.append(f"loc: selection [{start}, {end}] is not inside current.code (0..{limit})")
    return (start, end)


def _verification(value: Any, problems: list[str]) -> Verification:
    if value is None:
        return Verification()
    if not isinstance(value, Mapping):
        problems.append(f"verification: expected a mapping, got {type(value).__name__}")
        return Verification()
    status = value.get("status") or VerificationStatus.UNVERIFIED
    if status not in tuple(VerificationStatus):
        problems.append(f"verification.status: {status!r} is not one of {', '.join(VerificationStatus)}")
        status = VerificationStatus.UNVERIFIED
    checks = []
    for i, check in enumerate(value.get("checks") or []):
        if not isinstance(check, Mapping) or not isinstance(check.get("name"), str):
            problems.append(f"verification.checks[{i}]: expected a mapping with name, status and detail")
            continue
        if check.get("status") not in tuple(CheckStatus):
            problems.append(
                f"verification.checks[{i}].status: {check.get('status')!r} is not one of {', '.join(CheckStatus)}"
            )
            continue
        checks.append(Check(check["name"], check["status"], str(check.get("detail") or "")))
    return Verification(status, tuple(checks))


def _messages(value: Any, problems: list[str]) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        problems.append(f"messages: expected a list, got {type(value).__name__}")
        return []
    messages = []
    for i, message in enumerate(value):
        if not isinstance(message, Mapping) or not isinstance(message.get("content"), str):
            problems.append(f"messages[{i}]: expected a mapping with a role and a string content")
            continue
        if message.get("role") not in ROLES:
            problems.append(f"messages[{i}].role: {message.get('role')!r} is not one of {', '.join(ROLES)}")
        messages.append({"role": str(message.get("role")), "content": message["content"]})
    return messages
