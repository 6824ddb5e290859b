"""The background task runner and job queue: results, failures, superseded tasks,
per-task handles, shutdown — and every outcome handled on the GUI thread.

No test here sleeps to wait or waits for a transient state: the tasks block on
events the test sets, and the test waits for signals with their arguments
checked.
"""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QCoreApplication, Qt

from netexplorer.ui.session import workers
from netexplorer.ui.session.workers import (
    CANCELLED,
    FAILED,
    FINISHED,
    PENDING,
    JobQueue,
    TaskFailure,
    TaskHandle,
    TaskRunner,
)

WAIT_S = 10


def _thread_name() -> str:
    return threading.current_thread().name


def _fail(message: str) -> None:
    raise ValueError(message)


def _echo(value: object) -> object:
    return value


def _echo_when(gate: threading.Event, value: object) -> object:
    """Returns once the test opens the gate: the test decides when a task ends."""
    assert gate.wait(WAIT_S), "the test never opened the gate"
    return value


@pytest.fixture
def runner():
    r = TaskRunner("test runner")
    yield r
    r.shutdown()


@pytest.fixture
def queue():
    q = JobQueue("test queue")
    yield q
    q.shutdown()


def test_runs_off_the_gui_thread_and_reports_the_result(qtbot, runner):
    with qtbot.waitSignal(runner.finished, timeout=5_000) as blocker:
        handle = runner.submit(_thread_name)
    assert blocker.args[0] != threading.current_thread().name
    assert handle.state == FINISHED and handle.value == blocker.args[0]


def test_failures_arrive_as_task_failures(qtbot, runner):
    with qtbot.waitSignal(runner.failed, timeout=5_000) as blocker:
        handle = runner.submit(_fail, "broken on purpose")
    failure = blocker.args[0]
    assert isinstance(failure, TaskFailure)
    assert failure.message == "broken on purpose"
    assert "ValueError" in failure.details
    assert failure.error.__traceback__ is None
    assert handle.state == FAILED and handle.failure is failure


def test_only_the_newest_task_is_reported(qtbot, runner):
    gate = threading.Event()
    results = []
    runner.finished.connect(results.append)
    first = runner.submit(_echo_when, gate, "first")
    second = runner.submit(_echo, "second")  # waits, then is replaced
    third = runner.submit(_echo, "third")
    assert runner.busy
    assert second.state == CANCELLED  # replaced at once, before anything ran
    gate.set()
    with qtbot.waitSignal(third.finished, timeout=5_000,
                          check_params_cb=lambda value: value == "third"):
        pass  # outcomes are handled on this thread: none can arrive before the wait
    assert first.state == CANCELLED
    assert results == ["third"]
    assert not runner.busy


def test_each_handle_settles_exactly_once(qtbot, runner):
    gate = threading.Event()
    handles = [runner.submit(_echo_when, gate, i) for i in range(4)]
    # The 2nd and 3rd were replaced while waiting, so they settled during submit().
    assert [h.state for h in handles] == [PENDING, CANCELLED, CANCELLED, PENDING]
    settled = []
    recorders = [_Recorder(settled, h) for h in handles]  # PySide keeps no strong ref
    for handle, recorder in zip(handles, recorders):
        handle.settled.connect(recorder.record)
    gate.set()
    with qtbot.waitSignal(handles[-1].settled, timeout=5_000):
        pass
    assert [h.state for h in handles] == [CANCELLED, CANCELLED, CANCELLED, FINISHED]
    assert handles[-1].value == 3
    assert settled == [handles[0], handles[3]]  # once each, the running one first


class _Recorder:
    def __init__(self, into: list, item: object) -> None:
        self._into, self._item = into, item

    def record(self, *_args) -> None:
        self._into.append(self._item)


def test_busy_changes_are_signalled_once_each(qtbot, runner):
    states = []
    runner.busyChanged.connect(states.append)
    handle = runner.submit(_echo, 1)
    assert states == [True]
    with qtbot.waitSignal(runner.busyChanged, timeout=5_000,
                          check_params_cb=lambda busy: busy is False):
        pass
    assert states == [True, False] and handle.state == FINISHED


def test_a_handler_that_submits_more_keeps_the_runner_busy(qtbot, runner):
    """The outcome is told before busy changes, so work submitted by a handler
    (the data view's fall-back to digits) is one unbroken busy spell."""
    states = []
    runner.busyChanged.connect(states.append)
    follow_up = []

    def resubmit(_value):
        follow_up.append(runner.submit(_echo, "again"))

    first = runner.submit(_echo, "first")
    first.finished.connect(resubmit)
    with qtbot.waitSignal(runner.busyChanged, timeout=5_000,
                          check_params_cb=lambda busy: busy is False):
        pass
    assert states == [True, False]
    assert follow_up and follow_up[0].state == FINISHED


def test_state_changes_only_when_the_gui_thread_processes_events(qtbot, runner):
    """The mechanism behind issue 11: the outcome must wait for the GUI thread.

    A direct connection on the executor's done signal runs in the worker thread
    right after the queued delivery was posted; at that moment the runner must
    not have changed yet — it changes only when this thread processes events.
    (When the receiving slot was an overridden @Slot, PySide6 called it right
    there in the worker thread, and the runner had changed in 30 of 30 tries.)
    """
    warm_up = runner.submit(_echo, "warm-up")  # starts the thread and its executor
    with qtbot.waitSignal(warm_up.settled, timeout=5_000):
        pass
    executor = runner._executor
    for attempt in range(30):
        posted = threading.Event()
        setter = _SetEvent(posted)
        executor.done.connect(setter.set, Qt.ConnectionType.DirectConnection)
        handle = runner.submit(_echo, attempt)
        assert posted.wait(WAIT_S)
        assert runner.busy and handle.state == PENDING, f"changed off-thread ({attempt})"
        with qtbot.waitSignal(handle.settled, timeout=5_000):
            pass
        executor.done.disconnect(setter.set)
        assert not runner.busy and handle.value == attempt


class _SetEvent:
    """A plain callable for a direct connection: runs in the emitting thread."""

    def __init__(self, event: threading.Event) -> None:
        self._event = event

    def set(self, *_args) -> None:
        self._event.set()


def test_outcome_handlers_run_on_the_gui_thread(qtbot, runner, queue):
    where = []
    handle = runner.submit(_echo, 1)
    handle.finished.connect(lambda _v: where.append(threading.current_thread()))
    job = queue.submit(_echo, 2)
    job.finished.connect(lambda _v: where.append(threading.current_thread()))
    with qtbot.waitSignals([handle.settled, job.settled], timeout=5_000):
        pass
    assert where == [threading.main_thread()] * 2
    assert workers.THREAD_VIOLATIONS == []


def test_the_queue_reports_every_job_in_order(qtbot, queue):
    gate = threading.Event()
    results = []
    handles = [queue.submit(_echo_when, gate, i, description=f"job {i}") for i in range(5)]
    failing = queue.submit(_fail, "fifth fails")
    for handle in handles:
        handle.finished.connect(results.append)
    gate.set()
    with qtbot.waitSignal(failing.failed, timeout=5_000,
                          check_params_cb=lambda f: f.message == "fifth fails"):
        pass
    assert results == [0, 1, 2, 3, 4]
    assert [h.description for h in handles] == [f"job {i}" for i in range(5)]


def test_shutdown_waits_for_the_running_task_and_reports_nothing(qtbot, runner):
    gate = threading.Event()
    handle = runner.submit(_echo_when, gate, 1)
    gate.set()
    assert runner.shutdown(timeout_ms=5_000)
    # The thread has ended, so its outcome, if any, is already posted: deliver it.
    QCoreApplication.sendPostedEvents()
    QCoreApplication.processEvents()
    assert handle.state == PENDING
    with pytest.raises(RuntimeError, match="shut down"):
        runner.submit(_echo, 2)


def test_cancel_drops_the_outcome(qtbot, runner):
    gate = threading.Event()
    results = []
    runner.finished.connect(results.append)
    handle = runner.submit(_echo_when, gate, "late")
    runner.cancel()
    gate.set()
    with qtbot.waitSignal(handle.cancelled, timeout=5_000):
        pass
    assert results == [] and not runner.busy


def test_a_handle_reports_once_even_if_told_twice(qtbot):
    handle = TaskHandle(1, "twice")
    values = []
    handle.finished.connect(values.append)
    handle.report_result("a")
    handle.report_result("b")
    handle.report_cancelled()
    assert values == ["a"] and handle.state == FINISHED
