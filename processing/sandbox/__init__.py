"""Run untrusted code: one interface (`Sandbox`), a `local` bubblewrap provider and an `e2b` cloud provider.

`get_sandbox("local").run(Job.python(code, stdin=...))` runs one job; `verify(jobs)` runs a batch on every core and
streams the results in order; `await sandbox.arun(job)` serves async callers such as datatrove rollouts.
"""

from collections.abc import Iterable, Iterator
from typing import Any

from cursorcore.processing.sandbox.base import (
    BUILD_LIMITS,
    Job,
    Limits,
    Result,
    Sandbox,
    SandboxOutage,
    SandboxUnavailable,
    Status,
)

PROVIDERS = ("local", "e2b")  # the schemas of their options: options.OPTIONS

__all__ = [
    "BUILD_LIMITS",
    "PROVIDERS",
    "Job",
    "Limits",
    "Result",
    "Sandbox",
    "SandboxOutage",
    "SandboxUnavailable",
    "Status",
    "get_sandbox",
    "verify",
]


def get_sandbox(provider: str = "local", **options: Any) -> Sandbox:
    """Make a provider from its options (checked against the provider's schema in `options.py`: an option it does
    not take is a `SandboxOptionsError` naming both); its dependencies are imported only when it is asked for."""
    from cursorcore.processing.sandbox.options import options_dict, sandbox_options

    checked = sandbox_options(provider, options)
    if provider == "local":
        from cursorcore.processing.sandbox.local import LocalSandbox

        return LocalSandbox(**options_dict(checked))
    from cursorcore.processing.sandbox.e2b import E2BSandbox

    return E2BSandbox(checked)


def verify(
    jobs: Iterable[Job], *, provider: str = "local", progress: bool | None = None, **options: Any
) -> Iterator[Result]:
    """Run a batch of jobs on a fresh sandbox and stream the results in order; the sandbox closes at the end."""
    with get_sandbox(provider, **options) as sandbox:
        yield from sandbox.verify(jobs, progress=progress)
