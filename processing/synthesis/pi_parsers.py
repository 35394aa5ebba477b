"""Reading the model's answers in Programming-Instruct synthesis, with CursorCore's reject rules.

Each parser takes the raw answer text and returns what the pipeline needs, or raises `Rejected` with a reason
(`<role>_<rule>`) that ends up in the build's rejection counts. The rules are those of CursorCore's generators
(`gen/genaiprogrammer.py`, `gen/geninst.py`, `gen/genjudge.py`, `gen/gencht.py`); the answer markers are this
project's own (see the templates in `prompts/`), matched without regard to case or bold markup because small models
drift on both.
"""

import itertools
import re

from cursorcore.processing.formats.fences import find_fences
from cursorcore.processing.llm.runtime import Rejected
from cursorcore.tokens import find_special_token

MIN_ANSWER_CHARS = 20
ORDERS = ("forward", "undo", "drafts")


def _marker(word: str) -> re.Pattern[str]:
    """`**Word:**`, `Word:` or `**Word**:` (any case) at the start of a line."""
    return re.compile(rf"^[ \t]*\**[ \t]*{word}[ \t]*\**[ \t]*:[ \t]*\**", re.IGNORECASE | re.MULTILINE)


INSTRUCTION = _marker("instruction")
CHAT = _marker("chat")
CHANGE_HEADING = re.compile(r"^[ \t#]*\**[ \t]*change[ \t]+(\d+)\b", re.IGNORECASE | re.MULTILINE)
DECISION = re.compile(r"decision\W*?(true|false)\b", re.IGNORECASE)


def _outside_fences(text: str) -> str:
    """The prose of an answer: a refusal is looked for there, not in the code (which may well print "sorry")."""
    for block in reversed(find_fences(text)):
        text = text[: block.start] + text[block.end :]
    return text


def _check_text(text: str, role: str) -> str:
    if token := find_special_token(text):
        raise Rejected(f"{role}_special_token", token)
    return text


def parse_steps(
    answer: str, final: str, *, order: str = "forward", min_steps: int = 3, max_steps: int = 6
) -> list[str]:
    """The AI programmer's code versions, oldest first, ending exactly at `final`.

    CursorCore's rules: an answer under 20 characters, one that says "sorry", one whose last code block is not the
    final code (surrounding white space aside), one made of fragments (four or more blocks that together are
    barely longer than the last one) or with two identical consecutive blocks is rejected; a last block repeated
    as a summary is dropped first. Added here: the number of steps must be within [min_steps, max_steps], as the
    prompt asks. With `order="undo"` the model lists the versions from the final one back to its first draft; with
    `order="drafts"` it lists only the earlier versions, latest first, and the final code is appended here (copies of
    it the model wrote anyway are dropped), so the last step equals the input by construction.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if len(answer.strip()) < MIN_ANSWER_CHARS:
        raise Rejected("aiprogrammer_too_short", answer)
    if "sorry" in _outside_fences(answer).lower():
        raise Rejected("aiprogrammer_refusal", answer[:200])
    blocks = [block.code or "" for block in find_fences(answer)]
    if not blocks:
        raise Rejected("aiprogrammer_no_code", answer[:200])
    if order != "forward":
        blocks.reverse()
    if order == "drafts":
        while blocks and blocks[-1].strip() == final.strip():
            blocks.pop()
        blocks.append(final)
    if blocks[-1].strip() != final.strip():
        raise Rejected("aiprogrammer_last_step_differs", blocks[-1][:200])
    if len(blocks) >= 2 and blocks[-2] == blocks[-1]:
        blocks.pop()
    lengths = [len(block.split("\n")) for block in blocks]
    if len(lengths) >= 4 and sum(lengths[:-1]) <= lengths[-1] + 2:
        raise Rejected("aiprogrammer_fragments", f"block lengths {lengths}")
    if any(first == second for first, second in itertools.pairwise(blocks)):
        raise Rejected("aiprogrammer_identical_steps", f"{len(blocks)} blocks")
    if not min_steps <= len(blocks) <= max_steps:
        raise Rejected("aiprogrammer_step_count", f"{len(blocks)} steps, expected {min_steps}-{max_steps}")
    for block in blocks:
        _check_text(block, "aiprogrammer")
    return [*blocks[:-1], final]


def parse_instruction(answer: str) -> str:
    """The instruction after the `Instruction:` marker, which must open the answer; CursorCore also drops answers
    that add a note or say there is no change."""
    text = answer.strip()
    opening = INSTRUCTION.match(text)
    if opening is None:
        raise Rejected("instruction_format", text[:200])
    if "\nnote:" in text.lower():
        raise Rejected("instruction_note", text[:200])
    if "no change" in text.lower():
        raise Rejected("instruction_no_change", text[:200])
    instruction = text[opening.end() :].strip()
    if not instruction:
        raise Rejected("instruction_empty")
    return _check_text(instruction, "instruction")


def parse_decisions(answer: str, changes: int) -> list[bool]:
    """One True/False per proposed change: an analysis headed `Change k` ending in `Decision: True|False`.

    CursorCore rejects an answer under 20 characters, one that says "sorry", one with a different number of
    analyses than changes, and one where an analysis has no decision."""
    text = answer.strip()
    if len(text) < MIN_ANSWER_CHARS:
        raise Rejected("judge_too_short", text)
    if "sorry" in text.lower():
        raise Rejected("judge_refusal", text[:200])
    headings = list(CHANGE_HEADING.finditer(text))
    if len(headings) != changes:
        raise Rejected("judge_count", f"{len(headings)} analyses for {changes} changes")
    decisions = []
    for heading, following in zip(headings, [*headings[1:], None], strict=True):
        section = text[heading.end() : following.start() if following else len(text)]
        found = DECISION.findall(section)
        if not found:
            raise Rejected("judge_decision", section[:200])
        decisions.append(found[-1].lower() == "true")
    return decisions


def parse_chat(answer: str) -> str:
    """The explanation after the `Chat:` marker, which must open the answer."""
    text = answer.strip()
    opening = CHAT.match(text)
    if opening is None:
        raise Rejected("chat_format", text[:200])
    chat = text[opening.end() :].strip()
    if not chat:
        raise Rejected("chat_empty")
    return _check_text(chat, "chat")
