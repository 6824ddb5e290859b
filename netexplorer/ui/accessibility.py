"""Names that tests, screen readers and UI automation find widgets by."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QWidget

W = TypeVar("W", bound=QWidget)


def named(widget: W, object_name: str, accessible_name: str, tooltip: str = "") -> W:
    """Give a control the object name tests use and the name a screen reader reads.

    Every control a person can operate gets both, so they are set in one place
    rather than remembered at each construction site.
    """
    widget.setObjectName(object_name)
    widget.setAccessibleName(accessible_name)
    if tooltip:
        widget.setToolTip(tooltip)
        widget.setAccessibleDescription(tooltip)
    return widget


def hint_label(text: str = "", object_name: str = "") -> QLabel:
    """A secondary, wrapped explanation in the palette's muted text colour.

    The foreground role follows light and dark palettes, where a fixed grey
    would vanish on one of them.
    """
    label = QLabel(text)
    label.setWordWrap(True)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    if object_name:
        label.setObjectName(object_name)
    return label


def heading_label(text: str = "", object_name: str = "") -> QLabel:
    """A bold section title that keeps the platform's font family and size."""
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    if object_name:
        label.setObjectName(object_name)
    return label
