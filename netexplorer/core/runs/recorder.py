"""Recording a run while it trains: the one recorder the GUI's training thread and
the CLI both use.

A RunRecorder takes the Trainer's reports as they come and keeps, in the run's
folder of the store:

- the metrics, through a RunWriter (SQLite, a transaction at most every second);
- last.ckpt — the weights the run holds, with everything needed to resume it —
  at the first epoch, then at most every CHECKPOINT_INTERVAL_S of training, and
  at the end; best.ckpt for the epoch with the best test accuracy (kept in memory
  when it improves, written on the same clock and at the end). Both are written
  atomically: a complete checkpoint is always there once one has been written;
- TensorBoard event files: scalars at every report and epoch, weight and
  gradient histograms at the probe's sampled steps (at most every
  HISTOGRAM_INTERVAL_S), the hyper-parameters with the final metrics.

What it costs is measured by benchmarks/bench_store.py (store on vs off).
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from netexplorer.core.checkpoints import save_checkpoint, saved_state, write_saved_state
from netexplorer.core.errors import CheckpointError, StoreError
from netexplorer.core.reports import EpochReport, FinishedReport, Report, StepReport
from netexplorer.core.runs.store import FAILED, RunStore, RunWriter
from netexplorer.core.training import Trainer

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_S = 10.0
HISTOGRAM_INTERVAL_S = 1.0
FLUSH_INTERVAL_S = 1.0


class RunRecorder:
    """Records one run of `trainer` into a runs folder; see the module doc.

    Use it on the thread that drives the trainer: record() every report, then
    finish() once (close() alone leaves the run to show as interrupted).
    """

    def __init__(self, writer: RunWriter, trainer: Trainer, *, tensorboard: bool = True,
                 checkpoint_every: float = CHECKPOINT_INTERVAL_S,
                 histogram_every: float = HISTOGRAM_INTERVAL_S) -> None:
        self._writer = writer
        self._trainer = trainer
        self.run_id = writer.run_id
        self.folder = writer.store.run_folder(writer.run_id)
        # What a person should know about the runs folder (a damaged database kept
        # beside the one in use), as RunStore.notice says it.
        self.notice = writer.store.notice
        self._checkpoint_every = checkpoint_every
        self._histogram_every = histogram_every
        self._last_saved: float | None = None  # training seconds at the last save
        self._best_accuracy = -math.inf
        self._best_state: dict[str, Any] | None = None  # not yet written
        self._last_histograms = -math.inf
        self._tensorboard = _open_tensorboard(self.folder) if tensorboard else None
        self.problems: list[str] = []  # what could not be kept, in words

    @classmethod
    def start(cls, folder: str | os.PathLike | None, trainer: Trainer, *,
              name: str | None = None, parent: str | None = None,
              tensorboard: bool = True, checkpoint_every: float = CHECKPOINT_INTERVAL_S,
              histogram_every: float = HISTOGRAM_INTERVAL_S,
              flush_every: float = FLUSH_INTERVAL_S) -> RunRecorder:
        """Create the run in the store (a continued run names its parent and starts at
        the trainer's position) and start recording it.

        `checkpoint_every` (seconds of training between writes of last.ckpt and
        best.ckpt after the first epoch), `histogram_every` and `flush_every` (how
        old the metrics on disk may be) trade what a kill can lose for time."""
        spec = trainer.spec
        if spec is None:
            raise StoreError("only a model built from a spec can be stored as a run")
        with RunStore(folder) as store:
            run_id = store.create_run(spec.to_json(indent=None), trainer.config,
                                      model=spec.name, dataset=trainer.dataset.name,
                                      name=name, parent=parent,
                                      first_step=trainer.position.step,
                                      epochs=trainer.position.epoch)
            root = store.folder
        return cls(RunWriter(root, run_id, flush_every=flush_every), trainer,
                   tensorboard=tensorboard, checkpoint_every=checkpoint_every,
                   histogram_every=histogram_every)

    # ------------------------------------------------------------------ reports

    def record(self, report: Report) -> None:
        self._writer.add(report)
        if isinstance(report, StepReport):
            self._scalars_of_step(report)
            if report.probe is not None and len(report.probe.steps):
                self._histograms(report.step)
        elif isinstance(report, EpochReport):
            self._scalars_of_epoch(report)
            self._keep_best(report)
            elapsed = report.elapsed
            if self._last_saved is None or elapsed - self._last_saved >= self._checkpoint_every:
                self._save_checkpoints()
                self._last_saved = elapsed

    def finish(self, finished: FinishedReport | None, *, failure: str | None = None,
               test_accuracy: float | None = None, save_last: bool = True) -> None:
        """The run ended (`finished`), or raised (`failure`): its last checkpoints, its
        status and the hyper-parameters are written, and the lock is released.

        `save_last=False` keeps the last.ckpt already written: for a run cut short
        where the model may hold a half-applied step (a KeyboardInterrupt raised
        inside the optimizer's update); best.ckpt, a copy taken at an epoch's end,
        is still written."""
        try:
            self._save_checkpoints(last=save_last)
            if self._tensorboard is not None and finished is not None:
                self._hparams(finished, test_accuracy)
        finally:
            if failure is not None or finished is None:
                status, message = FAILED, failure or "the run ended without a result"
            else:
                status, message = finished.status, finished.message
            accuracy = test_accuracy if test_accuracy is not None else (
                finished.test_accuracy if finished is not None else None)
            try:
                self._writer.finish(status, message, test_accuracy=accuracy)
            finally:
                self._close_tensorboard()

    def close(self) -> None:
        """Stop recording without an ending (the window closed mid-run): the run
        shows as interrupted, with what was written so far."""
        try:
            self._writer.flush()
        finally:
            self._writer.close()
            self._close_tensorboard()

    # ------------------------------------------------------------------ checkpoints

    def _keep_best(self, report: EpochReport) -> None:
        if math.isfinite(report.test_accuracy) and report.test_accuracy > self._best_accuracy:
            try:
                self._best_state = saved_state(self._trainer)
                self._best_accuracy = report.test_accuracy
            except CheckpointError as exc:  # weights gone non-finite: not a best
                self.problems.append(str(exc))

    def _save_checkpoints(self, last: bool = True) -> None:
        try:
            if last:
                save_checkpoint(self.folder / "last.ckpt", self._trainer)
        except CheckpointError as exc:  # non-finite weights: the last good one stays
            self.problems.append(str(exc))
        if self._best_state is not None:
            try:
                write_saved_state(self.folder / "best.ckpt", self._best_state)
                self._best_state = None
            except CheckpointError as exc:
                self.problems.append(str(exc))

    # ------------------------------------------------------------------ TensorBoard

    def _scalars_of_step(self, report: StepReport) -> None:
        board = self._tensorboard
        if board is None:
            return
        lrs = report.lrs or (report.lr,) * len(report.losses)
        for i, loss in enumerate(report.losses):
            step = report.first_step + i
            board.add_scalar("loss/train_batch", loss, step)
            board.add_scalar("learning_rate", lrs[min(i, len(lrs) - 1)], step)
        board.add_scalar("loss/train_running", report.running_loss, report.step)
        board.add_scalar("speed/images_per_second", report.images_per_second, report.step)

    def _scalars_of_epoch(self, report: EpochReport) -> None:
        board = self._tensorboard
        if board is None:
            return
        for tag, value in (("loss/train", report.train_loss), ("loss/test", report.test_loss),
                           ("accuracy/train", report.train_accuracy),
                           ("accuracy/test", report.test_accuracy)):
            board.add_scalar(tag, value, report.step)

    def _histograms(self, step: int) -> None:
        """The weights and their gradients as they are now (the report's last sampled
        step), at most every `histogram_every` seconds: a histogram of every tensor is
        host work the training thread pays for."""
        board = self._tensorboard
        now = time.monotonic()
        if board is None or now - self._last_histograms < self._histogram_every:
            return
        self._last_histograms = now
        for name, parameter in self._trainer.model.named_parameters():
            values = parameter.detach()
            if values.numel() and bool(values.isfinite().all()):
                board.add_histogram(f"weights/{name}", values.float().cpu(), step)
            grad = parameter.grad
            if grad is not None and grad.numel() and bool(grad.isfinite().all()):
                board.add_histogram(f"gradients/{name}", grad.detach().float().cpu(), step)

    def _hparams(self, finished: FinishedReport, test_accuracy: float | None) -> None:
        assert self._tensorboard is not None
        config = {k: v for k, v in asdict(self._trainer.config).items()
                  if isinstance(v, (int, float, str, bool))}
        accuracy = test_accuracy if test_accuracy is not None else finished.test_accuracy
        metrics = {"hparam/test_accuracy": float("nan") if accuracy is None else accuracy,
                   "hparam/epochs": float(finished.epoch)}
        try:
            self._tensorboard.add_hparams(config, metrics, run_name=".")
        except Exception as exc:  # an event file that cannot be written is not the run
            self.problems.append(f"TensorBoard hyper-parameters not written: {exc}")

    def _close_tensorboard(self) -> None:
        if self._tensorboard is not None:
            try:
                self._tensorboard.close()
            finally:
                self._tensorboard = None


def _open_tensorboard(folder: Path) -> Any:
    """A SummaryWriter writing into the run's folder, or None (with a log line) if
    TensorBoard is not installed or the folder refuses it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # pragma: no cover - tensorboard is a dependency
        log.warning("TensorBoard event files are not written: %s", exc)
        return None
    try:
        return SummaryWriter(log_dir=str(folder), flush_secs=5)
    except OSError as exc:
        log.warning("TensorBoard event files are not written to %s: %s", folder, exc)
        return None
