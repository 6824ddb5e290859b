"""The window an image's trace opens in: beside the main window, not over it, so a
person can keep clicking images in the galleries and watch each one's trace.

One window for every image (each click replaces what it shows); closing it only
hides it. It takes the session like a panel and is told which image to trace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QDialog, QVBoxLayout, QWidget

from netexplorer.ui.explain.explain_view import ExplainView
from netexplorer.ui.icons import icon

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.ui.session.training_session import TrainingSession

_SIZE = (980, 760)


class ExplainWindow(QDialog):
    """A non-modal window around an ExplainView (`view`)."""

    def __init__(self, session: TrainingSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("explainWindow")
        self.setWindowTitle("Explain — netexplorer")
        self.setWindowIcon(icon("inspect"))
        self.setModal(False)
        self.setWindowFlag(Qt.WindowType.WindowMaximizeButtonHint, True)
        self.view = ExplainView(session, self)
        self.view.titleChanged.connect(self._on_title_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.resize(*_SIZE)

    @Slot(str, int)
    def explain(self, split: str, index: int) -> None:
        """Show the window (if hidden) with the trace of image `index` of `split`."""
        self.view.explain(split, index)
        self.show()
        self.raise_()
        self.activateWindow()

    @Slot(str)
    def _on_title_changed(self, title: str) -> None:
        self.setWindowTitle(f"Explain {title[:1].lower()}{title[1:]} — netexplorer")
