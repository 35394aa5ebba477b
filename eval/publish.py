"""Benchmark results into a model card, where users look for them.

Each results file becomes `EvalResult`s in the card's `model-index` metadata (what the Hub shows as evaluation
results). New results are merged the way `huggingface_hub.metadata_update` merges them: a result describing the
same metric (same dataset, category, metric and prompt mode) gets the new value, anything else is appended, and no
other metadata or prose is touched. The card body gets one section, between two HTML comments, holding a table and
a bar chart of every result this harness published; it is rewritten on each publish and the rest of the body kept.

Publishing never misleads: a run that did not cover every task of its benchmark is refused, or published only when
asked and then labelled "N of M tasks" wherever its numbers appear; a card the Hub cannot be asked about stops
publishing rather than being replaced by a blank one.
"""

import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.constants import REPOCARD_NAME
from huggingface_hub.errors import GatedRepoError, HFValidationError, RemoteEntryNotFoundError, RepositoryNotFoundError
from huggingface_hub.utils import validate_repo_id

SECTION_START = "<!-- cursorcore-eval:start -->"
SECTION_END = "<!-- cursorcore-eval:end -->"
TASK_TYPE = "text-generation"
# Hub datasets of the benchmarks, so the Hub links each result to its dataset.
DATASET_TYPES = {
    "APEval": "TechxGenus/APEval",
    "HumanEval+": "evalplus/humanevalplus",
    "MBPP+": "evalplus/mbppplus",
    "CanItEdit (descriptive)": "nuprl/CanItEdit",
    "CanItEdit (lazy)": "nuprl/CanItEdit",
    "EditEval": "EditEval",
}
OVERALL = ("Avg", "all")
# the metric names this harness writes: "pass@1 (base)", and for a partial run "pass@1 (plus, 5 of 164 tasks)"
METRIC_NAME = re.compile(r"pass@\d+ \((?P<tests>base|plus)(?:, (?P<coverage>\d+ of \d+ tasks))?\)")
BAR_WIDTH = 40


class PublishError(RuntimeError):
    """The Hub could not be read or written: nothing was published."""


def coverage_label(run: Mapping[str, Any], allow_partial: bool = False) -> str | None:
    """None for a run of every task of its benchmark; "N of M tasks" for a partial run (--limit, tasks without a
    solution), which is refused unless `allow_partial`: its scores are not the benchmark's."""
    name = run["benchmark"]["name"]
    counts = run.get("task_count")
    if not counts:
        raise ValueError(
            f"the {name} results file does not say how many of the benchmark's tasks it covers (it was written "
            "before cursorcore recorded that): evaluate again to publish it"
        )
    if counts["answered"] >= counts["benchmark"]:
        return None
    label = f"{counts['answered']} of {counts['benchmark']} tasks"
    if not allow_partial:
        raise ValueError(
            f"the {name} results cover {label}, not the whole benchmark: evaluate every task, or publish them "
            f"labelled '{label}' with --allow-partial"
        )
    return label


def eval_results(run: Mapping[str, Any], label: str | None = None) -> list[EvalResult]:
    """The `EvalResult`s of one results file: every column (category or "all") × test set × pass@k. A partial run's
    `label` ("5 of 164 tasks") goes into every metric name, so the model-index cannot show it as a full score."""
    name = run["benchmark"]["name"]
    mode = (run.get("generation") or {}).get("prompt_mode")
    results = []
    for column, cell in run["scores"].items():
        for tests, metrics in cell.items():
            for metric, value in metrics.items():
                results.append(
                    EvalResult(
                        task_type=TASK_TYPE,
                        dataset_type=DATASET_TYPES.get(name, name),
                        dataset_name=name,
                        dataset_config=None if column in OVERALL else column,
                        metric_type=metric,
                        metric_value=round(value, 1),
                        metric_name=f"{metric} ({tests}{f', {label}' if label else ''})",
                        metric_config=mode,
                    )
                )
    return results


def merge_results(existing: list[EvalResult] | None, new: Iterable[EvalResult]) -> list[EvalResult]:
    merged = list(existing or [])
    for result in new:
        same = next((old for old in merged if result.is_equal_except_value(old)), None)
        if same is None:
            merged.append(result)
        else:
            same.metric_value = result.metric_value
    return merged


def _parse_name(result: EvalResult) -> tuple[str, str | None] | None:
    """(test set, coverage label or None) of a metric name this harness wrote, e.g. "pass@1 (plus, 5 of 164 tasks)";
    None for anyone else's."""
    found = METRIC_NAME.fullmatch(result.metric_name or "")
    return (found["tests"], found["coverage"]) if found else None


def ours(result: EvalResult) -> bool:
    """Whether this harness wrote the result (its metric names say which test set: "pass@1 (base)")."""
    return _parse_name(result) is not None


Cells = dict[str | None, dict[str, float]]  # column (a category, None for the whole benchmark) -> test set -> value


def results_table(results: Sequence[EvalResult]) -> str:
    """pass@1 as "base (plus)" cells, one row per benchmark, prompt mode and coverage. A benchmark with categories
    (APEval) gets a table of its own, its categories then their average; the others share one table with one column
    for the whole benchmark, so a HumanEval+ score never stands in APEval's average column."""
    rows: dict[tuple[str, str, str | None], Cells] = defaultdict(lambda: defaultdict(dict))
    for result in results:
        parsed = _parse_name(result)
        if result.metric_type == "pass@1" and parsed:
            tests, label = parsed
            rows[(result.dataset_name, result.metric_config or "", label)][result.dataset_config][tests] = float(
                result.metric_value
            )
    categorised = {row[0] for row, cells in rows.items() if any(column is not None for column in cells)}
    tables: dict[str | None, dict] = defaultdict(dict)
    for row, cells in rows.items():
        tables[row[0] if row[0] in categorised else None][row] = cells
    return "\n\n".join(_table(members) for members in tables.values())


def _table(rows: Mapping[tuple[str, str, str | None], Cells]) -> str:
    categories = list(dict.fromkeys(column for cells in rows.values() for column in cells if column is not None))
    header = [*categories, "Avg" if categories else "All tasks"]
    lines = ["| Benchmark | Prompt | " + " | ".join(header) + " |", "| --- | --- |" + " ---: |" * len(header)]
    for (dataset, mode, label), cells in rows.items():
        shown = [_cell(cells.get(column, {})) for column in [*categories, None]]
        name = f"{dataset} ({label})" if label else dataset
        lines.append(f"| {name} | {mode or '-'} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def _cell(tests: Mapping[str, float]) -> str:
    if "base" not in tests:
        return "-"
    return f"{tests['base']:.1f} ({tests['plus']:.1f})" if "plus" in tests else f"{tests['base']:.1f}"


def results_chart(results: Sequence[EvalResult]) -> str:
    """Overall pass@1 per benchmark as text bars (0-100), which render the same on the Hub and in a terminal."""
    bars = []
    for result in results:
        if result.metric_type == "pass@1" and result.dataset_config is None:
            label = f"{result.dataset_name} {result.metric_name.removeprefix('pass@1 ')}"
            if result.metric_config:
                label += f" [{result.metric_config}]"
            bars.append((label, float(result.metric_value)))
    width = max((len(label) for label, _ in bars), default=0)
    lines = [f"{label:<{width}} {_bar(value)} {value:5.1f}" for label, value in bars]
    return "```text\n" + "\n".join(lines) + "\n```"


def _bar(percent: float) -> str:
    return ("█" * round(percent / 100 * BAR_WIDTH)).ljust(BAR_WIDTH, "·")


def results_section(results: Sequence[EvalResult]) -> str:
    ours_only = [result for result in results if ours(result)]
    partial = any(_parse_name(result)[1] for result in ours_only)
    note = (
        ' A benchmark marked "N of M tasks" was run on only N of its M tasks: a partial run, not comparable with '
        "full scores."
        if partial
        else ""
    )
    return (
        f"{SECTION_START}\n## Evaluation\n\n"
        'pass@1 in percent; "base (plus)" cells give the HumanEval / EvalPlus base tests and the extra plus tests. '
        f"Scored in a sandbox by `cursorcore eval`.{note}\n\n"
        f"{results_table(ours_only)}\n\n{results_chart(ours_only)}\n{SECTION_END}"
    )


def with_section(body: str, section: str) -> str:
    """The body with our section replaced, or appended when it is not there yet."""
    start, end = body.find(SECTION_START), body.find(SECTION_END)
    if start != -1 and end > start:
        return body[:start] + section + body[end + len(SECTION_END) :]
    return body.rstrip("\n") + "\n\n" + section + "\n"


def card_with_results(
    card: ModelCard, runs: Iterable[Mapping[str, Any]], model_name: str, allow_partial: bool = False
) -> ModelCard:
    """The card with the runs' results merged into its metadata and its results section rewritten; `model_name` is
    the model-index's `name`."""
    new = [result for run in runs for result in eval_results(run, coverage_label(run, allow_partial))]
    card.data.eval_results = merge_results(card.data.eval_results, new)
    card.data.model_name = model_name
    card.text = with_section(card.text, results_section(card.data.eval_results))
    return card


def resolve_target(target: str) -> Path | str:
    """A local README.md (which must exist) or a Hub model id. Something that looks like a path is never taken for
    a Hub id: a mistyped path would otherwise publish to (or read the card of) some Hub repo."""
    path = Path(target).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise ValueError(f"{target} is a folder: give its README.md, or a Hub model id")
    if (
        target.lower().endswith(".md")
        or target.startswith((".", "/", "~"))
        or "\\" in target  # a Windows separator; "/" alone is a Hub id's too
        or target.count("/") > 1
    ):
        raise FileNotFoundError(f"{target}: no such file (a local model card must be an existing README.md)")
    try:
        validate_repo_id(target)
    except HFValidationError as error:
        raise ValueError(f"{target!r} is neither an existing README.md nor a Hub model id: {error}") from error
    return target


def load_card(target: Path | str, token: str | None = None) -> ModelCard:
    """The card of a local README.md or of a Hub model repo. Only the Hub's word that the repo has no card (or that
    there is no such repo) starts from the blank template; when it cannot say (network down, server error, gated
    repo), `PublishError`: a card that exists but could not be read would be replaced by the template."""
    if isinstance(target, Path):
        return ModelCard.load(target)
    try:
        # one request without retries first (hf_hub_download retries a failed one for ~20 s), then a fresh download:
        # never a cached older card, which hf_hub_download falls back to when the Hub is unreachable
        get_hf_file_metadata(hf_hub_url(target, REPOCARD_NAME), token=token)
        with tempfile.TemporaryDirectory() as cache:
            return ModelCard.load(hf_hub_download(target, REPOCARD_NAME, token=token, cache_dir=cache))
    except Exception as error:  # only a 404 for the card or the repo confirms there is no card
        no_card = isinstance(error, (RemoteEntryNotFoundError, RepositoryNotFoundError))
        if no_card and not isinstance(error, GatedRepoError):  # a gated repo exists, its card unseen
            return ModelCard.from_template(ModelCardData())
        raise PublishError(f"cannot read the card of {target} ({_reason(error)}); nothing was published") from error


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0]


def model_name_for(target: Path | str, card: ModelCard, runs: Sequence[Mapping[str, Any]]) -> str:
    """The model-index `name` when none is given: the card's own, else the Hub repo's name, else the model the runs
    evaluated. A local card gives no name by itself (its folder's name says nothing about the model)."""
    if card.data.model_name:
        return card.data.model_name
    if isinstance(target, str):
        return target.split("/")[-1]
    evaluated = {
        run["model"]["name"].rstrip("/").split("/")[-1] for run in runs if (run.get("model") or {}).get("name")
    }
    if len(evaluated) != 1:
        named = f"name {len(evaluated)} models" if evaluated else "name none"
        raise ValueError(f"{target}: the card names no model and the results {named}: give --model-name")
    return evaluated.pop()


def publish(
    target: str,
    runs: Sequence[Mapping[str, Any]],
    *,
    token: str | None = None,
    dry_run: bool = False,
    create_pr: bool = False,
    allow_partial: bool = False,
    model_name: str | None = None,
) -> str:
    """Merge `runs` (results files) into the card of `target` (a Hub model id, or a local README.md written in place)
    and return the new card text; with `dry_run` nothing is written or pushed. Partial runs are refused unless
    `allow_partial` (then labelled); `model_name` is the model-index's `name` (default: see `model_name_for`)."""
    resolved = resolve_target(target)
    for run in runs:  # refuse before any request to the Hub
        coverage_label(run, allow_partial)
    card = load_card(resolved, token)
    name = model_name or model_name_for(resolved, card, runs)
    card = card_with_results(card, runs, name, allow_partial)
    text = str(card)
    if dry_run:
        return text
    if isinstance(resolved, Path):
        resolved.write_text(text, encoding="utf-8")
        return text
    names = ", ".join(sorted({run["benchmark"]["name"] for run in runs}))
    try:
        card.push_to_hub(resolved, token=token, commit_message=f"Evaluation results: {names}", create_pr=create_pr)
    except Exception as error:
        raise PublishError(f"pushing the card to {resolved} failed ({_reason(error)})") from error
    return text
