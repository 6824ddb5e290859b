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


def test_a_repaint_of_the_table_runs_no_python(qtbot):
    """Every cell's roles live in Qt's items, set at a refresh: a repaint (twice a
    second while a run trains) reads them in C++, holding no GIL the training thread
    needs. Answered by the Python model, it was ~9 ms of a ~19 ms repaint."""
    import sys

    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QPixmap

    history = LayerHistory()
    history.add(report(("fc1", "relu1", "fc2")))
    history.add(report(("fc1", "relu1", "fc2"), steps=(3, 4), value=2.0))
    table = LayerTable(history)
    qtbot.addWidget(table)
    table.resize(900, 200)
    table.show()
    table.refresh()
    table.select_layers([0, 2])
    table.viewport().repaint()
    called: list[str] = []

    def profile(frame, event, _arg):
        if event == "call":
            called.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")

    sys.setprofile(profile)
    try:
        table.viewport().repaint()
    finally:
        sys.setprofile(None)
    assert [c for c in called if "netexplorer" in c or "PySide6" in c] == []
    model = table.model()
    assert model.index(1, 2).data() == "2.00"  # the latest sample
    assert isinstance(model.index(1, 2).data(Qt.ItemDataRole.DecorationRole), QPixmap)
    assert "fc1" in model.index(0, 2).data(Qt.ItemDataRole.ToolTipRole)
    # The plotted layers' names carry their curve's colour; the others none.
    assert isinstance(model.index(0, 0).data(Qt.ItemDataRole.DecorationRole), QColor)
    assert model.index(1, 0).data(Qt.ItemDataRole.DecorationRole) is None
    table.select_layers([1])
    assert model.index(0, 0).data(Qt.ItemDataRole.DecorationRole) is None
    assert isinstance(model.index(1, 0).data(Qt.ItemDataRole.DecorationRole), QColor)
    # Refreshed again, every cell stays read-only (an item keeps its flags among its data).
    history.add(report(("fc1", "relu1", "fc2"), steps=(5,), value=3.0))
    table.refresh()
    assert model.index(1, 2).data() == "3.00"
    read_only = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
    assert {model.flags(model.index(r, c)) for r in range(3) for c in range(10)} == {read_only}
