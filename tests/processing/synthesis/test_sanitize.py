"""SelfCodeAlign's sanitize step on Self-OSS-Instruct samples: each rule on responses shaped like the ones models
write, the dedup passes in order, and both steps in a real datatrove pipeline with their counters."""

import gzip
import itertools
import json

import pytest
from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter

from cursorcore.processing.synthesis.sanitize import (
    MinHasher,
    SanitizeDedup,
    SanitizeFilter,
    code_representation,
    defined_names,
    lsh_bands,
)
from cursorcore.schema import Sample, Snapshot

SUM_SQUARES = "def sum_of_squares(numbers):\n    return sum(n * n for n in numbers if n >= 0)\n"
SUM_SQUARES_CHAT = (
    "A generator expression skips the negative numbers.\n\nTests:\n```python\n"
    "assert sum_of_squares([1, -2, 3]) == 10\nassert sum_of_squares([]) == 0\n```"
)
INSTRUCTION = (
    "Write a Python function `sum_of_squares(numbers)` that returns the sum of the squares of the non-negative "
    "integers in a list, ignoring the negative ones."
)
MEDIAN = '''class RunningMedian:
    """The median of the numbers added so far."""

    def __init__(self):
        self.values = []

    def add(self, value):
        self.values.append(value)
        self.values.sort()

    def median(self):
        middle = len(self.values) // 2
        return self.values[middle]
'''


IDS = itertools.count()


def soi(instruction: str, code: str, chat: str = SUM_SQUARES_CHAT, source: str = "self-oss-instruct") -> Document:
    """A kept sample as `SynthesisExpander` yields it."""
    sample = Sample(current=Snapshot(""), user=instruction, next=Snapshot(code), chat=chat, source=source)
    return Document(text="", id=f"{source}/{next(IDS)}", metadata={"sample": sample.to_row(), "source": source})


@pytest.mark.parametrize(
    ("code", "chat", "instruction", "reason"),
    [
        (SUM_SQUARES.replace("return", "# TODO: handle floats\n    return"), SUM_SQUARES_CHAT, INSTRUCTION,
         "incomplete_code"),
        ("def parse(text):\n    raise NotImplementedError\n", SUM_SQUARES_CHAT, INSTRUCTION, "incomplete_code"),
        (SUM_SQUARES, "Fill in the body.\n```python\n# Your code here\n```", INSTRUCTION, "incomplete_code"),
        (SUM_SQUARES, SUM_SQUARES_CHAT, " ".join(["word"] * 201), "long_instruction"),
    ],
)  # fmt: skip
def test_incomplete_responses_and_long_instructions_are_dropped(code, chat, instruction, reason):
    assert SanitizeFilter().filter(soi(instruction, code, chat)) == (False, reason)


def test_other_sources_and_clean_samples_pass_the_filter():
    step = SanitizeFilter()
    assert step.filter(soi(" ".join(["word"] * 200), SUM_SQUARES)) is True
    assert step.filter(soi(INSTRUCTION, "# TODO\ndef f(x):\n    return x\n", source="commit")) is True


def test_the_code_representation_keeps_functions_and_classes_without_docstrings():
    code = (
        'import math\n\nLIMIT = 3\n\n\ndef area(r):\n    """Area."""\n    return math.pi * r * r\n\n\nprint(area(1))\n'
    )
    assert code_representation(code) == "def area(r):\n    return math.pi * r * r"
    assert "median" in code_representation(MEDIAN) and '"""' not in code_representation(MEDIAN)
    assert code_representation("print('script only')") == ""
    assert defined_names(MEDIAN) == (frozenset({"add", "median", "init"}), frozenset({"runningmedian"}))


def test_lsh_bands_are_the_ones_minhash_dedup_uses_at_jaccard_0_7():
    bands, rows = lsh_bands(0.7, 250)
    assert bands * rows <= 250
    # a pair at Jaccard 0.9 almost surely shares a band, a pair at 0.3 almost never does
    assert 1 - (1 - 0.9**rows) ** bands > 0.99 and 1 - (1 - 0.3**rows) ** bands < 0.01


def test_near_duplicates_are_dropped_and_the_first_stays():
    words = [f"w{i}" for i in range(100)]
    a = " ".join(words)
    b = " ".join([*words[:80], "x1", *words[81:]])  # one word changed: Jaccard about 0.9
    c = " ".join([*words[:20], "x2", *words[21:80], "x1", *words[81:]])  # and one more
    other = " ".join(reversed(words))
    assert MinHasher().keep([a, b, other, c]) == [True, False, True, False]


def run_dedup(*documents: Document) -> tuple[list[str], dict[str, int]]:
    step = SanitizeDedup()
    kept = [doc.id for doc in step.run(iter(documents))]
    return kept, {name: value.total for name, value in step.stats.stats.items() if name != "time"}


def test_exact_duplicates_of_either_field_are_dropped_white_space_ignored():
    first = soi(INSTRUCTION, SUM_SQUARES)
    same_instruction = soi(INSTRUCTION.replace(" the ", "  the\n"), MEDIAN, chat="Keep the list sorted.")
    kept, stats = run_dedup(first, same_instruction)
    assert kept == [first.id] and stats["dropped_exact_duplicate"] == 1


def test_a_response_defining_the_same_names_is_dropped_even_when_written_otherwise():
    first = soi(INSTRUCTION, SUM_SQUARES)
    renamed = soi(
        "Given a list of whole numbers, add up the squares of those that are zero or more and return the total.",
        "def sumOfSquares(values):\n    total = 0\n    for v in values:\n"
        "        if v >= 0:\n            total += v ** 2\n    return total\n",
        chat="A loop with an accumulator.",
    )
    median = soi(
        "Implement a class that keeps the median of a stream of numbers added one at a time.", MEDIAN, "Sort."
    )
    kept, stats = run_dedup(first, renamed, median)
    assert kept == [first.id, median.id] and stats["dropped_same_names"] == 1


def test_near_duplicate_instructions_responses_and_code_are_dropped_in_that_order():
    base = soi(INSTRUCTION, SUM_SQUARES)
    longer = soi(
        INSTRUCTION + " Return 0 for an empty list.",
        "def total_of_squares(items):\n    return sum(i * i for i in items if i >= 0)\n",
        chat="The sum of an empty generator is 0.",
    )
    median = soi(
        "Implement a class that keeps the median of a stream of numbers added one at a time.", MEDIAN, "Sort."
    )
    # the same class under other names, explained at length in other words: only its code gives it away
    renamed = MEDIAN.replace("RunningMedian", "StreamMedian").replace("def add", "def push")
    essay = " ".join(f"note{i}" for i in range(120))
    same_code = soi(
        "Write a class for the middle value of numbers that arrive one by one, in any order.", renamed, essay
    )
    short = soi("Short one.", "def short_one():\n    return 1\n", chat="It returns one.")
    kept, stats = run_dedup(base, longer, median, same_code, short)
    assert kept == [base.id, median.id]
    assert stats["dropped_near_duplicate_instruction"] == 1
    assert stats["dropped_near_duplicate_code"] == 1
    assert stats["dropped_short_instruction"] == 1  # minhash_dedup.py drops what has fewer than 5 words


def test_a_near_duplicate_response_is_dropped():
    base = soi(INSTRUCTION, SUM_SQUARES)
    reworded = soi(
        "Compute, for a list of integers, the total of the squares of its entries that are not negative.",
        SUM_SQUARES.replace("sum_of_squares", "square_sum"),
        SUM_SQUARES_CHAT.replace("sum_of_squares", "square_sum"),
    )
    kept, stats = run_dedup(base, reworded)
    assert kept == [base.id] and stats["dropped_near_duplicate_response"] == 1


def test_other_sources_pass_the_dedup_untouched():
    commit = soi(INSTRUCTION, SUM_SQUARES, source="commit")
    kept, _ = run_dedup(commit, soi(INSTRUCTION, SUM_SQUARES), commit)
    assert kept.count(commit.id) == 2 and len(kept) == 3


def test_both_steps_run_in_a_datatrove_pipeline_and_count_what_they_drop(tmp_path):
    documents = [
        soi(INSTRUCTION, SUM_SQUARES),
        soi(INSTRUCTION, SUM_SQUARES),
        soi(INSTRUCTION, SUM_SQUARES.replace("return", "# FIXME\n    return")),
        soi("Implement a class that keeps the median of a stream of numbers added one at a time.", MEDIAN, "Sort."),
    ]
    source = tmp_path / "in"
    source.mkdir()
    with gzip.open(source / "00000.jsonl.gz", "wt") as handle:
        for document in documents:
            handle.write(json.dumps({"text": "x", "id": document.id, "metadata": document.metadata}) + "\n")
    steps = [
        JsonlReader(str(source)),
        SanitizeFilter(),
        SanitizeDedup(),
        JsonlWriter(str(tmp_path / "out"), output_filename="${rank}.jsonl.gz"),
    ]
    LocalPipelineExecutor(pipeline=steps, tasks=1, workers=1, logging_dir=str(tmp_path / "logs")).run()
    stats = {s["name"]: s["stats"] for s in json.loads((tmp_path / "logs" / "stats.json").read_text())}
    assert stats["🔻 - FILTER: sanitize (SelfCodeAlign)"]["dropped_incomplete_code"] == 1
    dedup = stats["🫂 - DEDUP: sanitize dedup (SelfCodeAlign)"]
    assert dedup["dropped_exact_duplicate"] == 1 and dedup["forwarded"] == 2
    with gzip.open(tmp_path / "out" / "00000.jsonl.gz", "rt") as handle:
        assert [json.loads(line)["id"] for line in handle] == [documents[0].id, documents[3].id]
