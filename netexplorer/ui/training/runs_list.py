"""Every training run — this session's and those in the run store — one row each:
what it trained with (and what was changed while it trained), how it ended, how
long it took. Selecting several rows overlays their curves; a run continued from
another is drawn after it. The context menu opens a run's weights, renames or
deletes it (asking first), and compares the settings of two runs.

A run keeps its colour (series_colour of its number) wherever it is drawn, and
the row's swatch shows it, so a curve is found in the list at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPoint, Qt, Signal, Slot
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from netexplorer.core.runs import RunHistory
from netexplorer.core.runs.history import settings_diff
from netexplorer.ui.training.training_text import accuracy_text, format_duration, settings_text
from netexplorer.ui.widgets.accessibility import named
from netexplorer.ui.widgets.colours import series_colour
from netexplorer.ui.widgets.columns import ColumnFitter

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
    """runsSelected(list[int]) carries the selected run numbers, oldest first;
    openRequested(run), renameRequested(run, name) and deleteRequested(run) say
    what the person asked for (after confirming a delete)."""

    runsSelected = Signal(list)
    openRequested = Signal(object)
    renameRequested = Signal(object, str)
    deleteRequested = Signal(object)

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
        # Columns widen to their texts as they change (widgets/columns.py): measured
        # by Qt at every change, a report's new duration re-measured every row.
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self._columns = ColumnFitter(self)
        self._items: dict[int, QTreeWidgetItem] = {}
        self._runs: dict[int, RunHistory] = {}
        self.itemSelectionChanged.connect(self._on_selection_changed)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._on_context_menu)

    # ------------------------------------------------------------------ interface

    def add_run(self, run: RunHistory) -> None:
        item = QTreeWidgetItem()
        item.setData(0, _NUMBER_ROLE, run.number)
        item.setIcon(0, _swatch(run_colour(run.number)))
        item.setTextAlignment(3, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        item.setTextAlignment(4, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._items[run.number] = item
        self._runs[run.number] = run
        self.insertTopLevelItem(self._row_for(run), item)
        self.update_run(run)

    def _row_for(self, run: RunHistory) -> int:
        """Rows run oldest to newest, by number (stored runs are numbered in time
        order, then this session's)."""
        numbers = sorted(self._items)
        return numbers.index(run.number)

    def remove_run(self, run: RunHistory) -> None:
        item = self._items.pop(run.number, None)
        self._runs.pop(run.number, None)
        if item is not None:
            self.takeTopLevelItem(self.indexOfTopLevelItem(item))
            self.runsSelected.emit(self.selected_numbers())

    def run_of(self, number: int) -> RunHistory | None:
        return self._runs.get(number)

    def update_run(self, run: RunHistory) -> None:
        """Refresh a row from its run (cheap: a handful of setText calls)."""
        item = self._items.get(run.number)
        if item is None:
            return
        label = f"{run.number} · {run.name}" if run.name else str(run.number)
        values = (label, run.model_name, settings_text(run), accuracy_text(run),
                  format_duration(run.duration), run.status)
        for column, value in enumerate(values):
            if item.text(column) != value:
                item.setText(column, value)
                if column != 2:  # the settings stretch into what is left
                    self._columns.widen(column, (value,))
        shown = (run.status, run.name, len(run.changes))
        if shown != item.data(0, _STATUS_ROLE):  # the tooltip lists the settings
            item.setData(0, _STATUS_ROLE, shown)
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

    def compare(self, first: RunHistory, second: RunHistory) -> QDialog:
        """A dialog of the settings two runs differ in (shown, and returned for tests)."""
        dialog = QDialog(self)
        dialog.setObjectName("runsDiffDialog")
        dialog.setWindowTitle("Compare runs")
        layout = QVBoxLayout(dialog)
        differences = settings_diff(first, second)
        names = (_title(first), _title(second))
        if differences:
            caption = f"{len(differences)} setting(s) differ between {names[0]} and {names[1]}:"
        else:
            caption = f"{names[0]} and {names[1]} were trained with the same settings."
        layout.addWidget(QLabel(caption))
        table = QTableWidget(len(differences), 3)
        table.setObjectName("runsDiffTable")
        table.setHorizontalHeaderLabels(["Setting", *names])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for row, values in enumerate(differences):
            for column, value in enumerate(values):
                table.setItem(row, column, QTableWidgetItem(str(value)))
        table.resizeColumnsToContents()
        table.setVisible(bool(differences))
        layout.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        layout.addWidget(buttons)
        dialog.resize(min(900, 120 + table.horizontalHeader().length()), 360)
        dialog.open()
        return dialog

    # ------------------------------------------------------------------ reactions

    @Slot()
    def _on_selection_changed(self) -> None:
        self.runsSelected.emit(self.selected_numbers())

    @Slot(QPoint)
    def _on_context_menu(self, position: QPoint) -> None:
        item = self.itemAt(position)
        if item is None:
            return
        menu = self.context_menu(self._runs[int(item.data(0, _NUMBER_ROLE))])
        menu.popup(self.viewport().mapToGlobal(position))

    def context_menu(self, run: RunHistory) -> QMenu:
        """The menu of a run's row (built on each right-click; tests trigger it)."""
        menu = QMenu(self)
        menu.setObjectName("runMenu")
        menu.aboutToHide.connect(menu.deleteLater)  # one menu per right-click, not kept
        stored = run.store_id is not None
        busy = run.finished is None
        saved = run.stored.has_checkpoint if run.stored is not None else stored
        open_action = menu.addAction("Open weights", lambda: self.openRequested.emit(run))
        open_action.setObjectName("openRunAction")
        open_action.setEnabled(stored and saved and not busy)
        open_action.setToolTip(
            "this run is not stored" if not stored else
            "no checkpoint was written: the run ended before its first epoch" if not saved
            else "make this run's last weights the current model: Train continues it")
        menu.addAction("Rename…", lambda: self._ask_rename(run)).setObjectName("renameRunAction")
        delete = menu.addAction("Delete…", lambda: self._ask_delete(run))
        delete.setObjectName("deleteRunAction")
        delete.setEnabled(not busy)
        selected = [self._runs[n] for n in self.selected_numbers() if n in self._runs]
        compare = menu.addAction("Compare settings", lambda: self.compare(*selected[:2]))
        compare.setObjectName("compareRunsAction")
        compare.setEnabled(len(selected) == 2)
        menu.setToolTipsVisible(True)
        return menu

    def _ask_rename(self, run: RunHistory) -> None:
        name, ok = QInputDialog.getText(self, "Rename run", "Name:", text=run.name)
        if ok and name.strip() and name.strip() != run.name:
            self.renameRequested.emit(run, name.strip())

    def _ask_delete(self, run: RunHistory) -> None:
        where = (" Its metrics, checkpoints and TensorBoard files are deleted from the run "
                 "store." if run.store_id else "")
        answer = QMessageBox.question(
            self, "Delete run", f"Delete {_title(run)}?{where} This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Yes:
            self.deleteRequested.emit(run)


def _title(run: RunHistory) -> str:
    return f"run {run.number}" + (f" ({run.name})" if run.name else "")

