"""The online-judge steps on real folders: every drop reason, bad input, sharding and the AtCoder layout."""

import csv
from collections import Counter

import pytest

from cursorcore.processing.sources.oj import OJProblemDiversityFilter, OJReader, oj_row
from cursorcore.processing.sources.rouge import rouge_l, rouge_tokens
from tests.processing.sources.oj_folders import (
    DRAFT,
    SOLUTION,
    good,
    oj_steps,
    program,
    run,
    statuses,
    write_codenet,
)

P = "p00001"


def kept_and_dropped(tmp_path, rows, **options) -> tuple[set[str], Counter]:
    documents, counters = run(oj_steps(write_codenet(tmp_path, rows), **options))
    dropped = Counter({name: count for name, count in counters.items() if name.startswith("dropped_")})
    return set(documents), dropped


def test_a_clean_trajectory_is_one_row_with_every_submission(tmp_path):
    documents, counters = run(oj_steps(write_codenet(tmp_path, good(P, "u1"))))
    row = oj_row(None, documents[f"test/{P}/u1"])
    assert row["submissions"][-1]["code"] == SOLUTION and row["submissions"][0]["code"] == DRAFT
    assert [s["status"] for s in row["submissions"]] == ["Wrong Answer", "Accepted"]
    assert row["submissions"][0]["timestamp"] < row["submissions"][1]["timestamp"]
    assert (row["source"], row["language"], row["problem_id"], row["user_id"]) == ("oj", "Python", P, "u1")
    assert (row["dataset"], row["layout"], row["license"], row["statement"]) == ("test", "codenet", "MIT", "")
    assert not [name for name in counters if name.startswith("dropped")]


def u2(*attempts: tuple[str, str | bytes | None], language: str = "Python") -> list[tuple]:
    """Rows of user u2 on problem P from (status, code) pairs."""
    return [(P, "u2", language, status, code) for status, code in attempts]


WA, AC = "Wrong Answer", "Accepted"
ELF = b"\x7fELF\x02\x01\x00\x00" + bytes(range(256))
LATIN1 = "# \u00e9cart\n".encode("latin-1") + DRAFT.encode()


@pytest.mark.parametrize(
    ("bad", "reason", "options"),
    [
        (u2((WA, DRAFT)) + u2((AC, SOLUTION), language="C++"), "multiple_languages", {}),
        (u2((WA, DRAFT), ("Time Limit Exceeded", SOLUTION)), "no_accepted", {}),
        (u2((AC, SOLUTION)), "single_submission", {}),
        (u2((WA, "print(sum(x))\n"), (AC, "\nprint(sum(y))\n")), "one_line_final", {}),
        (u2((WA, DRAFT), (AC, SOLUTION.replace("\n", "\n\n\n\n", 1))), "blank_lines_final", {}),
        (u2((WA, "# 合計\n" + DRAFT), (AC, SOLUTION)), "non_ascii", {}),
        (u2((WA, program(3)), (AC, program(4))), "dissimilar_history", {}),
        (u2((WA, DRAFT), (WA, DRAFT), (AC, SOLUTION)), "consecutive_duplicates", {"duplicates": "drop"}),
        (u2((WA, None), (AC, SOLUTION)), "missing_file", {}),
        (u2((WA, ELF), (AC, SOLUTION)), "binary_file", {}),
        (u2((WA, LATIN1), (AC, SOLUTION)), "not_utf8", {}),
        (u2((WA, DRAFT + "#" * 5000), (AC, SOLUTION)), "too_large", {"max_bytes": 4096}),
    ],
)
def test_each_trajectory_rule_drops_with_its_reason(tmp_path, bad, reason, options):
    rows = good(P, "u1", variant=1) + bad
    kept, dropped = kept_and_dropped(tmp_path, rows, **options)
    assert kept == {f"test/{P}/u1"}
    assert dropped == {f"dropped_{reason}": 1}


def test_the_trajectory_ends_at_the_first_accepted(tmp_path):
    rows = [(P, "u1", "Python", "Runtime Error", DRAFT), (P, "u1", "Python", "Accepted", SOLUTION)]
    rows += [(P, "u1", "Python", "Accepted", SOLUTION + "# faster\n")]
    documents, _ = run(oj_steps(write_codenet(tmp_path, rows)))
    assert statuses(documents[f"test/{P}/u1"]) == ["Runtime Error", "Accepted"]
    assert documents[f"test/{P}/u1"].text == SOLUTION


def test_consecutive_duplicates_are_deduped_keeping_the_last_verdict(tmp_path):
    rows = [(P, "u1", "Python", "Wrong Answer", DRAFT), (P, "u1", "Python", "Time Limit Exceeded", DRAFT)]
    rows += [(P, "u1", "Python", "Time Limit Exceeded", SOLUTION), (P, "u1", "Python", "Accepted", SOLUTION)]
    documents, counters = run(oj_steps(write_codenet(tmp_path, rows)))
    assert statuses(documents[f"test/{P}/u1"]) == ["Time Limit Exceeded", "Accepted"]
    assert counters["deduped_submissions"] == 2


def test_dissimilar_earlier_submissions_are_dropped_or_keep_the_whole_trajectory(tmp_path):
    rows = [(P, "u1", "Python", "Wrong Answer", program(5)), (P, "u1", "Python", "Wrong Answer", DRAFT)]
    rows += [(P, "u1", "Python", "Accepted", SOLUTION)]
    folder = write_codenet(tmp_path, rows)
    documents, counters = run(oj_steps(folder))
    assert statuses(documents[f"test/{P}/u1"]) == ["Wrong Answer", "Accepted"]
    assert documents[f"test/{P}/u1"].metadata["submissions"][0]["code"] == DRAFT
    assert counters["dissimilar_submissions"] == 1
    documents, _ = run(oj_steps(folder, similarity="trajectory"))  # CursorCore's script: one close draft suffices
    assert len(documents[f"test/{P}/u1"].metadata["submissions"]) == 3


def test_drafts_that_meet_again_after_an_unrelated_program_are_one_draft(tmp_path):
    rows = u2((WA, DRAFT), (WA, program(5)), (WA, DRAFT), (AC, SOLUTION))
    documents, counters = run(oj_steps(write_codenet(tmp_path, rows)))
    kept = documents[f"test/{P}/u2"].metadata["submissions"]
    assert [s["submission_id"] for s in kept] == ["s000000003", "s000000004"]
    assert counters["dissimilar_submissions"] == counters["deduped_submissions"] == 1


def test_similar_finals_of_one_problem_keep_the_first_user(tmp_path):
    rows = good(P, "u1") + good(P, "u2") + good("p00002", "u2")
    kept, dropped = kept_and_dropped(tmp_path, rows)
    assert kept == {f"test/{P}/u1", "test/p00002/u2"}  # the limits are per problem
    assert dropped == {"dropped_similar_final": 1}


def test_per_problem_and_per_language_limits(tmp_path):
    rows = [row for n in range(1, 6) for row in good(P, f"u{n}", "Python", variant=n)]
    rows += [row for n in range(6, 9) for row in good(P, f"u{n}", "C++", variant=n)]
    finals = [rouge_tokens(program(n)) for n in range(1, 9)]
    assert max(rouge_l(a, b) for i, a in enumerate(finals) for b in finals[i + 1 :]) < 0.4
    kept, dropped = kept_and_dropped(tmp_path, rows, max_per_problem=4, max_per_language=2)
    assert kept == {f"test/{P}/u{n}" for n in (1, 2, 6, 7)}
    assert dropped == {"dropped_language_limit": 3, "dropped_problem_limit": 1}


def test_broken_metadata_is_counted_and_the_rest_still_read(tmp_path):
    folder = write_codenet(tmp_path, good(P, "u1") + good("p00002", "u1"))
    with open(folder / "metadata" / f"{P}.csv", "a", newline="") as file:
        csv.writer(file).writerows(
            [
                ["s8", P, "u9", "yesterday", "Python", "Python", "py", "Accepted", 1, 1, 1, "1/1"],  # not a date
                ["s9", P, "u9", "1600000000", "Python"],  # short
                ["s10", P, "", "1600000000", "Python", "Python", "py", "Accepted", 1, 1, 1, "1/1"],  # no user
                ["s11", P, "u9", "1600000000", "Python", "Python", "py", "Accepted", 1, 1, 1, "1/1", "extra"],  # long
            ]
        )
    (folder / "metadata" / "p00003.csv").write_bytes(b"submission_id,user\n\xff\xfe broken\n")  # not UTF-8
    (folder / "metadata" / "p00004.csv").write_text("id,who\n1,2\n")  # not CodeNet's columns
    (folder / "metadata" / "problem_list.csv").write_text("id,name\np00001,Sum\n")  # not a problem
    kept, dropped = kept_and_dropped(tmp_path, [])
    assert kept == {f"test/{P}/u1", "test/p00002/u1"}
    assert dropped == {"dropped_broken_metadata_row": 4, "dropped_unreadable_metadata_file": 2}


def test_empty_and_codeless_folders_yield_nothing_without_crashing(tmp_path):
    _, counters = run(oj_steps(tmp_path))
    assert counters["dropped_no_metadata"] == 1
    (tmp_path / "metadata").mkdir()
    documents, counters = run(oj_steps(tmp_path))
    assert not documents and not counters["trajectories"]
    write_codenet(tmp_path, good(P, "u1"))
    for path in (tmp_path / "data").rglob("*.py"):
        path.unlink()
    kept, dropped = kept_and_dropped(tmp_path, [])
    assert not kept and dropped == {"dropped_missing_file": 1}


def test_a_directory_where_code_should_be_is_unreadable(tmp_path):
    folder = write_codenet(tmp_path, good(P, "u1", variant=1) + u2((WA, DRAFT), (AC, None)))
    (folder / "data" / P / "Python" / "s000000004.py").mkdir()
    kept, dropped = kept_and_dropped(tmp_path, [])
    assert kept == {f"test/{P}/u1"} and dropped == {"dropped_unreadable_file": 1}


def test_a_forced_layout_without_its_metadata_reads_nothing(tmp_path):
    folder = write_codenet(tmp_path, good(P, "u1"))
    documents, counters = run(oj_steps(folder, layout="atcoder"))
    assert not documents and counters["dropped_no_metadata"] == 1


def test_identical_problems_are_skipped_after_the_first_of_their_cluster(tmp_path):
    folder = write_codenet(tmp_path, good(P, "u1") + good("p00002", "u2", variant=2) + good("p00003", "u3", variant=3))
    (folder / "derived" / "duplicates").mkdir(parents=True)
    (folder / "derived" / "duplicates" / "identical_problem_clusters").write_text(f"{P},p00003\n")
    kept, dropped = kept_and_dropped(tmp_path, [])
    assert kept == {f"test/{P}/u1", "test/p00002/u2"}
    assert dropped == {"dropped_identical_problem": 1}


def test_line_endings_and_byte_order_marks_are_normalised(tmp_path):
    rows = [(P, "u1", "Python", "Wrong Answer", DRAFT.replace("\n", "\r\n").encode())]
    rows += [(P, "u1", "Python", "Accepted", b"\xef\xbb\xbf" + SOLUTION.encode())]
    documents, _ = run(oj_steps(write_codenet(tmp_path, rows)))
    assert [s["code"] for s in documents[f"test/{P}/u1"].metadata["submissions"]] == [DRAFT, SOLUTION]


def test_statements_are_attached_from_html(tmp_path):
    html = "<h1>Sum</h1><p>Print the   sum.</p><pre>1 2\n3</pre>"
    folder = write_codenet(tmp_path, good(P, "u1") + good("p00002", "u2", variant=2), statements={P: html})
    documents, counters = run(oj_steps(folder, descriptions=str(folder / "problem_descriptions")))
    assert documents[f"test/{P}/u1"].metadata["statement"] == "Sum\n\nPrint the sum.\n\n1 2\n3"
    assert documents["test/p00002/u2"].metadata["statement"] == ""
    assert (counters["with_statement"], counters["without_statement"]) == (1, 1)


def test_shards_split_by_problem_and_together_equal_one_task(tmp_path):
    rows = [row for n in range(7) for user in ("u1", "u2") for row in good(f"p{n:05d}", user, variant=n + 1)]
    folder = write_codenet(tmp_path, rows)
    whole, whole_counters = run(oj_steps(folder))
    shards = [run(oj_steps(folder), rank, 3) for rank in range(3)]
    assert {key for documents, _ in shards for key in documents} == set(whole)
    problems = [{doc.metadata["problem_id"] for doc in documents.values()} for documents, _ in shards]
    assert sum(len(p) for p in problems) == len(set().union(*problems)) == 7
    assert sum((counters for _, counters in shards), Counter())["trajectories"] == whole_counters["trajectories"]


def test_diversity_refuses_interleaved_problems(tmp_path):
    rows = good("p00001", "u1") + good("p00002", "u1", variant=2)
    documents = list(OJReader(str(write_codenet(tmp_path, rows)), dataset="t")())
    for doc in documents:
        doc.metadata["language"], doc.text = "Python", "x = 1\ny = 2\n"
    step = OJProblemDiversityFilter()
    with pytest.raises(RuntimeError, match="not contiguous"):
        list(step([documents[0], documents[1], documents[0]]))


def write_atcoder(root, rows):
    """An AtCoder-layout folder: metadata.csv with a `path` column, code under files/."""
    columns = ["submission_id", "problem_id", "contest_id", "user_id", "date", "language", "filename_ext", "status"]
    lines = []
    for number, (problem, status, code, date) in enumerate(rows, start=1):
        path = f"files/{problem}_{number}.cpp"
        (root / "files").mkdir(parents=True, exist_ok=True)
        (root / path).write_text(code)
        lines.append([str(number), problem, problem.split("_")[0], "kamome", date, "C++", "cpp", status, "1", path])
    with open(root / "metadata.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([*columns, "cpu_time_ms", "path"])
        writer.writerows(lines)
        writer.writerow(["99", "", "", "kamome", "2022-01-01 00:00:00", "C++", "cpp", "AC", "1"])  # no problem
    return root


def test_atcoder_layout_verdicts_dates_and_sharding(tmp_path):
    cpp = (
        '#include <cstdio>\nint main() {\n    int a, b;\n    scanf("%d %d", &a, &b);\n    printf("%d\\n", a + b);\n}\n'
    )
    rows = [
        ("abc001_a", "WA", cpp.replace("a + b", "a - b"), "2022-06-21 19:16:47"),
        ("abc001_a", "AC", cpp, "2022-06-21 19:28:09"),
        ("abc001_a", "AC", cpp + "// again\n", "2022-06-21 19:30:00"),
        ("abc002_b", "TLE", cpp, "2022-06-22 10:00:00"),
    ]
    folder = write_atcoder(tmp_path, rows)
    documents, counters = run(oj_steps(folder))
    doc = documents["test/abc001_a/kamome"]
    assert statuses(doc) == ["Wrong Answer", "Accepted"] and doc.metadata["layout"] == "atcoder"
    assert [s["timestamp"] for s in doc.metadata["submissions"]] == [1655839007, 1655839689]
    assert counters["dropped_no_accepted"] == 1 and counters["dropped_broken_metadata_row"] == 1
    shards = [run(oj_steps(folder), rank, 2)[1] for rank in range(2)]
    assert sum(c["dropped_broken_metadata_row"] for c in shards) == 1  # counted by one task only


def test_real_atcoder_archive(shared):
    source = shared / "sources" / "oj" / "atcoder-yukikamome316"
    documents, counters = run(oj_steps(source))
    assert counters["trajectories"] == 351 and len(documents) == 86
    assert {name: n for name, n in counters.items() if name.startswith("dropped_")} == {
        "dropped_no_accepted": 22,
        "dropped_single_submission": 230,
        "dropped_non_ascii": 8,
        "dropped_dissimilar_history": 5,
    }
    for doc in documents.values():
        assert statuses(doc)[-1] == "Accepted" and "Accepted" not in statuses(doc)[:-1]
        assert len(doc.metadata["submissions"]) >= 2 and doc.text.isascii()


def test_reader_options_come_from_datatrove(tmp_path):
    folder = write_codenet(tmp_path, [row for n in range(3) for row in good(f"p{n:05d}", "u1", variant=n + 1)])
    defaults = {"source": "oj", "dataset": "overridden by the reader's own"}
    documents = list(OJReader(str(folder), dataset="t", limit=2, default_metadata=defaults)())
    assert [doc.id for doc in documents] == ["t/p00000/u1", "t/p00001/u1"]
    assert all((doc.metadata["source"], doc.metadata["dataset"]) == ("oj", "t") for doc in documents)
    assert [doc.id for doc in OJReader(str(folder), dataset="t", skip=2)()] == ["t/p00002/u1"]
