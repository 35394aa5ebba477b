"""What Self-OSS-Instruct (SelfCodeAlign) and AIEV-Instruct (AutoCoder) share.

Both start from a seed function (a row of `cursorcore/stack-seeds`), ask a model for code that carries its own
tests, run the code with its tests in the sandbox and keep only what passes. This module holds the pieces they have
in common: seed documents, the prompt templates and few-shot examples, the parser that splits a model answer into
solution, tests and explanation, test jobs, sample building and verification, and the pipeline step.
"""

from __future__ import annotations

import ast
import functools
import random
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jinja2
from datatrove.data import Document

from cursorcore.processing.formats.conversation import sample_messages
from cursorcore.processing.formats.fences import fence, find_fences
from cursorcore.processing.llm import (
    LLMConfig,
    Rejected,
    chunked_jsonl_writer,
)
from cursorcore.processing.llm.client import Generation
from cursorcore.processing.sandbox import Job, Limits, Result, Sandbox, Status
from cursorcore.processing.synthesis.mutation import MutationConfig, mutation_check, mutation_plan, too_weak
from cursorcore.processing.synthesis.plumbing import SynthesisContext, SynthesisRunner, stable_seed
from cursorcore.processing.synthesis.results import Rejection
from cursorcore.processing.synthesis.verify import (
    python_syntax,
    result_check,
    roundtrip_checks,
    verdict,
    verify_sample,
)
from cursorcore.schema import Check, Sample, Snapshot, Verification
from cursorcore.tokens import find_special_token

SEED_KIND = "seed"
PROMPTS = Path(__file__).with_name("prompts")

PYTHON_LANGS = frozenset({"python", "py", "python3"})
SHELL_LANGS = frozenset({"sh", "bash", "shell", "console"})
# a line that opens the tests: "Tests:", "## Tests", "[Tests]", "**Unit tests**"
TESTS_HEADING = re.compile(
    r"^[ \t]*[#*\[]*[ \t]*(?:unit[ \t]+)?tests?[ \t]*[\]*:]*[ \t]*$", re.IGNORECASE | re.MULTILINE
)
REFUSAL = re.compile(
    r"^\W*(?:i'?m sorry|i am sorry|sorry\b|i cannot|i can'?t|i can not|i'?m unable|i am unable|as an ai\b)",
    re.IGNORECASE,
)
# SelfCodeAlign drops instructions that talk about "the code snippet": a task must stand on its own
MENTIONS_SNIPPET = re.compile(r"\bsnippet\b|\bthe (?:given|provided|above|following) code\b", re.IGNORECASE)
PIP_INSTALL = re.compile(r"^(?:\$\s*|!|%)?\s*(?:python3?\s+-m\s+)?pip3?\s+install\s+(.*)$")
_VERSION = r"(?:==|>=|<=|~=|!=|<|>)[A-Za-z0-9.*+!_-]+"
REQUIREMENT = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[A-Za-z0-9._,-]+\])?(?:{_VERSION}(?:,{_VERSION})*)?$")
HARMLESS_PIP_FLAGS = frozenset({"-q", "--quiet", "-U", "--upgrade", "--user", "--no-cache-dir"})


# ---------------------------------------------------------------- seeds


def seed_document(row: Mapping[str, Any]) -> Document:
    """A `cursorcore/stack-seeds` row as the document the synthesis steps read."""
    return Document(text=row["content"], id=str(row["id"]), metadata={"row": dict(row), "kind": SEED_KIND})


def seed_adapter(self: Any, data: dict, path: str, id_in_file: int | str) -> dict:
    """datatrove reader adapter: `ParquetReader(folder, adapter=seed_adapter)` reads stack-seeds shards as seeds."""
    document = seed_document(data)
    return {"text": document.text, "id": document.id, "metadata": document.metadata}


# ---------------------------------------------------------------- prompts and few-shot examples


@functools.cache
def prompts() -> jinja2.Environment:
    """Templates live beside the code as package data; `fence` wraps code so that nothing inside can close it."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PROMPTS),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["fence"] = fence
    return env


def render_macro(template: str, macro: str, **arguments: Any) -> str:
    return str(getattr(prompts().get_template(template).module, macro)(**arguments)).strip()


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
    text = prompts().get_template(template).render()
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


class AnswerError(ValueError):
    """A model answer that cannot be run as solution + tests; `reason` names what is missing or wrong, and `draft`
    is the answer as far as it could be read (None when there is nothing to show: a refusal, a special token), so
    that a dialogue can feed the problem back to its author."""

    def __init__(self, reason: str, detail: str = "", draft: Answer | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.draft = draft


# How far an answer got before it was found unusable: a rejection names the furthest any answer got.
ANSWER_PROBLEMS = (
    "truncated",
    "refusal",
    "special_token",
    "no_code",
    "syntax_error",
    "missing_solution",
    "missing_tests",
    "tests_ignore_solution",
)


@dataclass(frozen=True)
class Answer:
    """A model answer split up: `code` is the solution (the sample's `next`), `tests` run right after it in the
    same file, `chat` is the answer without the solution fences (explanation, tests, install lines), `packages` the
    `pip install` requirements it asked for and `ignored` the shell lines that were not run."""

    code: str
    tests: str
    chat: str
    packages: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()

    @property
    def program(self) -> str:
        return f"{self.code}\n\n\n{self.tests}\n"


def parse_answer(text: str, *, tests_must_use_solution: bool = True, packages: bool = False) -> Answer:
    """Split an answer into solution and tests, the way SelfCodeAlign's execution filter sees a response: the
    python fences, run together. Fences after a "Tests" heading are tests; elsewhere a fence's top-level statements
    from the first check on (an assert, a test function or class, a loop of asserts) are tests. With `packages`,
    `pip install` lines in shell fences are collected (AutoCoder's interpreter installs what the programmer asks
    for). Raises `AnswerError` when no runnable solution + tests can be found (a fence that does not parse goes
    whole into the draft's solution, or into its tests after a "Tests" heading)."""
    if REFUSAL.match(text):
        raise AnswerError("refusal", text[:200])
    if token := find_special_token(text):
        raise AnswerError("special_token", token)
    blocks = find_fences(text)
    python_blocks = [block for block in blocks if block.lang.lower() in PYTHON_LANGS]
    if not python_blocks:
        raise AnswerError("no_code", "no ```python block", Answer("", "", text.strip()))
    headings = (m for m in TESTS_HEADING.finditer(text) if not any(b.start <= m.start() < b.end for b in blocks))
    heading = next((m for m in headings if m.start() > python_blocks[0].start), None)
    code_parts, test_parts, chat, requirements, ignored = [], [], [], [], []
    cursor, syntax_error = 0, ""
    for block in blocks:
        lang = block.lang.lower()
        if lang in SHELL_LANGS and packages:
            found, skipped = pip_requirements(block.code or "")
            requirements += found
            ignored += skipped
        if lang not in PYTHON_LANGS:
            continue
        source = block.code or ""
        after_heading = heading is not None and block.start > heading.start()
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError) as error:
            syntax_error = syntax_error or f"{type(error).__name__}: {error}"[:200]
            code, tests = ("", source) if after_heading else (source, "")
        else:
            code, tests = ("", source) if after_heading else split_tests(source, tree)
        code_parts.append(code)
        test_parts.append(tests)
        chat.append(text[cursor : block.start])
        if tests:
            chat.append(text[block.start : block.end] if not code else fence(tests, "python"))
        cursor = block.end
    chat.append(text[cursor:])
    code = "\n\n\n".join(part.strip("\n") for part in code_parts if part.strip())
    tests = "\n\n".join(part.strip("\n") for part in test_parts if part.strip())
    answer = Answer(code, tests, re.sub(r"\n{3,}", "\n\n", "".join(chat)).strip(), tuple(requirements), tuple(ignored))
    if syntax_error:
        raise AnswerError("syntax_error", syntax_error, answer)
    check_solution_and_tests(answer, tests_must_use_solution)
    return answer


def pip_requirements(script: str) -> tuple[list[str], list[str]]:
    """(requirements, ignored) of a shell fence: only `pip install NAME[extras][==VERSION]` lines are run."""
    requirements, ignored = [], []
    for line in script.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIP_INSTALL.match(line)
        try:
            tokens = shlex.split(match.group(1)) if match else None
        except ValueError:
            tokens = None
        if tokens is None:
            ignored.append(line)
            continue
        for token in tokens:
            if REQUIREMENT.match(token):
                requirements.append(token)
            elif token not in HARMLESS_PIP_FLAGS:
                ignored.append(token)
    return requirements, ignored


def split_tests(source: str, tree: ast.Module) -> tuple[str, str]:
    """(solution, tests) of one fence: tests start at the first top-level check, together with the statements
    just before it that use what the fence defines (`cache = LRUCache(2)` before the asserts)."""
    body = tree.body
    first = next((i for i, node in enumerate(body) if _is_check(node)), None)
    if first is None:
        return source, ""
    defined = _defined_names(body[:first])
    while first > 0 and not _is_definition(body[first - 1]) and _loads(body[first - 1]) & defined:
        first -= 1
    node = body[first]
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
    lines = source.split("\n")
    while start > 0 and lines[start - 1].lstrip().startswith("#"):  # "# tests" comments go with the tests
        start -= 1
    return "\n".join(lines[:start]).rstrip(), "\n".join(lines[start:]).strip("\n")


def check_solution_and_tests(answer: Answer, tests_must_use_solution: bool) -> None:
    """The solution must define something to test, the tests must run an assertion when executed (test functions
    that nobody calls check nothing), and (optionally) the tests must use what the solution defines."""
    code_tree, tests_tree = ast.parse(answer.code), ast.parse(answer.tests)
    defined = _defined_names(code_tree.body)
    if not any(_is_function_or_class(node) for node in code_tree.body):
        raise AnswerError("missing_solution", "the solution defines no function or class", answer)
    if not _runs_a_check(tests_tree):
        raise AnswerError("missing_tests", "no assertion runs when the tests are executed", answer)
    if tests_must_use_solution and not _loads(tests_tree) & defined:
        raise AnswerError("tests_ignore_solution", f"the tests use none of {sorted(defined)}", answer)


def _is_function_or_class(node: ast.stmt) -> bool:
    if isinstance(node, ast.Assign):
        return isinstance(node.value, ast.Lambda)
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)


def _is_definition(node: ast.stmt) -> bool:
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom)


def _defined_names(body: list[ast.stmt]) -> set[str]:
    names = set()
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name)}
    return names


def _loads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _called_name(node: ast.AST) -> str:
    if not isinstance(node, ast.Call):
        return ""
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _asserts(node: ast.AST) -> bool:
    """An assert statement, a unittest `self.assert...` call, or `raise AssertionError` anywhere in `node`."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Assert) or _called_name(inner).startswith("assert"):
            return True
        if isinstance(inner, ast.Raise) and inner.exc is not None:
            raised = inner.exc.func if isinstance(inner.exc, ast.Call) else inner.exc
            if isinstance(raised, ast.Name) and raised.id == "AssertionError":
                return True
    return False


def _is_test_definition(node: ast.stmt) -> bool:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return node.name.startswith("test")
    if isinstance(node, ast.ClassDef):
        bases = {base.id if isinstance(base, ast.Name) else getattr(base, "attr", "") for base in node.bases}
        return node.name.startswith("Test") or any(base.endswith("TestCase") for base in bases)
    return False


def _is_test_call(node: ast.AST) -> bool:
    """A call of a test function, or of `unittest.main` / `pytest.main`."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.attr == "main" and func.value.id in ("unittest", "pytest")
    return isinstance(func, ast.Name) and func.id.startswith("test")


def _is_check(node: ast.stmt) -> bool:
    """A top-level statement that belongs to the tests."""
    if isinstance(node, ast.Assert) or _is_test_definition(node):
        return True
    if isinstance(node, ast.Expr):
        return _is_test_call(node.value)
    if isinstance(node, ast.If | ast.For | ast.While | ast.With | ast.Try):
        return _asserts(node) or any(_is_test_call(inner) for inner in ast.walk(node))
    return False


def _runs_a_check(tree: ast.Module) -> bool:
    """Whether executing the module runs an assertion: a top-level one, a test function that is called, or
    `unittest.main()` with a TestCase (test functions nobody calls check nothing)."""
    test_functions = {
        n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and _asserts(n)
    }
    has_case = any(isinstance(n, ast.ClassDef) and _is_test_definition(n) and _asserts(n) for n in tree.body)
    for node in tree.body:
        if _is_definition(node):
            continue
        if _asserts(node):
            return True
        for inner in ast.walk(node):
            if _called_name(inner) in test_functions or (has_case and _is_test_call(inner)):
                return True
    return False


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
        if result.verification.status != "unverified":
            break
        result = await verify_sample(sample, sandbox=sandbox, test_job=job)
    if config.mutation.enabled and result.verification.status == "passed":
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
    if sample.verification.status != "failed":
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
