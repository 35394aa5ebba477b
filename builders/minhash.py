"""MinHash near-deduplication as build stages: datatrove's four steps, wired once for every builder that needs them.

datatrove's MinHash runs in four jobs: signatures (alongside the documents' own stage), buckets (one task per
bucket), clusters (one task) and the filter. The filter drops documents by their index in the signature stage's
output of the same rank, so it must read back exactly what that rank signed: the signature stage writes its
documents to `kept/<rank>.jsonl.gz` and the last stage reads each rank's own file (`RankFileReader`).
"""

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.writers import JsonlWriter

from cursorcore.builders.runner import RankFileReader, Stage


def minhash_stages(
    source: Stage,
    work: Path,
    config: MinhashConfig,
    then: Sequence[PipelineStep] = (),
    name: str = "dedup",
) -> list[Stage]:
    """`source` (the stage whose documents are deduplicated) followed by MinHash: `source` gets a writer of its
    documents and their signatures appended; then buckets, clusters, and a last stage `name` with `source`'s number
    of tasks that reads the documents back, drops the near duplicates and runs `then`. Scratch files go to `work`
    (`kept`, `signatures`, `buckets`, `remove`)."""
    kept, signatures, buckets, remove = (str(work / folder) for folder in ("kept", "signatures", "buckets", "remove"))
    signed = [
        *source.steps,
        JsonlWriter(kept, output_filename="${rank}.jsonl.gz"),
        MinhashDedupSignature(signatures, config=config, language="eng"),
    ]
    return [
        replace(source, steps=signed),
        Stage("buckets", [MinhashDedupBuckets(signatures, buckets, config=config)], config.num_buckets),
        Stage("cluster", [MinhashDedupCluster(buckets, remove, config=config)]),
        Stage(name, [RankFileReader(kept), MinhashDedupFilter(remove), *then], source.tasks),
    ]
