"""Programming-Instruct synthesis (CursorCore): samples of history / current / user -> next + chat, cut from code
trajectories, with an LLM writing what a trajectory does not say.

Three inputs, one rollout. A document's `metadata["kind"]` (documents.py) says what `metadata["row"]` is:

* `aiprogrammer` (a `cursorcore/stack-seeds` row): the AI programmer rewrites the snippet as 3-6 editing steps of a
  novice, ordinary or expert programmer (CursorCore's reject rules, retried up to `max_attempts` times);
* `commit` (a `cursorcore/commit-trajectories` row): the file's versions, with their commit messages;
* `oj` (a `cursorcore/oj-trajectories` row): one user's submissions, with the problem statement.

From the versions, `trajectory.py` cuts intermediate states, picks the current snapshot and its history. With
probability `user_prob` the sample has a user instruction (written by the LLM from the change and the commit
messages or problem statement) and `next` is the final version; otherwise the LLM judge picks which of the
remaining diff blocks an assistant should propose unasked, and those form `next`. The LLM then explains the edit
(`chat`), and `loc` marks where the edit happens. Every candidate is verified (`verify_sample`: round trips in
WF/LC/SR, a syntax check of the trajectory's final program, C/C++ compiled in the sandbox); failures and unusable
model answers are kept as rejections with a reason.

    step = programming_instruct_step(ProgrammingInstructConfig(), LLMConfig(backend="local"), "out/", "ckpt/")
    reader = ParquetReader("hub/.../data", adapter=input_adapter, default_metadata={"kind": Source.COMMIT})
    LocalPipelineExecutor(pipeline=[reader, step], ...).run()
"""

import functools
import itertools
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from datatrove.data import Document

from cursorcore.processing.formats.conversation import sample_messages
from cursorcore.processing.llm import LLMConfig, LLMRequestError, Rejected, reject
from cursorcore.processing.llm.runtime import chunked_jsonl_writer
from cursorcore.processing.sandbox import Sandbox, SandboxOutage
from cursorcore.processing.sandbox.options import sandbox_options
from cursorcore.processing.synthesis.pi_parsers import (
    ORDERS,
    parse_chat,
    parse_decisions,
    parse_instruction,
    parse_steps,
)
from cursorcore.processing.synthesis.pi_prompts import (
    PERSONAS,
    Record,
    aiprogrammer_messages,
    chat_messages,
    instruction_messages,
    judge_messages,
)
from cursorcore.processing.synthesis.plumbing import STATS, SynthesisContext, SynthesisRunner, stable_seed
from cursorcore.processing.synthesis.prompt_env import environment
from cursorcore.processing.synthesis.results import Rejection, SynthesisResult
from cursorcore.processing.synthesis.trajectory import (
    LocConfig,
    Plan,
    State,
    apply_blocks,
    choose_loc,
    code_series,
    diff_blocks,
    plans,
    unified_diff,
)
from cursorcore.processing.synthesis.verify import syntax_check, verify_sample
from cursorcore.schema import CheckStatus, Sample, Snapshot, Source, VerificationStatus
from cursorcore.tokens import find_special_token

KINDS = (Source.AIPROGRAMMER, Source.COMMIT, Source.OJ)  # the kinds this rollout synthesizes

T = TypeVar("T")


@dataclass
class ProgrammingInstructConfig:
    """Every probability and limit of the recipe; the defaults are CursorCore's published ones."""

    seed: int = 0
    samples_per_trajectory: int = 1  # CursorCore's max_per_sample
    alpha: float = 1.0  # weight alpha**index of each state as the current snapshot (1: uniform)
    split_step_prob: float = 0.5  # replay a step as intermediate states (CursorCore's limit_one_block_prob)
    history_prob: float = 0.6
    user_prob: float = 0.5
    loc: LocConfig = field(default_factory=LocConfig)
    # the AI programmer
    personas: tuple[str, ...] = PERSONAS
    step_order: str = "forward"  # "undo"/"drafts": versions listed from the final one back (easier for tiny models)
    min_steps: int = 3
    max_steps: int = 6
    # model requests; a rejected answer is asked again with another seed, up to max_attempts times
    temperature: float = 0.2
    top_p: float = 0.95
    max_attempts: int = 5
    aiprogrammer_max_tokens: int = 2048
    instruction_max_tokens: int = 256
    judge_max_tokens: int = 1024
    chat_max_tokens: int = 512
    # output
    messages_format: str = "wf"  # edit format of `Sample.messages`
    records_per_chunk: int = 100
    # the sandbox compiles C/C++ programs for the syntax check
    sandbox: str = "local"
    # the provider's options (cursorcore.processing.sandbox.options); locally one worker per task unless set
    sandbox_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.loc, Mapping):
            self.loc = LocConfig(**self.loc)
        self.personas = tuple(self.personas)
        unknown = set(self.personas) - set(PERSONAS)
        if unknown or not self.personas:
            raise ValueError(f"personas must be a non-empty subset of {PERSONAS}, got {self.personas}")
        if self.step_order not in ORDERS:
            raise ValueError(f"step_order must be one of {ORDERS}, got {self.step_order!r}")
        if not 1 <= self.min_steps <= self.max_steps:
            raise ValueError("need 1 <= min_steps <= max_steps")
        if self.max_attempts < 1 or self.samples_per_trajectory < 1:
            raise ValueError("max_attempts and samples_per_trajectory must be >= 1")
        if self.sandbox == "local":
            self.sandbox_options = {"workers": 1, **self.sandbox_options}
        sandbox_options(self.sandbox, self.sandbox_options)  # a wrong option fails here, not in every task


@dataclass(frozen=True)
class Trajectory:
    """Versions of one program, oldest first; `messages[k]` is the commit message of step k -> k + 1."""

    source: Source
    lang: str  # lower case, as snapshots and code fences carry it
    versions: tuple[str, ...]
    messages: tuple[str, ...] = ()
    statement: str = ""
    language: str = ""  # the source's own name of the language (online judges: "C++", "Python")

    @property
    def final(self) -> str:
        return self.versions[-1]

    def notes(self, state: State) -> tuple[str, ...]:
        """The commit messages of the work still ahead of `state`."""
        return tuple(message for message in self.messages[state.step :] if message.strip())


def row_trajectory(row: Mapping[str, Any], kind: Source) -> Trajectory:
    """The trajectory of a commit or online-judge row (seed rows need the AI programmer first)."""
    if kind == Source.COMMIT:
        versions = row["versions"]
        return Trajectory(
            source=Source.COMMIT,
            lang=str(row["language"]).lower(),
            versions=tuple(v["code"] for v in versions),
            messages=tuple((v.get("message") or "").strip() for v in versions[1:]),
        )
    if kind == Source.OJ:
        return Trajectory(
            source=Source.OJ,
            lang=str(row["language"]).lower(),
            versions=tuple(s["code"] for s in row["submissions"]),
            statement=(row.get("statement") or "").strip(),
            language=str(row["language"]),
        )
    raise ValueError(f"no trajectory in a {kind!r} row without the AI programmer")


# ---------------------------------------------------------------- model requests


@dataclass
class Asker:
    """Sends one role's requests with the recipe's sampling parameters, retrying rejected answers."""

    generate: Callable[[dict[str, Any]], Awaitable[Any]]
    config: ProgrammingInstructConfig
    key: str
    stats: Counter = field(default_factory=Counter)

    async def ask(
        self,
        role: str,
        messages: Callable[[int], list[dict[str, str]]],
        parse: Callable[[str], T],
        max_tokens: int,
        tag: object = "",
        *,
        prose: bool = False,
    ) -> T:
        """The first parsable answer within `max_attempts` (greedy decoding asks each distinct prompt once); else
        `Rejected` with the last attempt's reason. An answer cut off at `max_tokens` is `<role>_truncated` when it
        does not parse, and always when it is `prose` (an instruction or explanation that stops mid-sentence)."""
        reasons: list[str] = []
        asked: list[list[dict[str, str]]] = []
        for attempt in range(self.config.max_attempts):
            prompt = messages(attempt)
            if self.config.temperature <= 0 and prompt in asked:
                break  # greedy decoding would give the same answer again
            asked.append(prompt)
            payload = {
                "messages": prompt,
                "max_tokens": max_tokens,
                "temperature": self.config.temperature,
                "top_p": self.config.top_p,
                "seed": stable_seed(self.config.seed, self.key, role, tag, attempt),
            }
            self.stats[f"{role}_requests"] += 1
            try:
                generation = await self.generate(payload)
            except LLMRequestError as error:  # the server refused this prompt (too long, ...): asking again won't help
                raise Rejected(f"{role}_request_refused", str(error)[:300]) from error
            truncated = generation.finish_reason == "length"
            try:
                if prose and truncated:
                    raise Rejected(f"{role}_truncated")
                return parse(generation.text)
            except Rejected as rejected:
                reasons.append(f"{role}_truncated" if truncated else rejected.reason)
        raise Rejected(reasons[-1], f"{len(reasons)} attempts: {', '.join(reasons)}")


async def ai_programmer(code: str, lang: str, asker: Asker, rng: random.Random) -> list[str]:
    """The snippet as a sequence of versions ending at `code`; a persona is drawn for every attempt."""
    config = asker.config
    personas = [rng.choice(config.personas) for _ in range(config.max_attempts)]

    def messages(attempt: int) -> list[dict[str, str]]:
        return aiprogrammer_messages(
            code,
            lang,
            personas[attempt],
            order=config.step_order,
            min_steps=config.min_steps,
            max_steps=config.max_steps,
        )

    def parse(answer: str) -> list[str]:
        return parse_steps(
            answer, code, order=config.step_order, min_steps=config.min_steps, max_steps=config.max_steps
        )

    return await asker.ask("aiprogrammer", messages, parse, config.aiprogrammer_max_tokens)


# ---------------------------------------------------------------- samples


@dataclass
class Cut:
    """One candidate sample being built from a plan."""

    trajectory: Trajectory
    states: Sequence[State]
    plan: Plan

    @property
    def state(self) -> State:
        return self.states[self.plan.index]

    @property
    def current(self) -> str:
        return self.state.code

    @property
    def history(self) -> list[str]:
        return [s.code for s in self.states[: self.plan.index]] if self.plan.use_history else []

    def record(self, *, with_notes: bool) -> Record:
        snapshots = [*self.history, self.current]
        return Record(
            current=self.current,
            lang=self.trajectory.lang,
            history=tuple(unified_diff(old, new) for old, new in itertools.pairwise(snapshots)),
            messages=self.trajectory.notes(self.state) if with_notes else (),
            statement=self.trajectory.statement if with_notes else "",
        )


def given_instruction(cut: Cut) -> str | None:
    """An instruction the source already holds, as CursorCore uses it: the commit message when the rest of the
    trajectory is exactly one commit, the problem statement at a programmer's first submission."""
    trajectory, state = cut.trajectory, cut.state
    if trajectory.source == Source.COMMIT and state.exact and state.step == len(trajectory.versions) - 2:
        message = trajectory.messages[-1]
        return message if message and not find_special_token(message) else None
    if trajectory.source == Source.OJ and cut.plan.index == 0 and trajectory.statement:
        text = (
            environment()
            .get_template("instruction_problem.jinja")
            .render(language=trajectory.language or trajectory.lang, statement=trajectory.statement)
        )
        return text.strip() if not find_special_token(text) else None
    return None


async def build_sample(cut: Cut, asker: Asker, sample_id: str) -> Sample:
    """The sample of one cut: instruction + final version, or judged blocks; then chat and loc. Raises
    `Rejected` when the instruction writer or the judge gives nothing usable."""
    config, trajectory, current = asker.config, cut.trajectory, cut.current
    final = trajectory.final
    record = cut.record(with_notes=False)
    if cut.plan.use_user:
        user = given_instruction(cut)
        if user is None:
            change = unified_diff(current, final)
            user = await asker.ask(
                "instruction",
                lambda _: instruction_messages(cut.record(with_notes=True), change),
                parse_instruction,
                config.instruction_max_tokens,
                cut.plan.index,
                prose=True,
            )
        next_code = final
    else:
        user = ""
        blocks = diff_blocks(current, final)
        changes = [unified_diff(current, apply_blocks(current, blocks, [i])) for i in range(len(blocks))]
        decisions = await asker.ask(
            "judge",
            lambda _: judge_messages(record, changes),
            lambda answer: parse_decisions(answer, len(changes)),
            config.judge_max_tokens,
            cut.plan.index,
        )
        next_code = apply_blocks(current, blocks, [i for i, chosen in enumerate(decisions) if chosen])
        asker.stats["judge_blocks_proposed"] += len(blocks)
        asker.stats["judge_blocks_chosen"] += sum(decisions)
    try:
        chat = await asker.ask(
            "chat",
            lambda _: chat_messages(record, user, unified_diff(current, next_code)),
            parse_chat,
            config.chat_max_tokens,
            cut.plan.index,
            prose=True,
        )
    except Rejected as rejected:  # CursorCore keeps the sample without an explanation
        asker.stats[f"chat_missing_{rejected.reason}"] += 1
        chat = ""
    loc_rng = random.Random(f"{config.seed}/{asker.key}/loc/{cut.plan.index}")
    sample = Sample(
        current=Snapshot(current, trajectory.lang),
        history=[Snapshot(code, trajectory.lang) for code in cut.history],
        user=user,
        chat=chat,
        next=Snapshot(next_code, trajectory.lang),
        loc=choose_loc(current, next_code, loc_rng, config.loc),
        source=trajectory.source,
        id=sample_id,
    )
    return replace(sample, messages=sample_messages(sample, config.messages_format))


def failed_check(sample: Sample) -> tuple[str, str]:
    """(`verification_<check kind>`, detail) of the first failed check."""
    for check in sample.verification.checks:
        if check.status not in (CheckStatus.PASSED, CheckStatus.SKIPPED):
            return f"verification_{check.name.split(':')[0]}", f"{check.name}: {check.status} {check.detail}".strip()
    return "verification_unverified", ""


async def synthesize(
    document: Document,
    generate: Callable[[dict[str, Any]], Awaitable[Any]],
    *,
    config: ProgrammingInstructConfig,
    sandbox: Sandbox | None = None,
) -> dict[str, Any]:
    """The rollout: one input row -> `SynthesisResult.to_json()` (samples and rejections), or `reject(reason,
    detail)` when the document yields no candidate at all; both with a `stats` counter once a model was asked."""
    kind, row = Source(document.metadata["kind"]), document.metadata["row"]
    if kind not in KINDS:
        raise ValueError(f"Programming-Instruct synthesizes {', '.join(KINDS)}, not {kind}")
    asker = Asker(generate, config, str(document.id))
    trajectory = row_trajectory(row, kind) if kind is not Source.AIPROGRAMMER else None
    final, lang = (row["content"], "python") if trajectory is None else (trajectory.final, trajectory.lang)
    # before any model call: code holding a token of the conversation format could not be rendered as a sample,
    # and a program that does not parse or compile yields nothing
    versions = (final,) if trajectory is None else trajectory.versions
    if token := next(filter(None, map(find_special_token, versions)), None):
        return reject("special_token", f"the code contains {token}")
    syntax = await syntax_check(final, lang, sandbox)
    if syntax.status is CheckStatus.ERROR:
        raise SandboxOutage(f"syntax check of {document.id}: {syntax.detail}")
    if syntax.status not in (CheckStatus.PASSED, CheckStatus.SKIPPED):
        return reject("verification_syntax", f"the final program: {syntax.status} {syntax.detail}".strip())
    if trajectory is None:
        rng = random.Random(f"{config.seed}/{document.id}/aiprogrammer")
        try:
            steps = await ai_programmer(final, lang, asker, rng)
        except Rejected as rejected:
            return {**reject(rejected.reason, rejected.detail), STATS: dict(asker.stats)}
        trajectory = Trajectory(source=Source.AIPROGRAMMER, lang=lang, versions=tuple(steps))
    if len(trajectory.versions) < 2:
        return reject("too_few_versions", f"{len(trajectory.versions)} version(s)")

    result = SynthesisResult()
    stats = asker.stats
    rng = random.Random(f"{config.seed}/{document.id}/trajectory")
    states = code_series(trajectory.versions, rng, config.split_step_prob)
    stats["states"] += len(states)
    cuts = plans(
        states,
        trajectory.final,
        rng,
        alpha=config.alpha,
        history_prob=config.history_prob,
        user_prob=config.user_prob,
    )
    verified = 0  # candidates that reached verification; CursorCore stops after max_per_sample of them
    for plan in cuts:
        if verified >= config.samples_per_trajectory:
            break
        cut = Cut(trajectory, states, plan)
        stats["candidates"] += 1
        try:
            sample = await build_sample(cut, asker, f"{document.id}/{cut.plan.index}")
        except Rejected as rejected:
            result.rejections.append(Rejection(rejected.reason, rejected.detail))
            continue
        checked = await verify_sample(sample, sandbox=sandbox, program=trajectory.final)
        verified += 1
        if checked.verification.status is VerificationStatus.PASSED:
            result.samples.append(checked)
        elif checked.verification.status is VerificationStatus.FAILED:
            result.rejections.append(Rejection(*failed_check(checked), checked))
        else:
            raise SandboxOutage(f"sample {checked.id}: {failed_check(checked)[1]}")
    if not result.samples and not result.rejections:
        return {
            **reject("no_candidate", f"{len(states)} states, none usable as the current snapshot"),
            STATS: dict(stats),
        }
    return {**result.to_json(), STATS: dict(stats)}


# ---------------------------------------------------------------- the pipeline step


def programming_instruct_step(
    config: ProgrammingInstructConfig,
    llm: LLMConfig,
    output_folder: str | Path,
    checkpoints_dir: str | Path,
) -> SynthesisRunner:
    """The datatrove step that turns documents from `row_document` / `input_adapter` into Programming-Instruct
    results, written as gzipped JSONL chunks (one record per document, results in `metadata["rollout_results"]`)."""
    return SynthesisRunner(
        functools.partial(synthesize, config=config),
        llm,
        chunked_jsonl_writer(output_folder),
        checkpoints_dir,
        records_per_chunk=config.records_per_chunk,
        shared_context=SynthesisContext(config.sandbox, config.sandbox_options),
        name="🧭 Programming-Instruct",
    )
