"""Request shaping per server (the payload each backend gets) and reading answers back, special tokens included."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cursorcore.processing.llm.servers import RULES, rules_for
from cursorcore.processing.llm.shaping import (
    CHAT_PATH,
    COMPLETIONS_PATH,
    TGI_GENERATE_PATH,
    read_answer,
    rebuild_text,
    shape,
)
from cursorcore.tokens import IM_END, NEXT_END, NEXT_START, SEARCH_AND_REPLACE, SPECIAL_TOKENS

MESSAGES = [{"role": "user", "content": "Rewrite the function."}]
# what Self-OSS-Instruct sends: top_p 1.0 (a 422 on TGI), n samples, a list of stop sequences
SOI = {"messages": MESSAGES, "max_tokens": 64, "temperature": 0.7, "top_p": 1.0, "seed": 3}
STOPS = ["\n\n\n", "###", "</response>", "<|im_end|>", NEXT_END, "END"]


def test_tgi_chat_gets_only_what_its_router_accepts():
    wire = shape({**SOI, "stop": STOPS, "n": 4, "skip_special_tokens": False}, rules_for("tgi"), "tgi")
    assert wire.path == CHAT_PATH
    # top_p 1.0 is left out (0 < top_p < 1), n is emulated by the client, stops cut to the server's 4, and a
    # parameter the chat route does not read is not sent; logprobs bring the special tokens back
    assert wire.body == {
        "model": "tgi",
        "messages": MESSAGES,
        "max_tokens": 64,
        "temperature": 0.7,
        "seed": 3,
        "stop": STOPS[:4],
        "logprobs": True,
    }
    assert (wire.sent_stops, wire.client_stops, wire.rebuild) == (tuple(STOPS[:4]), tuple(STOPS[4:]), True)


def test_tgi_stop_limit_comes_from_its_info():
    wire = shape({**SOI, "stop": STOPS}, rules_for("tgi", {"max_stop_sequences": 2}), "tgi")
    assert wire.body["stop"] == STOPS[:2] and wire.client_stops == tuple(STOPS[2:])


@pytest.mark.parametrize(
    ("sampling", "expected"),
    [
        ({"temperature": 0.0, "top_p": 0.95, "top_k": 5}, {"temperature": 0.0}),  # greedy: no sampling knob left
        ({"temperature": 0.2, "top_p": 0.95}, {"temperature": 0.2, "top_p": 0.95}),
        ({"temperature": 0.2, "top_p": 1.5}, {"temperature": 0.2}),
        ({"temperature": 0.2, "top_p": 0.0}, {"temperature": 0.0}),  # the top token only: greedy
    ],
)
def test_tgi_chat_sampling_settings_stay_inside_its_rules(sampling, expected):
    wire = shape({"messages": MESSAGES, **sampling}, rules_for("tgi"), "tgi", keep_special=False)
    assert {k: v for k, v in wire.body.items() if k not in ("model", "messages")} == expected


def test_tgi_generate_is_greedy_without_a_temperature():
    wire = shape({"prompt": "def f(", "max_tokens": 8, "temperature": 0, "top_p": 0.9}, rules_for("tgi"), "tgi")
    assert wire.path == TGI_GENERATE_PATH
    assert wire.body == {"inputs": "def f(", "parameters": {"max_new_tokens": 8, "do_sample": False, "details": True}}
    sampled = shape({"prompt": "x", "temperature": 1.0, "top_p": 1.0}, rules_for("tgi"), "tgi").body["parameters"]
    assert sampled == {"temperature": 1.0, "do_sample": True, "details": True}


@pytest.mark.parametrize("kind", ["vllm", "sglang"])
def test_vllm_and_sglang_keep_special_tokens_with_their_switch(kind):
    wire = shape({**SOI, "stop": STOPS, "min_p": 0.05}, RULES[kind], "m", n=4)
    assert wire.body == {
        "model": "m",
        "messages": MESSAGES,
        "max_tokens": 64,
        "temperature": 0.7,
        "top_p": 1.0,
        "seed": 3,
        "min_p": 0.05,
        "stop": STOPS,
        "n": 4,
        "skip_special_tokens": False,
        "spaces_between_special_tokens": False,
    }
    assert not wire.client_stops and not wire.rebuild


@pytest.mark.parametrize("kind", ["llama.cpp", "openai"])
def test_llama_cpp_and_generic_servers_get_the_request_as_written(kind):
    wire = shape({**SOI, "stop": STOPS, "grammar": "root ::= [a-z]+"}, RULES[kind], "m")
    assert wire.body == {"model": "m", **{k: v for k, v in SOI.items()}, "stop": STOPS, "grammar": "root ::= [a-z]+"}
    prompt = shape({"prompt": "def f(", "max_tokens": 4}, RULES[kind], "m")
    assert (prompt.path, prompt.body) == (COMPLETIONS_PATH, {"model": "m", "max_tokens": 4, "prompt": "def f("})


def test_only_servers_with_n_get_n():
    assert shape(SOI, RULES["vllm"], "m", n=3).body["n"] == 3
    assert "n" not in shape({**SOI, "n": 3}, RULES["tgi"], "m").body


def tgi_chat_answer(tokens: list[tuple[str, bool]], finish: str) -> dict:
    """TGI's chat answer for `tokens` (text, special): content without the special ones, logprobs with all."""
    content = "".join(text for text, special in tokens if not special)
    logprobs = {"content": [{"token": text, "logprob": -0.1, "top_logprobs": []} for text, _ in tokens]}
    return {
        "choices": [{"message": {"content": content}, "logprobs": logprobs, "finish_reason": finish}],
        "usage": {"prompt_tokens": 9, "completion_tokens": len(tokens), "total_tokens": 9 + len(tokens)},
    }


def test_tgi_chat_answer_gets_its_special_tokens_back_and_loses_the_eos():
    tokens = [(SEARCH_AND_REPLACE, True), ("\n", False), (NEXT_START, True), ("x = 1", False), (NEXT_END, True)]
    wire = shape(SOI, rules_for("tgi"), "tgi")
    answer = read_answer(wire, tgi_chat_answer([*tokens, (IM_END, True)], "stop"), rules_for("tgi"))
    assert answer.choices == [(f"{SEARCH_AND_REPLACE}\n{NEXT_START}x = 1{NEXT_END}", "stop")]
    assert answer.usage == {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}


def test_tgi_stop_sequence_is_left_out_like_openai_servers_do():
    tokens = [(NEXT_START, True), ("x = 1", False), (NEXT_END, True)]
    wire = shape({**SOI, "stop": [NEXT_END]}, rules_for("tgi"), "tgi")
    answer = read_answer(wire, tgi_chat_answer(tokens, "stop"), rules_for("tgi"))
    assert answer.choices == [(f"{NEXT_START}x = 1", "stop")]


def test_stops_beyond_the_server_limit_are_applied_to_the_text():
    wire = shape({**SOI, "stop": STOPS}, rules_for("tgi"), "tgi", keep_special=False)
    answer = read_answer(wire, tgi_chat_answer([("a = 1\nEND\nmore", False)], "length"), rules_for("tgi"))
    assert answer.choices == [("a = 1\n", "stop")]


def test_tgi_generate_details_rebuild_the_text():
    wire = shape({"prompt": "p", "stop": ["###"]}, rules_for("tgi"), "tgi")
    tokens = [{"text": t, "special": t != "y"} for t in (NEXT_START, "y", IM_END)]
    data = {"generated_text": "y", "details": {"finish_reason": "eos_token", "generated_tokens": 3, "tokens": tokens}}
    assert read_answer(wire, data, rules_for("tgi")).choices == [(f"{NEXT_START}y", "stop")]
    stopped = {"generated_text": "y###", "details": {"finish_reason": "stop_sequence", "tokens": [], "prefill": []}}
    assert read_answer(wire, [stopped], rules_for("tgi")).choices == [("y", "stop")]


def test_vllm_answer_is_read_as_sent():
    text = f"{SEARCH_AND_REPLACE}\n{NEXT_START}x{NEXT_END}"
    choice = {"message": {"content": text}, "finish_reason": "stop"}
    data = {"choices": [choice, choice], "usage": {"completion_tokens": 8}}
    assert read_answer(shape(SOI, RULES["vllm"], "m", n=2), data, RULES["vllm"]).choices == [(text, "stop")] * 2


ordinary = st.text(st.characters(blacklist_characters="<|>"), min_size=1, max_size=8)
special = st.sampled_from(SPECIAL_TOKENS)


@given(st.lists(st.one_of(ordinary.map(lambda t: (t, False)), special.map(lambda t: (t, True))), max_size=12))
def test_rebuilding_from_token_texts_restores_every_special_token(tokens):
    content = "".join(text for text, is_special in tokens if not is_special)
    full = "".join(text for text, _ in tokens)
    assert rebuild_text(content, [text for text, _ in tokens], end_on_special=False, stops=()) == full
    # an answer that stopped on a special token: that one is the end-of-sequence token and stays out
    if tokens and tokens[-1][1]:
        rebuilt = rebuild_text(content, [text for text, _ in tokens], end_on_special=True, stops=())
        assert rebuilt == full[: -len(tokens[-1][0])]


def test_tokens_that_cannot_be_laid_along_the_text_leave_it_as_the_server_gave_it():
    assert rebuild_text("a b", ["a", "  b"], end_on_special=False, stops=()) == "a b"
