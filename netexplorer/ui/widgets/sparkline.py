"""Sparklines: a number and a tiny line of its recent history in one table cell.

The inspector's table has a row per layer and a column per statistic; each cell
shows the latest value as text and, to its right, the last few dozen samples as
a line, so a trend (a gradient norm falling away, dead units creeping up) shows
without opening a plot. Painted by an item delegate straight from a numpy array
stored in the cell — no widget per cell, so a hundred cells stay cheap to redraw.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

# The model's role holding a cell's history (a 1-D float array, already on the
# scale it is drawn in — log10 for norms); NaN leaves a gap.
SPARKLINE_ROLE = Qt.ItemDataRole.UserRole + 7
# An optional QColor for the line (a layer with an alert draws it in the alert's colour).
SPARKLINE_COLOUR_ROLE = Qt.ItemDataRole.UserRole + 8
SPARKLINE_WIDTH = 30
_GAP = 5


def sparkline_path(values: np.ndarray, rect: QRect) -> QPainterPath:
    """The history as a path inside `rect`, scaled to its own range; finite runs are
    joined, NaNs break the line."""
    path = QPainterPath()
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if values.size < 2 or finite.sum() < 2:
        return path
    low, high = float(values[finite].min()), float(values[finite].max())
    span = high - low
    n = values.size
    x_step = rect.width() / max(n - 1, 1)
    drawing = False
    for i, value in enumerate(values):
        if not finite[i]:
            drawing = False
            continue
        fraction = 0.5 if span <= 1e-12 else (value - low) / span
        point = QPointF(rect.left() + i * x_step, rect.bottom() - fraction * rect.height())
        if drawing:
            path.lineTo(point)
        else:
            path.moveTo(point)
            drawing = True
    return path


class SparklineDelegate(QStyledItemDelegate):
    """Paints the cell's text and, right of it, its SPARKLINE_ROLE history."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        history = index.data(SPARKLINE_ROLE)
        if history is None:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        text = opt.text
        opt.text = ""
        # Background, selection and focus across the whole cell…
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        text_rect = opt.rect.adjusted(4, 0, -(SPARKLINE_WIDTH + _GAP), 0)
        line_rect = QRect(opt.rect.right() - SPARKLINE_WIDTH - 3, opt.rect.top() + 5,
                          SPARKLINE_WIDTH, max(opt.rect.height() - 10, 4))
        foreground = index.data(Qt.ItemDataRole.ForegroundRole)
        if selected:
            text_colour = opt.palette.color(QPalette.ColorRole.HighlightedText)
        elif foreground is not None:
            text_colour = QColor(foreground.color() if hasattr(foreground, "color")
                                 else foreground)
        else:
            text_colour = opt.palette.color(QPalette.ColorRole.Text)
        painter.save()
        # …then the number…
        painter.setPen(text_colour)
        painter.setFont(opt.font)
        elided = opt.fontMetrics.elidedText(text, Qt.TextElideMode.ElideRight, text_rect.width())
        painter.drawText(text_rect, int(opt.displayAlignment), elided)
        # …then its history.
        path = sparkline_path(history, line_rect)
        if not path.isEmpty():
            colour = index.data(SPARKLINE_COLOUR_ROLE)
            if selected or colour is None:
                # The text's own colour, a little muted: readable on light and dark rows.
                colour = QColor(text_colour)
                if not selected:
                    colour.setAlpha(150)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(QColor(colour), 1.3))
            painter.drawPath(path)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem,
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        size = super().sizeHint(option, index)
        if index.data(SPARKLINE_ROLE) is not None:
            size.setWidth(size.width() + SPARKLINE_WIDTH + _GAP)
        return size
