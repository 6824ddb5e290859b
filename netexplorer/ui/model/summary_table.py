"""The torchinfo-style summary: each layer's output shape, parameters, mult-adds."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from netexplorer.core.formatting import format_shape
from netexplorer.core.specs import MACS_RULE, ModelSpec, Summary, format_count
from netexplorer.ui.icons import icon
from netexplorer.ui.model.layer_list import ERROR_BACKGROUND
from netexplorer.ui.widgets.accessibility import named

COLUMNS = ("Layer", "Kind", "Output shape", "Params", "Mult-adds")
_HEADER_TIPS = ("", "", "per sample, without the batch dimension",
                "learned values: weights and biases (a batch-norm's scale and shift), not "
                "its running statistics",
                f"Mult-adds {MACS_RULE}")
_NUMERIC = (3, 4)
UNKNOWN = "—"


class SummaryTable(QTableWidget):
    """Rows for the input, every layer and the totals; rows past an error show —."""

    layerActivated = Signal(int)  # a layer's index, when its row is clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        named(self, "summaryTable", "Model summary",
              "each layer's output shape, parameter count and mult-adds per sample")
        # The rules, where a person checking a figure by hand looks for them.
        for column, (title, tip) in enumerate(zip(COLUMNS, _HEADER_TIPS)):
            header_item = QTableWidgetItem(title)
            header_item.setToolTip(tip)
            self.setHorizontalHeaderItem(column, header_item)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        header = self.horizontalHeader()
        # Every column as wide as its contents (a narrow dock scrolls rather than
        # cutting names and numbers short); the last takes what room is left.
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.cellClicked.connect(self._on_cell_clicked)

    def show_summary(self, spec: ModelSpec, summary: Summary) -> None:
        rows = [("input", "", format_shape(spec.input_shape), "", "")]
        error = summary.error
        for i, layer in enumerate(spec.layers):
            if i < len(summary.rows):
                row = summary.rows[i]
                rows.append((layer.name, layer.kind, format_shape(row.output_shape),
                             format_count(row.params), format_count(row.macs)))
            else:
                shape = "error" if error is not None and error.index == i else UNKNOWN
                rows.append((layer.name, layer.kind, shape, UNKNOWN, UNKNOWN))
        rows.append(("Total", "", format_shape(summary.output_shape) if summary.ok else UNKNOWN,
                     format_count(summary.total_params), format_count(summary.total_macs)))
        self.setRowCount(len(rows))
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText)
        for r, values in enumerate(rows):
            layer_index = r - 1
            broken = error is not None and error.index == layer_index and layer_index >= 0
            unknown = 0 <= layer_index < len(spec.layers) and layer_index >= len(summary.rows)
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                if c in _NUMERIC or c == 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if r == len(rows) - 1:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                if broken and error is not None:  # (broken implies it; said for mypy)
                    item.setBackground(ERROR_BACKGROUND)
                    item.setToolTip(error.message)
                    if c == 0:
                        item.setIcon(icon("error"))
                elif unknown:
                    item.setForeground(muted)
                    item.setToolTip("not computed past the error above")
                self.setItem(r, c, item)
        if error is not None and error.index is not None and error.index < len(spec.layers):
            self.scrollTo(self.model().index(error.index + 1, 0))  # the broken layer's row

    @Slot(int, int)
    def _on_cell_clicked(self, row: int, _column: int) -> None:
        if 1 <= row <= self.rowCount() - 2:
            self.layerActivated.emit(row - 1)
