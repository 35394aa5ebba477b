"""A build's terminal output is for a person: one line per stage, the summary once and in words, datatrove's own
logs in a file of the build."""

import os
import re
import subprocess
import sys

from cursorcore.builders.progress import readable_counters, readable_stage


def test_counters_read_as_words_with_the_reasons_next_to_their_count():
    counters = {"total": 10, "forwarded": 7, "dropped": 3, "dropped_too_long": 2, "dropped_non_utf8": 1}
    text = readable_counters({**counters, "doc_len": 512, "train-XXXXX.parquet": 7})
    assert text == "in 10 · kept 7 · dropped 3 (non utf8 1, too long 2)"
    assert readable_counters({"dropped_syntax_error": 2, "functions": 5}) == "functions 5 · dropped: syntax error 2"
    assert readable_stage("extract/FILTER: seed rules") == "extract / seed rules (filter)"
    assert readable_stage("READER:  Parquet") == "Parquet (reader)"


def test_a_stack_seeds_build_prints_a_line_per_stage_and_one_summary(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cursorcore.apps.cli", "build", "stack-seeds", "--hub", str(tmp_path / "hub")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    printed = (result.stdout + result.stderr).splitlines()
    assert len(printed) < 40, "\n".join(printed)
    stage_lines = [line for line in printed if re.match(r"^(extract|buckets|cluster|dedup) +\d+/\d+ tasks", line)]
    assert [line.split()[0] for line in stage_lines] == ["extract", "buckets", "cluster", "dedup"]
    assert sum("stack-seeds v0.1.0" in line for line in printed) == 2  # the table's title and the closing line
    assert not any("Launching pipeline" in line or "Stats:" in line for line in printed)
    log = re.search(r"datatrove's logs go to (\S+)", result.stderr)[1]
    assert "Launching pipeline for rank=0" in open(log).read()
