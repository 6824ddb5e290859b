"""The training session: one place that owns the model, its training thread and
the runs, so that every panel (training, inspector, evaluation, the File menu)
talks to the same model the same way.

Threading rules kept here (DESIGN.md):
- training runs in a TrainingWorker on its own QThread (workers.py); the GUI
  thread never runs a training step and never touches the live model;
- anything that uses the model — evaluation, feature maps, exports, checkpoints —
  is submitted as a job: while a run is active it runs on the training thread
  between batches (TrainingControl.call), otherwise on a job thread; results come
  back as signals carrying plain data;
- reports arrive batched (≤ 30 signals/s) and are appended to the current
  RunHistory; views redraw on their own timers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject, Signal, Slot

from netexplorer.ui.workers import JobQueue, TaskFailure, TrainingThread, TrainingWorker

if TYPE_CHECKING:  # pragma: no cover - torch is imported lazily, off the GUI thread
    from torch import nn

    from netexplorer.core.checkpoints import Checkpoint
    from netexplorer.core.data import Dataset
    from netexplorer.core.runs import RunHistory
    from netexplorer.core.specs import ModelSpec
    from netexplorer.core.training import FinishedReport, TrainConfig, Trainer

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
    """Carries a job's outcome from whichever thread ran it to the GUI thread."""

    outcome = Signal(int, object, bool)


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
    jobFinished = Signal(int, object)  # ticket, result
    jobFailed = Signal(int, object)  # ticket, TaskFailure
    closing = Signal()  # shutdown() began: panels end their own background work now

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runs: list[RunHistory] = []
        self.probe_every: int | None = None  # the inspector's sampling interval, or off
        self._state = IDLE
        self._spec: ModelSpec | None = None
        self._dataset: Dataset | None = None
        self._model: nn.Module | None = None
        self._trained = False  # the weights have seen training (or a checkpoint)
        self._trainer: Trainer | None = None  # the latest run's, kept for checkpoints
        self._config: TrainConfig | None = None
        self._control = None
        self._thread: TrainingThread | None = None
        self._tickets = itertools.count(1)
        self._evaluation_ticket: int | None = None
        self._relay = _JobRelay(self)
        self._relay.outcome.connect(self._on_job_outcome)
        self._jobs = JobQueue("model jobs", self)
        self._job_tickets: dict[int, int] = {}  # the queue's ticket → ours
        self._jobs.finished.connect(self._on_queue_finished)
        self._jobs.failed.connect(self._on_queue_failed)
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
        return self._model is not None and self._trained

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
        if self._model is not None:
            self._model = None
            self._trained = False
            self._trainer = None
            self.modelReplaced.emit()

    def set_dataset(self, dataset: Dataset) -> None:
        self._dataset = dataset

    # ------------------------------------------------------------------ runs

    def start(self, config: TrainConfig, reset: bool = False) -> RunHistory:
        """Start a run: continue the current weights, or fresh ones if `reset`, if
        the spec changed, or if nothing has been trained yet."""
        from netexplorer.core.runs import RunHistory
        from netexplorer.core.training import TrainingControl

        if self.active:
            raise RuntimeError("a run is already under way: stop it first")
        if self._spec is None or self._dataset is None:
            raise RuntimeError("choose a valid model and a dataset before training")
        config.validate()
        spec, dataset = self._spec, self._dataset
        model = None if (reset or not self._trained) else self._model
        if model is None and self._model is not None:
            self.modelReplaced.emit()
        probe_every = self.probe_every
        session = self
        control = TrainingControl()
        self._control = control
        self._config = config

        def build_trainer() -> Trainer:  # runs on the training thread
            import torch

            from netexplorer.core.inspection import Probe
            from netexplorer.core.specs import build_model
            from netexplorer.core.training import Trainer

            net = model
            if net is None:
                torch.manual_seed(config.seed)
                net = build_model(spec)
            probe = Probe(net, every=probe_every) if probe_every else None
            trainer = Trainer(net, dataset, config, probe=probe, spec=spec, control=control)
            # Jobs queued before the started signal reaches the GUI thread run at this
            # trainer's first gate, on this thread: they must already see its model.
            session._trainer = trainer
            return trainer

        run = RunHistory(len(self.runs) + 1, config, spec.name, dataset.name)
        self.runs.append(run)
        worker = TrainingWorker(build_trainer)
        worker.started.connect(self._on_worker_started)
        worker.reportsReady.connect(self._on_reports)
        worker.evaluated.connect(self._on_evaluated)
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

    def submit(self, job: Callable[..., Any], *args: Any) -> int:
        """Run job(context, *args) where it is safe to use the model; returns a
        ticket that jobFinished/jobFailed will carry."""
        ticket = next(self._tickets)
        context_of = self._context_factory()

        def run() -> Any:
            return job(context_of(), *args)

        future = self._control.call(run) if self._control is not None and self.active else None
        if future is not None:
            relay = self._relay

            def deliver(done) -> None:  # on the training thread: hand over by signal
                error = done.exception()
                if error is None:
                    relay.outcome.emit(ticket, done.result(), False)
                else:
                    relay.outcome.emit(ticket, TaskFailure(error, repr(error)), True)

            future.add_done_callback(deliver)
        else:
            self._job_tickets[self._jobs.submit(run)] = ticket
        return ticket

    def evaluate(self) -> int:
        """Evaluate the current model on the test split; evaluationReady follows."""
        self._evaluation_ticket = self.submit(_evaluate_job)
        return self._evaluation_ticket

    def _context_factory(self) -> Callable[[], ModelContext]:
        """Captures what the job needs now; the model itself is read on the job's
        thread (and built there, seeded, if nothing has been trained yet)."""
        spec, dataset, config = self._spec, self._dataset, self._config
        session = self

        def make() -> ModelContext:
            trainer = session._trainer if session.active or session._trained else None
            model = trainer.model if trainer is not None and session.active else session._model
            if model is None:
                import torch

                from netexplorer.core.specs import build_model

                torch.manual_seed(config.seed if config else 0)
                model = build_model(spec)
                session._model = model  # untrained: the next run still starts fresh
            return ModelContext(model, spec, dataset, trainer, config)

        return make

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self, path: str) -> int:
        """Everything needed to resume (or at least the weights) → jobFinished(path)."""
        return self.submit(_save_checkpoint_job, str(path))

    def load_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Use a loaded checkpoint's model: its spec goes to the model panel
        (specLoaded), its weights become the current model, its history a run."""
        if self.active:
            raise RuntimeError("stop the run before opening a checkpoint")
        self._spec = checkpoint.spec
        self.specLoaded.emit(checkpoint.spec)
        self._model = checkpoint.build_model()
        self._trained = True
        self._trainer = None
        self._config = checkpoint.config
        run = _run_from_checkpoint(len(self.runs) + 1, checkpoint)
        self.runs.append(run)
        self.modelReplaced.emit()
        self.runStarted.emit(run)
        self.runFinished.emit(run)

    # ------------------------------------------------------------------ shutdown

    def shutdown(self, timeout_ms: int = SHUTDOWN_TIMEOUT_MS) -> bool:
        """Stop training and wait for the threads (window closing). Idempotent."""
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
        self._jobs.shutdown(timeout_ms)
        return ok

    # ------------------------------------------------------------------ reactions

    @Slot(object)
    def _on_worker_started(self, trainer: Trainer) -> None:
        if self._closed:
            return
        self._trainer = trainer
        if trainer.spec == self._spec:  # else the model was edited while the run started
            self._model = trainer.model
            self._trained = True
        if self._state == STARTING:
            self._set_state(RUNNING)

    @Slot(object)
    def _on_reports(self, reports: list) -> None:
        from netexplorer.core.training import PausedReport, StepReport

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
        if not self._closed:
            self.evaluationReady.emit(report)

    @Slot(object)
    def _on_failed(self, failure: TaskFailure) -> None:
        from netexplorer.core.training import FinishedReport

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
        run = self.current_run
        self._control = None
        self._thread = None
        if self._closed:  # panels have shut down: no signals that would set them working
            self._state = IDLE
            return
        self._set_state(IDLE)
        if run is not None:
            self.runFinished.emit(run)

    @Slot(int, object, bool)
    def _on_job_outcome(self, ticket: int, value: Any, failed: bool) -> None:
        if self._closed:
            return
        if failed:
            self.jobFailed.emit(ticket, value)
        else:
            if ticket == self._evaluation_ticket:
                self.evaluationReady.emit(value)
            self.jobFinished.emit(ticket, value)

    @Slot(int, object)
    def _on_queue_finished(self, queue_ticket: int, value: Any) -> None:
        ticket = self._job_tickets.pop(queue_ticket, None)
        if ticket is not None:
            self._on_job_outcome(ticket, value, False)

    @Slot(int, object)
    def _on_queue_failed(self, queue_ticket: int, failure: TaskFailure) -> None:
        ticket = self._job_tickets.pop(queue_ticket, None)
        if ticket is not None:
            self._on_job_outcome(ticket, failure, True)


def _run_from_checkpoint(number: int, checkpoint: Checkpoint) -> RunHistory:
    """The history a checkpoint carries, as a finished run: every step's loss, its
    running mean per reporting interval (as the live run showed it), the epochs."""
    import numpy as np

    from netexplorer.core.runs import RunHistory
    from netexplorer.core.training import EpochReport, FinishedReport, TrainConfig

    config = checkpoint.config or TrainConfig()
    run = RunHistory(number, config, checkpoint.spec.name, checkpoint.dataset_name or "")
    losses = np.asarray(checkpoint.history["step_losses"], dtype=np.float64)
    if losses.size:
        run.steps.extend(np.arange(1, losses.size + 1))
        run.losses.extend(losses)
        every = max(1, config.report_every)
        ends = np.minimum(np.arange(every, losses.size + every, every), losses.size)
        run.running_steps.extend(ends)
        run.running_losses.extend([losses[max(0, end - every):end].mean() for end in ends])
    for epoch in checkpoint.history["epochs"]:
        run.add(EpochReport(**{k: (tuple(v) if isinstance(v, list) else v)
                               for k, v in epoch.items()}))
    state = checkpoint.trainer_state or {}
    position = state.get("position", {})
    saved = f" saved {checkpoint.saved_at}" if checkpoint.saved_at else ""
    run.add(FinishedReport("checkpoint", f"opened from a checkpoint{saved}",
                           int(position.get("epoch", len(run.epochs))),
                           int(position.get("step", losses.size)),
                           float(state.get("elapsed", 0.0)),
                           test_accuracy=run.final_accuracy))
    return run


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
