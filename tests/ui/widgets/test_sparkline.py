"""Sparkline paths: scaled into their cell, broken at NaNs, centred when flat."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QColor, QPainterPath

from netexplorer.ui.widgets.sparkline import sparkline_path, sparkline_pixmap

# x runs from its left (1) to left + width; y from its bottom() (15) up by its height.
RECT = QRect(1, 2, 58, 14)


def _runs(path: QPainterPath) -> list[list[tuple[float, float]]]:
    """The path's points, a list per connected run (a MoveTo starts one)."""
    runs: list[list[tuple[float, float]]] = []
    for i in range(path.elementCount()):
        element = path.elementAt(i)
        point = (round(element.x, 6), round(element.y, 6))
        if element.isMoveTo():
            runs.append([point])
        elif runs[-1][-1] != point:  # (a repeated point draws nothing)
            runs[-1].append(point)
    return runs


def test_the_line_spans_the_cell_from_its_lowest_to_its_highest_value(qapp):
    runs = _runs(sparkline_path(np.array([0.0, 2.0, 1.0]), RECT))
    assert runs == [[(1.0, 15.0), (30.0, 1.0), (59.0, 8.0)]]  # x 1..59, low at the bottom


def test_a_nan_breaks_the_line_and_too_little_history_draws_nothing(qapp):
    runs = _runs(sparkline_path(np.array([1.0, 3.0, np.nan, 2.0, 1.0]), RECT))
    assert [len(run) for run in runs] == [2, 2]
    assert runs[1][0][0] == 1 + 3 * 58 / 4  # the run after the gap starts at its sample
    assert sparkline_path(np.array([1.0, np.nan, np.nan]), RECT).isEmpty()
    assert sparkline_path(np.array([5.0]), RECT).isEmpty()


def test_a_flat_history_is_drawn_across_the_middle(qapp):
    runs = _runs(sparkline_path(np.full(4, 7.0), RECT))
    assert {y for _, y in runs[0]} == {15 - 0.5 * 14} and len(runs[0]) == 4


def test_the_picture_keeps_its_size_with_or_without_a_line(qapp):
    for values in (np.arange(30.0), np.array([np.nan])):
        pixmap = sparkline_pixmap(values, QSize(30, 18), QColor("black"), device_ratio=2.0)
        assert (pixmap.width(), pixmap.height(), pixmap.devicePixelRatio()) == (60, 36, 2.0)
