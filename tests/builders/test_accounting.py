"""No silent loss: a real multi-kind build (the session's SmolLM2 server, the bubblewrap sandbox) accounts for every
input row per stage and kind, in the manifest and on the card."""

import dataclasses
import json
from dataclasses import replace

from cursorcore.builders import programming_instruct as pi
from cursorcore.builders.accounting import STAGES, accounting, instrumented
from cursorcore.builders.runner import build_workdir, run_to_hub
from cursorcore.processing.assembly import row_adapter
from cursorcore.processing.llm import reject
from cursorcore.processing.synthesis.results import Rejection
from cursorcore.schema import FEATURES
from tests.processing.test_assembly import (
    commit_row,
    failed_sample,
    make_sample,
    oj_row,
    program,
    result,
    seed_row,
    synthesis_document,
    write_synthesis,
)

# Every kind, on as few inputs as show it: the build that gates CI (the embedded default's is a slow test). The
# Programming-Instruct kinds with short answers; Self-OSS-Instruct and AIEV on one seed with the embedded settings
SHORT = {"max_attempts": 1, "instruction_max_tokens": 48, "judge_max_tokens": 48, "chat_max_tokens": 48}
INPUTS = {"oj": 2, "aiprogrammer": 2, "commit": 1, "self-oss-instruct": 1, "aiev": 1}
KINDS = list(INPUTS)
SYNTHESIS = {kind: {**pi.DEFAULT_SYNTHESIS[kind], **SHORT} for kind in ("oj", "aiprogrammer", "commit")}


def test_every_input_row_is_accounted_for_per_stage_and_kind(llm_server, tmp_path):
    config = pi.Config(
        kinds=KINDS,
        inputs_per_kind=INPUTS,
        synthesis={**pi.DEFAULT_SYNTHESIS, **SYNTHESIS},
        llm=dataclasses.asdict(llm_server.endpoint_config()),
    )
    report = pi.build(config, hub=tmp_path)
    manifest = json.loads((report.folder / "manifest.json").read_text())
    ledgers = manifest["accounting"]
    assert sorted(ledgers) == sorted(KINDS)
    for kind, stages in ledgers.items():
        assert sorted(stages) == sorted(STAGES), kind
        for stage, ledger in stages.items():
            explained = ledger["kept"] + sum(ledger["rejected"].values()) + sum(ledger["failed"].values())
            assert explained == ledger["read"] and ledger["unaccounted"] == 0, (kind, stage, ledger)
        # each stage reads what the one before it kept or holds: rows the selection took, the candidates of
        # the results, the samples that passed the assembly's filters
        selection = manifest["stats"][f"synthesis-{kind}/SELECT: inputs"]
        assert stages["synthesis"]["read"] == selection["total"] > 0
        assert stages["render"]["read"] == stages["expand"]["kept"]
        released = sum(n for name, n in report.rows.items() if name in (f"{kind}/train", f"{kind}/test"))
        assert stages["render"]["kept"] == released
    # the results' candidates are the expander's own counts, every kind together
    expander = manifest["stats"]["expand/ASSEMBLY: expand synthesis results"]
    candidates = sum(n for name, n in expander.items() if name.startswith(("rejected_", "kept_")))
    assert sum(stages["expand"]["read"] for stages in ledgers.values()) == candidates

    card = (report.folder / "README.md").read_text()
    assert "**Where every input went.**" in card
    for kind, stages in ledgers.items():
        for stage, ledger in stages.items():
            assert f"| {kind} | {stage} (" in card and f"| {ledger['read']} | {ledger['kept']} |" in card


def test_the_ledgers_follow_candidates_through_every_assembly_step(tmp_path, benchmark_paths):
    """Known synthesis results of three kinds through the builder's assembly: every outcome lands in its ledger,
    the assembly's drops by the step that made them."""
    calc = make_sample("commit", program(81), program(81, 1), sample_id="octo/calc/calc.py/0")
    broken = failed_sample("commit", program(80), program(80).replace("):", ":"))
    oj = make_sample("oj", program(90), program(90, 1))
    documents = {
        "commit": [
            synthesis_document(
                "commit", commit_row("octo/calc", "c.py"), result([calc], [Rejection("syntax", "", broken)])
            ),
            synthesis_document("commit", commit_row("octo/other", "c.py"), result([replace(calc, id="dup")])),
            synthesis_document("commit", commit_row("octo/down", "m.py"), reject("llm_request_error", "422")),
        ],
        "oj": [
            synthesis_document("oj", oj_row("CodeNet", "p1", "u1"), result([oj])),
            synthesis_document("oj", oj_row("CodeNet", "p2", "u1"), result([], [Rejection("sandbox_error", "down")])),
        ],
        "aiev": [synthesis_document("aiev", seed_row("stdlib", "x.py", "g"), reject("answer_truncated"))],
    }
    config = pi.Config(kinds=list(documents), benchmark_paths=benchmark_paths)
    settings = dataclasses.asdict(config)
    work = build_workdir(pi.REPO_ID, settings, tmp_path)
    folders = {kind: folder for kind, folder in ((k, work / "synthesis" / k) for k in documents)}
    write_synthesis(work / "synthesis", documents)
    stages = instrumented(pi.assembly_stages(config, work, work / "dataset", list(folders.values())), folders)
    report = run_to_hub(
        stages,
        repo_id=pi.REPO_ID,
        adapter=row_adapter,
        config=settings,
        hub=tmp_path,
        schema=FEATURES.arrow_schema,
        output_filename=pi.OUTPUT,
    )
    stats = dict(report.stats)
    for kind, docs in documents.items():  # what the synthesis stages' input selection would have counted
        stats[f"synthesis-{kind}/SELECT: inputs"] = {"total": len(docs) + 1, "dropped_too_long": 1}
    ledgers = accounting(stats, list(documents))
    (dedup,) = [reason for reason in ledgers["commit"]["expand"]["rejected"] if "dedup" in reason]
    assert ledgers["commit"] == {
        "synthesis": {
            "read": 4,
            "kept": 2,
            "rejected": {"too_long": 1},
            "failed": {"llm_request_error": 1},
            "unaccounted": 0,
        },
        "expand": {
            "read": 4,
            "kept": 1,
            "rejected": {dedup: 1, "syntax": 1},
            "failed": {"llm_request_error": 1},
            "unaccounted": 0,
        },
        "render": {"read": 1, "kept": 1, "rejected": {}, "failed": {}, "unaccounted": 0},
    }
    assert ledgers["oj"]["synthesis"]["failed"] == ledgers["oj"]["expand"]["failed"] == {"sandbox_error": 1}
    assert ledgers["oj"]["render"]["kept"] == 1
    assert ledgers["aiev"]["synthesis"]["rejected"] == {"answer_truncated": 1, "too_long": 1}
    assert ledgers["aiev"]["render"] == {"read": 0, "kept": 0, "rejected": {}, "failed": {}, "unaccounted": 0}
