"""What an edit format is: how an assistant writes the next version of a file, and how that text is applied back.

A history step is rendered like an edit from the newer snapshot back to the older one (CursorCore anchors history
on the later code), exactly as CursorCore renders it (`history.py`). Only WF history is lossless; LC and SR history
steps walk back to an approximation of the older snapshot (`exact_history`).
"""

from abc import ABC, abstractmethod
from typing import ClassVar


class EditFormat(ABC):
    name: ClassVar[str]
    exact_history: ClassVar[bool] = True

    @abstractmethod
    def render(self, current: str, next_code: str, lang: str) -> str:
        """The edit text (between <|next_start|> and <|next_end|>) that turns `current` into `next_code`."""

    @abstractmethod
    def apply(self, current: str, edit_text: str) -> str:
        """Apply an edit text to `current`; raises EditParseError or EditApplyError."""

    def render_history(self, older: str, newer: str, lang: str) -> str:
        return self.render(newer, older, lang)

    def undo_history(self, newer: str, history_text: str) -> str:
        """The older snapshot, from the newer one and the history message between them."""
        return self.apply(newer, history_text)

    def show_current(self, code: str) -> str:
        """How the current file appears inside its fence."""
        return code

    def read_current(self, shown: str) -> str:
        return shown
