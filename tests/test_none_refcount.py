"""Guard against the PySide6 6.12.0 / Python 3.11 None-refcount leak.

That combination drops a reference to None on every Qt method returning
nothing; a live pyqtgraph plot then aborts the process ("Fatal Python error:
none_dealloc") after a few thousand redraws. pyproject.toml excludes it; this
test catches whatever combination is actually installed. On Python >= 3.12
None is immortal and the count does not move, so the test passes trivially.
"""

from __future__ import annotations

import sys

import numpy as np

CALLS = 20_000


def test_qt_void_methods_keep_none_alive(qapp):
    from PySide6.QtGui import QPainterPath

    path = QPainterPath()
    before = sys.getrefcount(None)
    for _ in range(CALLS):
        path.reserve(10)
    after = sys.getrefcount(None)
    assert after >= before - 100, (
        f"Qt void calls lost {before - after} references to None over {CALLS} calls: this "
        f"PySide6/Python combination will crash live plots (see pyproject.toml)")


def test_pyqtgraph_curve_updates_keep_none_alive(qapp):
    import pyqtgraph as pg

    x = np.arange(50, dtype=float)
    y = np.sin(x)
    curve = pg.PlotCurveItem()
    before = sys.getrefcount(None)
    for i in range(CALLS // 10):
        pg.arrayToQPath(x, y + i)
    for i in range(CALLS // 10):
        curve.setData(x, y + i)
    after = sys.getrefcount(None)
    assert after >= before - 100, (
        f"pyqtgraph updates lost {before - after} references to None: this PySide6/Python "
        f"combination will crash live plots (see pyproject.toml)")
