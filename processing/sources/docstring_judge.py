"""SelfCodeAlign's docstring judge for seed functions, run through the synthesis runtime.

As SelfCodeAlign does it (StarCoder2-Instruct's `seed_gathering/filter_dataset.py`): a base model continues a
completion prompt (seven answered forum threads in a shuffled order, then the function without its docstring and the
docstring) right after "My answer is:", greedily, for at most 5 tokens, stopping at the first line break. One answer
decides by default. Each answer is read by its first "yes" or "no" word only (a reason that says "no" never flips a
"yes"); an answer with neither counts as No, as a tie does in SelfCodeAlign. `votes` > 1 asks for that many sampled
answers (a temperature above 0 is then required) and keeps the seed on a majority of Yes.
"""

import ast
import random
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from cursorcore.processing.llm import LLMConfig, RolloutRunner, chunked_jsonl_writer, reject

_VERDICT = re.compile(r"\b(yes|no)\b", re.IGNORECASE)

# (code without its docstring, docstring, verdict, reason): written for cursorcore; half clear enough, half not
SHOTS = (
    (
        "def celsius_to_kelvin(degrees):\n    return degrees + 273.15",
        "Convert a temperature in degrees Celsius to kelvin.",
        "Yes",
        "The description names the conversion, and the conversion fully determines the body.",
    ),
    (
        "def helper(rows, key):\n    out = {}\n    for row in rows:\n"
        "        out.setdefault(row[key], []).append(row)\n    return out",
        "Helper for the report.",
        "No",
        "It says nothing about grouping the rows by a key, which is all the function does.",
    ),
    (
        "def last_word_length(text):\n    words = text.split()\n    return len(words[-1]) if words else 0",
        "Return the length of the last word of `text`, or 0 when it has no words.",
        "Yes",
        "Both the usual case and the empty case are described.",
    ),
    (
        "def send(message, channel):\n    return channel.strip().lower(), len(message)",
        "Send the message to the channel over the network.",
        "No",
        "The code only normalises the channel name and measures the message; it sends nothing.",
    ),
    (
        "def clamp(value, low, high):\n    return max(low, min(high, value))",
        "Limit `value` to the closed range [low, high].",
        "Yes",
        "A clamp to a closed range is exactly what the body computes.",
    ),
    (
        "def parse(line):\n    name, _, rest = line.partition('=')\n    return name.strip(), [v.strip() for v in "
        "rest.split(',') if v.strip()]",
        "Parse a line.",
        "No",
        "It does not say that the line reads 'name = a, b, c', nor what comes back.",
    ),
    (
        "def is_leap_year(year):\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)",
        "Whether `year` is a leap year in the Gregorian calendar.",
        "Yes",
        "The Gregorian leap-year rule is standard and fully specified.",
    ),
)


@dataclass
class JudgeConfig:
    votes: int = 1
    temperature: float = 0.0  # greedy, as SelfCodeAlign; several votes need sampling (> 0)
    max_tokens: int = 5
    stop: tuple[str, ...] = ("\n",)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.votes < 1:
            raise ValueError(f"votes must be at least 1, got {self.votes}")
        if self.votes > 1 and self.temperature <= 0:
            raise ValueError("several votes at temperature 0 are one vote repeated: set a temperature above 0")


@cache
def _template() -> jinja2.Template:
    text = (files("cursorcore.processing.sources") / "prompts" / "docstring_judge.jinja").read_text()
    return jinja2.Environment(keep_trailing_newline=True, autoescape=False).from_string(text)


def split_docstring(function: str) -> tuple[str, str]:
    """(code without its docstring, the docstring) of the first function in `function`."""
    tree = ast.parse(function)
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
    first = node.body[0]
    lines = function.split("\n")
    code = "\n".join(lines[: first.lineno - 1] + lines[first.end_lineno :])
    return code.strip("\n"), ast.get_docstring(node) or ""


def judge_prompt(function: str, rng: random.Random) -> str:
    """The completion prompt; `rng` orders the worked examples (SelfCodeAlign shuffles them for every seed)."""
    code, doc = split_docstring(function)
    shots = list(SHOTS)
    rng.shuffle(shots)
    return _template().render(code=code, doc=doc, shots=shots).rstrip()


def verdict(answer: str) -> bool:
    """Yes when the first "yes" or "no" word of the answer is "yes"; an answer with neither is No."""
    found = _VERDICT.search(answer)
    return bool(found) and found.group(1).lower() == "yes"


async def judge_rollout(document: Document, generate: Any, config: JudgeConfig) -> dict:
    try:
        prompt = judge_prompt(document.text, random.Random(f"{config.seed}/{document.id}"))
    except (SyntaxError, StopIteration, IndexError):
        return reject("unparseable_seed")
    payload = {
        "prompt": prompt,
        "max_tokens": config.max_tokens,
        "temperature": config.temperature,
        "stop": list(config.stop),
        "n": config.votes,
        "seed": config.seed,
    }
    answers = (await generate(payload)).texts[: config.votes]
    votes = [verdict(answer) for answer in answers]
    return {"keep": sum(votes) * 2 > len(votes), "votes": votes, "answers": answers}


def judge_step(config: JudgeConfig, llm: LLMConfig, output: Path, checkpoints: Path) -> RolloutRunner:
    """The judging stage: writes every seed with its votes; `JudgeVerdictFilter` then keeps the Yes ones."""
    return RolloutRunner(
        judge_rollout,
        llm,
        chunked_jsonl_writer(output),
        checkpoints_dir=checkpoints,
        shared_context={"config": config},
    )


class JudgeVerdictFilter(BaseFilter):
    name = "docstring judge"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        results = doc.metadata.get("rollout_results") or []
        result = results[0] if isinstance(results, list) and results else results
        if not isinstance(result, dict) or "keep" not in result:
            return False, "judge_failed"
        return True if result["keep"] else (False, "judge_no")
