"""What Self-OSS-Instruct (SelfCodeAlign) and AIEV-Instruct (AutoCoder) share.

Both start from a seed function (a row of `cursorcore/stack-seeds`), ask a model for code that carries its own
tests, run the code with its tests in the sandbox and keep only what passes. This module holds the pieces they have
in common: chat prompts and few-shot examples, model answers as text (soi_answers.py splits them into solution and
tests), test jobs, sample building and verification, and the pipeline step.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cursorcore.processing.formats.conversation import sample_messages
from cursorcore.processing.llm import (
    LLMConfig,
    Rejected,
    chunked_jsonl_writer,
)
from cursorcore.processing.llm.client import Generation
from cursorcore.processing.sandbox import Job, Limits, Result, Sandbox, Status
from cursorcore.processing.synthesis.mutation import MutationConfig, mutation_check, mutation_plan, too_weak
from cursorcore.processing.synthesis.plumbing import SynthesisContext, SynthesisRunner, stable_seed
from cursorcore.processing.synthesis.prompt_env import environment
from cursorcore.processing.synthesis.results import Rejection
from cursorcore.processing.synthesis.soi_answers import REFUSAL, Answer
from cursorcore.processing.synthesis.verify import (
    python_syntax,
    result_check,
    roundtrip_checks,
    verdict,
    verify_sample,
)
from cursorcore.schema import Check, Sample, Snapshot, Verification, VerificationStatus
from cursorcore.tokens import find_special_token

# SelfCodeAlign drops instructions that talk about "the code snippet": a task must stand on its own
MENTIONS_SNIPPET = re.compile(r"\bsnippet\b|\bthe (?:given|provided|above|following) code\b", re.IGNORECASE)


# ---------------------------------------------------------------- prompts and few-shot examples


def render_macro(template: str, macro: str, **arguments: Any) -> str:
    return str(getattr(environment().get_template(template).module, macro)(**arguments)).strip()


def chat_messages(
    template: str, shots: Iterable[tuple[dict[str, Any], dict[str, Any]]], query: dict[str, Any], **system: Any
) -> list[dict[str, str]]:
    """A k-shot chat prompt from a template's `system`, `query` and `answer` macros: the system message, each
    example as a user query and the assistant's answer, then the query to answer."""
    messages = [{"role": "system", "content": render_macro(template, "system", **system)}]
    for shot_query, shot_answer in shots:
        messages.append({"role": "user", "content": render_macro(template, "query", **shot_query)})
        messages.append({"role": "assistant", "content": render_macro(template, "answer", **shot_answer)})
    messages.append({"role": "user", "content": render_macro(template, "query", **query)})
    return messages


def read_sections(template: str) -> list[dict[str, str]]:
    """Examples written as `=== example NAME` blocks of `--- SECTION` parts (see prompts/soi_examples.jinja)."""
    text = environment().get_template(template).render()
    examples = []
    for block in re.split(r"^=== example ", text, flags=re.MULTILINE)[1:]:
        name, _, body = block.partition("\n")
        parts = re.split(r"^--- (\w+)[ \t]*\n", body, flags=re.MULTILINE)[1:]
        sections = dict(zip(parts[::2], (value.strip("\n") for value in parts[1::2]), strict=True))
        examples.append({"name": name.strip(), **sections})
    return examples


@dataclass(frozen=True)
class Example:
    """One worked example: seed snippet -> concepts -> (category, difficulty) -> instruction -> response."""

    name: str
    snippet: str
    concepts: tuple[str, ...]
    category: str
    difficulty: str
    instruction: str
    response: str


@functools.cache
def examples() -> tuple[Example, ...]:
    return tuple(
        Example(
            name=part["name"],
            snippet=part["snippet"],
            concepts=tuple(concept.strip() for concept in part["concepts"].split(",")),
            category=part["category"],
            difficulty=part["difficulty"],
            instruction=part["instruction"],
            response=part["response"],
        )
        for part in read_sections("soi_examples.jinja")
    )


def draw_examples(rng: random.Random, k: int) -> list[Example]:
    """k few-shot examples in a random order (SelfCodeAlign draws a fresh sample for every prompt)."""
    pool = examples()
    return rng.sample(pool, min(k, len(pool)))


# ---------------------------------------------------------------- model output


def complete_sentences(text: str) -> str:
    """`text` cut after its last complete sentence, an unclosed code fence dropped first."""
    if text.count("```") % 2:
        text = text[: text.rindex("```")]
    ends = [match.end() for match in re.finditer(r"[.!?](?=\s|$)", text)]
    return text[: ends[-1]].strip() if ends else ""


def generated_text(
    generation: Generation, stage: str, *, min_chars: int = 1, standalone: bool = False, cut_off_ok: bool = False
) -> str:
    """The first answer of `generation`, or `Rejected(f"{stage}_<why>")`: cut off at the token limit (only answers
    that stopped by themselves count, as in SelfCodeAlign; with `cut_off_ok` the complete sentences are kept),
    empty, a refusal, too short, carrying a special token of the conversation format, or (`standalone`) referring to
    a snippet the reader will never see."""
    if not generation.choices:
        raise Rejected(f"{stage}_empty", "the server returned no answer")
    choice = generation.choices[0]
    text = choice.text.strip()
    if choice.finish_reason == "length":
        if not cut_off_ok:
            raise Rejected(f"{stage}_truncated", text[-200:])
        text = complete_sentences(text)
    if not text:
        raise Rejected(f"{stage}_empty")
    if REFUSAL.match(text):
        raise Rejected(f"{stage}_refusal", text[:200])
    if token := find_special_token(text):
        raise Rejected(f"{stage}_special_token", token)
    if len(text) < min_chars:
        raise Rejected(f"{stage}_too_short", text)
    if standalone and MENTIONS_SNIPPET.search(text):
        raise Rejected(f"{stage}_mentions_snippet", text[:200])
    return text


# ---------------------------------------------------------------- execution, samples, verification


@dataclass
class SeedSynthesisConfig:
    """Knobs both seed-based kinds have: the seed of every random choice, how tests run, where they run."""

    seed: int = 3407
    tests_must_use_solution: bool = True  # beyond SelfCodeAlign: `assert True` tests nothing
    test_timeout: float = 10.0  # seconds per run of solution + tests (SelfCodeAlign: 10)
    test_memory_mb: int = 1024  # SelfCodeAlign's reliability guard: 1 GB
    sandbox: str = "local"  # provider, see cursorcore.processing.sandbox.get_sandbox
    sandbox_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"workers": 2, "wheelhouse": "wheels/"}
    sandbox_retries: int = 1  # reruns of a job whose sandbox failed (`error`: infrastructure, never a verdict)
    records_per_chunk: int = 100  # checkpoint granularity of the pipeline step
    # beyond both recipes: the tests must kill mutants of the solution (`false`/`off`: the published behaviour)
    mutation: MutationConfig = field(default_factory=MutationConfig)

    def __post_init__(self) -> None:
        self.mutation = MutationConfig.of(self.mutation)


def run_limits(config: SeedSynthesisConfig) -> Limits:
    return Limits(wall_time=config.test_timeout, memory_mb=config.test_memory_mb)


def answer_job(answer: Answer, config: SeedSynthesisConfig) -> Job:
    return Job.python(answer.program, limits=run_limits(config), packages=answer.packages)


def is_install_failure(result: Result) -> bool:
    """A package the sandbox could not install: the answer's problem (an unavailable package), not the sandbox's."""
    return result.status is Status.ERROR and result.detail.startswith(("installing packages", "the job asks for"))


async def run_job(sandbox: Sandbox, job: Job, retries: int) -> Result:
    """Run a job, rerunning it when the sandbox itself failed; `error` results that remain are no verdict."""
    result = await sandbox.arun(job)
    for _ in range(retries):
        if result.status is not Status.ERROR or is_install_failure(result):
            break
        result = await sandbox.arun(job)
    return result


def solution_sample(
    source: str, instruction: str, answer: Answer, messages: list[dict[str, str]] | None = None
) -> Sample:
    """The sample of a tested answer: nothing written yet (`current` is an empty Python file), the instruction as
    `user`, the solution as `next`, the rest of the answer as `chat`; `messages` default to its WF rendering."""
    sample = Sample(
        current=Snapshot(""), user=instruction, chat=answer.chat, next=Snapshot(answer.code), source=source
    )
    return replace(sample, messages=messages if messages is not None else sample_messages(sample, "wf"))


def with_check(sample: Sample, check: Check) -> Sample:
    checks = (*sample.verification.checks, check)
    return replace(sample, verification=Verification(verdict(list(checks)), checks))


async def verified(
    sample: Sample, sandbox: Sandbox, answer: Answer, config: SeedSynthesisConfig, check: Check
) -> Sample:
    """`verify_sample` (round trips, syntax, the tests rerun), repeated while the sandbox fails, then (when enabled
    and everything passed) the mutation check of the tests; `check` (how the answer was found) is added last."""
    job = answer_job(answer, config)
    result = await verify_sample(sample, sandbox=sandbox, test_job=job)
    for _ in range(config.sandbox_retries):
        if result.verification.status is not VerificationStatus.UNVERIFIED:
            break
        result = await verify_sample(sample, sandbox=sandbox, test_job=job)
    if config.mutation.enabled and result.verification.status is VerificationStatus.PASSED:
        result = with_check(result, await mutation_adequacy(answer, sandbox, config))
    return with_check(result, check)


async def mutation_adequacy(answer: Answer, sandbox: Sandbox, config: SeedSynthesisConfig) -> Check:
    """How many mutants of the answer's solution its tests kill; the mutants are drawn with the config's seed and
    the solution, so a rerun draws the same ones."""
    plan = mutation_plan(
        answer.code,
        lambda code: replace(answer, code=code).program,
        config.mutation,
        run_limits(config),
        seed=stable_seed(config.seed, answer.code),
        packages=answer.packages,
    )
    result = await run_job(sandbox, plan.job, config.sandbox_retries) if plan.mutants.selected else None
    return mutation_check(plan, result, config.mutation)


def verification_rejection(sample: Sample, detail: str) -> Rejection:
    """Why a verified sample is not kept: its tests too weak (only the mutation check failed), another check failed,
    or the sandbox could not run a check."""
    if sample.verification.status is not VerificationStatus.FAILED:
        return Rejection("sandbox_error", detail, sample)
    return Rejection("tests_too_weak" if too_weak(sample.verification) else "verification_failed", detail, sample)


def failed_sample(sample: Sample, result: Result, check: Check) -> Sample:
    """A sample whose tests failed, with its verification built from that run (kept for the rejected split)."""
    checks = [
        *roundtrip_checks(sample),
        python_syntax(sample.next.code if sample.next else ""),
        result_check("tests", result),
    ]
    return with_check(replace(sample, verification=Verification(verdict(checks), tuple(checks))), check)


# ---------------------------------------------------------------- pipeline step


def synthesis_step(
    rollout: Any,
    config: SeedSynthesisConfig,
    llm: LLMConfig,
    output_folder: str | Path,
    checkpoints_dir: str | Path,
    *,
    sandbox: Sandbox | None = None,
    questioner: LLMConfig | None = None,
) -> SynthesisRunner:
    """The datatrove step running `rollout` over seed documents; results are written as gzipped JSONL chunks."""
    context = SynthesisContext(sandbox if sandbox is not None else config.sandbox, config.sandbox_options, questioner)
    return SynthesisRunner(
        rollout,
        llm,
        chunked_jsonl_writer(output_folder),
        checkpoints_dir,
        records_per_chunk=config.records_per_chunk,
        shared_context=context,
    )
