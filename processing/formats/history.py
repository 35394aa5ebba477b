"""History steps exactly as CursorCore renders them: the model's input, so it must look as it did in training.

A history step between an older and a newer snapshot is written as a reverse edit, anchored on the newer file (the
reader holds the current file and walks back). CursorCore's own rendering (its `generic/utils.py`), reproduced
here byte for byte because models trained on its data expect it:

* changed regions are difflib's opcodes between the newer and the older lines (default `SequenceMatcher`, as
  `difflib.unified_diff` uses it);
* a region whose words are the same on both sides is dropped (a whitespace-only change), unless the deepest
  indentation of the two whole files differs;
* LC: `start,end` in the newer file, then a fence with the older lines; a region where the older file has no lines
  is an empty fence, which reads as one blank line;
* SR: each region is widened with the fewest neighbour lines of the newer file (left first) until those lines are
  not blank and occur once in it, the same widening is applied to the older range, regions closer than
  `MERGE_GAP` lines on both sides are merged, and the fence holds the older lines, the separator, the newer lines.

This is lossy (whitespace-only changes vanish, deleted lines show as a blank one), unlike answers, which keep an
exact round trip: a history step walks back to an approximation of the older snapshot only.
"""

import difflib
from collections.abc import Sequence

from cursorcore.processing.formats.fences import backtick_fence
from cursorcore.processing.formats.hunks import Hunk, split_lines
from cursorcore.tokens import SEARCH_AND_REPLACE

MERGE_GAP = 2


def reference_hunks(old: list[str], new: list[str]) -> list[Hunk]:
    """Changed regions from `old` to `new` as CursorCore finds them (whitespace-only regions dropped)."""
    matcher = difflib.SequenceMatcher(None, old, new)
    hunks = [Hunk(i1, i2, j1, j2) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]
    if _deepest_indent(old) != _deepest_indent(new):
        return hunks
    return [h for h in hunks if _words(old[h.old_start : h.old_end]) != _words(new[h.new_start : h.new_end])]


def _deepest_indent(lines: list[str]) -> int:
    return max(len(line) - len(line.lstrip()) for line in lines)


def _words(lines: list[str]) -> list[str]:
    return " ".join(lines).split()


def render_lc_history(older: str, newer: str, lang: str) -> str:
    """Blocks `start,end` (lines of `newer`) followed by the lines `older` has there."""
    new_lines, old_lines = split_lines(newer), split_lines(older)
    return "\n".join(
        _block(f"{h.old_start},{h.old_end}\n", "\n".join(old_lines[h.new_start : h.new_end]), lang)
        for h in reference_hunks(new_lines, old_lines)
    )


def render_sr_history(older: str, newer: str, lang: str) -> str:
    """Blocks `older lines <|search_and_replace|> newer lines`, the newer lines unique in `newer`."""
    new_lines, old_lines = split_lines(newer), split_lines(older)
    hunks = reference_hunks(new_lines, old_lines)
    if "\n".join(new_lines).strip():
        hunks = [_widen_until_unique(h, new_lines) for h in hunks]
    hunks = _merge_neighbours(hunks)
    return "\n".join(
        _block(
            "",
            "\n".join(old_lines[h.new_start : h.new_end])
            + f"\n{SEARCH_AND_REPLACE}\n"
            + "\n".join(new_lines[h.old_start : h.old_end]),
            lang,
        )
        for h in hunks
    )


def _block(header: str, body: str, lang: str) -> str:
    """CursorCore writes the language as given (not lower-cased) in history fences."""
    ticks = backtick_fence(body)
    return f"{header}{ticks}{lang}\n{body}\n{ticks}"


def _widen_until_unique(hunk: Hunk, lines: list[str]) -> Hunk:
    """The fewest extra lines (then the fewest on the right) that make `lines[start:end]` non-blank and unique.

    The older range is widened by the same counts: CursorCore slices it with those plain indices, so near the file
    edges the older side may come out shorter (Python slicing), and that is what its models saw.
    """
    for total in range(len(lines) - hunk.old_end + hunk.old_start + 1):
        for right in range(total + 1):
            left = total - right
            if left > hunk.old_start:
                continue  # CursorCore's window would start before the file: an empty slice, never unique
            start, end = hunk.old_start - left, min(hunk.old_end + right, len(lines))
            if _occurs_once(lines, lines[start:end]):
                return hunk.widened(left, end - hunk.old_end)
    raise AssertionError("the whole file is non-blank, so it occurs once")


def _occurs_once(lines: list[str], window: Sequence[str]) -> bool:
    if not "\n".join(window).strip():
        return False
    size = len(window)
    found = 0
    for start in range(len(lines) - size + 1):
        if lines[start] == window[0] and lines[start : start + size] == window:
            found += 1
            if found > 1:
                return False
    return found == 1


def _merge_neighbours(hunks: list[Hunk]) -> list[Hunk]:
    """Merge a region into the one before when both of its sides start at most `MERGE_GAP` lines after it."""
    merged: list[Hunk] = []
    for hunk in hunks:
        if merged and (
            hunk.old_start - merged[-1].old_end <= MERGE_GAP and hunk.new_start - merged[-1].new_end <= MERGE_GAP
        ):
            last = merged[-1]
            merged[-1] = Hunk(
                min(last.old_start, hunk.old_start),
                max(last.old_end, hunk.old_end),
                min(last.new_start, hunk.new_start),
                max(last.new_end, hunk.new_end),
            )
        else:
            merged.append(hunk)
    return merged
