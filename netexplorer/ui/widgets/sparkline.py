"""Sparklines: a number and a tiny line of its recent history in one table cell.

The inspector's table has a row per layer and a column per statistic; each cell
shows the latest value as text and, to its right, the last few dozen samples as
a line, so a trend (a gradient norm falling away, dead units creeping up) shows
without opening a plot. The lines are drawn once per refresh, all in one
painting, into small pixmaps that the table shows as the cells' decorations, so
repainting a hundred cells runs no Python (a delegate painting them cost the GUI
thread most of its time while a run trained, and the training thread its share of
the GIL).
"""

from __future__ import annotations

from collections.abc import Sequence

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


def sparkline_coordinates(lines: np.ndarray, rect: QRect) -> tuple[np.ndarray, np.ndarray]:
    """Where each history (a row of `lines`) runs inside `rect`: x of every sample
    (shared), and y of each (lines × samples), scaled to the history's own finite
    range (a flat one across the middle). y is NaN where a value is not finite —
    a gap in the line — and for a history of fewer than two finite values (no
    line). All histories at once: a table refresh draws a hundred."""
    lines = np.atleast_2d(np.asarray(lines, dtype=np.float64))
    finite = np.isfinite(lines)
    n = lines.shape[1]
    low = np.where(finite, lines, np.inf).min(axis=1, initial=np.inf)
    high = np.where(finite, lines, -np.inf).max(axis=1, initial=-np.inf)
    with np.errstate(invalid="ignore"):
        span = high - low
        flat = ~(span > 1e-12)  # (also a history with nothing finite: no line anyway)
        fraction = np.where(flat[:, None], 0.5,
                            (lines - low[:, None]) / np.where(flat, 1.0, span)[:, None])
    x = rect.left() + np.arange(n) * (rect.width() / max(n - 1, 1))
    y = rect.bottom() - fraction * rect.height()
    y[~finite] = np.nan
    y[finite.sum(axis=1) < 2] = np.nan
    return x, y


def sparkline_pixmaps(lines: np.ndarray, colours: Sequence[QColor], size: QSize,
                      device_ratio: float = 1.0) -> list[QPixmap]:
    """Each history (a row of `lines`) drawn as a line in its colour on a transparent
    picture of `size` (logical pixels, sharp at `device_ratio`): the cells'
    decorations, made once per refresh so that painting a cell runs no Python.
    Too little history: an empty picture of the same size, so the column keeps its
    width.

    All of them are drawn in one painting: the histories are laid one under the
    other on one picture, joined into one path per colour (NaN breaks the line
    between samples and between histories), and each cell's picture is cut from
    it. A picture, a painter and a path per cell cost ~0.15 ms each: most of a
    refresh of the inspector's table (~14 of 16 ms for LeNet's 96 cells), on the
    GUI thread while the training thread waits for the GIL."""
    lines = np.atleast_2d(np.asarray(lines, dtype=np.float64))
    count = len(lines)
    width, height = size.width(), size.height()
    cell_width = max(1, round(width * device_ratio))
    cell_height = max(1, round(height * device_ratio))
    atlas = QPixmap(cell_width, cell_height * max(count, 1))
    atlas.setDevicePixelRatio(device_ratio)
    atlas.fill(Qt.GlobalColor.transparent)
    x, y = sparkline_coordinates(lines, QRect(1, 2, width - 2, height - 4))
    y += (np.arange(count) * (cell_height / device_ratio))[:, None]  # each its own place
    drawn = ~np.isnan(y).all(axis=1)  # histories with a line
    if drawn.any():
        painter = QPainter(atlas)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        keys = [colour.rgba() for colour in colours]
        for key in dict.fromkeys(keys[i] for i in np.flatnonzero(drawn)):
            members = [i for i, k in enumerate(keys) if k == key and drawn[i]]
            painter.setPen(QPen(colours[members[0]], SPARKLINE_PEN_WIDTH))
            painter.drawPath(_joined_path(x, y[members]))
        painter.end()
    pixmaps = []
    for row in range(count):
        pixmap = atlas.copy(QRect(0, row * cell_height, cell_width, cell_height))
        pixmap.setDevicePixelRatio(device_ratio)
        pixmaps.append(pixmap)
    return pixmaps


def _joined_path(x: np.ndarray, ys: np.ndarray) -> QPainterPath:
    """One path of several lines sharing x (rows of `ys`), each finite run of a row
    joined, nothing joined across a NaN or from one row to the next. Built from
    the arrays in one call (pyqtgraph's arrayToQPath with an array of which point
    joins the next): a QPointF per sample cost ~0.1 ms a line."""
    finite = np.isfinite(ys)
    joins = finite.copy()
    joins[:, :-1] &= finite[:, 1:]
    joins[:, -1] = False  # a row's last point joins nothing: the next row starts afresh
    xs = np.broadcast_to(x, ys.shape)
    return pg.arrayToQPath(xs.ravel(), ys.ravel(), connect=joins.ravel())
