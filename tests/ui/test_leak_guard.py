"""The conftest guard itself: it sees threads and timers that are left running."""

from __future__ import annotations

from PySide6.QtCore import QThread, QTimer

from tests.ui.conftest import QtLeakTracker


def test_tracker_reports_an_active_timer_and_a_running_thread(monkeypatch):
    tracker = QtLeakTracker()
    tracker.install(monkeypatch)
    timer = QTimer()
    timer.start(10_000)
    thread = QThread()
    thread.start()
    try:
        assert [t for t, _ in tracker.active_timers()] == [timer]
        assert [t for t, _ in tracker.running_threads()] == [thread]
        assert "test_leak_guard" in tracker.timers[0][1]  # where it was started
    finally:
        tracker.stop_all()
    assert tracker.active_timers() == [] and tracker.running_threads() == []
