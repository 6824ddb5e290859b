"""Columns as wide as their texts, measured only when a text outgrows its column.

Qt's ResizeToContents mode measures every row of a column whenever any cell of it
changes. For views that change while a run trains (the Inspector's table, the
runs list with hundreds of stored runs) that measuring was most of each redraw,
on the GUI thread, holding the GIL the training thread needs. A ColumnFitter
measures a column when its rows are replaced (fit_all) and when a text is wider
than any it has fitted; columns never narrow in between, so numbers that shrink
and grow do not make them jitter.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import QTableView, QTreeView


class ColumnFitter:
    """Fits the columns of `view` to their texts (Qt measures the cells, their
    icons included)."""

    def __init__(self, view: QTableView | QTreeView) -> None:
        self._view = view
        self._fitted: dict[int, int] = {}  # column → the widest text it was fitted to

    def fit_all(self, columns: Iterable[int]) -> None:
        """Measure these columns now (their rows were replaced)."""
        self._fitted.clear()
        for column in columns:
            self._view.resizeColumnToContents(column)

    def widen(self, column: int, texts: Iterable[str]) -> None:
        """Measure `column` again if one of `texts` is wider than any fitted so far."""
        metrics = self._view.fontMetrics()
        widest = max((metrics.horizontalAdvance(text) for text in texts), default=0)
        if widest > self._fitted.get(column, -1):  # rare once a run has settled
            self._fitted[column] = widest
            self._view.resizeColumnToContents(column)
