"""Fixtures for the GUI tests: isolated settings, a ready window, and guards
that fail any test leaving Qt work running or handling an outcome off the GUI
thread.

The leak guard follows napari's `_dangling_qthreads` / `_dangling_qtimers` /
`_dangling_qthread_pool`: while a test runs, QThread.start, QTimer.start,
QThreadPool.start and threading.Thread.start are wrapped to remember what was
started; at teardown — after pytest-qt has closed the test's widgets — anything
still running is reported, then stopped so that later tests are not affected
(and the process is not aborted by a QThread destroyed while running).

The thread guard reads netexplorer.ui.session.workers.THREAD_VIOLATIONS: every outcome
handler of the runners, the job queue and the training session records itself
there when it runs on any thread but the GUI's, and so does a garbage collection
started off the GUI thread.

As in the app, Python's cycle collector runs on the GUI thread only (the app's
GuiThreadGarbageCollector, started for the whole session): the tests make Qt
objects in cycles (pytest-qt's blockers and their timers), and one freed by a
collection on a training thread crashed the suite.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field

import pytest
from PySide6.QtCore import QCoreApplication, QSettings, QThread, QThreadPool, QTimer

from netexplorer.ui.app import collect_garbage_on_the_gui_thread
from netexplorer.ui.main_window import MainWindow
from netexplorer.ui.session import workers


@dataclass
class QtLeakTracker:
    """Remembers the threads and timers started while it is installed."""

    threads: list[tuple[QThread, str]] = field(default_factory=list)
    timers: list[tuple[QTimer, str]] = field(default_factory=list)
    pools: list[tuple[QThreadPool, str]] = field(default_factory=list)
    py_threads: list[tuple[threading.Thread, str]] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        thread_start = QThread.start
        timer_start = QTimer.start
        pool_start = QThreadPool.start
        py_thread_start = threading.Thread.start
        tracker = self

        def where() -> str:
            return "".join(traceback.format_stack(limit=8)[:-2])

        def start_thread(thread: QThread, *args, **kwargs):
            tracker.threads.append((thread, where()))
            return thread_start(thread, *args, **kwargs)

        def start_timer(timer: QTimer, *args, **kwargs):
            tracker.timers.append((timer, where()))
            return timer_start(timer, *args, **kwargs)

        def start_in_pool(pool: QThreadPool, *args, **kwargs):
            tracker.pools.append((pool, where()))
            return pool_start(pool, *args, **kwargs)

        def start_py_thread(thread: threading.Thread, *args, **kwargs):
            tracker.py_threads.append((thread, where()))
            return py_thread_start(thread, *args, **kwargs)

        monkeypatch.setattr(QThread, "start", start_thread)
        monkeypatch.setattr(QTimer, "start", start_timer)
        monkeypatch.setattr(QThreadPool, "start", start_in_pool)
        monkeypatch.setattr(threading.Thread, "start", start_py_thread)

    @staticmethod
    def _alive(check) -> bool:
        try:
            return bool(check())
        except RuntimeError:  # the C++ object is gone, so it is not running
            return False

    def running_threads(self) -> list[tuple[QThread, str]]:
        return [(t, where) for t, where in self.threads if self._alive(t.isRunning)]

    def active_timers(self) -> list[tuple[QTimer, str]]:
        return [(t, where) for t, where in self.timers if self._alive(t.isActive)]

    def busy_pools(self) -> list[tuple[QThreadPool, str]]:
        seen: set[int] = set()
        busy = []
        for pool, where in self.pools:
            if id(pool) not in seen and self._alive(pool.activeThreadCount):
                seen.add(id(pool))
                busy.append((pool, where))
        return busy

    def running_py_threads(self) -> list[tuple[threading.Thread, str]]:
        return [(t, where) for t, where in self.py_threads if t.is_alive()]

    def settle(self, seconds: float = 5.0) -> None:
        """Give threads that were asked to quit (an owner just closed) time to end:
        a bounded wait for work already told to stop, not a retry."""
        deadline = time.monotonic() + seconds
        while (self.running_threads() or self.busy_pools() or self.running_py_threads()) \
                and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            time.sleep(0.01)

    def stop_all(self) -> None:
        for thread, _ in self.running_threads():
            thread.quit()
            thread.wait(10_000)
        for timer, _ in self.active_timers():
            timer.stop()
        for pool, _ in self.busy_pools():
            pool.clear()
            pool.waitForDone(10_000)
        for thread, _ in self.running_py_threads():
            thread.join(10)


@pytest.fixture(scope="session", autouse=True)
def _garbage_collected_on_the_gui_thread(qapp):
    collector = collect_garbage_on_the_gui_thread(qapp)
    yield collector
    collector.stop()


@pytest.fixture(autouse=True)
def _dangling_qthreads_and_qtimers(qapp, monkeypatch):
    tracker = QtLeakTracker()
    tracker.install(monkeypatch)
    yield tracker
    tracker.settle()
    threads = tracker.running_threads()
    timers = tracker.active_timers()
    pools = tracker.busy_pools()
    py_threads = tracker.running_py_threads()
    tracker.stop_all()
    problems = [f"QThread {t.objectName() or t!r} is still running; started at:\n{where}"
                for t, where in threads]
    problems += [f"QTimer {t.objectName() or t!r} is still active; started at:\n{where}"
                 for t, where in timers]
    problems += [f"QThreadPool {p!r} still runs {p.activeThreadCount()} jobs; started at:"
                 f"\n{where}" for p, where in pools]
    problems += [f"Python thread {t.name!r} is still running; started at:\n{where}"
                 for t, where in py_threads]
    if problems:
        pytest.fail("the test left work running:\n\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(autouse=True)
def _outcomes_on_the_gui_thread():
    """Fail a test in which any outcome handler ran off the GUI thread."""
    workers.THREAD_VIOLATIONS.clear()
    yield
    found = list(workers.THREAD_VIOLATIONS)
    workers.THREAD_VIOLATIONS.clear()
    if found:
        pytest.fail("outcome handlers ran off the GUI thread:\n" + "\n".join(found),
                    pytrace=False)


@pytest.fixture(autouse=True)
def _isolated_qsettings(tmp_path):
    """Any QSettings a test creates without a file name lands in its tmp folder."""
    folder = str(tmp_path / "qsettings")
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, folder)
    yield


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "netexplorer.ini"), QSettings.Format.IniFormat)


def wait_for_data(qtbot, window: MainWindow, timeout: int = 60_000) -> None:
    """Wait until the window has opened (every panel built: see MainWindow.opened) and
    the background load has finished and a dataset is shown."""
    qtbot.waitUntil(lambda: window.opened and window.data_view.dataset is not None
                    and not window.data_view.busy, timeout=timeout)


@pytest.fixture
def window(qtbot, settings) -> MainWindow:
    """The main window as `netexplorer` opens it, with its first dataset loaded."""
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    wait_for_data(qtbot, win)
    return win
