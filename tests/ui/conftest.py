"""Fixtures for the GUI tests: isolated settings, a ready window, and a guard
that fails any test leaving a QThread running or a QTimer active.

The guard follows napari's `_dangling_qthreads` / `_dangling_qtimers`: while a
test runs, QThread.start and QTimer.start are wrapped to remember what was
started; at teardown — after pytest-qt has closed the test's widgets — anything
still running is reported, then stopped so that later tests are not affected
(and the process is not aborted by a QThread destroyed while running).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field

import pytest
from PySide6.QtCore import QCoreApplication, QSettings, QThread, QTimer

from netexplorer.ui.main_window import MainWindow


@dataclass
class QtLeakTracker:
    """Remembers the threads and timers started while it is installed."""

    threads: list[tuple[QThread, str]] = field(default_factory=list)
    timers: list[tuple[QTimer, str]] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        thread_start = QThread.start
        timer_start = QTimer.start
        tracker = self

        def start_thread(thread: QThread, *args, **kwargs):
            tracker.threads.append((thread, "".join(traceback.format_stack(limit=8)[:-1])))
            return thread_start(thread, *args, **kwargs)

        def start_timer(timer: QTimer, *args, **kwargs):
            tracker.timers.append((timer, "".join(traceback.format_stack(limit=8)[:-1])))
            return timer_start(timer, *args, **kwargs)

        monkeypatch.setattr(QThread, "start", start_thread)
        monkeypatch.setattr(QTimer, "start", start_timer)

    @staticmethod
    def _alive(check) -> bool:  # noqa: ANN001 - a bound isRunning/isActive
        try:
            return bool(check())
        except RuntimeError:  # the C++ object is gone, so it is not running
            return False

    def running_threads(self) -> list[tuple[QThread, str]]:
        return [(t, where) for t, where in self.threads if self._alive(t.isRunning)]

    def active_timers(self) -> list[tuple[QTimer, str]]:
        return [(t, where) for t, where in self.timers if self._alive(t.isActive)]

    def settle(self, seconds: float = 5.0) -> None:
        """Give threads that were asked to quit (an owner just closed) time to end."""
        deadline = time.monotonic() + seconds
        while self.running_threads() and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            time.sleep(0.01)

    def stop_all(self) -> None:
        for thread, _ in self.running_threads():
            thread.quit()
            thread.wait(10_000)
        for timer, _ in self.active_timers():
            timer.stop()


@pytest.fixture(autouse=True)
def _dangling_qthreads_and_qtimers(qapp, monkeypatch):
    tracker = QtLeakTracker()
    tracker.install(monkeypatch)
    yield tracker
    tracker.settle()
    threads = tracker.running_threads()
    timers = tracker.active_timers()
    tracker.stop_all()
    problems = [f"QThread {t.objectName() or t!r} is still running; started at:\n{where}"
                for t, where in threads]
    problems += [f"QTimer {t.objectName() or t!r} is still active; started at:\n{where}"
                 for t, where in timers]
    if problems:
        pytest.fail("the test left Qt work running:\n\n" + "\n".join(problems), pytrace=False)


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
    """Wait until the background load has finished and a dataset is shown."""
    qtbot.waitUntil(lambda: window.data_view.dataset is not None and not window.data_view.busy,
                    timeout=timeout)


@pytest.fixture
def window(qtbot, settings) -> MainWindow:
    """The main window as `netexplorer` opens it, with its first dataset loaded."""
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    wait_for_data(qtbot, win)
    return win
