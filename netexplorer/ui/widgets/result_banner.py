"""A one-line outcome above the plots: how the last run ended, or why it failed.

A banner rather than a dialog: a run that ends while the person looks elsewhere
must not pop up a modal box, and a failure stays readable next to the curves
that led to it. The style sheet colours it by its `kind` property.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from netexplorer.ui.icons import icon
from netexplorer.ui.widgets.accessibility import named

# kind → the icon beside the text
_BADGES = {"ok": "ok", "warning": "warning", "error": "error", "hint": "about"}


class ResultBanner(QFrame):
    """show_result(kind, text, details): kind is "ok", "warning", "error" or "hint";
    details, when given, open in a box with the full text (a traceback, say).
    dismissed() follows the person's ✕."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None,
                 object_name: str = "trainingResult") -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setProperty("kind", "ok")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        self._badge = QLabel()
        self._badge.setAlignment(Qt.AlignmentFlag.AlignTop)
        row.addWidget(self._badge)
        self.label = named(QLabel(), "trainingResultLabel", "Training result")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        row.addWidget(self.label, 1)
        self.details_button = named(QToolButton(), "resultDetailsButton", "Details",
                                    "the full error report, for a bug report")
        self.details_button.setText("Details…")
        self.details_button.clicked.connect(self._on_details)
        row.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        self.close_button = named(QToolButton(), "resultCloseButton", "Dismiss")
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self.hide)
        self.close_button.clicked.connect(self.dismissed)
        row.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self._details = ""
        self.setVisible(False)

    @property
    def kind(self) -> str:
        return str(self.property("kind"))

    @property
    def text(self) -> str:
        return self.label.text()

    def show_result(self, kind: str, text: str, details: str = "") -> None:
        self.setProperty("kind", kind)
        self.style().unpolish(self)  # the style sheet selects on the property
        self.style().polish(self)
        self._badge.setPixmap(icon(_BADGES.get(kind, "warning")).pixmap(18, 18))
        self.label.setText(text)
        self._details = details
        self.details_button.setVisible(bool(details))
        self.setVisible(True)

    def clear(self) -> None:
        self._details = ""
        self.setVisible(False)

    @Slot()
    def _on_details(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "Training failed", self.label.text(),
                          QMessageBox.StandardButton.Close, self)
        box.setDetailedText(self._details)
        box.setObjectName("trainingFailureDetails")
        box.open()  # not modal to the whole app: training state keeps updating
