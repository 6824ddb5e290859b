"""The window's side of the run store: every stored run listed, loaded when it is
looked at, renamed, deleted, its weights opened — all off the GUI thread.

The store is SQLite on a disk that may be slow or shared (a cluster's runs
folder), and another process may hold its write lock for a moment, so nothing
here touches it on the GUI thread: each operation is a job on one JobQueue
(they run in order, so a rename is never overtaken by a delete), and its
TaskHandle reports on the GUI thread. The jobs are plain functions of plain
arguments; each opens its own RunStore (a connection per thread).

Following a run another process writes (RunFollower) is the same kind of job on
a timer: every FOLLOW_INTERVAL_MS one read of the rows since the last
(core/runs/follow.py), never two at once, its reports added to the run's
RunHistory on the GUI thread — the plots then redraw on the RedrawClock as for
a live run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from netexplorer.core import runs as core_runs
from netexplorer.ui.session.workers import JobQueue, TaskFailure, TaskHandle, expect_gui_thread

if TYPE_CHECKING:  # pragma: no cover - a checkpoint holds tensors
    from netexplorer.core.checkpoints import Checkpoint
    from netexplorer.core.data import Dataset
    from netexplorer.core.evaluation import EvalReport
    from netexplorer.core.runs import RunHistory, RunSummary
    from netexplorer.core.runs.follow import FollowCursor, FollowUpdate

# The store's classes come through the lazy core.runs package and core.runs.follow is
# imported where it is used: the window builds its RunLibrary before its first
# paint, which must not wait for numpy (the store's and the histories' arrays).


@dataclass(frozen=True)
class StoreListing:
    """What list_job found: the runs (newest first) and anything to tell the person
    about the folder (a damaged database left beside)."""

    folder: Path
    runs: tuple[RunSummary, ...]
    notice: str | None


def list_job(folder: Path) -> StoreListing:
    with core_runs.RunStore(folder) as store:
        return StoreListing(store.folder, tuple(store.list_runs()), store.notice)


def history_job(folder: Path, run_id: str) -> RunHistory:
    """The run's own steps and epochs: a continued run is drawn after its parent's
    curve (its steps are numbered after the parent's), not over it."""
    with core_runs.RunStore(folder) as store:
        return store.load_history(run_id, lineage=False)


def rename_job(folder: Path, run_id: str, name: str) -> str:
    with core_runs.RunStore(folder) as store:
        store.rename(run_id, name)
        return store.run(run_id).name


def delete_job(folder: Path, run_id: str) -> str:
    with core_runs.RunStore(folder) as store:
        store.delete(run_id)
    return run_id


def weights_job(folder: Path, run_id: str) -> Checkpoint:
    """The run's last checkpoint, read and checked (torch.load, off the GUI thread)."""
    from netexplorer.core.checkpoints import load_checkpoint
    from netexplorer.core.errors import StoreError

    with core_runs.RunStore(folder) as store:
        path = store.checkpoint_path(run_id, "last")
        name = store.run(run_id).name
    if not path.exists():
        raise StoreError(f"run {name} has no checkpoint yet (one is written after its first "
                         f"epoch)")
    return load_checkpoint(path)


@dataclass(frozen=True, eq=False)
class WeightsEvaluation:
    """A stored run's last weights evaluated on the window's test images: the report
    and the epochs those weights had trained."""

    report: EvalReport
    epochs_done: int


def evaluate_weights_job(folder: Path, run_id: str, dataset: Dataset) -> WeightsEvaluation:
    """The run's last checkpoint evaluated on `dataset`'s test split, refused (with
    what to do) when the dataset is not the one the weights were trained for."""
    from netexplorer.core.evaluation import evaluate
    from netexplorer.core.formatting import format_shape

    checkpoint = weights_job(folder, run_id)
    trained_on = checkpoint.dataset_name or "another dataset"
    if checkpoint.classes and tuple(checkpoint.classes) != tuple(dataset.classes):
        raise RuntimeError(f"its model ({checkpoint.spec.name}) was trained on {trained_on}, "
                           f"not on the {dataset.name} loaded here: load {trained_on} in the "
                           f"Data tab to evaluate it here")
    if tuple(checkpoint.spec.input_shape) != tuple(dataset.input_shape):
        raise RuntimeError(f"its model ({checkpoint.spec.name}) takes "
                           f"{format_shape(checkpoint.spec.input_shape)} images but the "
                           f"{dataset.name} loaded here are {format_shape(dataset.input_shape)}: "
                           f"load {trained_on} for its model to evaluate it here")
    if checkpoint.normalization is not None and checkpoint.normalization != dataset.normalization:
        raise RuntimeError(f"its model was trained on {trained_on} normalised "
                           f"another way: load that dataset for its model to evaluate it here")
    loss = checkpoint.config.loss if checkpoint.config is not None else "cross-entropy"
    report = evaluate(checkpoint.build_model(), dataset.test, loss=loss, classes=dataset.classes)
    return WeightsEvaluation(report, checkpoint.epochs_done)


def follow_job(folder: Path, run_id: str, cursor: FollowCursor) -> FollowUpdate:
    from netexplorer.core.runs.follow import read_new

    with core_runs.RunStore(folder) as store:
        return read_new(store, run_id, cursor)


FOLLOW_INTERVAL_MS = 1000


class RunFollower(QObject):
    """Keeps one RunHistory up to date with the store while another process writes
    it: `updated(run)` after new rows were added, `probed(run, ProbeReport)` with
    the probe's samples since the last read (all of them at the first), `quiet(run,
    since)` once no row has come for QUIET_AFTER_S (since: the time of the last one),
    `ended(run)` when the run has ended and following stops."""

    updated = Signal(object)
    probed = Signal(object, object)
    quiet = Signal(object, float)
    ended = Signal(object)
    problem = Signal(str)

    def __init__(self, library: RunLibrary, run: RunHistory, parent: QObject | None = None,
                 interval_ms: int = FOLLOW_INTERVAL_MS) -> None:
        super().__init__(parent)
        if run.store_id is None:
            raise RuntimeError("only a run in the run store can be followed")
        self.run = run
        self._library = library
        from netexplorer.core.runs.follow import QUIET_AFTER_S, FollowCursor

        self._quiet_after_s = QUIET_AFTER_S
        self._cursor = FollowCursor.of(run)
        self._pending: TaskHandle | None = None
        self._last_news = time.time()
        self._said_quiet = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._poll)

    @property
    def following(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        self._poll()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()  # a read under way is ignored when it comes (not following)

    @Slot()
    def _poll(self) -> None:
        if self._pending is not None:  # the last read is still under way (a slow disk)
            return
        assert self.run.store_id is not None
        self._pending = self._library._submit(follow_job, self.run.store_id, self._cursor,
                                              description="following a run")
        self._pending.finished.connect(self._on_read)
        self._pending.failed.connect(self._on_failed)

    @Slot(object)
    def _on_read(self, update: FollowUpdate) -> None:
        expect_gui_thread("RunFollower._on_read")
        self._pending = None
        if not self.following:
            return  # stopped meanwhile
        self._cursor = update.cursor
        if update.reports:
            self.run.stored = None  # filled from here on: never loaded over
            self.run.extend(update.reports)
            self._last_news, self._said_quiet = update.read_at, False
            self.updated.emit(self.run)
        elif not self._said_quiet and update.read_at - self._last_news >= self._quiet_after_s:
            self._said_quiet = True
            self.quiet.emit(self.run, self._last_news)
        if update.probe is not None:
            self.probed.emit(self.run, update.probe)
        if update.ended:
            self.stop()
            self.ended.emit(self.run)

    @Slot(object)
    def _on_failed(self, failure: TaskFailure) -> None:
        expect_gui_thread("RunFollower._on_failed")
        self._pending = None
        self.stop()
        self.problem.emit(f"Stopped following the run: {failure.message}")


def summary_history(number: int, summary: RunSummary) -> RunHistory:
    """A stored run as the runs list shows it before its steps are loaded."""
    from netexplorer.core.reports import FinishedReport

    run = core_runs.RunHistory(number, summary.config, summary.model, summary.dataset,
                               started_at=summary.created, store_id=summary.id,
                               name=summary.name, parent_id=summary.parent,
                               first_step=summary.first_step)
    run.stored = summary
    run.changes.extend(summary.changes)
    if summary.status != "running":
        run.finished = FinishedReport(summary.status, summary.message, summary.epochs,
                                      summary.steps, summary.elapsed,
                                      test_accuracy=summary.test_accuracy)
    return run


class RunLibrary(QObject):
    """The runs folder the window uses and the jobs on it. listed(StoreListing)
    follows list_runs(); every other operation returns its TaskHandle."""

    listed = Signal(object)
    listFailed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.folder: Path | None = None
        self._jobs = JobQueue("run store", self)

    def set_folder(self, folder: Path | None) -> None:
        self.folder = folder

    def list_runs(self) -> TaskHandle | None:
        if self.folder is None:
            return None
        handle = self._jobs.submit(list_job, self.folder, description="listing the runs")
        handle.finished.connect(self._on_listed)
        handle.failed.connect(self._on_list_failed)
        return handle

    def load_history(self, run_id: str) -> TaskHandle:
        return self._submit(history_job, run_id, description="loading a run")

    def rename(self, run_id: str, name: str) -> TaskHandle:
        return self._submit(rename_job, run_id, name, description="renaming a run")

    def delete(self, run_id: str) -> TaskHandle:
        return self._submit(delete_job, run_id, description="deleting a run")

    def weights(self, run_id: str) -> TaskHandle:
        return self._submit(weights_job, run_id, description="opening a run's weights")

    def evaluate_weights(self, run_id: str, dataset: Dataset) -> TaskHandle:
        return self._submit(evaluate_weights_job, run_id, dataset,
                            description="evaluating a run's weights")

    def shutdown(self, timeout_ms: int) -> None:
        self._jobs.shutdown(timeout_ms)

    def _submit(self, job: Any, *args: Any, description: str) -> TaskHandle:
        if self.folder is None:
            raise RuntimeError("no runs folder is set")
        return self._jobs.submit(job, self.folder, *args, description=description)

    @Slot(object)
    def _on_listed(self, listing: StoreListing) -> None:
        expect_gui_thread("RunLibrary._on_listed")
        self.listed.emit(listing)

    @Slot(object)
    def _on_list_failed(self, failure: TaskFailure) -> None:
        expect_gui_thread("RunLibrary._on_list_failed")
        self.listFailed.emit(failure.message)
