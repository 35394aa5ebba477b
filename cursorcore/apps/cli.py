"""The `cursorcore` command: one subcommand per job, each with its own --help."""

import argparse
import sys
from collections.abc import Callable, Sequence

from cursorcore import __version__
from cursorcore.builders import BUILDERS
from cursorcore.eval.cli import add_eval_parser
from cursorcore.processing.llm.cli import add_llm_parser
from cursorcore.processing.sandbox.cli import add_sandbox_parser

Command = Callable[[argparse.Namespace], int]


def _render(args: argparse.Namespace) -> int:
    """Print the training text (or, without `next`, the inference prompt) of every sample in a file."""
    from cursorcore.processing.formats import EditFormatError
    from cursorcore.processing.formats.conversation import inference_prompt, training_text
    from cursorcore.rows import RowsError, iter_rows
    from cursorcore.schema import Sample, SampleError

    failures = 0
    try:
        for number, row in iter_rows(args.file):
            try:
                if isinstance(row, RowsError):
                    raise row
                sample = Sample.from_row(row, row_index=number)
                text = training_text(sample, args.format) if sample.next else inference_prompt(sample, args.format)
            except (RowsError, SampleError, EditFormatError) as error:
                failures += 1
                print(f"error: {error}", file=sys.stderr)
                continue
            print(f"===== sample {number}{f' ({sample.id})' if sample.id else ''} [{args.format}] =====")
            print(text)
    except RowsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if failures:
        print(f"{failures} row(s) could not be rendered", file=sys.stderr)
    return 1 if failures else 0


def _build(args: argparse.Namespace) -> int:
    """Run one dataset builder and print what it kept and dropped."""
    from cursorcore.builders import get_builder

    try:
        builder = get_builder(args.dataset)
    except (ValueError, NotImplementedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from dataclasses import replace

    from cursorcore.builders.executors import BuildSubmitted

    try:
        config = builder.Config.from_yaml(args.config) if args.config else builder.Config()
        if args.executor or args.detach:
            kind = args.executor or config.executor.kind
            config = replace(config, executor=replace(config.executor, kind=kind, detach=args.detach))
        if args.check:
            from cursorcore.builders.check import check

            print(check(args.dataset, config, workers=args.workers).text())
            return 0
        report = builder.build(config, hub=args.hub, workers=args.workers, version=args.version)
    except BuildSubmitted as submitted:
        print(f"{args.dataset}: {submitted}")
        return 0
    except (OSError, RuntimeError, ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    from rich.console import Console

    Console(width=119).print(report.table())
    print(f"{report.repo_id} {report.version} -> {report.folder}")
    return 0


def _push(args: argparse.Namespace) -> int:
    """Push a built dataset version to the Hub (or, with --dry-run, say what would be pushed)."""
    from cursorcore.builders.publish import plan_push, push

    try:
        plan = plan_push(args.dataset, hub=args.hub, version=args.version)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(plan.describe())
    if args.dry_run:
        print("dry run: nothing was sent")
        return 0
    print(f"pushed: {push(plan, private=args.private)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cursorcore",
        description="Build, verify, publish, train on and evaluate Programming-Instruct data.",
    )
    parser.add_argument("--version", action="version", version=f"cursorcore {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    render = commands.add_parser(
        "render",
        help="print the training text of each sample in a file",
        description="Print each sample rendered in the CursorCore conversation format, for a person to inspect. "
        "Samples without `next` are shown as the inference prompt.",
    )
    render.add_argument("file", metavar="FILE", help="samples as JSON lines (.jsonl), a JSON list or parquet")
    render.add_argument("--format", choices=("wf", "lc", "sr"), default="wf", help="edit format (default: wf)")
    render.set_defaults(handler=_render)

    build = commands.add_parser(
        "build",
        help="build one dataset into the local hub",
        description="Run a dataset builder on its embedded default (local sources, no network) or on a YAML config, "
        "writing <hub>/datasets/<org>/<name>/ and printing what each stage kept and dropped.",
    )
    build.add_argument("dataset", metavar="DATASET", help=" | ".join(BUILDERS))
    build.add_argument("--config", metavar="YAML", help="builder config (default: the embedded default)")
    build.add_argument("--hub", metavar="DIR", help="local hub folder (default: $CURSORCORE_HUB or ./hub)")
    build.add_argument(
        "--workers", type=int, help="datatrove tasks at once (default: the config's executor.workers; locally 1)"
    )
    build.add_argument(
        "--executor",
        choices=("local", "slurm", "ray"),
        help="where the tasks run, overriding the config's executor.kind (docs/slurm.md, docs/ray.md)",
    )
    build.add_argument(
        "--detach",
        action="store_true",
        help="Slurm: submit and return; the same command without --detach later waits for the jobs and releases",
    )
    build.add_argument("--version", help="version tag of this build, e.g. v1.0.0 (default: the last one, patch + 1)")
    build.add_argument(
        "--check",
        action="store_true",
        help="construct every component (models, sandboxes, executors) without running anything and print the plan",
    )
    build.set_defaults(handler=_build)

    push_parser = commands.add_parser(
        "push",
        help="push a built dataset version to the Hugging Face Hub",
        description="Create the dataset repo, upload a local-hub version in one commit and tag it. The token comes "
        "from HF_TOKEN or `hf auth login`.",
    )
    push_parser.add_argument("dataset", metavar="DATASET", help="programming-instruct, or a full repo id org/name")
    push_parser.add_argument("--version", help="version tag to push (default: the latest build)")
    push_parser.add_argument("--hub", metavar="DIR", help="local hub folder (default: $CURSORCORE_HUB or ./hub)")
    push_parser.add_argument("--dry-run", action="store_true", help="print the operations, send nothing")
    push_parser.add_argument("--private", action="store_true", help="create the repo as private")
    push_parser.set_defaults(handler=_push)
    add_sandbox_parser(commands)
    add_llm_parser(commands)
    add_eval_parser(commands)
    return parser


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)command `args` chose, whose usage fits an error in its arguments."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and getattr(args, action.dest, None) in action.choices:
            return _command_parser(action.choices[getattr(args, action.dest)], args)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would report these with the top-level usage
        _command_parser(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    handler: Command = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
