"""The run's diagnosis: one set of verdicts that the Training tab's banner, the
Inspector and the CLI all read, so they never contradict each other.

A verdict says what happened (the run diverged at step 5 in conv2; it does not
learn: accuracy at chance), what happened to the run because of it (it ended, it
paused) and what to try — worded for this model and this optimizer (advice.py):
no "replace the sigmoid" for a ReLU model, and one direction for the learning
rate, chosen once from the doctor's evidence before the optimizer's usual range.
Torch-free: the GUI reads it before torch has loaded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from netexplorer.core.formatting import percent
from netexplorer.core.inspection.advice import (
    OPTIMIZER_NAMES,
    lr_advice,
    lr_out_of_range,
    vanishing_advice,
)
from netexplorer.core.inspection.stats import NONFINITE_KINDS, Alert
from netexplorer.core.reports import EpochReport, FinishedReport
from netexplorer.core.train_config import TrainConfig

__all__ = ["CHANCE_FACTOR", "RunFacts", "Verdict", "diagnose", "lr_direction", "not_learning"]

# Accuracy at most this many times 1/classes (and at most CHANCE_MARGIN above it:
# 60 % is no chance level for two classes) is "at chance level".
CHANCE_FACTOR = 1.5
CHANCE_MARGIN = 0.1
# A cross-entropy (or NLL) test loss at least this share of ln(classes) — what
# guessing uniformly costs — is "flat at chance level".
CHANCE_LOSS_SHARE = 0.98
# Alert kinds that say the steps are too big, and those that say they are too small.
TOO_BIG = ("exploding", "update_high", *NONFINITE_KINDS)
TOO_SMALL = ("update_low",)


@dataclass(frozen=True)
class Verdict:
    """One finding about a run, in words."""

    kind: str  # "diverged", "not_learning"
    severity: str  # "error" or "warning"
    message: str  # what happened, and what it did to the run
    advice: str  # what to try
    layer: str | None = None
    layer_index: int | None = None
    step: int | None = None

    def __str__(self) -> str:
        return f"{self.message}. What to try: {self.advice}."


@dataclass(frozen=True)
class RunFacts:
    """What the diagnosis reads: the run's settings, its model's layer kinds, its
    epochs and ending, and the doctor's alerts."""

    config: TrainConfig
    layer_kinds: tuple[str, ...] = ()
    epochs: tuple[EpochReport, ...] = ()
    finished: FinishedReport | None = None
    alerts: tuple[Alert, ...] = ()

    @classmethod
    def of_run(cls, run: Any) -> RunFacts:
        """From a RunHistory (runs/history.py)."""
        return cls(run.config, tuple(run.layer_kinds), tuple(run.epochs), run.finished,
                   tuple(run.alerts))


def lr_direction(config: TrainConfig, alerts: Iterable[Alert]) -> str | None:
    """"lower" or "raise": the one direction every piece of advice gives. The
    doctor's evidence comes first (steps too big, then too small), then the
    optimizer's usual range; None when nothing points either way."""
    kinds = {alert.kind for alert in alerts}
    if kinds & set(TOO_BIG):
        return "lower"
    if kinds & set(TOO_SMALL):
        return "raise"
    out = lr_out_of_range(config.optimizer, config.lr)
    return {"high": "lower", "low": "raise"}.get(out or "")


def not_learning(epochs: Sequence[EpochReport], loss: str) -> str | None:
    """Why the run reads as not learning after an epoch ('' never): accuracy at
    chance level, or a loss flat at what guessing costs; None if it learns."""
    if not epochs or not epochs[-1].per_class_accuracy:
        return None
    last = epochs[-1]
    classes = len(last.per_class_accuracy)
    if classes < 2:
        return None
    chance = 1 / classes
    if last.test_accuracy <= min(CHANCE_FACTOR * chance, chance + CHANCE_MARGIN):
        return (f"test accuracy {percent(last.test_accuracy)} after {last.epoch} "
                f"epoch{'s' if last.epoch != 1 else ''} is at chance level "
                f"({percent(chance)} for {classes} classes)")
    # The test loss, of the epoch's final weights (the training loss averages the
    # whole epoch, its untrained start included).
    # After two epochs at least: a first epoch may sit on the plateau of the start.
    if loss in ("cross-entropy", "nll") and len(epochs) >= 2 and \
            math.isfinite(last.test_loss) and \
            last.test_loss >= CHANCE_LOSS_SHARE * math.log(classes):
        return (f"the test loss is {last.test_loss:.3g} after {last.epoch} "
                f"epoch{'s' if last.epoch != 1 else ''}, no better than guessing "
                f"(ln {classes} = {math.log(classes):.3g})")
    return None


def diagnose(facts: RunFacts) -> list[Verdict]:
    """The run's verdicts, the most serious first (none for a healthy run)."""
    verdicts = []
    finished = facts.finished
    if finished is not None and finished.status == "diverged":
        verdicts.append(_diverged(facts, finished))
    elif (reason := not_learning(facts.epochs, facts.config.loss)) is not None:
        verdicts.append(_not_learning(facts, reason))
    return verdicts


def _diverged(facts: RunFacts, finished: FinishedReport) -> Verdict:
    c = facts.config
    site = finished.nonfinite
    where = f": {site.describe()}" if site is not None else ""
    lr = finished.diverged_lr if finished.diverged_lr is not None else c.lr
    if finished.diverged_step is None:  # a report from before the step was kept
        message = f"Diverged: {finished.message}"
    else:
        message = (f"Diverged at step {finished.diverged_step}{where}; the run ended there, "
                   f"keeping the weights of step {finished.step}")
    advice = lr_advice(c.optimizer, lr, "lower")
    if site is not None and site.layer and site.where in ("output", "gradient"):
        advice += f", or add batch normalisation before '{site.layer}'"
    return Verdict("diverged", "error", message, advice,
                   site.layer if site is not None else None,
                   site.layer_index if site is not None else None, finished.diverged_step)


def _not_learning(facts: RunFacts, reason: str) -> Verdict:
    c = facts.config
    name = OPTIMIZER_NAMES.get(c.optimizer, c.optimizer)
    causes: list[str] = []  # the likely causes, in words
    fixes: list[str] = []  # what to try for each, in the same order
    alerts = list(facts.alerts)
    direction = lr_direction(c, alerts)
    if direction is not None:
        causes.append(_lr_evidence(c, alerts, direction))
        fixes.append(lr_advice(c.optimizer, c.lr, direction))
    vanishing = [a for a in alerts if a.kind == "vanishing"]
    if vanishing:
        causes.append(f"gradients vanish on the way back to '{vanishing[0].layer}'")
        fixes.append(vanishing_advice(facts.layer_kinds))
    dead = [a for a in alerts if a.kind == "dead"]
    if dead:
        causes.append(f"ReLU units in '{dead[0].layer}' died")
        fixes.append("try LeakyReLU" if direction else "lower the learning rate or try "
                     "LeakyReLU")
    if not causes:
        causes.append(f"no layer shows a problem at {name}'s learning rate {c.lr:g}")
        fixes.append("check that the labels match the images, Reset weights, or try a "
                     "larger model")
    return Verdict("not_learning", "warning",
                   f"The model is not learning: {reason}. Likely: {'; '.join(causes)}",
                   "; ".join(fixes))


def _lr_evidence(config: TrainConfig, alerts: list[Alert], direction: str) -> str:
    """Why the learning rate is suspect, in words."""
    name = OPTIMIZER_NAMES.get(config.optimizer, config.optimizer)
    kinds = TOO_BIG if direction == "lower" else TOO_SMALL
    found = [a for a in alerts if a.kind in kinds]
    if found:
        what = ("its steps are too big" if direction == "lower" else
                "its steps are too small")
        return f"{what} ('{found[0].layer}': {found[0].message})"
    return (f"the learning rate {config.lr:g} is far "
            f"{'above' if direction == 'lower' else 'below'} what {name} works with")


def outcome(finished: FinishedReport | None, paused: bool, step: int | None = None) -> str:
    """What happened to the run, truthfully: for an alert that asked to pause."""
    if finished is None:
        return (f"training paused{f' at step {step}' if step is not None else ''}" if paused
                else "training goes on")
    if finished.status == "diverged":
        return f"the run diverged and ended at step {finished.diverged_step}"
    return f"the run {finished.status} at step {finished.step}"
