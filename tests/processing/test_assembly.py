"""Assembly of `cursorcore/programming-instruct` from synthesis results, without a model: real synthesis-result
documents (`SynthesisResult.to_json()` in `rollout_results`, written by the synthesis steps' own chunked JSONL writer)
go through the steps of `processing/assembly.py` on datatrove's `LocalPipelineExecutor`, decontaminated against the
real benchmark files, and the parquet they write is read back with `datasets`. The last tests run the builder's
whole assembly (`assembly_stages`, MinHash included) with `run_to_hub`."""

import gzip
import json
import random
from collections import Counter, defaultdict
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import datasets
import pytest
from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter
from hypothesis import given, settings
from hypothesis import strategies as st

from cursorcore.builders import programming_instruct as pi
from cursorcore.builders.runner import build_workdir, read_stats, run_to_hub
from cursorcore.processing.assembly import (
    FORMAT_CONFIGS,
    REJECTED,
    SampleDecontamination,
    SplitAndRender,
    SynthesisExpander,
    exact_sample_dedup,
    origin_key,
    row_adapter,
    sample_key,
)
from cursorcore.processing.formats import FORMATS
from cursorcore.processing.formats.conversation import messages_sample, sample_messages, training_text
from cursorcore.processing.llm import reject
from cursorcore.processing.llm.runtime import chunked_jsonl_writer
from cursorcore.processing.synthesis.results import Rejection, SynthesisResult
from cursorcore.processing.synthesis.verify import python_syntax, roundtrip_checks
from cursorcore.schema import FEATURES, Check, Sample, Snapshot, Source, Verification

BENCHMARKS = ["humaneval", "mbpp", "apeval"]
VOCAB = (
    "apple river cactus lantern meadow pebble quartz saddle tundra violet walnut yarrow zephyr anchor beacon "
    "cobalt dune ember fjord glacier harbor island jasper kettle lagoon maple nectar orchid prairie quiver "
    "raven sierra timber umber vessel willow bramble cinder drift falcon garnet hazel"
).split()


# ---------------------------------------------------------------- inputs as synthesis writes them


def program(n: int, step: int = 0) -> str:
    """A small Python function, distinct for each `n` (MinHash must not take two of them for near duplicates);
    `step` 0 is a first draft, 1 an edit of it that sorts the result and adds a docstring."""
    rng = random.Random(n)
    name, arg, acc, item, other = rng.sample(VOCAB, 5)
    lines = [f"def {name}_{other}_{n}({arg}):"]
    if step:
        lines.append(f'    """The {item} values of {arg}, scaled, in order."""')
    lines += [f"    {acc} = []", f"    for {item} in {arg}:", f"        {acc}.append({item} * {rng.randint(2, 97)})"]
    if step:
        lines.append(f"    {acc}.sort()")
    lines.append(f"    return {acc}")
    return "\n".join(lines) + "\n"


def verified(sample: Sample) -> Sample:
    """The sample as synthesis keeps it: its edit-format round trips and the syntax of `next` passed."""
    checks = (*roundtrip_checks(sample), python_syntax(sample.next.code if sample.next else ""))
    assert all(check.status == "passed" for check in checks), checks
    return replace(sample, verification=Verification("passed", checks))


def make_sample(
    source: str,
    *versions: str,
    user: str = "",
    chat: str = "",
    loc: Any = None,
    sample_id: str = "",
    messages: list[dict[str, str]] | None = None,
) -> Sample:
    """A verified sample whose `versions` are history..., current, next."""
    *history, current, following = versions
    sample = Sample(
        current=Snapshot(current),
        history=[Snapshot(code) for code in history],
        user=user,
        chat=chat,
        next=Snapshot(following),
        loc=loc,
        source=source,
        id=sample_id,
        messages=messages or [],
    )
    return verified(sample)


def failed_sample(source: str, current: str, broken: str, sample_id: str = "") -> Sample:
    """A candidate whose `next` does not parse: verification failed on its syntax check."""
    sample = Sample(current=Snapshot(current), next=Snapshot(broken), source=source, id=sample_id)
    checks = (*roundtrip_checks(sample), python_syntax(broken))
    assert checks[-1].status == "failed"
    return replace(sample, verification=Verification("failed", checks))


def aiev_sample(problem: str, attempt: str, final: str, chat: str = "Tests included.") -> Sample:
    """An AIEV-Instruct sample: an empty file, the problem, and the whole dialogue (a failed attempt, its execution
    output, the questioner's explanation, the passing answer) in `messages`, as `aiev.py` writes them."""
    transcript = sample_messages(Sample(current=Snapshot(""), user=problem), "wf")
    first = sample_messages(Sample(current=Snapshot(""), next=Snapshot(attempt)), "wf")[-1]
    last = sample_messages(Sample(current=Snapshot(attempt), next=Snapshot(final), chat=chat), "wf")[-1]
    transcript += [
        first,
        {"role": "execution", "content": "Traceback (most recent call last):\nAssertionError"},
        {"role": "user", "content": "The result is not sorted; sort it before returning."},
        last,
        {"role": "execution", "content": "tests passed"},
    ]
    return make_sample("aiev", "", final, user=problem, chat=chat, messages=transcript)


def soi_sample(instruction: str, solution: str, chat: str = "Tests: assert ...") -> Sample:
    """A Self-OSS-Instruct sample: an empty file, the instruction, the tested solution; `messages` already hold its
    WF rendering, as `soi_common.solution_sample` writes them."""
    sample = make_sample("self-oss-instruct", "", solution, user=instruction, chat=chat)
    return replace(sample, messages=sample_messages(sample, "wf"))


def result(samples: list[Sample] = (), rejections: list[Rejection] = ()) -> dict[str, Any]:
    """What a rollout returns: `SynthesisResult.to_json()` plus its per-document counters."""
    stats = {"candidates": len(samples) + len(rejections)}
    return {**SynthesisResult(list(samples), list(rejections)).to_json(), "stats": stats}


def commit_row(repo: str, path: str) -> dict[str, Any]:
    return {"id": f"{repo}/{path}", "repo": repo, "path": path, "language": "Python"}


def oj_row(dataset: str, problem: str, user: str) -> dict[str, Any]:
    return {"id": f"{dataset}/{problem}/{user}", "dataset": dataset, "problem_id": problem, "user_id": user}


def seed_row(repo: str, path: str, function: str) -> dict[str, Any]:
    return {"id": f"{repo}/{path}/{function}", "repo": repo, "path": path, "content": f"def {function}(): ..."}


def input_row(kind: str, n: int) -> dict[str, Any]:
    """The `n`-th input row of a kind: its own repository, problem or seed file."""
    if kind == "commit":
        return commit_row(f"octo/repo{n}", "main.py")
    if kind == "oj":
        return oj_row("CodeNet", f"p{n:05d}", "u1")
    return seed_row("stdlib", f"{kind}{n}.py", "f")


def synthesis_document(kind: str, row: dict[str, Any], *results: dict[str, Any]) -> Document:
    """An input document after its rollout: the input row in `metadata["row"]`, results in `rollout_results`."""
    metadata = {"kind": kind, "row": row, "rollout_results": list(results)}
    return Document(text=row.get("content", "final code"), id=row["id"], metadata=metadata)


def write_synthesis(folder: Path, documents: dict[str, list[Document]]) -> Path:
    """`<folder>/<kind>/<rank>_chunk_<n>.jsonl.gz`, with the writer the synthesis steps use (two documents a chunk)."""
    for kind, kind_documents in documents.items():
        with chunked_jsonl_writer(folder / kind) as writer:
            for index, document in enumerate(kind_documents):
                writer.write(document, 0, chunk_index=index // 2)
    return folder


def synthesis_reader(folder: Path) -> JsonlReader:
    return JsonlReader(str(folder), recursive=True, glob_pattern="*/*.jsonl.gz")


def run(steps: list, logs: Path) -> dict[str, dict[str, int]]:
    """One datatrove task on the local executor; its counters per step."""
    LocalPipelineExecutor(pipeline=steps, tasks=1, workers=1, logging_dir=str(logs)).run()
    assert (logs / "completions" / "00000").exists(), f"the task failed; see {logs}/logs"
    return read_stats(logs)


def counters(stats: dict[str, dict[str, int]], step: str) -> dict[str, int]:
    (name,) = [name for name in stats if name.endswith(step)]
    return stats[name]


def written(folder: Path) -> list[Document]:
    """The documents a `JsonlWriter` wrote, in order."""
    documents = []
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as handle:
            documents += [Document(**json.loads(line)) for line in handle]
    return documents


def parquet_writer(folder: Path) -> ParquetWriter:
    """The writer of the published dataset: `<config>/<split>-<rank>.parquet`, rows in the schema of `FEATURES`."""
    return ParquetWriter(
        str(folder), output_filename=pi.OUTPUT, adapter=row_adapter, schema=FEATURES.arrow_schema, max_file_size=-1
    )


def load_configs(data: Path, cache: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """config -> split -> rows, each config loaded with `datasets` from its shards (`<split>-*.parquet`)."""
    configs = {}
    for folder in sorted(path for path in data.iterdir() if path.is_dir()):
        splits = sorted({shard.name.split("-", 1)[0] for shard in folder.glob("*.parquet")})
        files = {split: str(folder / f"{split}-*.parquet") for split in splits}
        loaded = datasets.load_dataset("parquet", data_files=files, cache_dir=str(cache))
        for split in splits:
            assert loaded[split].features == FEATURES, folder.name
        configs[folder.name] = {split: loaded[split].to_list() for split in splits}
    return configs


def without(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key not in keys}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


# ---------------------------------------------------------------- origins and sample keys


def test_origin_key_groups_what_must_not_straddle_splits():
    # a commit trajectory's origin is its repository: every file of it lands in one split
    assert origin_key("commit", commit_row("octo/calc", "a.py")) == origin_key("commit", commit_row("octo/calc", "b"))
    assert origin_key("commit", commit_row("octo/calc", "a.py")) != origin_key("commit", commit_row("octo/str", "a"))
    # a submission sequence's origin is its problem: every user's attempts at it land in one split
    assert origin_key("oj", oj_row("CodeNet", "p02761", "u1")) == origin_key("oj", oj_row("CodeNet", "p02761", "u2"))
    assert origin_key("oj", oj_row("CodeNet", "p02761", "u1")) != origin_key("oj", oj_row("CodeNet", "p02762", "u1"))
    assert origin_key("oj", oj_row("CodeNet", "p1", "u1")) != origin_key("oj", oj_row("AtCoder", "p1", "u1"))
    # a seed's origin is its file: the functions of one file land in one split, for every seed-based kind
    assert origin_key("aiprogrammer", seed_row("r", "m.py", "f")) == origin_key("aiev", seed_row("r", "m.py", "g"))
    assert origin_key(Source.SELF_OSS_INSTRUCT, seed_row("r", "m.py", "f")) == origin_key(
        "aiev", seed_row("r", "m.py", "f")
    )
    assert origin_key("aiev", seed_row("r", "m.py", "f")) != origin_key("aiev", seed_row("r", "n.py", "f"))
    assert origin_key("aiev", seed_row("r", "m.py", "f")) != origin_key("aiev", seed_row("s", "m.py", "f"))
    # a typo, or the input dataset's name instead of a kind, must not merge or split groups silently
    for wrong in ("sed", "seed"):
        with pytest.raises(ValueError, match=f"unknown input kind '{wrong}'"):
            origin_key(wrong, seed_row("r", "m.py", "f"))


def test_sample_key_is_the_content_not_the_bookkeeping():
    sample = make_sample("commit", program(1), program(2), program(2, 1), user="Sort it.", sample_id="a/0")
    bookkeeping = {
        "id": "b/9",
        "source": "oj",
        "verification": Verification(),
        "messages": sample_messages(sample, "lc"),
    }
    same = replace(sample, **bookkeeping)
    assert sample_key(same) == sample_key(sample)
    changed = [
        replace(sample, history=[]),
        replace(sample, current=Snapshot(program(3))),
        replace(sample, user="Sort it, please."),
        replace(sample, next=Snapshot(program(2))),
        replace(sample, next=None),
    ]
    keys = {sample_key(other) for other in changed}
    assert len(keys) == len(changed) and sample_key(sample) not in keys


# ---------------------------------------------------------------- expansion


@pytest.fixture(scope="module")
def expansion(tmp_path_factory):
    """Results of four kinds expanded on the executor, rejected candidates written as the `rejected` config."""
    root = tmp_path_factory.mktemp("expansion")
    kept_a = make_sample("commit", program(10), program(10, 1), user="Sort the result.", sample_id="octo/calc/0")
    kept_b = make_sample("commit", program(10), program(10, 1), program(11), chat="Redone.", sample_id="octo/calc/1")
    no_id = make_sample("oj", program(12), program(12, 1), loc=(4, 20))
    broken = failed_sample("commit", program(13), program(13).replace("):", ":"))
    soi_failed = replace(failed_sample("self-oss-instruct", "", "def f(:\n"), id="soi/kept-id")
    documents = {
        "commit": [
            synthesis_document(
                "commit",
                commit_row("octo/calc", "calc.py"),
                result(
                    [kept_a, kept_b],
                    [
                        Rejection("verification_syntax", "next: SyntaxError", broken),
                        Rejection("judge_unrelated", "no block of the diff belongs to next"),
                    ],
                ),
            )
        ],
        "oj": [synthesis_document("oj", oj_row("CodeNet", "p02761", "u7"), result([no_id]))],
        "self-oss-instruct": [
            synthesis_document(
                "self-oss-instruct",
                seed_row("stdlib", "bisect.py", "insort"),
                result(rejections=[Rejection("tests_failed", "1 of 3 asserts failed", soi_failed)]),
            )
        ],
        "aiev": [
            synthesis_document(
                "aiev", seed_row("stdlib", "heapq.py", "merge"), reject("answer_truncated", "round 0: ...")
            )
        ],
    }
    synthesis = write_synthesis(root / "synthesis", documents)
    steps = [
        synthesis_reader(synthesis),
        SynthesisExpander(rejected_writer=parquet_writer(root / "data")),
        JsonlWriter(str(root / "kept"), output_filename="${rank}.jsonl.gz"),
    ]
    stats = run(steps, root / "logs")
    return {
        "kept": written(root / "kept"),
        "configs": load_configs(root / "data", root / "cache"),
        "stats": counters(stats, "expand synthesis results"),
        "samples": {"a": kept_a, "b": kept_b, "no_id": no_id, "broken": broken, "soi": soi_failed},
    }


def test_every_kept_sample_becomes_one_document(expansion):
    samples = expansion["samples"]
    documents = {document.id: document for document in expansion["kept"]}
    no_id = f"oj/{sample_key(samples['no_id'])[:16]}"  # a sample without an id is named by its content
    assert list(documents) == ["octo/calc/0", "octo/calc/1", no_id]
    for key, sample_id in (("a", "octo/calc/0"), ("b", "octo/calc/1"), ("no_id", no_id)):
        sample = replace(samples[key], id=sample_id)
        document = documents[sample_id]
        assert Sample.from_row(document.metadata["sample"]) == sample
        assert document.text == training_text(sample, "wf")  # what MinHash compares
        assert document.metadata["source"] == sample.source
    assert documents["octo/calc/0"].metadata["origin"] == "repo:octo/calc"
    assert documents["octo/calc/1"].metadata["origin"] == "repo:octo/calc"
    assert documents[no_id].metadata["origin"] == "problem:CodeNet/p02761"


def test_rejections_go_to_the_rejected_config_with_their_reason(expansion):
    configs, samples = expansion["configs"], expansion["samples"]
    assert list(configs) == [REJECTED] and list(configs[REJECTED]) == [REJECTED]
    rows = {row["id"]: row for row in configs[REJECTED][REJECTED]}
    broken_id = f"commit/{sample_key(samples['broken'])[:16]}"
    assert set(rows) == {broken_id, "soi/kept-id"}
    for row_id, sample, reason in (
        (broken_id, samples["broken"], "verification_syntax: next: SyntaxError"),
        ("soi/kept-id", samples["soi"], "tests_failed: 1 of 3 asserts failed"),
    ):
        row = rows[row_id]
        assert row["verification"]["status"] == "failed"
        *checks, last = row["verification"]["checks"]
        assert last == {"name": "rejection", "status": "failed", "detail": reason}
        assert checks == sample.to_row()["verification"]["checks"]  # what was verified stays visible
        # the rejected candidate itself, rendered for inspection
        assert row["messages"] == sample_messages(sample, "wf")
        expected = replace(sample, id=row_id).to_row()
        assert without(row, "verification", "messages") == without(expected, "verification", "messages")


def test_expansion_counts_every_outcome(expansion):
    stats = expansion["stats"]
    assert stats["kept_commit"] == 2 and stats["kept_oj"] == 1
    # candidates rejected without a sample and whole documents rejected are counted, not written
    assert stats["rejected_judge_unrelated"] == 1 and stats["rejected_answer_truncated"] == 1
    assert stats["rejected_verification_syntax"] == 1 and stats["rejected_tests_failed"] == 1
    assert "kept_self-oss-instruct" not in stats and "kept_aiev" not in stats


# ---------------------------------------------------------------- decontamination


def benchmark_records(benchmark_paths: dict[str, str]) -> dict[str, dict[Any, dict[str, Any]]]:
    with gzip.open(benchmark_paths["humaneval"], "rt") as handle:
        humaneval = {record["task_id"]: record for record in map(json.loads, handle)}
    mbpp = {record["task_id"]: record for record in json.loads(Path(benchmark_paths["mbpp"]).read_text())}
    apeval = {record["task_id"]: record for record in json.loads(Path(benchmark_paths["apeval"]).read_text())}
    return {"humaneval": humaneval, "mbpp": mbpp, "apeval": apeval}


def leaking_samples(benchmark_paths: dict[str, str]) -> dict[str, tuple[Sample, str]]:
    """Samples that each leak a benchmark through one field, with the reason they must be dropped for."""
    records = benchmark_records(benchmark_paths)
    longest = records["humaneval"]["HumanEval/12"]  # `longest(strings)`: prompt with docstring, and its solution
    solution = longest["prompt"] + longest["canonical_solution"]
    docstring = longest["prompt"].split('"""')[1]
    # `remove_duplicates` without its docstring and with `{}` for `dict()`: not a substring, but its 10-word n-grams
    unique = records["humaneval"]["HumanEval/26"]["canonical_solution"]
    reformatted = "def remove_duplicates(numbers):\n" + unique.replace("dict()", "{}")
    remove_occ, perimeter = records["mbpp"][11], records["mbpp"][17]
    nested_parens = records["apeval"]["HumanEval/6"]["history"][0]["code"]  # a user's draft in APEval's history
    return {
        "next is a HumanEval solution": (
            make_sample("commit", longest["prompt"], solution, user="Implement it."),
            "exact_humaneval",
        ),
        "user quotes a HumanEval docstring": (
            make_sample("aiprogrammer", "", program(40), user=f"Write this:\n{docstring}"),
            "exact_humaneval",
        ),
        "next is a reformatted HumanEval solution": (make_sample("oj", "", reformatted), "ngram_humaneval"),
        "next is an MBPP solution": (make_sample("oj", program(41), remove_occ["code"]), "exact_mbpp"),
        "user is an MBPP prompt": (
            make_sample("self-oss-instruct", "", program(42), user=perimeter["prompt"]),
            "exact_mbpp",
        ),
        "chat shows an MBPP solution": (
            make_sample("commit", program(43), program(43, 1), chat=f"Like this:\n{remove_occ['code']}"),
            "exact_mbpp",
        ),
        "history holds an APEval snapshot": (
            make_sample("commit", nested_parens, program(44), program(44, 1)),
            "exact_apeval",
        ),
        "current is a HumanEval solution": (
            make_sample("commit", solution, program(45), user="Replace it with the scaling helper."),
            "exact_humaneval",
        ),
        "an earlier AIEV answer is a HumanEval solution": (
            aiev_sample("Scale and sort a list.", solution, program(46, 1)),
            "exact_humaneval",
        ),
    }


def clean_samples() -> list[Sample]:
    return [
        make_sample("commit", program(50), program(50, 1), user="Sort the result and document it."),
        make_sample("oj", program(51), program(52), program(52, 1), loc=3),
        make_sample("aiprogrammer", program(53), program(53, 1), chat="Sorted so callers can bisect it."),
        aiev_sample("Scale the values of a list, sorted.", program(54), program(54, 1)),
    ]


@pytest.fixture(scope="module", params=["benchmark files", "bundled snapshot"])
def decontamination(request, benchmark_paths) -> SampleDecontamination:
    """The step as builds run it: on the benchmark files, and on the snapshot shipped in the package (the default
    of every build that names no files), which must catch the same leaks."""
    return SampleDecontamination(BENCHMARKS, benchmark_paths if request.param == "benchmark files" else None)


def test_each_leak_is_dropped_with_its_benchmark(benchmark_paths, decontamination):
    wrong = {}
    for case, (sample, reason) in leaking_samples(benchmark_paths).items():
        document = Document(text="", id=case, metadata={"sample": sample.to_row()})
        verdict = decontamination.filter(document)
        if verdict != (False, reason):
            wrong[case] = verdict
    assert not wrong, f"expected each case dropped with its reason; got {wrong}"


def test_unrelated_samples_are_kept(decontamination):
    for sample in clean_samples():
        assert decontamination.filter(Document(text="", id="x", metadata={"sample": sample.to_row()})) is True


def test_decontamination_on_the_executor(tmp_path, benchmark_paths):
    leaks = leaking_samples(benchmark_paths)
    clean = [replace(sample, id=f"clean/{index}") for index, sample in enumerate(clean_samples())]
    leaked = [replace(sample, id=f"leak/{index}") for index, (sample, _) in enumerate(leaks.values())]
    documents = [
        synthesis_document("commit", commit_row(f"repo{index}", "a.py"), result([sample]))
        for index, sample in enumerate([*leaked, *clean])
    ]
    synthesis = write_synthesis(tmp_path / "synthesis", {"commit": documents})
    steps = [
        synthesis_reader(synthesis),
        SynthesisExpander(),
        SampleDecontamination(BENCHMARKS, benchmark_paths),
        JsonlWriter(str(tmp_path / "kept"), output_filename="${rank}.jsonl.gz"),
    ]
    stats = counters(run(steps, tmp_path / "logs"), "decontaminate samples")
    assert [document.id for document in written(tmp_path / "kept")] == [sample.id for sample in clean]
    reasons = Counter(reason for _, reason in leaks.values())
    assert {name: stats.get(f"dropped_{name}") for name in reasons} == dict(reasons)
    assert stats["dropped"] == len(leaked) and stats["forwarded"] == len(clean)


# ---------------------------------------------------------------- exact dedup


def test_exact_duplicates_are_kept_once(tmp_path):
    original = make_sample("commit", program(60), program(61), program(61, 1), user="Sort it.", sample_id="x/0")
    twin = replace(original, id="y/5")  # same content from another trajectory
    variants = [
        verified(replace(original, user="Sort it, then document it.", id="x/1")),
        verified(replace(original, history=[], id="x/2")),
        verified(replace(original, next=Snapshot(program(61, 1) + "\n\nDONE = True\n"), id="x/3")),
    ]
    documents = [
        synthesis_document("commit", commit_row("octo/a", "a.py"), result([original, *variants])),
        synthesis_document("commit", commit_row("octo/b", "b.py"), result([twin, replace(variants[0], id="y/6")])),
    ]
    synthesis = write_synthesis(tmp_path / "synthesis", {"commit": documents})
    steps = [
        synthesis_reader(synthesis),
        SynthesisExpander(),
        exact_sample_dedup(),
        JsonlWriter(str(tmp_path / "kept"), output_filename="${rank}.jsonl.gz"),
    ]
    stats = counters(run(steps, tmp_path / "logs"), "exact sample dedup")
    assert [document.id for document in written(tmp_path / "kept")] == ["x/0", "x/1", "x/2", "x/3"]
    assert stats["dropped_duplicate"] == 2 and stats["forwarded"] == 4


# ---------------------------------------------------------------- split by origin


# few names, so that inputs share repositories, problems and seed files
names = st.sampled_from(["a", "b", "c", "d"])
seed_kinds = st.sampled_from(["aiprogrammer", "self-oss-instruct", "aiev"])
origins = st.one_of(
    st.tuples(st.just("commit"), st.builds(commit_row, names, names)),
    st.tuples(st.just("oj"), st.builds(oj_row, st.sampled_from(["CodeNet", "AtCoder"]), names, names)),
    st.tuples(seed_kinds, st.builds(seed_row, names, names, names)),
)


def independent_origin(kind: str, row: dict[str, Any]) -> tuple[str, ...]:
    """What may not straddle the splits, spelled out here rather than taken from `origin_key`."""
    if kind == "commit":
        return ("repository", row["repo"])
    if kind == "oj":
        return ("problem", row["dataset"], row["problem_id"])
    return ("seed file", row["repo"], row["path"])


@settings(max_examples=60, deadline=None)
@given(
    inputs=st.lists(st.tuples(origins, st.integers(1, 3)), min_size=1, max_size=25),
    test_fraction=st.floats(0, 1),
    salt=st.text(max_size=6),
)
def test_no_origin_is_in_both_splits(inputs, test_fraction, salt):
    documents, origin_of = [], {}
    for n, ((kind, row), count) in enumerate(inputs):
        samples = [
            Sample(current=Snapshot(f"x = {n}\n"), next=Snapshot(f"x = {n}{i}\n"), source=kind) for i in range(count)
        ]
        for document in SynthesisExpander().run(iter([synthesis_document(kind, row, result(samples))])):
            documents.append(document)
            origin_of[document.id] = independent_origin(kind, row)
    rendered = list(SplitAndRender(test_fraction, salt).run(iter(documents)))
    splits: dict[tuple[str, ...], set[str]] = defaultdict(set)
    configs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for document in rendered:
        row = document.metadata["row"]
        splits[origin_of[row["id"]]].add(document.metadata["split"])
        configs[row["id"]].append((document.metadata["config"], document.metadata["split"]))
    assert all(len(found) == 1 for found in splits.values()), dict(splits)
    # every sample is in the three format configs (a dialogue in `wf` only) and its source's config, in one split
    assert len(configs) == len(documents)
    for document in documents:
        found = configs[document.id]
        source = document.metadata["source"]
        formats = ["wf"] if source == "aiev" else list(FORMAT_CONFIGS)
        assert sorted(config for config, _ in found) == sorted([*formats, source])
        assert len({split for _, split in found}) == 1


def assignment(origins: list[str], test_fraction: float, salt: str) -> list[str]:
    step = SplitAndRender(test_fraction, salt)
    return [step.split_of(origin) for origin in origins]


@settings(max_examples=40, deadline=None)
@given(
    prefix=st.text(max_size=8),
    test_fraction=st.floats(0.2, 0.8),
    salts=st.lists(st.text(max_size=8), min_size=2, max_size=2, unique=True),
)
def test_the_split_is_fixed_by_the_salt(prefix, test_fraction, salts):
    origins = [f"repo:{prefix}/{index}" for index in range(500)]
    first = assignment(origins, test_fraction, salts[0])
    assert assignment(origins, test_fraction, salts[0]) == first  # a fresh step, the same split
    assert assignment(origins, test_fraction, salts[1]) != first  # another salt, another split


@settings(max_examples=40, deadline=None)
@given(prefix=st.text(max_size=8), test_fraction=st.floats(0, 1), salt=st.text(max_size=8))
def test_the_test_fraction_is_honoured_over_many_origins(prefix, test_fraction, salt):
    origins = [f"problem:{prefix}/{index}" for index in range(3000)]
    share = assignment(origins, test_fraction, salt).count("test") / len(origins)
    assert abs(share - test_fraction) < 0.05  # 5 standard deviations of a binomial share at worst
    if test_fraction == 0:
        assert share == 0


# ---------------------------------------------------------------- rendering


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Samples of every source split and rendered on the executor, the parquet read back with `datasets`."""
    root = tmp_path_factory.mktemp("render")
    samples = {
        "commit": [
            make_sample("commit", program(70), program(70, 1), program(71), user="Replace it.", sample_id="c/0"),
            make_sample("commit", program(72), program(72, 1), loc=(10, 30), chat="Sorted.", sample_id="c/1"),
        ],
        "oj": [make_sample("oj", program(73), program(73, 1), loc=5, sample_id="o/0")],
        "aiprogrammer": [make_sample("aiprogrammer", program(74), program(74, 1), sample_id="a/0")],
        "self-oss-instruct": [soi_sample("Scale and sort.", program(75, 1))],
        "aiev": [aiev_sample("Scale and sort a list.", program(76), program(76, 1))],
    }
    documents = {
        kind: [synthesis_document(kind, input_row(kind, n), result([sample])) for n, sample in enumerate(kind_samples)]
        for kind, kind_samples in samples.items()
    }
    synthesis = write_synthesis(root / "synthesis", documents)
    steps = [
        synthesis_reader(synthesis),
        SynthesisExpander(),
        SplitAndRender(0.5, salt="7"),
        parquet_writer(root / "data"),
    ]
    run(steps, root / "logs")
    every = [sample for kind_samples in samples.values() for sample in kind_samples]
    kept = [replace(sample, id=sample.id or f"{sample.source}/{sample_key(sample)[:16]}") for sample in every]
    return load_configs(root / "data", root / "cache"), {sample.id: sample for sample in kept}


def by_id(config: dict[str, list[dict[str, Any]]]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {row["id"]: (split, row) for split, rows in config.items() for row in rows}


def test_format_configs_hold_the_same_samples_in_the_same_splits(rendered):
    configs, samples = rendered
    assert set(configs) == {*FORMAT_CONFIGS, "commit", "oj", "aiprogrammer", "self-oss-instruct", "aiev"}
    splits = {fmt: {row_id: split for row_id, (split, _) in by_id(configs[fmt]).items()} for fmt in FORMAT_CONFIGS}
    assert set(splits["wf"]) == set(samples)
    # AIEV dialogues answer in whole files only: `lc` and `sr` leave them out
    edits = {row_id: split for row_id, split in splits["wf"].items() if samples[row_id].source != "aiev"}
    assert splits["lc"] == splits["sr"] == edits != splits["wf"]
    assert set(splits["wf"].values()) == {"train", "test"}  # salt "7" puts these origins on both sides


@pytest.mark.parametrize("fmt", FORMAT_CONFIGS)
def test_messages_are_rendered_in_the_config_format_and_parse_back(rendered, fmt):
    configs, samples = rendered
    for row_id, (_, row) in by_id(configs[fmt]).items():
        sample = samples[row_id]
        assert without(row, "messages") == without(sample.to_row(), "messages")
        if sample.source == "aiev":  # a dialogue: kept as it happened, execution turns included, in `wf` only
            assert fmt == "wf" and row["messages"] == sample.messages
            assert "execution" in [message["role"] for message in row["messages"]]
            continue
        assert row["messages"] == sample_messages(sample, fmt)
        back = messages_sample(row["messages"], fmt)
        if FORMATS[fmt].exact_history:  # LC and SR history steps are CursorCore's lossy renderings
            assert [h.code for h in back.history] == [h.code for h in sample.history]
        assert len(back.history) == len(sample.history)
        assert (back.current.code, back.next.code) == (sample.current.code, sample.next.code)
        assert (back.user, back.chat, back.loc) == (sample.user, sample.chat, sample.loc)


def test_each_format_renders_differently(rendered):
    configs, _ = rendered
    answers = {
        fmt: [message["content"] for message in by_id(configs[fmt])["c/1"][1]["messages"]] for fmt in FORMAT_CONFIGS
    }
    assert len({tuple(contents) for contents in answers.values()}) == 3


def test_source_configs_hold_only_their_source_in_whole_file_format(rendered):
    configs, samples = rendered
    wf = by_id(configs["wf"])
    for source in ("commit", "oj", "aiprogrammer", "self-oss-instruct", "aiev"):
        rows = by_id(configs[source])
        assert set(rows) == {row_id for row_id, sample in samples.items() if sample.source == source}
        for row_id, (split, row) in rows.items():
            assert row["source"] == source
            assert (split, row) == wf[row_id]


# ---------------------------------------------------------------- the builder's assembly, end to end


@pytest.fixture(scope="module")
def assembled(tmp_path_factory, benchmark_paths):
    """`assembly_stages` of the builder on a folder of synthesis JSONL, run with `run_to_hub` into a local hub."""
    hub = tmp_path_factory.mktemp("hub")
    config = pi.Config(benchmark_paths=benchmark_paths, test_fraction=0.5, seed=3)
    settings_ = asdict(config)
    work = build_workdir(pi.REPO_ID, settings_, hub)
    leak, reason = leaking_samples(benchmark_paths)["next is a HumanEval solution"]
    broken = failed_sample("commit", program(80), program(80).replace("):", ":"), sample_id="calc.py/9")
    expected: dict[str, tuple[Sample, str]] = {}
    documents: dict[str, list[Document]] = defaultdict(list)

    def add(kind: str, row: dict[str, Any], samples: list[Sample], rejections=(), keep: bool = True) -> None:
        documents[kind].append(synthesis_document(kind, row, result(samples, list(rejections))))
        if keep:
            for sample in samples:
                sample_id = sample.id or f"{sample.source}/{sample_key(sample)[:16]}"
                expected[sample_id] = (replace(sample, id=sample_id), origin_key(kind, row))

    # two files of one repository, whose samples must share a split
    calc = make_sample("commit", program(81), program(81, 1), user="Sort it.", sample_id="octo/calc/calc.py/0")
    fmt = make_sample("commit", program(82), program(82, 1), sample_id="octo/calc/fmt.py/0")
    add("commit", commit_row("octo/calc", "calc.py"), [calc], [Rejection("verification_syntax", "bad", broken)])
    add("commit", commit_row("octo/calc", "fmt.py"), [fmt])
    for n in range(6):
        add("commit", commit_row(f"octo/r{n}", "m.py"), [make_sample("commit", program(83 + n), program(83 + n, 1))])
    for n in range(4):
        sample = make_sample("oj", program(90 + n), program(90 + n, 1), loc=n)
        add("oj", oj_row("CodeNet", f"p0{n}", "u1"), [sample])
    for n in range(3):
        seed = seed_row("stdlib", f"mod{n}.py", "f")
        add("aiprogrammer", seed, [make_sample("aiprogrammer", program(100 + n), program(100 + n, 1))])
        instruction = f"Write a function that scales every value of a list by {n + 2} and returns them sorted."
        add("self-oss-instruct", seed, [soi_sample(instruction, program(110 + n, 1))])
        add("aiev", seed, [aiev_sample("Scale and sort.", program(120 + n), program(120 + n, 1))])
    add("oj", oj_row("CodeNet", "p99", "u1"), [leak], keep=False)  # decontaminated
    # SelfCodeAlign's sanitize: an incomplete response and an instruction asked again are dropped
    todo = soi_sample("Write a function that scales the values of a list, sorted.", program(114, 1), "TODO: tests")
    again = soi_sample(
        "Write a function that scales every value of a list by 2 and returns them sorted.", program(115)
    )
    add("self-oss-instruct", seed_row("stdlib", "mod9.py", "f"), [todo, again], keep=False)
    duplicate = replace(calc, id="octo/other/calc.py/0")
    add("commit", commit_row("octo/other", "calc.py"), [duplicate], keep=False)  # an exact duplicate
    documents["aiev"].append(synthesis_document("aiev", seed_row("stdlib", "x.py", "g"), reject("answer_truncated")))
    write_synthesis(work / "synthesis", documents)

    stages = pi.assembly_stages(config, work, work / "dataset")
    report = run_to_hub(
        stages,
        repo_id=pi.REPO_ID,
        adapter=row_adapter,
        config=settings_,
        hub=hub,
        workers=1,
        schema=FEATURES.arrow_schema,
        output_filename=pi.OUTPUT,
    )
    return {
        "report": report,
        "configs": load_configs(report.folder / "data", hub / "cache"),
        "expected": expected,
        "broken": broken,
        "reason": reason,
        "split": SplitAndRender(config.test_fraction, salt=str(config.seed)).split_of,
    }


def test_assembly_stages_build_every_config(assembled):
    configs, expected = assembled["configs"], assembled["expected"]
    sources = {sample.source for sample, _ in expected.values()}
    assert set(configs) == {*FORMAT_CONFIGS, *sources, REJECTED}
    for config in (*FORMAT_CONFIGS, *sources):
        rows = by_id(configs[config])
        wanted = {
            i
            for i, (sample, _) in expected.items()
            if config in ("wf", sample.source) or (config in FORMAT_CONFIGS and sample.source != "aiev")
        }
        # the leak and the exact duplicate are gone, every distinct sample survived MinHash
        assert set(rows) == wanted, config
        for row_id, (split, row) in rows.items():
            sample, origin = expected[row_id]
            assert split == assembled["split"](origin)
            fmt = config if config in FORMAT_CONFIGS else "wf"
            messages = sample.messages if sample.source == "aiev" else sample_messages(sample, fmt)
            assert row == {**sample.to_row(), "messages": messages}
    wf = by_id(configs["wf"])
    assert {split for split, _ in wf.values()} == {"train", "test"}
    assert wf["octo/calc/calc.py/0"][0] == wf["octo/calc/fmt.py/0"][0]  # one repository, one split


def test_assembly_reports_what_it_dropped(assembled):
    report, configs = assembled["report"], assembled["configs"]
    stats = report.stats
    assert counters(stats, "decontaminate samples")[f"dropped_{assembled['reason']}"] == 1
    assert counters(stats, "exact sample dedup")["dropped_duplicate"] == 1
    assert counters(stats, "FILTER: sanitize (SelfCodeAlign)")["dropped_incomplete_code"] == 1
    assert counters(stats, "sanitize dedup (SelfCodeAlign)")["dropped_exact_duplicate"] == 1
    expand = counters(stats, "expand synthesis results")
    assert expand["rejected_verification_syntax"] == 1 and expand["rejected_answer_truncated"] == 1
    loaded = {f"{config}/{split}": len(rows) for config, splits in configs.items() for split, rows in splits.items()}
    assert report.rows == loaded
    (rejected,) = [row for rows in configs[REJECTED].values() for row in rows]
    assert rejected["id"] == assembled["broken"].id
    assert rejected["verification"]["checks"][-1] == asdict(Check("rejection", "failed", "verification_syntax: bad"))


def test_rejected_shards_follow_the_hub_layout(assembled):
    report = assembled["report"]
    shards = [shard.name for shard in (report.folder / "data" / REJECTED).glob("*.parquet")]
    assert shards == ["rejected-00000.parquet"]
    assert report.rows[f"{REJECTED}/{REJECTED}"] == 1
