"""Python's cycle collector, run on the GUI thread only.

CPython runs its cyclic garbage collector in whichever thread happens to allocate
when a generation's threshold is crossed — with a run training, usually the
training thread. A Qt object of the GUI thread caught in a reference cycle (a
widget and a lambda that names it, a pytest-qt blocker and its timer) is then
destroyed on the training thread: Qt cannot stop its timers from there ("QObject::
killTimer: Timers cannot be stopped from another thread"), they stay registered,
and the next time one is due the GUI thread's event loop delivers it to freed
memory and the process crashes (seen as a segfault in QTimerInfoList::
activateTimers, and as a suite that hung in CI). pyqtgraph ships the same remedy
(pyqtgraph.util.garbage_collector): automatic collection off, the generations
collected on a GUI-thread timer when their thresholds are crossed.

Reference counting, which frees almost everything, is untouched; only cycles wait
for the timer (at most COLLECT_INTERVAL_MS). A collection started off the GUI
thread anyway (an explicit gc.collect() in some library's thread) is recorded
through expect_gui_thread, so the test suite fails on it.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

from PySide6.QtCore import QObject, QTimer, Slot

from netexplorer.ui.session.workers import expect_gui_thread

COLLECT_INTERVAL_MS = 500
COLLECTOR_NAME = "guiThreadGarbageCollector"


class GuiThreadGarbageCollector(QObject):
    """While started: automatic collection off, and each generation collected here,
    on the GUI thread, when its count passes the interpreter's threshold."""

    def __init__(self, parent: QObject | None = None,
                 interval_ms: int = COLLECT_INTERVAL_MS) -> None:
        super().__init__(parent)
        self.setObjectName(COLLECTOR_NAME)
        self._timer = QTimer(self)
        self._timer.setObjectName("garbageCollectionTimer")
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect_due)
        self._was_enabled = False
        self.collections = [0, 0, 0]  # by generation, made by this collector

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        """Take over collection (on the GUI thread, which this object must live in)."""
        if self.active:
            return
        self._was_enabled = gc.isenabled()
        gc.disable()
        if _watch_collections not in gc.callbacks:
            gc.callbacks.append(_watch_collections)
        self._timer.start()

    def stop(self) -> None:
        """Give collection back to the interpreter as it was before start()."""
        if not self.active:
            return
        self._timer.stop()
        if _watch_collections in gc.callbacks:
            gc.callbacks.remove(_watch_collections)
        if self._was_enabled:
            gc.enable()

    @Slot()
    def collect_due(self) -> None:
        """Collect the generations whose counts have passed their thresholds, as the
        interpreter would have at the allocation that passed them."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        if counts[0] <= thresholds[0]:
            return
        generation = 0
        # An older generation is due when enough younger collections moved into it.
        while generation < 2 and counts[generation + 1] > thresholds[generation + 1]:
            generation += 1
        gc.collect(generation)
        self.collections[generation] += 1


def _watch_collections(phase: str, _info: dict[str, Any]) -> None:
    """gc callback: a collection starting off the GUI thread is a violation."""
    if phase == "start" and threading.current_thread() is not threading.main_thread():
        expect_gui_thread("Python's garbage collection")
