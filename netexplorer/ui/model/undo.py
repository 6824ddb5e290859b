"""Undo for model edits: every command holds whole ModelSpec snapshots.

Specs are immutable and tiny, so storing "before" and "after" is simpler and
safer than inverting each kind of edit, and undoing can never drift from what
was on screen. Consecutive edits of the same value (typing 1, 12, 120 into a
spin box) merge into one step.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

from PySide6.QtGui import QUndoCommand

from netexplorer.core.specs import ModelSpec

_MERGEABLE_ID = 0x5EC


@dataclass(frozen=True)
class SpecState:
    """What one side of an edit restores: the model and the selected layer."""

    spec: ModelSpec
    selected: int | None


class SpecEditCommand(QUndoCommand):
    """Replace the model with `after` (redo) or `before` (undo).

    `merge_key` identifies what was edited, e.g. ("param", 3, "out_channels");
    a command pushed right after one with the same key extends it instead of
    adding a step.
    """

    def __init__(self, text: str, before: SpecState, after: SpecState,
                 show: Callable[[SpecState], None], merge_key: Hashable | None = None) -> None:
        super().__init__(text)
        self.before = before
        self.after = after
        self._show = show
        self.merge_key = merge_key

    def redo(self) -> None:
        self._show(self.after)

    def undo(self) -> None:
        self._show(self.before)

    def id(self) -> int:
        return _MERGEABLE_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SpecEditCommand) or other.merge_key != self.merge_key:
            return False
        self.after = other.after
        # Typing a value and then its original back leaves nothing to undo.
        self.setObsolete(self.after.spec == self.before.spec)
        return True
