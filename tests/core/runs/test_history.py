"""RunHistory: every step's loss and learning rate, and the settings changed while
a run trained — live, in the CSV export and from a checkpoint."""

from __future__ import annotations

import csv
import io

import pytest

from netexplorer.core.checkpoints import load_checkpoint, save_checkpoint
from netexplorer.core.reports import StepReport
from netexplorer.core.runs import RunHistory, run_from_checkpoint
from netexplorer.core.training import Trainer
from tests.core.trainkit import TINY, config


def train_with_a_change(digits8, **settings):
    trainer = Trainer(TINY, digits8, config(epochs=1, report_every=10, **settings))
    run = RunHistory(1, trainer.config)
    for report in trainer.steps():
        run.add(report)
        if isinstance(report, StepReport) and report.step == 10:
            trainer.control.set_learning_rate(0.005)  # as a person types it mid-run
    return trainer, run


def test_every_step_has_its_learning_rate(digits8):
    trainer, run = train_with_a_change(digits8, schedule="cosine")
    steps = trainer.position.step
    assert len(run.lrs) == len(run.losses) == steps
    assert list(run.lr_steps.values) == list(range(1, steps + 1))
    assert run.lrs.values[0] == pytest.approx(0.1)  # cosine starts at the base rate
    assert run.lrs.values[10] == pytest.approx(0.005)  # step 11: the typed rate
    assert run.lrs.values[11] < run.lrs.values[10]  # and the schedule goes on from it
    rows = list(csv.DictReader(io.StringIO(run.to_csv())))
    assert len(rows) == steps and "nan" not in {row["learning_rate"] for row in rows}
    assert float(rows[10]["learning_rate"]) == pytest.approx(0.005)


def test_a_change_made_while_training_is_recorded_with_its_step(digits8):
    _, run = train_with_a_change(digits8, schedule="none")
    [change] = run.changes
    assert (change.step, change.name, change.new) == (11, "lr", 0.005)
    assert change.old == pytest.approx(0.1) and change.at > 0


def test_a_short_run_has_a_learning_rate_for_each_step(digits8):
    """Five steps, one report: five rates (one per report left a 5-step run's
    learning-rate plot a single point)."""
    trainer = Trainer(TINY, digits8, config(epochs=1, report_every=5))
    run = RunHistory(1, trainer.config)
    for report in trainer.steps():
        run.add(report)
        if isinstance(report, StepReport) and report.step >= 5:
            trainer.control.stop()
    assert len(run.lrs) == 5


def test_a_checkpoint_brings_every_steps_learning_rate(digits8, tmp_path):
    trainer, run = train_with_a_change(digits8, schedule="cosine")
    opened = run_from_checkpoint(2, load_checkpoint(save_checkpoint(tmp_path / "c.ckpt",
                                                                    trainer)))
    assert list(opened.lrs.values) == pytest.approx(list(run.lrs.values))
    assert "nan" not in opened.to_csv()
