"""A tensor's values as a grid of coloured cells, with the numbers in them while
they fit (up to NUMBERED_ROWS × NUMBERED_COLUMNS), a heat grid beyond that.

Red is positive and blue negative, white zero, scaled by the largest magnitude
shown, so the same tensor reads the same before and after an in-place change
(and `x.grad` filled with 4.5 reads as one even red). Hovering a cell tells its
index and exact value.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetrics,
    QMouseEvent,
    QPainter,
    QPaintEvent,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from netexplorer.core.autograd.snapshot import ValuesView

NUMBERED_ROWS = 12
NUMBERED_COLUMNS = 10
_HEAT_WIDTH = 260  # pixels a heat grid spreads over at most
_POSITIVE = QColor("#dc2626")
_NEGATIVE = QColor("#2563eb")


def cell_colour(value: float, scale: float) -> QColor:
    """White for 0, towards red (positive) or blue (negative) as |value| nears scale."""
    if not math.isfinite(value):
        return QColor("#f59e0b")  # NaN and ±inf stand out in amber
    t = 0.0 if scale <= 0 else min(abs(value) / scale, 1.0)
    end = _POSITIVE if value >= 0 else _NEGATIVE
    mix = 0.12 + 0.78 * t if value != 0 else 0.0
    return QColor(round(255 + (end.red() - 255) * mix), round(255 + (end.green() - 255) * mix),
                  round(255 + (end.blue() - 255) * mix))


def format_value(value: float, integral: bool) -> str:
    if not math.isfinite(value):
        return str(value)
    if integral:
        return str(int(value))
    return f"{value:.4g}"


class ValueGrid(QWidget):
    """See the module doc. show() a ValuesView; `integral` prints whole numbers."""

    def __init__(self, view: ValuesView, integral: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self._integral = integral
        values = view.values[np.isfinite(view.values)]
        self._scale = float(np.max(np.abs(values))) if values.size else 0.0
        rows, columns = view.values.shape
        self.numbered = rows <= NUMBERED_ROWS and columns <= NUMBERED_COLUMNS
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(max(font.pointSizeF() - 1, 7))
        self._font = QFont(font)
        if self.numbered:
            fm = QFontMetrics(self._font)
            widest = max((fm.horizontalAdvance(format_value(v, integral))
                          for v in view.values.flat), default=10)
            self._cell = QSize(max(widest + 12, 34), fm.height() + 8)
        else:
            side = max(3, min(14, _HEAT_WIDTH // max(columns, 1)))
            self._cell = QSize(side, side)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("tensor values")

    def sizeHint(self) -> QSize:
        rows, columns = self.view.values.shape
        return QSize(columns * self._cell.width() + 1, rows * self._cell.height() + 1)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def _cell_rect(self, row: int, column: int) -> QRect:
        w, h = self._cell.width(), self._cell.height()
        return QRect(column * w, row * h, w, h)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setFont(self._font)
        grid = QColor("#d1d5db")
        for (row, column), value in np.ndenumerate(self.view.values):
            rect = self._cell_rect(row, column)
            colour = cell_colour(float(value), self._scale)
            painter.fillRect(rect, colour)
            if self.numbered:
                painter.setPen(grid)
                painter.drawRect(rect)
                dark = colour.lightnessF() < 0.55
                painter.setPen(QColor("white") if dark else QColor("#111827"))
                painter.drawText(rect.adjusted(0, 0, -5, 0),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                                 format_value(float(value), self._integral))
        painter.end()

    def cell_at(self, point: QPoint) -> tuple[int, int] | None:
        rows, columns = self.view.values.shape
        row, column = point.y() // self._cell.height(), point.x() // self._cell.width()
        return (row, column) if 0 <= row < rows and 0 <= column < columns else None

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        cell = self.cell_at(event.position().toPoint())
        if cell is None:
            QToolTip.hideText()
            return
        value = float(self.view.values[cell])
        QToolTip.showText(event.globalPosition().toPoint(),
                          f"[{cell[0]}, {cell[1]}] = {value!r}", self)
