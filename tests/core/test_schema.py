"""The sample contract: typed objects <-> rows <-> parquet loaded back with `datasets`."""

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cursorcore.schema import (
    FEATURES,
    Check,
    CheckStatus,
    Sample,
    SampleError,
    Snapshot,
    Source,
    Verification,
    VerificationStatus,
)
from cursorcore.tokens import find_special_token
from tests.strategies import code_texts

plain_text = st.text(max_size=20).filter(lambda t: find_special_token(t) is None)


@st.composite
def full_samples(draw) -> Sample:
    current = draw(code_texts())
    loc = draw(st.one_of(st.none(), st.integers(0, len(current)), st.just((0, len(current)))))
    snapshot = st.builds(Snapshot, code_texts(), st.sampled_from(["python", "cpp"]))
    verification = Verification(
        draw(st.sampled_from(VerificationStatus)),
        tuple(
            draw(
                st.lists(
                    st.builds(
                        Check,
                        st.sampled_from(["roundtrip:wf", "tests"]),
                        st.sampled_from(CheckStatus),
                        st.text(max_size=8),
                    ),
                    max_size=2,
                )
            )
        ),
    )
    return Sample(
        current=Snapshot(current),
        history=draw(st.lists(snapshot, max_size=3)),
        user=draw(plain_text),
        chat=draw(plain_text),
        next=draw(st.one_of(st.none(), snapshot)),
        loc=loc,
        source=draw(st.sampled_from([*Source, "apeval"])),
        id=draw(st.text(alphabet="abc0123-", min_size=1, max_size=10)),
        verification=verification,
        messages=draw(
            st.lists(
                st.fixed_dictionaries(
                    {"role": st.sampled_from(["user", "assistant", "execution"]), "content": st.text(max_size=10)}
                ),
                max_size=3,
            )
        ),
    )


@settings(max_examples=30, deadline=None)
@given(batch=st.lists(full_samples(), min_size=1, max_size=8))
def test_rows_survive_parquet_and_load_dataset(batch, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ds")
    datasets.Dataset.from_list([s.to_row() for s in batch], features=FEATURES).to_parquet(
        str(folder / "train.parquet")
    )
    loaded = datasets.load_dataset("parquet", data_files=str(folder / "train.parquet"), split="train")
    assert loaded.features == FEATURES
    assert [Sample.from_row(row, i) for i, row in enumerate(loaded)] == batch


def test_cursorcore_json_rows_are_accepted():
    row = {
        "history": [{"type": "code", "lang": "python", "code": "a"}],
        "current": {"type": "code", "lang": "python", "code": "ab"},
        "user": "",
        "chat": "",
        "next": {"type": "code", "lang": "python", "code": "abc"},
        "loc": [0, 1],
        "source": "commit",
    }
    sample = Sample.from_row(row)
    assert sample.loc == (0, 1)
    assert Sample.from_row(sample.to_row()) == sample


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"current": {"code": 3}}, "row 7: current.code: expected a string, got int"),
        ({"history": [{"code": "a"}, "b"]}, "history[1]: expected a mapping"),
        ({"current": {"code": "ab"}, "loc": 5}, "loc: cursor 5 is outside current.code (0..2)"),
        ({"current": {"code": "ab"}, "loc": [2, 1]}, "selection [2, 1]"),
        ({"current": {"code": "ab"}, "source": "web"}, "source: 'web' is not one of"),
        ({"current": {"code": "a<|im_end|>"}}, "current.code: contains the special token <|im_end|>"),
        (
            {"current": {"code": "a"}, "user": 1, "chat": ["x"]},
            "user: expected a string, got int; chat: expected a string, got list",
        ),
        ({"current": {"code": "a"}, "verification": {"status": "ok"}}, "verification.status: 'ok'"),
        (
            {"current": {"code": "a"}, "verification": {"checks": [{"name": "tests", "status": "ok"}]}},
            "verification.checks[0].status: 'ok' is not one of passed, failed, timeout, memory, error, skipped",
        ),
        ({"current": {"code": "a"}, "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role: 'robot'"),
        ({}, "current: missing"),
    ],
)
def test_validation_names_the_row_and_the_bad_field(row, message):
    with pytest.raises(SampleError) as error:
        Sample.from_row(row, row_index=7)
    assert str(error.value).startswith("row 7: ")
    assert message.removeprefix("row 7: ") in str(error.value)


def test_kinds_and_statuses_are_enums_and_rows_hold_their_plain_strings():
    assert [kind.value for kind in Source] == ["aiprogrammer", "commit", "oj", "self-oss-instruct", "aiev"]
    check = Check("tests", "timeout")
    assert check.status is CheckStatus.TIMEOUT and check.status.is_failure
    assert not any(status.is_failure for status in (CheckStatus.PASSED, CheckStatus.ERROR, CheckStatus.SKIPPED))
    with pytest.raises(ValueError, match="'ok' is not a valid CheckStatus"):
        Check("tests", "ok")
    with pytest.raises(ValueError, match="'ok' is not a valid VerificationStatus"):
        Verification("ok")
    sample = Sample(current=Snapshot("x"), source=Source.AIEV, verification=Verification("failed", (check,)))
    row = sample.to_row()
    values = [row["source"], row["verification"]["status"], row["verification"]["checks"][0]["status"]]
    assert values == ["aiev", "failed", "timeout"] and {type(value) for value in values} == {str}
    assert Sample.from_row(row).verification.status is VerificationStatus.FAILED
