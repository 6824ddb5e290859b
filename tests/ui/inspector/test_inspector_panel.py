"""The Inspector tab after real (tiny) runs: the table, the heatmap, alerts, the probe
setting, non-finite pauses, feature maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidget, QTableView, QWidget

from netexplorer.core.inspection import ProbeReport
from netexplorer.core.inspection.probe import HISTOGRAM_EVERY
from netexplorer.ui.inspector.inspector_panel import InspectorPanel
from netexplorer.ui.inspector.layer_table import TABLE_STATS
from netexplorer.ui.settings import DEFAULT_PROBE_EVERY
from netexplorer.ui.widgets.plots import log_ticks
from tests.ui.debugging_helpers import click_cell, open_poisoned_checkpoint, train

LENET_LAYERS = ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc1",
                "relu3", "fc2", "relu4", "fc3"]


def inspector(window) -> InspectorPanel:
    panel = window.inspector_panel
    assert isinstance(panel, InspectorPanel)
    return panel


def show(window, qtbot, panel: InspectorPanel, page: QWidget | None = None) -> None:
    window.tabs.setCurrentWidget(panel)
    if page is not None:
        panel.views.setCurrentWidget(page)
    window.redraw_clock.redraw_now()


def cell_text(table: QTableView, row: int, column: int) -> str:
    return table.model().index(row, column).data()


def test_the_tab_and_its_named_parts_exist(window):
    panel = inspector(window)
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert "Inspector" in titles and "Evaluation" in titles
    for name in ("inspectorTable", "layerHeatmap", "alertList", "featureMapView"):
        assert window.findChild(QWidget, name) is not None, name
    assert window.session.probe_every == DEFAULT_PROBE_EVERY
    assert panel.table.model().rowCount() == 0  # nothing before a run


def test_after_a_short_run_every_layer_has_a_row_of_finite_numbers(window, qtbot):
    panel = inspector(window)
    panel.set_probe_every(3)
    run = train(qtbot, window)
    show(window, qtbot, panel)
    table = panel.table
    model = table.model()
    assert model.rowCount() == len(LENET_LAYERS)
    assert [cell_text(table, r, 0) for r in range(model.rowCount())] == LENET_LAYERS
    assert cell_text(table, 0, 1) == "6×28×28" and cell_text(table, 11, 1) == "10"
    steps = run.last_step.step
    assert panel.history.count == len(range(0, steps, 3))  # steps 0, 3, 6, …
    for stat in ("act_norm", "act_std", "grad_norm"):
        assert np.isfinite(panel.history.latest(stat)).all(), stat
    params = [i for i, info in enumerate(panel.history.layers) if info.has_params]
    assert params == [0, 3, 7, 9, 11]
    for stat in ("weight_norm", "weight_grad_norm", "update_ratio"):
        assert np.isfinite(panel.history.latest(stat)[params]).all(), stat
    # Shown for reading: short engineering numbers, never twelve digits.
    for row in range(model.rowCount()):
        for column, stat in enumerate(TABLE_STATS, start=2):
            text = cell_text(table, row, column)
            assert len(text) <= 7, (row, stat, text)
            if stat in ("act_norm", "act_std", "grad_norm"):
                assert text not in ("–", "∞", "−∞"), (row, stat)
    assert "%" in cell_text(table, 1, 2 + TABLE_STATS.index("dead"))  # relu1's dead units
    # Every statistic cell carries its sparkline history once there are two samples.
    from netexplorer.ui.widgets.sparkline import SPARKLINE_ROLE

    line = model.index(0, 2).data(SPARKLINE_ROLE)
    assert line is not None and len(line) == min(panel.history.count, 64)


def test_heatmap_is_layers_by_sampled_steps_and_a_click_selects_layer_and_step(window, qtbot):
    panel = inspector(window)
    panel.set_probe_every(2)
    train(qtbot, window)
    show(window, qtbot, panel, panel.heatmap_page)
    heatmap = panel.heatmap
    qtbot.waitUntil(lambda: heatmap.shape == (12, panel.history.count), timeout=5_000)
    steps = panel.history.ordered()[0]
    assert list(steps) == list(range(0, int(steps[-1]) + 1, 2))
    for stat in ("act_std", "dead", "act_mean"):
        panel.heatmap_combo.setCurrentIndex(panel.heatmap_combo.findData(stat))
        window.redraw_clock.redraw_now()
        assert heatmap.shape == (12, len(steps)), stat
    chosen = []
    panel.layerChosen.connect(chosen.append)
    click_cell(qtbot, heatmap, 3, 5)
    assert heatmap.selected == (3, 5)
    assert panel.table.selected_layers() == [3]
    assert chosen == [3]
    assert window.model_panel.selected_index == 3
    assert panel.step_line.value() == steps[5]
    assert "conv2" in panel.heatmap_detail.text() and f"step {steps[5]}" in \
        panel.heatmap_detail.text()
    assert "conv2" in heatmap.describe(3, 5)
    # Beside it, the selected layer's distributions over the same steps: every
    # other sampled one (histograms at least HISTOGRAM_EVERY = 4 steps apart).
    window.redraw_clock.redraw_now()
    view = panel.distribution_view
    assert view.layer == 3 and "conv2 (conv2d)" in view.heading.text()
    for kind in ("activations", "gradients", "weights"):
        x, median = view.plots[kind].median.getData()
        assert list(x) == [s for s in steps if s % HISTOGRAM_EVERY == 0], kind
        assert np.isfinite(median).all(), kind
        assert view.titles[kind].startswith("<b>"), kind  # the newest median, its band
        assert view.plots[kind].step_line.value() == steps[5]
    low, high = (view.plots["weights"].edges[j].getData()[1] for j in (0, -1))
    assert (low < 0).all() and (high > 0).all()  # initial weights lie either side of 0
    window.resize(1400, 900)
    panel.grab().save("/tmp/hist.png")
    # A layer without weights says so.
    click_cell(qtbot, heatmap, 4, 5)
    window.redraw_clock.redraw_now()
    assert view.layer == 4 and view.titles["weights"] == "Weights and biases: no parameters"
    x, _ = view.plots["weights"].median.getData()
    assert x is None or len(x) == 0


def test_selected_layers_are_plotted_over_the_steps(window, qtbot):
    panel = inspector(window)
    panel.set_probe_every(2)
    train(qtbot, window)
    show(window, qtbot, panel)
    # By default the layers with weights are plotted.
    assert panel.table.selected_layers() == [0, 3, 7, 9, 11]
    panel.table.select_layers([1, 8])
    window.redraw_clock.redraw_now()
    curves = panel._series_curves
    assert sorted(curves) == [1, 8]
    x, y = curves[8].xData, curves[8].yData  # as given (getData is log-transformed)
    assert len(x) == panel.history.count and np.all(y > 0)
    assert panel.series_plot.getPlotItem().ctrl.logYCheck.isChecked()  # a norm: log scale
    panel.series_combo.setCurrentIndex(panel.series_combo.findData("act_mean"))
    window.redraw_clock.redraw_now()
    assert not panel.series_plot.getPlotItem().ctrl.logYCheck.isChecked()


def test_the_series_plot_is_framed_and_its_axes_are_laid_out_only_when_a_bound_moves(
        window, qtbot):
    panel = inspector(window)
    panel.set_probe_every(2)
    run = train(qtbot, window)
    show(window, qtbot, panel)
    plot = panel.series_plot.getPlotItem()
    view = plot.getViewBox()
    (x0, x1), (y0, y1) = view.viewRange()
    planned = run.planned_steps()
    assert planned == run.last_step.step  # it trained to its plan
    assert x0 < 0 and planned < x1 < 1.05 * planned  # the planned steps, from the first
    shown = np.concatenate([np.log10(c.yData) for c in panel._series_curves.values()])
    assert y0 < shown.min() and shown.max() < y1  # every value inside, in round bounds
    assert not any(view.autoRangeEnabled())  # pyqtgraph does not re-fit at each paint
    # One label per decade of the range shown, and the grid's lines on those labels.
    major = plot.getAxis("left")._tickLevels[0]
    assert major == log_ticks(y0, y1)[0] and len(major) >= 1
    assert panel._series_grid._ys == [v for v, _ in major if y0 <= v <= y1]
    # A new sample inside the bounds: nothing moves, the axes keep their pictures.
    panel.series_plot.grab()
    axes = (plot.getAxis("left"), plot.getAxis("bottom"))
    pictures = [axis.picture for axis in axes]
    assert None not in pictures
    steps, values = panel.history.ordered()
    panel.history.add(ProbeReport(panel.history.layers, np.array([int(steps[0]) + 1]),
                                  values[:1].copy()))
    panel.mark_all_dirty()
    window.redraw_clock.redraw_now()
    panel.series_plot.grab()
    assert len(panel._series_curves[0].xData) == panel.history.count  # it was redrawn
    assert view.viewRange() == [[x0, x1], [y0, y1]]
    assert all(axis.picture is picture for axis, picture in zip(axes, pictures))


def test_a_second_run_of_the_model_keeps_the_curves_and_fills_them_afresh(window, qtbot):
    panel = inspector(window)
    panel.set_probe_every(2)
    before = train(qtbot, window)
    show(window, qtbot, panel)
    first = dict(panel._series_curves)
    assert sorted(first) == [0, 3, 7, 9, 11]
    train(qtbot, window, epochs=2)  # the same layers: the same curves, the new samples
    window.redraw_clock.redraw_now()
    assert panel._series_curves == first
    assert all(a is b for a, b in zip(panel._series_curves.values(), first.values()))
    steps = panel.history.ordered()[0]
    assert steps[0] >= before.last_step.step  # the new run's samples only (it continues)
    assert panel._series_curves[0].xData.tolist() == steps.tolist()
    legend = panel.series_plot.getPlotItem().legend
    assert [label.text for _, label in legend.items] == [LENET_LAYERS[i] for i in first]


def test_zooming_the_series_plot_stops_its_framing_and_ticks_follow_the_zoom(window, qtbot):
    panel = inspector(window)
    panel.set_probe_every(2)
    train(qtbot, window)
    show(window, qtbot, panel)
    plot = panel.series_plot.getPlotItem()
    view = plot.getViewBox()
    (_, y1) = view.viewRange()[1]
    view.setRange(xRange=(2, 6), yRange=(y1 - 0.5, y1), padding=0)
    view.sigRangeChangedManually.emit([True, True])  # what a wheel or drag sends
    panel.mark_all_dirty()
    window.redraw_clock.redraw_now()
    assert view.viewRange()[0] == pytest.approx([2, 6])  # the person's zoom stands
    # Half a decade: 1-2-5 labels inside the zoomed range.
    assert plot.getAxis("left")._tickLevels == log_ticks(y1 - 0.5, y1)
    view.enableAutoRange()  # the "A" button hands the framing back
    window.redraw_clock.redraw_now()
    panel.mark_all_dirty()
    window.redraw_clock.redraw_now()
    assert view.viewRange()[0][1] > 6 and not any(view.autoRangeEnabled())


def test_a_dead_relu_raises_an_alert_that_selects_its_layer(window, qtbot, tmp_path):
    panel = inspector(window)
    panel.set_probe_every(1)
    open_poisoned_checkpoint(window, tmp_path, lambda m: m.fc1.bias.fill_(-100.0))
    train(qtbot, window, batch_size=32)
    alerts = [t.alert for t in panel.history.alerts]
    dead = [a for a in alerts if a.kind == "dead"]
    assert "relu3" in [a.layer for a in dead]
    alert_list = window.findChild(QListWidget, "alertList")
    items = [alert_list.item(i) for i in range(alert_list.count())]
    item = next(i for i in items if "relu3" in i.text() and "dead" in i.text())
    assert "step" in item.text() and ":" in item.text().splitlines()[0]  # time, step, layer
    assert "→" in item.text()  # the advice
    show(window, qtbot, panel, alert_list)
    window.model_panel.select_layer(0)
    rect = alert_list.visualItemRect(item)
    qtbot.mouseClick(alert_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.table.selected_layers() == [8]
    assert window.model_panel.selected_index == 8
    assert "Alerts (" in panel.views.tabText(panel.views.indexOf(alert_list))


def test_nonfinite_values_pause_training_and_bring_the_inspector_forward(window, qtbot,
                                                                          tmp_path):
    panel = inspector(window)
    panel.set_probe_every(1)
    open_poisoned_checkpoint(window, tmp_path, lambda m: m.fc1.bias.fill_(-math.inf))
    window.tabs.setCurrentIndex(0)
    session = window.session
    with qtbot.waitSignal(session.runFinished, timeout=60_000):
        from netexplorer.core.training import TrainConfig

        session.start(TrainConfig(epochs=1, device="cpu"))
        qtbot.waitUntil(lambda: session.state == "paused", timeout=30_000)
        assert window.tabs.currentWidget() is panel
        assert panel.views.currentWidget() is panel.alert_list
        [alert] = [t.alert for t in panel.history.alerts if t.alert.kind == "overflow"]
        assert alert.layer == "fc1" and alert.pause
        assert panel.table.selected_layers() == [7]
        assert window.model_panel.selected_index == 7
        session.stop()


def test_the_sampling_interval_is_a_setting_for_the_next_run(window, qtbot):
    panel = inspector(window)
    panel.every_spin.setValue(5)
    assert window.session.probe_every == 5
    assert "next run" in panel.setting_hint.text()
    panel.probe_check.setChecked(False)
    assert window.session.probe_every is None
    assert not panel.every_spin.isEnabled()
    run = train(qtbot, window)
    assert panel.history.count == 0 and run.last_step.probe is None
    panel.probe_check.setChecked(True)
    assert window.session.probe_every == 5


def test_a_new_run_starts_a_fresh_history(window, qtbot):
    panel = inspector(window)
    panel.set_probe_every(4)
    train(qtbot, window)
    first = panel.history.count
    assert first > 0
    panel.set_probe_every(8)
    train(qtbot, window)
    steps = panel.history.ordered()[0]
    assert steps[0] % 8 == 0 and all(s % 8 == 0 for s in steps)
    assert "Run 2" in panel.status_label.text()


def test_feature_maps_of_lenet_conv1_are_six_maps_of_28_by_28(window, qtbot):
    panel = inspector(window)
    view = panel.feature_view
    show(window, qtbot, panel, view)
    qtbot.waitUntil(lambda: view.result is not None and not view.busy, timeout=30_000)
    assert view.layer == "conv1"
    assert view.maps.shape == (6, 28, 28)
    assert view.map_grid.image_count() == 6
    assert view.filter_grid.image_count() == 6  # conv1's six 1×5×5 filters
    assert "6 maps of 28×28" in view.maps_heading.text()
    view.set_layer("pool2")
    assert view.maps.shape == (16, 5, 5)
    # Another probe image is run through the model on demand.
    view.image_spin.setValue(7)
    qtbot.waitUntil(lambda: view.result is not None and view.result.index == 7
                    and not view.busy, timeout=30_000)
    assert view.maps.shape == (16, 5, 5)


@pytest.mark.parametrize("stat", ["grad_norm", "dead", "act_mean", "update_ratio"])
def test_heatmap_tooltips_and_levels_survive_empty_and_nan_columns(qtbot, stat):
    """Before any sample, and with layers that have no value (NaN), nothing breaks."""
    from netexplorer.ui.inspector.layer_history import finite_range, transformed
    from netexplorer.ui.widgets.heatmap import HeatmapView

    view = HeatmapView("testHeatmap", "test")
    qtbot.addWidget(view)
    values = np.array([[np.nan, np.nan], [0.0, 1e-3], [np.inf, 2.0]])
    shown = transformed(stat, values)
    view.show_matrix(shown, row_labels=["a", "b", "c"], levels=finite_range(shown),
                     x_start=10, x_step=5)
    assert view.shape == (3, 2)
    assert view.cell_at(12.4, 0.5) == (0, 0) and view.cell_at(12.6, 2.9) == (2, 1)
    assert view.cell_at(20.0, 0.5) is None
    view.show_matrix(np.zeros((0, 0)), row_labels=[], levels=(0, 1))
    assert view.shape == (0, 0)


def test_the_sampling_interval_is_remembered(qtbot, settings):
    from netexplorer.ui.main_window import MainWindow
    from netexplorer.ui.settings import AppSettings

    first = MainWindow(settings=settings)
    qtbot.addWidget(first)
    inspector(first).every_spin.setValue(25)
    first.close()
    second = MainWindow(settings=settings)
    qtbot.addWidget(second)
    assert second.session.probe_every == 25
    inspector(second).probe_check.setChecked(False)
    second.close()
    third = MainWindow(settings=settings)
    qtbot.addWidget(third)
    assert third.session.probe_every is None
    third.close()
    remembered = AppSettings(settings)
    for saved, expected in ((None, DEFAULT_PROBE_EVERY), ("garbage", DEFAULT_PROBE_EVERY),
                            ("0", DEFAULT_PROBE_EVERY), ("7", 7), ("off", None)):
        settings.setValue("inspector/probe_every", saved)
        assert remembered.probe_every() == expected


def test_sampled_steps_a_pause_or_a_stop_carries_reach_the_history(window, qtbot):
    """A run paused or stopped right after a report hands over the steps its probe
    had kept back (reports.probe_of): they join the history and their alerts the list."""
    from netexplorer.core.inspection import Alert, ProbeReport
    from netexplorer.core.reports import FinishedReport, PausedReport

    panel = inspector(window)
    panel.set_probe_every(3)
    train(qtbot, window)
    steps, values = panel.history.ordered()
    count, last = panel.history.count, int(steps[-1])
    layers = panel.history.layers
    alert = Alert("dead", "relu3", last + 6, "90 % of its units have not fired", "try less")
    held = ProbeReport(layers, np.array([last + 3, last + 6]), values[-2:].copy(), (alert,))
    panel._on_reports([PausedReport(last + 7, 1, "requested", probe=held)])
    assert panel.history.count == count + 2
    assert panel.history.ordered()[0][-2:].tolist() == [last + 3, last + 6]
    assert [t.alert for t in panel.history.alerts][-1] == alert
    stopped = ProbeReport(layers, np.array([last + 9]), values[-1:].copy())
    panel._on_reports([FinishedReport("stopped", "stopped by request", 1, last + 10, 1.0,
                                      probe=stopped)])
    assert panel.history.ordered()[0][-1] == last + 9
