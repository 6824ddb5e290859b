"""Following a run another process writes: File → Follow run… on a real
`netexplorer train` subprocess writing to the window's runs folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PySide6.QtWidgets import QInputDialog

from netexplorer.core.reports import EpochReport, StepReport
from netexplorer.core.runs import RunStore
from netexplorer.core.runs.follow import FollowCursor, read_new
from netexplorer.core.runs.store import RunWriter
from netexplorer.core.train_config import TrainConfig
from tests.ui.training_helpers import training_panel


def _step(first: int, n: int, elapsed: float) -> StepReport:
    losses = tuple(2.0 - 0.01 * s for s in range(first, first + n))
    return StepReport(1, first + n - 1, first + n - 1, 10, losses[-1], sum(losses) / n, 0.1,
                      100.0, elapsed, losses=losses, first_step=first, lrs=(0.1,) * n)


def test_reading_a_run_again_gives_only_the_new_rows_as_its_reports(tmp_path):
    with RunStore(tmp_path) as store:
        run_id = store.create_run("{}", TrainConfig(), model="lenet", dataset="digits")
    writer = RunWriter(tmp_path, run_id, flush_every=0)
    try:
        writer.add(_step(1, 5, 1.0))
        writer.add(_step(6, 5, 2.0))
        with RunStore(tmp_path) as store:
            first = read_new(store, run_id, FollowCursor())
            assert [type(r) for r in first.reports] == [StepReport, StepReport]
            assert first.reports[1].losses == _step(6, 5, 2.0).losses
            assert first.cursor == FollowCursor(10, 0) and not first.ended
            epoch = EpochReport(1, 10, 1.9, 0.5, 1.8, 0.6, (0.6,) * 10, 0.1, 2.0, 2.0, 500.0)
            writer.add(epoch)
            writer.add(_step(11, 3, 3.0))
            writer.flush()
            second = read_new(store, run_id, first.cursor)
            assert [type(r) for r in second.reports] == [EpochReport, StepReport]
            assert second.reports[1].first_step == 11
            writer.finish("completed", "finished 1 epochs")
            third = read_new(store, run_id, second.cursor)
            assert third.ended and third.reports[-1].status == "completed"
    finally:
        writer.close()


@pytest.mark.slow
def test_the_window_follows_a_cli_run_until_it_ends(window, qtbot, monkeypatch):
    """The CLI run is long (100 epochs) and ended by the test with a Ctrl-C once the
    followed plot has grown twice: how fast the two processes run never decides
    what the test sees."""
    panel = training_panel(qtbot, window)
    folder = window.session.library.folder
    env = dict(os.environ, NETEXPLORER_THREADS="1", OMP_NUM_THREADS="1")
    writer = subprocess.Popen(
        [sys.executable, "-m", "netexplorer", "train", "--model", "lenet", "--dataset",
         "digits", "--epochs", "100", "--schedule", "none", "--report-every", "2",
         "--runs-dir", str(folder)], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (folder / "runs.sqlite").exists() or not RunStore(folder).list_runs():
            assert writer.poll() is None, writer.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: (a[3][0], True))
        with qtbot.waitSignal(window.session.runChanged, timeout=30_000):
            window.follow_run_action.trigger()
        [run] = [r for r in window.session.runs if r.store_id]
        assert window.session.following(run)
        seen: list[int] = []

        def points() -> int:
            curves = panel.plots.curves_of(run.number)
            data = curves.batch.getData()[0] if curves is not None else None
            return 0 if data is None else int(np.isfinite(data).sum())

        while len(seen) < 2:  # the loss plot gains points on the redraw clock
            qtbot.wait(200)
            if points() and (not seen or points() != seen[-1]):
                seen.append(points())
            assert writer.poll() is None, "the CLI run ended before the plot grew twice"
            assert time.monotonic() < deadline + 120, f"the plot grew only as {seen}"
        assert run.finished is None
        writer.send_signal(signal.SIGINT)  # Ctrl-C: the run stops after this batch
        qtbot.waitUntil(lambda: run.finished is not None, timeout=60_000)
        qtbot.waitUntil(lambda: not window.session.following(run), timeout=5_000)
        assert run.status == "stopped"
        assert panel.runs_list.topLevelItem(0).text(5) == "stopped"
        assert len(run.losses) >= seen[-1]
        assert writer.wait(timeout=60) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.communicate(timeout=30)
