"""SelfCodeAlign's sanitize step for Self-OSS-Instruct samples, as datatrove steps.

StarCoder2-Instruct / SelfCodeAlign release only what its `sanitize.sh` keeps of the passing responses:
`sanitize_data.py` drops responses with incomplete-code phrases, instructions over 200 words, exact duplicates (an
instruction or a response equal to an earlier one once white space is removed) and responses that define the same
set of function (or class) names as an earlier one; `minhash_dedup.py` then removes near duplicates three times in a
row: by instruction, by response, by the code's functions and classes without docstrings (5-word shingles, 250
permutations, Jaccard 0.7; a text of fewer than 5 words is dropped, an empty code representation kept).

Here `SanitizeFilter` holds the per-sample rules and `SanitizeDedup` the dedup, both acting on Self-OSS-Instruct
samples only (other sources pass through untouched). The dedup compares the samples of one datatrove task, as the
reference compares one file: the assembly runs it in a single task by default. The response of a sample is its
solution followed by its chat (explanation and tests): SelfCodeAlign's response carries its explanation too.
"""

import ast
import functools
import hashlib
import re
from collections.abc import Callable

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

from cursorcore.schema import Sample, Source

INCOMPLETE_PHRASES = (
    "todo",
    "fixme",
    "write your code here",
    "your code here",
    "your code goes here",
    "notimplemented",
)
MAX_INSTRUCTION_WORDS = 200


def response_text(sample: Sample) -> str:
    """The model's response as SelfCodeAlign stores it: the solution, then the explanation and tests."""
    return f"{sample.next.code if sample.next else ''}\n\n{sample.chat}".strip()


def code_representation(code: str) -> str:
    """The module's top-level functions and classes with their docstrings removed, unparsed: what is left of a
    solution once comments, docstrings and scripts are gone (raises SyntaxError)."""
    tree = ast.parse(code)
    tree.body = [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and ast.get_docstring(node):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def defined_names(code: str) -> tuple[frozenset[str], frozenset[str]]:
    """(function names, class names) defined anywhere in `code`, lower-cased without underscores (raises
    SyntaxError)."""
    nodes = list(ast.walk(ast.parse(code)))
    squeeze = functools.partial(re.sub, "_", "")
    functions = {squeeze(n.name).lower() for n in nodes if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    classes = {squeeze(n.name).lower() for n in nodes if isinstance(n, ast.ClassDef)}
    return frozenset(functions), frozenset(classes)


def _is_soi(document: Document) -> bool:
    return document.metadata.get("source") == Source.SELF_OSS_INSTRUCT


class SanitizeFilter(BaseFilter):
    """Drops Self-OSS-Instruct samples whose response holds an incomplete-code phrase (`incomplete_code`) or whose
    instruction runs over 200 words (`long_instruction`)."""

    name = "sanitize (SelfCodeAlign)"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if not _is_soi(doc):
            return True
        sample = Sample.from_row(doc.metadata["sample"])
        lowered = response_text(sample).lower()
        if any(phrase in lowered for phrase in INCOMPLETE_PHRASES):
            return False, "incomplete_code"
        if len(sample.user.split()) > MAX_INSTRUCTION_WORDS:
            return False, "long_instruction"
        return True


# ---------------------------------------------------------------- MinHash, as minhash_dedup.py computes it

_NON_WORD = re.compile(r"\W")
_PRIME = (1 << 61) - 1
_MASK = np.uint64((1 << 32) - 1)


def _words(text: str) -> list[str]:
    """minhash_dedup.py's tokens: the lower-cased text split at every non-word character (empty tokens count)."""
    return _NON_WORD.split(text.lower())


@functools.cache
def lsh_bands(threshold: float, permutations: int) -> tuple[int, int]:
    """(bands, rows) minimising false positives below `threshold` plus false negatives above it, equally weighted
    (datasketch's rule, which minhash_dedup.py uses)."""
    low, high = np.linspace(0.0, threshold, 201), np.linspace(threshold, 1.0, 201)
    best, best_error = (1, 1), float("inf")
    for bands in range(1, permutations + 1):
        for rows in range(1, permutations // bands + 1):
            below, above = (1 - (1 - s**rows) ** bands for s in (low, high))
            error = np.trapezoid(below, low) + np.trapezoid(1 - above, high)
            if error < best_error:
                best, best_error = (bands, rows), error
    return best


class MinHasher:
    """MinHash signatures of word 5-grams (sha1-based 32-bit hashes, 250 universal permutations of a fixed seed)."""

    def __init__(self, ngram: int = 5, permutations: int = 250, threshold: float = 0.7, seed: int = 42):
        self.ngram, self.threshold = ngram, threshold
        rng = np.random.RandomState(seed)
        self.a = rng.randint(1, _PRIME, size=permutations, dtype=np.uint64)
        self.b = rng.randint(0, _PRIME, size=permutations, dtype=np.uint64)
        self.bands, self.rows = lsh_bands(threshold, permutations)

    def long_enough(self, text: str) -> bool:
        return len(_words(text)) >= self.ngram

    def band_keys(self, text: str) -> list[bytes]:
        words = _words(text)
        shingles = {" ".join(words[i : i + self.ngram]) for i in range(len(words) - self.ngram + 1)}
        hashes = np.array(
            [int.from_bytes(hashlib.sha1(s.encode()).digest()[:4], "little") for s in shingles], dtype=np.uint64
        )
        with np.errstate(over="ignore"):
            signature = ((hashes[:, None] * self.a + self.b) % np.uint64(_PRIME) & _MASK).min(axis=0)
        return [signature[i * self.rows : (i + 1) * self.rows].tobytes() for i in range(self.bands)]

    def keep(self, texts: list[str]) -> list[bool]:
        """Whether each text is the first of its cluster (texts sharing a band, transitively), in list order."""
        parent = list(range(len(texts)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        first: dict[tuple[int, bytes], int] = {}
        for index, text in enumerate(texts):
            for band, key in enumerate(self.band_keys(text)):
                earlier = first.setdefault((band, key), index)
                a, b = root(earlier), root(index)
                parent[max(a, b)] = min(a, b)
        return [root(i) == i for i in range(len(texts))]


class SanitizeDedup(PipelineStep):
    """SelfCodeAlign's dedup of Self-OSS-Instruct samples: exact instruction or response, the same defined names,
    then near duplicates by instruction, by response and by code. Those samples are held until the input ends, in
    arrival order (the earliest of duplicates stays); other documents pass through at once."""

    name = "sanitize dedup (SelfCodeAlign)"
    type = "🫂 - DEDUP"

    def __init__(self, hasher: MinHasher | None = None):
        super().__init__()
        self.hasher = hasher or MinHasher()

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        held: list[tuple[Document, Sample]] = []
        for document in data:
            if _is_soi(document):
                held.append((document, Sample.from_row(document.metadata["sample"])))
            else:
                yield document
        with self.track_time():
            held = self.distinct(held)
            for field, text_of in (
                ("instruction", lambda sample: sample.user),
                ("response", response_text),
                ("code", lambda sample: code_representation(sample.next.code)),
            ):
                held = self.near_distinct(held, field, text_of)
        for document, _ in held:
            self.stat_update("forwarded")
            yield document

    def distinct(self, held: list[tuple[Document, Sample]]) -> list[tuple[Document, Sample]]:
        """Drops exact duplicates (an instruction or response seen before, white space removed, either field) and
        samples whose non-empty set of function or class names was seen before."""
        seen_texts: set[str] = set()
        seen_names: set[frozenset[str]] = set()
        kept = []
        for document, sample in held:
            keys = {"".join(sample.user.split()), "".join(response_text(sample).split())}
            if keys & seen_texts:
                self.stat_update("dropped_exact_duplicate")
                continue
            try:
                names = defined_names(sample.next.code)
                code_representation(sample.next.code)
            except SyntaxError:
                self.stat_update("dropped_syntax_error")
                continue
            if any(group and group in seen_names for group in names):
                self.stat_update("dropped_same_names")
                continue
            seen_names.update(names)
            seen_texts |= keys
            kept.append((document, sample))
        return kept

    def near_distinct(
        self, held: list[tuple[Document, Sample]], field: str, text_of: Callable[[Sample], str]
    ) -> list[tuple[Document, Sample]]:
        """One pass of minhash_dedup.py over `field`: texts too short to compare are dropped (an empty code
        representation is kept), the first of each cluster of near duplicates stays."""
        texts = [text_of(sample) for _, sample in held]
        empty = {i for i, text in enumerate(texts) if field == "code" and not text.strip()}
        short = {i for i, text in enumerate(texts) if i not in empty and not self.hasher.long_enough(text)}
        compared = [i for i in range(len(texts)) if i not in empty | short]
        keep = dict(zip(compared, self.hasher.keep([texts[i] for i in compared]), strict=True))
        kept = []
        for index, pair in enumerate(held):
            if index in short:
                self.stat_update(f"dropped_short_{field}")
            elif keep.get(index, True):
                kept.append(pair)
            else:
                self.stat_update(f"dropped_near_duplicate_{field}")
        return kept
