"""Exact deduplication by a key the caller chooses, as one datatrove filter.

Seeds are duplicates when their code is the same up to white space; samples when their history, current code,
instruction and next code are. The step is the same for both: keep the first document of each key a task sees.
Duplicates that land in different tasks are MinHash's job: every build that uses this step runs MinHash after it.
"""

import hashlib
from collections.abc import Callable

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter


def normalised_text(doc: Document) -> str:
    """The document's text with every run of white space made one space, as a digest (small to keep in memory)."""
    return hashlib.sha1(" ".join(doc.text.split()).encode()).hexdigest()


class ExactDedup(BaseFilter):
    """Keeps the first document of each `key` within a task; the others are dropped as `duplicate`.

    `key` must be a module-level function (datatrove pickles the step for its workers) returning a short string,
    such as a digest: every key a task keeps stays in memory until the task ends. `name` names the step's stats.
    """

    def __init__(self, key: Callable[[Document], str] = normalised_text, name: str = "exact dedup"):
        self.name = name  # before datatrove's __init__, which names the stats after it
        super().__init__()
        self.key = key
        self.seen: set[str] = set()

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        key = self.key(doc)
        if key in self.seen:
            return False, "duplicate"
        self.seen.add(key)
        return True
