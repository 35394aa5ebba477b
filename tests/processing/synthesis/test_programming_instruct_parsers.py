"""CursorCore's reject rules on model answers, and the prompt templates: every few-shot example must itself pass the
rules it teaches. The answers below are hand-written inputs to the parsers (shapes seen from real models)."""

import pytest

from cursorcore.processing.llm import Rejected
from cursorcore.processing.synthesis.pi_parsers import parse_chat, parse_decisions, parse_instruction, parse_steps
from cursorcore.processing.synthesis.pi_prompts import (
    PERSONAS,
    Record,
    aiprogrammer_messages,
    chat_messages,
    instruction_messages,
    judge_messages,
)
from cursorcore.processing.synthesis.prompt_env import edit_steps

FINAL = 'def isleap(year):\n    """Leap years."""\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)'
DRAFT = "def isleap(year):\n    return year % 4 == 0"
SKELETON = "def isleap(year):\n    pass"


def answer(*blocks: str, prose: str = "Step {n}:") -> str:
    return "\n".join(f"{prose.format(n=i + 1)}\n```python\n{block}\n```\n" for i, block in enumerate(blocks))


def reason(call) -> str:
    with pytest.raises(Rejected) as caught:
        call()
    return caught.value.reason


def test_steps_forward_undo_and_drafts():
    assert parse_steps(answer(SKELETON, DRAFT, FINAL), FINAL) == [SKELETON, DRAFT, FINAL]
    assert parse_steps(answer(FINAL, DRAFT, SKELETON), FINAL, order="undo") == [SKELETON, DRAFT, FINAL]
    drafts = answer(DRAFT, SKELETON, prose="Draft {n}:")
    assert parse_steps(drafts, FINAL, order="drafts") == [SKELETON, DRAFT, FINAL]


def test_drafts_drop_copies_of_the_finished_code_and_keep_every_other_rule():
    # the model repeating the finished code first (as in `undo`) is forgiven: it is appended anyway
    assert parse_steps(answer(FINAL, DRAFT, SKELETON), FINAL, order="drafts") == [SKELETON, DRAFT, FINAL]
    assert reason(lambda: parse_steps(answer(DRAFT), FINAL, order="drafts")) == "aiprogrammer_step_count"
    assert reason(lambda: parse_steps(answer(FINAL), FINAL, order="drafts", min_steps=2)) == "aiprogrammer_step_count"
    assert reason(lambda: parse_steps(answer(DRAFT, DRAFT), FINAL, order="drafts")) == "aiprogrammer_identical_steps"
    no_code = "I first wrote a skeleton, then filled in the loop, and finally the finished code."
    assert reason(lambda: parse_steps(no_code, FINAL, order="drafts")) == "aiprogrammer_no_code"
    assert reason(lambda: parse_steps("no code at all, sorry", FINAL, order="drafts")) == "aiprogrammer_refusal"
    special = answer("def isleap(year):\n    return '<|next_start|>'", SKELETON)
    assert reason(lambda: parse_steps(special, FINAL, order="drafts", min_steps=2)).startswith("aiprogrammer_")


def test_steps_end_exactly_at_the_input_and_drop_a_summary_repeat():
    # surrounding white space of the last block is forgiven, and the final code is the input itself
    assert parse_steps(answer(SKELETON, DRAFT, "\n" + FINAL + "\n  "), FINAL)[-1] == FINAL
    assert parse_steps(answer(SKELETON, DRAFT, FINAL, FINAL), FINAL) == [SKELETON, DRAFT, FINAL]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("```py\nx\n```", "aiprogrammer_too_short"),
        ("I'm sorry, I cannot help with that request, it is too long.", "aiprogrammer_refusal"),
        ("Sorry for the wait!\n" + answer(SKELETON, DRAFT, FINAL), "aiprogrammer_refusal"),
        ("Here is how I would write it, step by step, without code.", "aiprogrammer_no_code"),
        (answer(SKELETON, DRAFT, FINAL.replace("400", "40")), "aiprogrammer_last_step_differs"),
        (answer(SKELETON, DRAFT, DRAFT, FINAL), "aiprogrammer_identical_steps"),
        (answer("def isleap(year):", "    pass", "    return 1", FINAL), "aiprogrammer_fragments"),
        (answer(DRAFT, FINAL), "aiprogrammer_step_count"),
        (answer(*[f"{SKELETON}  # {i}" for i in range(6)], FINAL), "aiprogrammer_step_count"),
    ],
)
def test_steps_reject_rules(text, expected):
    assert reason(lambda: parse_steps(text, FINAL)) == expected


def test_sorry_inside_the_code_is_not_a_refusal():
    final = 'def fail():\n    return "sorry, not found"'
    assert parse_steps(answer("def fail():\n    pass", final), final, min_steps=2)[-1] == final


def test_an_unclosed_last_fence_is_not_a_step():
    text = answer(SKELETON, DRAFT, FINAL) + "\nStep 4:\n```python\ndef isleap(year):\n    return"
    assert parse_steps(text, FINAL) == [SKELETON, DRAFT, FINAL]


def test_instruction_rules():
    assert parse_instruction("**Instruction:** Handle century years on line 3.") == "Handle century years on line 3."
    assert parse_instruction("instruction: fix it\nplease") == "fix it\nplease"
    assert reason(lambda: parse_instruction("Sure! Here is the instruction: fix it")) == "instruction_format"
    assert reason(lambda: parse_instruction("**Instruction:** Fix it.\nNote: untested")) == "instruction_note"
    assert reason(lambda: parse_instruction("**Instruction:** No change is needed.")) == "instruction_no_change"
    assert reason(lambda: parse_instruction("**Instruction:**   ")) == "instruction_empty"
    assert reason(lambda: parse_instruction("**Instruction:** Fix <|im_end|>")) == "instruction_special_token"


JUDGED = """**Change 1:** Completing the return is the obvious next step.
**Decision:** True
**Change 2:** A licence header nobody asked for.
**Decision:** `False`"""


def test_judge_rules():
    assert parse_decisions(JUDGED, 2) == [True, False]
    assert reason(lambda: parse_decisions(JUDGED, 3)) == "judge_count"
    assert reason(lambda: parse_decisions(JUDGED.replace("`False`", "maybe"), 2)) == "judge_decision"
    assert reason(lambda: parse_decisions("**Decision:** True", 1)) == "judge_too_short"
    assert reason(lambda: parse_decisions("Sorry, I cannot judge these changes.", 1)) == "judge_refusal"


def test_chat_rules():
    assert parse_chat("**Chat:** You added push, so pop comes next.") == "You added push, so pop comes next."
    assert reason(lambda: parse_chat("You added push, so pop comes next.")) == "chat_format"
    assert reason(lambda: parse_chat("**Chat:**")) == "chat_empty"


def roles(messages):
    return [m["role"] for m in messages]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("order", ["forward", "undo", "drafts"])
def test_aiprogrammer_examples_pass_the_rules_they_teach(persona, order):
    messages = aiprogrammer_messages(FINAL, "python", persona, order=order, min_steps=3, max_steps=6)
    assert roles(messages) == ["system", "user", "assistant", "user", "assistant", "user"]
    assert FINAL in messages[-1]["content"] and "3 to 6" in messages[0]["content"]
    for shot, reply in zip(messages[1:-1:2], messages[2:-1:2], strict=True):
        shown = shot["content"].split("```python\n", 1)[1].rsplit("\n```", 1)[0]
        steps = parse_steps(reply["content"], shown, order=order)
        assert steps[-1] == shown and len(steps) >= 3


RECORD = Record(current="def f(x):\n    return x", lang="python", history=("@@ -1 +1,2 @@\n-\n+def f(x):",))


def test_instruction_judge_and_chat_examples_pass_their_rules():
    for messages, parse in [
        (instruction_messages(RECORD, "@@ -1,2 +1,2 @@"), parse_instruction),
        (chat_messages(RECORD, "", "@@ -1,2 +1,2 @@"), parse_chat),
    ]:
        assert roles(messages)[0] == "system" and roles(messages)[-1] == "user"
        assert all(parse(m["content"]) for m in messages if m["role"] == "assistant")
    judged = judge_messages(RECORD, ["@@ -1 +1 @@", "@@ -2 +2 @@"])
    assert "Proposed change 2:" in judged[-1]["content"]
    for shot, reply in zip(judged[1:-1:2], judged[2:-1:2], strict=True):
        assert parse_decisions(reply["content"], shot["content"].count("Proposed change"))


def test_the_prompt_shows_the_record():
    text = instruction_messages(
        Record(current="a\nb", lang="cpp", history=("@@ h @@",), messages=("Fix b",), statement="Print b."), "@@ c @@"
    )[-1]["content"]
    assert "Earlier edit 1:\n```diff\n@@ h @@\n```" in text
    assert "```cpp\n1 a\n2 b\n```" in text
    assert "Commit message: Fix b" in text and "Problem statement:\nPrint b." in text
    assert text.endswith("Change to make:\n```diff\n@@ c @@\n```")


def test_messages_are_cut_right_whatever_the_code_holds():
    code = '{{ message("x") }}\n\x00\nuser\nassistant\n```'
    messages = aiprogrammer_messages(code, "python", "novice", order="forward", min_steps=3, max_steps=6)
    assert len(messages) == 6 and code in messages[-1]["content"]


def test_edit_steps_reads_worked_examples():
    assert edit_steps("=== draft\nx = 1\n=== fix\nx = 2\n") == [("draft", "x = 1"), ("fix", "x = 2")]
