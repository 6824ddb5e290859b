"""The heatmap's numbers in its cells: each matrix shows its own, in a colour
legible on its cell, whether its labels are new or those of the last matrix."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from netexplorer.ui.widgets.heatmap import HeatmapView


def _labels(view: HeatmapView) -> list[tuple[str, float, float, str]]:
    shown = [item for item in view.plot.getPlotItem().items if isinstance(item, pg.TextItem)]
    assert sorted(map(id, shown)) == sorted(map(id, view._labels))  # none left behind
    return sorted((label.toPlainText(), label.pos().x(), label.pos().y(), label.color.name())
                  for label in shown)


def _show(view: HeatmapView, values: np.ndarray) -> None:
    view.show_matrix(values, row_labels=[str(r) for r in range(len(values))],
                     column_labels=[str(c) for c in range(values.shape[1])],
                     levels=(0.0, 9.0), annotations=values.astype(int).astype(str),
                     colormap="viridis")


def test_each_matrix_shows_its_own_numbers_and_reuses_the_last_labels(qtbot):
    view = HeatmapView("heat", "A heatmap")
    qtbot.addWidget(view)
    _show(view, np.array([[0.0, 9.0, 1.0], [2.0, 3.0, 4.0], [5.0, 6.0, 7.0]]))
    first = list(view._labels)
    assert len(first) == 9
    dark, light = "#f5f5f5", "#111111"  # viridis: dark at 0, yellow at 9
    assert ("0", 0.0, 0.5, dark) in _labels(view) and ("9", 1.0, 0.5, light) in _labels(view)

    _show(view, np.array([[9.0, 0.0], [0.0, 9.0]]))  # smaller: labels moved, the rest gone
    assert view._labels == first[:4]
    assert _labels(view) == sorted([("9", 0.0, 0.5, light), ("0", 1.0, 0.5, dark),
                                    ("0", 0.0, 1.5, dark), ("9", 1.0, 1.5, light)])

    _show(view, np.full((3, 3), 9.0))  # larger again: new labels for the new cells
    assert view._labels[:4] == first[:4] and len(view._labels) == 9
    assert {text for text, *_ in _labels(view)} == {"9"}

    view.clear("Nothing")
    assert _labels(view) == []
