"""The optional docstring judge of seed functions: prompt, request, verdicts, and the judged build with a real LLM."""

import asyncio
import gzip
import json
import random
from pathlib import Path

import pytest
from datatrove.data import Document

from cursorcore.builders.hub import dataset_folder
from cursorcore.builders.spending import LEDGER, OverBudget
from cursorcore.builders.stack_seeds import REPO_ID, Config, build, work_folder
from cursorcore.builders.versions import versions
from cursorcore.processing.llm.budget import Budget
from cursorcore.processing.llm.client import Choice, Generation
from cursorcore.processing.sources.docstring_judge import (
    SHOTS,
    JudgeConfig,
    judge_prompt,
    judge_rollout,
    split_docstring,
    verdict,
)

SEED = (
    "import math\n\n\ndef area(r: float) -> float:\n"
    '    """Area of a circle of radius r."""\n'
    "    return math.pi * r * r\n"
)

# Answers to this prompt (greedy, 5 tokens, stopped at the line break). SmolLM2-135M-Instruct through llama.cpp's
# completion route answered " Yes" (area, double) and " No" (a one-word docstring of a set difference) on
# 2026-12-05; the others are the shapes a 5-token answer can take
RECORDED = [
    (" Yes", True),
    (" No", False),
    (" yes, it is", True),
    (" Yes. No other", True),  # the first word decides; SelfCodeAlign's count would call this a tie (No)
    (" No, yes it", False),
    (" I think yes", True),
    (" Nope", False),  # neither word: No
    ("", False),
    (" Y", False),
]


def test_the_prompt_hides_the_docstring_and_ends_where_the_verdict_goes():
    code, doc = split_docstring(SEED)
    assert code == "import math\n\n\ndef area(r: float) -> float:\n    return math.pi * r * r"
    assert doc == "Area of a circle of radius r."
    prompt = judge_prompt(SEED, random.Random(0))
    assert prompt.count("My answer is: Yes\n") + prompt.count("My answer is: No\n") == len(SHOTS) == 7
    assert prompt.endswith("My answer is:") and f"```python\n{code}\n```" in prompt
    assert '"""' not in prompt.split("My description:")[-1]


def test_the_examples_are_shuffled_per_seed_and_reproducibly():
    orders = {judge_prompt(SEED, random.Random(seed)) for seed in range(6)}
    assert len(orders) > 1
    assert judge_prompt(SEED, random.Random("0/a")) == judge_prompt(SEED, random.Random("0/a"))
    assert all(reason in next(iter(orders)) for *_, reason in SHOTS)


@pytest.mark.parametrize(("answer", "keep"), RECORDED)
def test_a_recorded_answer_is_read_by_its_first_yes_or_no(answer, keep):
    assert verdict(answer) is keep


class Recorder:
    """A `generate` that records the request and answers with recorded texts."""

    def __init__(self, *texts: str):
        self.texts, self.requests = texts, []

    async def __call__(self, payload):
        self.requests.append(payload)
        return Generation.from_choices([Choice(text, "stop") for text in self.texts], {})


def judge(config: JudgeConfig, *texts: str) -> tuple[dict, dict]:
    generate = Recorder(*texts)
    result = asyncio.run(judge_rollout(Document(text=SEED, id="s1"), generate, config=config))
    return result, generate.requests[0]


def test_one_greedy_completion_of_at_most_five_tokens_stopped_at_the_line_break_by_default():
    result, request = judge(JudgeConfig(), " Yes")
    assert result == {"keep": True, "votes": [True], "answers": [" Yes"]}
    assert "messages" not in request and request["prompt"].endswith("My answer is:")
    assert (request["max_tokens"], request["temperature"], request["stop"], request["n"]) == (5, 0.0, ["\n"], 1)


def test_several_votes_are_sampled_and_the_majority_decides():
    config = JudgeConfig(votes=3, temperature=0.7)
    result, request = judge(config, " Yes", " No", " yes")
    assert (result["keep"], result["votes"], request["n"]) == (True, [True, False, True], 3)
    assert judge(config, " No", " Yes", " Nope")[0]["keep"] is False
    assert judge(JudgeConfig(votes=2, temperature=0.7), " Yes", " No")[0]["keep"] is False  # a tie is No


def test_several_greedy_votes_are_refused():
    with pytest.raises(ValueError, match="temperature above 0"):
        JudgeConfig(votes=3)


def test_an_unparseable_seed_is_rejected_without_a_request():
    generate = Recorder(" Yes")
    result = asyncio.run(judge_rollout(Document(text="def broken(:\n", id="x"), generate, config=JudgeConfig()))
    assert result["rejected"] == "unparseable_seed" and not generate.requests


def test_the_completion_request_works_on_a_real_server(llm_server):
    async def ask():
        async with llm_server.client() as client:
            return await judge_rollout(Document(text=SEED, id="s1"), client.complete, config=JudgeConfig())

    result = asyncio.run(ask())
    (answer,) = result["answers"]
    assert "\n" not in answer and len(answer) <= 5 * 16  # stopped at the line break, 5 tokens at most
    assert result["votes"] == [verdict(answer)] and result["keep"] is verdict(answer)


def two_seeds(folder: Path) -> Path:
    """A source folder with two seed functions: two judge requests."""
    folder.mkdir()
    double = 'def double(x: int) -> int:\n    """Twice x."""\n    return 2 * x\n'
    (folder / "geometry.py").write_text(f"{SEED}\n\n{double}")
    return folder


def test_judged_build_records_every_verdict(llm_server, tmp_path, benchmark_paths):
    source = two_seeds(tmp_path / "src")
    llm = llm_server.endpoint_config(cache_path=str(tmp_path / "cache.sqlite")).to_dict()
    config = Config(
        local_paths=[str(source)], benchmark_paths=benchmark_paths, typecheck=False, judge=True, llm=llm, tasks=1
    )
    report = build(config, hub=tmp_path / "hub")
    verdicts = report.stats["verdict/FILTER: docstring judge"]
    assert verdicts["total"] == 2 and verdicts.get("forwarded", 0) + verdicts.get("dropped_judge_no", 0) == 2
    judged = work_folder(config, tmp_path / "hub") / "judged"
    rows = [json.loads(line) for path in judged.glob("*.jsonl*") for line in _lines(path)]
    assert all(len(row["metadata"]["rollout_results"][0]["votes"]) == 1 for row in rows)
    assert report.rows["train"] == verdicts.get("forwarded", 0)


def _lines(path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return [line for line in handle if line.strip()]


def test_a_judged_build_stops_at_its_budget_and_resumes_without_asking_twice(llm_server, tmp_path, benchmark_paths):
    source = two_seeds(tmp_path / "src")
    llm = llm_server.endpoint_config(cache_path=str(tmp_path / "cache.sqlite")).to_dict()
    settings = dict(local_paths=[str(source)], benchmark_paths=benchmark_paths, typecheck=False, judge=True, tasks=1)
    hub = tmp_path / "hub"
    with pytest.raises(OverBudget, match=r"llm\.max_requests = 1 is used up"):
        build(Config(**settings, llm={**llm, "max_requests": 1}), hub=hub)
    assert not versions(dataset_folder(REPO_ID, hub))  # nothing released

    report = build(Config(**settings, llm={**llm, "max_requests": 2}), hub=hub)
    assert report.stats["verdict/FILTER: docstring judge"]["total"] == 2
    ledger = Budget(work_folder(Config(**settings, llm=llm), hub) / LEDGER)
    assert ledger.spent().requests == 2  # the first verdict came from the cache on the rerun
