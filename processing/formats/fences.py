"""Markdown code fences that survive any code, including code that itself contains backtick fences.

CursorCore fences code as ```` ```lang\\n{code}\\n``` ````. That is ambiguous when the code contains a line of three
backticks (Markdown in a docstring, a README); like CommonMark we then use a fence one backtick longer than the
longest run inside the code, so the first closing fence found is always the right one.
"""

import re
from dataclasses import dataclass

from cursorcore.processing.formats.errors import EditParseError

_OPENING = re.compile(r"(`{3,})([^`\n]*)\n")
_BACKTICK_RUN = re.compile(r"`+")


def fence(code: str, lang: str = "") -> str:
    """Wrap `code` in a fence that nothing inside it can close."""
    ticks = backtick_fence(code)
    return f"{ticks}{lang.lower()}\n{code}\n{ticks}"


def backtick_fence(code: str) -> str:
    """CursorCore's ```, or one backtick more than the longest run inside `code` when that is longer."""
    longest = max((len(run) for run in _BACKTICK_RUN.findall(code)), default=0)
    return "`" * max(3, longest + 1)


@dataclass(frozen=True)
class Fenced:
    """One parsed fence: `lines` is None for an empty fence (```` ```\\n``` ````), which has no lines at all."""

    lang: str
    code: str | None
    start: int
    end: int

    @property
    def lines(self) -> list[str]:
        return [] if self.code is None else self.code.split("\n")


def parse_fence(text: str, pos: int = 0) -> Fenced:
    """Parse the first fence that opens at or after `pos` (only white space may come before it)."""
    opening = _OPENING.search(text, pos)
    if opening is None or text[pos : opening.start()].strip():
        where = text[pos : pos + 40]
        raise EditParseError(f"expected a ``` code fence at offset {pos}, found {where!r}")
    ticks, lang = opening.group(1), opening.group(2).strip()
    body = opening.end()
    if _closes_at(text, body, ticks):
        return Fenced(lang, None, opening.start(), body + len(ticks))
    close = body - 1
    while True:
        close = text.find("\n" + ticks, close + 1)
        if close == -1:
            raise EditParseError(f"code fence opened at offset {opening.start()} is never closed")
        if _closes_at(text, close + 1, ticks):
            return Fenced(lang, text[body:close], opening.start(), close + 1 + len(ticks))


def _closes_at(text: str, pos: int, ticks: str) -> bool:
    """A closing fence is exactly `ticks` (no longer run) at `pos`."""
    end = pos + len(ticks)
    return text.startswith(ticks, pos) and (end == len(text) or text[end] != "`")


def find_fences(text: str) -> list[Fenced]:
    """Every fence in free text, in order (for model answers that wrap code in prose)."""
    found, pos = [], 0
    while (opening := _OPENING.search(text, pos)) is not None:
        try:
            block = parse_fence(text, opening.start())
        except EditParseError:
            break
        found.append(block)
        pos = block.end
    return found
