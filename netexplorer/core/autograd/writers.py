"""An AutogradGraph as DOT (for Graphviz, if a person has it) and as SVG (drawn
here from layout.py, so no Graphviz program is needed), plus the text the CLI
prints. Leaves are blue like torchviz draws parameters; the node backward()
starts from is green; each layer group is a cluster.
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.sax.saxutils import escape

from netexplorer.core.autograd.graph import AutogradGraph, GraphNode, describe_shape
from netexplorer.core.autograd.layout import LINE_HEIGHT, GraphLayout, layout, node_lines
from netexplorer.core.files import write_atomically

LEAF_FILL = "#dbeafe"
NODE_FILL = "#f3f4f6"
OUTPUT_FILL = "#dcfce7"
GROUP_FILL = "#fff7ed"
STROKE = "#4b5563"


def _fill(graph: AutogradGraph, node: GraphNode) -> str:
    if node.is_leaf:
        return LEAF_FILL
    return OUTPUT_FILL if not graph.users_of(node.key) else NODE_FILL


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(graph: AutogradGraph) -> str:
    """Graphviz source: `dot -Tpng graph.dot -o graph.png` draws it."""
    lines = [f'digraph "{_dot_text(graph.title or "autograd")}" {{',
             "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", '
             'fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9, color="#6b7280"];']

    def node_line(node: GraphNode, indent: str) -> str:
        label = "\\n".join(_dot_text(t) for t in node_lines(node))
        return f'{indent}{node.key} [label="{label}", fillcolor="{_fill(graph, node)}"];'

    grouped = set()
    for i, group in enumerate(graph.groups):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f'    label="{_dot_text(group.name)}"; style="rounded,filled"; '
                     f'fillcolor="{GROUP_FILL}"; color="#fdba74";')
        for key in group.nodes:
            lines.append(node_line(graph.node(key), "    "))
            grouped.add(key)
        lines.append("  }")
    for node in graph.nodes:
        if node.key not in grouped:
            lines.append(node_line(node, "  "))
    for edge in graph.edges:
        lines.append(f'  {edge.source} -> {edge.target} '
                     f'[label="{_dot_text(describe_shape(edge.shape))}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(graph: AutogradGraph, drawn: GraphLayout | None = None) -> str:
    """A standalone SVG picture of the graph, laid out by layout.py."""
    drawn = drawn or layout(graph)
    margin = 16.0
    width, height = drawn.width + 2 * margin, drawn.height + 2 * margin
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
           f'height="{height:.0f}" viewBox="{-margin:.0f} {-margin:.0f} {width:.0f} '
           f'{height:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="11">',
           "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
           "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">"
           f"<path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"{STROKE}\"/></marker></defs>",
           f'<rect x="{-margin}" y="{-margin}" width="{width:.0f}" height="{height:.0f}" '
           f'fill="white"/>']
    if graph.title:
        out.append(f"<title>{escape(graph.title)}</title>")
    for name, box in drawn.group_boxes.items():
        out.append(f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
                   f'height="{box.height:.1f}" rx="8" fill="{GROUP_FILL}" stroke="#fdba74"/>')
        out.append(f'<text x="{box.x + 8:.1f}" y="{box.y + 13:.1f}" font-weight="bold" '
                   f'fill="#9a3412">{escape(name)}</text>')
    for edge in graph.edges:
        a, b = drawn.boxes[edge.source], drawn.boxes[edge.target]
        x0, y0, x1, y1 = a.centre_x, a.bottom, b.centre_x, b.y
        middle = (y0 + y1) / 2
        out.append(f'<path d="M {x0:.1f} {y0:.1f} C {x0:.1f} {middle:.1f} {x1:.1f} '
                   f'{middle:.1f} {x1:.1f} {y1:.1f}" fill="none" stroke="{STROKE}" '
                   f'stroke-width="1.2" marker-end="url(#arrow)"/>')
        out.append(f'<text x="{(x0 + x1) / 2 + 4:.1f}" y="{middle:.1f}" font-size="9" '
                   f'fill="#6b7280">{escape(describe_shape(edge.shape))}</text>')
    for node in graph.nodes:
        box = drawn.boxes[node.key]
        out.append(f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
                   f'height="{box.height:.1f}" rx="5" fill="{_fill(graph, node)}" '
                   f'stroke="{STROKE}"/>')
        for i, line in enumerate(node_lines(node)):
            weight = ' font-weight="bold"' if i == 0 else ""
            y = box.y + 5 + LINE_HEIGHT * (i + 0.75)
            out.append(f'<text x="{box.centre_x:.1f}" y="{y:.1f}" text-anchor="middle"'
                       f'{weight}>{escape(line)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def to_text(graph: AutogradGraph) -> str:
    """The graph's nodes grouped by layer, one line each, for the CLI."""
    lines: list[str] = []
    grouped = set()

    def node_text(node: GraphNode) -> str:
        inputs = ", ".join(graph.node(k).label for k in graph.inputs_of(node.key))
        grad = f"  grad ‖·‖ {node.grad_norm:.4g}" if node.grad_norm is not None else ""
        made_of = f"  ← {inputs}" if inputs else ""
        return f"  {node.label:<28} {describe_shape(node.shape):>14}{made_of}{grad}"

    for group in graph.groups:
        where = f" (layer {group.layer_index + 1})" if group.layer_index is not None else ""
        lines.append(f"{group.name}{where}")
        for key in group.nodes:
            lines.append(node_text(graph.node(key)))
            grouped.add(key)
    rest = [n for n in graph.nodes if n.key not in grouped]
    if rest and graph.groups:
        lines.append("(outside any layer)")
    lines.extend(node_text(n) for n in rest)
    leaves = sum(n.is_leaf for n in graph.nodes)
    lines.append(f"{len(graph.nodes)} nodes ({leaves} leaves), {len(graph.edges)} edges")
    return "\n".join(lines) + "\n"


def write_graph(path: str | os.PathLike, graph: AutogradGraph, kind: str) -> Path:
    """Write `graph` to `path` as `kind` ("dot" or "svg"), atomically, so a failed
    write leaves no half file. OSError propagates for the caller to word."""
    writers = {"dot": to_dot, "svg": to_svg}
    if kind not in writers:
        raise ValueError(f"a graph is written as dot or svg, not {kind!r}")
    text = writers[kind](graph)
    data = text.encode("utf-8")
    return write_atomically(path, lambda handle: handle.write(data))
