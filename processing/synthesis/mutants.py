"""Mutants of a Python solution: small, plausible mistakes a test suite should notice.

Standard mutation operators, applied one at a time to the solution's syntax tree: a comparison replaced (its
boundary, `<` -> `<=`, and its negation, `<` -> `>=`; `==`/`!=`, `is`/`is not`, `in`/`not in`), an arithmetic or
bitwise operator replaced (`+` -> `-`, `*` -> `/`, `**` -> `*`, ..., in augmented assignments too), a unary `-`,
`not` or `~` dropped, an integer constant off by one (both ways), `True`/`False` swapped, `and`/`or` swapped, `min`/
`max` swapped, a sliced sequence reversed (or a `[::-1]` slice un-reversed), and a returned value replaced by `None`.

A mutant is the solution's source with only the mutated tokens edited (found through the tree, so never inside a
string, a comment, an f-string, a type annotation or a decorator), which keeps every comment and line number of the
original. A mutant whose compiled bytecode equals the original's cannot behave differently (it changed unreachable
code, say) and is counted as equivalent instead of being run; a mutant identical to an earlier one is dropped. When
there are more mutants than wanted, a deterministic random subset (seeded by the caller) is kept, in source order.
Equivalent mutants that compile differently (`x * 1` -> `x / 1` on integers used only in comparisons, say) are not
recognised: they run, survive, and lower the score.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from types import CodeType

COMPARISONS: dict[type[ast.cmpop], tuple[str, ...]] = {
    ast.Lt: ("<=", ">="),
    ast.LtE: ("<", ">"),
    ast.Gt: (">=", "<="),
    ast.GtE: (">", "<"),
    ast.Eq: ("!=",),
    ast.NotEq: ("==",),
    ast.Is: ("is not",),
    ast.IsNot: ("is",),
    ast.In: ("not in",),
    ast.NotIn: ("in",),
}
ARITHMETIC: dict[type[ast.operator], str] = {
    ast.Add: "-",
    ast.Sub: "+",
    ast.Mult: "/",
    ast.Div: "*",
    ast.FloorDiv: "/",
    ast.Mod: "/",
    ast.Pow: "*",
    ast.LShift: ">>",
    ast.RShift: "<<",
    ast.BitAnd: "|",
    ast.BitOr: "&",
    ast.BitXor: "&",
}
SWAPPED_CALLS = {"min": "max", "max": "min"}
# the tokens between two operands: an operator is a word or a run of symbols; comments are skipped
_GAP_TOKEN = re.compile(rb"#[^\r\n]*|[A-Za-z_]+|[-+*/%@&|^<>=!~]+")


@dataclass(frozen=True)
class Edit:
    """Replace bytes [start, end) of the source by `text`."""

    start: int
    end: int
    text: bytes


@dataclass(frozen=True)
class Mutant:
    """One mutated copy of the solution and what was changed, for the report."""

    operator: str
    line: int
    before: str
    after: str
    code: str

    def describe(self) -> str:
        change = f"`{self.before}` -> `{self.after}`" if self.after else f"`{self.before}` removed"
        return f"line {self.line}: {self.operator} {change}"


@dataclass(frozen=True)
class Mutants:
    """The mutants to run, and how many others could not differ from the original (same bytecode)."""

    selected: tuple[Mutant, ...]
    equivalent: int
    generated: int  # distinct mutants before the deterministic subset was drawn


class _Source:
    """The solution as UTF-8 bytes, with AST positions (line, UTF-8 column) turned into byte offsets."""

    def __init__(self, code: str):
        self.data = code.encode()
        self.line_starts = [0]
        for line in self.data.splitlines(keepends=True):
            self.line_starts.append(self.line_starts[-1] + len(line))

    def start(self, node: ast.AST) -> int:
        return self.line_starts[node.lineno - 1] + node.col_offset

    def end(self, node: ast.AST) -> int:
        return self.line_starts[node.end_lineno - 1] + node.end_col_offset

    def text(self, start: int, end: int) -> str:
        return self.data[start:end].decode()

    def segment(self, node: ast.AST | None) -> str:
        return "" if node is None else self.text(self.start(node), self.end(node))

    def operator_tokens(self, start: int, end: int) -> list[tuple[int, int]]:
        """Byte spans of the operator tokens between two operands (`not in` and `is not` are two tokens)."""
        gap = self.data[start:end]
        return [
            (start + m.start(), start + m.end()) for m in _GAP_TOKEN.finditer(gap) if not m.group().startswith(b"#")
        ]


@dataclass(frozen=True)
class _Site:
    operator: str
    line: int
    before: str
    after: str
    edits: tuple[Edit, ...]


def _replace_tokens(tokens: list[tuple[int, int]], text: str) -> tuple[Edit, ...]:
    """The first token becomes `text`, the others (the `not` of `not in`) go."""
    (first_start, first_end), *rest = tokens
    return (Edit(first_start, first_end, text.encode()), *(Edit(s, e, b"") for s, e in rest))


def _wrapped(source: _Source, node: ast.AST, edits: tuple[Edit, ...], suffix: str = "") -> tuple[Edit, ...]:
    """Parentheses around `node`, so that a replaced operator keeps the original grouping."""
    start, end = source.start(node), source.end(node)
    return (Edit(start, start, b"("), *edits, Edit(end, end, f"){suffix}".encode()))


def _is_minus_one(node: ast.AST | None) -> bool:
    return (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and node.operand.value == 1
        and type(node.operand.value) is int
    )


class _Sites:
    """Every mutation site of a tree, in source order of discovery."""

    def __init__(self, source: _Source):
        self.source = source

    def of(self, node: ast.AST) -> Iterator[_Site]:
        if isinstance(node, ast.JoinedStr):  # an f-string is a string: nothing inside it is mutated
            return
        yield from self.node_sites(node)
        for name, value in ast.iter_fields(node):
            if name in ("annotation", "returns", "decorator_list"):  # types and decorations, not behaviour
                continue
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    yield from self.of(child)

    def node_sites(self, node: ast.AST) -> Iterator[_Site]:
        source = self.source
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare):
            left = node.left
            for op, right in zip(node.ops, node.comparators, strict=True):
                tokens = source.operator_tokens(source.end(left), source.start(right))
                before = " ".join(source.text(s, e) for s, e in tokens)
                for after in COMPARISONS[type(op)]:
                    yield _Site("comparison", line, before, after, _replace_tokens(tokens, after))
                left = right
        elif isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC:
            tokens = source.operator_tokens(source.end(node.left), source.start(node.right))
            after = ARITHMETIC[type(node.op)]
            edits = _wrapped(source, node, _replace_tokens(tokens, after))
            yield _Site("arithmetic", line, source.text(*tokens[0]), after, edits)
        elif isinstance(node, ast.AugAssign) and type(node.op) in ARITHMETIC:
            tokens = source.operator_tokens(source.end(node.target), source.start(node.value))
            after = ARITHMETIC[type(node.op)] + "="
            yield _Site("arithmetic", line, source.text(*tokens[0]), after, _replace_tokens(tokens, after))
        elif isinstance(node, ast.BoolOp):
            after = "or" if isinstance(node.op, ast.And) else "and"
            edits = []
            for left, right in zip(node.values, node.values[1:], strict=False):
                edits += _replace_tokens(source.operator_tokens(source.end(left), source.start(right)), after)
            yield _Site(
                "boolean operator", line, "and" if after == "or" else "or", after, _wrapped(source, node, edits)
            )
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not | ast.Invert):
            tokens = source.operator_tokens(source.start(node), source.start(node.operand))
            yield _Site("unary operator", line, source.text(*tokens[0]), "", _replace_tokens(tokens, ""))
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            start, end = source.start(node), source.end(node)
            for value in (node.value + 1, node.value - 1):
                after = str(value) if value >= 0 else f"({value})"
                yield _Site("constant", line, source.text(start, end), after, (Edit(start, end, after.encode()),))
        elif isinstance(node, ast.Constant) and type(node.value) is bool:
            after = str(not node.value)
            yield _Site(
                "constant", line, str(node.value), after, (Edit(source.start(node), source.end(node), after.encode()),)
            )
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SWAPPED_CALLS:
            after = SWAPPED_CALLS[node.func.id]
            edit = Edit(source.start(node.func), source.end(node.func), after.encode())
            yield _Site("call", line, node.func.id, after, (edit,))
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and isinstance(node.ctx, ast.Load):
            yield self.slice_site(node, node.slice)
        elif isinstance(node, ast.Return) and node.value is not None:
            if not (isinstance(node.value, ast.Constant) and node.value.value is None):
                edit = Edit(source.start(node.value), source.end(node.value), b"None")
                yield _Site("return", line, source.segment(node.value), "None", (edit,))

    def slice_site(self, node: ast.Subscript, part: ast.Slice) -> _Site:
        """`[::-1]` loses its step; any other slice comes out reversed."""
        source = self.source
        before = source.segment(node)
        if _is_minus_one(part.step):
            text = f"{source.segment(part.lower)}:{source.segment(part.upper)}"
            edit = Edit(source.start(part), source.end(part), text.encode())
            after = before.replace(source.segment(part), text)
            return _Site("slice", node.lineno, before, after, (edit,))
        return _Site("slice", node.lineno, before, f"({before})[::-1]", _wrapped(source, node, (), "[::-1]"))


def _apply(data: bytes, edits: tuple[Edit, ...]) -> str:
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        data = data[: edit.start] + edit.text + data[edit.end :]
    return data.decode()


def _fingerprint(code: CodeType) -> tuple:
    """What a code object does, without where it came from (line numbers, file name)."""
    consts = tuple(_fingerprint(c) if isinstance(c, CodeType) else (type(c).__name__, repr(c)) for c in code.co_consts)
    return (code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars)


def _compiled(code: str) -> tuple | None:
    try:
        return _fingerprint(compile(code, "main.py", "exec", dont_inherit=True))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def mutants(code: str, *, seed: int | str, limit: int) -> Mutants:
    """The mutants of `code` (a solution that parses), at most `limit` of them, the same ones for the same seed."""
    source = _Source(code)
    original = _compiled(code)
    seen = {original}
    distinct: list[Mutant] = []
    equivalent = 0
    try:
        sites = list(_Sites(source).of(ast.parse(code)))
    except RecursionError:  # nesting deeper than this walk can follow: no mutant rather than a crashed rollout
        sites = []
    for site in sites:
        mutated = _apply(source.data, site.edits)
        fingerprint = _compiled(mutated)
        if fingerprint is None or mutated == code:
            continue  # an operator that does not apply here (it cannot happen for code that parses; kept safe)
        if fingerprint == original:
            equivalent += 1
        elif fingerprint not in seen:
            seen.add(fingerprint)
            distinct.append(Mutant(site.operator, site.line, site.before, site.after, mutated))
    selected = distinct
    if len(distinct) > limit:
        chosen = random.Random(f"mutants/{seed}").sample(range(len(distinct)), limit)
        selected = [distinct[i] for i in sorted(chosen)]
    return Mutants(tuple(selected), equivalent, len(distinct))
