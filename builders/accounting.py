"""No silent loss: where every input row of a Programming-Instruct build went, per stage and per kind.

For each kind, three ledgers, each in the unit its stage handles, must balance (kept + rejected by reason + failed
by reason = read):

* `synthesis` — input rows: read by the input selection; too long to use, or fed to the model and then giving a
  sample (kept), or no sample for a reason (its rejection; a row lost to the server refusing a request or to a
  sandbox outage is *failed*);
* `expand` — candidates (the samples and rejections the rows' results hold): kept, rejected by verification (by
  reason) or by an assembly filter (sanitize, decontamination, exact dedup: the step's name), failed like above;
* `render` — samples: released (train + test) or dropped as near duplicates.

The counts come from the build's own datatrove stats: the synthesis stages' input selection, a reader of the
synthesis results that sorts every row and candidate by kind and outcome (`SynthesisResults`), and per-kind tallies
put after every step of the assembly that may drop a sample (`instrumented`). What cannot be placed anywhere is
`unaccounted`, which a correct build keeps at zero (the card shows it otherwise).
"""

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.disk_base import DiskWriter

from cursorcore.builders.runner import JsonlFolders, Stage
from cursorcore.processing.llm import is_rejection
from cursorcore.processing.synthesis.results import SynthesisResult

FAILED = frozenset({"llm_request_error", "sandbox_error"})  # the server refused a request; the sandbox was down
SEP = "|"  # counters `kind|unit|outcome[|reason]`: kinds and reasons contain `-` and `_`
TALLY = "per kind after "  # name prefix of the tallies


class SynthesisResults(JsonlFolders):
    """Each kind's synthesis output, read as one input, with every row and every candidate counted by kind and
    outcome (`<kind>|row|kept`, `<kind>|candidate|rejected|<reason>`, ...)."""

    name = "synthesis results"

    def __init__(self, folders: Mapping[str, str | Path]):
        super().__init__(list(folders.values()))
        self.kinds = dict(zip(self.folders, folders, strict=True))

    def run(self, data=None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        for folder, document in self.read(rank, world_size):
            self._count(self.kinds[folder], document)
            yield document

    def _count(self, kind: str, document: Document) -> None:
        results = document.metadata.get("rollout_results", [])
        row: str | None = None
        for result in results if isinstance(results, list) else [results]:
            if is_rejection(result):
                reasons = [result["rejected"]]
                samples = 0
            else:
                synthesis = SynthesisResult.from_json(result)
                reasons = [rejection.reason for rejection in synthesis.rejections]
                samples = len(synthesis.samples)
            for reason in reasons:
                self.stat_update(SEP.join([kind, "candidate", *_outcome(reason)]))
            if samples:
                self.stat_update(SEP.join([kind, "candidate", "kept"]), value=samples)
                row = "kept"
            elif row is None and reasons:
                row = reasons[0]
        self.stat_update(SEP.join([kind, "row", *(["kept"] if row == "kept" else _outcome(row or "no_result"))]))


def _outcome(reason: str) -> list[str]:
    return ["failed" if reason in FAILED else "rejected", reason]


class KindTally(PipelineStep):
    """Passes samples through, counting them by kind (`metadata["source"]`)."""

    type = "🧮 - TALLY"

    def __init__(self, after: str):
        self.name = TALLY + after  # before the step's stats are named after it
        super().__init__()

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for document in data:
            if kind := document.metadata.get("source"):
                self.stat_update(str(kind))
            yield document


def instrumented(stages: list[Stage], folders: Mapping[str, Path]) -> list[Stage]:
    """The assembly stages with the synthesis results read by `SynthesisResults` and a `KindTally` after every
    step that may drop samples: in `expand` from the expander to its first writer, in `render` before the last
    step (which renders and counts by kind and split itself)."""
    out = []
    for stage in stages:
        steps = list(stage.steps)
        if stage.name == "expand":
            if not isinstance(steps[0], JsonlFolders):
                raise TypeError(f"the expand stage should start with the synthesis reader, not {steps[0]}")
            steps[0] = SynthesisResults({kind: str(folder) for kind, folder in folders.items()})
            writer = next((i for i, step in enumerate(steps) if isinstance(step, DiskWriter)), len(steps))
            steps = steps[:1] + _tallied(steps[1:writer]) + steps[writer:]
        elif stage.name == "render":
            steps = steps[:1] + _tallied(steps[1:-1]) + steps[-1:]
        out.append(replace(stage, steps=steps))
    return out


def _tallied(steps: list[PipelineStep]) -> list[PipelineStep]:
    return [item for step in steps for item in (step, KindTally(step.name))]


Ledger = dict[str, Any]


def accounting(stats: Mapping[str, Mapping[str, int]], kinds: list[str]) -> dict[str, dict[str, Ledger]]:
    """kind -> stage -> {read, kept, rejected: {reason: n}, failed: {reason: n}, unaccounted}, from a build's
    stats (`BuildReport.stats`, in pipeline order)."""
    results = stats.get("expand/READER: synthesis results", {})
    split = stats.get("render/ASSEMBLY: split and render", {})
    tallies: dict[str, list[tuple[str, Mapping[str, int]]]] = {"expand": [], "render": []}
    for name, counters in stats.items():
        stage, _, step = name.partition("/")
        if stage in tallies and TALLY in step:
            tallies[stage].append((_readable(step.split(TALLY, 1)[1]), counters))
    ledgers = {}
    for kind in kinds:
        selection = stats.get(f"synthesis-{kind}/SELECT: inputs", {})
        rows = _by_outcome(results, kind, "row", read=selection.get("total", 0))
        if selection.get("dropped_too_long"):
            rows["rejected"]["too_long"] = selection["dropped_too_long"]
        candidates = _by_outcome(results, kind, "candidate")
        candidates["read"] = (
            candidates["kept"] + sum(candidates["rejected"].values()) + sum(candidates["failed"].values())
        )
        candidates["kept"] = _through(candidates, tallies["expand"], kind)
        render = {"read": candidates["kept"], "kept": candidates["kept"], "rejected": Counter(), "failed": Counter()}
        _through(render, tallies["render"], kind)
        render["kept"] = split.get(f"train_{kind}", 0) + split.get(f"test_{kind}", 0)
        ledgers[kind] = dict(zip(STAGES, map(_finished, (rows, candidates, render)), strict=True))
    return ledgers


STAGES = ("synthesis", "expand", "render")


def _through(ledger: Ledger, tallies: list[tuple[str, Mapping[str, int]]], kind: str) -> int:
    """Follow the ledger's kept samples of `kind` through the tallied steps: what a step did not pass on, it
    rejected. Returns what passed them all."""
    count = ledger["kept"]
    for step, counters in tallies:
        passed = counters.get(kind, 0)
        if count > passed:
            ledger["rejected"][step] += count - passed
        count = passed
    return count


def _by_outcome(counters: Mapping[str, int], kind: str, unit: str, read: int = 0) -> Ledger:
    ledger: Ledger = {"read": read, "kept": 0, "rejected": Counter(), "failed": Counter()}
    for name, count in counters.items():
        parts = name.split(SEP)
        if parts[:2] != [kind, unit]:
            continue
        if parts[2] == "kept":
            ledger["kept"] += count
        else:
            ledger[parts[2]][parts[3]] += count
    return ledger


def _finished(ledger: Ledger) -> Ledger:
    rejected = {reason: n for reason, n in sorted(ledger["rejected"].items()) if n}
    failed = {reason: n for reason, n in sorted(ledger["failed"].items()) if n}
    done = ledger["kept"] + sum(rejected.values()) + sum(failed.values())
    unaccounted = ledger["read"] - done
    return {
        "read": ledger["read"],
        "kept": ledger["kept"],
        "rejected": rejected,
        "failed": failed,
        "unaccounted": unaccounted,
    }


def _readable(step: str) -> str:
    """A step's name as a reason: its words, without emoji."""
    return step.encode("ascii", "ignore").decode().strip()


UNITS = {"synthesis": "input rows", "expand": "candidates", "render": "samples"}


def accounting_markdown(ledgers: Mapping[str, Mapping[str, Ledger]]) -> str:
    """The card's section: one line per kind and stage, the identity spelled out."""
    if not ledgers:
        return ""
    lines = [
        "\n\n**Where every input went.** Per kind and stage, in the unit the stage handles (synthesis: input rows; "
        "expand: the candidates the rows' results hold; render: samples), read = kept + rejected + failed. "
        "*Failed* is lost to infrastructure or settings (a request the server refused, a sandbox outage); "
        "*unaccounted* is what no count explains, 0 in a correct build.",
        "",
        "| kind | stage | read | kept | rejected | failed | unaccounted |",
        "| --- | --- | ---: | ---: | --- | --- | ---: |",
    ]
    for kind, stages in ledgers.items():
        for stage, ledger in stages.items():
            cells = [kind, f"{stage} ({UNITS.get(stage, '')})", str(ledger["read"]), str(ledger["kept"])]
            cells += [_reasons(ledger["rejected"]), _reasons(ledger["failed"]), str(ledger["unaccounted"])]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _reasons(counts: Mapping[str, int]) -> str:
    if not counts:
        return "0"
    return f"{sum(counts.values())}: " + ", ".join(f"{reason} {n}" for reason, n in counts.items())
