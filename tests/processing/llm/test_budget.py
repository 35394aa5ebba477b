"""The LLM budget: one ledger that processes spend from at once, and the client that stops sending when it is spent
(against the real llama.cpp server, behind a counting proxy)."""

import asyncio
import multiprocessing

import pytest

from cursorcore.processing.llm import LLMClient, LLMConfig
from cursorcore.processing.llm.budget import Budget, BudgetExhausted

QUESTIONS = [[{"role": "user", "content": f"Name a fruit starting with {letter}."}] for letter in "ABCDEF"]


def spend_until_stopped(path: str, max_requests: int, sent) -> None:
    budget = Budget(path, max_requests=max_requests)
    try:
        while True:
            budget.reserve()
            with sent.get_lock():
                sent.value += 1
    except BudgetExhausted:
        budget.close()


def test_processes_spending_from_one_ledger_never_pass_its_limit(tmp_path):
    path = str(tmp_path / "ledger.sqlite")
    context = multiprocessing.get_context("spawn")
    sent = context.Value("i", 0)
    workers = [context.Process(target=spend_until_stopped, args=(path, 150, sent)) for _ in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
    assert [process.exitcode for process in workers] == [0] * 4
    assert sent.value == 150 and Budget(path, 150).spent().requests == 150
    # a higher limit on the same ledger allows the difference only
    raised = Budget(path, max_requests=160)
    for _ in range(10):
        raised.reserve()
    with pytest.raises(BudgetExhausted, match=r"llm.max_requests = 160 is used up \(160 spent"):
        raised.reserve()


def test_output_tokens_stop_new_requests_once_reached(tmp_path):
    budget = Budget(tmp_path / "ledger.sqlite", max_output_tokens=100)
    budget.reserve()
    budget.add_output_tokens(99)
    budget.reserve()  # 99 < 100: one more may go
    budget.add_output_tokens(30)
    assert budget.exhausted() is not None and budget.exhausted().limit == "max_output_tokens"
    with pytest.raises(BudgetExhausted, match="max_output_tokens = 100"):
        budget.reserve()
    assert budget.spent().requests == 2


def test_a_negative_limit_is_refused():
    with pytest.raises(ValueError, match="max_requests must be >= 0"):
        LLMConfig(max_requests=-1)


def ask_all(config: LLMConfig, base_url: str, model: str):
    """Every question at once through one client; the answers, and the errors where it stopped."""

    async def go():
        async with LLMClient.from_config(config, base_url, model) as client:
            requests = [client.chat(question, max_tokens=4, temperature=0) for question in QUESTIONS]
            return await asyncio.gather(*requests, return_exceptions=True)

    return asyncio.run(go())


def test_the_client_stops_at_the_budget_and_cached_answers_cost_nothing(llm_server, proxy, tmp_path):
    counting = proxy(llm_server.base_url)
    config = LLMConfig(
        backend="endpoint",
        endpoint_url=counting.url,
        server="llama.cpp",
        max_concurrency=2,
        cache_path=str(tmp_path / "cache.sqlite"),
        max_requests=3,
        budget_path=str(tmp_path / "ledger.sqlite"),
    )
    results = ask_all(config, counting.url, llm_server.served_model)
    answered = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(answered) == 3 and counting.posts() == 3  # never past the budget
    assert all(isinstance(error, BudgetExhausted) and "llm.max_requests = 3" in str(error) for error in refused)

    # the same questions with a budget of 5: the 3 answered come from the cache, free; 2 more are sent
    results = ask_all(LLMConfig(**{**config.to_dict(), "max_requests": 5}), counting.url, llm_server.served_model)
    assert sum(not isinstance(r, BaseException) for r in results) == 5 and counting.posts() == 5
    assert Budget(tmp_path / "ledger.sqlite").spent().requests == 5
