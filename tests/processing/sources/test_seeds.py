"""Seed functions (SelfCodeAlign recipe): extraction, every filter, decontamination and the full build."""

import gzip
import json

import datasets
import pytest
from datatrove.data import Document

from cursorcore.builders.stack_seeds import Config, build
from cursorcore.processing.exact_dedup import ExactDedup
from cursorcore.processing.sources.seeds import (
    DecontaminationFilter,
    FunctionExtractor,
    LocalPythonReader,
    PyrightFilter,
    SeedRulesFilter,
    extract_seeds,
)

MODULE = '''import math
import os.path as osp
from collections import Counter as C


@cache
def decorated(x):
    """Decorators are not part of the seed."""
    return x


def area(radius: float) -> float:
    """Area of a circle of the given radius."""
    return math.pi * radius ** 2


async def fetch(n):
    """Async functions count too."""
    return n


def single_quotes(x):
    \'\'\'Only triple double quotes make a docstring here.\'\'\'
    return x


def no_docstring(x):
    return x


def counts(words):
    """Word counts; uses an aliased import."""
    def inner(w):
        """Nested functions are not seeds."""
        return w
    return C(inner(w) for w in words)


class Shape:
    def perimeter(self):
        """Methods are not seeds."""
        return 0
'''


def test_extracts_top_level_functions_with_triple_double_quoted_docstrings():
    seeds = {seed.name: seed for seed in extract_seeds(MODULE)}
    assert sorted(seeds) == ["area", "counts", "decorated", "fetch"]
    assert seeds["area"].imports == ("import math",)
    assert seeds["counts"].imports == ("from collections import Counter as C",)
    assert seeds["decorated"].code.startswith("def decorated")
    assert seeds["area"].docstring == "Area of a circle of the given radius."


def _seed_doc(code: str) -> Document:
    source = Document(text=code, id="f.py", metadata={"repo": "r", "path": "f.py"})
    return next(iter(FunctionExtractor().run([source])))


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ('def f():\n    """No arguments."""\n    return 1\n', "no_arguments"),
        ('def f(x):\n    """Returns nothing."""\n    print(x)\n    return\n', "no_return_value"),
        ('def f(x):\n    """Long."""\n' + "    x += 1\n" * 150 + "    return x\n", "too_long"),
        ('def f(x):\n    """Fixes a todo."""\n    return x\n', "bad_word"),
        ('def f(x):\n    """Debug helper: "bug" is a substring, as in SelfCodeAlign."""\n    return x\n', "bad_word"),
        ('import os\n\n\ndef f(p):\n    """Path exists."""\n    return os.path.exists(p)\n', "banned_import"),
        (
            'def f(p):\n    """Imports inside count too."""\n    import subprocess\n    return subprocess.run(p)\n',
            "banned_import",
        ),
    ],
)
def test_rule_filter_drops_with_a_reason(code, reason):
    step = SeedRulesFilter()
    assert step.filter(_seed_doc(code)) == (False, reason)


def test_rule_filter_keeps_a_good_seed_and_its_limits_are_configurable():
    good = _seed_doc('def double(x):\n    """Twice x."""\n    return 2 * x\n')
    assert SeedRulesFilter().filter(good) is True
    assert SeedRulesFilter(max_lines=2).filter(good) == (False, "too_long")
    assert SeedRulesFilter(bad_words=["twice"]).filter(good) == (False, "bad_word")


def test_decontamination_catches_copies_and_overlaps(shared, benchmark_paths):
    step = DecontaminationFilter(["humaneval", "mbpp", "apeval"], benchmark_paths, ngram_size=10)
    task = json.loads(gzip.open(shared / "benchmarks/humaneval/HumanEvalPlus-v0.1.10.jsonl.gz", "rt").readline())
    copied = task["prompt"] + task["canonical_solution"]
    assert step.filter(Document(text=copied, id="a")) == (False, "exact_humaneval")
    mbpp = json.loads((shared / "benchmarks/mbpp/sanitized-mbpp.json").read_text())[0]
    reworded = f'def g(a, b):\n    """{mbpp["prompt"]} Also handles empty input."""\n    return a\n'
    assert step.filter(Document(text=reworded, id="b"))[1] in {"exact_mbpp", "ngram_mbpp"}
    assert step.filter(Document(text='def h(x):\n    """Cube x."""\n    return x ** 3\n', id="c")) is True


def test_decontamination_refuses_an_unknown_benchmark():
    with pytest.raises(ValueError, match="unknown benchmark 'leetcode'"):
        DecontaminationFilter(["leetcode"])


def test_pyright_drops_seeds_with_type_errors_and_undefined_names():
    docs = [
        _seed_doc('def ok(x: int) -> int:\n    """Fine."""\n    return x + 1\n'),
        _seed_doc('def bad(x: int) -> int:\n    """Adds a string."""\n    return x + "a"\n'),
        _seed_doc('def helper_missing(x):\n    """Uses a module global."""\n    return _private(x)\n'),
    ]
    assert PyrightFilter().filter_batch(docs) == [True, (False, "type_error"), (False, "type_error")]


def test_exact_dedup_ignores_white_space():
    step = ExactDedup()
    assert step.filter(Document(text="def f(x):\n    return x", id="1")) is True
    assert step.filter(Document(text="def f(x):\n        return x  ", id="2")) == (False, "duplicate")


GOOD = '''import math


def hypotenuse(a: float, b: float) -> float:
    """Length of the hypotenuse of a right triangle with legs a and b."""
    return math.sqrt(a * a + b * b)


def clamp(value: int, low: int, high: int) -> int:
    """Clamp value into the closed interval [low, high], checking that the interval is not empty first."""
    if low > high:
        raise ValueError("empty interval")
    return max(low, min(high, value))
'''
NEAR_DUPLICATE = GOOD.replace("value", "number")


def test_a_file_path_reads_that_file_only_with_datatrove_reader_options(tmp_path):
    for name in ("basics.py", "old_basics.py", "more.py"):
        (tmp_path / name).write_text(GOOD)
    [doc] = LocalPythonReader(tmp_path / "basics.py", default_metadata={"source": "local"})()
    assert doc.id == f"{tmp_path.name}/basics.py" and doc.text == GOOD
    metadata = doc.metadata
    assert (metadata["repo"], metadata["path"], metadata["source"]) == (tmp_path.name, "basics.py", "local")
    assert len(list(LocalPythonReader(tmp_path, limit=2)())) == 2
    assert [doc.metadata["path"] for doc in LocalPythonReader(tmp_path, skip=2)()] == ["old_basics.py"]
    shards = [[doc.metadata["path"] for doc in LocalPythonReader(tmp_path)(None, rank, 2)] for rank in range(2)]
    assert shards == [["basics.py", "old_basics.py"], ["more.py"]]  # datatrove deals the sorted files round-robin


def test_a_folder_without_python_files_is_an_error_not_an_empty_dataset(tmp_path):
    with pytest.raises(RuntimeError, match="No files found"):
        list(LocalPythonReader(tmp_path)())
    with pytest.raises(ValueError, match="set local_paths"):
        build(Config(local_paths=[]), hub=tmp_path / "hub")


@pytest.fixture
def source_tree(tmp_path):
    root = tmp_path / "src"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "good.py").write_text(GOOD)
    (root / "pkg" / "copy.py").write_text(GOOD)  # exact duplicate
    (root / "pkg" / "near.py").write_text(NEAR_DUPLICATE)  # near duplicate
    (root / "pkg" / "broken.py").write_text("def f(:\n    pass\n")
    (root / "pkg" / "latin1.py").write_bytes('def f(x):\n    """caf\xe9"""\n    return x\n'.encode("latin-1"))
    (root / "pkg" / "blob.py").write_bytes(b"\x00\x01\x02binary")
    (root / "pkg" / "huge.py").write_text("x = 1\n" * 400_000)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "tests").mkdir()  # an excluded folder: its good seed must not be read
    cube = 'def cube(x: int) -> int:\n    """Cube of x."""\n    return x ** 3\n'
    (root / "pkg" / "tests" / "cube.py").write_text(cube)
    (root / "pkg" / "notes.txt").write_text(GOOD)  # not a .py file
    return root


def test_build_counts_every_drop_and_loads_back(source_tree, tmp_path, benchmark_paths):
    config = Config(local_paths=[str(source_tree)], benchmark_paths=benchmark_paths, tasks=1)
    report = build(config, hub=tmp_path / "hub")
    extract = {
        name.split(": ", 1)[-1]: counters for name, counters in report.stats.items() if name.startswith("extract/")
    }
    reader = extract["local .py files"]
    assert {name: n for name, n in reader.items() if name.startswith(("files", "dropped_"))} == {
        "files": 4,
        "dropped_binary": 1,
        "dropped_non_utf8": 1,
        "dropped_too_large": 1,
        "dropped_empty": 1,
        "dropped_excluded_folder": 1,
    }
    assert reader["input_files"] == 9  # datatrove lists every .py file, the excluded one too
    assert extract["docstring functions"]["dropped_file_syntax_error"] == 1
    assert extract["exact dedup"]["dropped_duplicate"] == 3  # copy.py twice, near.py's unchanged hypotenuse
    # each load gets its own cache: datasets would answer a second folder named stack-seeds from the first's cache
    rows = datasets.load_dataset(str(report.folder), split="train", cache_dir=str(tmp_path / "cache-1"))
    assert sorted(rows["entry_point"]) == ["clamp", "hypotenuse"]  # the near duplicate went in MinHash
    assert report.rows == {"train": 2}
    assert all(row["content"].startswith(("import math", "def clamp")) for row in rows)
    # across tasks, duplicates that per-task exact dedup cannot see are caught by MinHash: same rows
    sharded_config = Config(local_paths=[str(source_tree)], benchmark_paths=benchmark_paths, tasks=4)
    sharded = build(sharded_config, tmp_path / "h4", 2)
    again = datasets.load_dataset(str(sharded.folder), split="train", cache_dir=str(tmp_path / "cache-4"))
    assert sorted(again["id"]) == sorted(rows["id"])


def test_a_build_killed_in_its_last_stage_resumes_to_the_same_rows(source_tree, tmp_path, benchmark_paths):
    config = Config(local_paths=[str(source_tree)], benchmark_paths=benchmark_paths, typecheck=False)
    first = build(config, hub=tmp_path / "hub")
    rows = datasets.load_dataset(str(first.folder), split="train", download_mode="force_redownload").to_list()
    work = next((tmp_path / "hub" / ".work").rglob("logs"))
    for marker in (work / "default-dedup" / "completions").iterdir():
        marker.unlink()  # as if killed before the last stage finished
    for shard in (first.folder / "data" / "default").glob("*.parquet"):
        shard.unlink()
    second = build(config, hub=tmp_path / "hub")
    again = datasets.load_dataset(str(second.folder), split="train", download_mode="force_redownload").to_list()
    assert again == rows and second.rows == first.rows


def test_bundled_benchmark_snapshot_matches_the_benchmark_files(benchmark_paths):
    from cursorcore.processing.decontamination import load_benchmarks

    names = ["humaneval", "mbpp", "apeval"]
    assert load_benchmarks(names) == load_benchmarks(names, benchmark_paths)


def test_build_writes_a_hub_valid_card_from_its_numbers(source_tree, tmp_path, benchmark_paths):
    from huggingface_hub import DatasetCard

    config = Config(local_paths=[str(source_tree)], benchmark_paths=benchmark_paths, typecheck=False)
    report = build(config, hub=tmp_path / "hub")
    card = DatasetCard.load(report.folder / "README.md")
    meta = card.data.to_dict()
    assert meta["size_categories"] == ["n<1K"]
    shards = sorted(f"data/default/{p.name}" for p in report.folder.glob("data/default/train-*.parquet"))
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": shards}]}]
    assert {f["name"] for f in meta["dataset_info"]["features"]} >= {"content", "entry_point", "docstring"}
    text = card.text
    assert f"| default | train | {report.rows['train']} |" in text
    assert "binary 1" in text and "non utf8 1" in text
    assert "SelfCodeAlign" in text
