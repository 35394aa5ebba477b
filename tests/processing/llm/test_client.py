"""LLMClient against the real llama.cpp server (SmolLM2-135M-Instruct); failures are injected by a real proxy."""

import asyncio
import os
import signal

import pytest

from cursorcore.processing.llm import (
    Choice,
    LlamaCppBackend,
    LLMClient,
    LLMConfig,
    LLMRequestError,
    LLMTimeoutError,
    LLMUnavailableError,
)
from cursorcore.processing.llm.process import free_port

HELLO = [{"role": "user", "content": "Write a Python function that adds two numbers."}]
OPEN = [{"role": "user", "content": "Write one sentence about the sea."}]  # many likely answers: samples differ


def ask(url, model, *, messages=HELLO, **options):
    """Send `messages` through a fresh client (LLMClient `options`); the answer and the client's stats."""
    params = {"max_tokens": 8, "temperature": 0, **options.pop("params", {})}

    async def go():
        async with LLMClient(url, model, **options) as client:
            return await client.chat(messages, **params), client.stats

    return asyncio.run(go())


def test_chat_completion_returns_text_and_token_usage(llm_server):
    answer, stats = ask(llm_server.base_url, llm_server.served_model, params={"max_tokens": 12})
    assert answer.text.strip() and answer.finish_reason in ("stop", "length")
    assert answer.choices == [Choice(answer.text, answer.finish_reason)]
    assert answer.usage["prompt_tokens"] > 0 and 0 < answer.usage["completion_tokens"] <= 12
    assert (stats.requests, stats.cache_hits, stats.completion_tokens) == (1, 0, answer.usage["completion_tokens"])


def test_n_samples_per_prompt(llm_server):
    params = {"max_tokens": 10, "temperature": 1.0, "seed": 7, "n": 3}
    answer, stats = ask(llm_server.base_url, llm_server.served_model, messages=OPEN, params=params)
    assert len(answer.choices) == 3 and len(set(answer.texts)) > 1 and answer.text == answer.texts[0]
    assert answer.usage["completion_tokens"] <= 30
    # llama.cpp answers one choice whatever `n` says: the probe plus two requests with derived seeds
    assert stats.requests == 3


def test_temperature_zero_with_a_seed_is_deterministic(llm_server):
    url, model = llm_server.base_url, llm_server.served_model
    other = [{"role": "user", "content": "Name a color."}]
    # the second request follows another prompt: llama.cpp re-evaluates the prompt instead of reusing its KV cache
    first = ask(url, model, params={"seed": 3, "max_tokens": 16})[0].text
    ask(url, model, messages=other)
    assert ask(url, model, params={"seed": 3, "max_tokens": 16})[0].text == first
    # while sampled answers differ from seed to seed
    draws = {ask(url, model, messages=OPEN, params={"seed": s, "temperature": 1.0})[0].text for s in (11, 12, 13)}
    assert len(draws) > 1


def test_a_cache_hit_makes_no_http_call(llm_server, proxy, tmp_path):
    counting = proxy(llm_server.base_url)
    cache = tmp_path / "calls.sqlite"
    first, stats = ask(counting.url, llm_server.served_model, cache=cache, params={"seed": 1})
    assert counting.posts() == 1 and not first.cached and stats.requests == 1

    # a rerun: a new client on the same cache file answers without any request
    second, stats = ask(counting.url, llm_server.served_model, cache=cache, params={"seed": 1})
    assert counting.posts() == 1 and second.cached and second == first
    assert (stats.requests, stats.cache_hits) == (0, 1)

    counting.close()  # nothing listens any more: a hit still answers, a miss has to go out and fails
    third, _ = ask(counting.url, llm_server.served_model, cache=cache, params={"seed": 1})
    assert third.text == first.text
    with pytest.raises(LLMUnavailableError):
        ask(counting.url, llm_server.served_model, cache=cache, max_retries=0, params={"seed": 2})


def test_429_5xx_and_dropped_connections_are_retried(llm_server, proxy):
    flaky = proxy(llm_server.base_url, failures=[429, 503, None, 500])
    answer, stats = ask(flaky.url, llm_server.served_model, server="llama.cpp", max_retries=2, backoff_initial=0.05)
    assert answer.text
    # 429 and 503 are waited out apart from max_retries, which only the dropped connection and the 500 count against
    assert flaky.posts() == 5 and (stats.retries, stats.overload_waits, stats.requests) == (4, 2, 5)


def test_exhausted_retries_raise_a_clear_error(llm_server, proxy):
    down = proxy(llm_server.base_url, failures=[500, 502, 500])
    with pytest.raises(LLMUnavailableError, match=r"failed after 3 attempt\(s\) in .*500") as error:
        ask(down.url, llm_server.served_model, server="llama.cpp", max_retries=2, backoff_initial=0.05)
    assert down.url in str(error.value) and down.posts() == 3


def test_overload_is_waited_out_up_to_the_total_wait_bound(llm_server, proxy):
    busy = proxy(llm_server.base_url, failures=[429] * 12 + [503] * 3)
    options = {"server": "llama.cpp", "max_retries": 0, "backoff_initial": 0.01, "backoff_max": 0.05}
    answer, stats = ask(busy.url, llm_server.served_model, **options)
    assert answer.text and stats.overload_waits == 15 and busy.posts() == 16  # max_retries=0 did not stop it

    waking = proxy(llm_server.base_url, failures=[503] * 100)
    with pytest.raises(LLMUnavailableError, match=r"failed after 503 answers for \d"):
        ask(waking.url, llm_server.served_model, server="llama.cpp", backoff_initial=0.1, overload_wait=0.5)
    assert 1 < waking.posts() < 100


def test_a_rejected_request_is_counted_with_its_reason_and_not_retried(llm_server, proxy):
    refusing = proxy(llm_server.base_url, failures=[400])
    with pytest.raises(LLMRequestError, match="injected 400") as error:
        ask(refusing.url, llm_server.served_model, server="llama.cpp", backoff_initial=0.05)
    assert (error.value.status, error.value.reason) == (400, "validation") and refusing.posts() == 1


def test_a_prompt_longer_than_the_context_is_counted_as_such(llm_server):
    long = [{"role": "user", "content": "word " * 5000}]  # the session server's context is 4096 tokens

    async def go():
        async with LLMClient(llm_server.base_url, llm_server.served_model, server="llama.cpp") as client:
            with pytest.raises(LLMRequestError) as error:
                await client.chat(long, max_tokens=8)
            return error.value, client.stats

    error, stats = asyncio.run(go())
    assert (error.status, error.reason) == (400, "prompt_too_long") and "maximum context length" in str(error)
    assert (stats.prompt_too_long, stats.validation_errors, stats.requests, stats.retries) == (1, 0, 1, 0)


def test_a_request_that_times_out(llm_server):
    with pytest.raises(LLMTimeoutError, match=r"2 attempt\(s\).*no answer within the 0\.2s request timeout"):
        ask(
            llm_server.base_url,
            llm_server.served_model,
            request_timeout=0.2,
            max_retries=1,
            backoff_initial=0.05,
            params={"max_tokens": 64},
        )


def test_server_killed_mid_run_health_checks_then_a_clear_error_or_resume_after_restart(llm_server, tmp_path):
    config = LLMConfig(backend="local", server_log_dir=str(tmp_path))
    port = free_port()
    prompts = [[{"role": "user", "content": f"Name {k} fruits."}] for k in range(2, 6)]
    expected = [ask_once(llm_server, messages) for messages in prompts]  # the same model on the session server

    async def scenario():
        server = await asyncio.to_thread(LlamaCppBackend(config, port=port).start)
        url, model = server.base_url, server.served_model
        patient = LLMClient(url, model, server="llama.cpp", backoff_initial=0.25, backoff_max=1, server_gone_wait=120)
        hasty = LLMClient(url, model, server="llama.cpp", backoff_initial=0.05, server_gone_wait=0.5)
        async with patient, hasty:
            tasks = [asyncio.create_task(patient.chat(m, max_tokens=24, temperature=0)) for m in prompts]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            os.killpg(server.process.process.pid, signal.SIGKILL)
            with pytest.raises(LLMUnavailableError, match=r"server is gone .*is the server running.*resumes"):
                await hasty.chat(prompts[0], max_tokens=24, temperature=0)
            restarted = await asyncio.to_thread(LlamaCppBackend(config, port=port).start)
            try:
                answers = await asyncio.gather(*tasks)
            finally:
                restarted.stop()
            return answers, patient.stats

    answers, stats = asyncio.run(scenario())
    assert [a.text for a in answers] == expected
    assert stats.retries >= 1 and stats.failures == 0


def ask_once(backend, messages):
    async def go():
        async with backend.client() as client:
            return (await client.chat(messages, max_tokens=24, temperature=0)).text

    return asyncio.run(go())
