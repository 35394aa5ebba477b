"""Reading model answers the way CursorCore's evaluation does: forgiving, never raising.

Its `eval/utils.py` takes the text between the last <|next_start|> and the next <|next_end|>, finds code fences with
a regular expression anywhere in it (prose around them is ignored), reads LC blocks `start,end` + fence and splices
them in with plain list slicing, and places each SR search block at its best fuzzy match in the current file. The
strict readers (`lc.apply_lc`, `sr.apply_sr`) refuse all of that; these accept it, so the same model output scores
the same here as in CursorCore's harness.

Where CursorCore's placement goes wrong, this one aims at the intended edit instead: an exact (then
indentation-blind) occurrence of the search lines wins over any fuzzy score, and blocks are applied bottom-up by
where they land, whatever order the model wrote them in. The fuzzy score is RapidFuzz's normalised Indel similarity
over the stripped lines of candidate windows.
"""

import re
from collections.abc import Callable

from rapidfuzz import fuzz

from cursorcore.processing.formats.hunks import join_lines, split_lines
from cursorcore.tokens import NEXT_END, NEXT_START, SEARCH_AND_REPLACE

# A fence: an opening run of 3+ backticks and the rest of its line, the shortest body, a newline and the same run.
FENCE = re.compile(r"(`{3,})(.*?)\n([\s\S]*?)\n\1")
LC_BLOCK = re.compile(r"(\d+),(\d+)\n(`{3,})(.*?)\n([\s\S]*?)\n\3")
SR_SEPARATOR = f"\n{SEARCH_AND_REPLACE}\n"


def edit_region(answer: str) -> str:
    """The edit: after the last <|next_start|> (the prompt may end with it), before the first <|next_end|>."""
    return answer.split(NEXT_START)[-1].split(NEXT_END)[0]


def read_whole_file(current: str, answer: str) -> str:
    """The first fenced block of the edit, or `current` when there is none."""
    match = FENCE.search(edit_region(answer))
    return match.group(3) if match else current


def read_lc(current: str, answer: str) -> str:
    """Every `start,end` + fence block of the edit, spliced in from the last to the first."""
    lines = split_lines(current)
    for match in reversed(list(LC_BLOCK.finditer(edit_region(answer).strip()))):
        start, end = int(match.group(1)), int(match.group(2))
        lines = lines[:start] + split_lines(match.group(5)) + lines[end:]
    return join_lines(lines)


def read_sr(current: str, answer: str, reverse: bool = False) -> str:
    """Each fenced `search <|search_and_replace|> replace` block placed where its search lines fit best; a block
    without exactly one separator makes the whole answer unreadable (`current` comes back). `reverse` swaps the
    two sides (walking a history step back)."""
    lines = split_lines(current)
    placed = []
    for match in FENCE.finditer(edit_region(answer).strip()):
        sides = match.group(3).split(SR_SEPARATOR)
        if len(sides) != 2:
            return current
        search, replace = reversed(sides) if reverse else sides
        start, end = best_match(split_lines(search), lines)
        placed.append((start, end, split_lines(replace)))
    for start, end, replace in sorted(placed, key=lambda block: block[0], reverse=True):
        lines[start:end] = replace
    return join_lines(lines)


def best_match(query: list[str], lines: list[str]) -> tuple[int, int]:
    """Where `query` stands in `lines`: its first exact occurrence, else its first occurrence ignoring each line's
    surrounding white space, else the window (about as long as the query) most similar to it."""
    if len(query) > 1 and query[-1].strip() == "...":
        query = query[:-1]
    if len(query) > 1 and query[0].strip() == "...":
        query = query[1:]
    for normalise in (_same, str.strip):
        start = _first_occurrence(query, lines, normalise)
        if start is not None:
            return start, start + len(query)
    return _most_similar_window(query, lines)


def _same(line: str) -> str:
    return line


def _first_occurrence(query: list[str], lines: list[str], normalise: Callable[[str], str]) -> int | None:
    wanted = [normalise(line) for line in query]
    shown = [normalise(line) for line in lines]
    for start in range(len(lines) - len(query) + 1):
        if shown[start : start + len(query)] == wanted:
            return start
    return None


def _most_similar_window(query: list[str], lines: list[str]) -> tuple[int, int]:
    """Windows of len(query) ± a quarter of it (at least one line for a multi-line query); the best score wins,
    then the length nearest the query's, then the earliest start."""
    text = "\n".join(line.strip() for line in query)
    stripped = [line.strip() for line in lines]
    slack = max(1, len(query) // 4) if len(query) > 1 else 0
    best: tuple[float, int, int, int] | None = None
    for size in range(max(1, len(query) - slack), min(len(lines), len(query) + slack) + 1):
        for start in range(len(lines) - size + 1):
            score = fuzz.ratio(text, "\n".join(stripped[start : start + size]))
            key = (score, -abs(size - len(query)), -start, size)
            if best is None or key > best:
                best = key
    if best is None:  # the query is longer than the file by more than the slack: take the whole file
        return 0, len(lines)
    return -best[2], -best[2] + best[3]
