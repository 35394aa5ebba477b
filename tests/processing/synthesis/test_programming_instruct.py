"""Programming-Instruct synthesis end to end with the real local model (SmolLM2-135M on llama.cpp) and the real
bubblewrap sandbox, on real inputs: stdlib seed functions, commits of a Git repository made here, and the shipped
CodeNet-layout sample.

A 135M model fails most of what it is asked, so the end-to-end tests check the mechanics, not the model: a handful
of inputs, a few attempts each, and at least one verified sample per kind. Where the recipe asks more of the model
than it can give, the test says which knob it turns (and the rules stay the same).
"""

import asyncio
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datatrove.pipeline.readers import ParquetReader

from cursorcore.builders import commit_trajectories, oj_trajectories
from cursorcore.processing.sources.commits import commit_row
from cursorcore.processing.sources.oj import oj_row
from cursorcore.processing.sources.seeds import extract_seeds, stdlib_folder
from cursorcore.processing.synthesis.documents import input_adapter, row_document
from cursorcore.processing.synthesis.programming_instruct import (
    Cut,
    ProgrammingInstructConfig,
    Trajectory,
    failed_check,
    given_instruction,
    row_trajectory,
    synthesize,
)
from cursorcore.processing.synthesis.results import SynthesisResult
from cursorcore.processing.synthesis.trajectory import Plan, code_series
from cursorcore.processing.synthesis.verify import verify_sample
from cursorcore.schema import Sample, Snapshot, Source
from tests.processing.sources.test_commit_git import Repo

# small answers keep a test run short; every rule still applies
SMALL = {
    "max_attempts": 3,
    "aiprogrammer_max_tokens": 256,
    "instruction_max_tokens": 96,
    "judge_max_tokens": 160,
    "chat_max_tokens": 96,
}
REASON_PREFIXES = ("aiprogrammer_", "instruction_", "judge_", "verification_", "no_candidate", "special_token")


def oj_rows() -> list[dict]:
    """The rows `cursorcore build oj-trajectories` makes from the shipped CodeNet-layout sample (C++ and Python)."""
    data = None
    for step in oj_trajectories.pipeline(oj_trajectories.Config()):
        data = step.run(data, 0, 1)
    return [oj_row(None, document) for document in data]


CALC = [
    "def add(a, b):\n    return a + b\n",
    "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
    '"""Arithmetic."""\n\n\ndef add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n',
]
GREET = [
    "def greet(name):\n    print('hi', name)\n",
    "def greet(name):\n    print('Hello,', name)\n",
]


def commit_rows(root: Path) -> list[dict]:
    """Commit-trajectory rows of a repository made here, as `cursorcore build commit-trajectories` writes them."""
    repo = Repo(root)
    for index, message in enumerate(["Add add()", "Add sub()", "Document the module"]):
        repo.commit(message, {"calc.py": CALC[index], **({"greet.py": GREET[index]} if index < 2 else {})})
    data = None
    for step in commit_trajectories.pipeline(commit_trajectories.Config(repos=[str(root)])):
        data = step.run(data, 0, 1)
    return [commit_row(None, document) for document in data]


def seed_rows(names: list[tuple[str, str]]) -> list[dict]:
    """Real stdlib functions, shaped like `cursorcore/stack-seeds` rows (imports, then the function)."""
    rows = []
    for file, name in names:
        for seed in extract_seeds((stdlib_folder() / file).read_text()):
            if seed.name == name:
                content = "\n".join(seed.imports) + ("\n\n\n" if seed.imports else "") + seed.code
                rows.append({"id": f"{file}:{name}", "content": content, "entry_point": name})
    assert len(rows) == len(names)
    return rows


def run(llm_server, sandbox, documents, config) -> list[dict]:
    async def main():
        async with llm_server.client() as client:
            return [await synthesize(d, client.complete, config=config, sandbox=sandbox) for d in documents]

    return asyncio.run(main())


def outcome(results: list[dict]) -> tuple[list[Sample], list[str]]:
    """Verified samples and every rejection reason (whole documents and single candidates)."""
    samples, reasons = [], []
    for result in results:
        if "rejected" in result:
            reasons.append(result["rejected"])
            continue
        parsed = SynthesisResult.from_json(result)
        samples += parsed.samples
        reasons += [rejection.reason for rejection in parsed.rejections]
    return samples, reasons


def assert_verified(sample: Sample, source: str) -> None:
    assert sample.source == source and sample.verification.status == "passed"
    assert {c.name for c in sample.verification.checks} >= {"roundtrip:wf", "roundtrip:lc", "roundtrip:sr", "syntax"}
    assert sample.messages[-1]["role"] == "assistant" and sample.next is not None
    assert Sample.from_row(sample.to_row()) == sample  # the row validates against the schema


# ---------------------------------------------------------------- pure parts


def test_config_defaults_are_cursorcores_and_typos_are_refused():
    config = ProgrammingInstructConfig(loc={"loc_prob": 0.5}, personas=["expert"])
    assert (config.history_prob, config.user_prob, config.split_step_prob) == (0.6, 0.5, 0.5)
    assert (config.temperature, config.top_p, config.max_attempts) == (0.2, 0.95, 5)
    assert config.loc.loc_prob == 0.5 and config.loc.noisy_length == 32 and config.personas == ("expert",)
    with pytest.raises(TypeError, match="histroy_prob"):
        ProgrammingInstructConfig(histroy_prob=0.1)
    with pytest.raises(ValueError, match="personas"):
        ProgrammingInstructConfig(personas=("wizard",))


def test_rows_become_documents_through_a_datatrove_reader(tmp_path):
    rows = oj_rows()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "train-00000.parquet")
    documents = list(ParquetReader(str(tmp_path), adapter=input_adapter, default_metadata={"kind": Source.OJ})())
    assert [d.id for d in documents] == [row["id"] for row in rows]
    assert all(d.metadata["kind"] is Source.OJ and d.metadata["row"]["submissions"] for d in documents)
    assert documents[0].text == rows[0]["submissions"][-1]["code"]
    trajectory = row_trajectory(documents[0].metadata["row"], Source.OJ)
    assert trajectory.lang == "c++" and trajectory.language == "C++" and len(trajectory.versions) == 3


def test_commit_rows_keep_their_messages(tmp_path):
    (calc,) = [row for row in commit_rows(tmp_path / "repo") if row["path"] == "calc.py"]
    trajectory = row_trajectory(row_document(calc, Source.COMMIT).metadata["row"], Source.COMMIT)
    assert trajectory.versions == tuple(CALC) and trajectory.messages == ("Add sub()", "Document the module")
    states = code_series(trajectory.versions, random.Random(0), 0.0)
    assert trajectory.notes(states[1]) == ("Document the module",)


def test_the_source_gives_the_instruction_where_cursorcore_takes_it():
    commit = Trajectory(Source.COMMIT, "python", ("a", "b", "c"), ("first", "second"))
    states = code_series(commit.versions, random.Random(0), 0.0)
    # the rest of the trajectory is one commit: its message is the instruction; more than one: the LLM writes it
    assert given_instruction(Cut(commit, states, Plan(1, False, True))) == "second"
    assert given_instruction(Cut(commit, states, Plan(0, False, True))) is None
    oj = Trajectory(Source.OJ, "c++", ("x", "y"), statement="Print 1.", language="C++")
    text = given_instruction(Cut(oj, code_series(oj.versions, random.Random(0), 0.0), Plan(0, False, True)))
    assert text.startswith("Write a correct C++ program") and text.endswith("Print 1.")
    seed = Trajectory(Source.AIPROGRAMMER, "python", ("x", "y"))
    seed_states = code_series(seed.versions, random.Random(0), 0.0)
    assert given_instruction(Cut(seed, seed_states, Plan(0, False, True))) is None


def test_a_failed_check_names_the_rejection():
    sample = Sample(current=Snapshot("x = 1\n"), next=Snapshot("x = 2\n"), source="commit", id="s")
    checked = asyncio.run(verify_sample(sample, program="x = (\n"))
    assert failed_check(checked)[0] == "verification_syntax" and "SyntaxError" in failed_check(checked)[1]


async def no_model(payload):
    raise AssertionError("a trajectory whose final program is broken must not cost a model call")


@pytest.mark.parametrize(
    ("language", "final"),
    [("C++", "int main() { return 0 }\n"), ("Python", "def f(:\n    pass\n")],
)
def test_a_final_program_that_does_not_compile_is_rejected_before_any_model_call(local_sandbox, language, final):
    row = {
        "id": "p/u",
        "language": language,
        "statement": "",
        "submissions": [{"code": "int main() {}\n"}, {"code": final}],
    }
    config = ProgrammingInstructConfig()
    result = asyncio.run(synthesize(row_document(row, "oj"), no_model, config=config, sandbox=local_sandbox))
    assert result["rejected"] == "verification_syntax"
    assert ("error" in result["detail"]) if language == "C++" else ("SyntaxError" in result["detail"])


def test_code_holding_a_token_of_the_conversation_format_is_rejected_before_any_model_call():
    versions = [{"code": "x = 1\n", "message": ""}, {"code": 'END = "<|next_end|>"\n', "message": "Add END"}]
    row = {"id": "r:p@c", "language": "python", "versions": versions}
    result = asyncio.run(synthesize(row_document(row, "commit"), no_model, config=ProgrammingInstructConfig()))
    assert result == {"rejected": "special_token", "detail": "the code contains <|next_end|>"}


# ---------------------------------------------------------------- with the real model


def test_online_judge_trajectories_give_verified_samples(llm_server, local_sandbox):
    """Three trajectories of the CodeNet sample (one in C++, compiled in the sandbox) with CursorCore's settings."""
    rows = [row for row in oj_rows() if row["id"].endswith(("u00000001", "u00000002", "u00000030"))]
    results = run(llm_server, local_sandbox, [row_document(r, "oj") for r in rows], ProgrammingInstructConfig(**SMALL))
    samples, reasons = outcome(results)
    assert samples, f"no verified sample; rejections: {reasons}"
    for sample in samples:
        assert_verified(sample, "oj")
        row = next(r for r in rows if sample.id.startswith(r["id"] + "/"))
        if sample.user:  # with an instruction, next is the accepted submission
            assert sample.next.code == row["submissions"][-1]["code"]
    assert all(reason.startswith(REASON_PREFIXES) for reason in reasons)


def test_commit_trajectories_give_verified_samples(llm_server, local_sandbox, tmp_path):
    rows = commit_rows(tmp_path / "repo")
    config = ProgrammingInstructConfig(samples_per_trajectory=2, **SMALL)
    samples, reasons = outcome(run(llm_server, local_sandbox, [row_document(r, "commit") for r in rows], config))
    assert samples, f"no verified sample; rejections: {reasons}"
    for sample in samples:
        assert_verified(sample, "commit")
    assert all(reason.startswith(REASON_PREFIXES) for reason in reasons)


@pytest.mark.slow
def test_seed_snippets_give_verified_samples_through_the_ai_programmer(llm_server, local_sandbox):
    """SmolLM2 cannot end a forward rewrite exactly at the snippet, but it copies the snippet reliably when it comes
    first: so the model lists its versions from the final one back (`step_order="undo"`), greedily (persona changes
    between attempts), with two steps at least; every state is a candidate for the current snapshot."""
    rows = seed_rows([("calendar.py", "isleap"), ("genericpath.py", "getsize"), ("genericpath.py", "getmtime")])
    config = ProgrammingInstructConfig(
        step_order="undo", min_steps=2, temperature=0.0, split_step_prob=1.0, history_prob=0.0, **SMALL
    )
    results = run(llm_server, local_sandbox, [row_document(r, Source.AIPROGRAMMER) for r in rows], config)
    samples, reasons = outcome(results)
    assert samples, f"no verified sample; rejections: {reasons}"
    for sample in samples:
        assert_verified(sample, "aiprogrammer")
        row = next(r for r in rows if sample.id.startswith(r["id"] + "/"))
        assert sample.current.code != row["content"]
    assert all(reason.startswith(REASON_PREFIXES) for reason in reasons)


def test_a_prompt_longer_than_the_context_is_a_rejection(llm_server, local_sandbox):
    row = {"id": "huge", "content": "def huge():\n" + "    x = 1\n" * 3000 + "    return x"}
    config = ProgrammingInstructConfig(**SMALL)
    (result,) = run(llm_server, local_sandbox, [row_document(row, Source.AIPROGRAMMER)], config)
    assert result["rejected"] == "aiprogrammer_request_refused" and "context" in result["detail"]
