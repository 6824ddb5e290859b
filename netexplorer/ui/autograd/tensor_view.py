"""Every tensor the console holds, one card each: its name, its facts as chips
(shape, dtype, device, requires_grad, is_leaf, grad_fn, the version counter
_version), its values as a grid (and its .grad beside them), and what the last
statement did to it — changed in place, or changed through memory it shares
with another name (the numpy bridge). Cards of changed tensors are outlined.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from netexplorer.core.autograd.snapshot import TensorRecord, ValuesView
from netexplorer.ui.autograd.value_grid import ValueGrid
from netexplorer.ui.widgets.accessibility import hint_label, named

_INTEGRAL = ("int", "uint", "bool", "long")


def record_facts(record: TensorRecord) -> list[tuple[str, str]]:
    """(chip text, tooltip) pairs for a tensor's facts, in the tutorial's words."""
    shape = "×".join(map(str, record.shape)) if record.shape else "scalar"
    facts = [(shape, f"shape {tuple(record.shape)}, {record.numel:,} elements"),
             (record.dtype, "dtype: the type of every element")]
    if record.kind == "array":
        facts.append(("numpy array", "a numpy ndarray, on the CPU"))
        return facts
    facts.append((record.device, "device: where the values live"))
    if record.requires_grad:
        facts.append(("requires_grad", "autograd records every operation on it"))
    facts.append(("leaf" if record.is_leaf else "not a leaf",
                  "is_leaf: made directly, not by a recorded operation (a leaf that "
                  "requires grad gets .grad)" if record.is_leaf else
                  "is_leaf is False: made by a recorded operation; its grad_fn knows which"))
    if record.grad_fn:
        facts.append((f"grad_fn {record.grad_fn}", "the autograd node that made this tensor"))
    facts.append((f"version {record.version}",
                  "_version: goes up with every in-place change; autograd compares it to "
                  "notice a saved tensor that changed"))
    return facts


def _chip(text: str, tooltip: str, accent: bool = False) -> QLabel:
    label = QLabel(text)
    label.setObjectName("tensorChipAccent" if accent else "tensorChip")
    label.setToolTip(tooltip)
    label.setStyleSheet("QLabel { border: 1px solid palette(mid); border-radius: 8px; "
                        "padding: 1px 7px; }" if not accent else
                        "QLabel { border: 1px solid #7c3aed; color: #6d28d9; "
                        "border-radius: 8px; padding: 1px 7px; font-weight: bold; }")
    return label


def _integral(dtype: str) -> bool:
    return dtype.startswith(_INTEGRAL)


class TensorCard(QFrame):
    """One tensor (see the module doc)."""

    def __init__(self, record: TensorRecord, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, f"tensorCard_{record.name}", f"tensor {record.name}")
        self.record = record
        self.setFrameShape(QFrame.Shape.StyledPanel)
        changed = bool(record.changes)
        self.setStyleSheet("TensorCard { border: 2px solid #7c3aed; border-radius: 6px; }"
                           if changed else
                           "TensorCard { border: 1px solid palette(mid); border-radius: 6px; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(6)
        header = QHBoxLayout()
        name = QLabel(record.name)
        font = name.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        name.setFont(font)
        header.addWidget(name)
        for text, tip in record_facts(record):
            header.addWidget(_chip(text, tip))
        if record.shares_memory_with:
            header.addWidget(_chip(f"shares memory with {', '.join(record.shares_memory_with)}",
                                   "the same bytes: a change through one name shows in the "
                                   "other", accent=True))
        header.addStretch(1)
        layout.addLayout(header)
        for note in record.changes:
            layout.addWidget(_chip(f"✎ {note}", "what the last statement did", accent=True),
                             0, Qt.AlignmentFlag.AlignLeft)
        grids = QHBoxLayout()
        grids.setSpacing(18)
        if record.values is not None:
            grids.addLayout(self._grid("values", record.values, _integral(record.dtype)))
        elif record.device == "meta":
            grids.addWidget(hint_label("(a meta tensor has a shape and no values)"))
        if record.grad is not None:
            grids.addLayout(self._grid(".grad", record.grad, False))
        elif record.requires_grad and record.is_leaf:
            grids.addWidget(hint_label(".grad is None until backward() reaches this leaf"))
        grids.addStretch(1)
        layout.addLayout(grids)

    def _grid(self, title: str, view: ValuesView, integral: bool) -> QVBoxLayout:
        column = QVBoxLayout()
        column.setSpacing(2)
        column.addWidget(hint_label(title))
        grid = ValueGrid(view, integral)
        grid.setObjectName(f"{self.objectName()}_{title.strip('.')}")
        column.addWidget(grid)
        if view.note:
            column.addWidget(hint_label(view.note))
        column.addStretch(1)
        return column


class TensorListView(QScrollArea):
    """The cards of every tensor, newest change first among equals; a sentence when
    the console holds none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "tensorList", "Tensors")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.cards: list[TensorCard] = []
        self.show_records(())

    def show_records(self, records: Sequence[TensorRecord]) -> None:
        body = QWidget()
        body.setBackgroundRole(QPalette.ColorRole.Base)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(8)
        self.cards = [TensorCard(r) for r in records]
        for card in self.cards:
            card.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
            layout.addWidget(card)
        if not self.cards:
            hint = hint_label("No tensors yet. Run a lesson's first step, or type a "
                              "statement such as x = torch.rand(5, 3).")
            hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
            layout.addWidget(hint)
        layout.addStretch(1)
        self.setWidget(body)

    def card(self, name: str) -> TensorCard | None:
        return next((c for c in self.cards if c.record.name == name), None)
