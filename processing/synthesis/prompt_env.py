"""The one Jinja2 environment over `prompts/`, shared by every synthesis kind: templates live beside the code as
package data, a missing variable is an error, and the filters the templates use are registered here."""

import functools
import re
from pathlib import Path

import jinja2

from cursorcore.processing.formats.fences import fence
from cursorcore.processing.synthesis.trajectory import numbered

PROMPTS = Path(__file__).with_name("prompts")


@functools.cache
def environment() -> jinja2.Environment:
    """`fence` wraps code so that nothing inside can close it; `numbered` numbers lines (what the judge and the
    writers refer to); `edit_steps` reads a worked AI-programmer example."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PROMPTS),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        keep_trailing_newline=False,
    )
    env.filters["fence"] = fence
    env.filters["numbered"] = numbered
    env.filters["edit_steps"] = edit_steps
    return env


def edit_steps(example: str) -> list[tuple[str, str]]:
    """A worked AI-programmer example, written as `=== <what the edit did>` headings each followed by the whole
    code after it, as (note, code) pairs."""
    steps = []
    for part in re.split(r"^=== ", example, flags=re.MULTILINE)[1:]:
        note, _, code = part.partition("\n")
        steps.append((note.strip(), code.strip("\n")))
    return steps
