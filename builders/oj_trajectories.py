"""`cursorcore/oj-trajectories`: online-judge submission sequences (CursorCore's online-submit source).

Each row is one user's attempts at one problem, in time order, up to and including the first Accepted, after the
filters of `cursorcore.processing.sources.oj` (one language, no single submissions, one-line or padded finals,
consecutive duplicates, non-ASCII code or dissimilar earlier drafts; per problem, mutually dissimilar finals and at
most 50 trajectories, 10 per language). Synthesis turns a row into samples: history = earlier submissions,
current = one of them, next = the one after it.

Row schema (config `default`, split `train`):

    id            str   "<dataset>/<problem_id>/<user_id>"
    source        str   "oj"
    dataset       str   where the submissions come from (e.g. codenet, atcoder-yukikamome316, codenet-sample)
    layout        str   "codenet" | "atcoder"
    license       str   licence of the submitted code (SPDX id)
    problem_id    str   the judge's problem id (p02761, abc157_c, ...)
    user_id       str
    language      str   CodeNet language name (C++, Python, ...)
    statement_id  str   CodeNet id of the statement attached ("" when none)
    statement     str   the problem statement as plain text ("" when none)
    submissions   list  of {submission_id: str, code: str, status: str, timestamp: int (Unix seconds)}, oldest
                        first; statuses use CodeNet's names (Accepted, Wrong Answer, ...), the last is Accepted

The embedded default is a CodeNet-layout sample written for this project (`defaults/codenet-sample`, see its
README), in which every filter drops something. `configs/oj-trajectories-atcoder.yaml` reads the shared AtCoder
archive, `configs/oj-trajectories-codenet.yaml` a full Project CodeNet download.
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path

from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep

from cursorcore.builders import BuildReport
from cursorcore.builders.card import CardInfo, SourceInfo
from cursorcore.builders.config_yaml import read_config_yaml
from cursorcore.builders.executors import ExecutorConfig
from cursorcore.builders.figure import Overview
from cursorcore.builders.release import release
from cursorcore.builders.runner import run_to_hub
from cursorcore.processing.sources.oj import (
    DEFAULT_MAX_CODE_BYTES,
    OJ_SCHEMA,
    OJAsciiFilter,
    OJDuplicateFilter,
    OJFirstAcceptedFilter,
    OJHistorySimilarityFilter,
    OJProblemDiversityFilter,
    OJReader,
    OJShapeFilter,
    OJSingleLanguageFilter,
    OJStatementAnnotator,
    OJUsableCodeFilter,
    oj_row,
)

REPO_ID = "cursorcore/oj-trajectories"
CARD = CardInfo(
    pretty_name="Online-judge trajectories",
    summary="One user's submissions to one online-judge problem, in time order up to the first Accepted, filtered as "
    "in CursorCore's online-submit source. Programming-Instruct synthesis turns each into history / current / next "
    "samples.",
    license="other",
    sources=[
        SourceInfo(
            "Project CodeNet",
            "AIZU and AtCoder submissions with verdicts and problem statements",
            "CDLA-Permissive-2.0",
        ),
        SourceInfo("AtCoder archive (yukikamome316)", "one user's real AtCoder submissions", "MIT"),
        SourceInfo(
            "codenet-sample", "a small CodeNet-layout sample written for cursorcore (embedded default)", "Apache-2.0"
        ),
    ],
    overview=Overview("dataset", "submissions"),
)
DEFAULT_SOURCE = Path(__file__).parent / "defaults" / "codenet-sample"
_PATH_FIELDS = ("source", "descriptions", "problem_list")


@dataclass
class Config:
    """What to read and how strictly to filter; the defaults read the embedded sample with CursorCore's numbers."""

    source: str = str(DEFAULT_SOURCE)
    layout: str = "auto"  # codenet | atcoder | auto (metadata.csv -> atcoder, metadata/ -> codenet)
    dataset: str = "codenet-sample"
    license: str = "Apache-2.0"
    # HTML statements: a folder of <problem>.html or a .tar.gz of one; None -> <source>/problem_descriptions if any
    descriptions: str | None = None
    # CodeNet's problem_list.csv, to find statements of AtCoder task ids (abc157_c -> p02761)
    problem_list: str | None = None
    # CursorCore's published filter (data/submit_process.py) is the default: a trajectory with consecutive duplicate
    # submissions is dropped ("dedupe" keeps it, minus the repeats), and one is dropped when no earlier submission
    # reaches ROUGE-L 0.7 against the final ("submission" instead removes each earlier submission below it)
    duplicates: str = "drop"  # drop | dedupe
    history_similarity: str = "trajectory"  # trajectory | submission
    history_threshold: float = 0.7
    final_threshold: float = 0.4
    max_per_problem: int = 50
    max_per_language: int = 10
    max_code_bytes: int = DEFAULT_MAX_CODE_BYTES
    tasks: int = 4  # datatrove tasks (problem shards); the rows do not depend on it
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Config":
        """A config from YAML; relative local paths in it are relative to the YAML file's folder."""
        path = Path(path)
        values = read_config_yaml(cls, path)
        for key in _PATH_FIELDS:
            value = values.get(key)
            if value and "://" not in str(value) and not Path(value).is_absolute():
                values[key] = str((path.parent / value).resolve())
        return cls(**values)


def pipeline(config: Config) -> list[PipelineStep]:
    """The datatrove steps of the build, without the writer (executors and tests run them as they like)."""
    descriptions = config.descriptions
    if descriptions is None and get_datafolder(config.source).isdir("problem_descriptions"):
        descriptions = f"{config.source.rstrip('/')}/problem_descriptions"
    return [
        OJReader(config.source, layout=config.layout, dataset=config.dataset, license=config.license),
        OJSingleLanguageFilter(),
        OJFirstAcceptedFilter(),
        OJUsableCodeFilter(config.source, max_bytes=config.max_code_bytes),
        OJDuplicateFilter(mode=config.duplicates),
        OJShapeFilter(),
        OJAsciiFilter(),
        OJHistorySimilarityFilter(threshold=config.history_threshold, mode=config.history_similarity),
        OJProblemDiversityFilter(
            threshold=config.final_threshold,
            max_per_problem=config.max_per_problem,
            max_per_language=config.max_per_language,
        ),
        OJStatementAnnotator(descriptions, problem_list=config.problem_list),
    ]


def build(
    config: Config, hub: str | Path | None = None, workers: int | None = None, version: str | None = None
) -> BuildReport:
    """Build the dataset into the local hub; rerunning a killed build with the same config resumes it."""
    for key in _PATH_FIELDS:  # a typo in a path is a config error, not an empty dataset
        value = getattr(config, key)
        if value and "://" not in value and not Path(value).exists():
            raise FileNotFoundError(f"{key} not found: {value}")
    report = run_to_hub(
        pipeline(config),
        repo_id=REPO_ID,
        adapter=oj_row,
        config=asdict(config),
        hub=hub,
        workers=workers,
        tasks=config.tasks,
        schema=OJ_SCHEMA,
        executor=config.executor,
    )
    return release(report, CARD, config, hub, version)
