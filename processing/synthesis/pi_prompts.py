"""The prompts of Programming-Instruct synthesis: Jinja2 templates in `prompts/` that each write a whole chat.

A template writes its system message, its few-shot examples (user / assistant pairs) and the final user message in
order, starting each message with `{{ message("role") }}`. `conversation` renders it and cuts it into the message
list a chat API takes. Roles (CursorCore's generators): the AI programmer rewrites a snippet as editing steps; the
instruction writer phrases the change as a user's request; the judge decides which proposed changes a helpful
assistant would make unasked; the chat writer explains the change.
"""

import secrets
from dataclasses import dataclass
from typing import Any

from cursorcore.processing.synthesis.prompt_env import environment

PERSONAS = ("novice", "ordinary", "expert")
MAX_NOTE_CHARS = 2000  # a long problem statement or commit message is cut to this in prompts


def conversation(template: str, **variables: Any) -> list[dict[str, str]]:
    """The chat a template writes, as `[{"role", "content"}, ...]`."""
    # a separator no rendered code can contain: messages are cut at it after rendering
    separator = f"\x00{secrets.token_hex(8)}\x00"
    text = environment().get_template(template).render(message=lambda role: f"{separator}{role}\n", **variables)
    messages = []
    for part in text.split(separator)[1:]:
        role, _, content = part.partition("\n")
        messages.append({"role": role, "content": content.strip()})
    return messages


@dataclass(frozen=True)
class Record:
    """What the instruction, judge and chat writers see of the programming process: the earlier edits (unified
    diffs), the current code, and what the source says about the change (commit messages, a problem statement)."""

    current: str
    lang: str
    history: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    statement: str = ""

    def render(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "lang": self.lang,
            "history": list(self.history),
            "messages": [_cut(message) for message in self.messages],
            "statement": _cut(self.statement),
        }


def _cut(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_NOTE_CHARS else text[:MAX_NOTE_CHARS].rstrip() + "\n[...]"


def aiprogrammer_messages(
    code: str, lang: str, persona: str, *, order: str, min_steps: int, max_steps: int
) -> list[dict[str, str]]:
    if persona not in PERSONAS:
        raise ValueError(f"persona must be one of {PERSONAS}, got {persona!r}")
    return conversation(
        "aiprogrammer.jinja",
        code=code,
        lang=lang,
        persona=persona,
        order=order,
        min_steps=min_steps,
        max_steps=max_steps,
    )


def instruction_messages(record: Record, change: str) -> list[dict[str, str]]:
    return conversation("instruction.jinja", record=record.render(), change=change)


def judge_messages(record: Record, changes: list[str]) -> list[dict[str, str]]:
    return conversation("judge.jinja", record=record.render(), changes=changes)


def chat_messages(record: Record, user: str, change: str) -> list[dict[str, str]]:
    return conversation("chat.jinja", record=record.render(), user=user, change=change)
