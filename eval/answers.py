"""APEval without running a model here: the prompts a model is given, and solutions read from its raw answers.

`cursorcore eval prompts` prints, per task, exactly what CursorCore's harness sends (chat `messages`, or the `text`
of the base-model prompt); `cursorcore eval extract` turns raw answers (`{"task_id", "answer"}` JSON lines, from a
server run anywhere) into the solutions scoring uses; `cursorcore eval apeval --answers` scores them. So a model's
answers can be inspected, re-read with the other extraction, and compared with CursorCore's numbers.
"""

import argparse
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cursorcore.schema import Sample

# The CLI is built on every `cursorcore` call: the choices are spelled here so building it imports nothing heavy;
# tests hold them to `generate.MODES` and `generate.EXTRACTIONS`.
MODES = ("wf", "lc", "sr", "instruct", "base")
EXTRACTIONS = ("reference", "strict")


def prompt_rows(samples: Sequence["Sample"], mode: str, target_area: bool = False) -> Iterator[dict[str, Any]]:
    """One row per task: `messages` for the chat modes, `text` for `base`."""
    from cursorcore.eval.generate import build_prompt

    for sample in samples:
        prompt = build_prompt(sample, mode, target_area)
        shown = {"text": prompt.text} if mode == "base" else {"messages": prompt.messages}
        yield {"task_id": sample.id} | shown


def read_answers(path: str | Path, known: Sequence[str]) -> list[tuple[str, str]]:
    """(task_id, answer) rows of a JSON-lines file, in order (several per task for pass@k). A line that is not a
    JSON object with string `task_id` and `answer`, or names a task not in the benchmark, is an input error."""
    rows, tasks = [], set(known)
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from None
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("task_id"), str)
            or not isinstance(row.get("answer"), str)
        ):
            raise ValueError(f'{path}:{number}: expected {{"task_id": str, "answer": str}}')
        if row["task_id"] not in tasks:
            raise ValueError(f"{path}:{number}: task {row['task_id']!r} is not in the benchmark")
        rows.append((row["task_id"], row["answer"]))
    return rows


def solutions_from_answers(
    samples: Sequence["Sample"], answers: Sequence[tuple[str, str]], mode: str, extraction: str = "reference"
) -> dict[str, list[tuple[str, str]]]:
    """{task_id: [(solution, answer), ...]} for the tasks in `samples` (answers to other tasks are left out)."""
    from cursorcore.eval.generate import extract_solution

    current = {sample.id: sample.current.code for sample in samples}
    solved: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for task_id, answer in answers:
        if task_id in current:
            solved[task_id].append((extract_solution(current[task_id], answer, mode, extraction), answer))
    return dict(solved)


def answered(args: argparse.Namespace, samples: Sequence["Sample"]) -> tuple[dict[str, list], dict[str, Any]]:
    """For `cursorcore eval apeval --answers`: solutions per task of `samples` (SampleResults keeping the raw
    answer), and what the results file records about them (the file, its md5, mode, target area, extraction)."""
    from cursorcore.eval.apeval import load_apeval
    from cursorcore.eval.results import SampleResult
    from cursorcore.eval.sources import md5_hex

    every_task = [sample.id for sample in load_apeval(args.apeval, args.apeval_revision)]
    answers = read_answers(args.answers, every_task)
    solved = solutions_from_answers(samples, answers, args.mode, args.extraction)
    solutions = {
        task_id: [SampleResult(solution=code, answer=answer) for code, answer in pairs]
        for task_id, pairs in solved.items()
    }
    record = {
        "answers": str(args.answers),
        "answers_md5": md5_hex(Path(args.answers).read_bytes()),
        "prompt_mode": args.mode,
        "target_area": args.target_area,
        "extraction": args.extraction,
    }
    return solutions, record


# ---------------------------------------------------------------------------------------------------- commands
def add_commands(group: argparse._SubParsersAction, handler: Callable[[argparse.Namespace], int]) -> None:
    """`cursorcore eval prompts` and `cursorcore eval extract`; `handler` runs them (input errors: exit 2)."""
    prompts = group.add_parser(
        "prompts",
        help="print the APEval prompts of a mode as JSON lines",
        description='Print {"task_id", "messages"} (or {"task_id", "text"} for --mode base) per APEval task: the '
        "prompt CursorCore's harness builds.",
    )
    _add_task_options(prompts)
    prompts.set_defaults(handler=handler, eval_handler=_prompts)

    extract = group.add_parser(
        "extract",
        help="turn raw model answers into APEval solutions",
        description='Read {"task_id", "answer"} JSON lines and print {"task_id", "solution"} per answer.',
    )
    _add_task_options(extract)
    extract.add_argument("--answers", required=True, metavar="FILE", help='{"task_id", "answer"} JSON lines')
    add_extraction_option(extract)
    extract.set_defaults(handler=handler, eval_handler=_extract)


def add_extraction_option(parser: argparse.ArgumentParser) -> None:
    """`--extraction reference|strict`; results files record which was used."""
    parser.add_argument(
        "--extraction",
        choices=EXTRACTIONS,
        default="reference",
        help="how answers become code: reference = as CursorCore's harness reads them (fences anywhere in the edit, "
        "LC blocks spliced in, SR blocks placed by fuzzy match); strict = the edit must be well formed and apply "
        "exactly (default: reference)",
    )


def _add_task_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=MODES, required=True, help="prompt mode: wf, lc, sr, instruct or base")
    parser.add_argument("--target-area", action="store_true", help="mark the target area in the current code")
    parser.add_argument("--apeval", metavar="PATH", help="apeval.json (default: the Hub dataset TechxGenus/APEval)")
    parser.add_argument("--apeval-revision", metavar="REV", help="revision of the Hub dataset")


def _prompts(args: argparse.Namespace) -> int:
    from cursorcore.eval.apeval import load_apeval

    for row in prompt_rows(load_apeval(args.apeval, args.apeval_revision), args.mode, args.target_area):
        print(json.dumps(row, ensure_ascii=False))
    return 0


def _extract(args: argparse.Namespace) -> int:
    from cursorcore.eval.apeval import load_apeval

    samples = load_apeval(args.apeval, args.apeval_revision)
    answers = read_answers(args.answers, [sample.id for sample in samples])
    solved = solutions_from_answers(samples, answers, args.mode, args.extraction)
    for task_id, pairs in solved.items():
        for solution, _ in pairs:
            print(json.dumps({"task_id": task_id, "solution": solution}, ensure_ascii=False))
    return 0
