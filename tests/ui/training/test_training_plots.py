"""The live plots' framing and pacing: round ranges that rarely change, the
person's zoom respected, redraws kept to a share of the GUI thread."""

from __future__ import annotations

import numpy as np
import pytest

from netexplorer.core.runs import RunHistory
from netexplorer.core.training import EpochReport, FinishedReport, StepReport, TrainConfig
from netexplorer.ui.training.training_plots import TrainingPlots
from netexplorer.ui.widgets.plot_frame import nice_bounds
from netexplorer.ui.widgets.redraw_clock import RedrawClock


@pytest.mark.parametrize("low, high, expected", [
    (0.05, 2.3, (0.0, 2.5)), (42.0, 97.5, (40.0, 100.0)), (0.0, 0.05, (0.0, 0.05)),
    (-3.2, 7.9, (-5.0, 10.0)), (0.05, 0.05, (0.045, 0.055)), (0.0, 0.0, (-0.6, 0.6)),
    (float("nan"), 1.0, (0.0, 1.0)),
])
def test_nice_bounds(low, high, expected):
    assert nice_bounds(low, high) == pytest.approx(expected)


def _step(run: RunHistory, first: int, losses: list[float], per_epoch: int = 10) -> None:
    step = first + len(losses) - 1
    run.add(StepReport(1 + (step - 1) // per_epoch, step, (step - 1) % per_epoch + 1, per_epoch,
                       losses[-1], float(np.mean(losses)), 0.05, 100.0, step * 0.01,
                       tuple(losses), first))


@pytest.fixture
def plots(qtbot):
    clock = RedrawClock()
    widget = TrainingPlots(clock)
    qtbot.addWidget(widget)
    widget.resize(800, 400)
    widget.show()
    yield widget
    clock.stop()


def test_the_frame_holds_the_whole_run_and_round_bounds(plots, qtbot):
    run = RunHistory(1, TrainConfig(epochs=30), "lenet", "digits")
    plots.set_runs([run])
    _step(run, 1, [2.3, 2.2, 2.0, 1.9])
    plots.flush()
    view = plots.loss_plot.getPlotItem().getViewBox()
    (x0, x1), (y0, y1) = view.viewRange()
    assert x0 <= 0 and 30 <= x1 < 31  # the planned 30 epochs, from the start
    assert y0 <= 0 and 2.3 <= y1 <= 2.6
    _step(run, 5, [1.5, 1.2])  # lower, but within the round bounds: nothing moves
    plots.flush()
    assert view.viewRange()[1] == [y0, y1]


def test_a_new_run_takes_over_the_last_ones_curves_in_its_own_colour(plots):
    from netexplorer.ui.training.runs_list import run_colour

    first = RunHistory(1, TrainConfig(epochs=3), "lenet", "digits")
    plots.set_runs([first])
    _step(first, 1, [2.3, 2.2, 2.0])
    plots.flush()
    old = plots.curves_of(1)
    assert len(old.batch.xData) == 3
    second = RunHistory(2, TrainConfig(epochs=3), "lenet", "digits")
    plots.set_runs([second])  # what a Train click does
    new = plots.curves_of(2)
    assert plots.curves_of(1) is None
    assert all(a is b for a, b in zip(new.items(), old.items()))
    for curve in new.items()[:-1]:  # emptied until the new run's reports arrive
        assert curve.xData is None or len(curve.xData) == 0
    colour = run_colour(2).name()
    assert new.running.opts["pen"].color().name() == colour
    assert new.test_loss.opts["symbolBrush"].color().name() == colour
    assert new.off_scale.opts["brush"].color().name() == colour
    _step(second, 1, [1.9])
    plots.flush()
    assert new.batch.yData.tolist() == [1.9]
    # Compared side by side, the first run gets curves of its own again.
    plots.set_runs([first, second])
    assert plots.curves_of(1) is not None and plots.curves_of(1).batch is not new.batch
    loss_items = plots.loss_plot.getPlotItem().listDataItems()
    assert len(loss_items) == 8  # batch, running, test loss, off-scale marks: per run, no stray


def test_zooming_stops_the_framing_and_auto_range_hands_it_back(plots, qtbot):
    run = RunHistory(1, TrainConfig(epochs=30), "lenet", "digits")
    plots.set_runs([run])
    _step(run, 1, [2.3, 2.2])
    plots.flush()
    view = plots.loss_plot.getPlotItem().getViewBox()
    view.setRange(xRange=(0.1, 0.3), yRange=(2.1, 2.4), padding=0)
    view.sigRangeChangedManually.emit([True, True])  # what a wheel or drag sends
    _step(run, 3, [9.0, 9.5])  # far outside the view: the person's zoom stands
    plots.flush()
    (x0, x1), (y0, y1) = view.viewRange()
    assert (x0, x1) == pytest.approx((0.1, 0.3)) and (y0, y1) == pytest.approx((2.1, 2.4))
    view.enableAutoRange()  # the "A" button
    _step(run, 5, [8.0])
    plots.flush()
    assert view.viewRange()[1][1] >= 9.5 and view.viewRange()[0][1] >= 30


def test_a_live_run_redraws_one_plot_per_tick_within_its_budget(plots, monkeypatch):
    import netexplorer.ui.training.training_plots as module

    run = RunHistory(1, TrainConfig(epochs=3), "lenet", "digits")
    plots.set_runs([run])
    loss = plots.pacer_of(plots.loss_plot)
    lr = plots.pacer_of(plots.lr_plot)
    _step(run, 1, [2.3, 2.2])
    plots.redraw()
    plots.redraw()
    drawn = len(plots.curves_of(1).batch.getData()[1])
    assert drawn == 2 and len(plots.curves_of(1).lr.getData()[1]) == 1  # one plot a tick
    assert loss.next_at > 0 and lr.next_at > 0
    _step(run, 3, [2.0])
    loss.cost = 1.0  # a slow machine: this plot waits cost / budget before drawing again
    loss.next_at = module.time.perf_counter() + 60
    plots.redraw()
    assert len(plots.curves_of(1).batch.getData()[1]) == 2  # not yet
    run.add(EpochReport(1, 3, 2.0, 0.2, 1.9, 0.3, (0.3,) * 10, 0.05, 0.1, 0.1, 100.0))
    run.add(FinishedReport("completed", "done", 1, 3, 0.1))
    plots.redraw()  # the end of a run draws everything at once
    assert len(plots.curves_of(1).batch.getData()[1]) == 3
    assert len(plots.curves_of(1).test_accuracy.getData()[1]) == 1


def test_an_exploded_loss_is_marked_on_the_edge_and_read_in_full_on_a_log_axis(plots):
    """After a divergence a linear axis to 2e24 flattens every other point: the
    axis ends at the bulk of the values and the exploded ones are markers on its
    top edge (their value in the tooltip); Log scale shows them all."""
    run = RunHistory(1, TrainConfig(epochs=3), "lenet", "digits")
    plots.set_runs([run])
    _step(run, 1, [2.3, 2.1, 1.9, 1.7, 1.5, 1.4, 1.3, 1.2, 1.1, 1.0])
    _step(run, 11, [0.9, 0.8, 0.8, 0.7, 0.7, 0.6, 0.6, 0.5, 2e12, 2e24])
    plots.flush()
    view = plots.loss_plot.getPlotItem().getViewBox()
    top = view.viewRange()[1][1]
    assert plots.ceiling is not None and plots.ceiling < 100 and top < 100
    marks = plots.curves_of(1).off_scale.data
    assert list(marks["data"]) == [2e12, 2e24] and all(y == top for y in marks["y"])
    plots.log_check.setChecked(True)
    plots.flush()
    assert plots.ceiling is None and len(plots.curves_of(1).off_scale.data) == 0
    low, high = view.viewRange()[1]  # log10 of the values
    assert low <= np.log10(0.5) and high >= 24


def test_smoothing_draws_tensorboards_moving_average_of_every_batch(plots):
    from netexplorer.core.smoothing import smoothed

    run = RunHistory(1, TrainConfig(epochs=3), "lenet", "digits")
    plots.set_runs([run])
    losses = [2.3, 1.0, 2.0, 0.5, 1.5, 0.4, 1.2, 0.3, 1.0, 0.2]
    _step(run, 1, losses)
    plots.flush()
    running = plots.curves_of(1).running
    assert list(running.yData) == pytest.approx([np.mean(losses)])  # the running mean
    plots.set_smoothing(0.6)
    plots.flush()
    assert plots.smoothing == pytest.approx(0.6)
    assert list(running.yData) == pytest.approx(list(smoothed(np.array(losses), 0.6)))
    legend = plots.loss_plot.getPlotItem().legend
    assert "smoothed (0.60)" in [label.text for _, label in legend.items]


def test_accuracy_reads_on_0_to_100_and_legends_sit_above_the_data(plots, qtbot):
    run = RunHistory(1, TrainConfig(epochs=3), "lenet", "digits")
    plots.set_runs([run])
    _step(run, 1, [2.3] * 10)
    run.add(EpochReport(1, 10, 2.3, 0.09, 2.3, 0.1, (0.1,) * 10, 0.05, 1.0, 1.0, 100.0))
    plots.flush()
    qtbot.wait(20)  # the plots' layouts settle
    low, high = plots.accuracy_plot.getPlotItem().getViewBox().viewRange()[1]
    assert low <= 0 and 100 <= high < 105  # 10 % reads as 10 %, not as a full axis
    for plot in (plots.loss_plot, plots.accuracy_plot):
        item = plot.getPlotItem()
        assert item.legend.parentItem() is not item.getViewBox()
        assert item.legend.sceneBoundingRect().bottom() <= \
            item.getViewBox().sceneBoundingRect().top() + 1


def test_a_healthy_loss_is_never_clipped():
    from netexplorer.ui.training.training_plots import loss_ceiling

    steps = np.arange(1, 2001)
    falling = 2.3 * np.exp(-steps / 300) + 0.05
    assert loss_ceiling([falling]) is None
    assert loss_ceiling([20 * np.exp(-steps / 200) + 0.01]) is None  # from 20, by decades
    noisy = falling * np.random.default_rng(1).lognormal(0, 0.3, steps.size)
    assert loss_ceiling([noisy]) is None
    assert loss_ceiling([np.append(falling, [3e8, 4e19])]) == pytest.approx(2.3 * 1.5,
                                                                         rel=0.02)
