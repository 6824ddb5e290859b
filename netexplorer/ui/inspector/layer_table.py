"""The inspector's table: one row per layer, one column per statistic, each cell the
latest sampled value (engineering notation) with a sparkline of its recent history.

The model reads a LayerHistory when the redraw clock says so; it never holds
anything the history does not. Rows whose layer raised an alert carry the
alert's icon, non-finite values are drawn in the error colour, and selecting
rows (one or several) tells the inspector which layers to plot.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QSize,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QBrush, QColor, QPalette, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from netexplorer.core.formatting import engineering, format_shape, percent
from netexplorer.ui.icons import icon
from netexplorer.ui.inspector.layer_history import (
    FRACTION_STATS,
    LOG_STATS,
    LayerHistory,
    transformed,
)
from netexplorer.ui.widgets.accessibility import named
from netexplorer.ui.widgets.colours import series_colour
from netexplorer.ui.widgets.columns import ColumnFitter
from netexplorer.ui.widgets.sparkline import (
    SPARKLINE_COLOUR_ROLE,
    SPARKLINE_ROLE,
    SPARKLINE_WIDTH,
    sparkline_pixmaps,
)

# The statistic columns, in the order a person reads a layer: what comes out, how
# it is spread, how much is dead, what flows back, and what the weights do.
TABLE_STATS: tuple[str, ...] = ("act_norm", "act_mean", "act_std", "dead", "grad_norm",
                                "weight_norm", "weight_grad_norm", "update_ratio")
# Column headers (two short lines keep the columns narrow), and what each one
# means for tooltips. The GUI keeps its own words: importing core.inspection's
# labels would import torch before the window is painted.
HEADERS = {"act_norm": "Activation\nnorm", "act_mean": "Activation\nmean",
           "act_std": "Activation\nstd", "act_zeros": "Zero\nvalues", "dead": "Dead\nunits",
           "grad_norm": "Output grad\nnorm", "weight_norm": "Weight\nnorm",
           "weight_grad_norm": "Weight grad\nnorm", "update_ratio": "Update\nratio"}
STAT_TITLES = {stat: text.replace("\n", " ").capitalize() for stat, text in HEADERS.items()}
EXPLANATIONS = {
    "act_norm": "‖output‖ over the batch: how large the layer's output is",
    "act_mean": "mean of the layer's output values",
    "act_std": "standard deviation of the layer's output: collapsing to 0 means the "
               "signal is dying out",
    "act_zeros": "share of the output values that are exactly 0",
    "dead": "ReLU-family layers: share of units that never fired over the last sampled "
            "batches (dead ReLUs)",
    "grad_norm": "‖∂loss/∂output‖: how much gradient reaches this layer on the way back "
                 "(vanishing when tiny, exploding when huge)",
    "weight_norm": "‖parameters‖ of the layer (weights and bias)",
    "weight_grad_norm": "‖∂loss/∂parameters‖: the gradient the optimizer gets for this "
                        "layer",
    "update_ratio": "‖Δparameters‖ / ‖parameters‖ per step; around 1e-3 is healthy",
}
SPARKLINE_SAMPLES = 64
_FIXED = ("Layer", "Output")
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_FLAGS = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
ERROR_COLOUR = QColor("#d93025")
WARNING_COLOUR = QColor("#e8a500")


def format_stat(stat: str, value: float) -> str:
    """A statistic as the table, tooltips and labels show it."""
    if stat in FRACTION_STATS:
        return percent(value, 0) if math.isfinite(value) else engineering(value)
    return engineering(value)


class LayerStatsModel(QStandardItemModel):
    """Rows: layers of the history; columns: _FIXED then TABLE_STATS.

    Every cell's roles (text, colour, sparkline, tooltip) are worked out once per
    refresh (the redraw clock's, twice a second while a run trains) and stored in
    Qt's own items, so a paint reads them in C++ and runs no Python at all. The view
    asks seven roles of every cell at every paint: answered by a Python model, even
    one call per cell (multiData), that was ~9 ms of a ~19 ms repaint of LeNet's
    table, holding the GIL the training thread needs. The sparklines are pixmaps
    drawn at refresh, shown as the cell's decoration by Qt's own delegate.
    """

    def __init__(self, history: LayerHistory, parent: Any = None) -> None:
        super().__init__(0, len(_FIXED) + len(TABLE_STATS), parent)
        self._history = history
        # What the rows show, as of the last refresh: the history itself changes
        # between redraws (a new run resets it), and a view paints any time.
        self._layers: tuple[Any, ...] = ()
        self._texts: list[list[str]] = []  # [row][stat column]: what column_texts reads
        self._alerts: dict[int, str] = {}
        self._seen = -1  # the history's revision last read: the same again is no news
        self._line_size = QSize(SPARKLINE_WIDTH, 14)
        self._line_colour = QColor(0, 0, 0, 150)
        self._device_ratio = 1.0
        self._plotted: set[int] = set()  # rows whose curves are plotted: they show their colour

    def set_sparkline_style(self, size: QSize, colour: QColor, device_ratio: float) -> None:
        """How the view shows sparklines: their size, the line's colour (the text's,
        muted) and the screen's pixel ratio; taken at the next refresh."""
        self._line_size, self._line_colour, self._device_ratio = size, colour, device_ratio
        self._seen = -1  # drawn again at the next refresh

    def set_plotted(self, rows: set[int]) -> None:
        """The rows whose curves are plotted: their names show the curve's colour."""
        self._plotted = set(rows)
        shown = min(self.rowCount(), len(self._layers))
        self.blockSignals(True)  # one dataChanged for the column, not five per cell
        try:
            for row in range(shown):
                self._put(row, 0, self._name_roles(row, self._layers[row]))
        finally:
            self.blockSignals(False)
        if shown:
            self.dataChanged.emit(self.index(0, 0), self.index(shown - 1, 0))

    # -- refreshing
    def refresh(self) -> None:
        """Read the history again (called by the redraw clock). Every cell is replaced
        at once, with the model's signals held — inside a model reset when the rows
        change — so a view never paints new values on old rows."""
        history = self._history
        if history.revision == self._seen:
            return  # nothing new since the last refresh: nothing to redo or repaint
        self._seen = history.revision
        layers = tuple(history.layers)
        names = [info.name for info in layers]
        latest = np.array([history.latest(s) for s in TABLE_STATS]).reshape(
            len(TABLE_STATS), len(names))
        recent = {s: transformed(s, history.recent(s, SPARKLINE_SAMPLES)) for s in TABLE_STATS}
        steps, alerts = history.ordered()[0][-1:], history.alert_layers()
        cells = self._stat_cells(layers, latest, recent, steps, alerts)
        reset = names != [info.name for info in self._layers]
        if reset:
            self.beginResetModel()
        self.blockSignals(True)
        try:
            self._layers, self._alerts = layers, alerts
            self._texts = [[cell[Qt.ItemDataRole.DisplayRole] for cell in row] for row in cells]
            if reset:
                self.setRowCount(len(layers))
            for row, info in enumerate(layers):
                self._put(row, 0, self._name_roles(row, info))
                self._put(row, 1, self._shape_roles(info))
                for column, cell in enumerate(cells[row], start=len(_FIXED)):
                    self._put(row, column, cell)
        finally:
            self.blockSignals(False)
        if reset:
            self.endResetModel()
        elif layers:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(layers) - 1, self.columnCount() - 1))

    def _put(self, row: int, column: int, roles: dict[int, Any]) -> None:
        """Replace a cell's roles: the ones it had and not now are gone."""
        item = self.item(row, column)
        if item is None:
            item = QStandardItem()
            self.setItem(row, column, item)
        else:
            item.clearData()  # (the flags too: an item keeps them among its data)
        item.setFlags(_FLAGS)  # read-only, no drag and drop
        for role, value in roles.items():
            item.setData(value, role)

    def _name_roles(self, row: int, info: Any) -> dict[int, Any]:
        shape = format_shape(info.output_shape) if info.output_shape else "not measured yet"
        alert = " — see its alert below" if row in self._alerts else ""
        roles: dict[int, Any] = {
            Qt.ItemDataRole.DisplayRole: info.name,
            Qt.ItemDataRole.ToolTipRole: f"{info.name} ({info.kind}), output {shape} with the "
                                         f"batch{alert}",
        }
        if row in self._alerts:
            roles[Qt.ItemDataRole.DecorationRole] = icon(
                "error" if self._alerts[row] == "error" else "warning")
        elif row in self._plotted:  # the colour of its curve in the plot below
            roles[Qt.ItemDataRole.DecorationRole] = series_colour(row)
        return roles

    @staticmethod
    def _shape_roles(info: Any) -> dict[int, Any]:
        return {
            Qt.ItemDataRole.DisplayRole: format_shape(info.output_shape[1:])
            if info.output_shape else "–",
            Qt.ItemDataRole.TextAlignmentRole: _RIGHT,
        }

    def _stat_cells(self, layers: tuple[Any, ...], latest: np.ndarray,
                    recent: dict[str, np.ndarray], steps: np.ndarray,
                    alerts: dict[int, str]) -> list[list[dict[int, Any]]]:
        """Each statistic cell's roles: its text, alignment, error colour, tooltip,
        the history as an array (SPARKLINE_ROLE) and drawn (the decoration)."""
        error = QBrush(ERROR_COLOUR)
        measured = len(steps) > 0
        at_step = f" at step {int(steps[-1]):,}" if measured else ""
        rows: list[list[dict[int, Any]]] = []
        lines, colours = [], []
        for row, info in enumerate(layers):
            line_colour = (ERROR_COLOUR if alerts.get(row) == "error" else WARNING_COLOUR
                           if row in alerts else self._line_colour)
            cells = []
            for column, stat in enumerate(TABLE_STATS):
                value = float(latest[column, row])
                history = recent.get(stat)
                line = history[:, row] if history is not None and history.ndim == 2 \
                    else np.zeros(0)
                lines.append(line)
                colours.append(line_colour)
                cell: dict[int, Any] = {
                    Qt.ItemDataRole.DisplayRole: format_stat(stat, value),
                    Qt.ItemDataRole.TextAlignmentRole: _RIGHT,
                    Qt.ItemDataRole.ToolTipRole: _tooltip(info.name, stat, value, at_step),
                    SPARKLINE_ROLE: line,
                }
                if row in alerts:
                    cell[SPARKLINE_COLOUR_ROLE] = line_colour
                if math.isinf(value) or (math.isnan(value) and measured
                                         and stat in ("act_norm", "act_std")):
                    # NaN means "not measured" for most cells; for an activation it
                    # means the values went bad (the doctor's alert says where).
                    cell[Qt.ItemDataRole.ForegroundRole] = error
                cells.append(cell)
            rows.append(cells)
        # Always a picture (perhaps empty): the column keeps the sparkline's room from
        # the start instead of widening at the second sample. All drawn at once.
        samples = max((len(line) for line in lines), default=0)
        matrix = np.full((len(lines), samples), np.nan)
        for i, line in enumerate(lines):
            matrix[i, :len(line)] = line
        pictures = iter(sparkline_pixmaps(matrix, colours, self._line_size,
                                          self._device_ratio))
        for cells in rows:
            for cell in cells:
                cell[Qt.ItemDataRole.DecorationRole] = next(pictures)
        return rows

    # -- what the view and the inspector read
    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        stat = TABLE_STATS[section - len(_FIXED)] if section >= len(_FIXED) else None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[stat] if stat else _FIXED[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return (f"{STAT_TITLES[stat]}: {EXPLANATIONS[stat]}" if stat else
                    "the layer's name in the model" if section == 0 else
                    "the layer's output shape for one image")
        return None

    def column_texts(self, column: int) -> list[str]:
        """The texts of a statistic column, as shown."""
        stat_column = column - len(_FIXED)
        return [texts[stat_column] for texts in self._texts]


def _tooltip(name: str, stat: str, value: float, at_step: str) -> str:
    return (f"{name} — {STAT_TITLES[stat].lower()}{at_step}: {value:.6g}\n"
            f"{EXPLANATIONS[stat]}\nThe line shows the last {SPARKLINE_SAMPLES} "
            f"samples" + (" (log scale)" if stat in LOG_STATS else ""))


class LayerTable(QTableView):
    """The table view; layersSelected(list of layer indices) follows the selection."""

    layersSelected = Signal(object)

    def __init__(self, history: LayerHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "inspectorTable", "Layer statistics",
              "every layer's latest statistics with their recent history; select layers to "
              "plot them")
        self.stats_model = LayerStatsModel(history, self)
        self.setModel(self.stats_model)
        # Sparklines sit right of their numbers, drawn by Qt's own delegate.
        self._style_sparklines()
        self._restyle = QTimer(self)
        self._restyle.setSingleShot(True)
        self._restyle.timeout.connect(self._restyle_now)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        # Columns as wide as their numbers and sparklines, measured when the rows
        # change (measured at every refresh, that was most of a redraw's cost); the
        # names take what is left.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self._columns = ColumnFitter(self)
        self.stats_model.modelReset.connect(
            lambda: self._columns.fit_all(range(1, self.stats_model.columnCount())))
        self.selectionModel().selectionChanged.connect(self._on_selection_changed)

    def _style_sparklines(self) -> None:
        """The sparklines' size (a line of text high), colour and pixel ratio."""
        self.setIconSize(QSize(SPARKLINE_WIDTH, self.fontMetrics().height() + 2))
        colour = QColor(self.palette().color(QPalette.ColorRole.Text))
        colour.setAlpha(200)  # the text's own colour, a little muted
        self.stats_model.set_sparkline_style(self.iconSize(), colour, self.devicePixelRatioF())

    def initViewItemOption(self, option: QStyleOptionViewItem) -> None:
        """Decorations (the sparklines; the alert icons and plot colours of the
        names) right of the text. Qt asks once per paint, not per cell."""
        super().initViewItemOption(option)
        option.decorationPosition = QStyleOptionViewItem.Position.Right

    def changeEvent(self, event: QEvent) -> None:
        # The sparklines are pictures in the text's colour at the screen's pixel
        # ratio: a new palette, style or font draws them again, on the next turn of
        # the event loop (not inside this override).
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange,
                            QEvent.Type.FontChange):
            self._restyle.start()
        super().changeEvent(event)

    def _restyle_now(self) -> None:
        self._style_sparklines()
        self.refresh()

    def refresh(self) -> None:
        selected = self.selected_layers()
        self.stats_model.refresh()
        if selected and not self.selected_layers():  # a model reset drops the selection
            self.select_layers([i for i in selected if i < self.stats_model.rowCount()],
                               quiet=True)
        self._widen_columns()

    def _widen_columns(self) -> None:
        """A column whose numbers grew wider than it (first "–", then "1.23k") is
        measured again (see widgets/columns.py)."""
        for column in range(len(_FIXED), self.stats_model.columnCount()):
            self._columns.widen(column, self.stats_model.column_texts(column))

    def selected_layers(self) -> list[int]:
        """Read from the selection's ranges (whole rows: the table selects rows), not
        selectedRows(), which asks the Python model for its size once per row and
        cost ~2 ms at every redraw of the series plot."""
        selection = self.selectionModel().selection()
        rows: set[int] = set()
        for i in range(selection.count()):
            rows.update(range(selection.at(i).top(), selection.at(i).bottom() + 1))
        return sorted(rows)

    def has_selection(self) -> bool:
        """Whether any layer is selected: asked at every batch of probe reports, where
        selected_layers' walk over every selected cell cost ~1 ms."""
        return self.selectionModel().hasSelection()

    def select_layers(self, rows: list[int], quiet: bool = False) -> None:
        """Select these layers' rows (the first becomes current and is scrolled to);
        layersSelected follows unless `quiet`."""
        model = self.stats_model
        selection = QItemSelection()
        for row in rows:
            if 0 <= row < model.rowCount():
                selection.select(model.index(row, 0), model.index(row, model.columnCount() - 1))
        flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect
                 | QItemSelectionModel.SelectionFlag.Rows)
        self.blockSignals(quiet)
        self.selectionModel().blockSignals(quiet)
        try:
            self.selectionModel().select(selection, flags)
            if rows and 0 <= rows[0] < model.rowCount():
                self.selectionModel().setCurrentIndex(
                    model.index(rows[0], 0), QItemSelectionModel.SelectionFlag.NoUpdate)
                self.scrollTo(model.index(rows[0], 0))
        finally:
            self.selectionModel().blockSignals(False)
            self.blockSignals(False)
        if quiet:
            self._mark_plotted()

    @Slot(QItemSelection, QItemSelection)
    def _on_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._mark_plotted()
        self.layersSelected.emit(self.selected_layers())

    def _mark_plotted(self) -> None:
        self.stats_model.set_plotted(set(self.selected_layers()))
