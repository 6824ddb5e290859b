"""The class-probability chart of an image's trace: one horizontal bar per class,
the prediction in the mistake colour when it is wrong and the first series colour
when right, the true class named as such, each bar's percentage written beside it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QPalette

from netexplorer.core.formatting import percent
from netexplorer.ui.widgets.colours import series_colour
from netexplorer.ui.widgets.plots import make_bar_chart

_RIGHT, _WRONG, _OTHER = series_colour(4), series_colour(2), series_colour(0)


class ProbabilityChart:
    """Owns its PlotWidget (`plot`); show() replaces what it draws."""

    def __init__(self) -> None:
        self.plot = make_bar_chart("probabilityChart", "Class probabilities",
                                   bottom="probability (%)")
        self._text = self.plot.palette().color(QPalette.ColorRole.Text)
        self._items: list[pg.GraphicsObject] = []
        self.probabilities = np.zeros(0, np.float32)

    def clear(self) -> None:
        item = self.plot.getPlotItem()
        for old in self._items:
            item.removeItem(old)
        self._items.clear()
        self.probabilities = np.zeros(0, np.float32)

    def show(self, probabilities: np.ndarray, classes: Sequence[str], predicted: int,
             label: int | None) -> None:
        self.clear()
        item = self.plot.getPlotItem()
        k = len(probabilities)
        self.probabilities = np.asarray(probabilities, np.float32)
        widths = 100.0 * np.nan_to_num(self.probabilities)
        right = label is None or predicted == label
        brushes = [(_RIGHT if right else _WRONG) if c == predicted else _OTHER
                   for c in range(k)]
        bars = pg.BarGraphItem(x0=np.zeros(k), y=np.arange(k), height=0.7, width=widths,
                               brushes=brushes, pen=pg.mkPen(None))
        item.addItem(bars)
        self._items.append(bars)
        for c, width in enumerate(widths):
            text = pg.TextItem(percent(float(self.probabilities[c])), color=self._text,
                               anchor=(0, 0.5))
            text.setPos(float(width) + 1.5, c)
            item.addItem(text)
            self._items.append(text)
        names = [str(classes[c]) if c < len(classes) else str(c) for c in range(k)]
        if label is not None and 0 <= label < k:
            names[label] = f"{names[label]} (true)"
        item.getAxis("left").setTicks([[(c, name) for c, name in enumerate(names)], []])
        item.setXRange(0, 130, padding=0)  # room for a full bar's percentage
        item.getAxis("bottom").setTicks([[(v, str(v)) for v in range(0, 101, 20)], []])
        item.setYRange(-0.6, k - 0.4, padding=0)
        self.plot.setToolTip("the model's probability for every class; the predicted class "
                             "is coloured — green when right, red when wrong")
