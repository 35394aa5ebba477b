"""Mutation adequacy: can a sample's tests tell its solution from a slightly wrong one?

A passing test proves little when the test is weak: `assert not isinstance(sign(4), bool)` passes for a `sign` that
returns -1.125. After a sample's tests pass, its solution is mutated (mutants.py) and the same tests run against
every mutant, all of them in one sandbox job (mutation_driver.py forks one child per mutant, so the cost is test
execution, not sandbox start-up). A mutant is killed when the tests fail on it or it runs past its time limit (a
mutant that loops forever is one the tests noticed); it survived when the tests pass. The mutation score is
(killed + timed out) / mutants run; equivalent mutants (same bytecode as the original) are counted apart, never run.

The verdict is a `mutation` check in the sample's verification, its detail a JSON object with the score and the
counts (and, when the check fails, every mutant's outcome): `failed` when the tests killed no mutant or scored below
`min_score` (the sample is then rejected as `tests_too_weak`), `skipped` when there was nothing to measure (no
mutant, or the tests do not pass in the driver), `error` when the sandbox could not run the job.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cursorcore.processing.sandbox import Job, Limits, Result, Status
from cursorcore.processing.synthesis.mutants import Mutants, mutants
from cursorcore.schema import Check, CheckStatus, Verification

CHECK = "mutation"
DRIVER = Path(__file__).with_name("mutation_driver.py")
JOB_SLACK = 5.0  # seconds on top of the driver's own limits: interpreter start-up and reporting


@dataclass(frozen=True)
class MutationConfig:
    """How mutation adequacy is measured and what a sample needs to pass it. `enabled: false` (in YAML also
    `mutation: off`) gives SelfCodeAlign's and AutoCoder's published behaviour: passing tests are enough."""

    enabled: bool = True
    min_score: float = 0.0  # besides killing at least one mutant
    max_mutants: int = 24  # a deterministic subset when a solution has more
    min_timeout: float = 1.0  # seconds a mutant may run at least ...
    timeout_factor: float = 10.0  # ... or this many times the original's run, whichever is longer
    budget: float = 30.0  # seconds for all the mutants of a sample; those not started by then are not run

    @classmethod
    def of(cls, value: MutationConfig | Mapping[str, Any] | bool | str | None) -> MutationConfig:
        """A config from what a YAML kind config may hold: a mapping of fields, a boolean, or "on"/"off"."""
        if isinstance(value, cls):
            return value
        if value is None or isinstance(value, bool):
            return cls(enabled=value is not False)
        if isinstance(value, str) and value.lower() in ("on", "off", "true", "false"):
            return cls(enabled=value.lower() in ("on", "true"))
        if isinstance(value, Mapping):
            return cls(**value)
        raise ValueError(f"mutation: expected a mapping of {cls.__name__} fields, true/false or on/off, not {value!r}")


@dataclass(frozen=True)
class MutationPlan:
    """The mutants of one solution and the sandbox job that runs the tests against them."""

    mutants: Mutants
    job: Job


def mutation_plan(
    code: str,
    program: Callable[[str], str],
    config: MutationConfig,
    limits: Limits,
    *,
    seed: int | str,
    packages: tuple[str, ...] = (),
) -> MutationPlan:
    """The plan for solution `code`; `program(solution)` is what the verifier runs (the solution with its tests).
    `limits.wall_time` caps the original's run and every mutant's; the job's own wall time covers them all."""
    found = mutants(code, seed=seed, limit=config.max_mutants)
    payload = {
        "original": program(code),
        "mutants": [program(mutant.code) for mutant in found.selected],
        "min_timeout": config.min_timeout,
        "factor": config.timeout_factor,
        "max_timeout": limits.wall_time,
        "budget": config.budget,
    }
    wall_time = 2 * limits.wall_time + config.budget + JOB_SLACK
    job = Job(
        files={"driver.py": DRIVER.read_text(encoding="utf-8"), "payload.json": json.dumps(payload)},
        command=["python", "driver.py", "payload.json"],
        limits=Limits(wall_time=wall_time, memory_mb=limits.memory_mb),
        packages=packages,
    )
    return MutationPlan(found, job)


def driver_outcomes(result: Result) -> dict[int, CheckStatus]:
    """index -> outcome from the driver's output (-1 is the original); the first line per index counts."""
    outcomes: dict[int, CheckStatus] = {}
    for line in result.stdout.splitlines():
        try:
            record = json.loads(line)
            index, outcome = record["index"], record["outcome"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(index, int) and isinstance(outcome, str) and outcome in MUTANT_OUTCOMES:
            outcomes.setdefault(index, CheckStatus(outcome))
    return outcomes


# the driver's outcome of the tests on a mutant -> what that says about the mutant
MUTANT_OUTCOMES = {CheckStatus.FAILED: "killed", CheckStatus.TIMEOUT: "timed_out", CheckStatus.PASSED: "survived"}


def mutation_check(plan: MutationPlan, result: Result | None, config: MutationConfig) -> Check:
    """The `mutation` check of a sample from the driver's run (see the module docstring for its statuses); `result`
    is None when the plan has no mutant to run."""
    if result is None or not plan.mutants.selected:
        detail = f"no mutant to run ({plan.mutants.equivalent} equivalent to the original)"
        return Check(CHECK, CheckStatus.SKIPPED, detail)
    if result.status is Status.ERROR:
        return Check(CHECK, CheckStatus.ERROR, f"the sandbox could not run the mutants: {result.detail}"[:300])
    outcomes = driver_outcomes(result)
    if -1 not in outcomes:
        detail = f"the driver reported nothing ({result.status}, {result.detail}): {result.stderr.strip()[-200:]}"
        return Check(CHECK, CheckStatus.ERROR, detail)
    if outcomes[-1] is not CheckStatus.PASSED:
        detail = f"the tests {outcomes[-1]} on the original solution in the mutation driver"
        return Check(CHECK, CheckStatus.SKIPPED, detail)
    selected = plan.mutants.selected
    states = [MUTANT_OUTCOMES[outcomes[i]] if i in outcomes else "not_run" for i in range(len(selected))]
    counts = Counter(states)
    tried = len(states) - counts["not_run"]
    detected = counts["killed"] + counts["timed_out"]
    summary = {
        "score": round(detected / tried, 4) if tried else None,
        "tried": tried,
        **{name: counts[name] for name in ("killed", "timed_out", "survived", "not_run")},
        "equivalent": plan.mutants.equivalent,
        "generated": plan.mutants.generated,
    }
    if not tried:
        return Check(CHECK, CheckStatus.SKIPPED, json.dumps(summary))
    if detected and detected / tried >= config.min_score:
        return Check(CHECK, CheckStatus.PASSED, json.dumps(summary))
    summary["mutants"] = [
        {"mutant": mutant.describe(), "outcome": state} for mutant, state in zip(selected, states, strict=True)
    ]
    return Check(CHECK, CheckStatus.FAILED, json.dumps(summary))


def mutation_summary(verification: Verification | Mapping[str, Any]) -> dict[str, Any] | None:
    """The score and counts a sample's verification records (a `Verification` or its row form), or None when its
    mutation adequacy was not measured."""
    checks = verification.checks if isinstance(verification, Verification) else verification.get("checks") or []
    for check in checks:
        name, status, detail = (
            (check.name, check.status, check.detail)
            if isinstance(check, Check)
            else (check.get("name"), check.get("status"), check.get("detail"))
        )
        if name == CHECK and status in (CheckStatus.PASSED, CheckStatus.FAILED):
            return json.loads(detail)
    return None


def too_weak(verification: Verification) -> bool:
    """Whether the mutation check is what failed the verification (and nothing else did)."""
    failed = [check.name for check in verification.checks if check.status.is_failure]
    return failed == [CHECK]
