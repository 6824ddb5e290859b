"""The autograd graph drawn with Qt: the same layered layout the SVG export uses
(core/autograd/layout.py), no Graphviz program needed.

Leaves are blue (a parameter, or a tensor made with requires_grad=True), grad_fn
nodes grey, the node backward() starts from green; each edge is labelled with
the shape that flows along it; after backward() each box also says the size of
the gradient that reached it (hover for its values). Layer groups are tinted
boxes; clicking one emits groupClicked(name). Ctrl + wheel zooms; the view fits
the graph when it changes.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

from netexplorer.core.autograd.graph import AutogradGraph, GraphNode, describe_shape
from netexplorer.core.autograd.layout import LINE_HEIGHT, Box, GraphLayout, layout, node_lines
from netexplorer.core.autograd.writers import GROUP_FILL, LEAF_FILL, NODE_FILL, OUTPUT_FILL
from netexplorer.ui.widgets.accessibility import named

_STROKE = QColor("#4b5563")
_EDGE = QColor("#6b7280")
_GROUP_STROKE = QColor("#fdba74")
_SELECTED = QColor("#ea580c")
_MIN_FIT = 0.8  # a fitted graph is never drawn smaller than this


def _values_tip(node: GraphNode) -> str:
    if node.grad is None:
        return ""
    values = node.grad.values
    shown = np.array2string(values[:4, :6], precision=4, suppress_small=True)
    what = ".grad" if node.is_leaf else "gradient into its output"
    more = "" if node.grad.complete else f"\n({node.grad.rows}×{node.grad.columns}, part shown)"
    return f"\n{what} (‖·‖ {node.grad_norm:.4g}):\n{shown}{more}"


def node_tooltip(node: GraphNode) -> str:
    """What hovering a node says."""
    if node.is_leaf:
        head = (f"{node.label}: a leaf tensor of shape {describe_shape(node.shape)}; "
                f"backward() adds its gradient into {node.label}.grad (AccumulateGrad)")
    else:
        bound = f", bound to {', '.join(node.names)}" if node.names else ""
        head = (f"{node.op}: the grad_fn of a {describe_shape(node.shape)} tensor{bound}; "
                f"its next_functions lead to the nodes drawn above it")
    return head + _values_tip(node)


class _GroupItem(QGraphicsRectItem):
    def __init__(self, name: str, box: Box) -> None:
        super().__init__(QRectF(box.x, box.y, box.width, box.height))
        self.name = name
        self.setBrush(QBrush(QColor(GROUP_FILL)))
        self.setPen(QPen(_GROUP_STROKE, 1.2))
        self.setZValue(-10)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"{name}: click to select this layer in the model panel")
        self.setAcceptHoverEvents(True)

    def set_selected(self, selected: bool) -> None:
        self.setPen(QPen(_SELECTED if selected else _GROUP_STROKE, 2.5 if selected else 1.2))


class GraphView(QGraphicsView):
    """See the module doc. show_graph() draws a graph; `placeholder` is said when
    the graph is empty."""

    groupClicked = Signal(str)

    def __init__(self, object_name: str, accessible_name: str, placeholder: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, object_name, accessible_name)
        self._placeholder = placeholder
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setBackgroundBrush(QBrush(QColor("white")))
        self.graph = AutogradGraph()
        self.drawn: GraphLayout | None = None
        self.group_items: dict[str, _GroupItem] = {}
        self.node_items: dict[str, QGraphicsRectItem] = {}
        self._font = QFont(self.font())
        self._font.setPointSizeF(8.5)
        self._zoom = 1.0
        self.show_graph(AutogradGraph())

    def show_graph(self, graph: AutogradGraph) -> None:
        scene = self.scene()
        scene.clear()
        self.graph = graph
        self.group_items, self.node_items = {}, {}
        if graph.empty:
            self.drawn = None
            text = scene.addSimpleText(self._placeholder)
            text.setBrush(QBrush(QColor("#6b7280")))
            scene.setSceneRect(text.boundingRect().adjusted(-20, -20, 20, 20))
            self.resetTransform()
            return
        self.drawn = layout(graph)
        for name, box in self.drawn.group_boxes.items():
            item = _GroupItem(name, box)
            scene.addItem(item)
            title = QGraphicsSimpleTextItem(name, item)
            bold = QFont(self._font)
            bold.setBold(True)
            title.setFont(bold)
            title.setBrush(QBrush(QColor("#9a3412")))
            title.setPos(box.x + 8, box.y + 2)
            self.group_items[name] = item
        self._draw_edges()
        for node in graph.nodes:
            self._draw_node(node, self.drawn.boxes[node.key])
        margin = 24
        scene.setSceneRect(QRectF(-margin, -margin, self.drawn.width + 2 * margin,
                                  self.drawn.height + 2 * margin))
        self.fit()

    def _draw_node(self, node: GraphNode, box: Box) -> None:
        scene = self.scene()
        if node.is_leaf:
            fill = LEAF_FILL
        else:
            fill = OUTPUT_FILL if not self.graph.users_of(node.key) else NODE_FILL
        path = QPainterPath()
        path.addRoundedRect(QRectF(box.x, box.y, box.width, box.height), 5, 5)
        item = QGraphicsPathItem(path)
        item.setBrush(QBrush(QColor(fill)))
        item.setPen(QPen(_STROKE, 1.0))
        item.setToolTip(node_tooltip(node))
        scene.addItem(item)
        for i, line in enumerate(node_lines(node)):
            text = QGraphicsSimpleTextItem(line, item)
            font = QFont(self._font)
            font.setBold(i == 0)
            text.setFont(font)
            text.setBrush(QBrush(QColor("#111827" if i == 0 else "#374151")))
            width = text.boundingRect().width()
            text.setPos(box.centre_x - width / 2, box.y + 5 + LINE_HEIGHT * i)
        self.node_items[node.key] = item  # type: ignore[assignment]

    def _draw_edges(self) -> None:
        assert self.drawn is not None
        scene = self.scene()
        pen = QPen(_EDGE, 1.2)
        counted: dict[tuple[str, str], int] = {}
        for edge in self.graph.edges:
            counted[(edge.source, edge.target)] = counted.get((edge.source, edge.target), 0) + 1
        drawn: set[tuple[str, str]] = set()
        for edge in self.graph.edges:
            pair = (edge.source, edge.target)
            if pair in drawn:
                continue  # y * y: one line, labelled ×2
            drawn.add(pair)
            a, b = self.drawn.boxes[edge.source], self.drawn.boxes[edge.target]
            start, end = QPointF(a.centre_x, a.bottom), QPointF(b.centre_x, b.y)
            middle = (start.y() + end.y()) / 2
            path = QPainterPath(start)
            path.cubicTo(QPointF(start.x(), middle), QPointF(end.x(), middle), end)
            line = scene.addPath(path, pen)
            line.setZValue(-5)
            arrow = QPolygonF([end, end + QPointF(-4, -8), end + QPointF(4, -8)])
            scene.addPolygon(arrow, pen, QBrush(_EDGE))
            label = describe_shape(edge.shape)
            if counted[pair] > 1:
                label += f"  ×{counted[pair]}"
            text = scene.addSimpleText(label, self._font)
            text.setBrush(QBrush(_EDGE))
            text.setPos((start.x() + end.x()) / 2 + 4, middle - LINE_HEIGHT / 2)
            text.setZValue(-4)

    # ------------------------------------------------------------------ selection and zoom

    def select_group(self, name: str) -> None:
        for group, item in self.group_items.items():
            item.set_selected(group == name)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        for item in self.items(event.position().toPoint()):
            group = _group_of(item)
            if group is not None:
                self.select_group(group.name)
                self.groupClicked.emit(group.name)
                break
        super().mousePressEvent(event)

    def fit(self) -> None:
        """Fit the whole graph, never enlarging a small one beyond its own size."""
        self.resetTransform()
        rect = self.sceneRect()
        if rect.width() <= 0 or rect.height() <= 0:
            return
        view = self.viewport().rect()
        scale = min(view.width() / rect.width(), view.height() / rect.height(), 1.0)
        readable = scale < _MIN_FIT
        scale = max(scale, _MIN_FIT)  # readable; the rest is scrolled to
        self._zoom = scale
        self.scale(scale, scale)
        self.centerOn(rect.center().x(), rect.top() + view.height() / scale / 2 if readable
                      else rect.center().y())

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)  # type: ignore[arg-type]
        if not self.graph.empty:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            factor = 1.15 if event.angleDelta().y() > 0 else 1 / 1.15
            self._zoom *= factor
            self.scale(factor, factor)
            return
        super().wheelEvent(event)


def _group_of(item: QGraphicsItem) -> _GroupItem | None:
    while item is not None:
        if isinstance(item, _GroupItem):
            return item
        item = item.parentItem()
    return None
