"""The model's graph: the nodes a traversal of grad_fn.next_functions finds, each
under the layer that made it; its layout, DOT and SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

import pytest
import torch

from netexplorer.core.autograd.graph import trace_graph, walk
from netexplorer.core.autograd.layout import layout
from netexplorer.core.autograd.model_graph import trace_model
from netexplorer.core.autograd.writers import to_dot, to_svg, to_text, write_graph
from netexplorer.core.losses import batch_loss
from netexplorer.core.presets import get_preset
from netexplorer.core.specs import build_model

# What each LeNet layer adds to the graph (the parameters as their leaves' names).
LENET_GROUPS = {
    "conv1": ["ConvolutionBackward0", "conv1.weight", "conv1.bias"],
    "relu1": ["ReluBackward0"], "pool1": ["MaxPool2DWithIndicesBackward0"],
    "conv2": ["ConvolutionBackward0", "conv2.weight", "conv2.bias"],
    "relu2": ["ReluBackward0"], "pool2": ["MaxPool2DWithIndicesBackward0"],
    "flatten": ["ViewBackward0"],
    "fc1": ["AddmmBackward0", "TBackward0", "fc1.weight", "fc1.bias"],
    "relu3": ["ReluBackward0"],
    "fc2": ["AddmmBackward0", "TBackward0", "fc2.weight", "fc2.bias"],
    "relu4": ["ReluBackward0"],
    "fc3": ["AddmmBackward0", "TBackward0", "fc3.weight", "fc3.bias"],
    "loss": ["NllLossBackward0", "LogSoftmaxBackward0"],
}


@pytest.fixture(scope="module")
def lenet_graph():
    return trace_model(get_preset("lenet"))


def _traversal_of_lenet_loss() -> Counter:
    """The nodes of LeNet's loss graph, found here by walking next_functions directly:
    each grad_fn's class, a leaf (AccumulateGrad) as its parameter's name."""
    model = build_model(get_preset("lenet"))
    names = {id(p): n for n, p in model.named_parameters()}
    loss = batch_loss("cross-entropy", model(torch.randn(1, 1, 32, 32)),
                      torch.zeros(1, dtype=torch.long))
    found: Counter = Counter()
    seen, queue = set(), [loss.grad_fn]
    while queue:
        fn = queue.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        found[names[id(fn.variable)] if type(fn).__name__ == "AccumulateGrad"
              else type(fn).__name__] += 1
        queue.extend(f for f, _ in fn.next_functions if f is not None)
    return found


def test_lenet_has_the_nodes_a_traversal_finds(lenet_graph):
    assert Counter(n.label for n in lenet_graph.nodes) == _traversal_of_lenet_loss()


def test_each_node_is_grouped_under_its_layer(lenet_graph):
    assert [g.name for g in lenet_graph.groups] == list(LENET_GROUPS)
    for group in lenet_graph.groups:
        labels = sorted(lenet_graph.node(k).label for k in group.nodes)
        assert labels == sorted(LENET_GROUPS[group.name]), group.name
    spec = get_preset("lenet")
    for group in lenet_graph.groups[:-1]:
        assert spec.layers[group.layer_index].name == group.name
    assert lenet_graph.groups[-1].layer_index is None


def test_edges_carry_shapes_and_parameters_are_leaves(lenet_graph):
    by_label = {n.label: n for n in lenet_graph.nodes}
    assert by_label["conv1.weight"].is_leaf and by_label["conv1.weight"].shape == (6, 1, 5, 5)
    flatten = by_label["ViewBackward0"]
    assert flatten.shape == (1, 400)
    into_fc1 = [e for e in lenet_graph.edges if e.source == flatten.key]
    assert [e.shape for e in into_fc1] == [(1, 400)]
    assert all(e.shape is not None for e in lenet_graph.edges)
    # backward ran: every leaf has its .grad, every node the gradient that reached it
    assert all(n.grad_norm is not None for n in lenet_graph.nodes)


def test_the_layout_gives_each_group_its_own_band(lenet_graph):
    drawn = layout(lenet_graph)
    boxes = [drawn.group_boxes[g.name] for g in lenet_graph.groups]
    for upper, lower in zip(boxes, boxes[1:]):
        assert upper.bottom <= lower.y
    for group in lenet_graph.groups:
        band = drawn.group_boxes[group.name]
        for key in group.nodes:
            box = drawn.boxes[key]
            assert band.x <= box.x and box.x + box.width <= band.x + band.width
            assert band.y <= box.y and box.bottom <= band.bottom
    for edge in lenet_graph.edges:  # data flows down
        assert drawn.boxes[edge.source].bottom <= drawn.boxes[edge.target].y


def test_dot_and_svg_hold_every_node_and_group(lenet_graph, tmp_path):
    dot = to_dot(lenet_graph)
    assert dot.count("subgraph cluster_") == len(LENET_GROUPS)
    assert dot.count(" -> ") == len(lenet_graph.edges)
    assert all(f"{n.key} [label=" in dot for n in lenet_graph.nodes)
    svg = ET.fromstring(to_svg(lenet_graph))
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "conv1.weight" in texts and "fc3" in texts
    path = write_graph(tmp_path / "lenet.svg", lenet_graph, "svg")
    assert path.read_text().startswith("<svg")
    assert "conv1 (layer 1)" in to_text(lenet_graph)


def test_a_console_graph_names_its_tensors():
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    out = (y * y * 3).mean()
    graph = trace_graph([("x", x), ("y", y), ("out", out)])
    labels = Counter(n.label for n in graph.nodes)
    assert labels == Counter({"x": 1, "AddBackward0": 1, "MulBackward0": 2,
                              "MeanBackward0": 1})
    assert next(n for n in graph.nodes if n.op == "AddBackward0").names == ("y",)
    assert len(list(walk([out.grad_fn]))) == len(graph.nodes)
