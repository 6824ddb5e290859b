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


def report(layers: tuple[str, ...], steps=(0, 1, 2), value: float = 1.0) -> ProbeReport:
    infos = tuple(LayerInfo(i, name, "linear", True, False, (1, 4), (1, 4))
                  for i, name in enumerate(layers))
    stats = np.full((len(steps), len(STATS), len(layers)), value)
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


def test_a_second_run_of_the_same_shape_is_shown_not_the_first(qtbot):
    """The table redoes its cells only when the history moved; a new run of the same
    model ends with the same layers, sample count and last step as the one before."""
    history = LayerHistory()
    table = LayerTable(history)
    qtbot.addWidget(table)
    model = table.stats_model
    history.add(report(("fc1", "fc2"), value=1.0))
    table.refresh()
    first = model.data(model.index(0, 2))
    table.refresh()  # no news: nothing redone, the same cells
    assert model.data(model.index(0, 2)) == first
    history.reset()
    history.add(report(("fc1", "fc2"), value=7.0))
    table.refresh()
    assert model.data(model.index(0, 2)) != first
    assert model.data(model.index(0, 2)) == "7.00"


def test_sparklines_take_a_new_palettes_text_colour(qtbot):
    from PySide6.QtGui import QColor, QPalette

    history = LayerHistory()
    table = LayerTable(history)
    qtbot.addWidget(table)
    history.add(report(("fc1",)))
    table.refresh()
    before = table.stats_model.data(table.stats_model.index(0, 2), 1).toImage()
    palette = table.palette()
    palette.setColor(QPalette.ColorRole.Text, QColor("#ff0000"))
    table.setPalette(palette)
    qtbot.waitUntil(lambda: table.stats_model.data(table.stats_model.index(0, 2), 1)
                    .toImage() != before, timeout=2_000)


def same(a, b) -> bool:
    """Whether two role values are the same value (pictures by their cache key)."""
    from PySide6.QtGui import QPixmap

    if isinstance(a, QPixmap):
        return isinstance(b, QPixmap) and a.cacheKey() == b.cacheKey()
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b, equal_nan=True)
    return a == b


def test_a_paint_asks_each_cell_once_for_all_its_roles(qtbot):
    """multiData answers as data() does, for every cell and role, and a paint goes
    through it: one call into Python per cell, not one per role. The picture is the
    one Qt paints asking data() role by role."""
    from PySide6.QtCore import QAbstractTableModel, QModelRoleData

    from netexplorer.ui.inspector.layer_table import LayerStatsModel

    calls = {"data": 0, "multiData": 0}

    class Counting(LayerStatsModel):
        def data(self, index, role=0):
            calls["data"] += 1
            return super().data(index, role)

        def multiData(self, index, roleDataSpan):
            calls["multiData"] += 1
            super().multiData(index, roleDataSpan)

    class RoleByRole(Counting):
        def multiData(self, index, roleDataSpan):  # Qt's own: data() for each role
            QAbstractTableModel.multiData(self, index, roleDataSpan)

    history = LayerHistory()
    history.add(report(("fc1", "relu1", "fc2")))
    history.add(report(("fc1", "relu1", "fc2"), steps=(3, 4), value=2.0))
    table = LayerTable(history)
    qtbot.addWidget(table)
    table.resize(900, 200)
    table.show()
    pictures = []
    for model_class in (Counting, RoleByRole):
        model = table.stats_model = model_class(history, table)
        table.setModel(model)
        table._style_sparklines()
        table.refresh()
        for row in range(model.rowCount()):
            for column in range(model.columnCount()):
                index = model.index(row, column)
                for role in ROLES:
                    asked = QModelRoleData(role)
                    model.multiData(index, asked)
                    assert same(asked.data(), model.data(index, role)), (row, column, role)
        calls.update(data=0, multiData=0)
        pictures.append(table.grab().toImage())
        cells = model.rowCount() * model.columnCount()
        if model_class is Counting:
            assert calls["multiData"] >= cells and calls["data"] == 0
        else:
            assert calls["data"] >= 5 * cells  # (the roles of each cell, one by one)
    assert pictures[0] == pictures[1]
