"""Cycles of Qt objects are freed on the GUI thread, never on a training thread:
freed there, an active QTimer stays registered with the GUI thread's event loop
and the next time it is due the process crashes (the suite's segfault in
QTimerInfoList::activateTimers)."""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtCore import QObject, QTimer

from netexplorer.ui.app import collect_garbage_on_the_gui_thread
from netexplorer.ui.session import workers


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def _qt_cycle() -> weakref.ref:
    """A QObject with an active timer, referenced only by a cycle."""
    owner = QObject()
    timer = QTimer(owner)
    timer.timeout.connect(lambda: None)
    timer.start(50)
    holder = _Cycle()
    holder.owner, holder.timer = owner, timer
    return weakref.ref(holder)


def test_a_thread_allocating_cycles_never_collects_the_guis(qapp, qtbot):
    collector = collect_garbage_on_the_gui_thread(qapp)
    assert collector.active and not gc.isenabled()
    gc.collect()  # nothing older pending
    qt_cycles = [_qt_cycle() for _ in range(20)]
    seen: list[str] = []

    def allocate() -> None:  # as a training thread does, crossing every threshold
        for _ in range(50 * gc.get_threshold()[0]):
            _Cycle()
        seen.append(threading.current_thread().name)

    thread = threading.Thread(target=allocate, name="training")
    thread.start()
    thread.join()
    assert seen == ["training"]
    assert all(ref() is not None for ref in qt_cycles)  # not collected there
    # The collector's timer frees them on the GUI thread, and the loop goes on.
    qtbot.waitUntil(lambda: all(ref() is None for ref in qt_cycles), timeout=10_000)
    qtbot.wait(120)  # any timer left registered would be due now
    assert workers.THREAD_VIOLATIONS == []


def test_a_collection_started_off_the_gui_thread_is_a_violation(qapp):
    collect_garbage_on_the_gui_thread(qapp)
    gc.collect()  # so that the thread's collection finds no Qt object to free
    thread = threading.Thread(target=gc.collect, name="some library")
    thread.start()
    thread.join()
    found = list(workers.THREAD_VIOLATIONS)
    workers.THREAD_VIOLATIONS.clear()
    assert found == ["Python's garbage collection ran on thread 'some library'"]


def test_due_generations_are_collected_as_the_interpreter_would(qapp):
    collector = collect_garbage_on_the_gui_thread(qapp)
    gc.collect()
    before = list(collector.collections)
    collector.collect_due()  # nothing due
    assert collector.collections == before
    for _ in range(2 * gc.get_threshold()[0]):
        _Cycle()
    collector.collect_due()
    assert collector.collections[0] == before[0] + 1
    assert gc.get_count()[0] < gc.get_threshold()[0]
