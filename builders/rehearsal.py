"""`make rehearse`: the full-scale Programming-Instruct build, run here against stand-ins for TGI and E2B.

`builders/configs/programming-instruct-full.yaml` runs as it is, except for what cannot exist on a 2-CPU machine
without a GPU, an E2B account or the Hub (`OVERLAY` below):

* the inputs: the embedded default's small input datasets (local seeds, this repository's commits, the bundled
  CodeNet sample) and benchmark copies, a few inputs per kind, two synthesis tasks, and the embedded default's
  answer lengths and few-shot counts (SmolLM2-135M's context and speed), the published probabilities kept;
* the model's address: the TGI stand-in (`processing/llm/tgi_standin.py`) in front of a local llama.cpp server with
  SmolLM2-135M, with a concurrency cap low enough to answer 429 and a cold start answering 503;
* the sandbox's address: the E2B stand-in (`processing/sandbox/e2b_standin.py`) put in place of the SDK's
  `AsyncSandbox`, as a team whose plan allows `PLAN` sandboxes, and the config's `sandbox_options` set to that
  plan; the tasks run in this process (local executor, one worker) so that they all meet the same stand-in.

It passes when every kind reached verification (sandbox runs or verified samples), no request was refused by
validation (`llm_validation`), the 429/503 answers were waited out (`llm_overload_waits` > 0, every task finished),
the stand-in never refused a sandbox (its limits never exceeded) and the build was released. The report goes to
stdout as JSON; the exit status says whether it passed.
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from cursorcore.builders import programming_instruct as pi
from cursorcore.builders.config_yaml import read_config_yaml
from cursorcore.processing.llm import LlamaCppBackend, LLMConfig
from cursorcore.processing.llm.tgi_standin import StandinSettings, TGIStandin
from cursorcore.processing.sandbox import get_sandbox
from cursorcore.processing.sandbox.e2b_standin import StandinTeam, installed

FULL_CONFIG = Path(__file__).parent / "configs" / "programming-instruct-full.yaml"
PLAN = {"max_concurrent": 2, "creations_per_second": 1.0}  # the stand-in team's plan (Hobby's rate, 2 sandboxes)
# what the TGI stand-in's launcher was given: 2 requests at a time, so the samples a task asks for at once
# (Self-OSS-Instruct's responses) meet 429s; 503s for its first requests, as an endpoint waking from zero
TGI = {"max_concurrent_requests": 2, "cold_start_requests": 3}
OVERLAY: dict[str, Any] = {
    "input_configs": {},  # the embedded default's inputs
    # per task; AIEV's dialogues are cheap and SmolLM2 rarely gets one as far as running an answer: the embedded
    # default's 12 in all
    "inputs_per_kind": {"aiprogrammer": 1, "commit": 1, "oj": 1, "self-oss-instruct": 1, "aiev": 6},
    "max_input_chars": 2500,
    "synthesis_tasks": 2,
    "benchmark_source": "bundled",  # the Hub's copies are the same benchmarks, out of reach here
    "executor": {"kind": "local", "workers": 1},
    "sandbox_options": dict(PLAN),
}
# a kind reached verification when one of these counted something: verified samples (Programming-Instruct kinds),
# responses run with their tests (Self-OSS-Instruct), answers executed (AIEV)
SANDBOX_COUNTERS = ("samples", "responses_executed", "executions")


def merged(base: Any, overlay: Any) -> Any:
    """`overlay` over `base`, mappings merged key by key."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        return {**base, **{key: merged(base.get(key), value) for key, value in overlay.items()}}
    return overlay


def rehearsal_config(
    endpoint_url: str, work: Path, server: str | None = None, kinds: list[str] | None = None
) -> pi.Config:
    """The full-scale config with the overlay, the TGI stand-in's address and the embedded answer sizes."""
    values = read_config_yaml(pi.Config, FULL_CONFIG)
    values = merged(values, OVERLAY)
    values["input_configs"] = OVERLAY["input_configs"]  # replaced, not merged
    values["executor"] = pi.ExecutorConfig(**OVERLAY["executor"])
    values["synthesis"] = merged(pi.DEFAULT_SYNTHESIS, values.get("synthesis") or {})
    llm = {"endpoint_url": endpoint_url, "cache_path": str(work / "llm-cache" / "{rank:05d}.sqlite")}
    values["llm"] = merged(values["llm"], llm | ({"server": server} if server else {}))
    values["kinds"] = kinds or values["kinds"]
    return pi.Config(**values)


def verdict(report: Any, team: StandinTeam, tgi: Any, kinds: list[str]) -> dict[str, Any]:
    """What the rehearsal proves, from the build's stats and the stand-ins' counters."""
    synthesis = {
        stage.split("/")[0]: counters
        for stage, counters in report.stats.items()
        if stage.startswith("synthesis-") and any(name.startswith("llm_") for name in counters)
    }
    totals: dict[str, int] = {}
    for counters in synthesis.values():
        for name in ("llm_calls", "llm_validation", "llm_retries", "llm_overload_waits"):
            totals[name] = totals.get(name, 0) + counters.get(name, 0)
    unverified = [
        kind for kind in kinds if not any(synthesis.get(f"synthesis-{kind}", {}).get(c) for c in SANDBOX_COUNTERS)
    ]
    checks = {
        "every kind reached verification": not unverified,
        "no request refused by validation": totals.get("llm_validation", 0) == 0,
        # provoked, counted where the client met them, and no task failed (the build would have raised)
        "429/503 answers waited out": tgi.overloaded > 0 and tgi.cold > 0 and totals.get("llm_overload_waits", 0) > 0,
        "E2B plan never exceeded": not team.refusals and team.peak_alive <= team.max_concurrent,
    }
    return {"passed": all(checks.values()), "checks": checks, "unverified_kinds": unverified, "llm": totals}


def rehearse(hub: Path, server: str | None = None, kinds: list[str] | None = None) -> dict[str, Any]:
    """Run the rehearsal into `hub` (`kinds`: a part of the config's kinds); the report says what passed. A build
    that fails raises."""
    os.environ.setdefault("E2B_API_KEY", "e2b_standin_not_a_key")  # the provider asks for one; the stand-in ignores it
    work = hub / ".rehearsal"
    with (
        LlamaCppBackend(LLMConfig(backend="local")) as llama,
        get_sandbox("local", workers=2) as local,
        installed(StandinTeam(local, **PLAN)) as team,
    ):
        tgi = TGIStandin(StandinSettings(upstream=llama.base_url, **TGI)).serve()
        try:
            config = rehearsal_config(tgi.url, work, server, kinds)
            report = pi.build(config, hub=hub)
        finally:
            tgi.close()
        result = verdict(report, team, tgi.stats, config.kinds)
        result["e2b"] = team.report()
        result["tgi"] = {"served": tgi.stats.served, "overloaded": tgi.stats.overloaded, "cold": tgi.stats.cold}
        result["tgi"]["validation"] = dict(tgi.stats.validation)
        result["released"] = f"{report.repo_id} {report.version} -> {report.folder}"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hub", type=Path, help="local hub of the rehearsal (default: a temporary folder)")
    parser.add_argument("--server", help="force the LLM server kind (e.g. openai: requests go unshaped)")
    parser.add_argument("--kinds", nargs="+", choices=list(pi.KINDS), help="rehearse these kinds only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rehearsal-") as scratch:
        hub = args.hub or Path(scratch)
        try:
            result = rehearse(hub, args.server, args.kinds)
        except (OSError, RuntimeError, ValueError) as error:
            print(f"rehearsal failed: {error}", file=sys.stderr)
            return 1
    print(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
