"""The client against TGI's rules: the TGI stand-in (its router's validation, overload and cold start, after TGI's
source) in front of the real llama.cpp server with SmolLM2, and the special-token round trip per server."""

import asyncio
import signal
import subprocess
import sys

import httpx2
import pytest
from datatrove.data import Document
from loguru import logger

from cursorcore.processing.llm import (
    EndpointBackend,
    LLMClient,
    LLMConfig,
    LLMRequestError,
    RolloutRunner,
    chunked_jsonl_writer,
    reject,
)
from cursorcore.processing.llm.process import free_port
from cursorcore.tokens import IM_END, NEXT_END, NEXT_START, SEARCH_AND_REPLACE
from tests.processing.llm.test_runtime import run_pipeline, total

MESSAGES = [{"role": "user", "content": "Write a Python function that adds two numbers."}]
STOPS = ["\n\n\n", "###", "</response>", "<|endoftext|>", "\nEND", "Q:"]
# a few-shot echo: greedy SmolLM2 answers with CursorCore's tokens, which a CursorCore tokenizer makes special
ECHO = [
    {"role": "user", "content": f"Echo: {NEXT_START}print(1){NEXT_END}"},
    {"role": "assistant", "content": f"{NEXT_START}print(1){NEXT_END}"},
    {"role": "user", "content": f"Echo: {NEXT_START}x = 2{NEXT_END}"},
]


def run(url: str, calls, **options):
    """Run `calls(client)` with a fresh client; its result and the client's stats."""

    async def go():
        async with LLMClient(url, "tgi", backoff_initial=0.05, backoff_max=0.5, **options) as client:
            return await calls(client), client.stats

    return asyncio.run(go())


def test_shaped_requests_pass_tgi_validation(standin):
    tgi = standin(max_stop_sequences=2)  # the client learns the limit from /info

    async def calls(client):
        # Self-OSS-Instruct (top_p 1.0, n samples, more stops than TGI takes), the AI programmer (greedy with a
        # top_p), and a plain prompt at temperature 0 (TGI's /generate wants temperature > 0)
        soi = await client.chat(MESSAGES, max_tokens=12, temperature=0.7, top_p=1.0, n=3, seed=5, stop=STOPS)
        greedy = await client.chat(MESSAGES, max_tokens=12, temperature=0.0, top_p=0.95)
        prompt = await client.text_generation("def add(a, b):", max_tokens=8, temperature=0, top_p=1.0, n=2)
        return soi, greedy, prompt

    (soi, greedy, prompt), stats = run(tgi.url, calls)
    assert len(soi.texts) == 3 and len(set(soi.texts)) > 1 and greedy.text and len(prompt.texts) == 2
    assert not tgi.stats.validation and stats.validation_errors == 0 and stats.failures == 0
    # TGI ignores `n`: the samples are single requests (and greedy samples of one prompt are one answer)
    assert tgi.stats.served == stats.requests == 3 + 1 + 2


@pytest.mark.parametrize(
    ("route", "body", "reason"),
    [
        ("/v1/chat/completions", {"messages": MESSAGES, "top_p": 1.0}, "`top_p` must be > 0.0 and < 1.0"),
        ("/generate", {"inputs": "x", "parameters": {"temperature": 0}}, "`temperature` must be strictly positive"),
        ("/v1/chat/completions", {"messages": MESSAGES, "stop": STOPS}, "`stop` supports up to 4 stop sequences"),
        ("/generate", {"inputs": "x", "parameters": {"best_of": 2, "seed": 1, "do_sample": True}}, "`seed` must not"),
        ("/generate", {"inputs": "x", "parameters": {"best_of": 2}}, "you must use sampling when `best_of` is > 1"),
        ("/generate", {"inputs": "x", "parameters": {"max_new_tokens": 0}}, "`max_new_tokens` must be strictly"),
        ("/generate", {"inputs": "", "parameters": {}}, "`inputs` cannot be empty"),
        ("/generate", {"inputs": "word " * 300, "parameters": {}}, "`inputs` tokens + `max_new_tokens` must be <="),
    ],
)
def test_the_standin_refuses_what_tgi_refuses(standin, route, body, reason):
    tgi = standin(max_input_tokens=200, max_total_tokens=256)
    response = httpx2.post(tgi.url + route, json=body, timeout=60, trust_env=False)
    assert response.status_code == 422
    assert response.json()["error_type"] == "validation"
    assert response.json()["error"].startswith(f"Input validation error: {reason}")


def test_a_forced_bad_setting_is_counted_with_tgis_reason_and_not_retried(standin):
    tgi = standin()

    async def calls(client):
        with pytest.raises(LLMRequestError) as error:
            await client.chat(MESSAGES, max_tokens=8, temperature=0.7, top_p=1.0)
        return error.value

    # `server: openai` forces the request through unshaped, as a client that did not know the server would
    error, stats = run(tgi.url, calls, server="openai")
    assert (error.status, error.reason) == (422, "validation") and "`top_p` must be > 0.0 and < 1.0" in str(error)
    assert (stats.validation_errors, stats.requests, stats.retries) == (1, 1, 0)
    assert stats.refusals == {"Input validation error: `top_p` must be > 0.0 and < 1.0": 1}
    assert sum(tgi.stats.validation.values()) == 1


def test_a_prompt_too_long_for_tgi_is_counted_as_such(standin):
    tgi = standin(max_input_tokens=64, max_total_tokens=128)

    async def calls(client):
        with pytest.raises(LLMRequestError) as error:
            await client.chat([{"role": "user", "content": "word " * 100}], max_tokens=8)
        return error.value

    error, stats = run(tgi.url, calls)
    assert error.reason == "prompt_too_long" and "`inputs` must have less than 64 tokens. Given: " in str(error)
    assert (stats.prompt_too_long, stats.validation_errors, stats.retries) == (1, 0, 0)


def test_overload_429s_are_absorbed_and_counted(standin):
    tgi = standin(max_concurrent_requests=1)

    async def calls(client):
        prompts = [[{"role": "user", "content": f"Name {k} colors."}] for k in range(2, 6)]
        return await asyncio.gather(*(client.chat(p, max_tokens=6, temperature=0.5, top_p=1.0) for p in prompts))

    answers, stats = run(tgi.url, calls, max_retries=0)  # 429s never use up max_retries
    assert all(answer.text for answer in answers)
    assert tgi.stats.overloaded > 0 and stats.overload_waits == stats.retries == tgi.stats.overloaded
    assert stats.failures == 0


def test_cold_start_503s_are_absorbed(standin):
    tgi = standin(cold_start_requests=4)
    answer, stats = run(tgi.url, lambda client: client.chat(MESSAGES, max_tokens=6, top_p=1.0), max_retries=0)
    assert answer.text and tgi.stats.cold == 4 and stats.overload_waits == 4 and stats.failures == 0


def test_an_endpoint_is_waited_for_before_the_first_request_with_progress(standin):
    tgi = standin(cold_start_requests=3)
    lines: list[str] = []
    sink = logger.add(lines.append, level="INFO", format="{message}")
    try:
        EndpointBackend(LLMConfig(backend="endpoint", endpoint_url=tgi.url, server="tgi", startup_timeout=120)).start()
    finally:
        logger.remove(sink)
    assert tgi.stats.cold == 3 and tgi.stats.served == 0
    waiting = [line for line in lines if line.startswith(f"waiting for {tgi.url}: /health answers 503")]
    assert len(waiting) == 3


def test_an_endpoint_that_never_wakes_is_a_clear_start_error(standin):
    from cursorcore.processing.llm import ServerStartError

    tgi = standin(cold_start_requests=1000)
    config = LLMConfig(backend="endpoint", endpoint_url=tgi.url, server="tgi", startup_timeout=2)
    with pytest.raises(ServerStartError, match=rf"{tgi.url} is not ready after \d+s: /health answers 503"):
        EndpointBackend(config).start()


def test_special_tokens_survive_tgi_through_token_details(standin):
    tgi = standin()

    async def calls(client):
        chat = await client.chat(ECHO, max_tokens=30, temperature=0)
        prompt = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in ECHO)
        generated = await client.text_generation(prompt + "<|im_start|>assistant\n", max_tokens=30, temperature=0)
        short = await client.chat([{"role": "user", "content": "Say hi."}], max_tokens=60, temperature=0)
        return chat, generated, short

    (chat, generated, short), _ = run(tgi.url, calls)
    assert chat.text.startswith(NEXT_START) and NEXT_END in chat.text
    assert generated.text.startswith(NEXT_START) and NEXT_END in generated.text
    # the end-of-sequence token TGI lists after the answer is not part of it
    assert short.finish_reason == "stop" and IM_END not in short.text

    # without the token details, TGI's text has lost them (this is what the stand-in, like TGI, sends)
    (chat, generated, _), _ = run(tgi.url, calls, keep_special_tokens=False)
    assert NEXT_START not in chat.text and NEXT_START not in generated.text


def test_special_tokens_survive_llama_cpp(llm_server):
    """llama.cpp end to end: a grammar makes SmolLM2 write CursorCore's tokens (plain text to its tokenizer, so this
    proves the request and the answer path, not a special-token switch: llama-cpp-python has none)."""
    grammar = f'root ::= "{SEARCH_AND_REPLACE}\\n{NEXT_START}" [a-z =0-9]+ "{NEXT_END}"'

    async def calls(client):
        return await client.chat(ECHO, max_tokens=40, temperature=0, grammar=grammar)

    answer, _ = run(llm_server.base_url, calls, server="llama.cpp")
    assert answer.text.startswith(f"{SEARCH_AND_REPLACE}\n{NEXT_START}") and answer.text.endswith(NEXT_END)


async def top_p_rollout(document, generate):
    """A synthesis step that turns a refused request into a rejection, as the synthesis kinds do."""
    request = {
        "messages": [{"role": "user", "content": document.text}],
        "max_tokens": 4,
        "top_p": document.metadata["top_p"],
    }
    try:
        return {"text": (await generate(request)).text}
    except LLMRequestError as error:
        return reject("llm_request_error", str(error))


def test_refusals_and_overload_waits_reach_the_step_stats(standin, tmp_path):
    tgi = standin(max_concurrent_requests=1)
    # `server: openai` forces the settings through unshaped: top_p 1.0 is refused, 0.9 is fine
    llm = LLMConfig(backend="endpoint", endpoint_url=tgi.url, server="openai", max_concurrency=4, backoff_max=0.2)
    documents = [Document(text=f"Say {k}.", id=str(k), metadata={"top_p": 1.0 if k % 2 else 0.9}) for k in range(6)]
    step = RolloutRunner(top_p_rollout, llm, chunked_jsonl_writer(tmp_path / "out", compression=None), tmp_path / "c")
    stats = run_pipeline(step, documents, tmp_path / "logs")
    assert total(stats, "llm_validation") == total(stats, "rejected_llm_request_error") == 3
    assert total(stats, "llm_calls") == 3
    assert total(stats, "llm_overload_waits") == tgi.stats.overloaded > 0
    assert total(stats, "llm_retries") == tgi.stats.overloaded


def test_the_standin_runs_from_the_command_line_for_rehearsals(llm_server):
    port = free_port()
    command = [sys.executable, "-m", "cursorcore.processing.llm.tgi_standin", "--upstream", llm_server.base_url]
    command += ["--port", str(port), "--max-stop-sequences", "3", "--cold-start-requests", "1"]
    # started as a shell's `&` job is: with SIGINT ignored, which must not keep Ctrl-C from stopping it
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        url = f"http://127.0.0.1:{port}"
        EndpointBackend(LLMConfig(backend="endpoint", endpoint_url=url, server="tgi", startup_timeout=60)).start()
        info = httpx2.get(f"{url}/info", trust_env=False).json()
        assert (info["max_stop_sequences"], info["router"]) == (3, "text-generation-router")
        answer, stats = run(url, lambda client: client.chat(MESSAGES, max_tokens=4, top_p=1.0, stop=STOPS))
        assert answer.text and stats.validation_errors == 0
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "'served': 1" in output and "'cold': 1" in output
