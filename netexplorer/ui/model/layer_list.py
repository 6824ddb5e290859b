"""The layer stack as a list: one row per layer, the broken one marked."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QDropEvent, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from netexplorer.core.formatting import format_shape
from netexplorer.core.layers import LAYER_KINDS
from netexplorer.core.specs import ModelSpec, Summary
from netexplorer.ui.icons import category_icon, icon
from netexplorer.ui.widgets.accessibility import named

# The kind and output shape, drawn muted at the right of each row.
DETAIL_ROLE = Qt.ItemDataRole.UserRole + 1
# Translucent, so it reads on light and dark palettes alike.
ERROR_BACKGROUND = QColor(217, 48, 37, 48)


class _LayerDelegate(QStyledItemDelegate):
    """Draws the name (editable) and, right-aligned and muted, kind and shape."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        super().paint(painter, option, index)
        detail = index.data(DETAIL_ROLE)
        if not detail:
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget = opt.widget
        style = widget.style() if widget is not None else None
        if style is None:
            return
        text_rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, opt, widget)
        used = opt.fontMetrics.horizontalAdvance(opt.text) + 16
        area = text_rect.adjusted(used, 0, -6, 0)
        if area.width() < 24:
            return
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        role = (QPalette.ColorRole.HighlightedText if selected
                else QPalette.ColorRole.PlaceholderText)
        painter.save()
        painter.setPen(opt.palette.color(role))
        text = opt.fontMetrics.elidedText(str(detail), Qt.TextElideMode.ElideLeft, area.width())
        painter.drawText(area, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                         text)
        painter.restore()


class LayerListWidget(QListWidget):
    """The layer stack; drag rows to reorder, double-click (or F2) to rename.

    The list never reorders or renames itself: it reports what the person did
    (layerMoved, renameRequested) and the model panel turns that into an
    undoable edit, after which the list shows the new spec.
    """

    layerMoved = Signal(int, int)  # from index, to index (as ModelSpec.moved takes them)
    renameRequested = Signal(int, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "layerList", "Layers",
              "the model's layers in order; drag to reorder, double-click to rename")
        self.setItemDelegate(_LayerDelegate(self))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                             | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.setAlternatingRowColors(True)
        self.setUniformItemSizes(True)
        self.itemChanged.connect(self._on_item_changed)
        self._updating = False

    def show_layers(self, spec: ModelSpec, summary: Summary) -> None:
        """Update the rows in place (no clear(): an open editor or drag survives)."""
        self._updating = True
        try:
            while self.count() > len(spec.layers):
                self.takeItem(self.count() - 1)
            while self.count() < len(spec.layers):
                item = QListWidgetItem()
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsDragEnabled)
                self.addItem(item)
            error = summary.error
            for i, layer in enumerate(spec.layers):
                item = self.item(i)
                info = LAYER_KINDS.get(layer.kind)
                if item.text() != layer.name:
                    item.setText(layer.name)
                broken = error is not None and error.index == i
                if i < len(summary.rows):
                    detail = f"{layer.kind} · {format_shape(summary.rows[i].output_shape)}"
                    tip = f"{info.torch_name if info else layer.kind}: " \
                          f"{info.doc if info else ''}\nOutput: " \
                          f"{format_shape(summary.rows[i].output_shape)}"
                elif broken and error is not None:  # (broken implies it; said for mypy)
                    detail = f"{layer.kind} · error"
                    tip = f"{layer.name}: {error.message}"
                else:
                    detail = f"{layer.kind} · ?"
                    tip = (f"{layer.name}: shapes are not computed past the error above "
                           f"until it is fixed")
                item.setData(DETAIL_ROLE, detail)
                item.setToolTip(tip)
                item.setIcon(icon("error") if broken
                             else category_icon(info.category if info else ""))
                item.setBackground(ERROR_BACKGROUND if broken else QColor(0, 0, 0, 0))
                item.setData(Qt.ItemDataRole.AccessibleTextRole,
                             f"{layer.name}, {detail}" + (", has an error" if broken else ""))
        finally:
            self._updating = False

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if not self._updating:
            self.renameRequested.emit(self.row(item), item.text())

    def drop_target(self, event: QDropEvent) -> int:
        """The gap (0..count) a drop at the event's position lands in."""
        pos = event.position().toPoint()
        index = self.indexAt(pos)
        if not index.isValid():
            return self.count()
        rect = self.visualRect(index)
        return index.row() + (1 if pos.y() >= rect.center().y() else 0)

    def dropEvent(self, event: QDropEvent) -> None:
        source = self.currentRow()
        if event.source() not in (self, None) or source < 0:
            event.ignore()
            return
        gap = self.drop_target(event)
        destination = gap - 1 if gap > source else gap
        # The drop is reported, not performed: the rows follow the new spec, and
        # an ignored drop action keeps startDrag from removing the dragged row.
        event.setDropAction(Qt.DropAction.IgnoreAction)
        event.accept()
        if destination != source:
            self.layerMoved.emit(source, destination)
