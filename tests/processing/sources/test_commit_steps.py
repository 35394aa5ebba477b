"""The commit-trajectory steps on real inputs: the fixture repository (every filter has a file to drop) and local
parquet / JSON-lines twins of the Hub commit datasets."""

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cursorcore.builders.commit_trajectories import Config, filters
from cursorcore.processing.sources.commits import (
    GitBlobLoader,
    GitHistoryReader,
    HubCommitReader,
    SizeFilter,
    changed_lines,
    shard_of,
    skeleton,
)
from cursorcore.processing.sources.git_history import GitSource
from tests.processing.sources.test_commit_git import CALC, Repo, make_history_repo, numbered

KEPT_PATHS = [
    "src/big.py",
    "src/calculator.py",
    "src/huge.py",
    "src/indent.py",
    "src/long.py",
    "src/my file.py",
    "src/old.py",  # deleted,
    "src/old.py",  # then added again
]


def commit_steps(*readers):
    """The builder's filters, in its order, with limits the fixture's files cross."""
    return [*readers, *filters(Config(max_bytes=2000, max_changed_lines=40, max_versions=4))]


def run(steps, world_size: int = 1) -> list:
    documents = []
    for rank in range(world_size):
        data = None
        for step in steps:
            data = step(data, rank, world_size)
        documents.extend(data)
    return documents


def counters(step) -> dict[str, int]:
    return {name: int(metric.total) for name, metric in step.stats.stats.items() if name.startswith("dropped")}


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("steps") / "demo"
    shas = make_history_repo(root)
    steps = commit_steps(GitHistoryReader([GitSource.open(root)]))
    documents = run(steps)
    return shas, steps, documents


def test_every_filter_drops_its_case(history):
    _, steps, documents = history
    assert sorted(doc.metadata["path"] for doc in documents) == KEPT_PATHS
    assert {step.name: counters(step) for step in steps[1:]} == {
        "🔢 Min versions": {"dropped": 1, "dropped_too_few_versions": 1},  # src/once.py
        "🔤 Language": {"dropped": 1, "dropped_language": 1},  # README.md
        "📦 Vendored": {"dropped": 4, "dropped_vendored": 4},  # vendor/, node_modules/, *.min.js, *_pb2.py
        "📏 Size": {"dropped": 1, "dropped_too_large": 1, "dropped_versions_too_large": 2},  # toobig; big's last two
        "📥 Git blobs": {},
        "🧱 Binary": {"dropped": 1, "dropped_binary": 1},  # assets/blob.c
        "🔣 UTF-8": {"dropped": 1, "dropped_non_utf8": 1},  # legacy/latin.py
        "🤖 Generated": {"dropped": 1, "dropped_generated": 1},  # gen/schema.py
        # spaces.py had nothing else; calculator's reformatting step is removed
        "␣ Whitespace-only": {"dropped": 1, "dropped_whitespace_only": 1, "dropped_versions_whitespace_only": 1},
        # rewrite.py is all rewrite; huge.py keeps the versions after its rewrite
        "🐘 Huge diff": {"dropped": 1, "dropped_huge_diff": 1, "dropped_versions_huge_diff": 2},
        "🪟 Recent window": {"dropped_versions_window": 2},  # long.py: 6 versions
    }


def test_trajectory_follows_rename_and_merge(history):
    shas, _, documents = history
    (doc,) = [d for d in documents if d.metadata["path"] == "src/calculator.py"]
    versions = doc.metadata["versions"]
    assert doc.id == f"demo:src/calculator.py@{shas['c1'][:12]}"
    assert [v["code"] for v in versions] == [CALC[0], CALC[1], CALC[2], CALC[5]]  # CALC[3]: whitespace only
    assert [v["commit"] for v in versions] == [shas["c1"], shas["c2"], shas["c3"], shas["merge"]]
    assert [v["message"] for v in versions] == [
        "Add calculator and assets",
        "Second pass — naïve ünïcode",
        "Rename calc to calculator",
        "Merge branch 'feature'",
    ]
    assert doc.text == CALC[5]
    assert doc.metadata["language"] == "python"
    assert doc.metadata["provenance"] == {
        "kind": "git",
        "origin": None,
        "revision": shas["c9"],
        "renamed_from": ["src/calc.py"],
    }


def test_cuts_keep_the_most_recent_unbroken_run(history):
    _, _, documents = history
    code = {d.metadata["path"]: [v["code"] for v in d.metadata["versions"]] for d in documents}
    assert code["src/big.py"] == ["a = 1\n", "a = 2\n"]  # later versions too large
    assert len(code["src/huge.py"]) == 3 and code["src/huge.py"][0].startswith("z_0 = 0\n")  # after the rewrite
    assert code["src/long.py"] == [f"v = {i}\n" for i in range(2, 6)]  # the most recent window
    assert code["src/indent.py"][1].endswith("        return x\n")  # indentation is a real edit in Python
    old = sorted(d.metadata["versions"][0]["code"] for d in documents if d.metadata["path"] == "src/old.py")
    assert old == ["NEW = 1\n", "OLD = 1\n"]  # deleted, then added again: two trajectories


def test_sharding_is_deterministic_and_complete(history):
    _, _, documents = history
    source = GitSource.open(documents[0].metadata["git_dir"])
    expected = sorted(doc.id for doc in documents)
    for world_size in (2, 3):
        ids = [doc.id for doc in run(commit_steps(GitHistoryReader([source])), world_size)]
        assert sorted(ids) == expected and len(set(ids)) == len(ids)
    assert {shard_of(doc_id, 2) for doc_id in expected} == {0, 1}


def test_empty_repository_is_counted_not_fatal(tmp_path):
    Repo(tmp_path / "empty")
    reader = GitHistoryReader([GitSource.open(tmp_path / "empty")])
    assert run([reader]) == []
    assert counters(reader) == {"dropped_empty_repository": 1}


def test_unreadable_repository_is_counted_not_fatal(history, tmp_path):
    _, _, documents = history
    copy = tmp_path / "corrupt"
    shutil.copytree(documents[0].metadata["git_dir"], copy, symlinks=True)
    source = GitSource.open(copy)
    shutil.rmtree(copy / ".git" / "objects")  # the history cannot be read any more
    reader = GitHistoryReader([source])
    assert run([reader]) == []
    assert counters(reader) == {"dropped_unreadable_repository": 1}


def test_reader_caps_very_long_histories(history):
    _, _, documents = history
    reader = GitHistoryReader([GitSource.open(documents[0].metadata["git_dir"])], max_history=3)
    long = [doc for doc in run([reader]) if doc.metadata["path"] == "src/long.py"]
    assert [len(doc.metadata["versions"]) for doc in long] == [3]
    # long.py 6 -> 3, calculator.py and huge.py 5 -> 3, big.py 4 -> 3
    assert counters(reader)["dropped_versions_history"] == 3 + 2 + 2 + 1


def test_missing_blob_breaks_the_trajectory(tmp_path):
    repo = Repo(tmp_path / "shallow")
    for i in range(3):
        repo.commit(f"v{i}", {"a.py": f"a = {i}\n"})
    blob = repo.git("rev-parse", "HEAD~2:a.py")
    (repo.root / ".git" / "objects" / blob[:2] / blob[2:]).unlink()  # as in a partial clone
    loader = GitBlobLoader()
    steps = [GitHistoryReader([GitSource.open(repo.root)]), SizeFilter(), loader]
    (doc,) = run(steps)
    assert [v["code"] for v in doc.metadata["versions"]] == [b"a = 1\n", b"a = 2\n"]
    assert counters(loader) == {"dropped_versions_missing_blob": 1}


def test_skeleton_ignores_spacing_but_not_python_indentation():
    assert skeleton("x = 1\n\n\ny=2  \n", keep_indent=False) == skeleton("x=1\ny = 2\n", keep_indent=False)
    moved = ("if a:\n    b()\nc()\n", "if a:\n    b()\n    c()\n")
    assert skeleton(moved[0], keep_indent=True) != skeleton(moved[1], keep_indent=True)
    assert skeleton(moved[0], keep_indent=False) == skeleton(moved[1], keep_indent=False)
    assert skeleton("if a:\n\tb()\n", keep_indent=True) == skeleton("if a:\n        b()\n", keep_indent=True)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("a\nb\nc\n", "a\nb\nc\n", 0),
        ("a\nb\nc\n", "a\nB\nc\n", 2),
        ("a\nb\nc\n", "a\nb\nc\nd\ne\n", 2),
        ("", "a\nb\n", 2),
        ("a\nb\nc\nd\n", "x\nb\ny\nd\n", 4),
        ("a\nb\n", "", 2),
    ],
)
def test_changed_lines_counts_added_plus_removed(old, new, expected):
    assert changed_lines(old, new) == expected


def hub_row(commit: str, path: str, old: str | None, new: str, message: str, **columns: str) -> dict:
    """A row with the columns of `bigcode/commitpackft` and `nuprl/EditPackFT-Multi`."""
    return {
        "commit": commit * 40,
        "old_file": columns.get("old_file", path),
        "new_file": path,
        "old_contents": old,
        "new_contents": new,
        "subject": message.splitlines()[0],
        "message": message,
        "lang": columns.get("lang", "Python"),
        "license": columns.get("license", "mit"),
        "repos": columns.get("repos", "e/f"),
    }


HUB_ROWS = [
    hub_row(
        "a",
        "pkg/stats.py",
        "def mean(xs):\n    return sum(xs) / len(xs)\n",
        "def mean(xs):\n    if not xs:\n        return 0.0\n    return sum(xs) / len(xs)\n",
        "Handle empty input\n\nmean([]) raised ZeroDivisionError.\n",
        repos="alice/stats,bob/stats-fork",
    ),
    hub_row("b", "src/New.java", "class Old {}\n", "class New {}\n", "Rename Old", old_file="src/Old.java"),
    hub_row("c", "cmd/main.go", "", "package main\n\nfunc main() {}\n", "Add entry point"),  # a new file
    hub_row("d", "a.py", "x = 1\n", "x=1  \n\n", "Format"),  # whitespace only
    hub_row("e", "b.c", "int x;\n", "int x;\0\1\2", "Oops"),  # binary
    hub_row("f", "c.py", None, "y = 1\n", "Broken"),  # broken row
    hub_row("1", "README.md", "# a\n", "# b\n", "Docs"),  # language
    hub_row("2", "vendor/x.js", "var a;\n", "var b;\n", "Bump"),  # vendored
    hub_row("3", "d.py", "z = 0\n", "z = 1\n" + "#" * 3000 + "\n", "Grow"),  # too large
    hub_row("4", "e.py", numbered("a", 30), numbered("b", 30), "Rewrite"),  # huge diff: 60 changed lines
    hub_row("5", "f.py", "# @generated\nA = 1\n", "# @generated\nA = 2\n", "Regen"),  # generated
]


@pytest.fixture(params=["parquet", "json"])
def hub_twin(request, tmp_path) -> tuple[str, dict]:
    """A local file with the Hub datasets' columns, read through `datasets` as the Hub ones are."""
    if request.param == "parquet":  # EditPackFT-Multi ships parquet (with an extra `config` column)
        path = tmp_path / "train-00000-of-00001.parquet"
        pq.write_table(pa.Table.from_pylist([{**row, "config": "python"} for row in HUB_ROWS]), path)
    else:  # commitpackft ships JSON lines
        path = tmp_path / "data.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in HUB_ROWS))
    return request.param, {"data_files": str(path)}


def test_hub_rows_become_two_version_trajectories(hub_twin):
    builder, options = hub_twin
    reader = HubCommitReader(builder, options, source_name="bigcode/commitpackft")
    steps = commit_steps(reader)
    documents = run(steps)
    assert [doc.metadata["path"] for doc in documents] == ["pkg/stats.py", "src/New.java", "cmd/main.go"]
    stats, renamed, created = documents
    assert stats.id == f"alice/stats:pkg/stats.py@{'a' * 12}"
    assert stats.metadata["versions"] == [
        {"commit": None, "date": None, "message": "", "code": HUB_ROWS[0]["old_contents"]},
        {
            "commit": "a" * 40,
            "date": None,
            "message": "Handle empty input\n\nmean([]) raised ZeroDivisionError.",
            "code": HUB_ROWS[0]["new_contents"],
        },
    ]
    assert (stats.metadata["license"], stats.metadata["repo"]) == ("mit", "alice/stats")
    assert renamed.metadata["provenance"] == {
        "kind": "hub",
        "origin": "bigcode/commitpackft",
        "revision": None,
        "renamed_from": ["src/Old.java"],
    }
    assert [created.metadata["language"], created.metadata["versions"][0]["code"]] == ["go", ""]
    dropped = {name: count for step in steps for name, count in counters(step).items() if name != "dropped"}
    assert dropped == {
        "dropped_broken_row": 1,
        "dropped_whitespace_only": 1,
        "dropped_binary": 1,
        "dropped_language": 1,
        "dropped_vendored": 1,
        "dropped_too_large": 1,
        "dropped_huge_diff": 1,
        "dropped_generated": 1,
    }


def test_hub_reader_shards_rows_across_tasks(hub_twin):
    builder, options = hub_twin
    ids = [doc.id for doc in run([HubCommitReader(builder, options)], world_size=3)]
    assert sorted(ids) == sorted(doc.id for doc in run([HubCommitReader(builder, options)])) and len(ids) == 10


def test_repository_copy_reads_the_same(history, tmp_path):
    """The trajectories depend on the history, not on where the repository sits."""
    _, _, documents = history
    copy = tmp_path / "demo"
    shutil.copytree(documents[0].metadata["git_dir"], copy, symlinks=True)
    again = run(commit_steps(GitHistoryReader([GitSource.open(copy)])))
    assert [(d.id, d.metadata["versions"]) for d in again] == [(d.id, d.metadata["versions"]) for d in documents]
