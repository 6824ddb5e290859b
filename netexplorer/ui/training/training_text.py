"""What the Training tab and the status bar say about a run, in words.

Plain functions of a RunHistory (no widgets), so the progress bar, the status
bar, the runs list and the result banner word the same facts the same way, and
tests can check the wording without a window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netexplorer.core.formatting import percent
from netexplorer.core.inspection.diagnosis import RunFacts, Verdict, diagnose

if TYPE_CHECKING:  # pragma: no cover - runs imports torch; the GUI gets runs from the session
    from netexplorer.core.runs import RunHistory

# The session's states (training_session.py), as the status bar reads them.
STARTING_TEXT = "Starting run {n}: building the model…"


def format_duration(seconds: float | None) -> str:
    """0:42, 3:05, 1:02:09; '–' when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_rate(images_per_second: float | None) -> str:
    if images_per_second is None or not math.isfinite(images_per_second):
        return "– img/s"
    return f"{images_per_second:,.0f} img/s"


@dataclass(frozen=True)
class Progress:
    """Where a run stands: what the progress bar shows."""

    done: int  # steps done
    total: int  # steps in the run
    text: str


def progress(run: RunHistory) -> Progress:
    """'Epoch 3/30 · batch 12/23 · ETA 0:42'."""
    config = run.config
    report = run.last_step
    if report is None:
        return Progress(0, 0 if run.finished is None else 1, "Starting…"
                        if run.finished is None else "")
    per_epoch = run.steps_per_epoch()
    total = run.planned_steps()
    done = min(report.step, total)
    epoch = min(report.epoch, config.epochs)
    text = f"Epoch {epoch}/{config.epochs} · batch {report.batch}/{per_epoch}"
    if run.finished is None:
        text += f" · ETA {format_duration(eta_seconds(run))}"
    return Progress(done, total, text)


def eta_seconds(run: RunHistory) -> float | None:
    """Seconds left: from whole epochs' times once there are any (they include the
    test evaluation), else from the training time per step so far."""
    report = run.last_step
    if report is None or report.step <= 0:
        return None
    per_epoch = run.steps_per_epoch()
    remaining_steps = max(run.planned_steps() - report.step, 0)
    if run.epochs:
        mean_epoch = sum(e.epoch_seconds for e in run.epochs) / len(run.epochs)
        return mean_epoch * remaining_steps / per_epoch
    return report.elapsed / report.step * remaining_steps


# Settings changed while a run trained, shown in its row (the tooltip has all).
MAX_CHANGES_SHOWN = 2


def settings_text(run: RunHistory) -> str:
    """'sgd lr 0.05 · batch 64 · 30 epochs' ('to epoch 40' for a run continued from
    another), then what changed while it trained ('· lr → 0.005 at step 120')."""
    c = run.config
    # A continued run counts its epochs from its parent's: it trains up to c.epochs.
    epochs = f"to epoch {c.epochs}" if run.first_step else f"{c.epochs} epochs"
    text = f"{c.optimizer} lr {c.lr:g} · batch {c.batch_size} · {epochs}"
    shown = run.changes[:MAX_CHANGES_SHOWN]
    text += "".join(f" · {change.name} → {change.new:g} at step {change.step:,}"
                    for change in shown)
    if len(run.changes) > len(shown):
        text += f" · {len(run.changes) - len(shown)} more changes"
    return text


def accuracy_text(run: RunHistory) -> str:
    return percent(run.final_accuracy)


def status_line(state: str, run: RunHistory | None, images_per_second: float | None) -> str:
    """The status bar's training part: what is happening now, in one line."""
    if run is None:
        return ""
    n = run.number
    report = run.last_step
    if state == "starting":
        return STARTING_TEXT.format(n=n)
    if state == "stopping":
        return f"Stopping run {n}…"
    if state == "paused":
        where = (f"epoch {report.epoch}, batch {report.batch}/{report.batches_per_epoch}"
                 if report is not None else "the start")
        return f"Paused run {n} at {where}"
    if state == "running":
        epoch = f"epoch {report.epoch}/{run.config.epochs}" if report is not None else "epoch 1"
        return f"Training run {n} · {epoch} · {format_rate(images_per_second)}"
    return short_result(run)


def verdicts(run: RunHistory) -> list[Verdict]:
    """The run's diagnosis — the same verdicts the Inspector shows."""
    if run.finished is None:
        return []
    return diagnose(RunFacts.of_run(run))


def short_result(run: RunHistory) -> str:
    """How a run ended in a few words, for the status bar (the banner says more)."""
    finished = run.finished
    if finished is None:
        return ""
    n = run.number
    accuracy = f": {percent(run.final_accuracy)} test accuracy" \
        if run.final_accuracy is not None else ""
    if finished.status == "diverged":
        return f"Run {n} diverged at step {finished.diverged_step}"
    if finished.status == "failed":
        return f"Run {n} failed"
    if finished.status == "checkpoint":
        return f"Run {n} opened from a checkpoint{accuracy}"
    return f"Run {n} {finished.status}{accuracy}"


def result_summary(run: RunHistory) -> str:
    """One line on how a finished run ended ('' while it runs)."""
    finished = run.finished
    if finished is None:
        return ""
    n = run.number
    accuracy = run.final_accuracy
    shown = f"test accuracy {percent(accuracy)}" if accuracy is not None else \
        "no epoch completed, so no test accuracy yet"
    found = verdicts(run)
    said = f" — {found[0]}" if found else ""
    if finished.status == "completed":
        return f"Run {n} completed: {shown} after {finished.epoch} epochs " \
               f"({format_duration(finished.elapsed)}){said}"
    if finished.status == "stopped":
        return (f"Run {n} stopped after {finished.epoch} epochs and {finished.step} steps: "
                f"{shown}{said}")
    if finished.status == "diverged":
        verdict = found[0]
        return (f"Run {n} {verdict.message[:1].lower()}{verdict.message[1:]} (test accuracy "
                f"{percent(accuracy)}). What to try: {verdict.advice}.")
    if finished.status == "failed":
        return f"Run {n} failed: {finished.message}"
    if finished.status == "checkpoint":
        return f"Run {n}: {finished.message}, after {finished.epoch} epochs; {shown}"
    return f"Run {n} {finished.status}: {finished.message}"
