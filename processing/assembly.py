"""Assembly of `cursorcore/programming-instruct` from synthesis outputs, as datatrove steps.

Synthesis writes one document per input (a trajectory or a seed) with its rollout result. Assembly expands the
results into samples, sets the rejected ones aside for inspection, decontaminates and deduplicates the kept ones,
assigns a train/test split by origin (so no repository, problem or seed file is in both), and renders every sample
in each edit format (configs `wf`, `lc`, `sr`; AIEV dialogues in `wf` only) and per source (WF rendering, one config
per source).
"""

import contextlib
import hashlib
import json
from collections.abc import Iterable
from dataclasses import replace
from functools import cached_property
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from cursorcore.processing.decontamination import Decontaminator, load_benchmarks
from cursorcore.processing.exact_dedup import ExactDedup
from cursorcore.processing.formats.conversation import sample_messages, training_text
from cursorcore.processing.llm import is_rejection
from cursorcore.processing.synthesis.results import SynthesisResult
from cursorcore.schema import Check, CheckStatus, Sample, Source, Verification, VerificationStatus

FORMAT_CONFIGS = ("wf", "lc", "sr")
REJECTED = "rejected"
# Dialogues (AIEV): their messages are kept as they happened, in `wf` and their own config only. Every turn answers
# with whole-file code and fixes code the model saw only in its own earlier answers: there is no `current` message
# whose lines an LC answer could number or an SR answer search, and whole-file answers in `lc`/`sr` would teach a
# model trained on those configs to answer in the wrong format.
MULTI_TURN_SOURCES = (Source.AIEV,)


def origin_key(kind: Source | str, row: dict[str, Any]) -> str:
    """What must not straddle train and test: the repository of a commit, the problem of a submission, the file of
    a seed. A kind this does not know is an error: grouping it by a guess could put one origin on both sides."""
    try:
        kind = Source(kind)
    except ValueError:
        raise ValueError(
            f"unknown input kind {kind!r} ({', '.join(Source)}): its samples cannot be kept on one side of the split"
        ) from None
    match kind:
        case Source.COMMIT:
            return f"repo:{row.get('repo', '')}"
        case Source.OJ:
            return f"problem:{row.get('dataset', '')}/{row.get('problem_id', '')}"
        case Source.AIPROGRAMMER | Source.SELF_OSS_INSTRUCT | Source.AIEV:
            return f"file:{row.get('repo', '')}/{row.get('path', '')}"
    raise ValueError(f"no origin is defined for the kind {kind}")


def sample_key(sample: Sample) -> str:
    """Identity of a sample's content, for exact dedup and for ids."""
    content = [
        [h.code for h in sample.history],
        sample.current.code,
        sample.user,
        sample.next.code if sample.next else None,
    ]
    return hashlib.sha1(json.dumps(content).encode()).hexdigest()


def _results(document: Document) -> list[Any]:
    results = document.metadata.get("rollout_results", [])
    return results if isinstance(results, list) else [results]


class SynthesisExpander(PipelineStep):
    """One document per kept sample (text = its WF training text); rejected samples go to `rejected_writer`."""

    name = "expand synthesis results"
    type = "🧩 - ASSEMBLY"

    def __init__(self, rejected_writer: DiskWriter | None = None):
        super().__init__()
        self.rejected_writer = rejected_writer

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        writer = self.rejected_writer
        with writer if writer else contextlib.nullcontext():
            for document in data:
                kind = document.metadata.get("kind", "")
                origin = origin_key(kind, document.metadata.get("row", {}))
                for result in _results(document):
                    if is_rejection(result):
                        self.stat_update(f"rejected_{result['rejected']}")
                        continue
                    synthesis = SynthesisResult.from_json(result)
                    for rejection in synthesis.rejections:
                        self.stat_update(f"rejected_{rejection.reason}")
                        if writer and rejection.sample:
                            writer.write(
                                _rejected_document(rejection.sample, rejection.reason, rejection.detail), rank
                            )
                    for sample in synthesis.samples:
                        self.stat_update(f"kept_{sample.source}")
                        sample = replace(sample, id=sample.id or f"{sample.source}/{sample_key(sample)[:16]}")
                        yield Document(
                            text=training_text(sample, "wf"),
                            id=sample.id,
                            metadata={"sample": sample.to_row(), "origin": origin, "source": sample.source},
                        )


def _rejected_document(sample: Sample, reason: str, detail: str) -> Document:
    checks = (*sample.verification.checks, Check("rejection", CheckStatus.FAILED, f"{reason}: {detail}"[:500]))
    sample = replace(sample, verification=Verification(VerificationStatus.FAILED, checks))
    sample = replace(sample, id=sample.id or f"{sample.source}/{sample_key(sample)[:16]}")
    if not sample.messages:
        sample = replace(sample, messages=sample_messages(sample, "wf"))
    return Document(text="", id=sample.id, metadata={"row": sample.to_row(), "config": REJECTED, "split": REJECTED})


class SampleDecontamination(BaseFilter):
    """Drops samples whose code (history, current or next), instruction, explanation or dialogue leaks an evaluation
    benchmark: training shows the model every message, not only the answer."""

    name = "decontaminate samples"

    def __init__(self, benchmarks: Iterable[str], paths: dict[str, str] | None = None, source: str = "bundled"):
        super().__init__()
        self.benchmarks, self.paths, self.source = list(benchmarks), dict(paths or {}), source

    @cached_property
    def decontaminator(self) -> Decontaminator:
        return Decontaminator(load_benchmarks(self.benchmarks, self.paths, self.source))

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        sample = Sample.from_row(doc.metadata["sample"])
        codes = [*(h.code for h in sample.history), sample.current.code, sample.next.code if sample.next else ""]
        text = "\n".join([*codes, sample.user, sample.chat, *(m["content"] for m in sample.messages)])
        reason = self.decontaminator.contamination(text)
        return True if reason is None else (False, reason)


def document_sample_key(doc: Document) -> str:
    """The exact-dedup key of an expanded sample: identical (history, current, instruction, next) are one sample."""
    return sample_key(Sample.from_row(doc.metadata["sample"]))


def exact_sample_dedup() -> ExactDedup:
    """Keeps the first of identical samples within a task (MinHash, after it, catches those across tasks)."""
    return ExactDedup(document_sample_key, name="exact sample dedup")


def configs_of(sample: Sample) -> tuple[str, ...]:
    """The configs a sample is released in: every edit format and its source's, dialogues `wf` only of the formats."""
    formats = ("wf",) if sample.source in MULTI_TURN_SOURCES else FORMAT_CONFIGS
    return (*formats, sample.source)


class SplitAndRender(PipelineStep):
    """Assigns the split by origin and yields one document per config the sample belongs to."""

    name = "split and render"
    type = "🧩 - ASSEMBLY"

    def __init__(self, test_fraction: float = 0.1, salt: str = ""):
        super().__init__()
        self.test_fraction = test_fraction
        self.salt = salt

    def split_of(self, origin: str) -> str:
        bucket = int(hashlib.sha1(f"{self.salt}{origin}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return "test" if bucket < self.test_fraction else "train"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            sample = Sample.from_row(doc.metadata["sample"])
            split = self.split_of(doc.metadata["origin"])
            self.stat_update(f"{split}_{sample.source}")
            for config in configs_of(sample):
                fmt = config if config in FORMAT_CONFIGS else "wf"
                rendered = (
                    sample
                    if sample.source in MULTI_TURN_SOURCES
                    else replace(sample, messages=sample_messages(sample, fmt))
                )
                yield Document(
                    text="",
                    id=f"{config}/{sample.id}",
                    metadata={"row": rendered.to_row(), "config": config, "split": split},
                )


def row_adapter(self: DiskWriter, document: Document) -> dict[str, Any]:
    return document.metadata["row"]
