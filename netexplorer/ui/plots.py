"""Shared pieces of every live plot: how a plot widget is set up, the colours
curves get, and the one timer that redraws them.

The producer only appends (pyqtgraph's scrollingPlots example): reports add
points to RunHistory buffers, and a RedrawClock ticking at ≤ 30 Hz asks each
registered view to redraw if something changed and it is visible. Plots keep
long runs readable and cheap with peak downsampling, clip-to-view and no
per-point finite checks; zoom and pan stay free while training (auto-range is
kept until the person zooms, as pyqtgraph does).
"""

from __future__ import annotations

from typing import Callable

import pyqtgraph as pg
from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from netexplorer.ui.accessibility import named

REDRAW_INTERVAL_MS = 33  # ≤ 30 redraws per second, whatever the training speed

# Qualitative colours that stay distinguishable on light and dark backgrounds
# (Tableau 10); runs and layers cycle through them.
SERIES_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
                  "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


def series_colour(index: int) -> QColor:
    return QColor(SERIES_COLOURS[index % len(SERIES_COLOURS)])


def faint(colour: QColor, alpha: int = 70) -> QColor:
    """The same hue, see-through: raw per-batch values under their running mean."""
    c = QColor(colour)
    c.setAlpha(alpha)
    return c


def _palette() -> QPalette:
    app = QApplication.instance()
    return app.palette() if app is not None else QPalette()


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
        item.addLegend(offset=(-10, 10), labelTextColor=text)
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


class RedrawClock(QObject):
    """One timer for all live views: each registers a redraw callback that runs
    at most every REDRAW_INTERVAL_MS while the view is visible and marked dirty.

    Views call mark_dirty() when their data changed (cheap, any number of times
    per tick). Hidden views are not drawn; they stay dirty, and a view calls
    mark_dirty() again from its showEvent to be drawn when it appears. The timer
    runs only while a visible view is dirty, so an idle window does no work.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._views: list[tuple[QWidget, Callable[[], None]]] = []
        self._dirty: set[int] = set()
        self._timer = QTimer(self)
        self._timer.setObjectName("redrawClock")
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._on_tick)

    def register(self, widget: QWidget, redraw: Callable[[], None]) -> int:
        self._views.append((widget, redraw))
        return len(self._views) - 1

    def mark_dirty(self, view: int) -> None:
        self._dirty.add(view)
        if not self._timer.isActive():
            self._timer.start()

    def redraw_now(self) -> None:
        """Draw every dirty view at once (tests, screenshots, a tab becoming visible)."""
        self._on_tick(force=True)

    def stop(self) -> None:
        self._timer.stop()

    @Slot()
    def _on_tick(self, force: bool = False) -> None:
        hidden = set()
        for view in sorted(self._dirty):
            widget, redraw = self._views[view]
            if force or widget.isVisible():
                redraw()
            else:
                hidden.add(view)
        self._dirty = hidden
        self._timer.stop()  # restarted by the next mark_dirty of a change
