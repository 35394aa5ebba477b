"""HumanEval+ and MBPP+ scored the way `evalplus.evaluate` scores them, every program run in the sandbox.

What is kept from EvalPlus (0.3.1) so verdicts agree with it:

* expected outputs come from running the reference solution (`prompt + canonical_solution`) on `base_input` and
  `plus_input`; the `contract` (input-validity asserts) is not executed, neither there nor here;
* a solution is exec'd in a fresh namespace (so `if __name__ == "__main__":` blocks do not run), with its I/O
  swallowed and EvalPlus's `reliability_guard` applied, and fails at the first input whose output differs;
* outputs match by `==`, by `np.allclose(rtol=1e-7, atol)` when the task has a tolerance (1e-6 once a float is
  expected), and by EvalPlus's special oracles (MBPP set-equality and not-None tasks, Mbpp/164, 295, 558, 581);
* per-input time limit `max(min_time_limit, gt_time_limit_factor × reference time)` (1 s and 4× by default), and
  `min(60 s, sum of the limits) + 2 s` for a whole split; a split that cannot finish is `timeout`;
* MBPP+ inputs are deserialised as EvalPlus does (tuples, sets, complex numbers for the listed tasks);
* `base` and `plus` are separate verdicts, like `base_status` and `plus_status` in EvalPlus's results file;
  HumanEval+ / MBPP+ scores count a solution when both pass, as EvalPlus's pass@k does.

Where this harness differs on purpose:

* HumanEval/32 (`find_zero`): EvalPlus 0.3.1 fails every solution, the reference included (its special oracle skips
  counting the input as passed); here a solution passes when it returns a root within `atol`.
* Mbpp/255 (`combinations_colors`): EvalPlus's checking process holds every expected output (about 780 MB pickled)
  under its 4 GiB address-space limit, so a solution that gets to plus input 86 runs out of memory there and fails,
  the reference included (it passes with EVALPLUS_MAX_MEMORY_BYTES=-1). Here outputs that large are produced one at
  a time, and a right solution passes.
* Outputs too large to ship (below) are known by a digest of their pickle. A solution's output that pickles to
  those bytes is compared with its own unpickled copy, which is the value EvalPlus compares with; any other output
  is compared with the reference's output, computed in the solution's process (the reference loaded before the
  solution, run after it on an untouched copy of the input): a solution that rewrites shared library modules could
  disturb that; EvalPlus computes every expected output in its own process beforehand.
* Times are effective seconds (wall-clock minus time spent waiting for a CPU, see `evalplus_runner`), measured in
  the sandbox: on an idle machine that is EvalPlus's wall clock, on a loaded one correct solutions still pass.

Reference outputs and times are computed once per dataset hash and kept in the cache; for outputs too large to ship
to every job (HumanEval/15, /100, /130, Mbpp/255) the cache and the jobs hold a sha256 per input instead (of the
output's pickle when it is made of builtin values only): a right answer is recognised by it, a wrong one is then
compared with the reference's output computed in the job, and the split's time budget grows by twice the
reference's time for that.
"""

import base64
import json
import logging
import os
import pickle
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cursorcore.eval import evalplus_runner as runner
from cursorcore.eval.execution import make_sandbox, run_jobs
from cursorcore.eval.results import harness_info
from cursorcore.eval.sources import cache_dir, fetch, md5_hex, parse_json_rows, read_bytes
from cursorcore.processing.sandbox import Job, Limits, Result, Sandbox, Status

logger = logging.getLogger(__name__)

RUNNER_SOURCE = Path(runner.__file__).read_text(encoding="utf-8")
# Bump when the runner's protocol or its timing changes: cached reference outputs are keyed by it.
RUNNER_VERSION = 2

DEFAULT_MIN_TIME_LIMIT = 1.0
DEFAULT_GT_TIME_LIMIT_FACTOR = 4.0
SPLIT_TIME_CAP = 60.0  # EvalPlus's EVALPLUS_TIMEOUT_PER_TASK default
SPLIT_TIME_SLACK = 2.0  # EvalPlus waits `+ 1` for the task and `+ 1` more when joining its process
MEMORY_BYTES = 4 << 30  # EvalPlus's default EVALPLUS_MAX_MEMORY_BYTES
MAX_EXPECTED_BYTES = 4 << 20
SPLITS = ("base", "plus")


@dataclass(frozen=True)
class Release:
    """Where EvalPlus publishes a dataset version, and the variable EvalPlus reads to use a local copy instead."""

    dataset: str
    version: str
    url: str
    override_env: str

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1].replace(".jsonl.gz", f"-{self.version}.jsonl.gz")


# The Hub copies (evalplus/humanevalplus, evalplus/mbppplus) merge base and plus tests into one `test` program, so
# the base/plus verdicts need EvalPlus's own release files.
HUMANEVAL_PLUS = Release(
    "humaneval",
    "v0.1.10",
    "https://github.com/evalplus/humanevalplus_release/releases/download/v0.1.10/HumanEvalPlus.jsonl.gz",
    "HUMANEVAL_OVERRIDE_PATH",
)
MBPP_PLUS = Release(
    "mbpp",
    "v0.2.0",
    "https://github.com/evalplus/mbppplus_release/releases/download/v0.2.0/MbppPlus.jsonl.gz",
    "MBPP_OVERRIDE_PATH",
)
RELEASES = {release.dataset: release for release in (HUMANEVAL_PLUS, MBPP_PLUS)}


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str
    base_input: list
    plus_input: list
    atol: float

    @property
    def reference(self) -> str:
        return self.prompt + self.canonical_solution

    def inputs(self, split: str) -> list:
        return self.base_input if split == "base" else self.plus_input


@dataclass(frozen=True)
class PlusBenchmark:
    """One EvalPlus dataset. `dataset` is EvalPlus's name for it (it selects the special oracles); `hash` is the md5
    of the release file, EvalPlus's own dataset hash."""

    dataset: str
    version: str
    problems: dict[str, Problem]
    hash: str
    source: str

    @property
    def name(self) -> str:
        return "HumanEval+" if self.dataset == "humaneval" else "MBPP+"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "hash": self.hash, "source": self.source}


def _tuples(value: Any) -> Any:
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def _each(convert: Callable[[Any], Any]) -> Callable[[list], list]:
    return lambda inputs: [convert(inp) for inp in inputs]


# EvalPlus stores MBPP+ inputs as JSON and turns them back into the tuples, sets and complex numbers the tasks take
# (`evalplus.data.mbpp.mbpp_deserialize_inputs`). Task number -> conversion of one input (a list of arguments).
_MBPP_ARG_TUPLES = _each(lambda inp: [tuple(arg) for arg in inp])
_MBPP_NESTED_TUPLES = _each(lambda inp: [[tuple(item) for item in arg] for arg in inp])
_MBPP_FIRST_NESTED_TUPLES = _each(lambda inp: [[tuple(item) for item in inp[0]], inp[1]])
_MBPP_SECOND_TUPLE = _each(lambda inp: [inp[0], tuple(inp[1])])
_MBPP_FIRST_TUPLE = _each(lambda inp: [tuple(inp[0]), *inp[1:]])
_MBPP_DESERIALIZERS: dict[int, Callable[[list], list]] = {
    **dict.fromkeys(
        (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740, 744, 809),
        _MBPP_ARG_TUPLES,
    ),
    **dict.fromkeys((63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780), _MBPP_NESTED_TUPLES),
    **dict.fromkeys((75, 413, 444, 753), _MBPP_FIRST_NESTED_TUPLES),
    **dict.fromkeys((106, 750), _MBPP_SECOND_TUPLE),
    **dict.fromkeys((250, 405, 446, 617, 720, 763, 808), lambda inputs: [[tuple(inp[0]), inp[1]] for inp in inputs]),
    **dict.fromkeys((259, 401, 445), _each(lambda inp: [tuple(tuple(item) for item in arg) for arg in inp])),
    115: _each(lambda inp: [[set(item) if isinstance(item, list) and item else {} for item in inp[0]]]),
    124: _each(lambda inp: (float(inp[0]), complex(inp[1]))),
    252: _each(lambda inp: [complex(inp[0])]),
    278: _each(lambda inp: [tuple(tuple(item) if isinstance(item, list) else item for item in inp[0])]),
    307: _MBPP_FIRST_TUPLE,
    722: _each(lambda inp: [{key: tuple(value) for key, value in inp[0].items()}, *inp[1:]]),
    **dict.fromkeys((580, 615, 791), _each(_tuples)),
}

# MBPP+ tasks whose reference outputs only say whether the output is None (EvalPlus's MBPP_OUTPUT_NOT_NONE_TASKS).
MBPP_OUTPUT_NOT_NONE = runner.MBPP_OUTPUT_NOT_NONE


def mbpp_inputs(task_id: str, inputs: list) -> list:
    """MBPP+ inputs as the task's function receives them."""
    convert = _MBPP_DESERIALIZERS.get(int(task_id.rsplit("/", 1)[-1]))
    return convert(inputs) if convert else inputs


def _problem(row: dict[str, Any], dataset: str) -> Problem:
    base, plus = row["base_input"], row["plus_input"] or []  # Mbpp/793 has `{}` for no plus inputs
    if dataset == "mbpp":
        base, plus = mbpp_inputs(row["task_id"], base), mbpp_inputs(row["task_id"], plus)
    return Problem(
        task_id=row["task_id"],
        prompt=row["prompt"],
        entry_point=row["entry_point"],
        canonical_solution=row["canonical_solution"],
        base_input=list(base),
        plus_input=list(plus),
        atol=row["atol"],
    )


def load_plus(release: Release, path: str | Path | None = None) -> PlusBenchmark:
    """A release file (.jsonl or .jsonl.gz): `path`, else $HUMANEVAL_OVERRIDE_PATH / $MBPP_OVERRIDE_PATH as in
    EvalPlus, else EvalPlus's release URL fetched once into the cache."""
    path = path or os.environ.get(release.override_env) or fetch(release.url, release.file_name)
    data = read_bytes(path)
    problems = {row["task_id"]: _problem(row, release.dataset) for row in parse_json_rows(data)}
    return PlusBenchmark(release.dataset, release.version, problems, md5_hex(data), str(path))


def load_humanevalplus(path: str | Path | None = None) -> PlusBenchmark:
    return load_plus(HUMANEVAL_PLUS, path)


def load_mbppplus(path: str | Path | None = None) -> PlusBenchmark:
    return load_plus(MBPP_PLUS, path)


def read_solutions(path: str | Path, problems: dict[str, Problem] | None = None) -> list[tuple[str, str]]:
    """`(task_id, code)` rows of a JSON-lines file of `{task_id, solution}` or, as EvalPlus also accepts,
    `{task_id, completion}` (the prompt is prepended)."""
    solutions = []
    for number, row in enumerate(parse_json_rows(read_bytes(path)), start=1):
        if "solution" in row:
            code = row["solution"]
        elif "completion" in row and problems and row.get("task_id") in problems:
            code = problems[row["task_id"]].prompt + row["completion"]
        else:
            raise ValueError(f"{path}, row {number}: needs `task_id` and `solution` (or `completion`)")
        if not isinstance(code, str):
            raise ValueError(f"{path}, row {number}: the solution must be a string")
        solutions.append((str(row["task_id"]), code))
    return solutions


@dataclass(frozen=True)
class Verdict:
    """EvalPlus's `base_status` and `plus_status` for one solution: pass, fail or timeout; `error` when the sandbox
    could not run it (never a wrong answer; the run reports it)."""

    task_id: str
    base: str
    plus: str

    @property
    def base_passed(self) -> bool:
        return self.base == runner.PASS

    @property
    def plus_passed(self) -> bool:
        return self.plus == runner.PASS

    @property
    def passed(self) -> bool:
        """Both test sets: what EvalPlus's HumanEval+ / MBPP+ pass@k counts."""
        return self.base_passed and self.plus_passed

    @property
    def errored(self) -> bool:
        return "error" in (self.base, self.plus)


@dataclass
class GroundTruth:
    """Per split: effective seconds the reference took on each input, and its pickled outputs when small, else the
    digest of each output (`evalplus_runner.output_digest`; None for an output that is not made of builtin values)."""

    times: dict[str, list[float]]
    expected: dict[str, bytes | None] = field(default_factory=dict)
    digests: dict[str, list[str | None] | None] = field(default_factory=dict)


class HarnessError(RuntimeError):
    """The harness itself failed (a reference solution crashed, the sandbox broke down); no verdict was made."""


class PlusScorer:
    """Scores solutions of one EvalPlus dataset in a sandbox. Use as a context manager (it holds sandbox workers).

    `min_time_limit` and `gt_time_limit_factor` are EvalPlus's options of the same names; `backstop_factor` bounds
    a split's wall-clock time (× its budget) in case effective time cannot be measured.
    """

    def __init__(
        self,
        benchmark: PlusBenchmark,
        *,
        provider: str = "local",
        workers: int | None = None,
        cache: Path | None = None,
        min_time_limit: float = DEFAULT_MIN_TIME_LIMIT,
        gt_time_limit_factor: float = DEFAULT_GT_TIME_LIMIT_FACTOR,
        backstop_factor: float = 20.0,
        base_only: bool = False,
    ) -> None:
        self.benchmark = benchmark
        self.min_time_limit, self.gt_time_limit_factor = min_time_limit, gt_time_limit_factor
        self.backstop_factor = backstop_factor
        self.splits = SPLITS[:1] if base_only else SPLITS
        root = cache or cache_dir()
        self.cache = root / "ground-truth" / f"{benchmark.dataset}-{benchmark.hash}-r{RUNNER_VERSION}"
        self._provider, self._workers = provider, workers
        self._sandbox: Sandbox | None = None
        self._truth: dict[str, GroundTruth] = {}

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:  # numpy does the comparisons: imported once per worker, jobs start fast
            self._sandbox = make_sandbox(self._provider, self._workers, preload=("numpy",))
        return self._sandbox

    def describe(self) -> dict[str, Any]:
        """The harness and every option that can change a verdict."""
        return harness_info(
            runner=RUNNER_VERSION,
            sandbox=self._provider,
            min_time_limit=self.min_time_limit,
            gt_time_limit_factor=self.gt_time_limit_factor,
        )

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def __enter__(self) -> "PlusScorer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ ground truth
    def ground_truth(self, task_ids: Iterable[str]) -> dict[str, GroundTruth]:
        """Reference outputs and times for these tasks, from the cache or computed now (in parallel)."""
        wanted = [task_id for task_id in dict.fromkeys(task_ids) if task_id not in self._truth]
        missing = []
        for task_id in wanted:
            cached = self._read_cached(task_id)
            if cached is None:
                missing.append(task_id)
            else:
                self._truth[task_id] = cached
        if missing:
            logger.info("computing reference outputs for %d %s task(s)", len(missing), self.benchmark.dataset)
            nonces = [secrets.token_hex(16) for _ in missing]
            problems = [self.benchmark.problems[task_id] for task_id in missing]
            jobs = [self._oracle_job(problem, nonce) for problem, nonce in zip(problems, nonces, strict=True)]
            for task_id, answer in zip(missing, self._answers(jobs, nonces), strict=True):
                if answer is None:
                    raise HarnessError(f"the reference solution of {task_id} did not run (see the log above)")
                truth = GroundTruth(
                    times={split: answer[split]["times"] for split in SPLITS},
                    expected={
                        split: base64.b64decode(answer[split]["expected"]) if answer[split]["expected"] else None
                        for split in SPLITS
                    },
                    digests={split: answer[split]["digests"] for split in SPLITS},
                )
                self._write_cached(task_id, truth)
                self._truth[task_id] = truth
        return self._truth

    def _cache_path(self, task_id: str) -> Path:
        return self.cache / f"{task_id.replace('/', '_')}.json"

    def _read_cached(self, task_id: str) -> GroundTruth | None:
        try:
            data = json.loads(self._cache_path(task_id).read_text())
        except (OSError, ValueError):
            return None
        expected = {split: base64.b64decode(blob) if blob else None for split, blob in data["expected"].items()}
        return GroundTruth(times=data["times"], expected=expected, digests=data.get("digests") or {})

    def _write_cached(self, task_id: str, truth: GroundTruth) -> None:
        self.cache.mkdir(parents=True, exist_ok=True)
        expected = {split: base64.b64encode(blob).decode() if blob else None for split, blob in truth.expected.items()}
        path = self._cache_path(task_id)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps({"times": truth.times, "expected": expected, "digests": truth.digests}))
        os.replace(partial, path)

    def _oracle_job(self, problem: Problem, nonce: str) -> Job:
        task = {
            **self._common(problem),
            "mode": "oracle",
            "splits": [{"name": split, "inputs": problem.inputs(split)} for split in SPLITS],
            "max_expected_bytes": MAX_EXPECTED_BYTES,
        }
        # Reference solutions are trusted but some are slow or build large outputs (Mbpp/255): generous limits.
        limits = Limits(wall_time=3600, memory_mb=12288, output_bytes=3 * MAX_EXPECTED_BYTES + (1 << 20))
        return _job(task, limits, nonce)

    # ------------------------------------------------------------------ scoring
    def time_limits(self, times: Sequence[float]) -> list[float]:
        return [max(self.min_time_limit, self.gt_time_limit_factor * seconds) for seconds in times]

    def score(self, solutions: Sequence[tuple[str, str]]) -> list[Verdict]:
        """One verdict per `(task_id, code)`, in order."""
        unknown = sorted({task_id for task_id, _ in solutions} - set(self.benchmark.problems))
        if unknown:
            raise ValueError(f"not in {self.benchmark.name} {self.benchmark.version}: {', '.join(unknown[:5])}")
        truth = self.ground_truth(task_id for task_id, _ in solutions)
        # Longest first, so no slow task is left to run alone at the end; jobs are built as the sandbox takes them.
        order = sorted(range(len(solutions)), key=lambda i: -sum(map(sum, truth[solutions[i][0]].times.values())))
        nonces = [secrets.token_hex(16) for _ in solutions]

        def job(index: int) -> Job:
            task_id, code = solutions[order[index]]
            return self._check_job(self.benchmark.problems[task_id], truth[task_id], code, nonces[order[index]])

        answers: list[dict | None] = [None] * len(solutions)
        for index, answer in enumerate(self._answers(_LazyJobs(job, len(solutions)), [nonces[i] for i in order])):
            answers[order[index]] = answer
        verdicts = []
        for (task_id, _), answer in zip(solutions, answers, strict=True):
            status = {split: answer[split]["status"] if answer else "error" for split in self.splits}
            verdicts.append(Verdict(task_id, status["base"], status.get("plus", "")))
        return verdicts

    def _check_job(self, problem: Problem, truth: GroundTruth, code: str, nonce: str) -> Job:
        splits, seconds = [], 30.0
        for split in self.splits:
            limits = self.time_limits(truth.times[split])
            budget = min(SPLIT_TIME_CAP, sum(limits)) + SPLIT_TIME_SLACK
            if truth.expected.get(split) is None:  # the reference may run beside the solution: its time is added
                budget += 2 * sum(truth.times[split]) + 1
            splits.append(
                {
                    "name": split,
                    "inputs": problem.inputs(split),
                    "expected": truth.expected.get(split),
                    "digests": truth.digests.get(split),
                    "limits": limits,
                    "budget": budget,
                }
            )
            seconds += budget * self.backstop_factor + 5
        task = {
            **self._common(problem),
            "mode": "check",
            "code": code,
            "splits": splits,
            "memory_bytes": MEMORY_BYTES,
            "backstop_factor": self.backstop_factor,
        }
        return _job(task, Limits(wall_time=seconds, cpu_time=seconds, memory_mb=12288), nonce)

    def _common(self, problem: Problem) -> dict[str, Any]:
        return {
            "dataset": self.benchmark.dataset,
            "entry_point": problem.entry_point,
            "atol": problem.atol,
            "reference": problem.reference,
            "output_not_none": self.benchmark.dataset == "mbpp" and problem.entry_point in MBPP_OUTPUT_NOT_NONE,
        }

    def _answers(self, jobs: Sequence[Job], nonces: Sequence[str]) -> list[dict | None]:
        """The runner's answer per job (None when it never came, even on a second try)."""
        results = run_jobs(self.sandbox, jobs, accept=lambda done: runner.MARKER in done.stdout)
        return [_answer(result, nonce) for nonce, result in zip(nonces, results, strict=True)]


class _LazyJobs(Sequence):
    """Jobs made when asked for: a batch of many samples never holds every job's inputs in memory at once."""

    def __init__(self, make: Callable[[int], Job], count: int) -> None:
        self._make, self._count = make, count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> Job:  # type: ignore[override]  # slices are never asked for
        if not 0 <= index < self._count:
            raise IndexError(index)
        return self._make(index)


def _job(task: dict[str, Any], limits: Limits, nonce: str) -> Job:
    files = {"main.py": RUNNER_SOURCE, "task.pkl": pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)}
    return Job(files=files, command=["python", "main.py"], stdin=nonce, limits=limits)


def _answer(result: Result, nonce: str) -> dict | None:
    """The runner's answer line, or None when the job did not produce one."""
    prefix = f"{runner.MARKER}{nonce} "
    for line in result.stdout.splitlines():
        if line.startswith(prefix):
            return json.loads(line[len(prefix) :])
    if result.status is not Status.ERROR:
        logger.warning("a scoring job ended without an answer: %s", _describe(result))
    return None


def _describe(result: Result) -> str:
    return f"{result.status} ({result.detail}); stderr: {result.stderr[-1500:].strip()!r}"
