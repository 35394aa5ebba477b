"""Seed functions for Self-OSS-Instruct (the SelfCodeAlign recipe) as datatrove steps.

Files -> top-level functions with a triple-quoted docstring (with the import lines they use, so each seed is a
self-contained snippet) -> rule filters -> type check -> decontamination. Deduplication (exact, then MinHash) is
wired by the builder, since MinHash needs its own stages.
"""

import ast
import hashlib
import json
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.readers.base import BaseDiskReader

from cursorcore.processing.decontamination import Decontaminator, load_benchmarks
from cursorcore.processing.sources.listing import literal_glob

BAD_WORDS = ("todo", "fixme", "bug")
BANNED_IMPORTS = ("argparse", "os", "subprocess", "sys", "setuptools", "distutils", "matplotlib", "seaborn")


def stdlib_folder() -> Path:
    """The running interpreter's standard library: real code present on every machine (the embedded default)."""
    return Path(sysconfig.get_paths()["stdlib"])


class LocalPythonReader(BaseDiskReader):
    """One document per `.py` file under a folder, or of one file. datatrove lists the files, deals them to tasks
    and brings `limit`, `skip`, `default_metadata` and the progress bars; files under a folder whose name starts
    with an excluded word (tests, and third-party packages installed inside the standard library's folder) are
    listed but not read."""

    name = "local .py files"

    def __init__(
        self,
        path: str | Path,
        max_bytes: int = 1_000_000,
        exclude: Iterable[str] = ("test", "site-packages", "dist-packages", "idlelib", "lib2to3"),
        **reader_options,
    ):
        path = Path(path)
        one_file = path.is_file()
        folder = path.parent if one_file else path
        pattern = literal_glob(path.name) if one_file else "**/*.py"
        super().__init__(str(folder), glob_pattern=pattern, **reader_options)
        self.repo = folder.name
        self.max_bytes = max_bytes
        self.exclude = tuple(exclude)

    def read_file(self, filepath: str) -> DocumentsPipeline:
        if any(folder.startswith(self.exclude) for folder in filepath.split("/")[:-1]):
            self.stat_update("dropped_excluded_folder")
            return
        with self.track_time():
            with self.data_folder.open(filepath, "rb") as file:
                raw = file.read(self.max_bytes + 1)
            if len(raw) > self.max_bytes:
                self.stat_update("dropped_too_large")
                return
            if b"\0" in raw:
                self.stat_update("dropped_binary")
                return
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.stat_update("dropped_non_utf8")
                return
            if not text:  # datatrove's readers skip documents without text; this says why
                self.stat_update("dropped_empty")
                return
            self.stat_update("files")
            data = {"text": text, "id": f"{self.repo}/{filepath}", "repo": self.repo, "path": filepath}
        yield self.get_document_from_dict(data, filepath, 0)


def stack_adapter(self, data: dict, path: str, id_in_file: int | str) -> dict:
    """The Stack's columns -> document fields (used with datatrove's HuggingFaceDatasetReader)."""
    licenses = data.get("max_stars_repo_licenses") or []
    return {
        "text": data["content"],
        "id": data.get("hexsha") or f"{path}/{id_in_file}",
        "metadata": {
            "repo": data.get("max_stars_repo_name") or "",
            "path": data.get("max_stars_repo_path") or "",
            "license": ",".join(licenses) if isinstance(licenses, list) else str(licenses),
        },
    }


@dataclass(frozen=True)
class Seed:
    name: str
    code: str
    imports: tuple[str, ...]
    docstring: str
    lines: int
    has_arguments: bool
    returns_value: bool
    used_modules: frozenset[str] = field(default_factory=frozenset)


def _module_imports(tree: ast.Module, lines: list[str]) -> dict[str, tuple[str, str]]:
    """Bound name -> (top-level module, import statement) for the file's top-level imports."""
    bound = {}
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            line = "\n".join(lines[node.lineno - 1 : node.end_lineno])
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for alias in node.names:
                root = (module or alias.name).split(".")[0] if not getattr(node, "level", 0) else "."
                bound[(alias.asname or alias.name).split(".")[0]] = (root, line)
    return bound


def _has_triple_quoted_docstring(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> bool:
    first = node.body[0]
    if not (
        isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    ):
        return False
    opening = lines[first.lineno - 1][first.col_offset :].lstrip("rRuUbB")
    return opening.startswith('"""')


def extract_seeds(source: str) -> list[Seed]:
    """Top-level functions whose body opens with a \"\"\" docstring, with the module imports they use."""
    tree = ast.parse(source)
    lines = source.split("\n")
    imports = _module_imports(tree, lines)
    seeds = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.body:
            continue
        if not _has_triple_quoted_docstring(node, lines):
            continue
        code = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        used = sorted({imports[n] for n in names if n in imports}, key=lambda pair: pair[1])
        inner_modules = {
            (alias.name if isinstance(inner, ast.Import) else inner.module or "").split(".")[0]
            for inner in ast.walk(node)
            if isinstance(inner, ast.Import | ast.ImportFrom)
            for alias in inner.names
        }
        args = node.args
        seeds.append(
            Seed(
                name=node.name,
                code=code,
                imports=tuple(dict.fromkeys(line for _, line in used)),
                docstring=ast.get_docstring(node) or "",
                lines=code.count("\n") + 1,
                has_arguments=bool(args.posonlyargs or args.args or args.vararg or args.kwonlyargs or args.kwarg),
                returns_value=any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(node)),
                used_modules=frozenset({root for root, _ in used} | inner_modules),
            )
        )
    return seeds


class FunctionExtractor(PipelineStep):
    """File documents -> one document per seed function (text = imports + function), provenance kept."""

    name = "docstring functions"
    type = "✂️ - EXTRACTOR"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                try:
                    seeds = extract_seeds(doc.text)
                except (SyntaxError, ValueError, RecursionError):
                    self.stat_update("dropped_file_syntax_error")
                    continue
            if not seeds:
                self.stat_update("files_without_seeds")
            for seed in seeds:
                self.stat_update("functions")
                text = "\n".join(seed.imports) + ("\n\n\n" if seed.imports else "") + seed.code
                yield Document(
                    text=text,
                    id=hashlib.sha1(text.encode()).hexdigest(),
                    metadata={
                        **doc.metadata,
                        "entry_point": seed.name,
                        "docstring": seed.docstring,
                        "imports": list(seed.imports),
                        "lines": seed.lines,
                        "has_arguments": seed.has_arguments,
                        "returns_value": seed.returns_value,
                        "used_modules": sorted(seed.used_modules),
                    },
                )


class SeedRulesFilter(BaseFilter):
    """SelfCodeAlign's static rules, each dropping with its own counted reason."""

    name = "seed rules"

    def __init__(
        self,
        max_lines: int = 150,
        bad_words: Iterable[str] = BAD_WORDS,
        banned_imports: Iterable[str] = BANNED_IMPORTS,
    ):
        super().__init__()
        self.max_lines = max_lines
        self.bad_words = tuple(w.lower() for w in bad_words)
        self.banned_imports = frozenset(banned_imports)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        meta = doc.metadata
        if not meta["has_arguments"]:
            return False, "no_arguments"
        if not meta["returns_value"]:
            return False, "no_return_value"
        if meta["lines"] > self.max_lines:
            return False, "too_long"
        lowered = doc.text.lower()
        if any(word in lowered for word in self.bad_words):
            return False, "bad_word"
        if self.banned_imports & set(meta["used_modules"]):
            return False, "banned_import"
        return True


class DecontaminationFilter(BaseFilter):
    """Drops seeds that contain benchmark docstrings or solutions, by benchmark and kind of match."""

    name = "decontamination"

    def __init__(
        self,
        benchmarks: Iterable[str],
        paths: dict[str, str] | None = None,
        ngram_size: int = 10,
        source: str = "bundled",
    ):
        super().__init__()
        self.benchmarks = list(benchmarks)
        self.paths = dict(paths or {})
        self.ngram_size = ngram_size
        self.source = source
        _ = self.decontaminator  # load the benchmarks now: a missing file fails the build before any work

    @cached_property
    def decontaminator(self) -> Decontaminator:
        return Decontaminator(load_benchmarks(self.benchmarks, self.paths, self.source), self.ngram_size)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        reason = self.decontaminator.contamination(doc.text)
        return True if reason is None else (False, reason)


class PyrightFilter(BaseFilter):
    """Type-checks seeds in batches with basedpyright (pyright's default "standard" rules, offline) and drops every
    seed with an error, as SelfCodeAlign does."""

    name = "pyright"

    def __init__(self, batch_size: int = 250, timeout: float = 600):
        super().__init__(batch_size=batch_size)
        self.timeout = timeout

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        with tempfile.TemporaryDirectory(prefix="cursorcore-pyright-") as folder:
            root = Path(folder)
            (root / "pyrightconfig.json").write_text(json.dumps({"typeCheckingMode": "standard"}))
            names = [f"seed_{i:05d}.py" for i in range(len(batch))]
            for name, doc in zip(names, batch, strict=True):
                (root / name).write_text(doc.text, encoding="utf-8")
            errors = self._errors_by_file(root)
        if errors is None:
            return [(False, "typecheck_failed_to_run")] * len(batch)
        return [(False, "type_error") if errors.get(name) else True for name in names]

    def _errors_by_file(self, root: Path) -> dict[str, int] | None:
        command = [str(Path(sys.executable).parent / "basedpyright"), "--outputjson", "--level", "error", "."]
        try:
            result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=self.timeout)
            report = json.loads(result.stdout)
        except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
            return None
        errors: dict[str, int] = {}
        for diagnostic in report.get("generalDiagnostics", []):
            if diagnostic.get("severity") == "error":
                name = Path(diagnostic["file"]).name
                errors[name] = errors.get(name, 0) + 1
        return errors
