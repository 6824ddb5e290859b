"""Helpers for the run store's tests: real runs of the tiny digits models, recorded
into a runs folder the way the GUI's training thread and the CLI record them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from netexplorer.core.checkpoints import checkpoint_of
from netexplorer.core.data import Dataset
from netexplorer.core.inspection.distributions import Histograms
from netexplorer.core.reports import FinishedReport, Report, probe_of
from netexplorer.core.runs.recorder import RunRecorder
from netexplorer.core.trainers import new_trainer, resume_trainer
from netexplorer.core.training import Trainer
from tests.core.trainkit import TINY, config


def record(folder: Path, trainer: Trainer, *, on_report: Callable[[Trainer, Report], None]
           | None = None, finish: bool = True, **start: Any) -> tuple[RunRecorder, list[Report]]:
    """Drive `trainer` to its end, recording every report; finish the run with the
    test accuracy of the weights it ends with (as the CLI does)."""
    recorder = RunRecorder.start(folder, trainer, **start)
    reports: list[Report] = []
    finished = None
    for report in trainer.steps():
        recorder.record(report)
        reports.append(report)
        if isinstance(report, FinishedReport):
            finished = report
        if on_report is not None:
            on_report(trainer, report)
    if finish:
        recorder.finish(finished, test_accuracy=trainer.evaluation_of_current_weights().accuracy)
    return recorder, reports


def tiny_run(folder: Path, dataset: Dataset, *, probe_every: int | None = None,
             on_report=None, finish: bool = True, start: dict[str, Any] | None = None,
             **changes: Any) -> tuple[Trainer, RunRecorder, list[Report]]:
    trainer = new_trainer(TINY, dataset, config(**changes), probe_every=probe_every)
    recorder, reports = record(folder, trainer, on_report=on_report, finish=finish,
                               **(start or {}))
    return trainer, recorder, reports


def continued(folder: Path, parent: Trainer, parent_id: str, dataset: Dataset, epochs: int,
              **start: Any) -> tuple[Trainer, RunRecorder, list[Report]]:
    """A child run that continues `parent` where it stopped, to `epochs` in all."""
    checkpoint = checkpoint_of(parent)
    assert checkpoint.config is not None
    trainer = resume_trainer(checkpoint, dataset, checkpoint.config.replace(epochs=epochs))
    recorder, reports = record(folder, trainer, parent=parent_id, **start)
    return trainer, recorder, reports


def live_histograms(reports: list[Report]) -> Histograms:
    """The distributions a run's live reports carried, one after another (what the
    inspector of the window training it was given)."""
    probes = [probe_of(r) for r in reports]
    carried = [p.histograms for p in probes if p is not None and p.histograms is not None
               and len(p.histograms.steps)]
    return Histograms(np.concatenate([h.steps for h in carried]),
                      np.concatenate([h.counts for h in carried]))
