"""Sample verification: round trips in every format, syntax in the sample's language, tests in the sandbox."""

import asyncio

from cursorcore.processing.sandbox import Job, Limits, Status
from cursorcore.processing.synthesis.verify import roundtrip_checks, verdict, verify_sample
from cursorcore.schema import Check, CheckStatus, Sample, Snapshot

GOOD = Sample(
    history=[Snapshot("def add(a, b):\n    pass\n")],
    current=Snapshot("def add(a, b):\n    return a\n"),
    next=Snapshot("def add(a, b):\n    return a + b\n"),
    user="Return the sum.",
    chat="It now adds both arguments.",
    loc=(15, 27),
)


def _statuses(sample: Sample) -> dict[str, str]:
    return {check.name: check.status for check in sample.verification.checks}


def test_round_trips_pass_for_every_format():
    assert [(c.name, c.status) for c in roundtrip_checks(GOOD)] == [
        ("roundtrip:wf", "passed"),
        ("roundtrip:lc", "passed"),
        ("roundtrip:sr", "passed"),
    ]


def test_python_sample_with_passing_tests_is_verified(local_sandbox):
    tests = Job.python(GOOD.next.code + "\nassert add(2, 3) == 5\n", limits=Limits(wall_time=10))
    verified = asyncio.run(verify_sample(GOOD, sandbox=local_sandbox, test_job=tests))
    assert verified.verification.status == "passed"
    assert _statuses(verified) == {
        "roundtrip:wf": "passed",
        "roundtrip:lc": "passed",
        "roundtrip:sr": "passed",
        "syntax": "passed",
        "tests": "passed",
    }


def test_failing_tests_and_broken_syntax_fail_with_the_reason(local_sandbox):
    tests = Job.python(GOOD.next.code + "\nassert add(2, 3) == 6, 'wrong sum'\n")
    failed = asyncio.run(verify_sample(GOOD, sandbox=local_sandbox, test_job=tests))
    assert failed.verification.status == "failed"
    assert "wrong sum" in next(c.detail for c in failed.verification.checks if c.name == "tests")
    broken = asyncio.run(verify_sample(GOOD, program="def add(a, b)\n    return a + b\n"))
    assert _statuses(broken)["syntax"] == "failed" and broken.verification.status == "failed"


def test_cpp_is_compiled_in_the_sandbox(local_sandbox):
    code = '#include <cstdio>\nint main() { int n; scanf("%d", &n); printf("%d\\n", 2 * n); }\n'
    sample = Sample(current=Snapshot("int main() {}\n", lang="C++"), next=Snapshot(code, lang="C++"))
    assert _statuses(asyncio.run(verify_sample(sample, sandbox=local_sandbox)))["syntax"] == "passed"
    broken = Sample(current=sample.current, next=Snapshot("int main() { return x; }\n", lang="C++"))
    result = asyncio.run(verify_sample(broken, sandbox=local_sandbox))
    check = next(c for c in result.verification.checks if c.name == "syntax")
    assert check.status == "failed" and "was not declared" in check.detail


def test_infrastructure_errors_leave_a_sample_unverified_not_failed():
    assert verdict([Check("roundtrip:wf", "passed"), Check("tests", "error")]) == "unverified"
    assert verdict([Check("tests", "error"), Check("syntax", "failed")]) == "failed"
    assert verdict([Check("syntax", "passed"), Check("tests", "passed")]) == "passed"


def test_synthesis_results_survive_json():
    import json

    from cursorcore.processing.synthesis.results import Rejection, SynthesisResult

    result = SynthesisResult([GOOD], [Rejection("verification_tests", "wrong sum", GOOD), Rejection("too_short")])
    assert SynthesisResult.from_json(json.loads(json.dumps(result.to_json()))) == result


def test_every_sandbox_status_is_a_check_status_of_the_same_name():
    """A test run's result becomes a check by value (`result_check`): a sandbox status the schema lacks would fail
    every sample it reaches."""
    assert {status.value for status in Status} == {status.value for status in CheckStatus} - {"skipped"}
