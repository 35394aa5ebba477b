"""Edit formats: rendering (current, next) and applying the text back reproduces `next` byte for byte."""

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from cursorcore.processing.formats import FORMATS, EditApplyError, EditParseError, get_format
from cursorcore.processing.formats.fences import fence, parse_fence
from cursorcore.processing.formats.lc import number_lines, unnumber_lines
from cursorcore.processing.formats.sr import apply_sr, parse_sr
from cursorcore.tokens import SEARCH_AND_REPLACE
from tests.eval import cursorcore_reference as reference
from tests.strategies import code_texts, edited_pairs

EDGE_CASES = [
    ("", ""),
    ("", "a"),
    ("a", ""),
    ("a\n", "a"),
    ("a", "a\n"),
    ("a\r\nb\r\n", "a\r\nc\r\n"),
    ("\tx\n\ty\n", "\tx\n\t\ty\n"),
    ("ünï\n日本\n", "ünï\n🙂\n日本\n"),
    ("x\nx\nx\nx\n", "x\nx\ny\nx\n"),
    ("first\nmid\nlast", "FIRST\nmid\nLAST"),
    ("a\nb\nc", "b\nc"),
    ("a\nb\nc", "a\nb"),
    ("x\ny\nz", "y"),
    ("```\ncode\n```", "```\ncode2\n```"),
    ("\n\n\n", "\n\nq\n\n"),
]


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=1000, deadline=None)
@given(pair=edited_pairs())
def test_render_then_apply_reproduces_next(name, pair):
    current, next_code = pair
    fmt = get_format(name)
    assert fmt.apply(current, fmt.render(current, next_code, "python")) == next_code


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize(("current", "next_code"), EDGE_CASES)
def test_edge_cases_round_trip(name, current, next_code):
    fmt = get_format(name)
    assert fmt.apply(current, fmt.render(current, next_code, "python")) == next_code
    if fmt.exact_history:
        assert fmt.undo_history(next_code, fmt.render_history(current, next_code, "python")) == current


@settings(max_examples=300, deadline=None)
@given(pair=edited_pairs())
def test_wf_history_step_walks_back_to_the_older_snapshot(pair):
    older, newer = pair
    fmt = get_format("wf")
    assert fmt.undo_history(newer, fmt.render_history(older, newer, "python")) == older


@settings(max_examples=500, deadline=None)
@given(pair=edited_pairs(), lang=st.sampled_from(["python", "Python", "cpp"]))
def test_history_steps_are_rendered_exactly_as_cursorcore_renders_them(pair, lang):
    older, newer = pair
    assume("```" not in older + newer)  # CursorCore always fences with ```; we lengthen the fence only then
    task = {"history": [{"code": older, "lang": lang}], "current": {"code": newer, "lang": lang}, "user": ""}
    for name in ("wf", "lc", "sr"):
        wanted = reference.PROMPTS[name](task)[0]["content"]
        assert get_format(name).render_history(older, newer, lang) == wanted


def test_lc_and_sr_history_steps_are_lossy_as_cursorcores():
    older, newer = "a\nb \nc", "a\nb\nc\nx"  # a trailing space dropped, x added
    lc, sr = get_format("lc"), get_format("sr")
    assert lc.render_history(older, newer, "python") == "3,4\n```python\n\n```"  # no lines: one blank line
    assert sr.render_history(older, newer, "python") == f"```python\n\n{SEARCH_AND_REPLACE}\nx\n```"
    for fmt in (lc, sr):
        assert fmt.undo_history(newer, fmt.render_history(older, newer, "python")) == "a\nb\nc\n"


@settings(max_examples=500, deadline=None)
@given(code=code_texts(), lang=code_texts())
@example(code="a\n```\nb", lang="")
def test_fence_encloses_any_code(code, lang):
    lang = lang.replace("\n", "").replace("`", "")
    block = parse_fence(fence(code, lang) + "\nafter")
    assert block.code == code
    assert block.lang == lang.lower().strip()


@settings(max_examples=300, deadline=None)
@given(code=code_texts())
def test_line_numbering_round_trips(code):
    assert unnumber_lines(number_lines(code)) == code


# ---- CursorCore semantics --------------------------------------------------------------------------------------


def test_wf_is_cursorcore_whole_file_fence():
    assert (
        get_format("wf").render("old", "def f():\n    return 1", "Python") == "```python\ndef f():\n    return 1\n```"
    )


def test_lc_blocks_are_zero_based_half_open_ranges_of_current():
    current = "a\nb\nc\nd"
    text = get_format("lc").render(current, "a\nB\nc\nd\ne", "python")
    assert text == "1,2\n```python\nB\n```\n4,4\n```python\ne\n```"
    assert number_lines(current) == "1 a\n2 b\n3 c\n4 d"


@settings(max_examples=500, deadline=None)
@given(pair=edited_pairs())
def test_lc_answers_apply_identically_with_cursorcore_postprocessing(pair):
    current, next_code = pair
    if "`" in current + next_code:
        return  # CursorCore's regex cannot read longer fences; ours must still agree on everything else
    text = get_format("lc").render(current, next_code, "python")
    assert reference.read_lc(current, text) == next_code


@settings(max_examples=500, deadline=None)
@given(pair=edited_pairs())
def test_sr_search_blocks_are_unique_non_blank_and_replace_something(pair):
    current, next_code = pair
    lines = current.split("\n")
    for block in parse_sr(get_format("sr").render(current, next_code, "python")):
        starts = [
            i for i in range(len(lines) - len(block.search) + 1) if lines[i : i + len(block.search)] == block.search
        ]
        assert len(starts) == 1
        assert block.replace
        assert any(line.strip() for line in block.search) or block.search == lines


def test_sr_widens_a_repeated_line_until_unique():
    current = "x = 1\nprint(x)\nx = 1\nreturn x"
    text = get_format("sr").render(current, "x = 1\nprint(x)\nx = 2\nreturn x", "python")
    assert text == f"```python\nprint(x)\nx = 1\n{SEARCH_AND_REPLACE}\nprint(x)\nx = 2\n```"


# ---- inference-time behaviour ----------------------------------------------------------------------------------


def _sr(search: str, replace: str) -> str:
    return f"```python\n{search}\n{SEARCH_AND_REPLACE}\n{replace}\n```"


def test_sr_tolerates_trailing_whitespace_drift():
    current = "def f():   \n    return 1\n"
    assert apply_sr(current, _sr("def f():\n    return 1", "def f():\n    return 2")) == "def f():\n    return 2\n"


def test_sr_tolerates_shifted_indentation_and_reindents_the_replacement():
    current = "class A:\n    def f(self):\n        return 1\n"
    answer = _sr("def f(self):\n    return 1", "def f(self):\n    return 2")
    assert apply_sr(current, answer) == "class A:\n    def f(self):\n        return 2\n"


def test_sr_absent_search_block_is_a_clear_error():
    with pytest.raises(EditApplyError, match=r"search block 1 is not in the file.*'nothing like this'"):
        apply_sr("a\nb\n", _sr("nothing like this", "x"))


def test_sr_ambiguous_search_block_is_a_clear_error():
    with pytest.raises(EditApplyError, match="ambiguous: it matches at lines 1, 3"):
        apply_sr("x = 1\ny\nx = 1\n", _sr("x = 1", "x = 2"))


def test_sr_block_without_separator_is_a_parse_error():
    with pytest.raises(EditParseError, match="separator"):
        apply_sr("a", "```python\na\n```")


@pytest.mark.parametrize(
    ("edit_text", "error", "message"),
    [
        ("9,12\n```python\nx\n```", EditApplyError, "outside the file"),
        ("0,2\n```python\nx\n```\n1,2\n```python\ny\n```", EditApplyError, "overlaps"),
        ("one,two\n```python\nx\n```", EditParseError, "start,end"),
        ("0,1\n```python\nnever closed", EditParseError, "never closed"),
    ],
)
def test_lc_bad_answers_are_clear_errors(edit_text, error, message):
    with pytest.raises(error, match=message):
        get_format("lc").apply("a\nb\nc", edit_text)


def test_lc_empty_fence_from_a_model_deletes_the_lines():
    assert get_format("lc").apply("a\nb\nc", "1,2\n```python\n```") == "a\nc"


def test_unknown_format_names_the_choices():
    with pytest.raises(ValueError, match="wf, lc, sr"):
        get_format("diff")
