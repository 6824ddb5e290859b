"""The RedrawClock: dirty visible views drawn on its ticks, hidden ones when they
show, and a view with a minimum interval no more often than that."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QWidget

from netexplorer.ui.widgets.redraw_clock import REDRAW_INTERVAL_MS, RedrawClock


def _shown(qtbot) -> QWidget:
    widget = QWidget()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_a_slow_view_is_drawn_at_most_once_per_interval_and_never_lost(qtbot):
    clock = RedrawClock()
    fast_draws: list[float] = []
    slow_draws: list[float] = []
    fast = clock.register(_shown(qtbot), lambda: fast_draws.append(time.monotonic()))
    slow = clock.register(_shown(qtbot), lambda: slow_draws.append(time.monotonic()), 0.3)
    start = time.monotonic()
    while time.monotonic() - start < 1.0:  # news at every tick, for a second
        clock.mark_dirty(fast)
        clock.mark_dirty(slow)
        # Taken as the news is marked: a tick during the wait below may draw it
        # (taken after the wait, such a draw read as the news lost).
        last_news = time.monotonic()
        qtbot.wait(REDRAW_INTERVAL_MS)
    qtbot.waitUntil(lambda: slow_draws and slow_draws[-1] >= last_news, timeout=2_000)
    clock.stop()
    gaps = [b - a for a, b in zip(slow_draws, slow_draws[1:])]
    assert min(gaps) >= 0.3  # never sooner than its interval
    assert len(slow_draws) >= 3  # about once per 0.3 s, and the last news drawn (waitUntil)
    assert len(fast_draws) > 2 * len(slow_draws)


def test_redraw_now_draws_a_slow_view_at_once(qtbot):
    clock = RedrawClock()
    draws: list[int] = []
    view = clock.register(_shown(qtbot), lambda: draws.append(1), 10.0)
    clock.mark_dirty(view)
    clock.redraw_now()
    clock.mark_dirty(view)
    clock.redraw_now()  # within its interval, but forced
    assert len(draws) == 2
    clock.stop()


def test_a_hidden_view_waits_for_its_show(qtbot):
    clock = RedrawClock()
    draws: list[int] = []
    widget = QWidget()
    qtbot.addWidget(widget)
    view = clock.register(widget, lambda: draws.append(1))
    clock.mark_dirty(view)
    qtbot.wait(3 * REDRAW_INTERVAL_MS)
    assert not draws
    widget.show()
    clock.mark_dirty(view)  # what a view's showEvent does
    qtbot.waitUntil(lambda: draws == [1], timeout=1_000)
    clock.stop()


def test_a_tick_stops_drawing_when_its_time_is_spent(qtbot):
    """Views slower than the tick's budget are drawn one per tick, the least
    recently drawn first, and none is lost; redraw_now still draws them all."""
    from netexplorer.ui.widgets.redraw_clock import TICK_BUDGET_S

    clock = RedrawClock()
    draws: list[tuple[int, float]] = []

    def slow(name: int):
        def redraw() -> None:
            draws.append((name, time.monotonic()))
            time.sleep(TICK_BUDGET_S * 1.5)
        return redraw

    views = [clock.register(_shown(qtbot), slow(i)) for i in range(3)]
    for view in views:
        clock.mark_dirty(view)
    qtbot.waitUntil(lambda: len(draws) == 3, timeout=2_000)
    assert [name for name, _ in draws] == [0, 1, 2]
    gaps = [b - a for (_, a), (_, b) in zip(draws, draws[1:])]
    assert min(gaps) >= REDRAW_INTERVAL_MS / 1000 * 0.9  # one per tick
    draws.clear()
    clock.mark_dirty(views[2])
    clock.mark_dirty(views[0])
    qtbot.waitUntil(lambda: len(draws) == 2, timeout=2_000)
    assert [name for name, _ in draws] == [0, 2]  # the least recently drawn first
    draws.clear()
    for view in views:
        clock.mark_dirty(view)
    clock.redraw_now()
    assert sorted(name for name, _ in draws) == [0, 1, 2]
    clock.stop()
