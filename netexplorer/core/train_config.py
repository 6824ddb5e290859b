"""What a training run is asked to do, without torch: the GUI builds its form and
remembers its settings from this module before torch has been imported (the
window paints first, torch loads in the background). `netexplorer.core.training`
re-exports everything here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from netexplorer.core.errors import TrainingError

__all__ = ["LOSSES", "MOMENTUM_OPTIMIZERS", "OPTIMIZERS", "SCHEDULES", "TrainConfig",
           "schedule_factor", "uses_momentum"]

# The loss names; their definitions (which need torch) are in losses.py.
LOSSES = ("cross-entropy", "nll", "mse")
OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw", "rmsprop")
# Optimizers that take a momentum setting (Adam and AdamW keep their own betas).
MOMENTUM_OPTIMIZERS = ("sgd", "nesterov", "rmsprop")
SCHEDULES = ("none", "step", "cosine", "onecycle")

# OneCycle's shape, as in torch.optim.lr_scheduler.OneCycleLR's defaults.
ONECYCLE_WARMUP = 0.3
ONECYCLE_DIV = 25.0
ONECYCLE_FINAL_DIV = 1e4


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs besides the model and the data.

    The defaults are the measured recipe for the bundled digits with LeNet: SGD
    with momentum at lr 0.05, batch 64, cosine decay over 30 epochs and random
    shifts of up to 2 pixels (benchmarks/bench_training.py measures what it
    reaches; without the shifts LeNet overfits the 1,438 training digits and ends
    anywhere from 95.5 to 98.3 % depending on the seed).
    """

    loss: str = "cross-entropy"
    optimizer: str = "sgd"  # "sgd" uses momentum when momentum > 0
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    step_size: int = 5  # epochs between decays, for the "step" schedule
    gamma: float = 0.1  # decay factor, for the "step" schedule
    batch_size: int = 64
    epochs: int = 30
    augment_shift: int = 2  # pixels of random translation per training image (0: off)
    seed: int = 0
    device: str = "auto"
    report_every: int = 10  # steps per StepReport

    def validate(self) -> None:
        """Raise TrainingError naming the first bad setting."""
        def bad(message: str) -> TrainingError:
            return TrainingError(message)

        if self.loss not in LOSSES:
            raise bad(f"unknown loss {self.loss!r}: choose one of {', '.join(LOSSES)}")
        if self.optimizer not in OPTIMIZERS:
            raise bad(f"unknown optimizer {self.optimizer!r}: choose one of "
                      f"{', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise bad(f"unknown schedule {self.schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= 100):
            raise bad(f"learning rate must be above 0 and at most 100, got {self.lr}")
        if not (0 <= self.momentum < 1):
            raise bad(f"momentum must be from 0 to below 1, got {self.momentum}")
        if self.optimizer == "nesterov" and self.momentum <= 0:
            raise bad("nesterov needs momentum above 0 (e.g. 0.9)")
        if not (0 <= self.weight_decay < 1):
            raise bad(f"weight decay must be from 0 to below 1, got {self.weight_decay}")
        if not (1 <= self.batch_size <= 65_536):
            raise bad(f"batch size must be from 1 to 65536, got {self.batch_size}")
        if not (1 <= self.epochs <= 100_000):
            raise bad(f"epochs must be from 1 to 100000, got {self.epochs}")
        if self.step_size < 1 or not (0 < self.gamma <= 1):
            raise bad("the step schedule needs step_size ≥ 1 and 0 < gamma ≤ 1")
        if not (0 <= self.augment_shift <= 64):
            raise bad(f"augment_shift must be from 0 to 64 pixels, got {self.augment_shift}")
        if self.report_every < 1:
            raise bad(f"report_every must be at least 1, got {self.report_every}")
        if not (0 <= self.seed < 2**63):
            raise bad(f"seed must be a non-negative integer, got {self.seed}")

    def replace(self, **changes: Any) -> TrainConfig:
        from dataclasses import replace

        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def schedule_factor(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """The multiplier of the base learning rate at `step` (0-based, global)."""
    total = max(1, config.epochs * steps_per_epoch)
    t = min(step, total)
    if config.schedule == "step":
        return config.gamma ** ((step // max(1, steps_per_epoch)) // config.step_size)
    if config.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t / total))
    if config.schedule == "onecycle":
        warm = max(1, int(ONECYCLE_WARMUP * total))
        start, peak, end = 1 / ONECYCLE_DIV, 1.0, 1 / (ONECYCLE_DIV * ONECYCLE_FINAL_DIV)
        if t < warm:
            return _cos_between(start, peak, t / warm)
        return _cos_between(peak, end, (t - warm) / max(1, total - warm))
    return 1.0


def _cos_between(a: float, b: float, fraction: float) -> float:
    return b + (a - b) * 0.5 * (1 + math.cos(math.pi * min(max(fraction, 0.0), 1.0)))


def uses_momentum(optimizer: str) -> bool:
    """Whether `momentum` means anything for this optimizer (forms grey it out)."""
    return optimizer in MOMENTUM_OPTIMIZERS
