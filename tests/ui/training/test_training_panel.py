"""The Training tab driven like a person would: click Train, watch the plots,
pause, step, change the learning rate, stop, compare runs."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QWidget

from netexplorer.ui.widgets.colours import series_colour
from netexplorer.ui.widgets.result_banner import ResultBanner
from tests.ui.training_helpers import button, click, start, train, training_panel


def test_one_epoch_feeds_the_plots_and_shows_the_accuracy(window, qtbot):
    panel = training_panel(qtbot, window)
    for name in ("lossPlot", "accuracyPlot", "trainingProgress", "runsList", "deviceCombo",
                 "lrSpin", "epochsSpin", "batchSizeSpin", "optimizerCombo"):
        assert window.findChild(QWidget, name) is not None, name
    run = train(qtbot, window)

    assert run.status == "completed"
    assert 0.1 < run.final_accuracy <= 1.0
    window.tabs.setCurrentWidget(panel)
    window.redraw_clock.redraw_now()
    curves = panel.plots.curves_of(run.number)
    x, y = curves.batch.getData()
    assert len(y) == len(run.losses) == 23  # 1,438 digits in batches of 64, the last of 30
    assert x[-1] == pytest.approx(1.0)  # the x axis counts epochs
    assert len(curves.running.getData()[1]) >= 3
    assert list(curves.test_accuracy.getData()[1]) == pytest.approx([100 * run.final_accuracy])
    assert len(curves.lr.getData()[1]) >= 3

    shown = f"{100 * run.final_accuracy:.1f} %"
    assert shown in panel.banner.text and panel.banner.isVisible()
    assert panel.banner.kind == "ok"
    assert panel.runs_list.topLevelItem(0).text(3) == shown
    assert panel.runs_list.topLevelItem(0).text(5) == "completed"
    assert panel.controls.progress.format().startswith("Epoch 1/1 · batch 23/23")
    assert window.findChild(QLabel, "trainingStateLabel").text() == \
        f"Run 1 completed: {shown} test accuracy"
    assert button(window, "trainButton").isEnabled()


def test_pause_step_learning_rate_resume_and_stop(window, qtbot):
    session = window.session
    panel = training_panel(qtbot, window)
    start(qtbot, window, epochs=50)
    qtbot.waitUntil(lambda: session.current_run.last_step is not None, timeout=30_000)
    run = session.current_run
    assert not button(window, "trainButton").isEnabled()
    assert not button(window, "stepButton").isEnabled()
    qtbot.waitUntil(lambda: session.state == "running", timeout=10_000)
    window.redraw_clock.redraw_now()
    assert panel.status_label.text().startswith("Training run 1 · epoch 1/50 · ")
    assert panel.status_label.text().endswith("img/s")
    assert "ETA" in panel.controls.progress.format()

    click(qtbot, window, "pauseButton")
    qtbot.waitUntil(lambda: session.state == "paused", timeout=10_000)
    assert button(window, "pauseButton").text() == "Resume"
    assert button(window, "stepButton").isEnabled() and button(window, "stopButton").isEnabled()
    assert not button(window, "trainButton").isEnabled()
    assert panel.form.lr_spin.isEnabled() and not panel.form.epochs_spin.isEnabled()
    window.redraw_clock.redraw_now()
    assert panel.status_label.text().startswith("Paused run 1 at epoch")
    paused_at = run.last_step.step

    panel.form.lr_spin.setValue(0.01)  # while paused: applies from the next batch
    click(qtbot, window, "stepButton")
    qtbot.waitUntil(lambda: run.last_step.step == paused_at + 1 and session.state == "paused",
                    timeout=10_000)
    assert run.last_step.lr == pytest.approx(0.01)
    assert run.last_step.losses and len(run.last_step.losses) == 1

    click(qtbot, window, "pauseButton")  # resume
    qtbot.waitUntil(lambda: run.last_step.step >= paused_at + 12, timeout=20_000)
    assert session.state == "running"
    assert run.lrs.values[-1] == pytest.approx(0.01)

    with qtbot.waitSignal(session.runFinished, timeout=10_000):
        click(qtbot, window, "stopButton")
    assert run.status == "stopped"
    assert "stopped" in panel.banner.text
    assert panel.form.epochs_spin.isEnabled()


def test_a_huge_learning_rate_ends_with_the_divergence_message(window, qtbot):
    panel = training_panel(qtbot, window)
    run = train(qtbot, window, lr=10.0)
    assert run.status == "diverged"
    assert panel.banner.kind == "error"
    assert "diverged at step" in panel.banner.text and "ended" in panel.banner.text
    assert "use a learning rate of" in panel.banner.text
    assert run.finished.message == panel.banner._details  # the whole story, in Details
    assert np.isfinite(run.losses.values).all()  # only finite losses reach the plots
    assert panel.runs_list.topLevelItem(0).text(5) == "diverged"


def test_an_error_inside_training_is_shown_and_the_app_keeps_running(window, qtbot):
    """The nll loss on a model without log-probabilities is refused by the trainer,
    on the training thread, once the run has started."""
    panel = training_panel(qtbot, window)
    with qtbot.waitSignal(window.session.trainingFailed, timeout=30_000):
        run = train(qtbot, window, loss="nll")
    assert run.status == "failed"
    assert panel.banner.kind == "error"
    assert "nll loss expects log-probabilities" in panel.banner.text
    assert not panel.banner.details_button.isHidden()
    assert train(qtbot, window, loss="cross-entropy").status == "completed"  # goes on


def test_outputs_that_do_not_fit_the_classes_wait_for_a_fix_before_train(window, qtbot):
    panel = training_panel(qtbot, window)
    window.model_panel.set_param(len(window.model_panel.spec.layers) - 1, "out_features", 5)
    assert "classes" in panel.ready_reason
    assert not button(window, "trainButton").isEnabled()
    window.model_panel.undo_stack.undo()  # fixed: training works again
    qtbot.waitUntil(lambda: panel.ready_reason == "", timeout=5_000)
    assert train(qtbot, window).status == "completed"


def test_runs_are_listed_and_selected_runs_are_overlaid(window, qtbot):
    panel = training_panel(qtbot, window)
    first = train(qtbot, window, lr=0.05)
    second = train(qtbot, window, lr=0.02, batch_size=128)
    runs_list = panel.runs_list
    assert runs_list.topLevelItemCount() == 2
    assert runs_list.selected_numbers() == [2]  # a new run is shown on its own
    assert "lr 0.02 · batch 128" in runs_list.topLevelItem(1).text(2)
    assert panel.plots.runs == [second]

    panel.show_runs([1, 2])
    assert panel.plots.runs == [first, second]
    window.redraw_clock.redraw_now()
    for run, index in ((first, 0), (second, 1)):
        curves = panel.plots.curves_of(run.number)
        assert curves.running.opts["pen"].color().name() == series_colour(index).name()
        assert len(curves.batch.getData()[1]) == len(run.losses)
    legend = panel.plots.loss_plot.getPlotItem().legend
    assert [label.text for _, label in legend.items] == ["run 1", "run 2"]
    # Batch 128 has 12 steps per epoch, batch 64 has 23: both end at epoch 1.
    assert panel.plots.curves_of(1).batch.getData()[0][-1] == pytest.approx(1.0)
    assert panel.plots.curves_of(2).batch.getData()[0][-1] == pytest.approx(1.0)

    panel.show_runs([1])
    assert panel.plots.curves_of(2) is None


def test_training_continues_the_model_unless_reset_is_chosen(window, qtbot):
    panel = training_panel(qtbot, window)
    reset = panel.controls.reset_check
    assert not reset.isEnabled()  # nothing trained yet: a run starts fresh anyway
    first = train(qtbot, window)
    assert reset.isEnabled() and not reset.isChecked()
    second = train(qtbot, window)
    assert second.losses.values[0] < first.losses.values[0] - 0.3  # it went on learning
    reset.setChecked(True)
    third = train(qtbot, window)
    assert third.losses.values[0] == pytest.approx(first.losses.values[0], rel=1e-5)
    assert not reset.isChecked()  # a one-run choice


def test_train_is_offered_when_it_can_run_with_shortcuts_and_devices(window, qtbot):
    panel = training_panel(qtbot, window)
    train_button = button(window, "trainButton")
    assert train_button.isEnabled()
    window.model_panel.remove_layer(6)  # the flatten: the stack no longer fits together
    assert not train_button.isEnabled()
    assert "model has an error" in train_button.toolTip()
    window.model_panel.undo_stack.undo()
    assert train_button.isEnabled()

    menu_titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menu_titles.index("Training") == len(menu_titles) - 2  # just before Help
    expected = {"trainAction": "F5", "pauseAction": "F6", "stepAction": "F10",
                "stopAction": "Shift+F5"}
    for name, key in expected.items():
        action = window.findChild(QAction, name)
        assert action.shortcut() == QKeySequence(key), name
        assert key.split("+")[-1] in action.toolTip()

    import torch

    combo = window.findChild(QComboBox, "deviceCombo")
    assert combo.itemData(0) == "cpu" and combo.itemText(0).startswith("CPU (")
    if torch.cuda.is_available():
        names = [combo.itemData(i) for i in range(combo.count())]
        assert [n for n in names if str(n).startswith("cuda:")]
        assert "GB" in combo.itemText(1)
    else:
        assert combo.count() == 2 and combo.itemData(1) is None
        assert not combo.model().item(1).isEnabled()
        assert "CUDA" in combo.itemText(1)
        assert combo.itemData(1, 3)  # ToolTipRole: why there is no CUDA
    assert panel.form.config().device == combo.currentData()


def test_result_banner_kinds_are_styled(qtbot):
    banner = ResultBanner()
    qtbot.addWidget(banner)
    banner.show_result("error", "broken", "Traceback …")
    assert banner.kind == "error" and banner.details_button.isVisibleTo(banner)
    banner.show_result("ok", "fine")
    assert not banner.details_button.isVisibleTo(banner)
    banner.clear()
    assert banner.isHidden()
