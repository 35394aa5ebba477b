"""LC (locate and change): the assistant names line ranges of the current file and writes their new lines.

CursorCore semantics: the current file is shown with 1-based line numbers ("1 first line"), while each answer
block is `start,end` (0-based, half-open, in the current file) followed by a fence holding the replacement lines;
`start == end` inserts before line `start`. Blocks are joined by a newline and apply to the original numbering.
"""

import re
from dataclasses import dataclass

from cursorcore.processing.formats.base import EditFormat
from cursorcore.processing.formats.errors import EditApplyError, EditParseError
from cursorcore.processing.formats.fences import fence, parse_fence
from cursorcore.processing.formats.history import render_lc_history
from cursorcore.processing.formats.hunks import diff_hunks, join_lines, split_lines, without_pure_deletions
from cursorcore.processing.formats.tolerant import read_lc

_RANGE = re.compile(r"\s*(\d+)\s*,\s*(\d+)[ \t]*\n")
_NUMBERED = re.compile(r"(\d+) ")


@dataclass(frozen=True)
class LineChange:
    start: int
    end: int
    lines: list[str]


def render_lc(current: str, next_code: str, lang: str) -> str:
    old, new = split_lines(current), split_lines(next_code)
    hunks = without_pure_deletions(diff_hunks(old, new), old)
    return "\n".join(
        f"{h.old_start},{h.old_end}\n{fence(join_lines(new[h.new_start : h.new_end]), lang)}" for h in hunks
    )


def parse_lc(edit_text: str) -> list[LineChange]:
    changes, pos = [], 0
    while edit_text[pos:].strip():
        header = _RANGE.match(edit_text, pos)
        if header is None:
            raise EditParseError(f"expected a 'start,end' line at offset {pos}, found {edit_text[pos : pos + 40]!r}")
        block = parse_fence(edit_text, header.end())
        changes.append(LineChange(int(header.group(1)), int(header.group(2)), block.lines))
        pos = block.end
    return changes


def apply_lc(current: str, edit_text: str) -> str:
    lines = split_lines(current)
    changes = sorted(parse_lc(edit_text), key=lambda change: (change.start, change.end))
    previous_end = 0
    for change in changes:
        if not change.start <= change.end <= len(lines):
            raise EditApplyError(f"range {change.start},{change.end} is outside the file's {len(lines)} lines")
        if change.start < previous_end:
            raise EditApplyError(f"range {change.start},{change.end} overlaps the block before it")
        previous_end = change.end
    for change in reversed(changes):
        lines[change.start : change.end] = change.lines
    return join_lines(lines)


def number_lines(code: str) -> str:
    """The current file as CursorCore shows it to LC models: each line prefixed by its 1-based number and a space."""
    return "\n".join(f"{number} {line}" for number, line in enumerate(split_lines(code), start=1))


def unnumber_lines(text: str) -> str:
    """Inverse of `number_lines`; refuses text whose numbering is not 1, 2, 3, ..."""
    lines = []
    for expected, line in enumerate(split_lines(text), start=1):
        match = _NUMBERED.match(line)
        if match is None or int(match.group(1)) != expected:
            raise EditParseError(f"line {expected} of a numbered file does not start with '{expected} '")
        lines.append(line[match.end() :])
    return join_lines(lines)


class LocateAndChange(EditFormat):
    name = "lc"
    exact_history = False

    def render(self, current: str, next_code: str, lang: str) -> str:
        return render_lc(current, next_code, lang)

    def apply(self, current: str, edit_text: str) -> str:
        return apply_lc(current, edit_text)

    def render_history(self, older: str, newer: str, lang: str) -> str:
        return render_lc_history(older, newer, lang)

    def undo_history(self, newer: str, history_text: str) -> str:
        return read_lc(newer, history_text)

    def show_current(self, code: str) -> str:
        return number_lines(code)

    def read_current(self, shown: str) -> str:
        return unnumber_lines(shown)
