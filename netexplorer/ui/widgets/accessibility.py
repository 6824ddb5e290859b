"""Names that tests, screen readers and UI automation find widgets by."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

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


def notice_frame(object_name: str, icon_name: str, label_name: str, accessible_name: str
                 ) -> tuple[QFrame, QLabel, QHBoxLayout]:
    """A framed message with an icon: a model error, a dataset that will not load.

    Returns the frame, its selectable, wrapping label, and the row holding icon and
    label; callers add their buttons to the row or below it (frame.layout()).
    The style sheet colours frames by object name.
    """
    from netexplorer.ui.icons import icon

    frame = QFrame()
    frame.setObjectName(object_name)
    frame.setFrameShape(QFrame.Shape.StyledPanel)
    column = QVBoxLayout(frame)
    column.setContentsMargins(8, 6, 8, 6)
    row = QHBoxLayout()
    badge = QLabel()
    badge.setPixmap(icon(icon_name).pixmap(20, 20))
    badge.setAlignment(Qt.AlignmentFlag.AlignTop)
    row.addWidget(badge)
    label = named(QLabel(), label_name, accessible_name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    row.addWidget(label, 1)
    column.addLayout(row)
    return frame, label, row
