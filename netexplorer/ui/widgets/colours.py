"""The colours runs and layers are drawn in, as QColors (no pyqtgraph: the runs
list and the inspector's table use them too)."""

from __future__ import annotations

from PySide6.QtGui import QColor

# Qualitative colours that stay distinguishable on light and dark backgrounds
# (Tableau 10); runs and layers cycle through them.
SERIES_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
                  "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


def series_colour(index: int) -> QColor:
    return QColor(SERIES_COLOURS[index % len(SERIES_COLOURS)])


def faint(colour: QColor, alpha: int = 70) -> QColor:
    """The same hue, see-through: raw per-batch values under their running mean."""
    c = QColor(colour)
    c.setAlpha(alpha)
    return c
