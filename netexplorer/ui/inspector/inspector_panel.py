"""The Inspector tab: every layer's statistics while the model trains, the layer ×
step heatmap, time series of chosen layers, the training doctor's alerts and
feature maps.

Data flow (docs/ARCHITECTURE.md): the session's reportsReady brings ProbeReports (plain
arrays); the panel appends them to its LayerHistory and marks its views dirty;
the window's RedrawClock redraws whichever of them is visible, at most ~30
times a second. A new run starts a fresh history. The probe's sampling
interval is set here and read by the session when a run starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QPalette, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from netexplorer.core.inspection import NONFINITE_KINDS, STAT_INDEX, ProbeReport
from netexplorer.core.reports import EpochReport, PausedReport, probe_of
from netexplorer.core.runs import RunHistory
from netexplorer.ui.icons import icon
from netexplorer.ui.inspector.diagnosis_view import DiagnosisView
from netexplorer.ui.inspector.distribution_view import DistributionView
from netexplorer.ui.inspector.feature_maps import FeatureMapView
from netexplorer.ui.inspector.layer_history import (
    FRACTION_STATS,
    LOG_STATS,
    LayerHistory,
    TimedAlert,
    finite_range,
    transformed,
)
from netexplorer.ui.inspector.layer_table import STAT_TITLES, TABLE_STATS, LayerTable, format_stat
from netexplorer.ui.settings import DEFAULT_PROBE_EVERY, MAX_PROBE_EVERY
from netexplorer.ui.widgets.accessibility import hint_label, named
from netexplorer.ui.widgets.colours import series_colour
from netexplorer.ui.widgets.heatmap import HeatmapView
from netexplorer.ui.widgets.plot_frame import PlotFrame, nice_bounds
from netexplorer.ui.widgets.plots import add_curve, live_grid, log_ticks, make_plot
from netexplorer.ui.widgets.redraw_clock import RedrawClock

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.ui.session.training_session import TrainingSession

# The layer table's numbers are read, not watched: redrawn at most twice a second
# (its sparklines and cells were most of the GUI thread's time with this tab showing).
TABLE_REDRAW_S = 0.5
# Its plots follow the probe's samples (about ten a second at the default interval)
# four times a second: each redraw of the three holds the GIL the training thread
# needs (0.25 s here: 2,856 -> 3,116 img/s with this tab showing, the training
# thread waiting 0.96 -> 0.73 s of a 6-epoch run).
PLOT_REDRAW_S = 0.25
# The selected layers' curves are 1 px: Qt strokes a wider line as an outline to fill,
# which for a noisy curve of a few hundred points made each redraw's paint ~2x as long
# (offscreen, 3 curves of 650 samples: 26 ms at 1.5 px, 13 ms at 1 px).
SERIES_WIDTH = 1.0
# The heatmap's choices, the most telling first: starving or exploding gradients,
# collapsing activations, dead units.
HEATMAP_STATS: tuple[str, ...] = ("grad_norm", "act_std", "dead", "act_norm", "act_mean",
                                  "act_zeros", "weight_grad_norm", "update_ratio", "weight_norm")


def _axis_title(stat: str) -> str:
    if stat in LOG_STATS:
        return f"{STAT_TITLES[stat]} (log scale)"
    if stat in FRACTION_STATS:
        return f"{STAT_TITLES[stat]} (%)"
    return STAT_TITLES[stat]


class InspectorPanel(QWidget):
    """See the module doc. `history` is what it shows; `table`, `heatmap`,
    `alert_list` and `feature_view` are its parts."""

    layerChosen = Signal(int)  # the person picked a layer (table, heatmap, alert)
    nonFiniteFound = Signal()  # a value went NaN/inf (training paused, or ended): look here
    probeSettingChanged = Signal(object)  # the sampling interval (int) or None (off)
    imageChosen = Signal(str, int)  # a click on the probe image or a diverged batch's image

    def __init__(self, session: TrainingSession, clock: RedrawClock,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "inspectorPanel", "Inspector")
        self._session = session
        self._clock = clock
        self.history = LayerHistory()
        self._run_every: int | None = None  # the running run's interval (None: no probe)
        self._run_number: int | None = None
        self._run: RunHistory | None = None
        self._followed = False  # the run shown is one another process writes
        self._pause_reasons: set[str] = set()
        # Curves are kept from run to run while the layers are the same (a new one,
        # with its legend entry, cost ~7 ms of the GUI thread at every run's start).
        self._series_curves: dict[int, pg.PlotDataItem] = {}
        self._curves_of: tuple[str, ...] = ()  # the layer names they were made for
        self._build()
        self._views = {
            "table": clock.register(self.table, self._redraw_table, TABLE_REDRAW_S),
            "series": clock.register(self.series_plot, self._redraw_series, PLOT_REDRAW_S),
            "heatmap": clock.register(self.heatmap, self._redraw_heatmap, PLOT_REDRAW_S),
            "distributions": clock.register(self.distribution_view,
                                            self._redraw_distributions, PLOT_REDRAW_S),
        }
        session.runStarted.connect(self._on_run_started)
        session.reportsReady.connect(self._on_reports)
        session.followedProbe.connect(self._on_followed_probe)
        session.runFinished.connect(self._on_run_finished)
        session.modelReplaced.connect(self._on_model_replaced)
        session.stateChanged.connect(self._on_state_changed)
        self._apply_probe_setting()
        self._refresh_status()

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        self.probe_check = named(QCheckBox("Probe layers while training"), "probeEnabledCheck",
                                 "Probe layers while training",
                                 "measure every layer's activations, gradients and weights on "
                                 "sampled steps (a small cost on those steps only)")
        self.probe_check.setChecked(True)
        self.probe_check.toggled.connect(self._on_probe_setting_changed)
        self.every_spin = named(QSpinBox(), "probeIntervalSpin", "Sample every N steps",
                                "how often the probe measures: every N training steps")
        self.every_spin.setRange(1, MAX_PROBE_EVERY)
        self.every_spin.setValue(DEFAULT_PROBE_EVERY)
        self.every_spin.setPrefix("every ")
        self.every_spin.setSuffix(" steps")
        self.every_spin.valueChanged.connect(self._on_probe_setting_changed)
        self.setting_hint = hint_label("", "probeSettingHint")
        self.setting_hint.setWordWrap(False)
        self.status_label = named(QLabel(), "inspectorStatus", "Inspector status")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        top = QHBoxLayout()
        top.addWidget(self.probe_check)
        top.addWidget(self.every_spin)
        top.addWidget(self.setting_hint)
        top.addStretch(1)
        top.addWidget(self.status_label)

        self.table = LayerTable(self.history)
        self.table.layersSelected.connect(self._on_layers_selected)
        self.table.clicked.connect(self._on_table_clicked)

        self.views = named(QTabWidget(), "inspectorViews", "Inspector views")
        self.views.setDocumentMode(True)
        self.views.addTab(self._build_series_page(), "Selected layers")
        self.views.addTab(self._build_heatmap_page(), "Heatmap and distributions")
        self.feature_view = FeatureMapView(self._session)
        self.feature_view.imageChosen.connect(self.imageChosen)
        self.views.addTab(self.feature_view, "Feature maps")
        self.alert_list = named(QListWidget(), "alertList", "Training doctor's alerts",
                                "what the training doctor noticed; click one to select its "
                                "layer")
        self.alert_list.setWordWrap(True)
        self.alert_list.setAlternatingRowColors(True)
        self.alert_list.setSpacing(2)
        self.alert_list.itemClicked.connect(self._on_alert_clicked)
        self.alert_list.itemActivated.connect(self._on_alert_clicked)
        self._alerts_tab = self.views.addTab(self.alert_list, "Alerts")
        self._clear_alerts()
        self.views.currentChanged.connect(self._on_view_changed)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("inspectorSplitter")
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.table)
        splitter.addWidget(self.views)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 360])  # a LeNet's twelve rows fit
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        self.diagnosis = DiagnosisView()
        self.diagnosis.imageChosen.connect(self.imageChosen)
        layout.addWidget(self.diagnosis)
        layout.addWidget(splitter, 1)

    def _stat_combo(self, object_name: str, accessible: str, stats: tuple[str, ...],
                    default: str) -> QComboBox:
        combo = named(QComboBox(), object_name, accessible)
        for stat in stats:
            combo.addItem(STAT_TITLES[stat], stat)
        combo.setCurrentIndex(combo.findData(default))
        return combo

    def _build_series_page(self) -> QWidget:
        self.series_combo = self._stat_combo("seriesStatCombo", "Statistic to plot",
                                             HEATMAP_STATS, "grad_norm")
        self.series_combo.currentIndexChanged.connect(self._on_series_stat_changed)
        self.series_hint = hint_label("", "seriesHint")
        self.series_plot = make_plot("layerSeriesPlot", "Selected layers over the steps",
                                     left=_axis_title("grad_norm"), bottom="step", log_y=True,
                                     legend=True)
        self.step_line = pg.InfiniteLine(angle=90, movable=False,
                                         pen=pg.mkPen(self.palette().color(
                                             QPalette.ColorRole.Highlight), width=1.5,
                                             style=Qt.PenStyle.DashLine))
        self.step_line.hide()
        self.series_plot.addItem(self.step_line, ignoreBounds=True)
        # Values of 10⁻³ and 10² side by side read better without a shared ×10ⁿ factor.
        self.series_plot.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
        # Redrawn four times a second while training: framed in round bounds, with a
        # cheap grid, so its axes are laid out again only when a bound moves.
        self._series_grid = live_grid(self.series_plot)
        self._series_frame = PlotFrame(self.series_plot, frame_x=True)
        self.series_plot.getPlotItem().getViewBox().sigRangeChanged.connect(
            self._on_series_range_changed)
        return _chart_page("Plot:", self.series_combo, self.series_hint, self.series_plot)

    def _build_heatmap_page(self) -> QWidget:
        self.heatmap_combo = self._stat_combo("heatmapStatCombo", "Statistic in the heatmap",
                                              HEATMAP_STATS, "grad_norm")
        self.heatmap_combo.currentIndexChanged.connect(self._on_heatmap_stat_changed)
        self.heatmap = HeatmapView("layerHeatmap", "Layers by steps", bottom="step",
                                   zoomable=True)
        self.heatmap.setToolTip("one row per layer, one column per sampled step; click a cell "
                                "to select that layer and step")
        self.heatmap.cellClicked.connect(self._on_heatmap_clicked)
        self.heatmap_detail = hint_label("Click a cell to select its layer and step.",
                                         "heatmapDetail")
        heatmap_page = _chart_page("Colour by:", self.heatmap_combo, self.heatmap_detail,
                                   self.heatmap)
        # The selected layer's distributions beside the heatmap, on the same steps.
        self.distribution_view = DistributionView(self.history)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("heatmapSplitter")
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(heatmap_page)
        splitter.addWidget(self.distribution_view)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.heatmap_page = splitter
        return splitter

    # ------------------------------------------------------------------ interface

    @property
    def probe_every(self) -> int | None:
        return self.every_spin.value() if self.probe_check.isChecked() else None

    def set_probe_every(self, every: int | None) -> None:
        """The sampling interval (None: no probe); takes effect at the next run."""
        self.probe_check.setChecked(every is not None)
        if every is not None:
            self.every_spin.setValue(max(1, min(int(every), MAX_PROBE_EVERY)))
        self._apply_probe_setting()

    def select_layer(self, index: int, step: int | None = None) -> None:
        """Select a layer here (table, plots) and tell the model panel."""
        if not 0 <= index < len(self.history.layers):
            return
        self.table.select_layers([index])
        if step is not None:
            self._show_step(index, step)
        self.layerChosen.emit(index)

    def _select_default_layers(self) -> None:
        """Until the person chooses, plot the layers with weights (conv, linear): their
        gradients are what usually tells a story."""
        rows = [info.index for info in self.history.layers if info.has_params]
        self.table.stats_model.refresh()  # the rows must exist to be selected
        self.table.select_layers(rows or [0], quiet=True)

    def mark_all_dirty(self) -> None:
        for view in self._views.values():
            self._clock.mark_dirty(view)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.mark_all_dirty()

    # ------------------------------------------------------------------ redraws

    def _redraw_table(self) -> None:
        self.table.refresh()

    def _redraw_series(self) -> None:
        stat = self.series_combo.currentData()
        names = tuple(self.history.names)
        if names and names != self._curves_of:  # another model's layers: its curves go
            self._remove_series_curves(list(self._series_curves))
            self._curves_of = names
        rows = [r for r in self.table.selected_layers() if r < len(names)]
        if names:
            self._remove_series_curves([c for c in self._series_curves if c not in rows])
        else:  # a run starting: the last one's curves stay, emptied, for it to fill
            rows = list(self._series_curves)
        for layer in rows:
            curve = self._series_curves.get(layer)
            if curve is None:
                curve = add_curve(self.series_plot, series_colour(layer), width=SERIES_WIDTH,
                                  name=names[layer])
                self._series_curves[layer] = curve
            steps, values = self.history.series(stat, layer)
            values = values.astype(np.float64)
            keep = np.isfinite(values) & ((values > 0) if stat in LOG_STATS else True)
            if stat in FRACTION_STATS:
                values = 100.0 * values
            curve.setData(steps[keep], values[keep], antialias=True)  # few points: smooth
        self._frame_series()
        self._set_series_ticks(stat)
        if not self.history.count:
            self.series_hint.setText("Train with the probe on: the statistics of the layers "
                                     "selected in the table are plotted here.")
        elif not rows:
            self.series_hint.setText("Select one or more layers in the table to plot them.")
        else:
            self.series_hint.setText(f"{len(rows)} layer{'s' if len(rows) > 1 else ''}, "
                                     f"{self.history.count:,} sampled steps")

    def _remove_series_curves(self, layers: list[int]) -> None:
        for layer in layers:
            self.series_plot.removeItem(self._series_curves.pop(layer))

    def _frame_series(self) -> None:
        """x spans the run's planned steps (beyond them, a round bound above the last
        sample) from the oldest sample kept; y the curves' values, in round bounds."""
        steps = self.history.ordered()[0]
        if not len(steps):
            return
        last = float(steps[-1])
        planned = float(self._run.planned_steps()) if self._run is not None else 0.0
        extent = planned if planned >= last else nice_bounds(0.0, last)[1]
        start = nice_bounds(float(steps[0]), extent)[0] if steps[0] > 0 else 0.0
        self._series_frame.frame([c.yData for c in self._series_curves.values()
                                  if c.yData is not None], extent, x_start=start)

    def _set_series_ticks(self, stat: str) -> None:
        """Readable ticks on a log axis: one label per decade (or 1-2-5) of the range
        shown."""
        if stat not in LOG_STATS:
            self._series_grid.set_ticks(None)
            return
        low, high = self.series_plot.getPlotItem().getViewBox().viewRange()[1]
        self._series_grid.set_ticks(log_ticks(low, high))

    def _redraw_heatmap(self) -> None:
        stat = self.heatmap_combo.currentData()
        steps, raw = self.history.matrix(stat)
        if not len(steps) or not len(self.history.layers):
            self.heatmap.clear("The layer × step heatmap fills in as the model trains with the "
                               "probe on.")
            return
        shown = transformed(stat, raw)
        levels = finite_range(shown, symmetric=stat == "act_mean")
        if stat in LOG_STATS:
            # An exact 0 (a layer getting no gradient at all) has no logarithm, but it is
            # the starving extreme, not "not measured": it takes the lowest colour.
            shown = np.where(np.asarray(raw) == 0, levels[0], shown)
        step_size = float(np.median(np.diff(steps))) if len(steps) > 1 else float(
            self._run_every or 1)
        names = self.history.names
        label = _axis_title(stat)

        def describe(row: int, column: int) -> str:
            return (f"{names[row]} at step {int(steps[column]):,}\n{STAT_TITLES[stat]}: "
                    f"{format_stat(stat, float(raw[row, column]))}\n(click to select)")

        self.heatmap.show_matrix(shown, row_labels=names, levels=levels, bar_label=label,
                                 x_start=float(steps[0]), x_step=step_size or 1.0,
                                 describe=describe, log_levels=stat in LOG_STATS,
                                 colormap="CET-D1" if stat == "act_mean" else "viridis")

    # ------------------------------------------------------------------ probe setting

    def _apply_probe_setting(self) -> None:
        self._session.probe_every = self.probe_every
        self._refresh_setting_hint()
        self.probeSettingChanged.emit(self.probe_every)

    def _refresh_setting_hint(self) -> None:
        every = self.probe_every
        self.every_spin.setEnabled(self.probe_check.isChecked())
        if self._session.active and every != self._run_every:
            now = (f"every {self._run_every} steps" if self._run_every else "no probe")
            self.setting_hint.setText(f"applies from the next run (this one: {now})")
        elif every is None:
            self.setting_hint.setText("no layer statistics are measured")
        else:
            self.setting_hint.setText("applies from the next run")

    def _refresh_status(self) -> None:
        count = self.history.count
        if self._run_number is None:
            text = "No run yet"
        elif count == 0:
            text = (f"Run {self._run_number}: waiting for the first sample"
                    if self._session.active and self._run_every is not None
                    else f"Run {self._run_number}: no layer statistics (probe off or no "
                         f"training)")
        else:
            steps = self.history.ordered()[0]
            kept = (f", the last {self.history.capacity:,} kept"
                    if count >= self.history.capacity else "")
            followed = " (followed)" if self._followed else ""
            text = (f"Run {self._run_number}{followed}: {count:,} sampled steps{kept} · step "
                    f"{int(steps[-1]):,}")
        alerts = len(self.history.alerts)
        if alerts:
            text += f" · {alerts} alert{'s' if alerts > 1 else ''}"
        self.status_label.setText(text)

    # ------------------------------------------------------------------ alerts

    def _add_alert(self, timed: TimedAlert) -> None:
        alert = timed.alert
        item = QListWidgetItem(icon("error" if alert.severity == "error" else "warning"),
                               f"{timed.clock} · step {alert.step:,} · {alert.layer}\n"
                               f"{alert.message}\n→ {alert.advice}")
        item.setData(Qt.ItemDataRole.UserRole, timed.layer_index)
        item.setData(Qt.ItemDataRole.UserRole + 1, alert.step)
        item.setToolTip(str(alert))
        if self.alert_list.count() and not self.alert_list.item(0).flags():
            self.alert_list.takeItem(0)  # the "no alerts" line
        self.alert_list.addItem(item)
        count = self.alert_list.count()
        self.views.setTabText(self._alerts_tab, f"Alerts ({count})")
        self.views.setTabIcon(self._alerts_tab, icon("error" if any(
            t.alert.severity == "error" for t in self.history.alerts) else "warning"))

    def _clear_alerts(self) -> None:
        self.alert_list.clear()
        self.views.setTabText(self._alerts_tab, "Alerts")
        self.views.setTabIcon(self._alerts_tab, icon("ok"))
        placeholder = QListWidgetItem(icon("ok"), "No alerts in this run: the training doctor "
                                      "watches for dead units, vanishing or exploding gradients, "
                                      "odd update sizes and NaN/inf values.")
        placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
        self.alert_list.addItem(placeholder)

    def _show_nonfinite(self, timed: TimedAlert | None) -> None:
        self.views.setCurrentWidget(self.alert_list)
        if timed is not None:
            for row in range(self.alert_list.count()):
                item = self.alert_list.item(row)
                if item.toolTip() == str(timed.alert):
                    self.alert_list.setCurrentItem(item)
            if timed.layer_index is not None:
                self.select_layer(timed.layer_index, timed.alert.step)
        self.nonFiniteFound.emit()

    def _redraw_distributions(self) -> None:
        rows = [r for r in self.table.selected_layers() if r < len(self.history.layers)]
        self.distribution_view.show_layer(rows[0] if rows else None)

    def _show_step(self, layer: int, step: int) -> None:
        self.step_line.setValue(step)
        self.step_line.show()
        self.distribution_view.show_step(step)
        values = self.history.at_step(step)
        name = self.history.layers[layer].name
        if values is None:
            self.heatmap_detail.setText(f"{name}, step {step:,}")
            return
        parts = [f"{STAT_TITLES[s].lower()} {format_stat(s, float(values[STAT_INDEX[s], layer]))}"
                 for s in TABLE_STATS if np.isfinite(values[STAT_INDEX[s], layer])]
        self.heatmap_detail.setText(f"{name} at step {step:,}: " + ", ".join(parts))

    # ------------------------------------------------------------------ reactions

    @Slot(object)
    def _on_run_started(self, run: RunHistory) -> None:
        self._followed = False
        self._show_run(run, self._session.probe_every)

    @Slot(object, object)
    def _on_followed_probe(self, run: RunHistory, probe: ProbeReport) -> None:
        """A run another process writes: its samples are shown while no run trains in
        this window (a run started here takes the inspector over)."""
        if self._session.active:
            return
        if run.number != self._run_number or not self._followed:
            self._followed = True
            self._show_run(run, None)
        self._take_probe(probe)
        self._probes_taken()

    def _show_run(self, run: RunHistory, every: int | None) -> None:
        """Start afresh for `run` (sampled every `every` steps, None: not known)."""
        self.history.reset()
        self._run_number = run.number
        self._run = run
        self._run_every = every
        self._pause_reasons.clear()
        self._clear_alerts()
        self.diagnosis.clear()
        self.step_line.hide()
        self.distribution_view.show_step(None)
        self.heatmap_detail.setText("Click a cell to select its layer and step.")
        self._refresh_setting_hint()
        self._refresh_status()
        self.mark_all_dirty()

    @Slot(object)
    def _on_reports(self, reports: list) -> None:
        changed = False
        nonfinite: TimedAlert | None = None
        paused_for_values = False
        for report in reports:
            probe = probe_of(report)  # (a pause or a stop may carry the last steps)
            if probe is not None:
                found = self._take_probe(probe)
                nonfinite = nonfinite or found
                changed = True
            if isinstance(report, EpochReport):
                self.feature_view.epoch_ended()
            elif isinstance(report, PausedReport) and report.reason in self._pause_reasons:
                paused_for_values = True
        if changed:
            self._probes_taken()
        if nonfinite is not None or paused_for_values:
            self._show_nonfinite(nonfinite)

    def _take_probe(self, probe: ProbeReport) -> TimedAlert | None:
        """Add one ProbeReport to the history and its alerts to the list; returns the
        first alert of values that stopped being finite numbers, if any."""
        nonfinite = None
        for timed in self.history.add(probe):
            self._add_alert(timed)
            if timed.alert.pause:
                self._pause_reasons.add(str(timed.alert))
            if timed.alert.kind in NONFINITE_KINDS and nonfinite is None:
                nonfinite = timed
        return nonfinite

    def _probes_taken(self) -> None:
        if not self.table.has_selection():
            self._select_default_layers()
        self._refresh_status()
        self.mark_all_dirty()

    @Slot(object)
    def _on_run_finished(self, run: Any) -> None:
        self._refresh_setting_hint()
        self._refresh_status()
        self.feature_view.model_changed()
        self.diagnosis.show_run(run)
        site = run.finished.nonfinite if run.finished is not None else None
        if site is not None:
            # The run ended at a divergence: bring its layer and its batch forward.
            if site.layer_index is not None:
                if site.layer_index < len(self.history.layers):
                    self.select_layer(site.layer_index)
                else:  # no probe samples: the model panel still shows the layer
                    self.layerChosen.emit(site.layer_index)
            self.nonFiniteFound.emit()

    @Slot()
    def _on_model_replaced(self) -> None:
        self.feature_view.model_changed()

    @Slot(str)
    def _on_state_changed(self, _state: str) -> None:
        self._refresh_setting_hint()

    @Slot()
    def _on_probe_setting_changed(self, *_args: Any) -> None:
        self.every_spin.setSuffix(" step" if self.every_spin.value() == 1 else " steps")
        self._apply_probe_setting()

    @Slot(object)
    def _on_layers_selected(self, _rows: list) -> None:
        self._clock.mark_dirty(self._views["series"])
        self._clock.mark_dirty(self._views["distributions"])

    @Slot(QModelIndex)
    def _on_table_clicked(self, index: QModelIndex) -> None:
        self.layerChosen.emit(index.row())

    @Slot(int)
    def _on_series_stat_changed(self, _index: int) -> None:
        stat = self.series_combo.currentData()
        item = self.series_plot.getPlotItem()
        item.setLogMode(y=stat in LOG_STATS)
        item.setLabel("left", _axis_title(stat))
        item.enableAutoRange()
        self._clock.mark_dirty(self._views["series"])

    @Slot(object, object, object)
    def _on_series_range_changed(self, _view: object, _ranges: object, _changed: object
                                 ) -> None:
        self._set_series_ticks(self.series_combo.currentData())  # a zoom: ticks for it

    @Slot(int)
    def _on_heatmap_stat_changed(self, _index: int) -> None:
        self._clock.mark_dirty(self._views["heatmap"])

    @Slot(int, int)
    def _on_heatmap_clicked(self, row: int, column: int) -> None:
        steps = self.history.ordered()[0]
        step = int(steps[column]) if column < len(steps) else None
        self.select_layer(row, step)

    @Slot(QListWidgetItem)
    def _on_alert_clicked(self, item: QListWidgetItem) -> None:
        layer = item.data(Qt.ItemDataRole.UserRole)
        step = item.data(Qt.ItemDataRole.UserRole + 1)
        if layer is not None:
            self.select_layer(int(layer), int(step) if step is not None else None)

    @Slot(int)
    def _on_view_changed(self, _index: int) -> None:
        self.mark_all_dirty()


def _chart_page(caption: str, chooser: QWidget, hint: QWidget, chart: QWidget) -> QWidget:
    """A page of the lower tabs: a labelled chooser with a hint above a chart."""
    row = QHBoxLayout()
    row.addWidget(QLabel(caption))
    row.addWidget(chooser)
    row.addWidget(hint, 1)
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.addLayout(row)
    layout.addWidget(chart, 1)
    return page
