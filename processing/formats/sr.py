"""SR (search and replace): the assistant quotes lines of the current file and writes what replaces them.

Each block is one fence holding `search\\n<|search_and_replace|>\\nreplace`. When rendering, changes closer than
`MERGE_GAP` unchanged lines are merged (as in CursorCore) and every search block is widened with unchanged context,
preferring lines above, until it occurs exactly once in the file and is not only blank lines, so applying it is
unambiguous. Among such widenings the smallest one that CursorCore's fuzzy matcher also puts in the right place is
preferred (`_cursorcore_finds`), so its harness applies these answers to the same result. Applying tolerates the
white-space drift of model answers (trailing spaces, a shifted indentation) and otherwise fails with a clear error
when a search block is absent or ambiguous.
"""

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from cursorcore.processing.formats.base import EditFormat
from cursorcore.processing.formats.errors import EditApplyError, EditParseError
from cursorcore.processing.formats.fences import fence, parse_fence
from cursorcore.processing.formats.history import render_sr_history
from cursorcore.processing.formats.hunks import Hunk, diff_hunks, join_lines, merge_close, split_lines
from cursorcore.processing.formats.tolerant import read_sr
from cursorcore.tokens import SEARCH_AND_REPLACE

MERGE_GAP = 2
MATCHER_SLACK = 8  # extra context lines tried for a search block CursorCore's matcher can place


@dataclass(frozen=True)
class SearchReplace:
    search: list[str]
    replace: list[str]


def render_sr(current: str, next_code: str, lang: str) -> str:
    old, new = split_lines(current), split_lines(next_code)
    return _render_blocks(
        [(old[h.old_start : h.old_end], new[h.new_start : h.new_end]) for h in unique_hunks(old, new)], lang
    )


def _render_blocks(pairs: list[tuple[list[str], list[str]]], lang: str) -> str:
    return "\n".join(
        fence(f"{join_lines(search)}\n{SEARCH_AND_REPLACE}\n{join_lines(replace)}", lang) for search, replace in pairs
    )


def unique_hunks(old: list[str], new: list[str]) -> list[Hunk]:
    """Hunks from `old` to `new` whose old lines each occur once in `old`, are not all blank, and have new lines."""
    hunks = merge_close(diff_hunks(old, new), MERGE_GAP)
    shape = _FileShape(old)
    index = 0
    while index < len(hunks):
        low = hunks[index - 1].old_end if index else 0
        high = hunks[index + 1].old_start if index + 1 < len(hunks) else len(old)
        widened = _smallest_widening(hunks[index], old, low, high, shape.finds)
        if widened is not None and index and not shape.finds(widened):
            # the matcher misplaces it: one block with the previous one, aligned afresh, may be placed right
            together = _realigned(merge_close(hunks[index - 1 : index + 1], len(old))[0], old, new)
            bottom = hunks[index - 2].old_end if index > 1 else 0
            joined = _smallest_widening(together, old, bottom, high, shape.finds)
            if joined is not None and shape.finds(joined):
                hunks[index - 1 : index + 1] = [joined]
                continue
        if widened is not None:
            hunks[index] = widened
            index += 1
        elif index + 1 < len(hunks):  # boxed in by the next change: search for both together
            hunks[index : index + 2] = merge_close(hunks[index : index + 2], len(old))
        else:
            hunks[index - 1 : index + 1] = merge_close(hunks[index - 1 : index + 1], len(old))
            index -= 1
    return hunks


def _realigned(hunk: Hunk, old: list[str], new: list[str]) -> Hunk:
    """`hunk` without the lines it leaves unchanged at either end (a widened or merged hunk carries context)."""
    start, end, new_start, new_end = hunk.old_start, hunk.old_end, hunk.new_start, hunk.new_end
    while start < end and new_start < new_end and old[start] == new[new_start]:
        start, new_start = start + 1, new_start + 1
    while start < end and new_start < new_end and old[end - 1] == new[new_end - 1]:
        end, new_end = end - 1, new_end - 1
    return Hunk(start, end, new_start, new_end)


def _smallest_widening(hunk: Hunk, old: list[str], low: int, high: int, found: Callable[[Hunk], bool]) -> Hunk | None:
    """The smallest valid widening (fewest lines, then fewest on the right) that `found` accepts, looking at most
    `MATCHER_SLACK` lines past the smallest valid one; else that smallest valid one; None when there is none."""
    room_left, room_right = hunk.old_start - low, high - hunk.old_end
    smallest: tuple[int, Hunk] | None = None
    for total in range(room_left + room_right + 1):
        if smallest is not None and total > smallest[0] + MATCHER_SLACK:
            break
        for right in range(max(0, total - room_left), min(total, room_right) + 1):
            candidate = hunk.widened(total - right, right)
            if _is_valid_search(candidate, old):
                if found(candidate):
                    return candidate
                smallest = smallest or (total, candidate)
    return smallest[1] if smallest else None


def _is_valid_search(hunk: Hunk, old: list[str]) -> bool:
    search = old[hunk.old_start : hunk.old_end]
    if not search or hunk.new_end == hunk.new_start:
        return False
    whole_file = len(search) == len(old)
    if not whole_file and not any(line.strip() for line in search):
        return False
    return whole_file or len(_occurrences(old, search, _exact, limit=2)) == 1


class _FileShape:
    """What CursorCore's SR matcher (Sweep's `find_best_match`, its `eval/search_and_replace.py`) needs to find an
    exact, unique search block where it stands.

    It drops a first or last query line of "..." and treats lines starting or ending with "..." as wildcards; it tries
    the query shifted by 3, 2 and 4 indentation units before the unshifted one when the file is indented deeper than
    3 units, and returns at the first exact window; and it only tries the `keep` best start lines (by similarity to
    the first query line, file order among equals) and, from each, the `keep` best end lines, `keep` being
    min(40, lines // 5), or every line for files under 5 lines.
    """

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.keep = min(40, len(lines) // 5) or len(lines)
        text = "\n".join(lines)
        self.unit = "  " if len(re.findall(r"\n {2}[^ ]", text)) > len(re.findall(r"\n {4}[^ ]", text)) else "    "
        deepest = max(len(line) - len(line.lstrip()) for line in lines) // len(self.unit)
        self.shifts_first = (3, 2, 4) if deepest > 3 else ()

    def finds(self, hunk: Hunk) -> bool:
        search = self.lines[hunk.old_start : hunk.old_end]
        if any(line.strip().startswith("...") or line.strip().endswith("...") for line in search):
            return False
        if len(search) == 1:
            return True  # one line, unique in the file: its exact copy is the single best-scoring line
        starts_before = self.lines[: hunk.old_start + 1].count(search[0])
        ends_before = self.lines[hunk.old_start : hunk.old_end].count(search[-1])
        if starts_before > self.keep or ends_before > self.keep:
            return False
        return not any(
            _occurrences(self.lines, [self.unit * depth + line for line in search], _exact, limit=1)
            for depth in self.shifts_first
        )


def parse_sr(edit_text: str) -> list[SearchReplace]:
    blocks, pos = [], 0
    while edit_text[pos:].strip():
        block = parse_fence(edit_text, pos)
        body = block.code or ""
        if body.count(SEARCH_AND_REPLACE) != 1:
            raise EditParseError(f"a search-and-replace block needs exactly one {SEARCH_AND_REPLACE} separator")
        search, replace = body.split(SEARCH_AND_REPLACE)
        search = search.removesuffix("\n")
        replace = replace.removeprefix("\n")
        blocks.append(SearchReplace(split_lines(search), split_lines(replace)))
        pos = block.end
    return blocks


def apply_sr(current: str, edit_text: str) -> str:
    """Apply the blocks to `current`, each search block found exactly once (white-space drift tolerated)."""
    lines = split_lines(current)
    placed: list[tuple[int, int, list[str]]] = []
    for number, block in enumerate(parse_sr(edit_text), start=1):
        start, replace = _locate(lines, block, number)
        placed.append((start, start + len(block.search), replace))
    placed.sort()
    for (_, first_end, _), (second_start, _, _) in itertools.pairwise(placed):
        if second_start < first_end:
            raise EditApplyError("two search blocks overlap in the file")
    for start, end, replace in reversed(placed):
        lines[start:end] = replace
    return join_lines(lines)


def _exact(line: str) -> str:
    return line


def _rstripped(line: str) -> str:
    return line.rstrip()


def _stripped(line: str) -> str:
    return line.strip()


def _locate(lines: list[str], block: SearchReplace, number: int) -> tuple[int, list[str]]:
    """Where the block's search lines stand: exactly first, then ignoring trailing, then all, white space."""
    for normalise in (_exact, _rstripped, _stripped):
        found = _occurrences(lines, block.search, normalise, limit=2)
        if len(found) > 1:
            shown = ", ".join(str(start + 1) for start in found)
            raise EditApplyError(f"search block {number} is ambiguous: it matches at lines {shown} and maybe more")
        if found:
            replace = block.replace
            if normalise is _stripped:
                replace = _reindent(replace, block.search, lines[found[0] : found[0] + len(block.search)])
            return found[0], replace
    first = next((line for line in block.search if line.strip()), "")
    raise EditApplyError(f"search block {number} is not in the file (its first line: {first.strip()[:60]!r})")


def _occurrences(lines: list[str], search: list[str], normalise: Callable[[str], str], limit: int) -> list[int]:
    wanted = [normalise(line) for line in search]
    found = []
    for start in range(len(lines) - len(search) + 1):
        if (
            normalise(lines[start]) == wanted[0]
            and [normalise(line) for line in lines[start : start + len(search)]] == wanted
        ):
            found.append(start)
            if len(found) == limit:
                break
    return found


def _reindent(replace: list[str], search: list[str], matched: list[str]) -> list[str]:
    """Shift the replacement by the indentation the model got wrong in its search block."""
    pair = next(((s, m) for s, m in zip(search, matched, strict=True) if s.strip()), None)
    if pair is None:
        return replace
    said, actual = (line[: len(line) - len(line.lstrip())] for line in pair)
    if actual.endswith(said):
        added = actual[: len(actual) - len(said)]
        return [added + line if line.strip() else line for line in replace]
    if said.endswith(actual):
        removed = said[: len(said) - len(actual)]
        return [line.removeprefix(removed) for line in replace]
    return replace


class SearchAndReplace(EditFormat):
    name = "sr"
    exact_history = False

    def render(self, current: str, next_code: str, lang: str) -> str:
        return render_sr(current, next_code, lang)

    def apply(self, current: str, edit_text: str) -> str:
        return apply_sr(current, edit_text)

    def render_history(self, older: str, newer: str, lang: str) -> str:
        return render_sr_history(older, newer, lang)

    def undo_history(self, newer: str, history_text: str) -> str:
        return read_sr(newer, history_text, reverse=True)
