"""`cursorcore/commit-trajectories`: per-file version sequences from Git history (CursorCore's Git-commit source).

Each row is one file's successive versions along first-parent history (a merge is one step, with its message),
renames followed, each version with the commit that produced it. Local repositories are read with the `git` CLI;
the Hub commit datasets (`bigcode/commitpackft`, `nuprl/EditPackFT-Multi`) give one old -> new step per row.
Filters (`cursorcore.processing.sources.commits`): language by extension, vendored paths, size, binary, non-UTF-8,
generated headers, whitespace-only steps (removed), huge steps (the trajectory is cut there), then the most recent
`max_versions` versions are kept. Synthesis turns a row into samples: history = earlier versions, current = one
version, next = the following one, user instruction from its commit message.

Row schema (config `default`, split `train`):

    id          str   "<repo>:<path>@<first commit, 12 hex>" (Hub rows: the row's commit)
    source      str   "commit"
    repo        str   the repository: its `origin` remote as host/owner/name, else its folder name (Hub: `repos`)
    path        str   the file's path in its latest version
    language    str   from the extension (python, c, cpp, java, javascript, typescript, go, rust, ...)
    versions    list  of {commit: str, date: str (author date, ISO 8601), message: str, code: str}, oldest first,
                      at least 2; Hub rows have no dates and their first version has no commit (null)
    license     str   SPDX id when known (the repository's manifest or LICENSE file; the Hub row's `license`)
    provenance  {kind: "git" | "hub", origin: remote or dataset id, revision: commit read (Hub: dataset revision),
                 renamed_from: earlier paths of the file, oldest first}

The embedded default reads this project's own Git repository (the one around the current directory, else around
the installed package). `configs/commit-trajectories-full.yaml` reads the Hub datasets at full scale on Slurm
(docs/slurm.md). Every build is released as a new version whose card carries each filter's drop counts.
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from datatrove.pipeline.base import PipelineStep

from cursorcore.builders import BuildReport
from cursorcore.builders.card import CardInfo, SourceInfo
from cursorcore.builders.config_yaml import read_config_yaml
from cursorcore.builders.executors import ExecutorConfig
from cursorcore.builders.figure import Overview
from cursorcore.builders.release import release
from cursorcore.builders.runner import run_to_hub
from cursorcore.processing.sources.commits import (
    COMMIT_SCHEMA,
    DEFAULT_GENERATED_MARKERS,
    DEFAULT_LANGUAGES,
    DEFAULT_VENDORED_DIRS,
    DEFAULT_VENDORED_FILES,
    BinaryFilter,
    GeneratedFilter,
    GitBlobLoader,
    GitHistoryReader,
    HubCommitReader,
    HugeDiffFilter,
    LanguageFilter,
    MinVersionsFilter,
    RecentWindow,
    SizeFilter,
    Utf8Filter,
    VendoredFilter,
    WhitespaceOnlyFilter,
    commit_row,
)
from cursorcore.processing.sources.git_history import GitSource, toplevel

REPO_ID = "cursorcore/commit-trajectories"
CARD = CardInfo(
    pretty_name="Commit trajectories",
    summary="The successive versions of source files along Git history, each with the commit message that produced "
    "it, filtered as in CursorCore's Git-commit source. Programming-Instruct synthesis turns each into history / "
    "current / next samples, the commit message giving the instruction.",
    license="other",
    sources=[
        SourceInfo(
            "Local Git repositories",
            "first-parent history of the configured repositories (embedded default: this project's own)",
            "per repository (`license` column)",
        ),
        SourceInfo("bigcode/commitpackft", "GitHub commits: old/new file contents and message", "per row (`license`)"),
        SourceInfo("nuprl/EditPackFT-Multi", "CommitPackFT-format commits, several languages", "per row (`license`)"),
    ],
    overview=Overview("repo", "versions"),
)


@dataclass
class HubSource:
    """A Hub commit dataset, streamed with `datasets.load_dataset(dataset, **options, streaming=True)`."""

    dataset: str
    options: dict = field(default_factory=dict)
    name: str | None = None  # recorded as provenance.origin (default: `dataset`)
    limit: int = -1  # rows per task, for trial runs


@dataclass
class Config:
    """What to read and how strictly to filter; the defaults are the embedded default (this project's history)."""

    repos: list[str] | None = None  # local repositories; None: this project's own, []: none
    revision: str = "HEAD"  # the commit whose first-parent history is read, in every repository
    hub_datasets: list[HubSource] = field(default_factory=list)
    tasks: int = 4  # datatrove tasks (trajectories are sharded by repository + path); rows do not depend on it
    languages: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LANGUAGES))
    vendored_dirs: tuple[str, ...] = DEFAULT_VENDORED_DIRS
    vendored_files: tuple[str, ...] = DEFAULT_VENDORED_FILES
    generated_markers: tuple[str, ...] = DEFAULT_GENERATED_MARKERS
    max_bytes: int = 100_000  # per version
    max_changed_lines: int = 300  # per step (added + removed)
    min_versions: int = 2
    max_versions: int = 16  # the most recent ones are kept
    max_history: int = 64  # versions per file read from git before filtering (bounds very long histories)
    find_renames: int = 50  # similarity (%) for git's rename detection
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def __post_init__(self) -> None:
        if self.min_versions < 2:
            raise ValueError("min_versions must be at least 2: a trajectory needs one edit")
        if not self.min_versions <= self.max_versions <= self.max_history:
            raise ValueError("need min_versions <= max_versions <= max_history")

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Config":
        """A config from YAML; relative repository paths in it are relative to the YAML file's folder."""
        path = Path(path)
        values = read_config_yaml(cls, path)
        if values.get("repos") is not None:
            values["repos"] = [str((path.parent / repo).resolve()) for repo in values["repos"]]
        values["hub_datasets"] = [HubSource(**source) for source in values.get("hub_datasets") or []]
        for key in ("vendored_dirs", "vendored_files", "generated_markers"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


def project_repository() -> Path:
    """This project's own Git repository: the one around the current directory, else around the package."""
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        if root := toplevel(start):
            return root
    raise FileNotFoundError(
        f"the embedded default reads this project's Git repository, but neither the current directory ({Path.cwd()})"
        f" nor the package ({Path(__file__).resolve().parent}) is inside one; list `repos:` in a config instead"
    )


def git_sources(config: Config) -> list[GitSource]:
    """The repositories to read, each pinned to the commit `config.revision` names now."""
    paths = [project_repository()] if config.repos is None else config.repos
    sources = [GitSource.open(path, config.revision) for path in paths]
    names = [source.name for source in sources]
    if duplicated := sorted({name for name in names if names.count(name) > 1}):
        raise ValueError(f"several repositories are named {', '.join(duplicated)}; ids would collide")
    return sources


def pipeline(config: Config, sources: list[GitSource] | None = None) -> list[PipelineStep]:
    """The datatrove steps of the build, without the writer (executors and tests run them as they like)."""
    sources = git_sources(config) if sources is None else sources
    readers: list[PipelineStep] = [
        HubCommitReader(hub.dataset, hub.options, source_name=hub.name, limit=hub.limit) for hub in config.hub_datasets
    ]
    if sources:
        readers.append(GitHistoryReader(sources, find_renames=config.find_renames, max_history=config.max_history))
    return [*readers, *filters(config)]


def filters(config: Config) -> list[PipelineStep]:
    """What every trajectory goes through, in order, whichever reader produced it."""
    keep = config.min_versions
    return [
        MinVersionsFilter(keep),
        LanguageFilter(config.languages),
        VendoredFilter(config.vendored_dirs, config.vendored_files),
        SizeFilter(config.max_bytes, keep),
        GitBlobLoader(keep),
        BinaryFilter(keep),
        Utf8Filter(keep),
        GeneratedFilter(config.generated_markers),
        WhitespaceOnlyFilter(keep),
        HugeDiffFilter(config.max_changed_lines, keep),
        RecentWindow(config.max_versions, keep),
    ]


def build(
    config: Config, hub: str | Path | None = None, workers: int | None = None, version: str | None = None
) -> BuildReport:
    """Build the dataset and release it as a new version in the local hub, on the executor the config names;
    rerunning a killed build with the same config (and the same commits) resumes it."""
    sources = git_sources(config)
    report = run_to_hub(
        pipeline(config, sources),
        repo_id=REPO_ID,
        adapter=commit_row,
        config=_identity(config, sources),
        hub=hub,
        workers=workers,
        tasks=config.tasks,
        schema=COMMIT_SCHEMA,
        executor=config.executor,
    )
    read = {source.name: source.revision or "" for source in sources}
    read |= {hub.name or hub.dataset: hub.options.get("revision", "") for hub in config.hub_datasets}
    return release(report, CARD, config, hub, version, sources=read)


def _identity(config: Config, sources: list[GitSource]) -> dict[str, Any]:
    """What the output depends on, hashed to key the build's logs: the config (not where it runs) and the commits
    read, so new commits make a new build instead of resuming an old one."""
    settings = asdict(config)
    settings.pop("executor")
    return {"config": settings, "sources": [asdict(source) for source in sources]}
