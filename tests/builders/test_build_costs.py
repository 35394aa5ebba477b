"""What a build pays for, with the session's SmolLM2 server: a budget stops it cleanly and a higher one resumes it
without paying twice; an assembly-only change reuses every synthesis stage."""

import asyncio
import dataclasses
import sqlite3
from pathlib import Path

import pytest

from cursorcore.builders import programming_instruct as pi
from cursorcore.builders.hub import dataset_folder
from cursorcore.builders.spending import LEDGER, OverBudget, limited
from cursorcore.builders.versions import versions
from cursorcore.processing.llm import LLMClient, LLMConfig
from cursorcore.processing.llm.budget import Budget, BudgetExhausted

WORK = Path(".work") / pi.REPO_ID


def tiny_config(llm_server, **changes) -> pi.Config:
    """The online-judge kind on two trajectories: a few dozen short requests."""
    llm = dataclasses.asdict(llm_server.endpoint_config()) | changes.pop("llm", {})
    return pi.Config(kinds=["oj"], inputs_per_kind={"oj": 2}, llm=llm, **changes)


def cached_answers(hub: Path) -> int:
    total = 0
    for path in (hub / WORK / "llm-cache").glob("*.sqlite"):
        with sqlite3.connect(path) as db:
            total += db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    return total


def test_a_spent_budget_stops_the_build_and_a_higher_one_resumes_it_paying_nothing_twice(llm_server, tmp_path):
    with pytest.raises(OverBudget, match=r"llm\.max_requests = 3 is used up .*Nothing was released"):
        pi.build(tiny_config(llm_server, llm={"max_requests": 3}), hub=tmp_path)
    assert versions(dataset_folder(pi.REPO_ID, tmp_path)) == []  # nothing half-released
    (ledger,) = (tmp_path / WORK).glob(f"*/{LEDGER}")
    assert Budget(ledger).spent().requests == 3 == cached_answers(tmp_path)  # the paid answers were kept

    report = pi.build(tiny_config(llm_server, llm={"max_requests": 10_000}), hub=tmp_path)
    assert report.version == "v0.1.0"
    assert list((tmp_path / WORK).glob(f"*/{LEDGER}")) == [ledger]  # the budget is not part of the work key
    counters = report.stats["synthesis-oj/Model call:  LLM rollouts"]
    assert counters["llm_cache_hits"] >= 3
    # every request was paid once: the ledger counts as many as the cache holds answers, those of both runs
    assert Budget(ledger).spent().requests == cached_answers(tmp_path) == 3 + counters["llm_calls"]
    # and the resumed synthesis lost no input row on the way
    assert all(stage["unaccounted"] == 0 for stage in report.accounting["oj"].values()), report.accounting


def test_an_assembly_only_change_reuses_synthesis(llm_server, tmp_path):
    first = pi.build(tiny_config(llm_server, test_fraction=0.0), hub=tmp_path)
    (synthesis,) = (tmp_path / WORK / "synthesis").glob("oj-*")
    markers = {path: path.stat().st_mtime_ns for path in synthesis.glob("logs/*/*") if path.is_file()}
    assert any("completions" in str(path) for path in markers) and any("stats" in str(path) for path in markers)
    answers = cached_answers(tmp_path)

    second = pi.build(tiny_config(llm_server, test_fraction=1.0), hub=tmp_path)
    assert list((tmp_path / WORK / "synthesis").glob("oj-*")) == [synthesis]
    assert {path: path.stat().st_mtime_ns for path in markers} == markers  # no synthesis task ran again
    assert cached_answers(tmp_path) == answers  # and no request was sent
    assert second.stats["synthesis-oj/SELECT: inputs"] == first.stats["synthesis-oj/SELECT: inputs"]
    kept = {name: n for name, n in first.rows.items() if not name.startswith("rejected/")}
    assert kept, "SmolLM2 verified no online-judge sample: nothing to split"
    assert all(name.endswith("/train") for name in kept)
    assert {name: n for name, n in second.rows.items() if not name.startswith("rejected/")} == {
        name.replace("/train", "/test"): n for name, n in kept.items()
    }


def test_the_questioner_spends_from_the_builds_budget_with_a_cache_of_its_own(llm_server, tmp_path):
    build = limited(
        llm_server.endpoint_config(cache_path=str(tmp_path / "llm-cache" / "{rank:05d}.sqlite")),
        LLMConfig(max_requests=2),
        tmp_path,
    )
    questioner = pi.second_model(llm_server.endpoint_config(), build, "questioner")
    assert questioner.cache_path == str(tmp_path / "llm-cache" / "questioner-{rank:05d}.sqlite")

    async def ask(config: LLMConfig, letter: str) -> None:
        async with LLMClient.from_config(config, llm_server.base_url, llm_server.served_model) as client:
            await client.chat([{"role": "user", "content": f"A fruit starting with {letter}?"}], max_tokens=4)

    asyncio.run(ask(build, "A"))
    asyncio.run(ask(questioner, "B"))
    with pytest.raises(BudgetExhausted, match=r"llm\.max_requests = 2"):  # the build's budget covers both models
        asyncio.run(ask(questioner, "C"))
    asyncio.run(ask(questioner, "B"))  # answered from the questioner's own cache: free
    assert Budget(tmp_path / LEDGER).spent().requests == 2
    assert sorted(path.name for path in (tmp_path / "llm-cache").iterdir() if path.suffix == ".sqlite") == [
        "00000.sqlite",
        "questioner-00000.sqlite",
    ]


def test_a_questioner_with_a_budget_of_its_own_is_refused_when_the_config_loads():
    questioner = {"backend": "endpoint", "endpoint_url": "http://127.0.0.1:9", "max_requests": 10}
    with pytest.raises(ValueError, match=r"synthesis of 'aiev': the questioner spends from the build's LLM budget"):
        pi.Config(kinds=["aiev"], synthesis={"aiev": {**pi.DEFAULT_SYNTHESIS["aiev"], "questioner": questioner}})
