"""A training run's history as arrays: what the plots, the runs list, the metrics
CSV export and run comparisons read.

Reports arrive in order from Trainer.steps(); RunHistory appends them into
growable numpy buffers (amortised O(1) per point, no per-point Python objects
kept), so a plot can take a 100,000-point curve as one array without copying.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from netexplorer.core.reports import (
    EpochReport,
    FinishedReport,
    PausedReport,
    Report,
    SettingChange,
    StepReport,
    probe_of,
)
from netexplorer.core.train_config import TrainConfig

if TYPE_CHECKING:  # pragma: no cover - a checkpoint holds tensors
    from netexplorer.core.checkpoints import Checkpoint
    from netexplorer.core.runs.store import RunSummary


class GrowableArray:
    """An append-only float64 array that doubles its storage when full."""

    def __init__(self, capacity: int = 1024) -> None:
        self._data = np.empty(capacity, dtype=np.float64)
        self._size = 0

    def extend(self, values: Iterable[float] | np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        needed = self._size + values.size
        if needed > self._data.size:
            grown = np.empty(max(needed, 2 * self._data.size), dtype=np.float64)
            grown[:self._size] = self._data[:self._size]
            self._data = grown
        self._data[self._size:needed] = values
        self._size = needed

    def append(self, value: float) -> None:
        self.extend((value,))

    @property
    def values(self) -> np.ndarray:
        """A view of the filled part (valid until the next append)."""
        return self._data[:self._size]

    def __len__(self) -> int:
        return self._size


@dataclass
class RunHistory:
    """Everything one run reported, plus what a runs list shows about it."""

    number: int
    config: TrainConfig
    model_name: str = ""
    dataset_name: str = ""
    started_at: float = field(default_factory=time.time)
    steps: GrowableArray = field(default_factory=GrowableArray)  # global step of each loss
    losses: GrowableArray = field(default_factory=GrowableArray)  # every step's batch loss
    running_steps: GrowableArray = field(default_factory=GrowableArray)
    running_losses: GrowableArray = field(default_factory=GrowableArray)  # per report
    lr_steps: GrowableArray = field(default_factory=GrowableArray)
    lrs: GrowableArray = field(default_factory=GrowableArray)
    epochs: list[EpochReport] = field(default_factory=list)
    changes: list[SettingChange] = field(default_factory=list)  # made while it trained
    finished: FinishedReport | None = None
    # In the run store: its id and name, the run it continues (its steps and epochs
    # come first in the arrays above) and the global step it starts after.
    store_id: str | None = None
    name: str = ""
    parent_id: str | None = None
    first_step: int = 0
    # A run listed from the store before its steps are read: what the list shows.
    stored: RunSummary | None = None
    last_step: StepReport | None = None
    paused: bool = False
    # For the diagnosis (inspection/diagnosis.py): the model's layer kinds, in order,
    # and every alert the doctor raised while it trained.
    layer_kinds: tuple[str, ...] = ()
    alerts: list = field(default_factory=list)

    def add(self, report: Report) -> None:
        probe = probe_of(report)  # (a pause or a stop may carry the last alerts)
        if probe is not None:
            self.alerts.extend(getattr(probe, "alerts", ()))
        if isinstance(report, StepReport):
            n = len(report.losses)
            if n:
                self.steps.extend(np.arange(report.first_step, report.first_step + n))
                self.losses.extend(report.losses)
                self.running_steps.append(report.step)
                self.running_losses.append(report.running_loss)
            if report.lrs:  # every step's rate (reports made before they were kept: one)
                self.lr_steps.extend(np.arange(report.first_step,
                                               report.first_step + len(report.lrs)))
                self.lrs.extend(report.lrs)
            else:
                self.lr_steps.append(report.step)
                self.lrs.append(report.lr)
            self.changes.extend(report.changes)
            self.last_step = report
            self.paused = False
        elif isinstance(report, EpochReport):
            self.epochs.append(report)
        elif isinstance(report, PausedReport):
            self.paused = True
        elif isinstance(report, FinishedReport):
            self.finished = report
            self.paused = False

    def extend(self, reports: Iterable[Report]) -> None:
        for report in reports:
            self.add(report)

    @property
    def needs_loading(self) -> bool:
        """Listed from the store, its steps and epochs not read yet."""
        return self.stored is not None and not len(self.steps) and not self.epochs

    def fill_from(self, loaded: RunHistory) -> None:
        """Take the steps, epochs and ending of the same run read from the store."""
        for name in ("steps", "losses", "running_steps", "running_losses", "lr_steps",
                     "lrs"):
            target: GrowableArray = getattr(self, name)
            if not len(target):
                target.extend(getattr(loaded, name).values)
        if not self.epochs:
            self.epochs.extend(loaded.epochs)
        if not self.changes:
            self.changes.extend(loaded.changes)
        self.last_step = self.last_step or loaded.last_step
        self.finished = self.finished or loaded.finished
        self.stored = None

    # -- what the runs list and plots read
    @property
    def status(self) -> str:
        if self.finished is not None:
            return self.finished.status
        return "paused" if self.paused else "running"

    @property
    def duration(self) -> float:
        """Training seconds, pauses excluded."""
        if self.finished is not None:
            return self.finished.elapsed
        return self.last_step.elapsed if self.last_step is not None else 0.0

    def steps_per_epoch(self) -> int:
        """Batches per epoch: from its reports, or from its epochs (a run read from a
        checkpoint), else 1 (then a plot's epoch axis counts steps)."""
        if self.last_step is not None and self.last_step.batches_per_epoch > 0:
            return self.last_step.batches_per_epoch
        if self.epochs and self.epochs[-1].epoch > 0:
            return max(1, round(self.epochs[-1].step / self.epochs[-1].epoch))
        return 1

    def planned_steps(self) -> int:
        """The global step the run trains up to (a continued run counts its epochs
        from its parent's, so its steps too); 0 until a report or an epoch says how
        many batches an epoch has."""
        if self.last_step is None and not self.epochs:
            return 0
        return self.config.epochs * self.steps_per_epoch()

    @property
    def final_accuracy(self) -> float | None:
        """The test accuracy of the weights the run ended with: a diverged run's
        are those of its last finite step, evaluated when it ended."""
        if self.finished is not None and self.finished.status == "diverged" and \
                self.finished.test_accuracy is not None:
            return self.finished.test_accuracy
        if self.epochs:
            return self.epochs[-1].test_accuracy
        return self.stored.test_accuracy if self.stored is not None else None

    def epoch_arrays(self) -> dict[str, np.ndarray]:
        """Per-epoch curves keyed by field, plus the step at which each epoch ended."""
        names = ("epoch", "step", "train_loss", "train_accuracy", "test_loss", "test_accuracy")
        return {n: np.array([getattr(e, n) for e in self.epochs], dtype=np.float64)
                for n in names}

    def label(self) -> str:
        c = self.config
        accuracy = self.final_accuracy
        shown = f"{100 * accuracy:.1f} %" if accuracy is not None else "–"
        return (f"Run {self.number}: {self.model_name} · {c.optimizer} lr {c.lr:g} · "
                f"batch {c.batch_size} · {shown}")

    def describe(self) -> dict[str, Any]:
        """Config and outcome as plain data (tooltips, exports)."""
        return {"run": self.number, "model": self.model_name, "dataset": self.dataset_name,
                "status": self.status, "final_test_accuracy": self.final_accuracy,
                "train_seconds": self.duration, **asdict(self.config)}

    def to_csv(self) -> str:
        """The run's metrics as CSV: one row per step (loss, learning rate) with the
        epoch columns filled on the step that ended each epoch."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["step", "batch_loss", "learning_rate", "epoch", "train_loss",
                         "train_accuracy", "test_loss", "test_accuracy"])
        lr_at = dict(zip(self.lr_steps.values.astype(int), self.lrs.values))
        epoch_at = {e.step: e for e in self.epochs}
        last_lr = float("nan")
        for step, loss in zip(self.steps.values.astype(int), self.losses.values):
            last_lr = lr_at.get(step, last_lr)
            row = [step, f"{loss:.6g}", f"{last_lr:.6g}"]
            e = epoch_at.get(step)
            row += ([e.epoch, f"{e.train_loss:.6g}", f"{e.train_accuracy:.6g}",
                     f"{e.test_loss:.6g}", f"{e.test_accuracy:.6g}"] if e else [""] * 5)
            writer.writerow(row)
        return out.getvalue()


def run_from_checkpoint(number: int, checkpoint: Checkpoint) -> RunHistory:
    """The history a checkpoint carries, as a finished run: every step's loss and
    learning rate, the loss's running mean per reporting interval (as the live run
    showed it), the epochs."""
    config = checkpoint.config or TrainConfig()
    run = RunHistory(number, config, checkpoint.spec.name, checkpoint.dataset_name or "")
    losses = np.asarray(checkpoint.history["step_losses"], dtype=np.float64)
    lrs = np.asarray(checkpoint.history.get("step_lrs", []), dtype=np.float64)
    if lrs.size:
        run.lr_steps.extend(np.arange(1, lrs.size + 1))
        run.lrs.extend(lrs)
    if losses.size:
        run.steps.extend(np.arange(1, losses.size + 1))
        run.losses.extend(losses)
        every = max(1, config.report_every)
        ends = np.minimum(np.arange(every, losses.size + every, every), losses.size)
        run.running_steps.extend(ends)
        run.running_losses.extend([losses[max(0, end - every):end].mean() for end in ends])
    for epoch in checkpoint.history["epochs"]:
        # JSON gave lists where the report holds tuples; the values are as saved.
        fields: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v)
                                  for k, v in epoch.items()}
        run.add(EpochReport(**fields))
    state = checkpoint.trainer_state or {}
    position = state.get("position", {})
    saved = f" saved {checkpoint.saved_at}" if checkpoint.saved_at else ""
    run.add(FinishedReport("checkpoint", f"opened from a checkpoint{saved}",
                           int(position.get("epoch", len(run.epochs))),
                           int(position.get("step", losses.size)),
                           float(state.get("elapsed", 0.0)),
                           test_accuracy=run.final_accuracy))
    return run


def settings_of(run: RunHistory) -> dict[str, Any]:
    """A run's settings as a person compares them: model, dataset, every training
    setting, and the changes made while it trained (as "lr changes")."""
    settings: dict[str, Any] = {"model": run.model_name, "dataset": run.dataset_name,
                                **asdict(run.config)}
    for change in run.changes:
        key = f"{change.name} changes"
        shown = f"{change.old:.3g} → {change.new:.3g} at step {change.step:,}"
        settings[key] = f"{settings[key]}; {shown}" if key in settings else shown
    return settings


def settings_diff(a: RunHistory, b: RunHistory) -> list[tuple[str, Any, Any]]:
    """The settings two runs differ in: (name, a's value, b's value), in the order a
    settings form shows them; a setting one of them lacks reads "–"."""
    first, second = settings_of(a), settings_of(b)
    names = list(first) + [name for name in second if name not in first]
    return [(name, first.get(name, "–"), second.get(name, "–")) for name in names
            if first.get(name, "–") != second.get(name, "–")]
