"""`cursorcore/stack-seeds`: Python functions with docstrings, the seeds of Self-OSS-Instruct (SelfCodeAlign).

Row: `id` (sha1 of `content`), `content` (the import lines the function uses, then the function), `entry_point`,
`docstring`, `lines`, `repo`, `path`, `license` (when the source says), `source` (`the-stack` or `local`).

Stages: (1) read files, extract functions, rule filters, decontamination, basedpyright, per-task exact dedup, and
MinHash signatures; (2) MinHash buckets; (3) clusters; (4) drop near duplicates and write the dataset.
The embedded default reads the running interpreter's standard library (real code on every machine, no network).
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import HuggingFaceDatasetReader, JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import HashConfig

from cursorcore.builders import BuildReport
from cursorcore.builders.card import CardInfo, SourceInfo
from cursorcore.builders.config_yaml import read_config_yaml
from cursorcore.builders.executors import ExecutorConfig
from cursorcore.builders.figure import Overview
from cursorcore.builders.llm_budget import task_llm
from cursorcore.builders.minhash import minhash_stages
from cursorcore.builders.release import release
from cursorcore.builders.runner import Stage, build_workdir, run_to_hub
from cursorcore.builders.spending import limited, stops_on_budget
from cursorcore.processing.exact_dedup import ExactDedup
from cursorcore.processing.llm import LLMConfig
from cursorcore.processing.sources.docstring_judge import JudgeConfig, JudgeVerdictFilter, judge_step
from cursorcore.processing.sources.seeds import (
    BAD_WORDS,
    BANNED_IMPORTS,
    DecontaminationFilter,
    FunctionExtractor,
    LocalPythonReader,
    PyrightFilter,
    SeedRulesFilter,
    stack_adapter,
    stdlib_folder,
)

REPO_ID = "cursorcore/stack-seeds"
CARD = CardInfo(
    pretty_name="Stack seeds: Python functions with docstrings",
    summary="Self-contained Python functions with a docstring, type-checked and decontaminated: the seeds from which "
    "Self-OSS-Instruct (SelfCodeAlign) asks an LLM for coding concepts, instructions and tested responses.",
    license="other",
    sources=[
        SourceInfo("bigcode/the-stack-dedup (data/python)", "permissively licensed GitHub code", "per-file licences"),
        SourceInfo("local Python files", "the running interpreter's standard library by default", "PSF-2.0"),
    ],
    citations=["selfcodealign", "cursorcore"],
    overview=Overview("source", "content"),
)


@dataclass
class Config:
    # sources: local files/folders, or a Hub dataset with The Stack's columns (streamed)
    local_paths: list[str] = field(default_factory=lambda: [str(stdlib_folder())])
    hub_dataset: str | None = None  # e.g. "bigcode/the-stack-dedup"
    hub_options: dict[str, Any] = field(default_factory=lambda: {"data_dir": "data/python", "split": "train"})
    limit: int = -1  # documents to read from the Hub dataset (-1: all)
    # filters
    max_lines: int = 150
    bad_words: list[str] = field(default_factory=lambda: list(BAD_WORDS))
    banned_imports: list[str] = field(default_factory=lambda: list(BANNED_IMPORTS))
    typecheck: bool = True
    typecheck_batch: int = 250
    # decontamination: benchmark name -> local file; the others come from `benchmark_source`: "bundled" (the texts
    # snapshot shipped with the package, offline) or "hub"
    benchmarks: list[str] = field(default_factory=lambda: ["humaneval", "mbpp", "apeval"])
    benchmark_paths: dict[str, str] = field(default_factory=dict)
    benchmark_source: str = "bundled"
    ngram_size: int = 10
    # optional LLM docstring judge (SelfCodeAlign): keep seeds whose docstring suffices to re-implement them
    judge: bool = False
    judge_votes: int = 1  # one greedy answer, as SelfCodeAlign; more votes are sampled at judge_temperature
    judge_temperature: float = 0.0
    llm: dict[str, Any] = field(default_factory=lambda: {"backend": "local"})
    # MinHash near-dedup: 5-grams, 32 buckets x 5 hashes gives a 50% chance to pair documents at Jaccard 0.5
    minhash_ngrams: int = 5
    minhash_buckets: int = 32
    minhash_hashes_per_bucket: int = 5
    tasks: int = 4  # tasks of every stage that shards (MinHash's cluster stage is one task, by its nature)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Config":
        return cls(**read_config_yaml(cls, path))

    @property
    def minhash(self) -> MinhashConfig:
        return MinhashConfig(
            n_grams=self.minhash_ngrams,
            num_buckets=self.minhash_buckets,
            hashes_per_bucket=self.minhash_hashes_per_bucket,
            hash_config=HashConfig(precision=64),
        )


def _row(self, doc) -> dict:
    meta = doc.metadata
    return {
        "id": doc.id,
        "content": doc.text,
        "entry_point": meta["entry_point"],
        "docstring": meta["docstring"],
        "lines": meta["lines"],
        "repo": meta.get("repo", ""),
        "path": meta.get("path", ""),
        "license": meta.get("license", ""),
        "source": meta.get("source", "local"),
    }


def _readers(config: Config) -> list[PipelineStep]:
    """The Hub dataset when one is named, else one reader per local file or folder (each deals its files to the
    tasks)."""
    if config.hub_dataset:
        return [
            HuggingFaceDatasetReader(
                config.hub_dataset,
                dataset_options=config.hub_options,
                streaming=True,
                limit=config.limit,
                adapter=stack_adapter,
                default_metadata={"source": "the-stack"},
            )
        ]
    if not config.local_paths:
        raise ValueError("stack-seeds reads nothing: set local_paths (files or folders) or hub_dataset")
    return [LocalPythonReader(path) for path in config.local_paths]


def work_folder(config: Config, hub: str | Path | None = None) -> Path:
    """The build's scratch space, keyed without the LLM budget: a rerun with a higher one finds the same ledger,
    finished tasks and request cache."""
    return build_workdir(REPO_ID, asdict(config) | {"llm": LLMConfig.from_dict(config.llm).answer_settings()}, hub)


def build(
    config: Config, hub: str | Path | None = None, workers: int | None = None, version: str | None = None
) -> BuildReport:
    total = LLMConfig.from_dict(config.llm)
    work = work_folder(config, hub)
    readers = _readers(config)
    filtered = [
        *readers,
        FunctionExtractor(),
        SeedRulesFilter(config.max_lines, config.bad_words, config.banned_imports),
        DecontaminationFilter(config.benchmarks, config.benchmark_paths, config.ngram_size, config.benchmark_source),
        *([PyrightFilter(config.typecheck_batch)] if config.typecheck else []),
        ExactDedup(),
    ]
    # what MinHash deduplicates: the filtered seeds, or those the judge said Yes to
    if config.judge:
        judge = JudgeConfig(votes=config.judge_votes, temperature=config.judge_temperature)
        per_task = task_llm(total, total.max_concurrency, config.executor, config.tasks, workers, work)
        llm = limited(per_task, total, work)
        stages = [
            Stage(
                "extract",
                [*filtered, JsonlWriter(str(work / "filtered"), output_filename="${rank}.jsonl.gz")],
                config.tasks,
                count_after=len(readers),
            ),
            Stage(
                "judge",
                [JsonlReader(str(work / "filtered")), judge_step(judge, llm, work / "judged", work / "judge-ckpt")],
                config.tasks,
            ),
        ]
        deduplicated = Stage("verdict", [JsonlReader(str(work / "judged")), JudgeVerdictFilter()], config.tasks)
    else:
        stages, deduplicated = [], Stage("extract", filtered, config.tasks, count_after=len(readers))
    stages += minhash_stages(deduplicated, work, config.minhash)
    with stops_on_budget(total, work):
        report = run_to_hub(
            stages,
            repo_id=REPO_ID,
            adapter=_row,
            config=asdict(config),
            hub=hub,
            workers=workers,
            executor=config.executor,
        )
    return release(report, CARD, config, hub, version)
