"""A RE-IMPLEMENTATION of CursorCore's evaluation and data formatting, for cross-checking only (never imported by the
package). Written for these tests from reading TechxGenus/CursorCore (Apache-2.0): `generic/utils.py`
(decorate_code, extract_changes_lines and its filter / unique / merge steps, generate_locations_changes,
generate_search_and_replace), `eval/utils.py` (prepare_input_for_*, postprocess_output_*), `eval/eval_apeval.py`
(target-area markers), `eval/search_and_replace.py` (find_best_match, after Sweep's) and `train/prepare_data.py`.

It is deliberately built another way than the package's renderer (`cursorcore.processing.formats.history`): changed
regions are read back from `difflib.unified_diff` hunk headers, as CursorCore does, and every quirk is kept (Python
slicing with negative indices, the deepest-indentation test of the whitespace filter, SR blocks placed against the
original file and applied in reverse order of appearance). The tests hold the package to what this gives.
"""

import difflib
import itertools
import re

from rapidfuzz import fuzz

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
NEXT_START, NEXT_END = "<|next_start|>", "<|next_end|>"
TARGET_START, TARGET_END, TARGET = "<|target_start|>", "<|target_end|>", "<|target|>"
SEARCH_AND_REPLACE = "<|search_and_replace|>"
FENCE = r"```(.*?)\n([\s\S]*?)\n```"
LC_BLOCK = r"(\d+),(\d+)\n```(.*?)\n([\s\S]*?)\n```"

INTRO = (
    "Read the following messages during programming and return the modified code in this format:\n\n"
    "<|next_start|>{modified code}<|next_end|>"
)
ONE_SHOT_TASK = (
    "Programming process 1:\n```python\na = 1\nb = 2\nc = a + b\n```\n\nCurrent code:\n```python\ni = 1\nb = 2\n"
    "c = a + b\n```\n\nUser instruction:\nPlease change variable names."
)
ONE_SHOT_ANSWER = "<|next_start|>```python\ni = 1\nj = 2\nk = i + j\n```<|next_end|>"


# ---- rendering -----------------------------------------------------------------------------------------------------
def decorate(code: str, lang: str = "", numbered: bool = False) -> str:
    body = code.split("\n")
    if numbered:
        body = [f"{n} {line}" for n, line in enumerate(body, start=1)]
    return "```" + (lang.lower() if lang else "") + "\n" + "\n".join(body) + "\n```"


def changed_regions(code1: str, code2: str, unique: bool = False, merge: bool = False) -> list:
    """[((start1, end1), (start2, end2)), ...], 0-based half-open, from the @@ headers of a zero-context diff."""
    lines1, lines2 = code1.split("\n"), code2.split("\n")
    regions = []
    for line in difflib.unified_diff(lines1, lines2, n=0, lineterm=""):
        header = re.match(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", line)
        if header is None:
            continue
        regions.append((_span(header.group(1), header.group(2)), _span(header.group(3), header.group(4))))
    deepest = [max(len(x) - len(x.lstrip()) for x in lines) for lines in (lines1, lines2)]
    regions = [
        r
        for r in regions
        if " ".join(lines1[r[0][0] : r[0][1]]).split() != " ".join(lines2[r[1][0] : r[1][1]]).split()
        or deepest[0] != deepest[1]
    ]
    if unique:
        regions = [_expand(r, lines1) for r in regions]
    if merge:
        regions = _merge(regions)
    return regions


def _span(first: str, count: str | None) -> tuple[int, int]:
    """A unified-diff range: 'a' is one line (1-based a), 'a,0' is empty after line a, 'a,n' is n lines from a."""
    start, length = int(first), 1 if count is None else int(count)
    return (start, start) if length == 0 else (start - 1, start - 1 + length)


def _expand(region, lines1):
    (a1, a2), (b1, b2) = region
    left, right = _unique_extension(lines1, a1, a2)
    return (a1 - left, a2 + right), (b1 - left, b2 + right)


def _unique_extension(lines: list[str], a1: int, a2: int) -> tuple[int, int]:
    if not "\n".join(lines).strip():
        return 0, 0
    for grow in range(len(lines) - a2 + a1 + 1):
        for shift in range(grow + 1):
            window = lines[a1 - grow + shift : a2 + shift]  # a negative start wraps around, as in CursorCore
            if "\n".join(window).strip() and _count(lines, window) == 1:
                return min(a1, grow - shift), min(len(lines) - a2, shift)
    return -1, -1


def _count(lines: list[str], window: list[str]) -> int:
    return sum(lines[i : i + len(window)] == window for i in range(len(lines) - len(window) + 1))


def _merge(regions, threshold: int = 2):
    merged = []
    for (a1, a2), (b1, b2) in regions:
        if merged and a1 - merged[-1][0][1] <= threshold and b1 - merged[-1][1][1] <= threshold:
            (p1, p2), (q1, q2) = merged[-1]
            merged[-1] = ((min(p1, a1), max(p2, a2)), (min(q1, b1), max(q2, b2)))
        else:
            merged.append(((a1, a2), (b1, b2)))
    return merged


def lc_blocks(code1: str, code2: str, lang: str, regions) -> str:
    lines2 = code2.split("\n")
    return "\n".join(f"{a1},{a2}\n```{lang}\n" + "\n".join(lines2[b1:b2]) + "\n```" for (a1, a2), (b1, b2) in regions)


def sr_blocks(code1: str, code2: str, lang: str, regions) -> str:
    lines1, lines2 = code1.split("\n"), code2.split("\n")
    return "\n".join(
        f"```{lang}\n" + "\n".join(lines1[a1:a2]) + f"\n{SEARCH_AND_REPLACE}\n" + "\n".join(lines2[b1:b2]) + "\n```"
        for (a1, a2), (b1, b2) in regions
    )


def lc_answer(current: str, next_code: str, lang: str = "python") -> str:
    """train/prepare_data.py's LC answer body (between <|next_start|> and <|next_end|>)."""
    return lc_blocks(current, next_code, lang, changed_regions(current, next_code))


def sr_answer(current: str, next_code: str, lang: str = "python") -> str:
    return sr_blocks(current, next_code, lang, changed_regions(current, next_code, unique=True, merge=True))


# ---- the APEval harness ---------------------------------------------------------------------------------------------
def with_target_area(task: dict) -> dict:
    """eval_apeval.py --use_target_area: the markers go into current.code (tasks without an area keep none)."""
    area = task.get("area")
    code = task["current"]["code"]
    if isinstance(area, int):
        code = code[:area] + TARGET + code[area:]
    elif isinstance(area, list):
        start, end = area
        code = code[:end] + TARGET_END + code[end:]
        code = code[:start] + TARGET_START + code[start:]
    return {**task, "current": {**task["current"], "code": code}}


def _steps(task: dict):
    return list(itertools.pairwise(task["history"] + [task["current"]]))


def prompt_wf(task: dict) -> list[dict]:
    conversation = [{"role": "history", "content": decorate(m1["code"], m1["lang"])} for m1, _ in _steps(task)]
    return conversation + _current_and_user(task, numbered=False)


def prompt_lc(task: dict) -> list[dict]:
    conversation = []
    for m1, m2 in _steps(task):
        regions = changed_regions(m2["code"], m1["code"])
        conversation.append({"role": "history", "content": lc_blocks(m2["code"], m1["code"], m1["lang"], regions)})
    return conversation + _current_and_user(task, numbered=True)


def prompt_sr(task: dict) -> list[dict]:
    conversation = []
    for m1, m2 in _steps(task):
        regions = changed_regions(m2["code"], m1["code"], unique=True, merge=True)
        swapped = [(older, newer) for newer, older in regions]
        conversation.append({"role": "history", "content": sr_blocks(m1["code"], m2["code"], m1["lang"], swapped)})
    return conversation + _current_and_user(task, numbered=False)


def _current_and_user(task: dict, numbered: bool) -> list[dict]:
    current = task["current"]
    messages = [{"role": "current", "content": decorate(current["code"], current["lang"], numbered)}]
    return messages + ([{"role": "user", "content": task["user"]}] if task["user"] else [])


def _plain_task(task: dict) -> str:
    text = ""
    for n, h in enumerate(task["history"], start=1):
        text += f"Programming process {n}:\n" + decorate(h["code"], h["lang"]) + "\n\n"
    text += "Current code:\n" + decorate(task["current"]["code"], task["current"]["lang"]) + "\n\n"
    if task["user"]:
        text += "User instruction:\n" + task["user"] + "\n\n"
    return text


def prompt_instruct(task: dict) -> list[dict]:
    return [
        {"role": "user", "content": f"{INTRO}\n\n{ONE_SHOT_TASK}"},
        {"role": "assistant", "content": ONE_SHOT_ANSWER},
        {"role": "user", "content": (f"{INTRO}\n\n" + _plain_task(task)).strip()},
    ]


def prompt_base(task: dict) -> str:
    text = f"{INTRO}\n\n<|messages_start|>{ONE_SHOT_TASK}<|messages_end|>\n\n{ONE_SHOT_ANSWER}\n\n"
    text += f"{INTRO}\n\n<|messages_start|>" + _plain_task(task)
    return text.strip() + "<|messages_end|>\n\n"


PROMPTS = {"wf": prompt_wf, "lc": prompt_lc, "sr": prompt_sr, "instruct": prompt_instruct, "base": prompt_base}


def chat_text(messages: list[dict]) -> str:
    """The 'assistant-conversation' template of train/prepare_conversation.py, with the generation prompt."""
    system = f"{IM_START}system\nYou are a helpful programming assistant.{IM_END}\n"
    text = "" if messages[0]["role"] == "system" else system
    text += "\n".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}" for m in messages)
    return text + f"\n{IM_START}assistant\n{NEXT_START}"


# ---- reading answers ------------------------------------------------------------------------------------------------
def _edit(output: str) -> str:
    return output.split(NEXT_START)[-1].split(NEXT_END)[0]


def read_wf(current: str, output: str) -> str:
    try:
        return re.findall(FENCE, _edit(output))[0][1]
    except IndexError:
        return current


def read_lc(current: str, output: str) -> str:
    lines = current.split("\n")
    for start, end, _, code in re.findall(LC_BLOCK, _edit(output).strip())[::-1]:
        lines = lines[: int(start)] + code.split("\n") + lines[int(end) :]
    return "\n".join(lines)


def read_sr(current: str, output: str) -> str:
    try:
        lines = current.split("\n")
        for _, body in re.findall(FENCE, _edit(output).strip())[::-1]:
            before, after = body.split(f"\n{SEARCH_AND_REPLACE}\n")
            start, end = find_best_match(before, current)
            lines = lines[:start] + after.split("\n") + lines[end:]
        return "\n".join(lines)
    except (ValueError, IndexError):
        return current


READERS = {"wf": read_wf, "lc": read_lc, "sr": read_sr}


# ---- Sweep's fuzzy placement, as eval/search_and_replace.py has it --------------------------------------------------
def line_score(a: str, b: str) -> float:
    if a == b:
        return 100
    drift = abs(len(a) - len(b)) / (len(a) + len(b)) * 10
    if a.lstrip() == b.lstrip():
        return max(90 - drift, 0)
    if a.strip() == b.strip():
        return max(80 - drift, 0)
    return max(85 * fuzz.ratio(a, b) / 100, 0)


def _line_cost(line: str) -> float:
    if not line.strip():
        return 50
    if line.strip().startswith(("#", "//")):
        return 50 + len(line) / (len(line) + 1) * 30
    return len(line) / (len(line) + 1) * 100


def _skippable(line: str) -> bool:
    return not line.strip() or line.strip().startswith(("#", "//", "print", "logger", "console."))


def block_score(query: list[str], target: list[str]) -> float:
    def weight(position: int) -> float:
        return 100 / (min(position, len(query) - position) / 2 + 1)

    scores: list[tuple[float, float]] = []
    q = t = skipped = 0
    while q < len(query) and t < len(target):
        if query[q].strip() == target[t].strip():
            scores.append((line_score(query[q], target[t]), weight(q)))
            q, t = q + 1, t + 1
        elif query[q].strip().startswith("...") or query[q].strip().endswith("..."):
            t += 1
            if q + 1 == len(query):
                scores.append((100 - (len(target) - t), weight(q)))
                q, t = q + 1, len(target)
                break
            after = [i for i in range(t, len(target)) if target[i].strip() == query[q + 1].strip()]
            best = 0
            for i in after or range(t, len(target)):
                tried = [*scores, (block_score(query[q + 1 :], target[i:]), 100 - (i - t) / len(target) * 10)]
                best = max(best, sum(v * w for v, w in tried) / sum(w for _, w in tried))
            return best
        elif _skippable(target[t]):
            skipped, t = skipped + 1, t + 1
            scores.append((90, weight(q)))
        else:
            break
    scores += [(100 - _line_cost(line), weight(i)) for i, line in enumerate(query[q:])]
    scores += [(100 - _line_cost(line), 100) for line in target[t:]]
    total = sum(v * w for v, w in scores) / sum(w for _, w in scores) if scores else 0
    return total * (1 - 0.05 * skipped)


def find_best_match(query: str, code: str) -> tuple[int, int]:
    """(start, end) of the lines of `code` that best match `query`; (-1, -1) when nothing scores."""
    lines, wanted = code.split("\n"), query.split("\n")
    if wanted and wanted[-1].strip() == "...":
        wanted = wanted[:-1]
    if wanted and wanted[0].strip() == "...":
        wanted = wanted[1:]
    if len(wanted) == 1:
        best, where = 0, (-1, -1)
        for i, line in enumerate(lines):
            if line_score(line, wanted[0]) > best:
                best, where = line_score(line, wanted[0]), (i, i + 1)
        return where
    unit = "  " if len(re.findall(r"\n {2}[^ ]", code)) > len(re.findall(r"\n {4}[^ ]", code)) else "    "
    deepest = max(len(line) - len(line.lstrip()) for line in lines) // len(unit)
    depths = list(range(max(min(deepest + 1, 20), 1)))
    if deepest > 3:
        depths = [3, 2, 4, 0, 1, *range(5, deepest + 1)]
    keep = min(40, len(lines) // 5) or len(lines)
    tried: list[tuple[float, int, int]] = []
    for depth in depths:
        shifted = [unit * depth + line for line in wanted]
        starts = sorted(range(len(lines)), key=lambda i: line_score(lines[i], shifted[0]), reverse=True)[:keep]
        for i in starts:
            ends = sorted(range(i, len(lines)), key=lambda j: line_score(lines[j], shifted[-1]), reverse=True)[:keep]
            for j in ends:
                raw = block_score(shifted, lines[i : j + 1])
                if raw >= 99.99:
                    return i, j + 1
                tried.append((raw * (1 - depth * 0.01), i, j + 1))
    if not tried:
        return -1, -1
    top = max(score for score, _, _ in tried)
    return next((i, j) for score, i, j in tried if score == top)
