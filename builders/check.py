"""`cursorcore build DATASET --config F --check`: everything a build would construct, built without running it.

A full-scale build finds a wrong setting late and expensively (every task of a stage failing on a cluster, a
sandbox option E2B does not take). The check loads the config (and the input configs it names), constructs each
LLM backend, each kind's synthesis config with its checked sandbox options, and each stage's executor — none of
which touches the network — and prints the plan: stages, tasks, what runs at once, inputs per kind, and at most how
many model requests and sandbox runs each input costs.
"""

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cursorcore.builders import get_builder
from cursorcore.builders.executors import make_executor
from cursorcore.processing.llm import LLMConfig, make_backend
from cursorcore.processing.sandbox.options import options_dict, sandbox_options


@dataclass
class Plan:
    """What one build would run, as lines of text (a plan per input config comes first)."""

    dataset: str
    lines: list[str] = field(default_factory=list)
    inputs: list["Plan"] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)

    def text(self) -> str:
        own = "\n".join([f"{self.dataset}:", *(f"  {line}" for line in self.lines)])
        return "\n\n".join([*(plan.text() for plan in self.inputs), own])


def check(dataset: str, config: Any, workers: int | None = None) -> Plan:
    """The plan of `dataset` built with `config`; any component that cannot be constructed raises (ValueError,
    TypeError, or the component's own error) with the reason."""
    builder = get_builder(dataset)
    plan = Plan(builder.REPO_ID)
    executor = config.executor
    for name, path in (getattr(config, "input_configs", None) or {}).items():
        plan.inputs.append(check(name, get_builder(name).Config.from_yaml(path), workers))
    if getattr(config, "llm", None) and getattr(config, "judge", True):
        llm = LLMConfig.from_dict(config.llm)
        plan.add(f"model: {_backend(llm)}")
        plan.add(f"  budget: {_budget(llm)}")
    tasks = getattr(config, "synthesis_tasks", None) or getattr(config, "tasks", 1)
    with tempfile.TemporaryDirectory() as logs:
        make_executor(config.executor, [], tasks=tasks, logging_dir=Path(logs), job_name="check", workers=workers)
    at_once = executor.running_tasks(tasks, workers)
    plan.add(f"executor: {executor.kind}, {tasks} task(s) per sharded stage, {at_once} at once")
    if dataset == "programming-instruct":
        _synthesis_plan(builder, config, at_once, plan)
    return plan


def _backend(llm: LLMConfig) -> str:
    make_backend(llm)  # constructed only: servers start and endpoints are asked when a stage runs
    where = llm.endpoint_url or llm.model or "the embedded SmolLM2 server"
    cache = llm.cache_path or "one file per task in the work folder"
    return (
        f"{llm.backend} ({where}), server {llm.server}, at most {llm.max_concurrency} requests in flight; "
        f"cache: {cache}"
    )


def _budget(llm: LLMConfig) -> str:
    limits = {"max_requests": llm.max_requests, "max_output_tokens": llm.max_output_tokens}
    set_ = [f"{name} = {value}" for name, value in limits.items() if value is not None]
    return ", ".join(set_) + " for the whole build" if set_ else "none set (llm.max_requests, llm.max_output_tokens)"


def _synthesis_plan(builder: Any, config: Any, at_once: int, plan: Plan) -> None:
    for kind in config.kinds:
        kind_config = builder.kind_config(kind, config, at_once)
        options = sandbox_options(kind_config.sandbox, kind_config.sandbox_options)
        inputs = config.inputs(kind)
        count = "every row" if inputs < 0 else f"at most {inputs} per task"
        requests, runs = COSTS[builder.KINDS[kind].config.__name__](kind_config)
        plan.add(
            f"synthesis-{kind}: inputs from {builder.KINDS[kind].input_dataset} ({count}); per input at most "
            f"{requests} model requests and {runs} sandbox runs"
        )
        shown = ", ".join(f"{k}={v}" for k, v in options_dict(options).items())
        plan.add(f"  sandbox {kind_config.sandbox} per task: {shown}{_sandbox_note(kind_config.sandbox, options)}")
        questioner = getattr(kind_config, "questioner", None)
        if questioner is not None:
            plan.add(f"  questioner: {_backend(questioner)}; spends from the build's budget")
    plan.add("assembly: expand, buckets, cluster, render")


def _sandbox_note(provider: str, options: Any) -> str:
    """What the provider will need when it runs (nothing is started here)."""
    if provider == "e2b":
        try:
            import e2b_code_interpreter  # noqa: F401
        except ImportError:
            return " (e2b-code-interpreter is not installed here)"
        return "" if os.environ.get("E2B_API_KEY") else " (E2B_API_KEY is not set here)"
    return "" if shutil.which(options.bwrap) or options.allow_unisolated else f" ({options.bwrap} not found here)"


def _programming_instruct_costs(config: Any) -> tuple[int, int]:
    """An AI-programmer history (AI-programmer inputs), then per trajectory cut an instruction or a judgement and a
    chat explanation, each asked up to `max_attempts` times; a syntax check per sample."""
    return (1 + 2 * config.samples_per_trajectory) * config.max_attempts, config.samples_per_trajectory


def _self_oss_instruct_costs(config: Any) -> tuple[int, int]:
    """Concepts, an instruction, `responses` answers (separate requests on servers without `n`); each answer's
    tests, and the mutants' when the mutation check is on."""
    return 2 + config.responses, config.responses * 2


def _aiev_costs(config: Any) -> tuple[int, int]:
    """Problems until one is usable, test scripts, an answer and an explanation per fix round; a run per answer
    and per test script."""
    rounds = 1 + config.max_fix_rounds
    return config.problem_attempts + config.test_call_attempts + 2 * rounds, config.test_call_attempts + rounds


COSTS = {
    "ProgrammingInstructConfig": _programming_instruct_costs,
    "SelfOSSInstructConfig": _self_oss_instruct_costs,
    "AIEVConfig": _aiev_costs,
}
