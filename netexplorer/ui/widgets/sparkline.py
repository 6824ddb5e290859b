"""Sparklines: a number and a tiny line of its recent history in one table cell.

The inspector's table has a row per layer and a column per statistic; each cell
shows the latest value as text and, to its right, the last few dozen samples as
a line, so a trend (a gradient norm falling away, dead units creeping up) shows
without opening a plot. Each line is drawn once per refresh into a small pixmap
that the table shows as the cell's decoration, so repainting a hundred cells runs
no Python (a delegate painting them cost the GUI thread most of its time while a
run trained, and the training thread its share of the GIL).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPixmap

# The model's role holding a cell's history (a 1-D float array, already on the
# scale it is drawn in — log10 for norms); NaN leaves a gap.
SPARKLINE_ROLE = Qt.ItemDataRole.UserRole + 7
# An optional QColor for the line (a layer with an alert draws it in the alert's colour).
SPARKLINE_COLOUR_ROLE = Qt.ItemDataRole.UserRole + 8
SPARKLINE_WIDTH = 30
# The line's width in logical pixels. Qt's raster engine draws lines up to one
# pixel wide on a fast path; wider ones go through its stroker: a 1.3 px line cost
# ~100 µs a cell against ~10 µs (most of a refresh of the inspector's table, on
# the GUI thread, while the training thread waits for the GIL). The table's line
# colour is a little stronger to make up for it.
SPARKLINE_PEN_WIDTH = 1.0


def sparkline_path(values: np.ndarray, rect: QRect) -> QPainterPath:
    """The history as a path inside `rect`, scaled to its own range; finite runs are
    joined, NaNs break the line. Built from the arrays in one call (pyqtgraph's
    arrayToQPath): a QPointF per sample cost ~0.1 ms a cell, about half of a
    refresh of the inspector's table."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if values.size < 2 or finite.sum() < 2:
        return QPainterPath()
    low, high = float(values[finite].min()), float(values[finite].max())
    span = high - low
    n = values.size
    x = rect.left() + np.arange(n) * (rect.width() / max(n - 1, 1))
    fraction = np.full(n, 0.5) if span <= 1e-12 else (values - low) / span
    y = rect.bottom() - fraction * rect.height()
    return pg.arrayToQPath(x, y, connect="finite")


def sparkline_pixmap(values: np.ndarray, size: QSize, colour: QColor,
                     device_ratio: float = 1.0) -> QPixmap:
    """The history drawn as a line on a transparent picture of `size` (logical
    pixels, sharp at `device_ratio`): a cell's decoration, made once per refresh
    so that painting the cell runs no Python. Too little history: an empty picture
    of the same size, so the column keeps its width."""
    pixmap = QPixmap(max(1, round(size.width() * device_ratio)),
                     max(1, round(size.height() * device_ratio)))
    pixmap.setDevicePixelRatio(device_ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    path = sparkline_path(values, QRect(1, 2, size.width() - 2, size.height() - 4))
    if not path.isEmpty():
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(colour, SPARKLINE_PEN_WIDTH))
        painter.drawPath(path)
        painter.end()
    return pixmap
