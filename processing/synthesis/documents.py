"""Input rows as the documents every synthesis kind reads: `metadata["row"]` is the row of the input dataset
(a `cursorcore/stack-seeds` seed, a `commit-trajectories` history, an `oj-trajectories` submission sequence),
`metadata["kind"]` the `Source` the document is synthesized for, and the text the code the row ends with."""

from collections.abc import Mapping
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.readers.base import BaseReader

from cursorcore.schema import Source


def _final_code(row: Mapping[str, Any], kind: Source) -> str:
    """The last version of a commit history or a submission sequence; a seed's function for the seed-based kinds."""
    if kind is Source.COMMIT:
        return row["versions"][-1]["code"]
    if kind is Source.OJ:
        return row["submissions"][-1]["code"]
    return row["content"]


def row_document(row: Mapping[str, Any], kind: Source | str) -> Document:
    """The document of an input row for the kind `kind` (a `Source` or its value; anything else is a ValueError)."""
    kind = Source(kind)
    row = dict(row)
    return Document(text=_final_code(row, kind), id=str(row["id"]), metadata={"kind": kind, "row": row})


def input_adapter(self: BaseReader, data: dict, path: str, id_in_file: int | str) -> dict:
    """datatrove reader adapter for every kind: the kind comes from the reader's `default_metadata`, as in
    `ParquetReader(folder, adapter=input_adapter, default_metadata={"kind": Source.OJ})`."""
    kind = (self.default_metadata or {}).get("kind")
    if kind is None:
        raise ValueError("input_adapter needs the reader's default_metadata to name the kind: {'kind': Source...}")
    document = row_document(data, kind)
    return {"text": document.text, "id": document.id, "metadata": document.metadata}
