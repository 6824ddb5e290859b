"""Shared pieces of every live plot: how a pyqtgraph plot widget is set up.

The producer only appends (pyqtgraph's scrollingPlots example): reports add
points to RunHistory buffers, and a RedrawClock (redraw_clock.py) ticking at
≤ 30 Hz asks each registered view to redraw if something changed and it is
visible. The colours curves get are in colours.py; neither of those imports
pyqtgraph, so the window's first paint does not wait for it. Plots keep
long runs readable and cheap with peak downsampling, clip-to-view and no
per-point finite checks; zoom and pan stay free while training (auto-range is
kept until the person zooms, as pyqtgraph does).
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QLineF, QRectF
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from netexplorer.core.formatting import engineering
from netexplorer.ui.widgets.accessibility import named


def _palette() -> QPalette:
    app = QApplication.instance()
    return app.palette() if isinstance(app, QApplication) else QPalette()


def make_plot(object_name: str, accessible_name: str, *, left: str = "", bottom: str = "",
              log_y: bool = False, legend: bool = False,
              parent: QWidget | None = None) -> pg.PlotWidget:
    """A PlotWidget set up for live data in the application's palette."""
    palette = _palette()
    plot = pg.PlotWidget(parent=parent, background=palette.color(QPalette.ColorRole.Base))
    named(plot, object_name, accessible_name)
    item = plot.getPlotItem()
    text = palette.color(QPalette.ColorRole.Text)
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setTextPen(text)
        axis.setPen(palette.color(QPalette.ColorRole.Mid))
    if left:
        item.setLabel("left", left)
    if bottom:
        item.setLabel("bottom", bottom)
    item.showGrid(x=True, y=True, alpha=0.15)
    item.setDownsampling(auto=True, mode="peak")
    item.setClipToView(True)
    item.setLogMode(y=log_y)
    item.setMenuEnabled(True)
    if legend:
        LegendAbove(item, text)
    return plot


LEGEND_COLUMNS = 4


class LegendAbove(pg.LegendItem):
    """A legend in its plot's title row, above the data, laid out in columns: it
    never covers a curve (pyqtgraph's own floats over the view box). The row is
    sized to the entries as they are added and removed (none: no row at all)."""

    def __init__(self, item: pg.PlotItem, text: QColor) -> None:
        super().__init__(colCount=LEGEND_COLUMNS, labelTextColor=text)
        self._item = item
        item.layout.removeItem(item.titleLabel)  # the title row holds the legend instead
        item.titleLabel.hide()
        item.layout.addItem(self, 0, 1)
        item.legend = self  # where PlotItem.plot(name=…) adds its curve, as addLegend sets
        self._fit()

    def addItem(self, item, name) -> None:
        super().addItem(item, name)
        self._fit()

    def removeItem(self, item) -> None:
        super().removeItem(item)
        self._fit()

    def clear(self) -> None:
        super().clear()
        self._fit()

    def _fit(self) -> None:
        self._item.layout.setRowFixedHeight(0, self.layout.preferredHeight() if self.items
                                            else 0)
        self.setVisible(bool(self.items))


def make_bar_chart(object_name: str, accessible_name: str, *, bottom: str = "",
                   parent: QWidget | None = None) -> pg.PlotWidget:
    """A still chart of horizontal bars, one row per class from the top: nothing to
    pan, zoom or choose from a menu (the per-class accuracy, a prediction's
    probabilities)."""
    plot = make_plot(object_name, accessible_name, bottom=bottom, parent=parent)
    item = plot.getPlotItem()
    item.showGrid(x=True, y=False, alpha=0.15)
    item.setMouseEnabled(x=False, y=False)
    item.setMenuEnabled(False)
    item.hideButtons()
    item.invertY(True)
    return plot


def add_curve(plot: pg.PlotWidget, colour: QColor, width: float = 1.5, name: str | None = None,
              symbol: str | None = None) -> pg.PlotDataItem:
    """A curve whose data may be replaced every redraw cheaply."""
    pen = pg.mkPen(colour, width=width)
    kwargs = {"symbol": symbol, "symbolSize": 6, "symbolBrush": colour, "symbolPen": None} \
        if symbol else {}
    curve = plot.getPlotItem().plot([], [], pen=pen, name=name, skipFiniteCheck=True, **kwargs)
    curve.setDownsampling(auto=True, method="peak")
    curve.setClipToView(True)
    return curve


def log_ticks(low: float, high: float) -> list[list[tuple[float, str]]]:
    """Ticks for an axis whose coordinates are log10 of the values (a log-mode plot, a
    colour bar of log values), labelled with the values in engineering notation:
    every decade, or 1-2-5 steps when the range spans less than two decades.

    pyqtgraph's own log ticks label minor ticks too, and they overlap near each
    decade; pass the result to AxisItem.setTicks.
    """
    if not (math.isfinite(low) and math.isfinite(high)) or high < low:
        return [[], []]
    decades = range(math.floor(low), math.ceil(high) + 1)
    values = [10.0 ** e for e in decades if low <= e <= high]
    minor = [(math.log10(m * 10.0 ** e), "") for e in decades for m in range(2, 10)
             if low <= math.log10(m * 10.0 ** e) <= high]
    if len(values) < 2:
        values = [m * 10.0 ** e for e in range(math.floor(low) - 1, math.ceil(high) + 1)
                  for m in (1, 2, 5) if low <= math.log10(m * 10.0 ** e) <= high]
        minor = []
    return [[(math.log10(v), engineering(v, digits=1)) for v in values], minor]


class HorizontalGrid(pg.GraphicsObject):
    """Horizontal lines at the left axis's major ticks, across the view.

    pyqtgraph draws its own grid as part of the axes' picture; measured offscreen
    at 500×400 px, a repaint costs ~9.5 ms with make_plot's grid on both axes,
    ~7 ms with horizontal lines only and ~2 ms without — and this item's lines
    cost nothing measurable. Plots that repaint while training use it instead.
    Explicit ticks (a log axis labelled by log_ticks) go through set_ticks, so the
    lines stay on the labels.
    """

    def __init__(self, plot: pg.PlotWidget, strength: float = 0.15) -> None:
        super().__init__()
        self._item = plot.getPlotItem()
        palette = _palette()
        text = palette.color(QPalette.ColorRole.Text)
        base = palette.color(QPalette.ColorRole.Base)
        colour = QColor.fromRgbF(*(strength * t + (1 - strength) * b for t, b in zip(
            (text.redF(), text.greenF(), text.blueF()),
            (base.redF(), base.greenF(), base.blueF()))))  # opaque: blending is what costs
        self._pen = pg.mkPen(colour, width=1)
        self._pen.setCosmetic(True)
        self._ys: list[float] = []
        self._rect = QRectF()
        self._ticks: list[list[tuple[float, str]]] | None = None
        self.setZValue(-1000)  # under every curve
        view = self._item.getViewBox()
        view.sigRangeChanged.connect(self._on_view_changed)
        view.sigResized.connect(self._on_view_changed)

    def set_ticks(self, ticks: list[list[tuple[float, str]]] | None) -> None:
        """The left axis's ticks (AxisItem.setTicks; None: pyqtgraph's own), set only
        when they change: setting them lays the axis out again at its next paint."""
        if ticks == self._ticks:
            return
        self._ticks = ticks
        self._item.getAxis("left").setTicks(ticks)
        self._on_view_changed()

    def _on_view_changed(self, *_args) -> None:
        view = self._item.getViewBox()
        (_, _), (low, high) = view.viewRange()
        if self._ticks is not None:
            values = [value for value, _ in self._ticks[0]] if self._ticks else []
        else:
            levels = self._item.getAxis("left").tickValues(low, high, max(view.height(), 1.0))
            values = levels[0][1] if levels else []
        ys = [y for y in values if low <= y <= high]
        rect = view.viewRect()
        if ys != self._ys or rect != self._rect:
            self.prepareGeometryChange()
            self._ys, self._rect = ys, rect
            self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(self._rect)

    def paint(self, painter, *_args) -> None:
        painter.setPen(self._pen)
        left, right = self._rect.left(), self._rect.right()
        painter.drawLines([QLineF(left, y, right, y) for y in self._ys])


def live_grid(plot: pg.PlotWidget, strength: float = 0.15) -> HorizontalGrid:
    """Replace make_plot's grid with cheap horizontal lines (see HorizontalGrid)."""
    plot.getPlotItem().showGrid(x=False, y=False)
    grid = HorizontalGrid(plot, strength)
    plot.getPlotItem().addItem(grid, ignoreBounds=True)
    return grid
