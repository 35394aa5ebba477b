"""Self-OSS-Instruct (SelfCodeAlign / StarCoder2-Instruct): seed function -> concepts -> instruction -> k responses
that carry their own tests -> self-validation in the sandbox -> one passing response kept per instruction.

The recipe follows SelfCodeAlign: concepts from the seed (S->C, 8-shot), a task from the concepts plus a random
category (function implementation half of the time, class or program implementation a quarter each) and difficulty
(easy, medium or hard, equally likely) (C->I, 8-shot), then k = 10 responses at temperature 0.7 (I->R, 1-shot), each
a solution followed by tests. Every prompt draws its few-shot examples afresh from a pool of 21, as SelfCodeAlign
draws 8 of its 21 (soi_examples.jinja), with a random generator seeded by the config's seed and the seed document.
Every response whose generation stopped by itself is executed, solution and tests together; one passing response
is chosen at random (SelfCodeAlign shuffles the passing responses with a fixed seed and keeps the first per
instruction). The prompts are chat-style few-shot prompts with examples written for this project (prompts/soi_*.jinja).
The kept samples are then sanitized as SelfCodeAlign's release is (sanitize.py, in assembly).

Sample: `current` is an empty Python file (the task starts from nothing), `user` the instruction, `next` the
solution, `chat` the rest of the response (explanation and tests); `messages` its WF rendering.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from datatrove.data import Document

from cursorcore.processing.llm import LLMConfig, LLMRequestError, Rejected, reject
from cursorcore.processing.llm.client import Choice
from cursorcore.processing.sandbox import Sandbox, Status
from cursorcore.processing.synthesis.plumbing import STATS, SynthesisRunner, stable_seed
from cursorcore.processing.synthesis.results import Rejection, SynthesisResult
from cursorcore.processing.synthesis.soi_answers import ANSWER_PROBLEMS, Answer, AnswerError, parse_answer
from cursorcore.processing.synthesis.soi_common import (
    SeedSynthesisConfig,
    answer_job,
    chat_messages,
    draw_examples,
    failed_sample,
    generated_text,
    run_job,
    solution_sample,
    synthesis_step,
    verification_rejection,
    verified,
)
from cursorcore.schema import Check, CheckStatus, Source, VerificationStatus

# SelfCodeAlign's weights: it draws uniformly from a list that names function implementation twice
CATEGORIES = {"function implementation": 2.0, "class implementation": 1.0, "program implementation": 1.0}
DIFFICULTIES = ("easy", "medium", "hard")
CONCEPTS_STOP = ["\n\n", "```"]


@dataclass
class SelfOSSInstructConfig(SeedSynthesisConfig):
    """Defaults are SelfCodeAlign's: 8-shot concepts and instructions, 1-shot responses, 10 responses at T=0.7."""

    fewshot_concepts: int = 8
    fewshot_instruction: int = 8
    fewshot_response: int = 1
    # category -> weight; a list gives its categories equal weights
    categories: Mapping[str, float] | Sequence[str] = field(default_factory=lambda: dict(CATEGORIES))
    difficulties: Sequence[str] = DIFFICULTIES
    language: str = "Python"
    responses: int = 10  # k responses per instruction
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens_concepts: int = 128
    max_tokens_instruction: int = 512
    max_tokens_response: int = 1536  # SelfCodeAlign's max_output_tokens
    max_concepts: int = 12  # longer lists are cut to this many
    min_instruction_chars: int = 40


@dataclass(frozen=True)
class Property:
    """What the instruction must be: SelfCodeAlign's category, language, difficulty and concepts."""

    category: str
    language: str
    difficulty: str
    concepts: tuple[str, ...]


_LABEL = re.compile(r"^\s*(?:\*\*)?(?:key\s+)?(?:programming\s+)?concepts?(?:\*\*)?\s*:\s*", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


def draw_category(rng: random.Random, categories: Mapping[str, float] | Sequence[str]) -> str:
    """A category drawn by its weight (a list gives every category the same weight)."""
    weights = categories if isinstance(categories, Mapping) else dict.fromkeys(categories, 1.0)
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def parse_concepts(text: str, limit: int) -> tuple[str, ...]:
    """Concepts from an answer: a comma-separated line (optionally labelled "Concepts:") or a bulleted list. Raises
    `Rejected("concepts_unparseable")` for anything else (code, long sentences)."""
    text = _LABEL.sub("", text.strip())
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and all(_BULLET.match(line) for line in lines):
        items = [_BULLET.sub("", line) for line in lines]
    else:
        items = lines[0].split(",") if lines else []
    concepts = tuple(item.strip(" \t.;`*") for item in items if item.strip(" \t.;`*"))
    if not concepts or "```" in text or any(len(concept) > 100 for concept in concepts):
        raise Rejected("concepts_unparseable", text[:200])
    return concepts[:limit]


class SelfOSSInstruct:
    """The rollout: one seed document in, `SynthesisResult(...).to_json()` (or a rejection) out, plus per-document
    counters under "stats" (responses generated, executed, passed, and why the others were not)."""

    def __init__(self, config: SelfOSSInstructConfig | None = None):
        self.config = config or SelfOSSInstructConfig()

    async def __call__(self, document: Document, generate: Any, *, sandbox: Sandbox, **_: Any) -> dict[str, Any]:
        stats: Counter[str] = Counter()
        # every random choice of this seed comes from here: reruns make the same choices and the same requests
        rng = random.Random(f"{self.config.seed}/{document.id}")
        try:
            concepts = await self.concepts(document, generate, rng)
            config = self.config
            spec = Property(
                draw_category(rng, config.categories), config.language, rng.choice(config.difficulties), concepts
            )
            instruction = await self.instruction(document, spec, generate, rng)
            result = await self.respond(document, instruction, generate, sandbox, rng, stats)
        except Rejected as rejected:
            return {**reject(rejected.reason, rejected.detail), STATS: dict(stats)}
        except LLMRequestError as error:  # the server refused this prompt (too long for its context, ...)
            return {**reject("llm_request_error", str(error)[:300]), STATS: dict(stats)}
        return {**result.to_json(), STATS: dict(stats)}

    def request(
        self, messages: list[dict[str, str]], max_tokens: int, seed: int, n: int = 1, **extra: Any
    ) -> dict[str, Any]:
        config = self.config
        return {
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "seed": seed,
            "n": n,
            **extra,
        }

    async def concepts(self, document: Document, generate: Any, rng: random.Random) -> tuple[str, ...]:
        """S->C: the concepts of the seed snippet."""
        shots = [
            ({"snippet": ex.snippet}, {"concepts": ex.concepts})
            for ex in draw_examples(rng, self.config.fewshot_concepts)
        ]
        messages = chat_messages("soi_concepts.jinja", shots, {"snippet": document.text})
        seed = stable_seed(self.config.seed, document.id, "concepts")
        # the answer is one line: stop where a model would go on (SelfCodeAlign stops at its next "## Example")
        answer = await generate(self.request(messages, self.config.max_tokens_concepts, seed, stop=CONCEPTS_STOP))
        return parse_concepts(generated_text(answer, "concepts"), self.config.max_concepts)

    async def instruction(self, document: Document, spec: Property, generate: Any, rng: random.Random) -> str:
        """C->I: a task with the seed's concepts, the drawn category and difficulty."""
        shots = [
            (
                asdict(Property(ex.category, self.config.language, ex.difficulty, ex.concepts)),
                {"instruction": ex.instruction},
            )
            for ex in draw_examples(rng, self.config.fewshot_instruction)
        ]
        messages = chat_messages("soi_instruction.jinja", shots, asdict(spec))
        seed = stable_seed(self.config.seed, document.id, "instruction")
        answer = await generate(self.request(messages, self.config.max_tokens_instruction, seed))
        return generated_text(answer, "instruction", min_chars=self.config.min_instruction_chars, standalone=True)

    async def respond(
        self,
        document: Document,
        instruction: str,
        generate: Any,
        sandbox: Sandbox,
        rng: random.Random,
        stats: Counter[str],
    ) -> SynthesisResult:
        """I->R: k responses to the instruction, then self-validation."""
        config = self.config
        shots = [
            ({"instruction": ex.instruction}, {"response": ex.response})
            for ex in draw_examples(rng, config.fewshot_response)
        ]
        messages = chat_messages("soi_response.jinja", shots, {"instruction": instruction})
        seed = stable_seed(config.seed, document.id, "responses")
        generation = await generate(self.request(messages, config.max_tokens_response, seed, n=config.responses))
        return await self.select(instruction, generation.choices, sandbox, rng, stats)

    async def select(
        self,
        instruction: str,
        choices: Sequence[Choice],
        sandbox: Sandbox,
        rng: random.Random,
        stats: Counter[str],
    ) -> SynthesisResult:
        """Self-validation: every response that stopped by itself and parses runs with its own tests; one passing
        response, drawn with `rng`, becomes the sample (verified once more); the pass count goes into its checks
        and into `stats`."""
        config = self.config
        problems: Counter[str] = Counter()
        candidates: list[tuple[int, Answer]] = []
        for index, choice in enumerate(choices):
            try:
                if choice.finish_reason == "length":
                    raise AnswerError("truncated")
                candidates.append(
                    (index, parse_answer(choice.text, tests_must_use_solution=config.tests_must_use_solution))
                )
            except AnswerError as error:
                problems[error.reason] += 1
        results = await asyncio.gather(
            *(run_job(sandbox, answer_job(answer, config), config.sandbox_retries) for _, answer in candidates)
        )
        outcomes = Counter("sandbox_error" if r.status is Status.ERROR else str(r.status) for r in results)
        stats.update(
            {"responses": len(choices), "responses_executed": len(candidates)}
            | {f"responses_{name}": count for name, count in (problems + outcomes).items()}
        )
        passing = [
            (index, answer) for (index, answer), result in zip(candidates, results, strict=True) if result.passed
        ]
        summary = _summary(len(choices), problems + outcomes)
        rng.shuffle(passing)
        failure = None
        for index, answer in passing:
            check = Check("self-validation", CheckStatus.PASSED, f"{summary}; kept response {index}")
            sample = await verified(
                solution_sample(Source.SELF_OSS_INSTRUCT, instruction, answer), sandbox, answer, config, check
            )
            if sample.verification.status is VerificationStatus.PASSED:
                return SynthesisResult(samples=[sample])
            rejection = verification_rejection(sample, f"response {index}: {summary}")
            stats[f"responses_{rejection.reason}"] += 1
            failure = failure or rejection
        if failure:
            return SynthesisResult(rejections=[failure])
        return SynthesisResult(rejections=[_no_passing_response(instruction, candidates, results, problems, summary)])


def _summary(total: int, counts: Counter[str]) -> str:
    parts = ", ".join(f"{count} {name}" for name, count in sorted(counts.items()))
    return f"{counts['passed']}/{total} responses passed their tests ({parts})"


def _no_passing_response(
    instruction: str, candidates: list[tuple[int, Answer]], results: list[Any], problems: Counter[str], summary: str
) -> Rejection:
    """Why an instruction yields nothing: `no_passing_response` when some response ran (the first one that failed is
    kept for inspection), `sandbox_error` when the sandbox could not run any, else the furthest any response got."""
    check = Check("self-validation", CheckStatus.FAILED, summary)
    for (_, answer), result in zip(candidates, results, strict=True):
        if result.status is not Status.ERROR:
            return Rejection(
                "no_passing_response",
                summary,
                failed_sample(solution_sample(Source.SELF_OSS_INSTRUCT, instruction, answer), result, check),
            )
    if candidates:
        return Rejection("sandbox_error", f"{summary}; {results[0].detail}"[:500])
    furthest = max(problems, key=ANSWER_PROBLEMS.index) if problems else "no_responses"
    return Rejection(furthest, f"instruction: {instruction[:200]!r}; {summary}")


def self_oss_instruct_step(
    config: SelfOSSInstructConfig,
    llm: LLMConfig,
    output_folder: str | Path,
    checkpoints_dir: str | Path,
    *,
    sandbox: Sandbox | None = None,
) -> SynthesisRunner:
    """The datatrove step that turns seed documents (`documents.row_document`, `documents.input_adapter`) into
    Self-OSS-Instruct results in `output_folder`; `sandbox` overrides the provider of `config` with a sandbox the
    caller owns."""
    return synthesis_step(SelfOSSInstruct(config), config, llm, output_folder, checkpoints_dir, sandbox=sandbox)
