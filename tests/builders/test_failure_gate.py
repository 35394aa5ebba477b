"""A build whose requests a server refused, or whose sandbox failed, beyond the allowed share stops unreleased."""

import pytest

from cursorcore.builders.failure_gate import TooManyFailures, check_failure_share


def stats(**counters: int) -> dict[str, dict[str, int]]:
    return {"synthesis-self-oss-instruct/Self-OSS-Instruct": counters, "expand/expand": {"llm_validation": 99}}


def test_a_kind_whose_requests_were_refused_stops_the_build_naming_the_cause():
    with pytest.raises(TooManyFailures, match=r"synthesis-self-oss-instruct: 40 llm_validation of 40 requests"):
        check_failure_share(stats(llm_validation=40), 0.01)


def test_sandbox_outages_count_against_the_requests():
    with pytest.raises(TooManyFailures, match="rejected_sandbox_error"):
        check_failure_share(stats(llm_calls=100, rejected_sandbox_error=2), 0.01)


def test_failures_within_the_share_pass():
    check_failure_share(stats(llm_calls=199, llm_cache_hits=1, llm_validation=2), 0.01)
    check_failure_share(stats(llm_calls=10, rejected_no_tests=10), 0.0)  # a wrong answer is not a failure here
