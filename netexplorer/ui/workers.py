"""Work that must not run on the GUI thread. The only module that touches QThread.

A TaskRunner owns one worker thread and runs plain functions on it, one at a
time, in the spirit of Orange's concurrent helpers: the task is an ordinary
function of plain arguments, and what comes back is plain data. When a newer
task is submitted the older result no longer matters, so only the newest
task's outcome is reported (a person flipping through datasets sees the last
one they chose, never a late answer to an earlier click).

Rules from DESIGN.md kept here: results cross threads through signals received
by @Slot methods of QObjects (never lambdas); every thread is referenced until
it has finished, and shutdown() quits and waits for it, because destroying a
running QThread aborts the process.
"""

from __future__ import annotations

import atexit
import logging
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

log = logging.getLogger(__name__)


class _ThreadKeeper(QObject):
    """Holds every started worker thread (and its executor) until it has finished.

    A runner's owner may be destroyed without being closed (a window dropped
    by a script); the runner then asks its thread to quit, and this keeper
    keeps the thread alive until it has ended, so that it is never destroyed
    while running.
    """

    def __init__(self) -> None:
        super().__init__()
        self._kept: list[tuple[QThread, QObject]] = []

    def keep(self, thread: QThread, executor: QObject) -> None:
        self._kept.append((thread, executor))
        thread.finished.connect(self._on_thread_finished)

    def running(self) -> list[QThread]:
        return [thread for thread, _ in self._kept if thread.isRunning()]

    @Slot()
    def _on_thread_finished(self) -> None:
        still = []
        for thread, executor in self._kept:
            if thread.isFinished():
                thread.wait()  # past the finished signal: returns at once
            else:
                still.append((thread, executor))
        self._kept = still


_keeper: _ThreadKeeper | None = None

# At interpreter exit, how long to wait for threads that were asked to stop but
# are still inside work they cannot leave (a test-set evaluation, a first
# optimizer import). Waiting is slower than exiting, but destroying a running
# QThread aborts the process.
EXIT_WAIT_MS = 60_000


def _thread_keeper() -> _ThreadKeeper:
    global _keeper
    if _keeper is None:
        _keeper = _ThreadKeeper()
        atexit.register(_wait_for_kept_threads)
    return _keeper


def _wait_for_kept_threads() -> None:
    """Before Python tears down modules (and with them the QThread wrappers), let
    every kept thread end: its owner has already asked it to."""
    if _keeper is None:
        return
    for thread in _keeper.running():
        try:
            thread.quit()
            if not thread.wait(EXIT_WAIT_MS):
                log.error("thread %s did not end; exiting anyway", thread.objectName())
        except RuntimeError:  # the C++ object is already gone
            pass


@dataclass(frozen=True)
class TaskFailure:
    """A task's exception, sent to the GUI thread without its stack frames.

    The frames could keep large tensors alive; `details` keeps the traceback
    as text for logs and "details" boxes.
    """

    error: BaseException
    details: str

    @property
    def message(self) -> str:
        return str(self.error) or type(self.error).__name__


@dataclass(frozen=True)
class _Job:
    ticket: int
    function: Callable[..., Any]
    args: tuple[Any, ...]


@dataclass(frozen=True)
class _Outcome:
    ticket: int
    value: Any
    failed: bool


class _Executor(QObject):
    """Lives in the worker thread and runs one job per request."""

    done = Signal(object)

    @Slot(object)
    def run(self, job: _Job) -> None:
        try:
            value = job.function(*job.args)
        except Exception as exc:  # reported to the GUI, which decides what to tell the person
            details = traceback.format_exc()
            exc.__traceback__ = None
            self.done.emit(_Outcome(job.ticket, TaskFailure(exc, details), True))
        else:
            self.done.emit(_Outcome(job.ticket, value, False))


class _ExecutorThread(QObject):
    """What TaskRunner and JobQueue share: one lazily started thread with an
    _Executor in it, jobs numbered by ticket, and a shutdown that quits and waits.

    The keeper holds thread and executor until the thread ends, and an owner
    destroyed without shutdown() still lets its thread end.
    """

    _dispatch = Signal(object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._name = name
        self._thread: QThread | None = None
        self._executor: _Executor | None = None
        self._ticket = 0
        self._closed = False

    def _send(self, job: _Job) -> None:
        """Hand a job to the thread, starting it on first use."""
        if self._thread is None:
            self._thread = QThread()
            self._thread.setObjectName(self._name)
            self._executor = _Executor()
            self._executor.moveToThread(self._thread)
            self._dispatch.connect(self._executor.run)
            self._executor.done.connect(self._on_done)
            _thread_keeper().keep(self._thread, self._executor)
            self.destroyed.connect(self._thread.quit)
            self._thread.start()
        self._dispatch.emit(job)

    def _next_job(self, function: Callable[..., Any], args: tuple[Any, ...]) -> _Job:
        if self._closed:
            raise RuntimeError(f"the {self._name} has been shut down")
        self._ticket += 1
        return _Job(self._ticket, function, args)

    @Slot(object)
    def _on_done(self, outcome: _Outcome) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop accepting work, let the running job end, and stop the thread.

        Returns False if the job did not end within timeout_ms; the thread is then
        kept referenced until it ends, so it is never destroyed running.
        """
        self._closed = True
        self._ticket += 1  # whatever is still running no longer counts
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        self._executor = None
        thread.quit()
        if thread.wait(timeout_ms):
            return True
        # The keeper holds the thread until its job ends (a download on a slow link).
        log.warning("the %s is still busy after %d ms; leaving it to finish", self._name,
                    timeout_ms)
        return False


class TaskRunner(_ExecutorThread):
    """Runs functions on its own worker thread; reports the newest one's outcome.

    finished(object) carries the function's return value, failed(object) a
    TaskFailure; busyChanged(bool) says whether a task is running or waiting.
    At most one task runs and one waits: submitting while another waits
    replaces the waiting one.
    """

    finished = Signal(object)
    failed = Signal(object)
    busyChanged = Signal(bool)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(name, parent)
        self._running = False
        self._waiting: _Job | None = None

    @property
    def busy(self) -> bool:
        return self._running or self._waiting is not None

    def submit(self, function: Callable[..., Any], *args: Any) -> int:
        """Run function(*args) on the worker thread; earlier tasks stop counting."""
        job = self._next_job(function, args)
        was_busy = self.busy
        if self._running:
            self._waiting = job
        else:
            self._start(job)
        if not was_busy:
            self.busyChanged.emit(True)
        return job.ticket

    def cancel(self) -> None:
        """Drop the waiting task and ignore the running one's outcome."""
        self._ticket += 1
        self._waiting = None

    def _start(self, job: _Job) -> None:
        self._running = True
        self._send(job)

    @Slot(object)
    def _on_done(self, outcome: _Outcome) -> None:
        self._running = False
        if self._waiting is not None and not self._closed:
            job, self._waiting = self._waiting, None
            self._start(job)
        if not self.busy:
            self.busyChanged.emit(False)
        if outcome.ticket != self._ticket or self._closed:
            return  # superseded by a newer task
        if outcome.failed:
            log.debug("%s task failed:\n%s", self._name, outcome.value.details)
            self.failed.emit(outcome.value)
        else:
            self.finished.emit(outcome.value)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """As _ExecutorThread.shutdown; a waiting task is dropped. Called by the
        owner when it closes."""
        self._waiting = None
        return super().shutdown(timeout_ms)


class JobQueue(_ExecutorThread):
    """Runs functions one after another on its own thread and reports every one.

    Unlike TaskRunner (where a newer request makes older ones moot), each job
    here matters — an evaluation, then a checkpoint save — so each outcome is
    reported with the ticket submit() returned: finished(ticket, value) or
    failed(ticket, TaskFailure). After shutdown() queued jobs report nothing.
    """

    finished = Signal(int, object)
    failed = Signal(int, object)

    def submit(self, function: Callable[..., Any], *args: Any) -> int:
        job = self._next_job(function, args)
        self._send(job)
        return job.ticket

    @Slot(object)
    def _on_done(self, outcome: _Outcome) -> None:
        if self._closed:
            return
        if outcome.failed:
            log.debug("%s job failed:\n%s", self._name, outcome.value.details)
            self.failed.emit(outcome.ticket, outcome.value)
        else:
            self.finished.emit(outcome.ticket, outcome.value)


# ------------------------------------------------------------------------- training

# The worker sends reports at most this often (a second's worth of batches arrive
# as one signal); the plots redraw on their own timer. Pauses, epochs and the end
# are sent at once.
REPORT_INTERVAL_S = 1 / 30


class TrainingWorker(QObject):
    """Drives Trainer.steps() on its own thread (superqt's GeneratorWorker idea).

    The trainer is built on this thread too — creating the first optimizer of a
    process imports torch's compiler stack for seconds, which must not freeze the
    window. Reports are batched: reportsReady(list) at most every
    REPORT_INTERVAL_S, immediately for anything but a StepReport. After the run
    the model is evaluated here (evaluated(EvalReport)), and done(object) carries
    the FinishedReport — or failed(TaskFailure) if training raised.
    """

    started = Signal(object)  # the Trainer, for the session's bookkeeping
    reportsReady = Signal(object)
    evaluated = Signal(object)
    failed = Signal(object)
    done = Signal(object)

    def __init__(self, build_trainer: Callable[[], Any], interactive: bool = True) -> None:
        super().__init__()
        self._build = build_trainer
        self._interactive = interactive
        self._closing = threading.Event()

    def skip_final_evaluation(self) -> None:
        """The window is closing: once training stops, end without evaluating the
        model (on a large test set that takes seconds nobody will see). Any thread."""
        self._closing.set()

    @Slot()
    def run(self) -> None:
        import time

        from netexplorer.core.devices import apply_cpu_policy
        from netexplorer.core.training import FinishedReport, StepReport

        apply_cpu_policy(interactive=self._interactive)
        trainer = None
        finished = None
        try:
            trainer = self._build()
            self.started.emit(trainer)
            pending: list[Any] = []
            last_emit = time.perf_counter()
            for report in trainer.steps():
                pending.append(report)
                now = time.perf_counter()
                if not isinstance(report, StepReport) or now - last_emit >= REPORT_INTERVAL_S:
                    self.reportsReady.emit(pending)
                    pending = []
                    last_emit = now
                if isinstance(report, FinishedReport):
                    finished = report
            if pending:
                self.reportsReady.emit(pending)
            trainer.control.close()
            if not self._closing.is_set():
                self.evaluated.emit(trainer.evaluate())
        except Exception as exc:  # shown to the person; the app keeps running
            details = traceback.format_exc()
            exc.__traceback__ = None
            if trainer is not None:
                trainer.control.close()
            self.failed.emit(TaskFailure(exc, details))
        finally:
            self.done.emit(finished)


class TrainingThread(QObject):
    """One training run's thread and worker, kept referenced until both are done.

    stop() asks the trainer to stop between batches and waits for the thread:
    closing the window during training ends cleanly, never with "QThread:
    Destroyed while thread is still running".
    """

    def __init__(self, worker: TrainingWorker, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName("training")
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        # Direct: the GUI thread may be blocked in wait() when training ends, so the
        # quit must not wait for its event loop (QThread.quit is thread-safe).
        worker.done.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)
        _thread_keeper().keep(self.thread, worker)

    def start(self) -> None:
        self.thread.start()

    def wait(self, timeout_ms: int) -> bool:
        return self.thread.wait(timeout_ms)

    def is_running(self) -> bool:
        return self.thread.isRunning()
