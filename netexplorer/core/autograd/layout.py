"""A layered drawing of an AutogradGraph, without Graphviz: where each box goes.

Data flows down: leaves and inputs at the top, the tensor backward() starts
from at the bottom. Each node's row is its longest distance from the graph's
end (so a leaf sits right above the operation that uses it); within a row,
nodes are ordered by the mean position of their neighbours, a few sweeps up
and down (the barycentre heuristic of Sugiyama-style layouts), which removes
most crossings in graphs of this size. A graph traced through a model is laid
out one layer group after another, each group in its own band of rows, so a
group's box never overlaps another's.

Box sizes are estimated from the text (CHARACTER_WIDTH per character), so the
Qt view and the SVG writer draw the same picture.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from netexplorer.core.autograd.graph import AutogradGraph, GraphNode, describe_shape

CHARACTER_WIDTH = 7.0
LINE_HEIGHT = 15.0
BOX_PADDING = 10.0
COLUMN_GAP = 28.0
ROW_GAP = 42.0
GROUP_PADDING = 12.0
GROUP_TITLE = 18.0
_SWEEPS = 4


def node_lines(node: GraphNode) -> list[str]:
    """The lines of text a node's box shows: name or operation, shape, gradient."""
    lines = [node.label]
    if node.names and node.kind != "leaf":
        lines[0] = f"{node.label} → {', '.join(node.names)}"
    lines.append(describe_shape(node.shape))
    if node.grad_norm is not None:
        lines.append(f"{'grad' if node.is_leaf else 'grad in'} ‖·‖ {node.grad_norm:.4g}")
    return lines


@dataclass(frozen=True)
class Box:
    x: float  # left
    y: float  # top
    width: float
    height: float

    @property
    def centre_x(self) -> float:
        return self.x + self.width / 2

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass(frozen=True)
class GraphLayout:
    """Boxes for every node and group, in one coordinate system from (0, 0)."""

    boxes: dict[str, Box]
    group_boxes: dict[str, Box]
    width: float
    height: float


def _size(node: GraphNode) -> tuple[float, float]:
    lines = node_lines(node)
    width = max(len(line) for line in lines) * CHARACTER_WIDTH + 2 * BOX_PADDING
    return max(width, 60.0), len(lines) * LINE_HEIGHT + BOX_PADDING


def _rows(graph: AutogradGraph, keys: Sequence[str]) -> list[list[str]]:
    """`keys` in rows, top first: a node's row counts its longest path (within `keys`)
    to a node nothing in `keys` uses."""
    inside = set(keys)
    users = {k: [u for u in graph.users_of(k) if u in inside] for k in keys}
    depth: dict[str, int] = {}

    def depth_of(key: str, trail: frozenset[str] = frozenset()) -> int:
        if key not in depth:
            later = [u for u in users[key] if u not in trail]
            depth[key] = 1 + max((depth_of(u, trail | {key}) for u in later), default=-1)
        return depth[key]

    for key in keys:
        depth_of(key)
    height = max(depth.values(), default=-1) + 1
    rows: list[list[str]] = [[] for _ in range(height)]
    for key in keys:  # traversal order first: a stable start for the sweeps
        rows[height - 1 - depth[key]].append(key)
    return rows


def _order(graph: AutogradGraph, rows: list[list[str]]) -> list[list[str]]:
    position = {k: i for row in rows for i, k in enumerate(row)}

    def mean(keys: Iterable[str], fallback: float) -> float:
        places = [position[k] for k in keys if k in position]
        return sum(places) / len(places) if places else fallback

    for sweep in range(_SWEEPS):
        downward = sweep % 2 == 0
        order = range(1, len(rows)) if downward else range(len(rows) - 2, -1, -1)
        for r in order:
            neighbours = graph.inputs_of if downward else graph.users_of
            rows[r].sort(key=lambda k: mean(neighbours(k), position[k]))
            position.update({k: i for i, k in enumerate(rows[r])})
    return rows


def layout(graph: AutogradGraph) -> GraphLayout:
    """Where every node of `graph` (and every group) is drawn."""
    keys = [n.key for n in graph.nodes]
    bands: list[tuple[str, list[str]]]
    if graph.groups:
        grouped = {k for g in graph.groups for k in g.nodes}
        bands = [(g.name, list(g.nodes)) for g in graph.groups]
        rest = [k for k in keys if k not in grouped]
        if rest:
            bands.append(("", rest))
    else:
        bands = [("", keys)]
    sizes = {n.key: _size(n) for n in graph.nodes}
    rows_by_band = [(name, _order(graph, _rows(graph, band))) for name, band in bands]
    # Every row is centred on the widest one.
    widths = [sum(sizes[k][0] for k in row) + COLUMN_GAP * (len(row) - 1)
              for _, rows in rows_by_band for row in rows]
    inset = GROUP_PADDING if graph.groups else 0.0
    total_width = max(widths, default=0.0) + 2 * inset
    boxes: dict[str, Box] = {}
    group_boxes: dict[str, Box] = {}
    y = 0.0
    for name, rows in rows_by_band:
        top = y
        if name:
            y += GROUP_TITLE
        for row in rows:
            row_width = sum(sizes[k][0] for k in row) + COLUMN_GAP * (len(row) - 1)
            x = (total_width - row_width) / 2
            row_height = max(sizes[k][1] for k in row)
            for key in row:
                w, h = sizes[key]
                boxes[key] = Box(x, y + (row_height - h) / 2, w, h)
                x += w + COLUMN_GAP
            y += row_height + ROW_GAP
        if name:
            members = [boxes[k] for row in rows for k in row]
            left = min(b.x for b in members) - GROUP_PADDING
            right = max(b.x + b.width for b in members) + GROUP_PADDING
            group_boxes[name] = Box(left, top, right - left, y - ROW_GAP / 2 - top)
            y += ROW_GAP / 4
    height = max((b.bottom for b in boxes.values()), default=0.0)
    height = max([height] + [b.bottom for b in group_boxes.values()])
    return GraphLayout(boxes, group_boxes, total_width, height)
