"""What training reports: plain-number records, safe to hand to any thread.

Trainer.steps() yields them; the GUI's training thread batches them into signals,
the CLI prints them, RunHistory appends them. They hold floats, ints and tuples
(and a probe's ProbeReport of numpy arrays) — never a tensor — and this module
imports no torch, so the GUI can use them before torch has loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    # Sampled steps a probe still held when the run paused right after a report
    # (Probe.flush's only_if_due): see probe_of.
    probe: Any = None


@dataclass(frozen=True, eq=False)
class NonFiniteSite:
    """Where the first NaN or infinity of a diverged run appeared, found by replaying
    the step that went wrong from the last finite weights with every layer watched
    (inspection/nonfinite.py).

    `where` is "output" (the layer's output, forward order), "gradient" (the
    gradient of its output) or "weight gradient" (backward order), "weights" (the
    optimizer's update made them non-finite), "input" or "loss" (no layer: the
    images, or the loss of finite outputs); "" when the replay found none. `images`
    are that batch's originals (uint8 N×C×H×W numpy) for display.
    """

    step: int  # the global step replayed (1-based)
    layer: str | None
    layer_index: int | None  # in the probe's (and the model panel's) layer order
    where: str
    value: str  # "NaN" or "infinity" ("" when none was found)
    batch: tuple[int, ...] = ()  # the batch's indices into the training split
    images: Any = field(default=None, repr=False)

    def describe(self) -> str:
        """'the output of layer conv2 became NaN' — what the replay found, in words."""
        if not self.where:
            return "replaying it from the last finite weights showed no NaN or infinity"
        what = "overflowed to infinity" if self.value == "infinity" else "became NaN"
        if self.where == "input":
            return f"the input images themselves hold {self.value} values"
        if self.where == "loss":
            return f"every layer's output was finite but the loss {what}"
        if self.where == "weights":
            return f"the update made the weights of layer '{self.layer}' {self.value}"
        subject = {"output": "the output", "gradient": "the gradient of the output",
                   "weight gradient": "the weight gradient"}[self.where]
        return f"{subject} of layer '{self.layer}' {what} first"


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
    # Diverged: where it started; test_accuracy and test_loss are then those of the
    # weights kept (the last finite ones), not of the last epoch's end.
    nonfinite: NonFiniteSite | None = None
    probe: Any = None  # as PausedReport's: a stop right after a report


Report = StepReport | EpochReport | PausedReport | FinishedReport


def probe_of(report: Report) -> Any:
    """The probe's statistics a report carries, or None. A StepReport carries those
    of its interval's sampled steps, or of earlier intervals' the probe kept back
    to flush less often; a PausedReport or FinishedReport those it still held when
    the run paused or stopped right after a report, so nothing sampled is lost."""
    return None if isinstance(report, EpochReport) else report.probe
