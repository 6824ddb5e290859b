"""Every training run of this session, one row each: what it trained with, how
it ended, how long it took. Selecting several rows overlays their curves.

A run keeps its colour (series_colour of its number) wherever it is drawn, and
the row's swatch shows it, so a curve is found in the list at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from netexplorer.ui.training.training_text import accuracy_text, format_duration, settings_text
from netexplorer.ui.widgets.accessibility import named
from netexplorer.ui.widgets.plots import series_colour

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.core.runs import RunHistory

COLUMNS = ("Run", "Model", "Settings", "Test accuracy", "Time", "Status")
_NUMBER_ROLE = Qt.ItemDataRole.UserRole
_STATUS_ROLE = Qt.ItemDataRole.UserRole + 1  # the status the tooltip was written for


def run_colour(number: int) -> QColor:
    """The colour of run `number` (1-based) in every plot."""
    return series_colour(number - 1)


def _swatch(colour: QColor, size: int = 12) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawRoundedRect(1, 1, size - 2, size - 2, 3, 3)
    painter.end()
    return QIcon(pixmap)


class RunsList(QTreeWidget):
    """runsSelected(list[int]) carries the selected run numbers, oldest first."""

    runsSelected = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "runsList", "Runs",
              "every run of this session; select several (Ctrl+click) to compare their curves")
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(COLUMNS)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.header()
        header.setStretchLastSection(False)
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self._items: dict[int, QTreeWidgetItem] = {}
        self.itemSelectionChanged.connect(self._on_selection_changed)

    # ------------------------------------------------------------------ interface

    def add_run(self, run: RunHistory) -> None:
        item = QTreeWidgetItem()
        item.setData(0, _NUMBER_ROLE, run.number)
        item.setIcon(0, _swatch(run_colour(run.number)))
        item.setTextAlignment(3, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        item.setTextAlignment(4, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._items[run.number] = item
        self.addTopLevelItem(item)
        self.update_run(run)

    def update_run(self, run: RunHistory) -> None:
        """Refresh a row from its run (cheap: a handful of setText calls)."""
        item = self._items.get(run.number)
        if item is None:
            return
        values = (str(run.number), run.model_name, settings_text(run), accuracy_text(run),
                  format_duration(run.duration), run.status)
        for column, value in enumerate(values):
            if item.text(column) != value:
                item.setText(column, value)
        if run.status != item.data(0, _STATUS_ROLE):  # the tooltip lists the settings
            item.setData(0, _STATUS_ROLE, run.status)
            tip = "\n".join(f"{k}: {v}" for k, v in run.describe().items())
            for column in range(len(COLUMNS)):
                item.setToolTip(column, tip)

    def select_runs(self, numbers: Sequence[int]) -> None:
        """Select exactly these runs (the newest becomes current)."""
        self.blockSignals(True)
        self.clearSelection()
        for number in numbers:
            item = self._items.get(number)
            if item is not None:
                item.setSelected(True)
        if numbers and numbers[-1] in self._items:
            self.setCurrentItem(self._items[numbers[-1]], 0,
                                self.selectionModel().SelectionFlag.NoUpdate)
            self.scrollToItem(self._items[numbers[-1]])
        self.blockSignals(False)
        self.runsSelected.emit(self.selected_numbers())

    def selected_numbers(self) -> list[int]:
        return sorted(int(item.data(0, _NUMBER_ROLE)) for item in self.selectedItems())

    # ------------------------------------------------------------------ reactions

    @Slot()
    def _on_selection_changed(self) -> None:
        self.runsSelected.emit(self.selected_numbers())
