"""One builder per published dataset: sources -> datatrove pipeline -> parquet shards + card in the local hub.

A builder module exposes `REPO_ID`, a `Config` dataclass whose defaults are the embedded default (local sources, no
network) with `Config.from_yaml(path)`, and `build(config, hub, workers) -> BuildReport`. `cursorcore build NAME`
finds it here.
"""

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

BUILDERS = {
    "stack-seeds": "cursorcore.builders.stack_seeds",
    "commit-trajectories": "cursorcore.builders.commit_trajectories",
    "oj-trajectories": "cursorcore.builders.oj_trajectories",
    "programming-instruct": "cursorcore.builders.programming_instruct",
}


@dataclass
class BuildReport:
    """What a build wrote and what each stage kept and dropped (datatrove stats, by stage and reason)."""

    repo_id: str
    folder: Path
    rows: dict[str, int]
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    version: str = ""
    rows_per_task: dict[str, list[int]] = field(default_factory=dict)  # what each task of a stage read
    # where every input row went, per kind and stage (builders/accounting.py), for builders that account for it
    accounting: dict[str, dict[str, dict]] = field(default_factory=dict)

    def table(self) -> "Table":
        """What the build wrote and what each stage kept and dropped, and why, in words."""
        from rich.table import Table

        from cursorcore.builders.progress import readable_counters, readable_rows_per_task, readable_stage

        table = Table(title=f"{self.repo_id} {self.version}".strip(), show_lines=False)
        table.add_column("stage / split")
        table.add_column("counts")
        for split, count in self.rows.items():
            table.add_row(f"[bold]{split}[/bold]", f"{count} rows")
        for stage, counters in self.stats.items():
            table.add_row(readable_stage(stage), readable_counters(counters))
        for stage, counts in self.rows_per_task.items():
            table.add_row(f"{stage} / rows read per task", readable_rows_per_task(counts))
        return table


def get_builder(name: str) -> ModuleType:
    if name not in BUILDERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(BUILDERS)}")
    try:
        return importlib.import_module(BUILDERS[name])
    except ModuleNotFoundError as error:
        if error.name == BUILDERS[name]:
            raise NotImplementedError(f"the {name} builder is not implemented yet") from None
        raise
