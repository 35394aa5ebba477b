"""The options each sandbox provider takes, as one dataclass per provider, checked when a config is read.

A YAML section such as `sandbox_options: {max_concurrent: 20}` is checked here against the provider it goes to, so
an option the provider does not have (`workers` given to `e2b`) or a value of the wrong type is an error naming the
option and the provider before any task starts, not a TypeError in every task.

E2B's limits are per team (the API key), whatever the number of processes: the defaults of `E2BOptions` fit the
Hobby plan, and `task_share(n)` gives each of `n` tasks running at once its part of them. The plans, from E2B's
rate-limit page (https://e2b.dev/docs/sandbox/rate-limits, read 2026-12): Hobby 20 concurrent sandboxes and 1
creation per second; Pro 100 concurrent (up to 1,100 with an add-on) and 5 creations per second. A sandbox runs at
most 1 hour on Hobby (Base) and 24 hours on Pro (https://e2b.dev/docs/sandbox).
"""

import os
import types
import typing
from dataclasses import dataclass, fields
from typing import Any

from cursorcore.processing.sandbox.local import DEFAULT_HOST_UID, DEFAULT_PRELOAD

HOBBY_CONCURRENT_SANDBOXES = 20
HOBBY_CREATIONS_PER_SECOND = 1.0
HOBBY_MAX_LIFETIME = 3600  # seconds a sandbox may run on the Hobby (Base) plan


class SandboxOptionsError(ValueError):
    """An option a sandbox provider does not take, or a value it cannot use; the message names both."""


@dataclass(frozen=True)
class LocalOptions:
    """`local` (bubblewrap on this machine): see `LocalSandbox` for what each option means."""

    workers: int | None = None  # sandboxes (and jobs) at once; default: one per core
    python: str | None = None
    wheelhouse: str | None = None
    bwrap: str = "bwrap"
    allow_unisolated: bool = False
    host_uid: int = DEFAULT_HOST_UID
    preload: tuple[str, ...] = tuple(DEFAULT_PRELOAD)

    def check(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise SandboxOptionsError("sandbox provider 'local': workers must be at least 1")

    def task_share(self, tasks: int) -> dict[str, Any]:
        """Every task runs its own workers on its own share of a machine: nothing to divide."""
        return {}


@dataclass(frozen=True)
class E2BOptions:
    """`e2b` (cloud microVMs through e2b-code-interpreter)."""

    template: str | None = None  # E2B template id or name (default: the SDK's code-interpreter template)
    max_concurrent: int = HOBBY_CONCURRENT_SANDBOXES  # sandboxes alive at once, over all tasks of the build
    creations_per_second: float = HOBBY_CREATIONS_PER_SECOND  # sandbox creations, over all tasks of the build
    lifetime: int = 600  # seconds a sandbox lives past its last job (the SDK's `timeout`)
    allow_internet: bool = False  # jobs that install packages (AIEV answers) need it
    timeout_margin: float = 10.0  # seconds the SDK waits past a command's own wall time
    creation_attempts: int = 5  # tries to create a sandbox before the job is an infrastructure `error`
    backoff_initial: float = 1.0  # seconds before the second try, doubled after each failure (jittered)
    backoff_max: float = 60.0

    def check(self) -> None:
        problems = []
        if self.max_concurrent < 1:
            problems.append("max_concurrent must be at least 1")
        if self.creations_per_second <= 0:
            problems.append("creations_per_second must be positive")
        if not 1 <= self.lifetime <= 24 * 3600:
            problems.append("lifetime must be between 1 and 86400 seconds (E2B's Pro maximum)")
        if self.creation_attempts < 1:
            problems.append("creation_attempts must be at least 1")
        if self.backoff_initial < 0 or self.backoff_max < self.backoff_initial:
            problems.append("need 0 <= backoff_initial <= backoff_max")
        if problems:
            raise SandboxOptionsError(f"sandbox provider 'e2b': {'; '.join(problems)}")

    def task_share(self, tasks: int) -> dict[str, Any]:
        """The options that change for one of `tasks` tasks running at the same time: its part of the team's limits."""
        tasks = max(1, tasks)
        if tasks > self.max_concurrent:
            raise SandboxOptionsError(
                f"sandbox provider 'e2b': {tasks} tasks at once cannot share max_concurrent={self.max_concurrent} "
                "sandboxes; run fewer tasks at once (executor.workers) or raise max_concurrent to your plan's limit"
            )
        return {
            "max_concurrent": self.max_concurrent // tasks,
            "creations_per_second": self.creations_per_second / tasks,
        }


SandboxOptions = LocalOptions | E2BOptions
OPTIONS: dict[str, type[LocalOptions] | type[E2BOptions]] = {"local": LocalOptions, "e2b": E2BOptions}


def sandbox_options(provider: str, values: typing.Mapping[str, Any] | SandboxOptions | None = None) -> SandboxOptions:
    """The checked options of `provider` from a mapping (a YAML section): unknown names, wrong types and values out
    of range raise `SandboxOptionsError` naming the option and the provider."""
    if provider not in OPTIONS:
        raise SandboxOptionsError(f"unknown sandbox provider {provider!r}; choose one of {', '.join(OPTIONS)}")
    schema = OPTIONS[provider]
    if isinstance(values, schema):
        values.check()
        return values
    values = dict(values or {})
    known = {f.name: f for f in fields(schema)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SandboxOptionsError(
            f"sandbox provider {provider!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options: {', '.join(known)}"
        )
    hints = typing.get_type_hints(schema)
    for name, value in values.items():
        values[name] = _coerce(provider, name, value, hints[name])
    options = schema(**values)
    options.check()
    return options


def _coerce(provider: str, name: str, value: Any, hint: Any) -> Any:
    """`value` as the option's type (YAML gives lists for tuples and ints for floats), or an error naming both."""
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in allowed:
        return None
    for kind in allowed:
        origin = typing.get_origin(kind) or kind
        if origin is tuple and isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        if origin is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if origin in (int, str, bool) and type(value) is origin:
            return value
        if origin is str and isinstance(value, os.PathLike):
            return os.fspath(value)
    wanted = " or ".join(getattr(k, "__name__", str(k)) for k in allowed)
    raise SandboxOptionsError(
        f"sandbox provider {provider!r}: option {name!r} must be {wanted}, not {type(value).__name__} {value!r}"
    )


def options_dict(options: SandboxOptions) -> dict[str, Any]:
    return {f.name: getattr(options, f.name) for f in fields(options)}


__all__ = [
    "OPTIONS",
    "E2BOptions",
    "LocalOptions",
    "SandboxOptions",
    "SandboxOptionsError",
    "options_dict",
    "sandbox_options",
]
