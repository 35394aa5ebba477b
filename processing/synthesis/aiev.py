"""AIEV-Instruct (AutoCoder): a questioner and a programmer talk until the programmer's code passes its unit tests.

From a seed function the questioner poses a problem; the programmer answers with a solution and unit tests (and, if
it needs them, `pip install` lines in a ```sh block, which the sandbox installs offline from its wheelhouse, like
AutoCoder's interpreter installing packages); the code runs with its tests; on failure the questioner explains the
error in natural language and the programmer sends a fix, for up to `max_fix_rounds` rounds. Only dialogues that end
with passing tests are kept. The questioner and the programmer may use different models: the programmer is the
pipeline's LLM (`generate`), the questioner the same one unless `AIEVConfig.questioner` names another backend.

Sample: `current` is an empty Python file, `user` the problem, `next` the final (passing) solution, `chat` the rest
of the final answer; `messages` is the whole dialogue as it happened: the problem, every programmer answer (in the
CursorCore assistant format: the solution as a whole-file edit, then the explanation and tests), every execution
output as an `execution` turn, and the questioner's explanations as `user` turns.
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datatrove.data import Document

from cursorcore.processing.formats.conversation import sample_messages
from cursorcore.processing.llm import LLMClient, LLMConfig, LLMRequestError, reject
from cursorcore.processing.llm.client import Choice, Generation
from cursorcore.processing.sandbox import Result, Sandbox, Status
from cursorcore.processing.synthesis.results import Rejection, SynthesisResult
from cursorcore.processing.synthesis.soi_common import (
    STATS,
    Answer,
    AnswerError,
    Rejected,
    SeedSynthesisConfig,
    SynthesisRunner,
    answer_job,
    chat_messages,
    draw_examples,
    failed_sample,
    generated_text,
    is_install_failure,
    parse_answer,
    read_sections,
    render_macro,
    run_job,
    solution_sample,
    stable_seed,
    synthesis_step,
    verified,
)
from cursorcore.schema import Check, Sample, Snapshot
from cursorcore.tokens import find_special_token

SOURCE = "aiev"


@dataclass
class AIEVConfig(SeedSynthesisConfig):
    """Dialogue knobs. `questioner` is an LLM config for a questioner with its own backend (a running endpoint, or a
    `local` server started per task); None means the pipeline's LLM plays both roles."""

    fewshot_problem: int = 4
    fewshot_answer: int = 1
    max_fix_rounds: int = 3  # feedback rounds after the first answer
    questioner_temperature: float = 0.7  # varied problems
    programmer_temperature: float = 0.2  # careful code (CursorCore's generation setting)
    top_p: float = 0.95
    max_tokens_problem: int = 512
    max_tokens_answer: int = 1536
    max_tokens_explanation: int = 384
    min_problem_chars: int = 40
    allow_packages: bool = True
    report_chars: int = 2000  # execution output shown per stream (stderr's tail, stdout's head)
    questioner: LLMConfig | None = None


def execution_report(result: Result, answer: Answer, limit: int) -> str:
    """The `execution` turn: what the run printed and how it ended, as the questioner and programmer see it."""
    if is_install_failure(result):
        outcome = "package installation failed"
    else:
        outcome = str(result.status) + (f" ({result.detail})" if result.detail else "")
    stdout, stderr = result.stdout.rstrip("\n"), result.stderr.rstrip("\n")
    stdout = stdout if len(stdout) <= limit else stdout[:limit] + "\n[...]"
    stderr = stderr if len(stderr) <= limit else "[...]\n" + stderr[-limit:]
    return render_macro(
        "aiev_execution.jinja",
        "report",
        outcome=outcome,
        packages=answer.packages,
        ignored=answer.ignored,
        stdout=stdout,
        stderr=stderr,
    )


@functools.cache
def feedback_example() -> tuple[dict[str, str], dict[str, str]]:
    """The worked example of prompts/aiev_example.jinja as (query, answer) of the questioner's feedback prompt."""
    example = read_sections("aiev_example.jinja")[0]
    report = render_macro(
        "aiev_execution.jinja",
        "report",
        outcome="failed (exit code 1)",
        packages=(),
        ignored=(),
        stdout="",
        stderr=example["stderr"],
    )
    return {"problem": example["problem"], "answer": example["answer"], "report": report}, {
        "explanation": example["explanation"]
    }


def assistant_turn(previous_code: str, answer: Answer) -> dict[str, str]:
    """A programmer answer in the CursorCore assistant format: the new solution as a whole-file edit of the previous
    one, then the rest of the answer."""
    step = Sample(current=Snapshot(previous_code), next=Snapshot(answer.code), chat=answer.chat)
    return sample_messages(step, "wf")[-1]


class AIEVInstruct:
    """The rollout: one seed document in, `SynthesisResult(...).to_json()` (or a rejection) out, plus per-document
    counters under "stats" (executions, fix rounds, package installs)."""

    def __init__(self, config: AIEVConfig | None = None):
        self.config = config or AIEVConfig()

    async def __call__(
        self,
        document: Document,
        generate: Any,
        *,
        sandbox: Sandbox,
        questioner: LLMClient | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        stats: Counter[str] = Counter()
        questioner_generate = questioner.complete if questioner is not None else generate

        async def ask(request: dict[str, Any]) -> Generation:
            """The questioner's calls, counted apart (the step counts only the pipeline LLM's)."""
            generation = await questioner_generate(request)
            stats["questioner_calls"] += 1
            stats["questioner_completion_tokens"] += generation.usage.get("completion_tokens", 0)
            return generation

        rng = random.Random(f"{self.config.seed}/{document.id}")
        try:
            problem = await self.problem(document, ask, rng)
            result = await self.dialogue(document, problem, generate, ask, sandbox, rng, stats)
        except Rejected as rejected:
            return {**reject(rejected.reason, rejected.detail), STATS: dict(stats)}
        except LLMRequestError as error:  # the server refused this prompt (too long for its context, ...)
            return {**reject("llm_request_error", str(error)[:300]), STATS: dict(stats)}
        return {**result.to_json(), STATS: dict(stats)}

    def request(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, *seed: object
    ) -> dict[str, Any]:
        return {
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": self.config.top_p,
            "seed": stable_seed(self.config.seed, *seed),
        }

    async def problem(self, document: Document, ask: Any, rng: random.Random) -> str:
        """The questioner poses a problem inspired by the seed (k-shot, the examples' snippets and instructions)."""
        examples = draw_examples(rng, self.config.fewshot_problem)
        shots = [({"snippet": ex.snippet}, {"problem": ex.instruction}) for ex in examples]
        messages = chat_messages("aiev_problem.jinja", shots, {"snippet": document.text})
        config = self.config
        request = self.request(
            messages, config.max_tokens_problem, config.questioner_temperature, document.id, "problem"
        )
        return generated_text(await ask(request), "problem", min_chars=config.min_problem_chars, standalone=True)

    async def explain(self, problem: str, answer: str, report: str, ask: Any, *seed: object) -> str:
        """The questioner explains the failed run in natural language (one worked example shows how)."""
        messages = chat_messages(
            "aiev_feedback.jinja", [feedback_example()], {"problem": problem, "answer": answer, "report": report}
        )
        config = self.config
        request = self.request(messages, config.max_tokens_explanation, config.questioner_temperature, *seed)
        # feedback cut off at the token limit still helps: its complete sentences are kept
        return generated_text(await ask(request), "explanation", min_chars=20, cut_off_ok=True)

    async def dialogue(
        self,
        document: Document,
        problem: str,
        generate: Any,
        ask: Any,
        sandbox: Sandbox,
        rng: random.Random,
        stats: Counter[str],
    ) -> SynthesisResult:
        config = self.config
        examples = draw_examples(rng, config.fewshot_answer)
        shots = [({"problem": ex.instruction}, {"response": ex.response}) for ex in examples]
        programmer = chat_messages(
            "aiev_programmer.jinja", shots, {"problem": problem}, packages=config.allow_packages
        )
        transcript = sample_messages(Sample(current=Snapshot(""), user=problem), "wf")
        code = ""
        for fix_round in range(config.max_fix_rounds + 1):
            request = self.request(
                programmer, config.max_tokens_answer, config.programmer_temperature, document.id, "answer", fix_round
            )
            generation = await generate(request)
            if not generation.choices:
                raise Rejected("answer_empty", f"round {fix_round}: the server returned no answer")
            choice = generation.choices[0]
            answer, result = await self.run_answer(choice, sandbox, stats, fix_round)
            transcript.append(assistant_turn(code, answer))
            code = answer.code
            report = execution_report(result, answer, config.report_chars)
            if token := find_special_token(report):  # the program printed one: the dialogue could not be rendered
                raise Rejected("execution_special_token", f"round {fix_round}: {token}")
            transcript.append({"role": "execution", "content": report})
            if result.passed:
                stats["fix_rounds"] += fix_round
                return await self.keep(problem, answer, transcript, sandbox, fix_round)
            stats["failed_rounds"] += 1
            if fix_round == config.max_fix_rounds:
                break
            explanation = await self.explain(problem, choice.text, report, ask, document.id, "explanation", fix_round)
            stats["explanations"] += 1
            transcript.append({"role": "user", "content": explanation})
            fix_request = render_macro("aiev_programmer.jinja", "fix_request", report=report, explanation=explanation)
            programmer = [
                *programmer,
                {"role": "assistant", "content": choice.text},
                {"role": "user", "content": fix_request},
            ]
        summary = f"tests still fail after {config.max_fix_rounds} fix round(s): {result.detail or result.status}"
        sample = failed_sample(
            solution_sample(SOURCE, problem, answer, transcript),
            result,
            Check("execution-feedback", "failed", summary),
        )
        return SynthesisResult(rejections=[Rejection("unresolved", summary, sample)])

    async def run_answer(
        self, choice: Choice, sandbox: Sandbox, stats: Counter[str], fix_round: int
    ) -> tuple[Answer, Result]:
        """Read a programmer answer and run it with its tests. An answer that cannot be read (cut off, a refusal)
        ends the dialogue; one with a syntax error runs all the same (the interpreter's message is the feedback);
        one without code, or whose tests would check nothing, is not run, and that is the feedback."""
        config = self.config
        try:
            if choice.finish_reason == "length":
                raise AnswerError("truncated", choice.text[-200:])
            answer = parse_answer(
                choice.text, tests_must_use_solution=config.tests_must_use_solution, packages=config.allow_packages
            )
        except AnswerError as error:
            if error.draft is None:
                raise Rejected(f"answer_{error.reason}", f"round {fix_round}: {error.detail}") from None
            answer = error.draft
            if error.reason != "syntax_error":
                stats[f"answers_{error.reason}"] += 1
                return answer, Result(Status.FAILED, detail=f"not run: {error.detail}")
        result = await run_job(sandbox, answer_job(answer, config), config.sandbox_retries)
        stats["executions"] += 1
        stats["package_installs"] += bool(answer.packages)
        stats["install_failures"] += is_install_failure(result)
        if result.status is Status.ERROR and not is_install_failure(result):
            raise Rejected("sandbox_error", f"round {fix_round}: {result.detail}")
        return answer, result

    async def keep(
        self, problem: str, answer: Answer, transcript: list[dict[str, str]], sandbox: Sandbox, fix_rounds: int
    ) -> SynthesisResult:
        """The passing dialogue as a sample, verified like every sample (its tests run once more)."""
        installs = f"; installed {', '.join(answer.packages)}" if answer.packages else ""
        check = Check("execution-feedback", "passed", f"tests passed after {fix_rounds} fix round(s){installs}")
        job = answer_job(answer, self.config)
        sample = await verified(
            solution_sample(SOURCE, problem, answer, transcript), sandbox, job, self.config.sandbox_retries, check
        )
        if sample.verification.status == "passed":
            return SynthesisResult(samples=[sample])
        reason = "verification_failed" if sample.verification.status == "failed" else "sandbox_error"
        return SynthesisResult(rejections=[Rejection(reason, check.detail, sample)])


def aiev_step(
    config: AIEVConfig,
    llm: LLMConfig,
    output_folder: str | Path,
    checkpoints_dir: str | Path,
    *,
    sandbox: Sandbox | None = None,
) -> SynthesisRunner:
    """The datatrove step that turns seed documents (see `seed_document` / `seed_adapter`) into AIEV-Instruct
    dialogues in `output_folder`; `llm` is the programmer (and the questioner unless `config.questioner` is set);
    `sandbox` overrides the provider of `config` with a sandbox the caller owns."""
    return synthesis_step(
        AIEVInstruct(config),
        config,
        llm,
        output_folder,
        checkpoints_dir,
        sandbox=sandbox,
        questioner=config.questioner,
    )
