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
- TensorBoard event files: scalars at every report (the last batch's loss, the
  running loss, the learning rate, images/s) and epoch, weight and gradient
  histograms at the probe's sampled steps (at most every HISTOGRAM_INTERVAL_S),
  the hyper-parameters with the final metrics (tensorboard_events.py writes them,
  and says what that costs). Every step's loss and learning rate are in the store:
  an event per step would be work per step for a scalar TensorBoard also has.

What it costs is measured by benchmarks/bench_store.py (store on vs off): a copy
of the state is made only for a best epoch that is not written at once (when its
state is written anyway — a due checkpoint, the run's last epoch — it is written
from the same state, best.ckpt as a second link to last.ckpt's file).
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from netexplorer.core.checkpoints import saved_state, write_saved_state
from netexplorer.core.errors import CheckpointError, StoreError
from netexplorer.core.reports import EpochReport, FinishedReport, Report, StepReport
from netexplorer.core.runs.store import FAILED, RunStore, RunWriter
from netexplorer.core.runs.tensorboard_events import EventFile, histogram_values
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
        self.runs_dir = writer.store.folder
        self.folder = writer.store.run_folder(writer.run_id)
        # What a person should know about the runs folder (a damaged database kept
        # beside the one in use), as RunStore.notice says it.
        self.notice = writer.store.notice
        self._checkpoint_every = checkpoint_every
        self._histogram_every = histogram_every
        self._last_saved: float | None = None  # training seconds at the last save
        self._best_accuracy = -math.inf
        self._best_state: dict[str, Any] | None = None  # a copy, not yet written
        self._best_step: int | None = None  # the best epoch's step, not yet written
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
            # Made while this connection is open: the last one to close a WAL
            # database copies the log back into it, a few milliseconds for nothing.
            writer = RunWriter(store.folder, run_id, flush_every=flush_every)
        return cls(writer, trainer, tensorboard=tensorboard, checkpoint_every=checkpoint_every,
                   histogram_every=histogram_every)

    # ------------------------------------------------------------------ reports

    def record(self, report: Report) -> None:
        self._writer.add(report)
        if isinstance(report, StepReport):
            self._scalars_of_step(report)
            if report.probe is not None and len(report.probe.steps):
                self._histograms(report.step)
            self._write_events(due_only=True)
        elif isinstance(report, EpochReport):
            self._scalars_of_epoch(report)
            self._write_events()
            improved = (math.isfinite(report.test_accuracy)
                        and report.test_accuracy > self._best_accuracy)
            if improved:
                self._best_accuracy = report.test_accuracy
                self._best_step, self._best_state = self._trainer.position.step, None
            elapsed = report.elapsed
            if self._last_saved is None or elapsed - self._last_saved >= self._checkpoint_every:
                self._save_checkpoints()
                self._last_saved = elapsed
            elif improved and report.epoch < self._trainer.config.epochs:
                self._keep_best()  # training goes on: the best epoch's state, copied
            # (after its last epoch the trainer ends where it is: finish writes it)

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

    def _keep_best(self) -> None:
        try:
            self._best_state = saved_state(self._trainer)
        except CheckpointError as exc:  # weights gone non-finite: not a best
            self.problems.append(str(exc))
            self._best_step = None

    def _save_checkpoints(self, last: bool = True) -> None:
        """last.ckpt (unless `last` is False) and the best epoch's, if not yet written:
        from the trainer as it is when that is the best epoch, else from its copy."""
        best_is_now = self._best_step is not None and self._best_step == \
            self._trainer.position.step
        state = None
        if last or best_is_now:
            try:
                state = saved_state(self._trainer, copy=False)
            except CheckpointError as exc:  # non-finite weights: the last good one stays
                self.problems.append(str(exc))
        written = None
        if last and state is not None:
            written = self._write(self.folder / "last.ckpt", state)
        best = state if best_is_now else self._best_state
        if best is not None:
            if (written is not None and best is state and _link(written, self.folder /
                                                                 "best.ckpt")) or \
                    self._write(self.folder / "best.ckpt", best) is not None:
                self._best_state, self._best_step = None, None

    def _write(self, path: Path, state: dict[str, Any]) -> Path | None:
        try:
            return write_saved_state(path, state)
        except CheckpointError as exc:  # a full disk: the last good file stays
            self.problems.append(str(exc))
            return None

    # ------------------------------------------------------------------ TensorBoard

    def _scalars_of_step(self, report: StepReport) -> None:
        if self._tensorboard is None or not report.losses:
            return
        self._scalars(report.step, {
            "loss/train_batch": report.batch_loss, "loss/train_running": report.running_loss,
            "learning_rate": report.lrs[-1] if report.lrs else report.lr,
            "speed/images_per_second": report.images_per_second})

    def _scalars_of_epoch(self, report: EpochReport) -> None:
        if self._tensorboard is None:
            return
        self._scalars(report.step, {
            "loss/train": report.train_loss, "loss/test": report.test_loss,
            "accuracy/train": report.train_accuracy, "accuracy/test": report.test_accuracy})

    def _scalars(self, step: int, values: dict[str, float]) -> None:
        """Scalars of one step as one event (SummaryWriter.add_scalar writes an event
        per scalar): what TensorBoard reads is the same."""
        board = self._tensorboard
        assert board is not None
        board.add(step, board.summary(value=[board.summary.Value(tag=tag, simple_value=float(v))
                                             for tag, v in values.items()]))

    def _histograms(self, step: int) -> None:
        """The weights and their gradients as they are now (the report's last sampled
        step), at most every `histogram_every` seconds: binning every tensor is work
        the training thread pays for (a few ms for LeNet, in torch)."""
        board = self._tensorboard
        now = time.monotonic()
        if board is None or now - self._last_histograms < self._histogram_every:
            return
        self._last_histograms = now
        named: list[tuple[str, Any]] = []
        for name, parameter in self._trainer.model.named_parameters():
            named.append((f"weights/{name}", parameter))
            if parameter.grad is not None:
                named.append((f"gradients/{name}", parameter.grad))
        values = histogram_values(named)
        board.add(step, board.summary(value=values))

    def _hparams(self, finished: FinishedReport, test_accuracy: float | None) -> None:
        """The settings and the outcome, for TensorBoard's HPARAMS tab (as
        SummaryWriter.add_hparams writes them, in the run's own event file)."""
        assert self._tensorboard is not None
        from torch.utils.tensorboard.summary import hparams

        config = {k: v for k, v in asdict(self._trainer.config).items()
                  if isinstance(v, (int, float, str, bool))}
        accuracy = test_accuracy if test_accuracy is not None else finished.test_accuracy
        metrics = {"hparam/test_accuracy": float("nan") if accuracy is None else accuracy,
                   "hparam/epochs": float(finished.epoch)}
        try:
            for summary in hparams(config, metrics):
                self._tensorboard.add(0, summary)
            self._scalars(0, metrics)
        except Exception as exc:  # an event file that cannot be written is not the run
            self.problems.append(f"TensorBoard hyper-parameters not written: {exc}")

    def _write_events(self, due_only: bool = False) -> None:
        board = self._tensorboard
        if board is None:
            return
        try:
            board.write_if_due() if due_only else board.write()
        except OSError as exc:  # a full disk: the run goes on, its event file stops
            self.problems.append(f"TensorBoard events no longer written: {exc}")
            self._close_tensorboard()

    def _close_tensorboard(self) -> None:
        if self._tensorboard is not None:
            try:
                self._tensorboard.close()
            except OSError as exc:
                self.problems.append(f"TensorBoard events not all written: {exc}")
            finally:
                self._tensorboard = None


def _link(source: Path, target: Path) -> bool:
    """`target` made a second name of the file `source` (just written, never changed
    in place: the next write replaces it with a new file), atomically; False where
    the file system has no hard links, to write it instead."""
    # Named as write_atomically names its temporaries: a link left by a killed
    # process is removed by the next write of `target`.
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        temporary.unlink(missing_ok=True)
        os.link(source, temporary)
        os.replace(temporary, target)
        return True
    except OSError:
        temporary.unlink(missing_ok=True)
        return False


def _open_tensorboard(folder: Path) -> EventFile | None:
    """The run's event file, or None (with a log line) if TensorBoard is not
    installed or the folder refuses it."""
    try:
        return EventFile(folder, FLUSH_INTERVAL_S)
    except ImportError as exc:  # pragma: no cover - tensorboard is a dependency
        log.warning("TensorBoard event files are not written: %s", exc)
    except OSError as exc:
        log.warning("TensorBoard event files are not written to %s: %s", folder, exc)
    return None
