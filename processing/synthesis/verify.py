"""Verification of a sample before it may be kept: edit-format round trips, a syntax check, and tests when there
are some. Each check is recorded in `sample.verification`, so a user can see what was executed and its outcome.

Statuses follow the sandbox's rule: a check that could not run (`error`) is not a failed check; the sample is then
`unverified`, and synthesis treats it as something to retry rather than as a wrong answer.
"""

import ast
from dataclasses import replace

from cursorcore.processing.formats import FORMATS, EditFormat, EditFormatError
from cursorcore.processing.formats.conversation import messages_sample, sample_messages
from cursorcore.processing.sandbox import Job, Limits, Result, Sandbox, Status
from cursorcore.schema import Check, CheckStatus, Sample, Verification, VerificationStatus

CPP_LANGS = {"c++", "cpp", "cxx"}
C_LANGS = {"c"}
COMPILE_LIMITS = Limits(wall_time=60.0, memory_mb=2048, processes=16)


def roundtrip_checks(sample: Sample) -> list[Check]:
    """For each format: the rendered conversation reads back to the same sample, and its edit gives `next`.
    History must come back exactly only where its rendering is lossless (WF); LC and SR history steps are
    CursorCore's lossy renderings, so there only their number is checked."""
    checks = []
    for name, fmt in FORMATS.items():
        try:
            back = messages_sample(sample_messages(sample, fmt), fmt)
            same = (
                _history(back, fmt) == _history(sample, fmt)
                and back.current.code == sample.current.code
                and (back.next.code if back.next else None) == (sample.next.code if sample.next else None)
                and (back.user, back.chat, back.loc) == (sample.user, sample.chat, sample.loc)
            )
            status = CheckStatus.PASSED if same else CheckStatus.FAILED
            checks.append(Check(f"roundtrip:{name}", status, "" if same else "differs"))
        except EditFormatError as error:
            checks.append(Check(f"roundtrip:{name}", CheckStatus.FAILED, str(error)[:200]))
    return checks


def _history(sample: Sample, fmt: EditFormat) -> list[str] | int:
    return [h.code for h in sample.history] if fmt.exact_history else len(sample.history)


def python_syntax(code: str) -> Check:
    """Parsing never executes the code, so it can run here, outside the sandbox."""
    try:
        ast.parse(code)
    except (SyntaxError, ValueError) as error:
        return Check("syntax", CheckStatus.FAILED, f"{type(error).__name__}: {error}"[:200])
    return Check("syntax", CheckStatus.PASSED)


def compile_job(code: str, lang: str) -> Job | None:
    """A compile-only job for C and C++ (gcc/g++ -fsyntax-only), or None for other languages."""
    lang = lang.lower()
    if lang in CPP_LANGS:
        return Job(
            files={"main.cpp": code},
            command=["g++", "-std=gnu++17", "-fsyntax-only", "main.cpp"],
            limits=COMPILE_LIMITS,
        )
    if lang in C_LANGS:
        return Job(
            files={"main.c": code}, command=["gcc", "-std=gnu17", "-fsyntax-only", "main.c"], limits=COMPILE_LIMITS
        )
    return None


def result_check(name: str, result: Result) -> Check:
    """A sandbox result as a check; stderr's tail says why it failed."""
    detail = "; ".join(part for part in (result.detail, result.stderr.strip()[-300:]) if part)
    return Check(name, CheckStatus(result.status), "" if result.status is Status.PASSED else detail)


async def syntax_check(code: str, lang: str, sandbox: Sandbox | None) -> Check:
    """Python with `ast`; C and C++ compiled in the sandbox; other languages are not checked (`skipped`)."""
    if lang.lower() in {"python", "py", "python3"}:
        return python_syntax(code)
    job = compile_job(code, lang)
    if job is None:
        return Check("syntax", CheckStatus.SKIPPED, f"no syntax check for {lang}")
    if sandbox is None:
        return Check("syntax", CheckStatus.ERROR, "a sandbox is needed to compile C/C++")
    return result_check("syntax", await sandbox.arun(job))


def verdict(checks: list[Check]) -> VerificationStatus:
    """Failed when a check failed; unverified when one could not run (or there was none); passed otherwise."""
    if any(check.status.is_failure for check in checks):
        return VerificationStatus.FAILED
    if not checks or any(check.status is CheckStatus.ERROR for check in checks):
        return VerificationStatus.UNVERIFIED
    return VerificationStatus.PASSED


async def verify_sample(
    sample: Sample,
    *,
    sandbox: Sandbox | None = None,
    program: str | None = None,
    test_job: Job | None = None,
) -> Sample:
    """The sample with its verification filled in: round trips always; a syntax check of `program` (the complete
    code the sample comes from; default `next`) in the sample's language; `test_job` run in the sandbox if given."""
    checks = roundtrip_checks(sample)
    code = program if program is not None else (sample.next.code if sample.next else sample.current.code)
    lang = (sample.next or sample.current).lang
    checks.append(await syntax_check(code, lang, sandbox))
    if test_job is not None:
        if sandbox is None:
            checks.append(Check("tests", CheckStatus.ERROR, "a sandbox is needed to run tests"))
        else:
            checks.append(result_check("tests", await sandbox.arun(test_job)))
    return replace(sample, verification=Verification(verdict(checks), tuple(checks)))
