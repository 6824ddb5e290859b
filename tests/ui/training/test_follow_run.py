"""Following a run another process writes: File → Follow run… on a real
`netexplorer train` subprocess writing to the window's runs folder."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PySide6.QtWidgets import QInputDialog

from netexplorer.core.inspection import STATS, Alert, LayerInfo, ProbeReport
from netexplorer.core.inspection.distributions import CELLS, KINDS, ZERO_BIN, Histograms
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


LAYERS = (LayerInfo(0, "conv1", "conv2d", True, False, (1, 1, 8, 8), (1, 2, 6, 6)),
          LayerInfo(1, "relu1", "relu", False, True, (1, 2, 6, 6), (1, 2, 6, 6)))


def _probe(steps: list[int], alerts: tuple[Alert, ...] = ()) -> ProbeReport:
    """Samples of `steps`, each histogrammed (as when sampling every ≥ 4 steps), a
    step's values all in the middle bin as many times as its number + 1."""
    stats = np.arange(len(steps) * len(STATS) * 2, dtype=np.float64).reshape(
        len(steps), len(STATS), 2)
    counts = np.zeros((len(steps), len(KINDS), 2, CELLS), dtype=np.uint16)
    counts[..., ZERO_BIN] = np.array(steps)[:, None, None] + 1
    return ProbeReport(LAYERS, np.array(steps, dtype=np.int64), stats, alerts,
                       Histograms(np.array(steps, dtype=np.int64), counts))


DEAD = Alert("dead", "relu1", 8, "62 % of its units were never active", "lower the lr")


def test_a_followed_run_brings_its_probe_samples_once(tmp_path):
    with RunStore(tmp_path) as store:
        run_id = store.create_run("{}", TrainConfig(), model="lenet", dataset="digits")
    writer = RunWriter(tmp_path, run_id, flush_every=0)
    try:
        writer.add(dataclasses.replace(_step(1, 5, 1.0), probe=_probe([0, 2, 4])))
        with RunStore(tmp_path) as store:
            first = read_new(store, run_id, FollowCursor())
            assert first.probe is not None and first.probe.layers == LAYERS
            assert first.probe.steps.tolist() == [0, 2, 4]
            np.testing.assert_array_equal(first.probe.stats, _probe([0, 2, 4]).stats)
            histograms = first.probe.histograms
            assert histograms is not None and histograms.steps.tolist() == [0, 2, 4]
            expected = _probe([0, 2, 4]).histograms
            assert expected is not None
            np.testing.assert_array_equal(histograms.counts, expected.counts)
            assert first.cursor.probe_step == 4
            writer.add(_step(6, 2, 2.0))  # no sample in this report
            second = read_new(store, run_id, first.cursor)
            assert second.probe is None and second.cursor.probe_step == 4
            writer.add(dataclasses.replace(_step(8, 2, 3.0), probe=_probe([8], (DEAD,))))
            third = read_new(store, run_id, second.cursor)
            assert third.probe is not None and third.probe.steps.tolist() == [8]
            assert third.probe.alerts == (DEAD,)  # the doctor's alerts come with them
            assert third.probe.histograms is not None  # and the distributions, once
            assert third.probe.histograms.steps.tolist() == [8]
            assert first.probe.alerts == ()
    finally:
        writer.close()


def test_the_inspector_shows_a_followed_run_while_none_trains_here(window, qtbot):
    folder = window.session.library.folder
    with RunStore(folder) as store:
        run_id = store.create_run("{}", TrainConfig(), model="lenet", dataset="digits")
    writer = RunWriter(folder, run_id, flush_every=0)
    try:
        writer.add(dataclasses.replace(_step(1, 5, 1.0), probe=_probe([0, 2, 4])))
        with qtbot.waitSignal(window.session.storedRunsListed, timeout=10_000):
            window.session.list_stored_runs()
        [run] = [r for r in window.session.runs if r.store_id == run_id]
        inspector = window.inspector_panel
        with qtbot.waitSignal(window.session.followedProbe, timeout=10_000):
            window.session.follow_run(run)
        assert inspector.history.count == 3 and inspector.history.names == ["conv1", "relu1"]
        assert inspector.history.distributions(1)[0].tolist() == [0, 2, 4]
        assert inspector.status_label.text().startswith(f"Run {run.number} (followed): 3 "
                                                        f"sampled steps")
        writer.add(dataclasses.replace(_step(6, 5, 2.0), probe=_probe([6, 8], (DEAD,))))
        qtbot.waitUntil(lambda: inspector.history.count == 5, timeout=10_000)
        assert inspector.history.ordered()[0].tolist() == [0, 2, 4, 6, 8]
        steps, cells = inspector.history.distributions(1)  # drawn as a live run's
        assert steps.tolist() == [0, 2, 4, 6, 8]
        assert cells[:, :, ZERO_BIN].tolist() == [[s + 1] * len(KINDS) for s in steps]
        assert [timed.alert for timed in inspector.history.alerts] == [DEAD]
        assert "relu1" in inspector.alert_list.item(0).text()
        window.session.stop_following(run)
    finally:
        writer.close()


def test_a_runs_weights_are_evaluated_only_on_the_dataset_they_were_trained_for(tmp_path):
    from netexplorer.core.data import load_dataset
    from netexplorer.ui.session.run_library import evaluate_weights_job
    from tests.core.runs.runkit import tiny_run

    digits8 = load_dataset("digits")
    trainer, recorder, _ = tiny_run(tmp_path, digits8, epochs=1)
    evaluation = evaluate_weights_job(tmp_path, recorder.run_id, digits8)
    assert evaluation.epochs_done == 1
    assert evaluation.report.accuracy == pytest.approx(
        trainer.evaluation_of_current_weights().accuracy)
    with pytest.raises(RuntimeError, match=r"takes 1×8×8 images but the digits loaded here "
                                           r"are 1×32×32: load digits"):
        evaluate_weights_job(tmp_path, recorder.run_id,
                             load_dataset("digits", input_shape=(1, 32, 32)))


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
         "--probe-every", "5", "--runs-dir", str(folder)], env=env, stdout=subprocess.DEVNULL,
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
        # The inspector shows the CLI run's layer statistics (none trains here).
        inspector = window.inspector_panel
        qtbot.waitUntil(lambda: inspector.history.count > 0, timeout=60_000)
        assert inspector.history.names[:2] == ["conv1", "relu1"]
        assert len(inspector.history.distributions(0)[0])  # and its distributions
        assert inspector.status_label.text().startswith(f"Run {run.number} (followed)")
        # Its last weights are evaluated on the window's test images once it has an epoch.
        evaluation = window.evaluation_panel
        qtbot.waitUntil(lambda: f"run {run.number} (followed), its weights after epoch"
                        in evaluation.detail_label.text(), timeout=90_000)
        assert evaluation.report is not None and evaluation.report.count == 359
        qtbot.waitUntil(lambda: panel.controls.progress.format().startswith("Epoch "),
                        timeout=5_000)  # the toolbar's progress follows it too
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
