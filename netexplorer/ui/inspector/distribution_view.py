"""One layer's distributions over the sampled steps — TensorBoard's distributions
view: for its activations, output gradients and weights, shaded bands between
percentiles of each step's histogram (the widest band from the smallest to the
largest value, then 7–93 %, 16–84 % and 31–69 %: a normal distribution's ±1.5,
±1 and ±½ σ), and the median as a line.

A distribution that collapses to zero, spreads without bound or drifts off
centre shows as a band that narrows, widens or walks; a value that stops being
finite is counted apart (the plot's title says how many), never drawn.
The histograms are the LayerHistory's; this view only reads them, on the
window's RedrawClock while it is visible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QVBoxLayout, QWidget

from netexplorer.core.formatting import plain
from netexplorer.core.inspection.distributions import (
    BAND_PERCENTILES,
    KIND_TITLES,
    KINDS,
    N_BINS,
    NONFINITE,
    beyond_range,
    percentiles,
)
from netexplorer.ui.inspector.layer_history import LayerHistory
from netexplorer.ui.widgets.accessibility import heading_label, hint_label, named
from netexplorer.ui.widgets.colours import series_colour
from netexplorer.ui.widgets.plots import make_plot

# A hue per kind (the Tableau colours the other plots use), and each band's
# opacity from the widest to the narrowest.
KIND_COLOURS = {"activations": 0, "gradients": 1, "weights": 4}
BAND_ALPHAS = (45, 75, 110, 150)
EMPTY = "Distributions fill in as the model trains with the probe on."


@dataclass
class _KindPlot:
    """One kind's plot: band edges as curve pairs, their fills, the median."""

    plot: pg.PlotWidget
    edges: list[pg.PlotCurveItem]  # one per percentile in BAND_PERCENTILES
    median: pg.PlotCurveItem
    step_line: pg.InfiniteLine


class DistributionView(QWidget):
    """`plots` maps each kind to its plot; `show_layer` draws one layer's."""

    def __init__(self, history: LayerHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "distributionView", "Distributions over steps",
              "the selected layer's activations, output gradients and weights: "
              "percentile bands of each sampled step's histogram")
        self._history = history
        self.layer: int | None = None
        self.heading = heading_label("Distributions", "distributionHeading")
        self.caption = hint_label(EMPTY, "distributionCaption")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.heading)
        layout.addWidget(self.caption)
        self.plots: dict[str, _KindPlot] = {}
        self.titles: dict[str, str] = {}
        for kind in KINDS:
            self.plots[kind] = self._make_plot(kind)
            layout.addWidget(self.plots[kind].plot, 1)
        first = self.plots[KINDS[0]].plot
        for kind in KINDS:  # one step axis, set by show_layer: step s lies above step s
            item = self.plots[kind].plot.getPlotItem()
            item.enableAutoRange(x=False)
            item.getAxis("bottom").enableAutoSIPrefix(False)
            if kind != KINDS[0]:
                item.setXLink(first)
        self.plots[KINDS[-1]].plot.getPlotItem().setLabel("bottom", "step")

    def _make_plot(self, kind: str) -> _KindPlot:
        plot = make_plot(f"{kind}DistributionPlot", f"{KIND_TITLES[kind]} over steps")
        plot.setMinimumHeight(110)
        item = plot.getPlotItem()
        item.setDownsampling(auto=False)
        item.setClipToView(False)  # the fills need whole curves
        item.getAxis("left").setWidth(52)
        colour = series_colour(KIND_COLOURS[kind])
        edges = [pg.PlotCurveItem(pen=pg.mkPen(None)) for _ in BAND_PERCENTILES]
        for curve in edges:
            plot.addItem(curve)
        last = len(edges) - 1
        for band, alpha in enumerate(BAND_ALPHAS):
            fill = QColor(colour)
            fill.setAlpha(alpha)
            plot.addItem(pg.FillBetweenItem(edges[band], edges[last - band], brush=fill))
        median = pg.PlotCurveItem(pen=pg.mkPen(colour.darker(130), width=1.6))
        plot.addItem(median)
        line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(
            self.palette().color(QPalette.ColorRole.Highlight), width=1.2,
            style=Qt.PenStyle.DashLine))
        line.hide()
        plot.addItem(line, ignoreBounds=True)
        return _KindPlot(plot, edges, median, line)

    # ------------------------------------------------------------------ interface

    def show_layer(self, layer: int | None) -> None:
        """Draw `layer`'s distributions from the history (None: the empty view)."""
        self.layer = layer
        history = self._history
        if layer is None or not 0 <= layer < len(history.layers):
            self._clear(EMPTY)
            return
        info = history.layers[layer]
        steps, cells = history.distributions(layer)
        self.heading.setText(f"Distributions of {info.name} ({info.kind})")
        if not len(steps):
            self._clear(EMPTY)
            return
        self.caption.setText(f"Bands: min–max, 7–93 %, 16–84 %, 31–69 %; line: the median. "
                             f"Titles: the newest step's median [16–84 %]. {len(steps):,} "
                             f"sampled steps, {steps[0]:,} to {steps[-1]:,}")
        for k, kind in enumerate(KINDS):
            self._draw(kind, steps, cells[:, k])
        span = max(float(steps[-1] - steps[0]), 1.0)
        self.plots[KINDS[0]].plot.setXRange(float(steps[0]) - 0.02 * span,
                                            float(steps[-1]) + 0.02 * span, padding=0)

    def show_step(self, step: int | None) -> None:
        """Mark one step (the heatmap's clicked cell) on every plot."""
        for kind_plot in self.plots.values():
            if step is None:
                kind_plot.step_line.hide()
            else:
                kind_plot.step_line.setValue(step)
                kind_plot.step_line.show()

    # ------------------------------------------------------------------ drawing

    def _clear(self, message: str) -> None:
        self.caption.setText(message)
        if self.layer is None:
            self.heading.setText("Distributions")
        for kind in KINDS:
            self._set_curves(kind, np.zeros(0), np.zeros((0, len(BAND_PERCENTILES))))
            self._set_title(kind, KIND_TITLES[kind])

    def _draw(self, kind: str, steps: np.ndarray, cells: np.ndarray) -> None:
        bins = cells[:, :N_BINS]
        present = bins.sum(axis=1) > 0
        if not present.any():
            self._set_curves(kind, np.zeros(0), np.zeros((0, len(BAND_PERCENTILES))))
            none = "no parameters" if kind == "weights" else "not measured"
            self._set_title(kind, f"{KIND_TITLES[kind]}: {none}")
            return
        values = percentiles(bins[present])
        self._set_curves(kind, steps[present].astype(np.float64), values)
        self._set_title(kind, _title(kind, values[-1], bins[present][-1],
                                     cells[present][-1, N_BINS:]))

    def _set_curves(self, kind: str, x: np.ndarray, values: np.ndarray) -> None:
        kind_plot = self.plots[kind]
        for j, curve in enumerate(kind_plot.edges):
            curve.setData(x, values[:, j])
        kind_plot.median.setData(x, values[:, BAND_PERCENTILES.index(50.0)])

    def _set_title(self, kind: str, text: str) -> None:
        self.titles[kind] = text
        colour = self.palette().color(QPalette.ColorRole.Text).name()
        self.plots[kind].plot.getPlotItem().setTitle(text, size="9pt", color=colour)


def _title(kind: str, latest: np.ndarray, bins: np.ndarray, nonfinite: np.ndarray) -> str:
    """The plot's title: what it shows, the newest step's median and middle band,
    and what the bins could not hold."""
    low, median, high = (latest[BAND_PERCENTILES.index(q)] for q in (15.87, 50.0, 84.13))
    parts = [f"<b>{KIND_TITLES[kind]}</b>  {plain(median)} "
             f"[{plain(low)}, {plain(high)}]"]
    beyond = int(beyond_range(bins))
    if beyond:
        parts.append(f"{beyond:,} beyond ±1e9")
    counted = [f"{int(n):,} {name}" for name, n in zip(NONFINITE, nonfinite) if n]
    if counted:
        parts.append("non-finite: " + ", ".join(counted))
    return " · ".join(parts)
