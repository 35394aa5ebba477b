"""Sample <-> conversation <-> training text, in the CursorCore format.

A sample becomes messages with the roles `history` (one per earlier snapshot), `current` (the file, with the
target area marked and, for LC, numbered lines), `user` (when there is an instruction) and `assistant`
(`<|next_start|>{edit}<|next_end|>`, then a newline and the chat explanation when there is one). The text is
ChatML: `<|im_start|>{role}\\n{content}<|im_end|>` joined by newlines, with a default system message first.
`train_configs/chat_template.jinja` renders the same string; the tests hold the two to it.
"""

from cursorcore.processing.formats import EditFormat, get_format
from cursorcore.processing.formats.errors import EditParseError
from cursorcore.processing.formats.fences import fence, parse_fence
from cursorcore.schema import Loc, Sample, Snapshot
from cursorcore.tokens import (
    DEFAULT_SYSTEM_PROMPT,
    IM_END,
    IM_START,
    NEXT_END,
    NEXT_START,
    TARGET,
    TARGET_END,
    TARGET_START,
)

GENERATION_PROMPT = f"\n{IM_START}assistant\n{NEXT_START}"


def mark_target(code: str, loc: Loc) -> str:
    """Insert <|target|> at a cursor offset, or <|target_start|>/<|target_end|> around a selection."""
    if loc is None:
        return code
    if isinstance(loc, int):
        return code[:loc] + TARGET + code[loc:]
    start, end = loc
    return code[:start] + TARGET_START + code[start:end] + TARGET_END + code[end:]


def unmark_target(marked: str) -> tuple[str, Loc]:
    if TARGET in marked:
        offset = marked.index(TARGET)
        return marked.replace(TARGET, "", 1), offset
    if TARGET_START in marked and TARGET_END in marked:
        start = marked.index(TARGET_START)
        code = marked.replace(TARGET_START, "", 1)
        end = code.index(TARGET_END)
        return code.replace(TARGET_END, "", 1), (start, end)
    return marked, None


def sample_messages(
    sample: Sample, fmt: str | EditFormat, *, history_sees_target: bool = False
) -> list[dict[str, str]]:
    """The conversation a model is trained on (or, without `next`, prompted with).

    `history_sees_target` diffs the last history step against the current code with its target markers, as
    CursorCore's APEval harness does with `--use_target_area` (its training data diffs the unmarked code)."""
    edit_format = get_format(fmt) if isinstance(fmt, str) else fmt
    messages = []
    marked = mark_target(sample.current.code, sample.loc)
    codes = [s.code for s in sample.history] + [marked if history_sees_target else sample.current.code]
    for step, older in enumerate(sample.history):
        content = edit_format.render_history(older.code, codes[step + 1], older.lang)
        messages.append({"role": "history", "content": content})
    messages.append({"role": "current", "content": fence(edit_format.show_current(marked), sample.current.lang)})
    if sample.user:
        messages.append({"role": "user", "content": sample.user})
    if sample.next is not None:
        answer = NEXT_START + edit_format.render(sample.current.code, sample.next.code, sample.next.lang) + NEXT_END
        if sample.chat:
            answer += "\n" + sample.chat
        messages.append({"role": "assistant", "content": answer})
    return messages


def render_text(messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    """The ChatML text of a conversation; what `chat_template.jinja` renders for the same messages."""
    parts = []
    if (messages and messages[0]["role"] != "system") or (not messages and add_generation_prompt):
        parts.append(f"{IM_START}system\n{DEFAULT_SYSTEM_PROMPT}{IM_END}\n")
    parts.append("\n".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}" for m in messages))
    if add_generation_prompt:
        parts.append(GENERATION_PROMPT)
    return "".join(parts)


def training_text(sample: Sample, fmt: str | EditFormat) -> str:
    return render_text(sample_messages(sample, fmt))


def inference_prompt(sample: Sample, fmt: str | EditFormat) -> str:
    """The prompt a trained model continues: the conversation without the answer, ending in <|next_start|>."""
    messages = [m for m in sample_messages(sample, fmt) if m["role"] != "assistant"]
    return render_text(messages, add_generation_prompt=True)


def split_answer(answer: str) -> tuple[str, str]:
    """(edit text, chat) of an assistant answer; the opening <|next_start|> may be absent (it ends the prompt)."""
    body = answer.split(NEXT_START)[-1]
    edit_text, _, rest = body.partition(NEXT_END)
    return edit_text, rest.removeprefix("\n")


def apply_answer(current: str, answer: str, fmt: str | EditFormat) -> str:
    """The next code a model's answer asks for; raises EditFormatError when it cannot be read or applied."""
    edit_format = get_format(fmt) if isinstance(fmt, str) else fmt
    return edit_format.apply(current, split_answer(answer)[0])


def messages_sample(messages: list[dict[str, str]], fmt: str | EditFormat) -> Sample:
    """Rebuild the sample fields from a conversation: the inverse of `sample_messages` (id, source and
    verification are not part of the conversation). History is exact for formats with `exact_history` (WF); LC and
    SR history steps are CursorCore's lossy renderings and walk back to an approximation."""
    edit_format = get_format(fmt) if isinstance(fmt, str) else fmt
    roles = [m["role"] for m in messages]
    if roles and roles[0] == "system":
        messages, roles = messages[1:], roles[1:]
    if roles.count("current") != 1:
        raise EditParseError("a conversation holds exactly one 'current' message")
    at = roles.index("current")
    current_block = parse_fence(messages[at]["content"])
    code, loc = unmark_target(edit_format.read_current(current_block.code or ""))
    current = Snapshot(code=code, lang=current_block.lang or "")
    history: list[Snapshot] = []
    newer = current
    for message in reversed(messages[:at]):
        older = edit_format.undo_history(newer.code, message["content"])
        newer = Snapshot(code=older, lang=current.lang)
        history.insert(0, newer)
    rest = messages[at + 1 :]
    user = rest.pop(0)["content"] if rest and rest[0]["role"] == "user" else ""
    next_snapshot, chat = None, ""
    if rest and rest[0]["role"] == "assistant":
        edit_text, chat = split_answer(rest[0]["content"])
        next_snapshot = Snapshot(code=edit_format.apply(code, edit_text), lang=current.lang)
    return Sample(current=current, history=history, user=user, chat=chat, next=next_snapshot, loc=loc)
