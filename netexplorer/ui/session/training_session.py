"""The training session: one place that owns the model, its training thread and
the runs, so that every panel (training, inspector, evaluation, the File menu)
talks to the same model the same way.

Threading rules kept here (docs/ARCHITECTURE.md, "Threads"):
- training runs in a TrainingWorker on its own QThread (workers.py); the GUI
  thread never runs a training step and never touches the live model;
- anything that uses the model — evaluation, feature maps, exports, checkpoints —
  is submitted as a job: while a run is active it runs on the training thread
  between batches (TrainingControl.call), otherwise on a job thread; each job's
  TaskHandle brings back its plain-data result on the GUI thread;
- reports arrive batched (≤ 30 signals/s) and are appended to the current
  RunHistory; views redraw on their own timers.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot

from netexplorer.core.reports import FinishedReport, PausedReport, StepReport
from netexplorer.ui.session.run_library import (
    RunFollower,
    RunLibrary,
    StoreListing,
    summary_history,
)
from netexplorer.ui.session.workers import (
    JobQueue,
    TaskFailure,
    TaskHandle,
    TrainingThread,
    TrainingWorker,
    expect_gui_thread,
)

if TYPE_CHECKING:  # pragma: no cover - torch is imported lazily, off the GUI thread
    from torch import nn

    from netexplorer.core.checkpoints import Checkpoint
    from netexplorer.core.data import Dataset
    from netexplorer.core.runs import RunHistory
    from netexplorer.core.runs.recorder import RunRecorder
    from netexplorer.core.specs import ModelSpec
    from netexplorer.core.training import TrainConfig, Trainer, TrainingControl

IDLE = "idle"
STARTING = "starting"
RUNNING = "running"
PAUSED = "paused"
STOPPING = "stopping"

# Closing the window during training must end within 2 s: a batch is milliseconds
# and an epoch-end evaluation well under a second for the datasets here.
SHUTDOWN_TIMEOUT_MS = 1800


@dataclass
class ModelContext:
    """What a job gets: the model and what it was built and trained with.

    Jobs run on the training or job thread; they may use the model freely there
    but must return plain data (numbers, numpy arrays, paths), never the model.
    """

    model: nn.Module
    spec: ModelSpec
    dataset: Dataset | None
    trainer: Trainer | None
    config: TrainConfig | None


class _JobRelay(QObject):
    """Carries a job's outcome from the training thread to the GUI thread."""

    outcome = Signal(int, object, bool)


class _UntrainedModel:
    """The spec's model before any training: built once, on first use, on whichever
    job thread needs it first (building imports torch), seeded like a fresh run.

    The GUI thread only creates and drops it; the lock makes the build happen once
    even if two job threads ask at the same time.
    """

    def __init__(self, spec: ModelSpec, seed: int) -> None:
        self._spec = spec
        self._seed = seed
        self._lock = threading.Lock()
        self._model: nn.Module | None = None

    @property
    def built(self) -> bool:
        return self._model is not None

    def get(self) -> nn.Module:
        with self._lock:
            if self._model is None:
                import torch

                from netexplorer.core.specs import build_model

                torch.manual_seed(self._seed)
                self._model = build_model(self._spec)
            return self._model


class _RunBox:
    """The running trainer, as its own thread sees it: set by build_trainer and read
    by jobs that run between its batches, both on the training thread."""

    trainer: Trainer | None = None


class TrainingSession(QObject):
    """The model being trained, its runs, and the controls — see the module doc."""

    stateChanged = Signal(str)
    runStarted = Signal(object)  # RunHistory
    reportsReady = Signal(object)  # list of reports, already added to the current run
    runFinished = Signal(object)  # RunHistory with .finished set ("failed" if it raised)
    trainingFailed = Signal(object)  # TaskFailure
    evaluationReady = Signal(object)  # EvalReport of the current model on the test split
    modelReplaced = Signal()  # fresh weights, another spec, or a loaded checkpoint
    specLoaded = Signal(object)  # a checkpoint brought its ModelSpec
    closing = Signal()  # shutdown() began: panels end their own background work now
    # The run store: a listing done, with the runs it added (RunHistory entries not
    # loaded yet, oldest first), a run changed or removed, what the store could not
    # do or keep (in words).
    storedRunsListed = Signal(list)
    runChanged = Signal(object)
    runRemoved = Signal(object)
    storeProblem = Signal(str)
    runOpened = Signal(object)  # a stored run's weights are the current model now
    # A run another process writes, followed: no new row since (the time), or it ended.
    runQuiet = Signal(object, float)
    followEnded = Signal(object)
    # A followed run's probe samples since the last read (run, ProbeReport): what the
    # inspector shows while no run trains in this window.
    followedProbe = Signal(object, object)
    # A followed run's last weights evaluated on this window's test images as its
    # epochs come (run, WeightsEvaluation), or why they could not be (run, message).
    followedEvaluation = Signal(object, object)
    followedEvaluationFailed = Signal(object, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runs: list[RunHistory] = []
        self.probe_every: int | None = None  # the inspector's sampling interval, or off
        self._state = IDLE
        self._spec: ModelSpec | None = None
        self._dataset: Dataset | None = None
        self._model: nn.Module | None = None  # trained weights (a run's or a checkpoint's)
        self._resume: Checkpoint | None = None  # where the next run continues from
        self._untrained: _UntrainedModel | None = None  # the spec's fresh model, for jobs
        self._trainer: Trainer | None = None  # the latest run's, kept for checkpoints
        self._config: TrainConfig | None = None
        self._control: TrainingControl | None = None
        self._run_box: _RunBox | None = None
        self._thread: TrainingThread | None = None
        self._tickets = itertools.count(1)
        self._handles: dict[int, TaskHandle] = {}  # jobs on the training thread
        # Jobs waiting for data of the model's input shape (a checkpoint of another
        # shape was opened and the data view is reloading): job, args, handle.
        self._deferred: list[tuple[Callable[..., Any], tuple[Any, ...], TaskHandle]] = []
        self._relay = _JobRelay(self)
        self._relay.outcome.connect(self._on_job_outcome)
        self._jobs = JobQueue("model jobs", self)
        self.library = RunLibrary(self)
        self.library.listed.connect(self._on_store_listed)
        self.library.listFailed.connect(self._on_store_list_failed)
        self._resume_parent: str | None = None  # the stored run the next run continues
        self._listed: list[RunHistory] = []  # entries that came from the store's list
        self._numbers = 0  # the highest run number given out
        # Store jobs under way → the run each is about.
        self._pending_loads: dict[QObject, RunHistory] = {}
        self._pending_opens: dict[QObject, RunHistory] = {}
        self._pending_weight_evaluations: dict[QObject, RunHistory] = {}
        self._evaluated_epochs: dict[int, int] = {}  # followed run → epochs evaluated
        self._pending_renames: dict[QObject, RunHistory] = {}
        self._pending_deletes: dict[QObject, RunHistory] = {}
        self._followers: dict[int, RunFollower] = {}  # by run number
        self._closed = False

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> str:
        return self._state

    @property
    def active(self) -> bool:
        """A run is under way (running, paused, starting or stopping)."""
        return self._state != IDLE

    @property
    def spec(self) -> ModelSpec | None:
        return self._spec

    @property
    def dataset(self) -> Dataset | None:
        return self._dataset

    @property
    def current_run(self) -> RunHistory | None:
        return self.runs[-1] if self.runs else None

    @property
    def has_trained_model(self) -> bool:
        return self._model is not None

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)

    # ------------------------------------------------------------------ inputs

    def set_spec(self, spec: ModelSpec) -> None:
        """A changed spec means new weights at the next run (the old ones no longer
        fit); a running trainer keeps its own model until it ends."""
        if spec == self._spec:
            return
        self._spec = spec
        had_model = self._model is not None or (self._untrained is not None
                                                and self._untrained.built)
        self._model = None
        self._resume = None
        self._resume_parent = None
        self._untrained = None
        self._trainer = None
        if had_model:
            self.modelReplaced.emit()

    def set_dataset(self, dataset: Dataset) -> None:
        """The data view loaded `dataset`; jobs that waited for data of the model's
        input shape run now if it has that shape."""
        self._dataset = dataset
        if self._deferred and self._data_fits():
            deferred, self._deferred = self._deferred, []
            for job, args, handle in deferred:
                self._dispatch(job, args, handle)

    def data_unavailable(self, reason: str) -> None:
        """The data view could not load data for the model: jobs waiting for it fail."""
        deferred, self._deferred = self._deferred, []
        for _job, _args, handle in deferred:
            handle.report_failure(TaskFailure(RuntimeError(reason), reason))

    def _data_fits(self) -> bool:
        """The dataset is shaped for the model (or one of them is still missing, and
        the job will say so itself)."""
        if self._dataset is None or self._spec is None:
            return True
        return tuple(self._dataset.input_shape) == tuple(self._spec.input_shape)

    # ------------------------------------------------------------------ runs

    def start(self, config: TrainConfig, reset: bool = False) -> RunHistory:
        """Start a run: continue the current model exactly where its last run (or
        checkpoint) stopped — weights, optimizer, schedule, for `config.epochs` more
        epochs — or from fresh weights if `reset`, if the spec changed, or if
        nothing has been trained yet. The trainer is made by core.trainers, as the
        CLI's is."""
        from netexplorer.core.trainers import continued_config, new_trainer, resume_trainer
        from netexplorer.core.training import TrainingControl

        if self.active:
            raise RuntimeError("a run is already under way: stop it first")
        if self._spec is None or self._dataset is None:
            raise RuntimeError("choose a valid model and a dataset before training")
        config.validate()
        spec, dataset = self._spec, self._dataset
        if reset and self._model is not None:
            self._model = None
            self._resume = None
            self._resume_parent = None
            self.modelReplaced.emit()
        resume, parent = self._resume, self._resume_parent
        first_step = 0  # the global step the run continues after (0: it starts afresh)
        if resume is not None and _continues_exactly(resume, config):
            config = continued_config(resume, config)
            assert resume.trainer_state is not None  # _continues_exactly checked it
            first_step = int(resume.trainer_state["position"]["step"])
        elif resume is not None:  # another batch size or optimizer: the weights go on
            resume = replace(resume, trainer_state=None)
        probe_every = self.probe_every
        folder = self.library.folder
        name = time.strftime('%b %d %H:%M:%S')  # until the person renames it

        def record(trainer: Trainer) -> RunRecorder:  # on the training thread
            from netexplorer.core.runs.recorder import RunRecorder

            return RunRecorder.start(folder, trainer, name=name, parent=parent)

        control = TrainingControl()
        box = _RunBox()
        self._control = control
        self._run_box = box
        self._config = config

        def build_trainer() -> Trainer:  # runs on the training thread
            if resume is not None:
                trainer = resume_trainer(resume, dataset, config, probe_every=probe_every,
                                         control=control)
            else:
                trainer = new_trainer(spec, dataset, config, probe_every=probe_every,
                                      control=control)
            # Jobs queued before the started signal reaches the GUI thread run at this
            # trainer's first gate, on this thread: they must already see its model.
            box.trainer = trainer
            return trainer

        from netexplorer.core.runs import RunHistory  # numpy: not before the first paint

        run = RunHistory(self._next_number(), config, spec.name, dataset.name, name=name,
                         parent_id=parent, first_step=first_step,
                         layer_kinds=tuple(layer.kind for layer in spec.layers))
        self.runs.append(run)
        worker = TrainingWorker(build_trainer, control,
                                record=record if folder is not None else None)
        worker.started.connect(self._on_worker_started)
        worker.reportsReady.connect(self._on_reports)
        worker.evaluated.connect(self._on_evaluated)
        worker.stoppedAt.connect(self._on_stopped_at)
        worker.recordingProblem.connect(self.storeProblem)
        worker.failed.connect(self._on_failed)
        worker.done.connect(self._on_done)
        self._thread = TrainingThread(worker, self)
        self._set_state(STARTING)
        self.runStarted.emit(run)
        self._thread.start()
        return run

    def pause(self) -> None:
        if self._control is not None and self._state in (RUNNING, STARTING):
            self._control.pause()

    def resume(self) -> None:
        if self._control is not None and self._state == PAUSED:
            self._control.resume()
            self._set_state(RUNNING)

    def step(self) -> None:
        """One batch, while paused."""
        if self._control is not None and self._state == PAUSED:
            self._control.step()

    def stop(self) -> None:
        if self._control is not None and self._state in (RUNNING, PAUSED, STARTING):
            self._control.stop()
            self._set_state(STOPPING)

    def set_learning_rate(self, lr: float) -> None:
        """Takes effect at the next batch (the schedule continues from it)."""
        if self._control is not None:
            self._control.set_learning_rate(lr)

    # ------------------------------------------------------------------ jobs

    def submit(self, job: Callable[..., Any], *args: Any, description: str = "") -> TaskHandle:
        """Run job(context, *args) where it is safe to use the model: between the
        batches of the active run, else on the job thread. The handle reports it.

        While the dataset does not have the model's input shape (the data view is
        reloading it for a new model), the job waits for data that fits."""
        handle = TaskHandle(next(self._tickets), description)
        if self._data_fits():
            self._dispatch(job, args, handle)
        else:
            self._deferred.append((job, args, handle))
        return handle

    def _dispatch(self, job: Callable[..., Any], args: tuple[Any, ...],
                  handle: TaskHandle) -> None:
        make_context = self._context_factory()

        def run() -> Any:
            return job(make_context(), *args)

        future = self._control.call(run) if self._control is not None else None
        if future is None:  # no run, or its thread has stopped serving calls
            self._jobs.submit(run, handle=handle)
            return
        self._handles[handle.ticket] = handle
        relay, ticket = self._relay, handle.ticket

        def deliver(done: Future) -> None:  # on the training thread: hand over by signal
            error = done.exception()
            if error is None:
                relay.outcome.emit(ticket, done.result(), False)
            else:
                relay.outcome.emit(ticket, TaskFailure.of(error), True)

        future.add_done_callback(deliver)

    def evaluate(self) -> TaskHandle:
        """Evaluate the current model on the test split; evaluationReady follows (as
        well as the handle's finished)."""
        handle = self.submit(_evaluate_job, description="evaluation")
        handle.finished.connect(self._on_evaluated)
        return handle

    def _context_factory(self) -> Callable[[], ModelContext]:
        """Captures, on the GUI thread, what the job will use; the job's own thread
        only reads it (and builds the untrained model, once, if nothing is trained)."""
        spec, dataset, config = self._spec, self._dataset, self._config
        # A trained model, a run or an untrained model each came from a spec, and a
        # spec once set is never unset: no spec means there is nothing to use.
        if spec is None:
            raise RuntimeError("build a valid model first")
        box = self._run_box if self._control is not None else None
        trainer, model = self._trainer, self._model
        if model is None and box is None:
            if self._untrained is None:
                self._untrained = _UntrainedModel(spec, config.seed if config else 0)
            untrained = self._untrained
        else:
            untrained = None

        def make() -> ModelContext:
            if box is not None and box.trainer is not None:  # between the run's batches
                return ModelContext(box.trainer.model, spec, dataset, box.trainer, config)
            net = model if model is not None else untrained.get() if untrained else None
            if net is None:
                raise RuntimeError("the run ended before its model was built")
            return ModelContext(net, spec, dataset, trainer, config)

        return make

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self, path: str) -> TaskHandle:
        """Everything needed to resume (or at least the weights); the handle's
        finished carries the path written."""
        return self.submit(_save_checkpoint_job, str(path), description="checkpoint")

    def load_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Use a loaded checkpoint's model: its spec goes to the model panel
        (specLoaded), its weights become the current model, its history a run, and
        the next run resumes it."""
        from netexplorer.core.runs import run_from_checkpoint

        self._adopt(checkpoint, parent=None)
        run = run_from_checkpoint(self._next_number(), checkpoint)
        self.runs.append(run)
        self.modelReplaced.emit()
        self.runStarted.emit(run)
        self.runFinished.emit(run)

    def _adopt(self, checkpoint: Checkpoint, parent: str | None) -> None:
        """Make the checkpoint's model the current one; the next run resumes it (as
        --resume does), as a child of `parent` in the store."""
        if self.active:
            raise RuntimeError("stop the run before opening a checkpoint")
        model = checkpoint.build_model()
        self._spec = checkpoint.spec
        self._untrained = None
        self.specLoaded.emit(checkpoint.spec)
        self._model = model
        self._resume = checkpoint
        self._resume_parent = parent
        self._trainer = None
        self._config = checkpoint.config

    # ------------------------------------------------------------------ the run store

    def set_runs_folder(self, folder: Path | None) -> None:
        """Where runs are recorded and listed from (None: runs are not stored)."""
        self.library.set_folder(folder)

    def switch_runs_folder(self, folder: Path) -> None:
        """Keep runs in another folder from now on: the runs listed from the old one
        leave the list (this window's own runs stay), the new one's are listed."""
        for run in [r for r in self.runs if r in self._listed]:
            self._remove(run)
        self._listed.clear()
        self.set_runs_folder(folder)
        self.list_stored_runs()

    def list_stored_runs(self) -> TaskHandle | None:
        """Read the store's list of runs in the background; storedRunsListed follows
        with an entry per run not yet known here (its steps load when looked at)."""
        return self.library.list_runs()

    def load_run_history(self, run: RunHistory) -> TaskHandle | None:
        """Read a listed run's steps and epochs into its entry; runChanged follows."""
        if run.store_id is None or not run.needs_loading:
            return None
        handle = self.library.load_history(run.store_id)
        self._pending_loads[handle] = run
        handle.finished.connect(self._on_history_loaded)
        handle.failed.connect(self._on_store_job_failed)
        return handle

    def follow_run(self, run: RunHistory) -> RunFollower | None:
        """Keep a stored run that another process is writing up to date, read-only:
        its new rows join its RunHistory as reports (runChanged after each read),
        runQuiet when its writer goes quiet, followEnded when it ends. None when it
        has already ended or is this window's own run."""
        follower = self._followers.get(run.number)
        if follower is not None:
            return follower
        if run.store_id is None or (run is self.current_run and self.active) or \
                run.finished is not None:
            return None
        follower = RunFollower(self.library, run, self)
        follower.updated.connect(self._on_followed)
        follower.probed.connect(self._on_followed_probe)
        follower.quiet.connect(self.runQuiet)
        follower.ended.connect(self._on_follow_ended)
        follower.problem.connect(self.storeProblem)
        self._followers[run.number] = follower
        follower.start()
        return follower

    def following(self, run: RunHistory) -> bool:
        return run.number in self._followers

    def stop_following(self, run: RunHistory) -> None:
        follower = self._followers.pop(run.number, None)
        if follower is not None:
            follower.stop()
            follower.deleteLater()

    @Slot(object)
    def _on_followed(self, run: RunHistory) -> None:
        expect_gui_thread("TrainingSession._on_followed")
        if not self._closed:
            self.runChanged.emit(run)
            self._evaluate_followed(run)

    def _evaluate_followed(self, run: RunHistory) -> None:
        """Evaluate a followed run's last weights once it has ended another epoch (its
        writer saves them at an epoch's end, at most every CHECKPOINT_INTERVAL_S: the
        evaluation says which epoch's they are), unless a run trains here or no
        dataset is loaded; one evaluation of a run at a time."""
        epochs = len(run.epochs)
        if (self.active or self._dataset is None or run.store_id is None or not epochs
                or self._evaluated_epochs.get(run.number, 0) >= epochs
                or run in self._pending_weight_evaluations.values()):
            return
        self._evaluated_epochs[run.number] = epochs
        handle = self.library.evaluate_weights(run.store_id, self._dataset)
        self._pending_weight_evaluations[handle] = run
        handle.finished.connect(self._on_weights_evaluated)
        handle.failed.connect(self._on_weights_evaluation_failed)

    @Slot(object)
    def _on_weights_evaluated(self, evaluation: object) -> None:
        expect_gui_thread("TrainingSession._on_weights_evaluated")
        run = self._pending_weight_evaluations.pop(self.sender(), None)
        if run is not None and not self._closed:
            self.followedEvaluation.emit(run, evaluation)
            self._evaluate_followed(run)  # epochs may have come while it ran

    @Slot(object)
    def _on_weights_evaluation_failed(self, failure: TaskFailure) -> None:
        expect_gui_thread("TrainingSession._on_weights_evaluation_failed")
        run = self._pending_weight_evaluations.pop(self.sender(), None)
        if run is not None and not self._closed:
            self.followedEvaluationFailed.emit(run, failure.message)

    @Slot(object, object)
    def _on_followed_probe(self, run: RunHistory, probe: object) -> None:
        expect_gui_thread("TrainingSession._on_followed_probe")
        if not self._closed:
            self.followedProbe.emit(run, probe)

    @Slot(object)
    def _on_follow_ended(self, run: RunHistory) -> None:
        expect_gui_thread("TrainingSession._on_follow_ended")
        self.stop_following(run)
        if not self._closed:
            self.runChanged.emit(run)
            self.followEnded.emit(run)

    def open_stored_run(self, run: RunHistory) -> TaskHandle:
        """Make a stored run's last weights the current model; the next run
        continues it exactly, as its child."""
        if run.store_id is None:
            raise RuntimeError("this run is not in the run store")
        if self.active:
            raise RuntimeError("stop the run before opening another one's weights")
        handle = self.library.weights(run.store_id)
        self._pending_opens[handle] = run
        handle.finished.connect(self._on_weights_read)
        handle.failed.connect(self._on_store_job_failed)
        return handle

    def rename_run(self, run: RunHistory, name: str) -> TaskHandle | None:
        if run.store_id is None:
            run.name = name
            self.runChanged.emit(run)
            return None
        handle = self.library.rename(run.store_id, name)
        self._pending_renames[handle] = run
        handle.finished.connect(self._on_renamed)
        handle.failed.connect(self._on_store_job_failed)
        return handle

    def delete_run(self, run: RunHistory) -> TaskHandle | None:
        """Delete a stored run (its metrics, checkpoints and event files); runRemoved
        follows. The run training now cannot be deleted."""
        if run is self.current_run and self.active:
            raise RuntimeError("this run is training: stop it before deleting it")
        if run.store_id is None:
            self._remove(run)
            return None
        handle = self.library.delete(run.store_id)
        self._pending_deletes[handle] = run
        handle.finished.connect(self._on_deleted)
        handle.failed.connect(self._on_store_job_failed)
        return handle

    def _next_number(self) -> int:
        """Runs are numbered as they join the list, never reusing a number (a deleted
        run's colour is not handed to another)."""
        self._numbers = max(self._numbers, max((r.number for r in self.runs), default=0)) + 1
        return self._numbers

    def _remove(self, run: RunHistory) -> None:
        self.stop_following(run)
        if run in self._listed:
            self._listed.remove(run)
        if run in self.runs:
            self.runs.remove(run)
            if self._resume_parent is not None and self._resume_parent == run.store_id:
                self._resume_parent = None  # its child will have no parent
            self.runRemoved.emit(run)

    @Slot(object)
    def _on_store_listed(self, listing: StoreListing) -> None:
        expect_gui_thread("TrainingSession._on_store_listed")
        if self._closed:
            return
        if listing.notice:
            self.storeProblem.emit(listing.notice)
        known = {run.store_id for run in self.runs if run.store_id}
        added = []
        for summary in reversed(listing.runs):  # oldest first: numbered in time order
            if summary.id not in known:
                added.append(summary_history(self._next_number(), summary))
                self.runs.append(added[-1])
                self._listed.append(added[-1])
        self.storedRunsListed.emit(added)  # also when empty: the listing is done

    @Slot(str)
    def _on_store_list_failed(self, message: str) -> None:
        expect_gui_thread("TrainingSession._on_store_list_failed")
        if not self._closed:
            self.storeProblem.emit(f"The run store could not be read: {message}")

    @Slot(object)
    def _on_history_loaded(self, loaded: RunHistory) -> None:
        expect_gui_thread("TrainingSession._on_history_loaded")
        run = self._pending_loads.pop(self.sender(), None)
        if run is not None and not self._closed:
            run.fill_from(loaded)
            self.runChanged.emit(run)

    @Slot(object)
    def _on_weights_read(self, checkpoint: Checkpoint) -> None:
        expect_gui_thread("TrainingSession._on_weights_read")
        run = self._pending_opens.pop(self.sender(), None)
        if run is None or self._closed:
            return
        try:
            self._adopt(checkpoint, parent=run.store_id)
        except (RuntimeError, ValueError) as exc:  # a run started meanwhile; unusable weights
            self.storeProblem.emit(f"The weights of {run.name or run.number} were not opened: "
                                   f"{exc}")
            return
        self.modelReplaced.emit()
        self.runOpened.emit(run)

    @Slot(object)
    def _on_renamed(self, name: str) -> None:
        expect_gui_thread("TrainingSession._on_renamed")
        run = self._pending_renames.pop(self.sender(), None)
        if run is not None and not self._closed:
            run.name = name
            self.runChanged.emit(run)

    @Slot(object)
    def _on_deleted(self, _run_id: str) -> None:
        expect_gui_thread("TrainingSession._on_deleted")
        run = self._pending_deletes.pop(self.sender(), None)
        if run is not None and not self._closed:
            self._remove(run)

    @Slot(object)
    def _on_store_job_failed(self, failure: TaskFailure) -> None:
        expect_gui_thread("TrainingSession._on_store_job_failed")
        handle = self.sender()
        for pending in (self._pending_loads, self._pending_opens, self._pending_renames,
                        self._pending_deletes):
            pending.pop(handle, None)
        if not self._closed:
            self.storeProblem.emit(failure.message)

    # ------------------------------------------------------------------ shutdown

    def shutdown(self, timeout_ms: int = SHUTDOWN_TIMEOUT_MS) -> bool:
        """Stop training and wait for the threads (window closing). Idempotent.

        False if the training thread had not ended within timeout_ms: it is then
        kept referenced until it does (it was asked to stop), never destroyed
        running."""
        if self._closed:
            return True
        self._closed = True
        self.closing.emit()
        ok = True
        if self._thread is not None:
            self._thread.worker.skip_final_evaluation()
        if self._control is not None:
            self._control.stop()
        if self._thread is not None and self._thread.is_running():
            ok = self._thread.wait(timeout_ms)
        for run in [r for r in self.runs if r.number in self._followers]:
            self.stop_following(run)
        self._jobs.shutdown(timeout_ms)
        self.library.shutdown(timeout_ms)
        self._handles.clear()
        self._deferred.clear()
        return ok

    # ------------------------------------------------------------------ reactions
    # Each runs on the GUI thread (queued from the training thread); each says so.

    @Slot(object, str)
    def _on_worker_started(self, trainer: Trainer, run_id: str) -> None:
        expect_gui_thread("TrainingSession._on_worker_started")
        if self._closed:
            return
        run = self.current_run
        if run is not None and run_id:
            run.store_id = run_id
            self.runChanged.emit(run)
        self._trainer = trainer
        if trainer.spec == self._spec:  # else the model was edited while the run started
            self._model = trainer.model
            self._untrained = None
        if self._state == STARTING:
            self._set_state(RUNNING)

    @Slot(object)
    def _on_reports(self, reports: list) -> None:
        expect_gui_thread("TrainingSession._on_reports")
        run = self.current_run
        if run is None or self._closed:  # after shutdown nobody is listening: drop late news
            return
        run.extend(reports)
        last = reports[-1]
        if isinstance(last, PausedReport) and self._state != STOPPING:
            self._set_state(PAUSED)
        elif isinstance(last, StepReport) and self._state == PAUSED and \
                not (self._control is not None and self._control.paused):
            self._set_state(RUNNING)
        self.reportsReady.emit(reports)

    @Slot(object)
    def _on_evaluated(self, report: Any) -> None:
        expect_gui_thread("TrainingSession._on_evaluated")
        if not self._closed:
            self.evaluationReady.emit(report)

    @Slot(object)
    def _on_stopped_at(self, point: Checkpoint | None) -> None:
        expect_gui_thread("TrainingSession._on_stopped_at")
        trainer = self._trainer
        if self._closed or trainer is None or trainer.spec != self._spec:
            return  # the model was edited or replaced while the run went on
        # The next run continues this one exactly (weights, optimizer, schedule, epoch
        # numbering) as a child of it in the store. None: the weights are not finite,
        # and the next run starts fresh.
        self._resume = point
        run = self.current_run
        self._resume_parent = run.store_id if run is not None and point is not None else None

    @Slot(object)
    def _on_failed(self, failure: TaskFailure) -> None:
        expect_gui_thread("TrainingSession._on_failed")
        if self._closed:
            return
        run = self.current_run
        if run is not None and run.finished is None:  # else it ended before the error
            report = run.last_step
            run.add(FinishedReport("failed", failure.message,
                                   len(run.epochs), report.step if report else 0,
                                   run.duration, test_accuracy=run.final_accuracy))
        self.trainingFailed.emit(failure)

    @Slot(object)
    def _on_done(self, finished: FinishedReport | None) -> None:
        expect_gui_thread("TrainingSession._on_done")
        run = self.current_run
        self._control = None
        self._run_box = None
        self._thread = None
        if self._closed:  # panels have shut down: no signals that would set them working
            self._state = IDLE
            return
        self._set_state(IDLE)
        if run is not None:
            self.runFinished.emit(run)

    @Slot(int, object, bool)
    def _on_job_outcome(self, ticket: int, value: Any, failed: bool) -> None:
        expect_gui_thread("TrainingSession._on_job_outcome")
        handle = self._handles.pop(ticket, None)
        if handle is None or self._closed:
            return
        if failed:
            handle.report_failure(value)
        else:
            handle.report_result(value)


def _continues_exactly(resume: Checkpoint, config: TrainConfig) -> bool:
    """Whether a run with `config` can carry on the checkpoint's optimizer state and
    schedule: it has them, and the batch size and optimizer are the same (with
    another batch size the saved position in an epoch means other images)."""
    saved = resume.config
    return (resume.trainer_state is not None and saved is not None
            and saved.batch_size == config.batch_size and saved.optimizer == config.optimizer)


def _evaluate_job(context: ModelContext) -> Any:
    from netexplorer.core.evaluation import evaluate

    if context.dataset is None:
        raise RuntimeError("load a dataset before evaluating")
    loss = context.config.loss if context.config is not None else "cross-entropy"
    return evaluate(context.model, context.dataset.test, loss=loss,
                    classes=context.dataset.classes)


def _save_checkpoint_job(context: ModelContext, path: str) -> str:
    from netexplorer.core.checkpoints import save_checkpoint

    if context.trainer is not None:
        return str(save_checkpoint(path, context.trainer))
    return str(save_checkpoint(path, spec=context.spec, model=context.model,
                               dataset=context.dataset, config=context.config))
