"""Work that must not run on the GUI thread. The only module that touches QThread.

A TaskRunner owns one worker thread and runs plain functions on it, one at a
time, in the spirit of Orange's concurrent helpers: the task is an ordinary
function of plain arguments, and what comes back is plain data. When a newer
task is submitted the older result no longer matters, so only the newest
task's outcome is reported (a person flipping through datasets sees the last
one they chose, never a late answer to an earlier click). A JobQueue runs
every job it is given, in order, and reports each one.

Every submit() returns a TaskHandle, the job's own small QObject: exactly one
of finished(value), failed(TaskFailure) or cancelled() follows, on the GUI
thread (as superqt's workers and Orange's TaskState report per task). Callers
connect to their own handle instead of filtering one broadcast by ticket.

Threading rules kept here (docs/ARCHITECTURE.md, "Threads"):
- results cross threads through signals received by @Slot methods of QObjects
  that live on the GUI thread, never lambdas or plain callables;
- the slot that receives an outcome is declared once, in the base class, and is
  never overridden: PySide6 leaves an overriding @Slot out of the subclass's
  meta-object and then calls it directly in the emitting (worker) thread.
  Subclasses override the plain method it calls;
- every outcome handler checks that it runs on the GUI thread
  (expect_gui_thread); a violation is logged and recorded, and the test suite
  fails on any;
- every thread is referenced until it has finished, and shutdown() quits and
  waits for it, because destroying a running QThread aborts the process.

Why not superqt's thread_worker/GeneratorWorker: they run each task as a
QRunnable on the global QThreadPool and deliver through signals connected to
whatever callable the caller passes, the very pattern whose thread affinity
depends on PySide6's version; they do not give "newest request wins" or one
long-lived thread per purpose (torch's per-thread grad mode and thread policy),
and the extra dependency (superqt + qtpy) would be for ~150 lines we can test.
We keep their ideas: the task is a plain function or generator, control is
checked between yields, and each task has its own handle.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from netexplorer.core.reports import FinishedReport, StepReport

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ the GUI-thread guard

# Outcome handlers that ran off the GUI thread, as "where (thread name)": the test
# suite fails a test that adds to it; the app logs each one.
THREAD_VIOLATIONS: list[str] = []


def expect_gui_thread(where: str) -> None:
    """Record (and log) a call of an outcome handler from any thread but the GUI's.

    The GUI thread is the main thread in the app and in the tests: QApplication is
    created there. A violation is a bug in how a signal was connected.
    """
    thread = threading.current_thread()
    if thread is not threading.main_thread():
        THREAD_VIOLATIONS.append(f"{where} ran on thread {thread.name!r}")
        log.error("%s ran off the GUI thread (on %r)", where, thread.name)


# ------------------------------------------------------------------ keeping threads


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


# ------------------------------------------------------------------ outcomes


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

    @classmethod
    def of(cls, error: BaseException) -> TaskFailure:
        """The failure for a raised exception; its frames are let go here."""
        details = "".join(traceback.format_exception(error))
        error.__traceback__ = None
        return cls(error, details)


# A TaskHandle's states.
PENDING, FINISHED, FAILED, CANCELLED = "pending", "finished", "failed", "cancelled"


class TaskHandle(QObject):
    """One submitted task, seen from the GUI thread.

    Exactly one of finished(value), failed(TaskFailure) or cancelled() is emitted,
    once, on the GUI thread, then settled(); `state` says which (PENDING before).
    `description` is the submitter's own words for the task (what a status line
    says about it).
    Whoever runs the task keeps the handle referenced until it has settled.
    """

    finished = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    settled = Signal()  # after whichever of the three came

    def __init__(self, ticket: int, description: str = "") -> None:
        super().__init__()
        self.ticket = ticket
        self.description = description
        self.state = PENDING
        self.value: Any = None
        self.failure: TaskFailure | None = None

    @property
    def done(self) -> bool:
        return self.state != PENDING

    def report_result(self, value: Any) -> None:
        """The task returned value (GUI thread)."""
        if self._settle(FINISHED):
            self.value = value
            self.finished.emit(value)
            self.settled.emit()

    def report_failure(self, failure: TaskFailure) -> None:
        """The task raised (GUI thread)."""
        if self._settle(FAILED):
            self.failure = failure
            self.failed.emit(failure)
            self.settled.emit()

    def report_cancelled(self) -> None:
        """The task was superseded or cancelled: its outcome will not be reported."""
        if self._settle(CANCELLED):
            self.cancelled.emit()
            self.settled.emit()

    def _settle(self, state: str) -> bool:
        expect_gui_thread(f"TaskHandle({self.description or self.ticket}) outcome")
        if self.state != PENDING:
            return False
        self.state = state
        return True


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
            self.done.emit(_Outcome(job.ticket, TaskFailure.of(exc), True))
        else:
            self.done.emit(_Outcome(job.ticket, value, False))


class _ExecutorThread(QObject):
    """What TaskRunner and JobQueue share: one lazily started thread with an
    _Executor in it, jobs numbered by ticket with a handle each, and a shutdown
    that quits and waits.

    The executor's outcomes reach `_receive_outcome`, a slot declared here only
    (see the module doc), on the GUI thread; subclasses implement
    `_handle_outcome`. The keeper holds thread and executor until the thread
    ends, and an owner destroyed without shutdown() still lets its thread end.
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
        self._handles: dict[int, TaskHandle] = {}  # submitted, not yet settled

    def _send(self, job: _Job) -> None:
        """Hand a job to the thread, starting it on first use."""
        if self._thread is None:
            self._thread = QThread()
            self._thread.setObjectName(self._name)
            self._executor = _Executor()
            self._executor.moveToThread(self._thread)
            self._dispatch.connect(self._executor.run)
            self._executor.done.connect(self._receive_outcome)
            _thread_keeper().keep(self._thread, self._executor)
            self.destroyed.connect(self._thread.quit)
            self._thread.start()
        self._dispatch.emit(job)

    def _next_job(self, function: Callable[..., Any], args: tuple[Any, ...],
                  description: str, handle: TaskHandle | None = None
                  ) -> tuple[_Job, TaskHandle]:
        """Number the job and register the handle that will report it (a new one,
        or the caller's own, made before the job could be sent)."""
        if self._closed:
            raise RuntimeError(f"the {self._name} has been shut down")
        self._ticket += 1
        if handle is None:
            handle = TaskHandle(self._ticket, description)
        self._handles[self._ticket] = handle
        return _Job(self._ticket, function, args), handle

    @Slot(object)
    def _receive_outcome(self, outcome: _Outcome) -> None:
        """Never overridden: the one place outcomes enter, on the GUI thread."""
        expect_gui_thread(f"{type(self).__name__}({self._name}) outcome")
        self._handle_outcome(outcome)

    def _handle_outcome(self, outcome: _Outcome) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _settle(self, outcome: _Outcome, report: bool) -> None:
        """Tell the job's handle: its outcome if `report`, else that it was cancelled."""
        handle = self._handles.pop(outcome.ticket, None)
        if handle is None:
            return
        if not report:
            handle.report_cancelled()
        elif outcome.failed:
            log.debug("%s job failed:\n%s", self._name, outcome.value.details)
            handle.report_failure(outcome.value)
        else:
            handle.report_result(outcome.value)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop accepting work, let the running job end, and stop the thread.

        Nothing is reported after this, not even to handles. Returns False if the
        job did not end within timeout_ms; the thread is then kept referenced
        until it ends, so it is never destroyed running.
        """
        self._closed = True
        self._ticket += 1  # whatever is still running no longer counts
        self._handles.clear()
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

    finished(object) carries the newest function's return value, failed(object) a
    TaskFailure (its handle says the same); busyChanged(bool) says whether a task
    is running or waiting. At most one task runs and one waits: submitting while
    another waits replaces the waiting one, whose handle is cancelled, as is the
    running one's when its outcome arrives.
    """

    finished = Signal(object)
    failed = Signal(object)
    busyChanged = Signal(bool)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(name, parent)
        self._running: _Job | None = None
        self._waiting: _Job | None = None
        self._busy_reported = False

    @property
    def busy(self) -> bool:
        return self._running is not None or self._waiting is not None

    def submit(self, function: Callable[..., Any], *args: Any,
               description: str = "") -> TaskHandle:
        """Run function(*args) on the worker thread; earlier tasks stop counting."""
        job, handle = self._next_job(function, args, description)
        if self._running is not None:
            replaced, self._waiting = self._waiting, job
            if replaced is not None:
                self._settle(_Outcome(replaced.ticket, None, False), report=False)
        else:
            self._start(job)
        self._report_busy()
        return handle

    def cancel(self) -> None:
        """Drop the waiting task and ignore the running one's outcome."""
        self._ticket += 1
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            self._settle(_Outcome(waiting.ticket, None, False), report=False)
        self._report_busy()

    def _start(self, job: _Job) -> None:
        self._running = job
        self._send(job)

    def _handle_outcome(self, outcome: _Outcome) -> None:
        self._running = None
        if self._closed:
            return
        if self._waiting is not None:
            job, self._waiting = self._waiting, None
            self._start(job)
        newest = outcome.ticket == self._ticket
        self._settle(outcome, report=newest)
        if newest:
            if outcome.failed:
                self.failed.emit(outcome.value)
            else:
                self.finished.emit(outcome.value)
        # After the handlers, which may have submitted more work: one change, told once.
        self._report_busy()

    def _report_busy(self) -> None:
        if self.busy != self._busy_reported and not self._closed:
            self._busy_reported = self.busy
            self.busyChanged.emit(self._busy_reported)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """As _ExecutorThread.shutdown; a waiting task is dropped. Called by the
        owner when it closes."""
        self._waiting = None
        self._running = None
        return super().shutdown(timeout_ms)


class JobQueue(_ExecutorThread):
    """Runs functions one after another on its own thread and reports every one.

    Unlike TaskRunner (where a newer request makes older ones moot), each job
    here matters — an evaluation, then a checkpoint save — so each outcome goes
    to the handle submit() returned. After shutdown() queued jobs report nothing.
    """

    def submit(self, function: Callable[..., Any], *args: Any, description: str = "",
               handle: TaskHandle | None = None) -> TaskHandle:
        """Queue function(*args); `handle` (else a new one) reports its outcome."""
        job, handle = self._next_job(function, args, description, handle)
        self._send(job)
        return handle

    def _handle_outcome(self, outcome: _Outcome) -> None:
        if not self._closed:
            self._settle(outcome, report=True)


# ------------------------------------------------------------------------- training

# The worker sends reports at most this often (a second's worth of batches arrive
# as one signal); the plots redraw on their own timer. Pauses, epochs and the end
# are sent at once.
REPORT_INTERVAL_S = 1 / 30


class _Recording:
    """The run store's recorder for one run, kept from ever ending the run: a store
    that cannot be written (a full disk, a folder gone) stops the recording, says
    why in `problems`, and training goes on."""

    def __init__(self, start: Callable[[Any], Any] | None) -> None:
        self._start = start
        self._recorder: Any = None
        self.run_id = ""
        self.problems: list[str] = []

    def start(self, trainer: Any) -> None:
        start = self._start
        if start is not None:
            self._guard(lambda: self._begin(start, trainer))

    def _begin(self, start: Callable[[Any], Any], trainer: Any) -> None:
        self._recorder = start(trainer)
        self.run_id = self._recorder.run_id

    def record(self, report: Any) -> None:
        if self._recorder is not None:
            self._guard(lambda: self._recorder.record(report))

    def finish(self, finished: Any, **outcome: Any) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            self._guard(lambda: recorder.finish(finished, **outcome))
            self.problems.extend(recorder.problems)

    def _guard(self, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:  # the store, not the run: record no more, say why
            log.warning("the run is no longer recorded: %s", exc)
            self.problems.append(f"the run is no longer recorded in the run store: {exc}")
            recorder, self._recorder = self._recorder, None
            if recorder is not None:
                try:
                    recorder.close()
                except Exception:  # already failing; the message above says it
                    pass


class TrainingWorker(QObject):
    """Drives Trainer.steps() on its own thread (superqt's GeneratorWorker idea).

    The trainer is built on this thread too — creating the first optimizer of a
    process imports torch's compiler stack for seconds, which must not freeze the
    window. With `record` (a function of the trainer returning a core RunRecorder),
    every report is also written to the run store, here, off the GUI thread.
    Reports are batched: reportsReady(list) at most every REPORT_INTERVAL_S,
    immediately for anything but a StepReport. After the run the model is evaluated
    here (evaluated(EvalReport)), where it stopped is copied for the next run to
    continue from (stoppedAt(Checkpoint), None if its weights are not finite), and
    done(object) carries the FinishedReport — or failed(TaskFailure) if training
    raised. recordingProblem(str) says what the store could not keep.

    `control` (a core TrainingControl) is closed whatever happens — also when the
    trainer cannot be built — so that work queued on it always runs (or is
    refused) and nobody waits on a gate that will never open again.
    """

    started = Signal(object, str)  # the Trainer, and its run's id in the store ("" if none)
    reportsReady = Signal(object)
    evaluated = Signal(object)
    stoppedAt = Signal(object)  # a Checkpoint in memory to continue from, or None
    recordingProblem = Signal(str)
    failed = Signal(object)
    done = Signal(object)

    def __init__(self, build_trainer: Callable[[], Any], control: Any,
                 interactive: bool = True, record: Callable[[Any], Any] | None = None
                 ) -> None:
        super().__init__()
        self._build = build_trainer
        self._control = control
        self._interactive = interactive
        self._record = record
        self._closing = threading.Event()

    def skip_final_evaluation(self) -> None:
        """The window is closing: once training stops, end without evaluating the
        model (on a large test set that takes seconds nobody will see). Any thread."""
        self._closing.set()

    @Slot()
    def run(self) -> None:
        from netexplorer.core.checkpoints import checkpoint_of
        from netexplorer.core.devices import apply_cpu_policy
        from netexplorer.core.errors import CheckpointError

        apply_cpu_policy(interactive=self._interactive)
        finished = None
        evaluation = None
        stopped_at = None
        recording = _Recording(self._record)
        try:
            trainer = self._build()
            recording.start(trainer)
            self.started.emit(trainer, recording.run_id)
            pending: list[Any] = []
            last_emit = time.perf_counter()
            for report in trainer.steps():
                recording.record(report)
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
            # Evaluated before the control closes: jobs still queued on it run after
            # this, on this thread, and never use the model at the same time.
            if not self._closing.is_set():
                evaluation = trainer.evaluation_of_current_weights()
                try:
                    stopped_at = checkpoint_of(trainer)
                except CheckpointError:  # weights gone NaN: nothing to continue from
                    stopped_at = None
        except Exception as exc:  # shown to the person; the app keeps running
            failure = TaskFailure.of(exc)
            recording.finish(None, failure=failure.message)
            self._control.close()
            self.failed.emit(failure)
        else:
            recording.finish(finished, test_accuracy=(evaluation.accuracy
                                                      if evaluation is not None else None))
            self._control.close()
            if evaluation is not None:
                self.evaluated.emit(evaluation)
                self.stoppedAt.emit(stopped_at)
        finally:
            if recording.problems:
                self.recordingProblem.emit("; ".join(dict.fromkeys(recording.problems)))
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
        # Not `self.thread`: that would hide QObject.thread(), the thread this object
        # lives in (the GUI thread), behind the one it runs the worker in.
        self.qthread = QThread()
        self.qthread.setObjectName("training")
        worker.moveToThread(self.qthread)
        self.qthread.started.connect(worker.run)
        # Direct: the GUI thread may be blocked in wait() when training ends, so the
        # quit must not wait for its event loop (QThread.quit is thread-safe).
        worker.done.connect(self.qthread.quit, Qt.ConnectionType.DirectConnection)
        _thread_keeper().keep(self.qthread, worker)

    def start(self) -> None:
        self.qthread.start()

    def wait(self, timeout_ms: int) -> bool:
        return self.qthread.wait(timeout_ms)

    def is_running(self) -> bool:
        return self.qthread.isRunning()
