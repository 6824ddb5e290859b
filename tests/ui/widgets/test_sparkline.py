"""Sparklines: scaled into their cell, broken at NaNs, centred when flat, and drawn
all at once into pictures of one size, each in its own colour."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QColor, QImage

from netexplorer.ui.widgets.sparkline import sparkline_coordinates, sparkline_pixmaps

# x runs from its left (1) to left + width; y from its bottom() (15) up by its height.
RECT = QRect(1, 2, 58, 14)


def _runs(values: list[float]) -> list[list[tuple[float, float]]]:
    """One history's points, a list per connected run (NaN breaks one)."""
    x, y = sparkline_coordinates(np.array([values]), RECT)
    runs: list[list[tuple[float, float]]] = [[]]
    for px, py in zip(x, y[0]):
        if np.isnan(py):
            runs.append([])
        else:
            runs[-1].append((round(float(px), 6), round(float(py), 6)))
    return [run for run in runs if run]


def test_the_line_spans_the_cell_from_its_lowest_to_its_highest_value(qapp):
    assert _runs([0.0, 2.0, 1.0]) == [[(1.0, 15.0), (30.0, 1.0), (59.0, 8.0)]]


def test_a_nan_breaks_the_line_and_too_little_history_draws_nothing(qapp):
    runs = _runs([1.0, 3.0, np.nan, 2.0, 1.0])
    assert [len(run) for run in runs] == [2, 2]
    assert runs[1][0][0] == 1 + 3 * 58 / 4  # the run after the gap starts at its sample
    assert _runs([1.0, np.nan, np.nan]) == []
    assert _runs([5.0]) == []


def test_a_flat_history_is_drawn_across_the_middle(qapp):
    runs = _runs([7.0] * 4)
    assert {y for _, y in runs[0]} == {15 - 0.5 * 14} and len(runs[0]) == 4


def test_each_history_is_scaled_to_its_own_range(qapp):
    _, y = sparkline_coordinates(np.array([[0.0, 1.0], [10.0, 1000.0]]), RECT)
    assert y.tolist() == [[15.0, 1.0], [15.0, 1.0]]


def test_the_pictures_keep_their_size_with_or_without_a_line(qapp):
    lines = np.array([np.arange(30.0), np.full(30, np.nan)])
    pixmaps = sparkline_pixmaps(lines, [QColor("black")] * 2, QSize(30, 18), device_ratio=2.0)
    assert [(p.width(), p.height(), p.devicePixelRatio()) for p in pixmaps] == \
        [(60, 36, 2.0)] * 2


def _inked(image: QImage) -> set[tuple[int, int, int]]:
    """The colours of the picture's visible pixels (alpha above half)."""
    image = image.convertToFormat(QImage.Format.Format_ARGB32)
    colours = set()
    for y in range(image.height()):
        for x in range(image.width()):
            pixel = image.pixelColor(x, y)
            if pixel.alpha() > 128:
                colours.add((pixel.red(), pixel.green(), pixel.blue()))
    return colours


def test_each_picture_shows_its_own_line_in_its_own_colour(qapp):
    """Drawn on one picture and cut apart: no line strays into its neighbour's
    picture, a history with a gap is still drawn, and one without a line is blank."""
    rising, falling = np.linspace(0, 1, 20), np.linspace(1, 0, 20)
    gapped = rising.copy()
    gapped[:5] = np.nan
    gapped[10] = np.nan
    lines = np.array([rising, falling, np.full(20, np.nan), gapped])
    colours = [QColor("red"), QColor("blue"), QColor("red"), QColor("red")]
    pixmaps = sparkline_pixmaps(lines, colours, QSize(30, 16))
    images = [p.toImage() for p in pixmaps]
    assert _inked(images[0]) and all(r > 200 and b < 60 for r, _, b in _inked(images[0]))
    assert _inked(images[1]) and all(b > 200 and r < 60 for r, _, b in _inked(images[1]))
    assert _inked(images[2]) == set()
    assert _inked(images[3])
    # The rising line: low on the left of its own picture, high on its right.
    first = images[0].convertToFormat(QImage.Format.Format_ARGB32)
    left = [y for y in range(16) if first.pixelColor(1, y).alpha() > 128]
    right = [y for y in range(16) if first.pixelColor(28, y).alpha() > 128]
    assert left and right and min(left) > max(right)
