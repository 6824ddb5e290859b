"""What the progress bar, status bar and result banner say, from a RunHistory."""

from __future__ import annotations

import pytest

from netexplorer.core.runs import RunHistory
from netexplorer.core.training import EpochReport, FinishedReport, StepReport, TrainConfig
from netexplorer.ui.training.training_text import (
    eta_seconds,
    format_duration,
    progress,
    result_summary,
    status_line,
)


def _run(epochs_done: int = 0, step: int = 5) -> RunHistory:
    run = RunHistory(3, TrainConfig(epochs=4, lr=0.1), "lenet", "digits")
    run.add(StepReport(epoch=epochs_done + 1, step=step, batch=step - 10 * epochs_done,
                       batches_per_epoch=10, batch_loss=1.0, running_loss=1.0, lr=0.1,
                       images_per_second=1000.0, elapsed=step * 0.5, losses=(1.0,) * 5,
                       first_step=step - 4))
    for e in range(1, epochs_done + 1):
        run.add(EpochReport(e, 10 * e, 1.0, 0.5, 1.0, 0.8 + e / 100, (), 0.1, 5.0 * e, 6.0,
                            100.0))
    return run


@pytest.mark.parametrize("seconds, text", [(None, "–"), (float("nan"), "–"), (0, "0:00"),
                                           (42.4, "0:42"), (185, "3:05"), (3729, "1:02:09")])
def test_durations(seconds, text):
    assert format_duration(seconds) == text


def test_progress_and_eta_before_and_after_an_epoch():
    first = _run()
    shown = progress(first)
    assert (shown.done, shown.total) == (5, 40)
    assert shown.text == "Epoch 1/4 · batch 5/10 · ETA 0:18"  # 0.5 s a step, 35 to go
    later = _run(epochs_done=2, step=25)
    assert eta_seconds(later) == pytest.approx(6.0 * 15 / 10)  # whole epochs' times
    assert later.steps_per_epoch() == 10 and later.planned_steps() == 40


def test_status_lines_follow_the_state():
    run = _run()
    assert status_line("starting", run, None).startswith("Starting run 3")
    assert status_line("running", run, 1234.4) == "Training run 3 · epoch 1/4 · 1,234 img/s"
    assert status_line("paused", run, 1.0) == "Paused run 3 at epoch 1, batch 5/10"
    assert status_line("stopping", run, 1.0) == "Stopping run 3…"
    assert status_line("idle", None, None) == ""


@pytest.mark.parametrize("status, words", [
    ("completed", "Run 3 completed: test accuracy 82.0 % after 2 epochs"),
    ("stopped", "Run 3 stopped after 2 epochs and 25 steps: test accuracy 82.0 %"),
    ("diverged", "Run 3 diverged: the loss became nan"),
    ("failed", "Run 3 failed: the loss became nan"),
])
def test_results_say_how_the_run_ended(status, words):
    run = _run(epochs_done=2, step=25)
    run.add(FinishedReport(status, "the loss became nan", 2, 25, 12.0))
    assert result_summary(run).startswith(words)
    assert status_line("idle", run, None).startswith(f"Run 3 {status}")
    assert len(status_line("idle", run, None)) < 45  # the status bar has other things to say


def test_a_run_no_better_than_guessing_says_so():
    run = RunHistory(1, TrainConfig(epochs=1), "lenet", "digits")
    run.add(EpochReport(1, 23, 2.3, 0.1, 2.3, 0.1, (0.1,) * 10, 0.05, 1.0, 1.0, 1000.0))
    run.add(FinishedReport("completed", "finished 1 epochs", 1, 23, 1.0))
    summary = result_summary(run)
    assert "not learning" in summary and "at chance level (10.0 % for 10 classes)" in summary
    assert "learning rate" not in summary.split("What to try")[1]  # nothing says which way
