"""AIEV-Instruct (AutoCoder): a questioner and a programmer talk until the programmer's code passes its unit tests.

From a seed function the questioner poses a problem; the programmer answers with a solution and unit tests (and, if
it needs them, `pip install` lines in a ```sh block, which the sandbox installs offline from its wheelhouse, like
AutoCoder's interpreter installing packages); the code runs with its tests; on failure the questioner explains the
error in natural language and the programmer sends a fix, for up to `max_fix_rounds` rounds. Only dialogues that end
with passing tests are kept. The questioner and the programmer may use different models: the programmer is the
pipeline's LLM (`generate`), the questioner the same one unless `AIEVConfig.questioner` names another backend.

With `tests_by="questioner"` the questioner also writes the unit tests, as calls of the seed function whose expected
values the sandbox records by running the seed (seed_tests.py); the problem must then name the seed's function, the
programmer sees the problem with those tests and answers with the solution only. The tests hold for the seed by
construction, so a dialogue fails only on the programmer's code: this is how a model too small to write a correct
assertion (SmolLM2-135M, the embedded default) still completes dialogues.

Sample: `current` is an empty Python file, `user` the problem (with the questioner's tests, if any), `next` the final
(passing) solution, `chat` the rest of the final answer; `messages` is the whole dialogue as it happened: the
problem, every programmer answer (in the CursorCore assistant format: the solution as a whole-file edit, then the
explanation and tests), every execution output as an `execution` turn, and the questioner's explanations as `user`
turns.
"""

from __future__ import annotations

import functools
import random
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from datatrove.data import Document

from cursorcore.processing.formats.conversation import sample_messages
from cursorcore.processing.formats.fences import find_fences
from cursorcore.processing.llm import LLMClient, LLMConfig, LLMRequestError, Rejected, reject
from cursorcore.processing.llm.client import Choice, Generation
from cursorcore.processing.sandbox import Limits, Result, Sandbox, Status
from cursorcore.processing.synthesis.plumbing import STATS, SynthesisRunner, stable_seed
from cursorcore.processing.synthesis.results import Rejection, SynthesisResult
from cursorcore.processing.synthesis.seed_tests import (
    expected_values,
    recorded_tests,
    recording_job,
    reference_job,
    signature,
    usage_script,
)
from cursorcore.processing.synthesis.soi_answers import Answer, AnswerError, parse_answer
from cursorcore.processing.synthesis.soi_common import (
    SeedSynthesisConfig,
    answer_job,
    chat_messages,
    draw_examples,
    failed_sample,
    generated_text,
    is_install_failure,
    read_sections,
    render_macro,
    run_job,
    solution_sample,
    synthesis_step,
    verification_rejection,
    verified,
)
from cursorcore.schema import Check, CheckStatus, Sample, Snapshot, Source, VerificationStatus
from cursorcore.tokens import find_special_token


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
    # who writes the unit tests: "programmer" (AutoCoder: solution and tests in one answer) or "questioner" (calls of
    # the seed function whose expected values come from running the seed, see seed_tests.py: tests a small model
    # cannot get wrong, shown to the programmer with the problem)
    tests_by: str = "programmer"
    problem_attempts: int = 3  # problems asked for until one is usable
    test_call_attempts: int = 3  # questioner scripts tried until one records a test
    # one recorded call, or calls that all return one value, pin down too little (a wrong solution passes them by
    # chance): at least `min_tests` calls with two different results
    min_tests: int = 2
    max_tests: int = 6
    max_tokens_tests: int = 192

    def __post_init__(self) -> None:
        super().__post_init__()
        self.questioner = LLMConfig.coerce(self.questioner)  # a YAML `questioner:` section is a mapping
        if self.tests_by not in ("questioner", "programmer"):
            raise ValueError(f"tests_by must be 'questioner' or 'programmer', not {self.tests_by!r}")


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


@functools.cache
def call_script_examples() -> tuple[tuple[dict[str, str], dict[str, str]], ...]:
    """The few-shot turns of the questioner's test-call prompt (the examples in prompts/aiev_tests.jinja)."""
    return tuple(
        ({"signature": ex["signature"], "docstring": ex["docstring"]}, {"calls": ex["calls"]})
        for ex in read_sections("aiev_tests.jinja")
    )


def entry_point(document: Document) -> str:
    return document.metadata.get("row", {}).get("entry_point") or ""


def seed_signature(document: Document) -> str:
    try:
        return signature(document.text, entry_point(document))
    except (SyntaxError, ValueError) as error:
        raise Rejected("seed_no_entry_point", str(error)[:200]) from None


def read_answer(text: str, tests: str, config: AIEVConfig) -> Answer:
    """A programmer answer as solution and tests. With the questioner's `tests`, they run after whatever tests the
    programmer added (none is fine); a draft with a syntax error carries them too, to run all the same."""
    if not tests:
        return parse_answer(
            text, tests_must_use_solution=config.tests_must_use_solution, packages=config.allow_packages
        )
    try:
        answer = parse_answer(text, tests_must_use_solution=False, packages=config.allow_packages)
    except AnswerError as error:
        if error.draft is None or error.reason not in ("missing_tests", "syntax_error"):
            raise
        draft = replace(error.draft, tests=_joined(error.draft.tests, tests))
        if error.reason == "syntax_error":
            raise AnswerError(error.reason, error.detail, draft) from None
        return draft
    return replace(answer, tests=_joined(answer.tests, tests))


def _joined(*tests: str) -> str:
    return "\n\n".join(part for part in tests if part)


def answer_text(choice: Choice, stats: Counter[str]) -> str | None:
    """The programmer's answer as the dialogue keeps it. One cut off at the token limit keeps everything up to its
    last complete code block (a small model rambles on after its tests; what it wrote before still runs), or is None
    when no block closed before the cut."""
    if choice.finish_reason != "length":
        return choice.text
    blocks = find_fences(choice.text)
    if not blocks:
        return None
    stats["answers_cut_to_last_block"] += 1
    return choice.text[: blocks[-1].end]


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
            # with the questioner's tests, the problem and the tests are about the seed's function
            wanted = seed_signature(document) if self.config.tests_by == "questioner" else ""
            problem = await self.problem(document, wanted, ask, rng)
            tests = ""
            if wanted:
                problem, tests = await self.questioner_tests(document, wanted, problem, ask, sandbox, stats)
            result = await self.dialogue(document, problem, tests, generate, ask, sandbox, rng, stats)
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

    async def problem(self, document: Document, wanted: str, ask: Any, rng: random.Random) -> str:
        """The questioner poses a problem inspired by the seed (k-shot, the examples' snippets and instructions).
        With a `wanted` signature (the questioner also writes the tests), the problem must ask for it by name and
        hold no code (the tests are shown apart, and code in a problem was always a half-copied seed); up to
        `problem_attempts` problems are asked for, and the last one's fault is the rejection."""
        config = self.config
        examples = draw_examples(rng, config.fewshot_problem)
        shots = [({"snippet": ex.snippet}, {"problem": ex.instruction}) for ex in examples]
        name = entry_point(document) if wanted else ""
        messages = chat_messages("aiev_problem.jinja", shots, {"snippet": document.text, "signature": wanted})
        rejection = Rejected("problem_empty")
        for attempt in range(config.problem_attempts):
            request = self.request(
                messages, config.max_tokens_problem, config.questioner_temperature, document.id, "problem", attempt
            )
            try:
                problem = generated_text(
                    await ask(request), "problem", min_chars=config.min_problem_chars, standalone=True
                )
            except Rejected as rejected:
                rejection = rejected
                continue
            if name and (not re.search(rf"\b{re.escape(name)}\(", problem) or "```" in problem):
                rejection = Rejected("problem_off_target", f"does not name {name}() or shows code: {problem[:200]}")
                continue
            return problem
        raise rejection

    async def questioner_tests(
        self, document: Document, wanted: str, problem: str, ask: Any, sandbox: Sandbox, stats: Counter[str]
    ) -> tuple[str, str]:
        """(the problem with the tests, the tests): the questioner writes calls of the seed function, the sandbox
        records what the seed returns for them, and the recorded tests must pass on the seed alone."""
        config = self.config
        name = entry_point(document)
        query = {"signature": wanted, "docstring": document.metadata["row"].get("docstring") or ""}
        messages = chat_messages("aiev_tests.jinja", call_script_examples(), query)
        limits = Limits(wall_time=config.test_timeout, memory_mb=config.test_memory_mb)
        tests: list[str] = []  # gathered over the scripts, until there are enough
        for attempt in range(config.test_call_attempts):
            request = self.request(
                messages, config.max_tokens_tests, config.questioner_temperature, document.id, "tests", attempt
            )
            generation = await ask(request)
            script = usage_script(generation.choices[0].text if generation.choices else "")
            recording = await run_job(sandbox, recording_job(document.text, script, name, limits), 0)
            stats["test_scripts"] += 1
            tests += [test for test in recorded_tests(recording, name, config.max_tests) if test not in tests]
            if len(tests) >= config.min_tests and len(expected_values(tests, name)) >= min(2, config.min_tests):
                tests = tests[: config.max_tests]
                break
        else:
            scripts = f"{config.test_call_attempts} scripts"
            if len(tests) < config.min_tests:
                raise Rejected("tests_too_few", f"{scripts} recorded fewer than {config.min_tests} calls of {name}")
            raise Rejected("tests_one_result", f"{scripts}: every call of {name} returned the same value")
        reference = await run_job(sandbox, reference_job(document.text, tests, limits), config.sandbox_retries)
        if not reference.passed:
            raise Rejected("tests_seed_fails", reference.detail or str(reference.status))
        stats["tests"] += len(tests)
        code = "\n".join(tests)
        return render_macro("aiev_programmer.jinja", "task", problem=problem, signature=wanted, tests=code), code

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
        tests: str,
        generate: Any,
        ask: Any,
        sandbox: Sandbox,
        rng: random.Random,
        stats: Counter[str],
    ) -> SynthesisResult:
        """The programmer answers `problem` (which shows the questioner's `tests`, if any) until its code passes."""
        config = self.config
        given = bool(tests)
        # the worked examples carry their own tests: they show the layout only when the programmer writes tests
        examples = [] if given else draw_examples(rng, config.fewshot_answer)
        shots = [({"problem": ex.instruction}, {"response": ex.response}) for ex in examples]
        programmer = chat_messages(
            "aiev_programmer.jinja",
            shots,
            {"problem": problem, "tests_given": given},
            packages=config.allow_packages,
            tests_given=given,
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
            text = answer_text(generation.choices[0], stats)
            answer, result = await self.run_answer(text, tests, sandbox, stats, fix_round)
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
            explanation = await self.explain(problem, text, report, ask, document.id, "explanation", fix_round)
            stats["explanations"] += 1
            transcript.append({"role": "user", "content": explanation})
            fix_request = render_macro(
                "aiev_programmer.jinja", "fix_request", report=report, explanation=explanation, tests_given=given
            )
            programmer = [
                *programmer,
                {"role": "assistant", "content": text},
                {"role": "user", "content": fix_request},
            ]
        summary = f"tests still fail after {config.max_fix_rounds} fix round(s): {result.detail or result.status}"
        sample = failed_sample(
            solution_sample(Source.AIEV, problem, answer, transcript),
            result,
            Check("execution-feedback", CheckStatus.FAILED, summary),
        )
        return SynthesisResult(rejections=[Rejection("unresolved", summary, sample)])

    async def run_answer(
        self, text: str | None, tests: str, sandbox: Sandbox, stats: Counter[str], fix_round: int
    ) -> tuple[Answer, Result]:
        """Read a programmer answer and run it with its tests. An answer that cannot be read (cut off, a refusal)
        ends the dialogue; one with a syntax error runs all the same (the interpreter's message is the feedback);
        one without code, or whose tests would check nothing, is not run, and that is the feedback."""
        config = self.config
        try:
            if text is None:
                raise AnswerError("truncated", "cut off at the token limit before any code block closed")
            answer = read_answer(text, tests, config)
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
        passed = f"tests passed after {fix_rounds} fix round(s){installs}"
        check = Check("execution-feedback", CheckStatus.PASSED, passed)
        sample = await verified(
            solution_sample(Source.AIEV, problem, answer, transcript), sandbox, answer, self.config, check
        )
        if sample.verification.status is VerificationStatus.PASSED:
            return SynthesisResult(samples=[sample])
        return SynthesisResult(rejections=[verification_rejection(sample, check.detail)])


def aiev_step(
    config: AIEVConfig,
    llm: LLMConfig,
    output_folder: str | Path,
    checkpoints_dir: str | Path,
    *,
    sandbox: Sandbox | None = None,
) -> SynthesisRunner:
    """The datatrove step that turns seed documents (`documents.row_document`, `documents.input_adapter`) into
    AIEV-Instruct dialogues in `output_folder`; `llm` is the programmer (and the questioner unless
    `config.questioner` is set); `sandbox` overrides the provider of `config` with a sandbox the caller owns."""
    return synthesis_step(
        AIEVInstruct(config),
        config,
        llm,
        output_folder,
        checkpoints_dir,
        sandbox=sandbox,
        questioner=config.questioner,
    )
