"""Stop a build that lost more than a small share of its work to infrastructure or settings, instead of releasing a
thinned dataset (a server that refuses a setting would otherwise leave a kind empty without a word).

Counted from the synthesis stages' datatrove stats: requests the server refused as invalid (`llm_validation`: a
setting it does not accept) and candidates lost because the sandbox could not run them (`rejected_sandbox_error`),
against every model request the stage made (`llm_calls`, `llm_cache_hits`, and the refused ones).
"""

FAILURES = {
    "llm_validation": "requests the server refused as invalid (a setting it does not accept; the server's reason "
    "is in the log, docs/llm.md lists what each server takes)",
    "rejected_sandbox_error": "candidates the sandbox could not run (outages, creation failures)",
}
REQUESTS = ("llm_calls", "llm_cache_hits", "llm_validation", "llm_prompt_too_long")


class TooManyFailures(RuntimeError):
    """The build lost more than its allowed share to infrastructure or settings; nothing was released."""


def check_failure_share(stats: dict[str, dict[str, int]], max_share: float) -> None:
    """Raise `TooManyFailures` naming each synthesis stage and cause whose failures exceed `max_share` of the
    stage's model requests."""
    causes = []
    for stage, counters in stats.items():
        if not stage.startswith("synthesis-"):
            continue
        requests = sum(counters.get(name, 0) for name in REQUESTS)
        for name, meaning in FAILURES.items():
            failed = counters.get(name, 0)
            if failed and failed > max_share * max(requests, 1):
                causes.append(f"{stage.split('/')[0]}: {failed} {name} of {requests} requests — {meaning}")
    if causes:
        raise TooManyFailures(
            f"more than {max_share:.0%} lost to infrastructure or settings (max_failure_share), nothing released: "
            + "; ".join(causes)
        )
