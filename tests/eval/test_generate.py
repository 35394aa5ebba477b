"""Prompts as CursorCore builds them, answers back to solutions, and generation through the local llama.cpp server
(SmolLM2) and transformers on CPU (a tiny random model saved to a folder, loaded like a Hub checkout)."""

from dataclasses import replace

import pytest

from cursorcore.eval.generate import (
    Prompt,
    Sampling,
    ServerGenerator,
    TransformersGenerator,
    build_prompt,
    extract_solution,
    generate_solutions,
    template_hash,
)
from cursorcore.processing.formats.conversation import inference_prompt, render_text, sample_messages, training_text
from cursorcore.schema import Sample, Snapshot

# The one-shot example of CursorCore's eval/utils.py (prepare_input_for_instruct / _for_base), verbatim.
CURSORCORE_INTRO = (
    "Read the following messages during programming and return the modified code in this format:\n\n"
    "<|next_start|>{modified code}<|next_end|>"
)
CURSORCORE_EXAMPLE = (
    "Programming process 1:\n```python\na = 1\nb = 2\nc = a + b\n```\n\nCurrent code:\n```python\ni = 1\nb = 2\n"
    "c = a + b\n```\n\nUser instruction:\nPlease change variable names."
)
CURSORCORE_ANSWER = "<|next_start|>```python\ni = 1\nj = 2\nk = i + j\n```<|next_end|>"

TASK = Sample(
    id="T/1",
    history=[Snapshot("def f(x):\n    return x")],
    current=Snapshot("def f(x):\n    return x + 1\n"),
    user="Make it add two.",
    loc=(10, 30),
)


def test_instruct_prompt_is_cursorcores_one_shot_conversation():
    messages = build_prompt(TASK, "instruct").messages
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == f"{CURSORCORE_INTRO}\n\n{CURSORCORE_EXAMPLE}"
    assert messages[1]["content"] == CURSORCORE_ANSWER
    assert messages[2]["content"] == (
        f"{CURSORCORE_INTRO}\n\nProgramming process 1:\n```python\ndef f(x):\n    return x\n```\n\n"
        "Current code:\n```python\ndef f(x):\n    return x + 1\n\n```\n\nUser instruction:\nMake it add two."
    )


def test_base_prompt_is_cursorcores_completion_prompt():
    text = build_prompt(Sample(current=Snapshot("x = 1")), "base").text
    assert text == (
        f"{CURSORCORE_INTRO}\n\n<|messages_start|>{CURSORCORE_EXAMPLE}<|messages_end|>\n\n{CURSORCORE_ANSWER}\n\n"
        f"{CURSORCORE_INTRO}\n\n<|messages_start|>Current code:\n```python\nx = 1\n```<|messages_end|>\n\n"
    )


@pytest.mark.parametrize("mode", ["wf", "lc", "sr"])
def test_format_prompts_are_the_cursorcore_conversation_with_optional_target_markers(mode):
    plain, marked = build_prompt(TASK, mode), build_prompt(TASK, mode, target_area=True)
    assert plain.text.endswith("<|im_start|>assistant\n<|next_start|>")
    assert "<|target_start|>" not in plain.text and "<|target_start|>" in marked.text
    # as CursorCore's --use_target_area: the last history step is diffed against the marked code
    marked_messages = sample_messages(TASK, mode, history_sees_target=True)
    assert marked.text == render_text(marked_messages, add_generation_prompt=True)
    assert plain.text == inference_prompt(replace(TASK, loc=None), mode)
    assert [m["role"] for m in plain.messages] == ["history", "current", "user"]


@pytest.mark.parametrize("mode", ["wf", "lc", "sr"])
def test_a_trained_models_answer_becomes_the_next_file(mode):
    wanted = "def f(x):\n    return x + 2\n"
    trained = Sample(current=TASK.current, user=TASK.user, next=Snapshot(wanted))
    answer = training_text(trained, mode).split("<|im_start|>assistant\n")[-1].removesuffix("<|im_end|>")
    assert extract_solution(TASK.current.code, answer, mode) == wanted


@pytest.mark.parametrize(
    ("answer", "mode", "solution"),
    [
        ("Sure!\n```python\nprint(1)\n```\nand\n```python\nprint(2)\n```", "instruct", "print(1)"),
        ("<|next_start|>```python\nprint(3)\n```<|next_end|>\nchat", "instruct", "print(3)"),
        ("no code at all", "instruct", "current()"),
        ("```python\nnot closed", "wf", "current()"),
        ("1,2\n```python\nx\n```", "lc", "current()"),  # lines 1-2 do not exist
        ("```python\nmissing\n<|search_and_replace|>\nx\n```", "sr", "current()"),
    ],
)
def test_unusable_answers_leave_the_current_code(answer, mode, solution):
    assert extract_solution("current()", answer, mode, extraction="strict") == solution


@pytest.mark.parametrize(
    ("answer", "mode", "solution"),
    [
        ("Sure!\n```python\nprint(1)\n```\nand\n```python\nprint(2)\n```", "instruct", "print(1)"),
        ("no code at all", "instruct", "current()"),
        ("```python\nnot closed", "wf", "current()"),
        ("Here:\n0,1\n```python\nx\n```\nthat is all", "lc", "x"),  # text around the blocks is ignored
        ("```python\ncurent()\n<|search_and_replace|>\nx\n```", "sr", "x"),  # placed by the best fuzzy match
        ("```python\nno separator\n```", "sr", "current()"),
    ],
)
def test_reference_extraction_reads_what_cursorcores_harness_reads(answer, mode, solution):
    assert extract_solution("current()", answer, mode) == solution


def test_unknown_extraction_is_refused():
    with pytest.raises(ValueError, match="reference, strict"):
        extract_solution("x", "y", "wf", extraction="fuzzy")


def test_template_hash_changes_with_the_mode_and_the_models_template():
    assert template_hash("wf") == template_hash("wf") != template_hash("lc")
    assert template_hash("instruct", "{{ messages }}") != template_hash("instruct")


def test_sampling_defaults_follow_cursorcore():
    assert Sampling.for_samples(1) == Sampling(n=1, temperature=0.0, top_p=1.0)
    assert (Sampling.for_samples(10).temperature, Sampling.for_samples(10).top_p) == (0.2, 0.95)


# ---------------------------------------------------------------------------------------------------- backends
def test_local_server_generates_and_answers_become_solutions(llm_server):
    tasks = [TASK, Sample(id="T/2", current=Snapshot("def g():\n    pass\n"), user="Return 3.")]
    with ServerGenerator(llm_server.endpoint_config()) as generator:
        greedy = generate_solutions(tasks, generator, "instruct", Sampling(max_tokens=48))
        sampled = generator.generate([build_prompt(tasks[1], "instruct")], Sampling.for_samples(2, max_tokens=16))
        assert generator.describe()["backend"] == "endpoint"
    assert [len(pairs) for pairs in greedy] == [1, 1]
    for (solution, answer), task in zip([pairs[0] for pairs in greedy], tasks, strict=True):
        assert answer.strip() and "<|next_end|>" not in answer
        assert solution == extract_solution(task.current.code, answer, "instruct")
    assert len(sampled[0]) == 2


def test_cursorcore_format_prompts_go_as_cursorcores_template_text_keeping_special_tokens(llm_server):
    """wf/lc/sr: the text of CursorCore's "assistant-conversation" template through the completion route, with
    `skip_special_tokens: false` as its eval_apeval.py sends; llama.cpp's server answers it (its chat route refuses
    the roles `history` and `current`)."""
    with ServerGenerator(llm_server.endpoint_config()) as generator:
        sampling = Sampling(max_tokens=8)
        for mode in ("wf", "lc", "sr"):
            prompt = build_prompt(TASK, mode)
            assert prompt.text.endswith("<|im_start|>assistant\n<|next_start|>")
            params = generator.request(prompt, sampling)
            assert (params["skip_special_tokens"], params["add_special_tokens"]) == (False, False)
            assert (params["stop"], params["temperature"]) == (["<|next_end|>"], 0.0)
        for mode in ("instruct", "base"):
            assert "skip_special_tokens" not in generator.request(build_prompt(TASK, mode), sampling)
        [[answer]] = generator.generate([build_prompt(TASK, "lc")], sampling)
        assert answer and "<|next_end|>" not in answer


def test_sampling_defaults_are_cursorcores_apeval_settings():
    assert (Sampling().temperature, Sampling().max_tokens) == (0.0, 3072)  # --temperature 0.0, --max_tokens 3072


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 1-layer random Llama with a byte-level BPE tokenizer that knows the CursorCore tokens, saved like a Hub
    checkout."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from cursorcore.tokens import SPECIAL_TOKENS

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    specials = ["<|endoftext|>", *SPECIAL_TOKENS]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, initial_alphabet=alphabet)
    tokenizer.train_from_iterator([CURSORCORE_EXAMPLE, CURSORCORE_INTRO, "def f(x):\n    return x + 1\n"], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    fast.chat_template += "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=2048, eos_token_id=fast.eos_token_id,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny-model")
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("mode", ["wf", "instruct", "base"])
def test_transformers_generates_on_cpu_from_a_local_checkout(tiny_model, mode):
    generator = TransformersGenerator(str(tiny_model))
    prompts = [build_prompt(TASK, mode)]
    first = generator.generate(prompts, Sampling(max_tokens=6))
    assert first == generator.generate(prompts, Sampling(max_tokens=6))  # greedy is deterministic
    assert len(generator.generate(prompts, Sampling.for_samples(3, max_tokens=4))[0]) == 3
    assert generator.describe() == {"name": str(tiny_model), "revision": None, "backend": "transformers"}
    assert generator.chat_template().startswith("{% for m in messages %}")
    generator.close()


def test_transformers_continues_the_text_or_applies_the_chat_template(tiny_model):
    generator = TransformersGenerator(str(tiny_model))
    assert generator.text(Prompt(text="abc")) == "abc"
    chat = generator.text(Prompt(messages=[{"role": "user", "content": "hi"}]))
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
