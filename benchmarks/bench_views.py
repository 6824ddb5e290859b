"""The GUI thread's stretches while a run trains, each view timed on its own.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_views.py [--repeats 60]

bench_gui.py measures what a person feels: how late a timer fires while the real
window trains. When that lateness is over its target, this script says which view
holds the event loop. It times each stretch of work the redraw clock or a
run's start hands the GUI thread, in the real main window (offscreen, 1280×800,
Inspector tab showing), with a LeNet-shaped probe history of noisy synthetic
samples:

- the inspector's layer table: a refresh (its 96 statistic cells and sparklines)
  and a repaint;
- the inspector's series plot with three layers selected: a redraw (new arrays,
  framing) and its paint, while the history grows to 650 samples;
- the training plots taking a new run in place of the last one (a Train click).

While one of these runs, the event loop serves no timer. Where it runs Python, it
also holds the GIL the training thread needs between its torch ops. Target: each
≤ the redraw clock's tick budget (TICK_BUDGET_S, 8 ms). The clock stops a tick
once its redraws took that long, but it cannot cut one redraw short. Figures are
medians of `--repeats` timings (wall clock, perf_counter), with the maximum.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_gui import _app, wait
from common import median, verdict

LENET = ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc1", "relu3",
         "fc2", "relu4", "fc3")
SELECTED = [0, 3, 7]
SAMPLES_PER_REPORT = 5
START_SAMPLES = 50


def _window(app):
    from PySide6.QtCore import QSettings

    from netexplorer.ui.main_window import MainWindow

    settings = QSettings(str(Path(tempfile.mkdtemp()) / "bench.ini"),
                         QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.resize(1280, 800)
    window.show()
    # Until the window has loaded what it loads in the background (torch, the devices),
    # those threads hold the GIL in turns with the GUI thread's stretches timed here.
    wait(app, lambda: window.opened and window.training_panel.ready_reason == "")
    window.tabs.setCurrentWidget(window.inspector_panel)
    wait(app, lambda: False, 0.3)
    return window


class _Samples:
    """ProbeReports of LeNet's layers: values around a falling trend per layer, with
    20 % noise (what gradient norms look like), SAMPLES_PER_REPORT at a time."""

    def __init__(self) -> None:
        import numpy as np

        from netexplorer.core.inspection import STATS, LayerInfo

        self._np = np
        self._stats = len(STATS)
        self._rng = np.random.default_rng(0)
        self._infos = tuple(LayerInfo(i, name, "linear", True, name.startswith("relu"),
                                      (1, 4), (1, 4)) for i, name in enumerate(LENET))
        self.step = 0

    def next(self, count: int = SAMPLES_PER_REPORT):
        from netexplorer.core.inspection import ProbeReport

        np = self._np
        steps = (self.step + np.arange(count, dtype=np.int64)) * 10
        self.step += count
        trend = np.arange(len(LENET)) * 0.5 - self.step / 300
        values = np.exp(self._rng.normal(0, 0.2, (count, self._stats, len(LENET))) + trend)
        return ProbeReport(self._infos, steps, values)


def _timed(action) -> float:
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000


def inspector_figures(app, window, repeats: int) -> dict[str, list[float]]:
    panel = window.inspector_panel
    samples = _Samples()
    panel.history.add(samples.next(START_SAMPLES))
    panel.table.refresh()
    panel.table.select_layers(SELECTED)
    wait(app, lambda: False, 0.2)
    series_view = panel.series_plot.viewport()
    table_view = panel.table.viewport()
    times: dict[str, list[float]] = {name: [] for name in (
        "table refresh", "table repaint", "series redraw", "series paint")}
    for _ in range(repeats):
        panel.history.add(samples.next())
        times["table refresh"].append(_timed(panel.table.refresh))
        times["table repaint"].append(_timed(table_view.repaint))
        times["series redraw"].append(_timed(panel._redraw_series))
        times["series paint"].append(_timed(series_view.repaint))
        app.processEvents()
    return times


def run_start_figures(app, window, repeats: int) -> dict[str, list[float]]:
    from netexplorer.core.runs import RunHistory
    from netexplorer.core.training import TrainConfig

    plots = window.training_panel.plots
    window.tabs.setCurrentWidget(window.training_panel)
    wait(app, lambda: False, 0.2)
    times = []
    for number in range(1000, 1000 + repeats):
        run = RunHistory(number, TrainConfig(epochs=6), "lenet", "digits")
        times.append(_timed(lambda run=run: plots.set_runs([run])))
        app.processEvents()
    return {"training plots, a new run": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=60)
    args = parser.parse_args()
    from netexplorer.ui.widgets.redraw_clock import TICK_BUDGET_S

    app = _app()
    window = _window(app)
    figures = inspector_figures(app, window, args.repeats)
    figures.update(run_start_figures(app, window, max(args.repeats // 3, 5)))
    window.close()
    target = TICK_BUDGET_S * 1000
    print(f"The GUI thread's stretches, each timed alone (median / max of {args.repeats}; "
          f"window 1280×800 offscreen; target ≤ {target:.0f} ms each)")
    for name, values in figures.items():
        value = median(values)
        print(f"   {name:<26} {value:6.1f} ms (max {max(values):5.1f})  "
              f"{verdict(value, target, higher_is_better=False)}")


if __name__ == "__main__":
    main()
