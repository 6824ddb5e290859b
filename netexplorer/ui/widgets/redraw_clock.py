"""The one timer every live view draws on (see RedrawClock).

Kept apart from plots.py, which imports pyqtgraph: the window makes its clock
before its first paint, and the plots after it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QWidget

REDRAW_INTERVAL_MS = 33  # ≤ 30 redraws per second, whatever the training speed
# Redraws one tick may run before the rest wait for the next: the event loop is
# blocked for the redraws and the paints they cause, so two slow views drawn in
# the same tick (the inspector's table and plot, ~10 ms each) made it late by
# both at once.
TICK_BUDGET_S = 0.008


@dataclass
class _View:
    widget: QWidget
    redraw: Callable[[], None]
    min_interval_s: float
    last_drawn: float = float("-inf")  # time.monotonic() of its last redraw


class RedrawClock(QObject):
    """One timer for all live views: each registers a redraw callback that runs
    at most every REDRAW_INTERVAL_MS while the view is visible and marked dirty.

    Views call mark_dirty() when their data changed (cheap, any number of times
    per tick). Hidden views are not drawn; they stay dirty, and a view calls
    mark_dirty() again from its showEvent to be drawn when it appears. The timer
    runs only while a visible view is dirty, so an idle window does no work.

    A view may ask to be drawn less often (min_interval_s): a table of numbers a
    person reads needs no 30 redraws a second, and each costs the training thread
    the GIL. It stays dirty until its interval has passed; redraw_now ignores it.

    A tick stops drawing once its redraws took TICK_BUDGET_S; the views left wait
    for the next tick, where the least recently drawn go first (one view is always
    drawn, however slow).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._views: list[_View] = []
        self._dirty: set[int] = set()
        self._timer = QTimer(self)
        self._timer.setObjectName("redrawClock")
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._on_tick)

    def register(self, widget: QWidget, redraw: Callable[[], None],
                 min_interval_s: float = 0.0) -> int:
        """A view drawn by `redraw` while `widget` is visible, at most every
        REDRAW_INTERVAL_MS, or every `min_interval_s` if that is longer."""
        self._views.append(_View(widget, redraw, min_interval_s))
        return len(self._views) - 1

    def mark_dirty(self, view: int) -> None:
        self._dirty.add(view)
        if not self._timer.isActive():
            self._timer.start()

    def redraw_now(self) -> None:
        """Draw every dirty view at once (tests, screenshots, a tab becoming visible)."""
        self._on_tick(force=True)

    def stop(self) -> None:
        self._timer.stop()

    @Slot()
    def _on_tick(self, force: bool = False) -> None:
        # Taken before drawing: a view that marks itself dirty again while it redraws
        # (it drew part of its news and wants the next tick for the rest) stays dirty.
        dirty, self._dirty = self._dirty, set()
        self._timer.stop()  # restarted by the next mark_dirty of a change
        now = time.monotonic()
        waiting = drawn = False
        for index in sorted(dirty, key=lambda i: (self._views[i].last_drawn, i)):
            view = self._views[index]
            if not (force or view.widget.isVisible()):
                self._dirty.add(index)  # drawn when it shows (its showEvent marks it)
            elif drawn and not force and time.monotonic() - now >= TICK_BUDGET_S:
                self._dirty.add(index)  # this tick's time is spent: the next one
                waiting = True
            elif force or now - view.last_drawn >= view.min_interval_s:
                view.last_drawn = now
                view.redraw()
                drawn = True
            else:
                self._dirty.add(index)
                waiting = True
        if waiting and not self._timer.isActive():
            self._timer.start()
