"""What training reports: plain-number records, safe to hand to any thread.

Trainer.steps() yields them; the GUI's training thread batches them into signals,
the CLI prints them, RunHistory appends them. They hold floats, ints and tuples
(and a probe's ProbeReport of numpy arrays) — never a tensor — and this module
imports no torch, so the GUI can use them before torch has loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SettingChange:
    """A setting changed while the run trained (today: the learning rate a person
    typed), from the step `step` on; `at` is the wall-clock time (time.time())."""

    step: int
    name: str
    old: float
    new: float
    at: float


@dataclass(frozen=True)
class StepReport:
    """One reporting interval. `losses` holds every step's loss in the interval,
    so plots get each batch while the device is synchronised once."""

    epoch: int  # 1-based
    step: int  # global steps completed
    batch: int  # batches completed in this epoch
    batches_per_epoch: int
    batch_loss: float  # the last step's loss
    running_loss: float  # mean over the interval (the tutorial's running loss)
    lr: float
    images_per_second: float
    elapsed: float  # training seconds, pauses excluded
    losses: tuple[float, ...] = ()
    first_step: int = 0  # global step number of losses[0] (1-based)
    probe: Any = None  # the probe's statistics for the interval, plain numbers
    lrs: tuple[float, ...] = ()  # each step's learning rate, beside `losses`
    changes: tuple[SettingChange, ...] = ()  # settings changed during the interval


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    step: int
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    per_class_accuracy: tuple[float, ...]
    lr: float
    elapsed: float
    epoch_seconds: float
    images_per_second: float


@dataclass(frozen=True)
class PausedReport:
    step: int
    epoch: int
    reason: str  # "requested", "step", or what the probe saw


@dataclass(frozen=True)
class FinishedReport:
    status: str  # "completed", "stopped" or "diverged"
    message: str
    epoch: int  # epochs completed
    step: int
    elapsed: float
    test_accuracy: float | None = None
    test_loss: float | None = None
    diverged_step: int | None = None
    diverged_loss: float | None = None
    diverged_lr: float | None = None


Report = StepReport | EpochReport | PausedReport | FinishedReport
