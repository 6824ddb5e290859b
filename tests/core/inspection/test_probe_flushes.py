"""When a probe flushes. A report within an epoch may leave its sampled steps to a
later flush (Probe.flush's only_if_due: a flush costs ~1 ms whatever it holds), and
nothing may depend on it: what is measured, what the doctor says and when, and what
reaches the reports' readers — a pause or a stop right after a report carries what
the probe still held."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netexplorer.core.inspection import DEAD_WINDOW, STATS
from netexplorer.core.inspection import probe as probe_module
from netexplorer.core.presets import get_preset
from netexplorer.core.reports import PausedReport, StepReport, probe_of
from netexplorer.core.runs.history import RunHistory
from netexplorer.core.runs.recorder import RunRecorder
from netexplorer.core.runs.store import RunStore
from netexplorer.core.train_config import TrainConfig
from tests.core.trainkit import TINY, alerts_of, drive, finished, probed_trainer, stop_at

LENET = get_preset("lenet")
KEEP = {"flush_every_s": 1e9}  # keeps its steps whenever the trainer lets it
EVERY = {"flush_every_s": 0.0}  # flushes at every report, as before flushes were kept


def reported_steps(reports) -> list[int]:
    """Every sampled step the reports carried, in the order they carried them."""
    return [int(s) for r in reports if probe_of(r) is not None for s in probe_of(r).steps]


def alert_keys(reports) -> list[tuple]:
    return [(a.kind, a.layer, a.step, a.message) for a in alerts_of(reports)]


def dead_relu_run(dataset, options):
    trainer, probe = probed_trainer(LENET, dataset, epochs=1, batch_size=16, report_every=1,
                                    probe_options=options)
    with torch.no_grad():
        trainer.model.fc1.bias.fill_(-100.0)
    return trainer, probe, drive(trainer, stop_at(DEAD_WINDOW + 6))


def vanishing_run(dataset, options):
    trainer, probe = probed_trainer(get_preset("deep-sigmoid"), dataset, epochs=1,
                                    batch_size=16, report_every=4, lr=0.05,
                                    probe_options=options)
    return trainer, probe, drive(trainer, stop_at(20))


@pytest.mark.parametrize("scenario", [dead_relu_run, vanishing_run],
                         ids=["dead-relu", "vanishing"])
def test_kept_steps_give_the_same_history_and_alerts_as_flushing_every_report(
        digits32, digits28, scenario):
    """The doctor examines each report's steps on their own, whenever they are
    flushed: its alerts, their steps and its history are those of a probe that
    flushed at every report."""
    dataset = digits32 if scenario is dead_relu_run else digits28
    _, every_probe, every = scenario(dataset, EVERY)
    _, kept_probe, kept = scenario(dataset, KEEP)
    assert alert_keys(kept) == alert_keys(every) and alert_keys(every)
    history = RunHistory(1, TrainConfig())
    history.extend(kept)  # (the run's record keeps those a stop carried too)
    assert [(a.kind, a.layer, a.step) for a in history.alerts] == \
        [key[:3] for key in alert_keys(every)]
    for stat in STATS:
        steps, values = kept_probe.history(stat)
        expected_steps, expected = every_probe.history(stat)
        np.testing.assert_array_equal(steps, expected_steps)
        np.testing.assert_array_equal(values, expected)  # (NaN where not measured)
    assert reported_steps(kept) == reported_steps(every) == list(steps)
    # The first report's flush is due at once; then the probe kept everything until
    # the stop, whose FinishedReport carried it.
    kept_steps = [r for r in kept if isinstance(r, StepReport)]
    assert len(kept_steps[0].probe.steps) > 0
    assert all(len(r.probe.steps) == 0 for r in kept_steps[1:])
    assert len(finished(kept).probe.steps) > 0


def test_a_pause_right_after_a_report_carries_the_kept_steps(digits8):
    def pause_then_resume(trainer, report):
        if isinstance(report, StepReport) and report.step == 6:
            trainer.control.pause()
        elif isinstance(report, PausedReport):
            trainer.control.resume()

    trainer, probe = probed_trainer(TINY, digits8, epochs=1, report_every=2,
                                    probe_options=KEEP)
    reports = drive(trainer, pause_then_resume)
    paused = [r for r in reports if isinstance(r, PausedReport)]
    assert len(paused) == 1
    # Steps 0–1 were flushed with the first report; 2–5 kept until the pause.
    assert paused[0].probe.steps.tolist() == [2, 3, 4, 5]
    assert reported_steps(reports) == list(range(trainer.position.step))
    assert probe._pending == []  # the epoch's end flushed the rest
    assert finished(reports).status == "completed" and finished(reports).probe is None


def test_a_stop_right_after_a_report_carries_the_kept_steps(tmp_path, digits8):
    """…and the run store keeps them: a stopped run's probe history is whole."""
    trainer, _ = probed_trainer(TINY, digits8, epochs=1, report_every=2, probe_options=KEEP)
    recorder = RunRecorder.start(tmp_path, trainer)
    reports = []
    for report in trainer.steps():
        recorder.record(report)
        reports.append(report)
        stop_at(8)(trainer, report)
    recorder.finish(finished(reports))
    end = finished(reports)
    assert end.status == "stopped" and end.probe.steps.tolist() == list(range(2, 8))
    assert reported_steps(reports) == list(range(8))
    with RunStore(tmp_path) as store:
        _, steps, stats = store.probe_history(recorder.run_id)
    assert steps.tolist() == list(range(8)) and np.isfinite(stats[:, 0]).any()


# A step that measured a value that is not finite is flushed at the next report:
# test_probe.py's test_nonfinite_values_pause_training, keeping its steps.


def test_at_most_max_pending_steps_are_kept(digits8, monkeypatch):
    monkeypatch.setattr(probe_module, "MAX_PENDING", 3)
    trainer, _ = probed_trainer(TINY, digits8, epochs=1, report_every=1, probe_options=KEEP)
    reports = drive(trainer)
    carried = [len(r.probe.steps) for r in reports if isinstance(r, StepReport)]
    assert max(carried) == 3 and carried[:5] == [1, 0, 0, 3, 0]
    assert reported_steps(reports) == list(range(trainer.position.step))
