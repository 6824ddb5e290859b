"""Framing a live plot: the range is set from the data with round bounds, so it
changes only now and then, instead of pyqtgraph's auto-range following every
new point.

Why not auto-range: pyqtgraph settles an auto-range while it paints, so every
update of a growing curve paints twice and lays out both axes again (their tick
labels are generated in Python). Measured offscreen on a 500×400 plot, an update
cost 2 paints and ~6.6 ms with auto-range and 1 paint and ~0.9 ms with a fixed
range. Round bounds (0 to 2.5 for a loss falling from 2.3) keep the range fixed
for long stretches.

The person stays in charge: zooming or panning stops the framing of that plot;
pyqtgraph's "A" (auto-range) button hands it back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Slot

# Ranges within this fraction of their span count as unchanged.
_SAME = 1e-6
MARGIN = 0.02  # of the span, beyond the round bounds


def nice_bounds(low: float, high: float, ticks: int = 5) -> tuple[float, float]:
    """Bounds enclosing [low, high] on a 1-2-5 step with about `ticks` steps:
    (0.05, 2.3) → (0.0, 2.5); a single value gets a little room around it."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return (0.0, 1.0)
    if high < low:
        low, high = high, low
    span = high - low
    if span <= 0:
        span = abs(high) * 0.2 or 1.0
        low, high = low - span / 2, high + span / 2
    base = 10.0 ** math.floor(math.log10(span / ticks))
    step = next(m * base for m in (1, 2, 5, 10) if span / (m * base) <= ticks)
    return (math.floor(low / step + 1e-9) * step, math.ceil(high / step - 1e-9) * step)


def _bounds(values: Iterable[np.ndarray], log: bool) -> tuple[float, float] | None:
    lows, highs = [], []
    for array in values:
        array = np.asarray(array, dtype=np.float64)
        if log:
            array = array[array > 0]
        array = array[np.isfinite(array)]
        if array.size:
            lows.append(float(array.min()))
            highs.append(float(array.max()))
    if not lows:
        return None
    low, high = min(lows), max(highs)
    return (math.log10(low), math.log10(high)) if log else (low, high)


class PlotFrame(QObject):
    """Sets one plot's range from its data (frame()) until the person takes over."""

    def __init__(self, plot: pg.PlotWidget, frame_x: bool) -> None:
        super().__init__(plot)
        self._plot = plot
        self._frame_x = frame_x
        self._following = True
        view = plot.getPlotItem().getViewBox()
        view.sigRangeChangedManually.connect(self._on_range_changed_manually)
        if not frame_x:  # its x axis follows a linked plot
            view.enableAutoRange(x=False)

    @property
    def following(self) -> bool:
        return self._following

    def frame(self, y_values: Iterable[np.ndarray], x_extent: float | None = None,
              from_zero: bool = False, x_start: float = 0.0) -> None:
        """Fit y to round bounds around these values (from 0 if `from_zero`: a loss
        or a learning rate, whose range then stays put as it falls) and x to
        x_start..x_extent."""
        view = self._plot.getPlotItem().getViewBox()
        if not self._following:
            if not any(view.autoRangeEnabled()):
                return  # the person's zoom stands
            self._following = True  # the "A" button asked for the data to be shown
        log_x, log_y = view.state["logMode"]
        bounds = _bounds(y_values, log_y)
        if bounds is not None and from_zero and not log_y:
            bounds = (min(bounds[0], 0.0), max(bounds[1], 0.0))
        (x0, x1), (y0, y1) = view.viewRange()
        changes: dict[str, tuple[float, float]] = {}
        if bounds is not None:
            low, high = nice_bounds(*bounds)
            margin = MARGIN * (high - low)  # a dot on the bound stays whole
            low, high = low - margin, high + margin
            if not _same((low, high), (y0, y1)):
                changes["yRange"] = (low, high)
        if self._frame_x and x_extent and x_extent > x_start and not log_x:
            margin = MARGIN * (x_extent - x_start)
            wanted = (x_start - margin, x_extent + margin)
            if not _same(wanted, (x0, x1)):
                changes["xRange"] = wanted
        if changes:
            view.setRange(padding=0, **changes)  # also ends pyqtgraph's auto-range
        elif any(view.autoRangeEnabled()):
            view.disableAutoRange()

    @Slot(object)
    def _on_range_changed_manually(self, _mask: object) -> None:
        self._following = False


def _same(a: tuple[float, float], b: tuple[float, float]) -> bool:
    span = max(abs(a[1] - a[0]), abs(b[1] - b[0]), 1e-300)
    return abs(a[0] - b[0]) <= _SAME * span and abs(a[1] - b[1]) <= _SAME * span
