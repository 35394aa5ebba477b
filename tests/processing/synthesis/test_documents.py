"""Input rows become the documents of one kind each, read from real parquet shards by datatrove's reader."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datatrove.pipeline.readers import ParquetReader

from cursorcore.processing.synthesis.documents import input_adapter, row_document
from cursorcore.schema import Source

SEED = {"id": "abc", "content": 'def f(x):\n    """Twice x."""\n    return 2 * x', "entry_point": "f", "repo": "r"}
COMMIT = {"id": "c1", "versions": [{"code": "x = 1\n"}, {"code": "x = 2\n"}], "repo": "octo/calc"}
OJ = {"id": "o1", "submissions": [{"code": "print(1)"}, {"code": "print(2)"}], "problem_id": "p1"}


@pytest.mark.parametrize(
    ("row", "kind", "text"),
    [
        (SEED, Source.AIPROGRAMMER, SEED["content"]),
        (SEED, Source.SELF_OSS_INSTRUCT, SEED["content"]),
        (SEED, Source.AIEV, SEED["content"]),
        (COMMIT, Source.COMMIT, "x = 2\n"),
        (OJ, Source.OJ, "print(2)"),
    ],
)
def test_a_row_becomes_the_document_of_its_kind_with_the_code_it_ends_with(row, kind, text):
    document = row_document(row, kind.value)
    assert (document.id, document.text, document.metadata) == (row["id"], text, {"kind": kind, "row": row})
    assert document.metadata["kind"] is kind


def test_a_name_that_is_no_kind_is_an_error():
    with pytest.raises(ValueError, match="'seed' is not a valid Source"):
        row_document(SEED, "seed")  # the input dataset's name, not a kind


def test_parquet_shards_read_through_the_one_adapter_carry_the_readers_kind(tmp_path):
    rows = [{"id": f"seed-{i}", "content": f"def f{i}(x):\n    return x + {i}", "path": "m.py"} for i in range(3)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "train-00000.parquet")
    for kind in (Source.AIPROGRAMMER, Source.AIEV):
        reader = ParquetReader(str(tmp_path), adapter=input_adapter, default_metadata={"kind": kind})
        documents = list(reader())
        assert [(d.id, d.text, d.metadata["kind"], d.metadata["row"]) for d in documents] == [
            (row["id"], row["content"], kind, row) for row in rows
        ]
    with pytest.raises(ValueError, match="default_metadata"):
        list(ParquetReader(str(tmp_path), adapter=input_adapter)())
