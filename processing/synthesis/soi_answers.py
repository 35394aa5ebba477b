"""The parser of a model answer that carries its own tests (Self-OSS-Instruct, AIEV-Instruct): which fences are the
solution, which are the tests, which `pip install` lines to run, and whether the tests can check the solution at all.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass

from cursorcore.processing.formats.fences import fence, find_fences
from cursorcore.tokens import find_special_token

PYTHON_LANGS = frozenset({"python", "py", "python3"})
SHELL_LANGS = frozenset({"sh", "bash", "shell", "console"})
# a line that opens the tests: "Tests:", "## Tests", "[Tests]", "**Unit tests**"
TESTS_HEADING = re.compile(
    r"^[ \t]*[#*\[]*[ \t]*(?:unit[ \t]+)?tests?[ \t]*[\]*:]*[ \t]*$", re.IGNORECASE | re.MULTILINE
)
REFUSAL = re.compile(
    r"^\W*(?:i'?m sorry|i am sorry|sorry\b|i cannot|i can'?t|i can not|i'?m unable|i am unable|as an ai\b)",
    re.IGNORECASE,
)
PIP_INSTALL = re.compile(r"^(?:\$\s*|!|%)?\s*(?:python3?\s+-m\s+)?pip3?\s+install\s+(.*)$")
_VERSION = r"(?:==|>=|<=|~=|!=|<|>)[A-Za-z0-9.*+!_-]+"
REQUIREMENT = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[A-Za-z0-9._,-]+\])?(?:{_VERSION}(?:,{_VERSION})*)?$")
HARMLESS_PIP_FLAGS = frozenset({"-q", "--quiet", "-U", "--upgrade", "--user", "--no-cache-dir"})


class AnswerError(ValueError):
    """A model answer that cannot be run as solution + tests; `reason` names what is missing or wrong, and `draft`
    is the answer as far as it could be read (None when there is nothing to show: a refusal, a special token), so
    that a dialogue can feed the problem back to its author."""

    def __init__(self, reason: str, detail: str = "", draft: Answer | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.draft = draft


# How far an answer got before it was found unusable: a rejection names the furthest any answer got.
ANSWER_PROBLEMS = (
    "truncated",
    "refusal",
    "special_token",
    "no_code",
    "syntax_error",
    "missing_solution",
    "missing_tests",
    "tests_ignore_solution",
)


@dataclass(frozen=True)
class Answer:
    """A model answer split up: `code` is the solution (the sample's `next`), `tests` run right after it in the
    same file, `chat` is the answer without the solution fences (explanation, tests, install lines), `packages` the
    `pip install` requirements it asked for and `ignored` the shell lines that were not run."""

    code: str
    tests: str
    chat: str
    packages: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()

    @property
    def program(self) -> str:
        return f"{self.code}\n\n\n{self.tests}\n"


def parse_answer(text: str, *, tests_must_use_solution: bool = True, packages: bool = False) -> Answer:
    """Split an answer into solution and tests, the way SelfCodeAlign's execution filter sees a response: the
    python fences, run together. Fences after a "Tests" heading are tests; elsewhere a fence's top-level statements
    from the first check on (an assert, a test function or class, a loop of asserts) are tests. With `packages`,
    `pip install` lines in shell fences are collected (AutoCoder's interpreter installs what the programmer asks
    for). Raises `AnswerError` when no runnable solution + tests can be found (a fence that does not parse goes
    whole into the draft's solution, or into its tests after a "Tests" heading)."""
    if REFUSAL.match(text):
        raise AnswerError("refusal", text[:200])
    if token := find_special_token(text):
        raise AnswerError("special_token", token)
    blocks = find_fences(text)
    python_blocks = [block for block in blocks if block.lang.lower() in PYTHON_LANGS]
    if not python_blocks:
        raise AnswerError("no_code", "no ```python block", Answer("", "", text.strip()))
    headings = (m for m in TESTS_HEADING.finditer(text) if not any(b.start <= m.start() < b.end for b in blocks))
    heading = next((m for m in headings if m.start() > python_blocks[0].start), None)
    code_parts, test_parts, chat, requirements, ignored = [], [], [], [], []
    cursor, syntax_error = 0, ""
    for block in blocks:
        lang = block.lang.lower()
        if lang in SHELL_LANGS and packages:
            found, skipped = pip_requirements(block.code or "")
            requirements += found
            ignored += skipped
        if lang not in PYTHON_LANGS:
            continue
        source = block.code or ""
        after_heading = heading is not None and block.start > heading.start()
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError) as error:
            syntax_error = syntax_error or f"{type(error).__name__}: {error}"[:200]
            code, tests = ("", source) if after_heading else (source, "")
        else:
            code, tests = ("", source) if after_heading else split_tests(source, tree)
        code_parts.append(code)
        test_parts.append(tests)
        chat.append(text[cursor : block.start])
        if tests:
            chat.append(text[block.start : block.end] if not code else fence(tests, "python"))
        cursor = block.end
    chat.append(text[cursor:])
    code = "\n\n\n".join(part.strip("\n") for part in code_parts if part.strip())
    tests = "\n\n".join(part.strip("\n") for part in test_parts if part.strip())
    answer = Answer(code, tests, re.sub(r"\n{3,}", "\n\n", "".join(chat)).strip(), tuple(requirements), tuple(ignored))
    if syntax_error:
        raise AnswerError("syntax_error", syntax_error, answer)
    check_solution_and_tests(answer, tests_must_use_solution)
    return answer


def pip_requirements(script: str) -> tuple[list[str], list[str]]:
    """(requirements, ignored) of a shell fence: only `pip install NAME[extras][==VERSION]` lines are run."""
    requirements, ignored = [], []
    for line in script.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIP_INSTALL.match(line)
        try:
            tokens = shlex.split(match.group(1)) if match else None
        except ValueError:
            tokens = None
        if tokens is None:
            ignored.append(line)
            continue
        for token in tokens:
            if REQUIREMENT.match(token):
                requirements.append(token)
            elif token not in HARMLESS_PIP_FLAGS:
                ignored.append(token)
    return requirements, ignored


def split_tests(source: str, tree: ast.Module) -> tuple[str, str]:
    """(solution, tests) of one fence: tests start at the first top-level check, together with the statements
    just before it that use what the fence defines (`cache = LRUCache(2)` before the asserts)."""
    body = tree.body
    first = next((i for i, node in enumerate(body) if _is_check(node)), None)
    if first is None:
        return source, ""
    defined = _defined_names(body[:first])
    while first > 0 and not _is_definition(body[first - 1]) and _loads(body[first - 1]) & defined:
        first -= 1
    node = body[first]
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
    lines = source.split("\n")
    while start > 0 and lines[start - 1].lstrip().startswith("#"):  # "# tests" comments go with the tests
        start -= 1
    return "\n".join(lines[:start]).rstrip(), "\n".join(lines[start:]).strip("\n")


def check_solution_and_tests(answer: Answer, tests_must_use_solution: bool) -> None:
    """The solution must define something to test, the tests must run an assertion when executed (test functions
    that nobody calls check nothing), and (optionally) the tests must use what the solution defines."""
    code_tree, tests_tree = ast.parse(answer.code), ast.parse(answer.tests)
    defined = _defined_names(code_tree.body)
    if not any(_is_function_or_class(node) for node in code_tree.body):
        raise AnswerError("missing_solution", "the solution defines no function or class", answer)
    if not _runs_a_check(tests_tree):
        raise AnswerError("missing_tests", "no assertion runs when the tests are executed", answer)
    if tests_must_use_solution and not _loads(tests_tree) & defined:
        raise AnswerError("tests_ignore_solution", f"the tests use none of {sorted(defined)}", answer)


def _is_function_or_class(node: ast.stmt) -> bool:
    if isinstance(node, ast.Assign):
        return isinstance(node.value, ast.Lambda)
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)


def _is_definition(node: ast.stmt) -> bool:
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom)


def _defined_names(body: list[ast.stmt]) -> set[str]:
    names = set()
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name)}
    return names


def _loads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _called_name(node: ast.AST) -> str:
    if not isinstance(node, ast.Call):
        return ""
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _asserts(node: ast.AST) -> bool:
    """An assert statement, a unittest `self.assert...` call, or `raise AssertionError` anywhere in `node`."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Assert) or _called_name(inner).startswith("assert"):
            return True
        if isinstance(inner, ast.Raise) and inner.exc is not None:
            raised = inner.exc.func if isinstance(inner.exc, ast.Call) else inner.exc
            if isinstance(raised, ast.Name) and raised.id == "AssertionError":
                return True
    return False


def _is_test_definition(node: ast.stmt) -> bool:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return node.name.startswith("test")
    if isinstance(node, ast.ClassDef):
        bases = {base.id if isinstance(base, ast.Name) else getattr(base, "attr", "") for base in node.bases}
        return node.name.startswith("Test") or any(base.endswith("TestCase") for base in bases)
    return False


def _is_test_call(node: ast.AST) -> bool:
    """A call of a test function, or of `unittest.main` / `pytest.main`."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.attr == "main" and func.value.id in ("unittest", "pytest")
    return isinstance(func, ast.Name) and func.id.startswith("test")


def _is_check(node: ast.stmt) -> bool:
    """A top-level statement that belongs to the tests."""
    if isinstance(node, ast.Assert) or _is_test_definition(node):
        return True
    if isinstance(node, ast.Expr):
        return _is_test_call(node.value)
    if isinstance(node, ast.If | ast.For | ast.While | ast.With | ast.Try):
        return _asserts(node) or any(_is_test_call(inner) for inner in ast.walk(node))
    return False


def _runs_a_check(tree: ast.Module) -> bool:
    """Whether executing the module runs an assertion: a top-level one, a test function that is called, or
    `unittest.main()` with a TestCase (test functions nobody calls check nothing)."""
    test_functions = {
        n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and _asserts(n)
    }
    has_case = any(isinstance(n, ast.ClassDef) and _is_test_definition(n) and _asserts(n) for n in tree.body)
    for node in tree.body:
        if _is_definition(node):
            continue
        if _asserts(node):
            return True
        for inner in ast.walk(node):
            if _called_name(inner) in test_functions or (has_case and _is_test_call(inner)):
                return True
    return False
