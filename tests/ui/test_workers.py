"""The background task runner: results, failures, superseded tasks, shutdown."""

from __future__ import annotations

import threading
import time

from netexplorer.ui.workers import TaskFailure, TaskRunner


def _thread_name(delay: float = 0.0) -> str:
    time.sleep(delay)
    return threading.current_thread().name


def _fail(message: str) -> None:
    raise ValueError(message)


def _echo(value: object, delay: float = 0.0) -> object:
    time.sleep(delay)
    return value


def test_runs_off_the_gui_thread_and_reports_the_result(qtbot):
    runner = TaskRunner("test runner")
    with qtbot.waitSignal(runner.finished, timeout=5_000) as blocker:
        runner.submit(_thread_name)
    assert blocker.args[0] != threading.current_thread().name
    assert runner.shutdown()


def test_failures_arrive_as_task_failures(qtbot):
    runner = TaskRunner("test runner")
    with qtbot.waitSignal(runner.failed, timeout=5_000) as blocker:
        runner.submit(_fail, "broken on purpose")
    failure = blocker.args[0]
    assert isinstance(failure, TaskFailure)
    assert failure.message == "broken on purpose"
    assert "ValueError" in failure.details
    assert failure.error.__traceback__ is None
    runner.shutdown()


def test_only_the_newest_task_is_reported(qtbot):
    runner = TaskRunner("test runner")
    results = []
    runner.finished.connect(results.append)
    runner.submit(_echo, "first", 0.2)
    runner.submit(_echo, "second", 0.0)  # waits, then replaced
    runner.submit(_echo, "third", 0.0)
    assert runner.busy
    qtbot.waitUntil(lambda: not runner.busy, timeout=5_000)
    assert results == ["third"]
    runner.shutdown()


def test_busy_changes_are_signalled(qtbot):
    runner = TaskRunner("test runner")
    states = []
    runner.busyChanged.connect(states.append)
    with qtbot.waitSignal(runner.finished, timeout=5_000):
        runner.submit(_echo, 1)
    qtbot.waitUntil(lambda: states == [True, False], timeout=2_000)
    runner.shutdown()


def test_shutdown_waits_for_the_running_task(qtbot):
    runner = TaskRunner("test runner")
    runner.submit(_echo, 1, 0.3)
    assert runner.shutdown(timeout_ms=5_000)
    try:
        runner.submit(_echo, 2)
    except RuntimeError as exc:
        assert "shut down" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a shut-down runner accepted work")


def test_cancel_drops_the_outcome(qtbot):
    runner = TaskRunner("test runner")
    results = []
    runner.finished.connect(results.append)
    runner.submit(_echo, "late", 0.1)
    runner.cancel()
    qtbot.waitUntil(lambda: not runner.busy, timeout=5_000)
    assert results == []
    runner.shutdown()
