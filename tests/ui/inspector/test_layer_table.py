"""The inspector's table between redraws: its model shows what it read at the last
refresh, whatever the history has become since (a new run resets it at once; a
view may paint before the next redraw). An exception from data() is not a Python
error there: PySide 6.11 segfaults handling it (Shiboken's PepException_GetArgs)."""

from __future__ import annotations

import numpy as np

from netexplorer.core.inspection import STATS, LayerInfo, ProbeReport
from netexplorer.ui.inspector.layer_history import LayerHistory
from netexplorer.ui.inspector.layer_table import SPARKLINE_ROLE, LayerTable
from netexplorer.ui.widgets.sparkline import SPARKLINE_COLOUR_ROLE

ROLES = (0, 1, 3, 7, 8, 9, SPARKLINE_ROLE, SPARKLINE_COLOUR_ROLE)  # display … tooltip, foreground


def report(layers: tuple[str, ...], steps=(0, 1, 2)) -> ProbeReport:
    infos = tuple(LayerInfo(i, name, "linear", True, False, (1, 4), (1, 4))
                  for i, name in enumerate(layers))
    stats = np.ones((len(steps), len(STATS), len(layers)))
    return ProbeReport(infos, np.asarray(steps, dtype=np.int64), stats)


def every_cell(table: LayerTable) -> list[str]:
    """Every cell's data in every role the view asks for (none may raise), and the
    texts among them."""
    model = table.model()
    data = [model.data(model.index(row, column), role)
            for row in range(model.rowCount()) for column in range(model.columnCount())
            for role in ROLES]
    return [value for value in data if isinstance(value, str)]


def test_the_rows_show_the_last_refresh_until_the_next(qtbot):
    history = LayerHistory()
    table = LayerTable(history)
    qtbot.addWidget(table)
    table.resize(600, 200)
    history.add(report(("fc1", "relu1", "fc2")))
    table.stats_model.refresh()
    assert table.model().rowCount() == 3
    assert table.model().data(table.model().index(2, 0)) == "fc2"

    history.reset()  # a new run starts; the clock has not redrawn yet
    cells = every_cell(table)
    assert "fc2" in cells  # still the last refresh's rows, and no exception
    table.grab()  # a paint of those rows (segfaulted before)

    history.add(report(("conv1",)))  # the new run's first report, another model
    cells = every_cell(table)
    assert "conv1" not in cells and "fc2" in cells
    table.grab()

    table.stats_model.refresh()
    assert table.model().rowCount() == 1
    assert table.model().data(table.model().index(0, 0)) == "conv1"
    table.grab()
