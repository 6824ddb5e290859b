"""A clickable heatmap: a matrix as coloured cells (pyqtgraph ImageItem) with a
colour bar, row labels, a tooltip per cell and optional numbers in the cells.

Two views use it: the inspector's layer × step map of one statistic, and the
evaluation's confusion matrix. Each cell is one matrix entry; rows run top to
bottom; columns are either categories (the confusion matrix) or evenly spaced
positions such as sampled steps. Clicking a cell marks it and emits
cellClicked(row, column); NaN cells stay transparent ("not measured").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QCursor, QPalette
from PySide6.QtWidgets import (
    QGraphicsRectItem,
    QLabel,
    QStackedWidget,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from netexplorer.ui.widgets.accessibility import named
from netexplorer.ui.widgets.plots import log_ticks, make_plot

# Beyond this many rows not every row gets a label (they would overlap).
_MAX_ROW_LABELS = 40
# Numbers are written into cells only while the cells are this many or fewer.
MAX_ANNOTATED_CELLS = 400


class HeatmapView(QWidget):
    """See the module doc. show_matrix() fills it, clear() shows a sentence instead."""

    cellClicked = Signal(int, int)  # row, column

    def __init__(self, object_name: str, accessible_name: str, *, colormap: str = "viridis",
                 left: str = "", bottom: str = "", zoomable: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, object_name, accessible_name)
        self._stack = QStackedWidget(self)
        self._hint = QLabel()
        self._hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._hint.setWordWrap(True)
        self._hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.plot = make_plot(f"{object_name}Plot", accessible_name, left=left, bottom=bottom)
        item = self.plot.getPlotItem()
        item.showGrid(x=False, y=False)
        item.setMenuEnabled(False)
        item.hideButtons()
        item.invertY(True)
        item.getViewBox().setDefaultPadding(0.0)
        item.setMouseEnabled(x=zoomable, y=False)
        self.image = pg.ImageItem()
        item.addItem(self.image)
        self._colormap_name = colormap
        self.bar = pg.ColorBarItem(colorMap=pg.colormap.get(colormap), interactive=False,
                                   width=14)
        self.bar.setImageItem(self.image, insert_in=item)
        text = self.palette().color(QPalette.ColorRole.Text)
        self.bar.axis.setTextPen(text)
        self.bar.axis.setWidth(64)  # room for tick values and the bar's label
        self.bar.axis.setPen(self.palette().color(QPalette.ColorRole.Mid))
        self._marker = QGraphicsRectItem()
        pen = pg.mkPen(self.palette().color(QPalette.ColorRole.Highlight), width=2.5)
        pen.setCosmetic(True)
        self._marker.setPen(pen)
        self._marker.setZValue(20)
        self._marker.hide()
        item.addItem(self._marker, ignoreBounds=True)
        self._labels: list[pg.TextItem] = []
        self._values = np.zeros((0, 0))
        self._x_start = 0.0
        self._x_step = 1.0
        self._describe: Callable[[int, int], str] | None = None
        self._selected: tuple[int, int] | None = None
        self._stack.addWidget(self._hint)
        self._stack.addWidget(self.plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)
        scene = self.plot.scene()
        scene.sigMouseClicked.connect(self._on_scene_clicked)
        scene.sigMouseMoved.connect(self._on_scene_moved)
        self.clear("Nothing to show yet.")

    # ------------------------------------------------------------------ content

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the matrix shown."""
        rows, columns = self._values.shape  # always 2-D: clear() and show_matrix() see to it
        return rows, columns

    @property
    def values(self) -> np.ndarray:
        return self._values

    @property
    def selected(self) -> tuple[int, int] | None:
        return self._selected

    def clear(self, message: str) -> None:
        self._values = np.zeros((0, 0))
        self._selected = None
        self._marker.hide()
        self._remove_labels()
        self._hint.setText(message)
        self._stack.setCurrentWidget(self._hint)

    def show_matrix(self, values: np.ndarray, *, row_labels: Sequence[str],
                    levels: tuple[float, float], bar_label: str = "",
                    column_labels: Sequence[str] | None = None,
                    x_start: float = 0.0, x_step: float = 1.0,
                    describe: Callable[[int, int], str] | None = None,
                    annotations: np.ndarray | None = None, colormap: str | None = None,
                    log_levels: bool = False) -> None:
        """Show `values` (rows × columns). Columns are labelled categories, or sit at
        x_start + column·x_step (their centres) on a numeric axis. `annotations`
        (strings, rows × columns) are written into the cells; `colormap` names one of
        pyqtgraph's maps (a diverging one for signed values). With `log_levels` the
        values are log10 of what they stand for, and the colour bar is labelled with
        the values themselves (1m, 10m, 100m), not their logarithms."""
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 2 or 0 in values.shape:
            self.clear(self._hint.text() or "Nothing to show yet.")
            return
        rows, columns = values.shape
        self._values = values
        self._x_start, self._x_step = float(x_start), float(x_step) or 1.0
        self._describe = describe
        left = self._x_start - self._x_step / 2
        if colormap is not None and colormap != self._colormap_name:
            self._colormap_name = colormap
            self.bar.setColorMap(pg.colormap.get(colormap))
        self.image.setImage(values.T, autoLevels=False)  # ImageItem indexes [x, y]
        self.image.setRect(QRectF(left, 0.0, columns * self._x_step, rows))
        self.bar.setLevels(levels)
        self.bar.axis.setLabel(bar_label)
        self.bar.axis.setTicks(log_ticks(*levels) if log_levels else None)
        item = self.plot.getPlotItem()
        every = max(1, math.ceil(rows / _MAX_ROW_LABELS))
        item.getAxis("left").setTicks([[(r + 0.5, str(row_labels[r]))
                                        for r in range(0, rows, every)], []])
        bottom = item.getAxis("bottom")
        if column_labels is not None:
            bottom.setTicks([[(left + (c + 0.5) * self._x_step, str(column_labels[c]))
                              for c in range(columns)], []])
        else:
            bottom.setTicks(None)
        box = item.getViewBox()
        box.setLimits(xMin=left, xMax=left + columns * self._x_step, yMin=0, yMax=rows)
        if any(box.state["autoRange"]):  # not after the person zoomed in: keep their view
            box.setRange(xRange=(left, left + columns * self._x_step), yRange=(0, rows),
                         padding=0, disableAutoRange=False)
        self._set_labels(annotations, levels)
        if self._selected is not None:
            row, column = self._selected
            if row < rows and column < columns:
                self.select_cell(row, column)
            else:
                self._selected = None
                self._marker.hide()
        self._stack.setCurrentWidget(self.plot)

    def select_cell(self, row: int, column: int) -> None:
        """Mark a cell (without emitting cellClicked)."""
        rows, columns = self.shape
        if not (0 <= row < rows and 0 <= column < columns):
            return
        self._selected = (row, column)
        left = self._x_start - self._x_step / 2
        self._marker.setRect(QRectF(left + column * self._x_step, row, self._x_step, 1.0))
        self._marker.show()

    def describe(self, row: int, column: int) -> str:
        """The tooltip of a cell."""
        if self._describe is None:
            return f"{self._values[row, column]:.3g}"
        return self._describe(row, column)

    # ------------------------------------------------------------------ geometry

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """The cell under a point in data coordinates, if any."""
        rows, columns = self.shape
        column = math.floor((x - (self._x_start - self._x_step / 2)) / self._x_step)
        row = math.floor(y)
        if 0 <= row < rows and 0 <= column < columns:
            return row, column
        return None

    def cell_center(self, row: int, column: int) -> QPoint:
        """Where a cell's centre is on the plot's viewport (tests click there)."""
        x = self._x_start + column * self._x_step
        scene = self.plot.getPlotItem().getViewBox().mapViewToScene(QPointF(x, row + 0.5))
        return self.plot.mapFromScene(scene)

    def _cell_at_scene(self, pos: QPointF) -> tuple[int, int] | None:
        box = self.plot.getPlotItem().getViewBox()
        if not box.sceneBoundingRect().contains(pos):
            return None
        point = box.mapSceneToView(pos)
        return self.cell_at(point.x(), point.y())

    # ------------------------------------------------------------------ numbers in cells

    def _remove_labels(self) -> None:
        for label in self._labels:
            self.plot.getPlotItem().removeItem(label)
        self._labels = []

    def _set_labels(self, annotations: np.ndarray | None, levels: tuple[float, float]) -> None:
        """The numbers in the cells. The labels of the last matrix are moved and
        given their new text and colour rather than made again: a confusion matrix
        is shown after every run's evaluation, and making its 100 TextItems took
        ~70 ms of the GUI thread."""
        if annotations is None or self._values.size > MAX_ANNOTATED_CELLS:
            self._remove_labels()
            return
        low, high = levels
        span = (high - low) or 1.0
        colormap = pg.colormap.get(self._colormap_name)
        background = self.palette().color(QPalette.ColorRole.Base)
        spare, self._labels = self._labels, []
        for (row, column), text in np.ndenumerate(annotations):
            if not text:
                continue
            value = self._values[row, column]
            if np.isfinite(value):
                fraction = float(np.clip((value - low) / span, 0.0, 1.0))
                cell = colormap.map(fraction, mode=pg.ColorMap.QCOLOR)
            else:  # transparent: the plot's background shows
                cell = background
            # Dark numbers on light cells, light ones on dark cells.
            colour = QColor("#111111") if cell.lightnessF() > 0.55 else QColor("#f5f5f5")
            if spare:
                label = spare.pop(0)
                label.setText(str(text), colour)
            else:
                label = pg.TextItem(str(text), color=colour, anchor=(0.5, 0.5))
                label.setZValue(10)
                self.plot.getPlotItem().addItem(label, ignoreBounds=True)
            label.setPos(self._x_start + column * self._x_step, row + 0.5)
            self._labels.append(label)
        for label in spare:
            self.plot.getPlotItem().removeItem(label)

    # ------------------------------------------------------------------ mouse

    @Slot(object)
    def _on_scene_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        cell = self._cell_at_scene(event.scenePos())
        if cell is None:
            return
        self.select_cell(*cell)
        self.cellClicked.emit(*cell)

    @Slot(object)
    def _on_scene_moved(self, pos: QPointF) -> None:
        cell = self._cell_at_scene(pos)
        if cell is None:
            QToolTip.hideText()
            return
        QToolTip.showText(QCursor.pos(), self.describe(*cell), self.plot)
