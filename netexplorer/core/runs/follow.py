"""Following a run another process is writing: only the rows since the last read,
as the reports the writer was given.

A window follows a CLI run, a torchrun job's rank 0 or another window's run by
reading the store again and again (WAL: reading never blocks the writer). Each
read asks for the steps after the cursor's step, the epochs after its epoch and
the run's row; the steps come back grouped as they were reported (a report's
steps share its `elapsed`, and a writer flushes whole reports), so the same
RunHistory.add that a live run's reports go through takes them: the plots, the
runs list and the progress read a followed run exactly as a live one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from itertools import groupby

import numpy as np

from netexplorer.core.inspection.stats import STATS, LayerInfo, ProbeReport
from netexplorer.core.reports import FinishedReport, Report, StepReport
from netexplorer.core.runs.history import RunHistory
from netexplorer.core.runs.store import RUNNING, RunStore, RunSummary, _epoch_from_json, _num

# How long without a new row before a followed run reads as quiet.
QUIET_AFTER_S = 20.0


@dataclass(frozen=True)
class FollowCursor:
    """What has been read of a run: its last step, epoch and probe sample (-1: none;
    the probe numbers its sampled steps from 0)."""

    step: int = 0
    epoch: int = 0
    probe_step: int = -1

    @classmethod
    def of(cls, run: RunHistory) -> FollowCursor:
        """Where a RunHistory already filled (live, loaded or followed) stands. Its
        probe samples are not part of it, so the first read brings all of them."""
        steps = run.steps.values
        return cls(int(steps[-1]) if len(steps) else run.first_step,
                   run.epochs[-1].epoch if run.epochs else 0)


@dataclass(frozen=True)
class FollowUpdate:
    """One read: the reports since the cursor, the probe's samples since it with the
    doctor's alerts and the distributions of its histogrammed steps on them (the
    ProbeReport a live run's inspector is given), the cursor after them, the run's
    row as it is now, and when the read was made."""

    summary: RunSummary
    reports: tuple[Report, ...]
    cursor: FollowCursor
    read_at: float = field(default_factory=time.time)
    probe: ProbeReport | None = None

    @property
    def ended(self) -> bool:
        """The writer finished the run, or is gone (the store says interrupted)."""
        return self.summary.status != RUNNING


def read_new(store: RunStore, run_id: str, cursor: FollowCursor) -> FollowUpdate:
    """The run's rows after `cursor`, as reports in the order they were made (each
    epoch after the steps it ended on), ending with a FinishedReport once the run
    has ended."""
    summary = store.run(run_id)
    rows = store._query("SELECT step, epoch, loss, lr, images_per_second, elapsed FROM steps "
                        "WHERE run = ? AND step > ? ORDER BY step", (run_id, cursor.step))
    epochs = [_epoch_from_json(r[0]) for r in store._query(
        "SELECT report FROM epochs WHERE run = ? AND epoch > ? ORDER BY epoch",
        (run_id, cursor.epoch))]
    per_epoch = (round(epochs[-1].step / epochs[-1].epoch) if epochs and epochs[-1].epoch
                 else 0)
    reports: list[Report] = []
    pending = list(epochs)
    for _, group in groupby(rows, key=lambda r: r[5]):  # one report's steps share elapsed
        steps = list(group)
        while pending and pending[0].step < steps[0][0]:
            reports.append(pending.pop(0))
        reports.append(_step_report(steps, per_epoch))
    reports.extend(pending)
    if summary.status != RUNNING:
        reports.append(FinishedReport(summary.status, summary.message, summary.epochs,
                                      summary.steps, summary.elapsed,
                                      test_accuracy=summary.test_accuracy))
    last_step = int(rows[-1][0]) if rows else cursor.step
    last_epoch = epochs[-1].epoch if epochs else cursor.epoch
    probe = _probe_since(store, run_id, cursor.probe_step)
    probe_step = int(probe.steps[-1]) if probe is not None else cursor.probe_step
    return FollowUpdate(summary, tuple(reports),
                        FollowCursor(last_step, last_epoch, probe_step), probe=probe)


def _probe_since(store: RunStore, run_id: str, after: int) -> ProbeReport | None:
    """The probe's samples after sampled step `after`, with what was kept on them.
    The alerts and histograms are read up to the last sample read, not beyond: rows
    of a later step (another flush committed between these reads) come with that
    step's sample at the next read, since the cursor moves only to the samples'."""
    layers, steps, stats = store.probe_history(run_id, after)
    if not len(steps) or stats.shape[1:] != (len(STATS), len(layers)):
        return None
    last = int(steps[-1])
    return ProbeReport(tuple(_layer_info(layer) for layer in layers), steps,
                       stats.astype(np.float64), tuple(store.alerts(run_id, after, last)),
                       store.histograms(run_id, after, last))


def _layer_info(stored: dict) -> LayerInfo:
    """A LayerInfo from its row in the store (JSON: shapes come back as lists)."""
    return LayerInfo(int(stored["index"]), str(stored["name"]), str(stored["kind"]),
                     bool(stored["has_params"]), bool(stored["activation"]),
                     tuple(stored.get("input_shape") or ()),
                     tuple(stored.get("output_shape") or ()))


def _step_report(rows: list[tuple], per_epoch: int) -> StepReport:
    step, epoch, loss, lr, rate, elapsed = rows[-1]
    losses = tuple(_num(r[2]) for r in rows)
    finite = [v for v in losses if math.isfinite(v)]
    batch = int(step) - per_epoch * (int(epoch) - 1) if per_epoch else 0
    return StepReport(int(epoch), int(step), batch, per_epoch, _num(loss),
                      sum(finite) / len(finite) if finite else math.nan, _num(lr), _num(rate),
                      _num(elapsed), losses=losses, first_step=int(rows[0][0]),
                      lrs=tuple(_num(r[3]) for r in rows))
