"""The live training plots: loss, accuracy and learning rate, for one run or an
overlay of several.

- Loss: every batch's loss, faint, under its running mean (bold — the
  tutorial's running loss) or, with the smoothing slider above 0, under its
  exponential moving average as TensorBoard draws it; the test loss after each
  epoch (dots). A linear axis is framed to the bulk of the values: a loss that
  exploded (2e24 after a divergence) is drawn as markers on the top edge, its
  value in their tooltip, instead of flattening every other point; the log-scale
  box shows it all.
- Accuracy: test accuracy after each epoch (bold, dots) and training accuracy
  over the epoch (dashed), on 0–100 %.
- Learning rate: as the schedule (and any change while paused) set it.

All three share an x axis in epochs (a batch at step s of a run with B batches
per epoch sits at s / B), so runs with different batch sizes line up, and the
axes are linked: zooming one zooms all. Views pull: reports only mark the plots
dirty; the shared RedrawClock calls redraw() at most 30 times a second, and a
curve is handed new arrays only when its run has new points.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from netexplorer.core.smoothing import MAX_WEIGHT, EmaSmoother
from netexplorer.ui.training.runs_list import run_colour
from netexplorer.ui.widgets.accessibility import named
from netexplorer.ui.widgets.colours import faint
from netexplorer.ui.widgets.plot_frame import PlotFrame
from netexplorer.ui.widgets.plots import add_curve, live_grid, make_plot
from netexplorer.ui.widgets.redraw_clock import RedrawClock

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.core.runs import RunHistory

# Pacing of redraws while a run streams in (see _Pacer).
PLOT_BUDGET = 0.03  # share of the GUI thread each plot may spend redrawing
MIN_INTERVAL_S = 0.1
MAX_INTERVAL_S = 2.0
BATCH_ALPHA = 80  # the per-batch loss under its running mean
RUNNING_WIDTH = 2.0  # thick lines cost: 2.5 px draws ~4× slower than 1 px
EPOCH_WIDTH = 1.5
# A linear loss axis ends at CEILING_FACTOR × the 90th percentile of the values
# when some go beyond it: those are drawn as markers on the top edge.
CEILING_FACTOR = 10.0
EXPLOSION_DECADES = 2.0
SMOOTHING_STEPS = 100  # the slider's resolution: weights 0.00 … 0.99


@dataclass
class _RunCurves:
    """One run's curves in the three plots, and how much of it they show."""

    batch: pg.PlotDataItem
    running: pg.PlotDataItem
    test_loss: pg.PlotDataItem
    test_accuracy: pg.PlotDataItem
    train_accuracy: pg.PlotDataItem
    lr: pg.PlotDataItem
    off_scale: pg.ScatterPlotItem  # losses above the linear axis, on its top edge
    smoother: EmaSmoother | None = None

    def items(self) -> tuple[pg.GraphicsObject, ...]:
        return (self.batch, self.running, self.test_loss, self.test_accuracy,
                self.train_accuracy, self.lr, self.off_scale)


def _dashed(curve: pg.PlotDataItem, colour, width: float) -> None:
    curve.setPen(pg.mkPen(colour, width=width, style=Qt.PenStyle.DashLine))


def _finite(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop non-finite points (curves skip pyqtgraph's own finite check)."""
    keep = np.isfinite(y)
    return (x, y) if keep.all() else (x[keep], y[keep])


def _shown(x: np.ndarray, y: np.ndarray, positive: bool) -> tuple[np.ndarray, np.ndarray]:
    """The finite points, and only the positive ones for a log axis."""
    x, y = _finite(x, y)
    if positive:
        keep = y > 0
        if not keep.all():
            x, y = x[keep], y[keep]
    return x, y


def loss_ceiling(values: Sequence[np.ndarray]) -> float | None:
    """Where a linear loss axis should end so that an explosion does not flatten the
    rest, or None when every value fits (the axis then shows them all).

    An explosion is a jump of at least EXPLOSION_DECADES between neighbours in the
    upper half of the sorted values (2.3 … then 2e12): the axis ends a little above
    the value before the jump. Without such a jump, values beyond CEILING_FACTOR ×
    the 90th percentile are the few that ran away."""
    finite = [v[np.isfinite(v)] for v in map(np.asarray, values) if np.size(v)]
    finite = [v for v in finite if v.size]
    if not finite:
        return None
    every = np.sort(np.concatenate(finite))
    upper = every[every.size // 2:]
    upper = upper[upper > 0]
    if upper.size >= 2:
        jumps = np.flatnonzero(np.diff(np.log10(upper)) >= EXPLOSION_DECADES)
        if jumps.size:  # the first jump: everything past it ran away
            return float(upper[jumps[0]]) * 1.5
    typical = float(np.percentile(every, 90))
    if typical <= 0:
        return None
    ceiling = CEILING_FACTOR * typical
    return ceiling if float(every[-1]) > ceiling else None


def _off_scale_tip(x: float, y: float, data: float) -> str:
    return f"loss {data:.4g} at epoch {x:.2f}: above the axis (tick Log scale to see it)"


class _Pacer:
    """Keeps one plot's redraws within a share of the GUI thread.

    While a run streams in, the plot is redrawn at most every cost / PLOT_BUDGET
    seconds (within MIN_INTERVAL_S and MAX_INTERVAL_S), where cost is what its
    last redraw took: handing over the arrays plus painting. Painting a
    pyqtgraph plot runs Python and holds the GIL, which the training thread needs
    too; measured here, unpaced redraws took a quarter of the GUI thread and slowed
    training by as much. A fast machine draws cheaply and so redraws often.
    """

    def __init__(self, plot: pg.PlotWidget, draw: Callable[[RunHistory, _RunCurves], None],
                 signature: Callable[[RunHistory], tuple], frame: Callable[[], None]) -> None:
        self.plot = plot
        self._draw = draw
        self._frame = frame
        self._signature = signature
        self._drawn: dict[int, tuple] = {}  # run number → what it showed when last drawn
        self.cost = 0.0  # seconds, a running mean of recent redraws
        self.next_at = 0.0
        self._painting = 0.0
        original = plot.paintEvent

        def timed_paint(event, _original=original) -> None:
            began = time.perf_counter()
            _original(event)
            self._painting += time.perf_counter() - began

        plot.paintEvent = timed_paint  # per instance: pyqtgraph's paintEvent is Python

    def stale(self, runs: Sequence[RunHistory]) -> bool:
        return any(self._drawn.get(run.number) != self._signature(run) for run in runs)

    def update(self, runs: Sequence[RunHistory], curves: dict[int, _RunCurves],
               now: float) -> None:
        began = time.perf_counter()
        for run in runs:
            signature = self._signature(run)
            if self._drawn.get(run.number) != signature:
                self._draw(run, curves[run.number])
                self._drawn[run.number] = signature
        self._frame()
        cost = time.perf_counter() - began + self._painting  # + the last redraw's paints
        self._painting = 0.0
        self.cost = cost if not self.cost else 0.5 * (self.cost + cost)
        self.next_at = now + min(max(self.cost / PLOT_BUDGET, MIN_INTERVAL_S), MAX_INTERVAL_S)

    def forget(self, number: int) -> None:
        self._drawn.pop(number, None)


class TrainingPlots(QWidget):
    """set_runs(runs) chooses what is drawn; mark_dirty() after new reports."""

    def __init__(self, clock: RedrawClock, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._smoothing = 0.0
        self._ceiling: float | None = None  # the linear loss axis's top, when it clips
        self._runs: list[RunHistory] = []
        self.loss_plot = make_plot("lossPlot", "Loss", left="loss", bottom="epoch",
                                   legend=True)
        self.accuracy_plot = make_plot("accuracyPlot", "Accuracy", left="accuracy (%)",
                                       bottom="epoch", legend=True)
        self.lr_plot = make_plot("lrPlot", "Learning rate", left="learning rate",
                                 bottom="epoch")
        for plot in (self.loss_plot, self.accuracy_plot, self.lr_plot):
            live_grid(plot)
            for side in ("left", "bottom"):  # "0.05", not "50" with "(x0.001)" in the title
                plot.getPlotItem().getAxis(side).enableAutoSIPrefix(False)
        for plot in (self.accuracy_plot, self.lr_plot):
            plot.setXLink(self.loss_plot)
        self.loss_plot.setMinimumSize(260, 160)
        for plot in (self.accuracy_plot, self.lr_plot):
            plot.setMinimumSize(200, 100)

        right = QSplitter(Qt.Orientation.Vertical)
        right.setChildrenCollapsible(False)
        right.addWidget(self.accuracy_plot)
        right.addWidget(self.lr_plot)
        right.setSizes([3, 2])
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("trainingPlotsSplitter")
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.loss_plot)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(self._build_view_controls())
        layout.addWidget(splitter, 1)

        self._curves: dict[int, _RunCurves] = {}
        self._frames = {plot: PlotFrame(plot, frame_x=plot is self.loss_plot)
                        for plot in (self.loss_plot, self.accuracy_plot, self.lr_plot)}
        self._pacers = (
            _Pacer(self.loss_plot, self._draw_loss,
                   lambda r: (len(r.losses), len(r.running_losses), len(r.epochs),
                              r.steps_per_epoch(), self._smoothing, self.log_loss),
                   self._frame_loss),
            _Pacer(self.lr_plot, self._draw_lr, lambda r: (len(r.lrs), r.steps_per_epoch()),
                   self._frame_lr),
            _Pacer(self.accuracy_plot, self._draw_accuracy, lambda r: (len(r.epochs),),
                   self._frame_accuracy),
        )
        self._clock = clock
        self._view = clock.register(self, self.redraw)

    def _build_view_controls(self) -> QHBoxLayout:
        """Smoothing and the loss axis's scale, in sight rather than in a menu."""
        self.smoothing_slider = named(QSlider(Qt.Orientation.Horizontal), "smoothingSlider",
                                      "Smoothing",
                                      "smooth the batch loss as TensorBoard does (an "
                                      "exponential moving average); 0 shows the running "
                                      "mean of each reporting interval instead")
        self.smoothing_slider.setRange(0, SMOOTHING_STEPS - 1)
        self.smoothing_slider.setMaximumWidth(160)
        self.smoothing_slider.valueChanged.connect(self._on_smoothing_changed)
        self.smoothing_label = named(QLabel(), "smoothingValue", "Smoothing weight")
        self.smoothing_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("0.00 ") + 2)
        self.log_check = named(QCheckBox("Log scale"), "logLossCheck", "Log scale",
                               "draw the loss on a log axis: a loss that fell by decades, "
                               "or exploded, reads in full")
        self.log_check.toggled.connect(self._on_log_toggled)
        row = QHBoxLayout()
        row.setContentsMargins(2, 0, 2, 0)
        row.addWidget(QLabel("Smoothing"))
        row.addWidget(self.smoothing_slider)
        row.addWidget(self.smoothing_label)
        row.addSpacing(12)
        row.addWidget(self.log_check)
        row.addStretch(1)
        self._show_smoothing()
        return row

    # ------------------------------------------------------------------ interface

    @property
    def runs(self) -> list[RunHistory]:
        return list(self._runs)

    @property
    def smoothing(self) -> float:
        return self._smoothing

    def set_smoothing(self, weight: float) -> None:
        """The batch loss's smoothing weight, 0 (the running mean) to 0.99."""
        self.smoothing_slider.setValue(round(min(max(weight, 0.0), MAX_WEIGHT) *
                                             SMOOTHING_STEPS))

    @property
    def log_loss(self) -> bool:
        return self.log_check.isChecked()

    @property
    def ceiling(self) -> float | None:
        """The linear loss axis's top while it clips exploded values, else None."""
        return self._ceiling

    def set_runs(self, runs: Sequence[RunHistory]) -> None:
        """Draw these runs (the last one on top); others' curves are removed."""
        runs = list(runs)
        if [r.number for r in runs] == [r.number for r in self._runs]:
            return
        keep = {r.number for r in runs}
        spare = []  # the curves of runs no longer shown, for the runs now shown
        for number in [n for n in self._curves if n not in keep]:
            spare.append(self._curves.pop(number))
            for pacer in self._pacers:
                pacer.forget(number)
        for run in runs:
            if run.number not in self._curves:
                curves = spare.pop() if spare else self._add()
                self._style(curves, run_colour(run.number))
                self._curves[run.number] = curves
        for curves in spare:
            self._remove(curves)
        for depth, run in enumerate(runs):
            for item in self._curves[run.number].items():
                item.setZValue(depth)
        self._runs = runs
        self._relabel()
        self._frame_loss()
        self._frame_accuracy()
        self._frame_lr()
        self.mark_dirty()

    def mark_dirty(self) -> None:
        self._clock.mark_dirty(self._view)

    def refresh_frames(self) -> None:
        """A shown run's data arrived all at once (read from the store): frame again."""
        self._frame_loss()
        self._frame_accuracy()
        self._frame_lr()

    def flush(self) -> None:
        """Draw everything new now, whatever the pacing (screenshots, tests, the view
        becoming visible)."""
        now = time.perf_counter()
        for pacer in self._pacers:
            if pacer.stale(self._runs):
                pacer.update(self._runs, self._curves, now)

    def pacer_of(self, plot: pg.PlotWidget) -> _Pacer:
        """The pacer of one of the three plots (benchmarks time its redraws)."""
        return next(pacer for pacer in self._pacers if pacer.plot is plot)

    def curves_of(self, number: int) -> _RunCurves | None:
        """A shown run's curves (tests and screenshots look at their data)."""
        return self._curves.get(number)

    def redraw(self) -> None:
        """Hand new points to one plot whose runs have them (RedrawClock calls this).

        While a run streams in: one plot per tick (the others' turn is the next tick),
        each at most as often as its pacer allows. A plot whose pacer says "not yet"
        is drawn on a tick after a later report; the run's last report (paused,
        finished) draws everything at once.
        """
        live = any(run.finished is None and not run.paused for run in self._runs)
        now = time.perf_counter()
        due = [pacer for pacer in self._pacers
               if pacer.stale(self._runs) and (not live or pacer.next_at <= now)]
        if not due:
            return
        due.sort(key=lambda pacer: pacer.next_at)
        chosen = due[:1] if live else due
        for pacer in chosen:
            pacer.update(self._runs, self._curves, now)
        if len(due) > len(chosen):
            self.mark_dirty()

    def _draw_loss(self, run: RunHistory, curves: _RunCurves) -> None:
        scale = 1.0 / run.steps_per_epoch()
        steps, losses = run.steps.values * scale, run.losses.values
        if self._smoothing:
            if curves.smoother is None or curves.smoother.weight != self._smoothing:
                curves.smoother = EmaSmoother(self._smoothing)
            line = (steps, curves.smoother.extend(losses))
        else:
            line = (run.running_steps.values * scale, run.running_losses.values)
        epochs = run.epoch_arrays()
        test = _finite(epochs["epoch"], epochs["test_loss"])
        positive = self.log_loss  # a log axis has no place for 0 or below
        curves.batch.setData(*_shown(steps, losses, positive))
        curves.running.setData(*_shown(*line, positive))
        curves.test_loss.setData(*_shown(*test, positive))

    def _draw_accuracy(self, run: RunHistory, curves: _RunCurves) -> None:
        epochs = run.epoch_arrays()
        x = epochs["epoch"]
        curves.test_accuracy.setData(*_finite(x, 100 * epochs["test_accuracy"]))
        curves.train_accuracy.setData(*_finite(x, 100 * epochs["train_accuracy"]))

    def _draw_lr(self, run: RunHistory, curves: _RunCurves) -> None:
        curves.lr.setData(*_finite(run.lr_steps.values / run.steps_per_epoch(), run.lrs.values))

    # ------------------------------------------------------------------ curves

    def _add(self) -> _RunCurves:
        """A run's curves, unstyled (see _style). Made only when a run is shown with no
        other run's to take over: a new curve, legend and all, costs ~3 ms of the GUI
        thread, and each Train click replaced a run's seven."""
        black = QColor("black")
        off_scale = pg.ScatterPlotItem(symbol="t1", size=9, pen=None, hoverable=True,
                                       tip=_off_scale_tip)
        self.loss_plot.getPlotItem().addItem(off_scale, ignoreBounds=True)
        return _RunCurves(add_curve(self.loss_plot, black),
                          add_curve(self.loss_plot, black),
                          add_curve(self.loss_plot, black, symbol="o"),
                          add_curve(self.accuracy_plot, black, symbol="o"),
                          add_curve(self.accuracy_plot, black),
                          add_curve(self.lr_plot, black), off_scale)

    @staticmethod
    def _style(curves: _RunCurves, colour: QColor) -> None:
        """A run's colour on its curves, emptied (they may have shown another run)."""
        curves.batch.setPen(pg.mkPen(faint(colour, BATCH_ALPHA), width=1))
        curves.running.setPen(pg.mkPen(colour, width=RUNNING_WIDTH))
        _dashed(curves.test_loss, colour, EPOCH_WIDTH)
        curves.test_accuracy.setPen(pg.mkPen(colour, width=RUNNING_WIDTH))
        _dashed(curves.train_accuracy, colour, EPOCH_WIDTH)
        curves.lr.setPen(pg.mkPen(colour, width=2))
        for curve in (curves.test_loss, curves.test_accuracy):
            curve.setSymbolBrush(colour)
        for curve in curves.items()[:-1]:
            curve.setData([], [])
        curves.off_scale.setData([])
        curves.off_scale.setBrush(pg.mkBrush(colour))
        curves.smoother = None

    def _remove(self, curves: _RunCurves) -> None:
        for plot, items in ((self.loss_plot, (curves.batch, curves.running, curves.test_loss,
                                              curves.off_scale)),
                            (self.accuracy_plot, (curves.test_accuracy, curves.train_accuracy)),
                            (self.lr_plot, (curves.lr,))):
            for item in items:
                plot.getPlotItem().removeItem(item)

    # ------------------------------------------------------------------ framing

    def _epochs_shown(self) -> float:
        """The x axis spans the whole planned run from the start: the curves grow into
        a fixed frame instead of the axis stretching at every report."""
        return float(max((max(run.config.epochs, len(run.epochs)) for run in self._runs),
                         default=1))

    def _frame_loss(self) -> None:
        values = []
        for run in self._runs:
            values += [run.losses.values, run.running_losses.values,
                       np.array([e.test_loss for e in run.epochs], dtype=np.float64)]
        self._ceiling = None if self.log_loss else loss_ceiling(values)
        if self._ceiling is not None:
            values = [np.minimum(v, self._ceiling) for v in values]
        self._frames[self.loss_plot].frame(values, self._epochs_shown(), from_zero=True)
        for run in self._runs:
            self._mark_off_scale(run, self._curves[run.number])

    def _mark_off_scale(self, run: RunHistory, curves: _RunCurves) -> None:
        """Batch losses above the ceiling, as markers on the axis's top edge."""
        if self._ceiling is None:
            curves.off_scale.setData([], [])
            return
        losses = run.losses.values
        above = np.flatnonzero(losses > self._ceiling)
        top = self.loss_plot.getPlotItem().getViewBox().viewRange()[1][1]
        x = run.steps.values[above] / run.steps_per_epoch()
        curves.off_scale.setData(x=x, y=np.full(above.size, top),
                                 data=[float(v) for v in losses[above]])

    def _frame_accuracy(self) -> None:
        # Always 0–100 %: a run at chance reads as 10 %, not as a curve filling the axis.
        self._frames[self.accuracy_plot].frame([np.array([0.0, 100.0])])

    def _frame_lr(self) -> None:
        self._frames[self.lr_plot].frame([run.lrs.values for run in self._runs], from_zero=True)

    def _relabel(self) -> None:
        """One run: the legend names the kinds of line. Several: it names the runs."""
        loss_legend = self.loss_plot.getPlotItem().legend
        accuracy_legend = self.accuracy_plot.getPlotItem().legend
        loss_legend.clear()
        accuracy_legend.clear()
        if len(self._runs) == 1:
            curves = self._curves[self._runs[0].number]
            loss_legend.addItem(curves.batch, "batch")
            loss_legend.addItem(curves.running, f"smoothed ({self._smoothing:.2f})"
                                if self._smoothing else "running mean")
            loss_legend.addItem(curves.test_loss, "test (per epoch)")
            accuracy_legend.addItem(curves.test_accuracy, "test")
            accuracy_legend.addItem(curves.train_accuracy, "training")
            return
        for run in self._runs:
            curves = self._curves[run.number]
            loss_legend.addItem(curves.running, f"run {run.number}")
            accuracy_legend.addItem(curves.test_accuracy, f"run {run.number}")

    # ------------------------------------------------------------------ controls

    def _show_smoothing(self) -> None:
        self.smoothing_label.setText(f"{self._smoothing:.2f}")
        self._relabel_line()

    @Slot(int)
    def _on_smoothing_changed(self, value: int) -> None:
        self._smoothing = value / SMOOTHING_STEPS
        self._show_smoothing()
        self.flush()

    @Slot(bool)
    def _on_log_toggled(self, log: bool) -> None:
        self.loss_plot.getPlotItem().setLogMode(y=log)
        self._frame_loss()
        self.flush()

    def _relabel_line(self) -> None:
        if len(self._runs) == 1:
            self._relabel()

    # ------------------------------------------------------------------ events

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.flush()  # hidden views are skipped by the clock: catch up now
