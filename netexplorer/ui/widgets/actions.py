"""One way to make a QAction: text, object name, icon, shortcut, tip, and the slot
it triggers. The window's menus and every owner of actions (the spec and
checkpoint files, the exporter, the training controls) make theirs with it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from netexplorer.ui.icons import icon


def make_action(parent: QObject, text: str, object_name: str, *, icon_name: str | None = None,
                shortcut: QKeySequence.StandardKey | str | None = None, tip: str = "",
                slot: Callable[[], object] | None = None) -> QAction:
    """A QAction owned by `parent`; the tip is both tooltip and status tip."""
    action = QAction(text, parent)
    action.setObjectName(object_name)
    if icon_name:
        action.setIcon(icon(icon_name))
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setToolTip(tip)
        action.setStatusTip(tip)
    if slot is not None:
        action.triggered.connect(slot)
    return action


def dialog_parent(owner: QObject) -> QWidget | None:
    """The widget that an action owner's dialogs open over: its Qt parent, looked up
    each time rather than kept in an attribute. An owner that kept its window in an
    attribute (while the window keeps the owner) put the whole window in a Python
    reference cycle, which only the garbage collector could free — at a moment of
    its choosing, with Qt's objects torn down in no particular order (issue 11)."""
    parent = owner.parent()
    return parent if isinstance(parent, QWidget) else None
