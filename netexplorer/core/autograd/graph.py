"""The graph autograd builds, as plain records: nodes, edges, layer groups.

Autograd records every operation on a tensor that requires grad as a node
(`y.grad_fn`, a `MulBackward0` …) whose `next_functions` point at the nodes
that made its inputs; a leaf tensor (`x = torch.ones(2, 2, requires_grad=True)`,
a layer's weight) is reached through its `AccumulateGrad` node, where
backward() adds into `x.grad`. trace_graph() walks those edges from one or
more tensors and returns an AutogradGraph: each leaf as its own node (named
like the console's variable or the parameter), each grad_fn as a node with the
shape of what it outputs, and each next_functions pair as an edge in the
direction the data flowed (input → operation), carrying that shape.

After backward() the leaves carry their .grad, and the nodes the gradient
that flowed through them when a GradientRecorder was listening.

The records import no torch (the GUI reads them before torch loads); the
functions that walk a live graph import it inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netexplorer.core.autograd.snapshot import ValuesView, values_view

LEAF = "leaf"
FUNCTION = "function"


@dataclass(frozen=True)
class GraphNode:
    """A leaf tensor or a grad_fn node.

    `op` is the node's class (`AccumulateGrad` for a leaf); `label` what its box
    says first (a leaf's name, else `op`); `shape` what it outputs (a leaf: its
    own shape); `names` the console names bound to its output; `grad` a leaf's
    .grad, or the gradient that flowed into a node's output during backward().
    """

    key: str
    kind: str
    op: str
    label: str
    shape: tuple[int, ...] | None = None
    names: tuple[str, ...] = ()
    group: str = ""
    grad: ValuesView | None = None
    grad_norm: float | None = None
    requires_grad: bool = True

    @property
    def is_leaf(self) -> bool:
        return self.kind == LEAF


@dataclass(frozen=True)
class GraphEdge:
    """The output of `source` is an input of `target` (data-flow direction)."""

    source: str
    target: str
    shape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class LayerGroup:
    """The nodes one layer's forward made (`ConvolutionBackward0` and the leaves
    conv1.weight and conv1.bias inside conv1), in data-flow order of the groups.
    `layer_index` is the layer's position in the model (None for the loss)."""

    name: str
    nodes: tuple[str, ...]
    layer_index: int | None = None


@dataclass(frozen=True)
class AutogradGraph:
    """A traced graph; `groups` is empty unless traced through a model."""

    nodes: tuple[GraphNode, ...] = ()
    edges: tuple[GraphEdge, ...] = ()
    groups: tuple[LayerGroup, ...] = ()
    title: str = ""
    _by_key: dict[str, GraphNode] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_key.update({n.key: n for n in self.nodes})

    def node(self, key: str) -> GraphNode:
        return self._by_key[key]

    def group(self, name: str) -> LayerGroup | None:
        return next((g for g in self.groups if g.name == name), None)

    @property
    def empty(self) -> bool:
        return not self.nodes

    def inputs_of(self, key: str) -> list[str]:
        return [e.source for e in self.edges if e.target == key]

    def users_of(self, key: str) -> list[str]:
        return [e.target for e in self.edges if e.source == key]


# ------------------------------------------------------------------ walking a live graph


def output_shape(node: Any, index: int = 0) -> tuple[int, ...] | None:
    """The shape of a grad_fn node's `index`-th output: autograd keeps it to check the
    gradient it will receive (Node._input_metadata); None where it does not."""
    try:
        return tuple(int(s) for s in node._input_metadata[index].shape)
    except (AttributeError, IndexError, TypeError, RuntimeError):
        return None


def walk(roots: Sequence[Any]) -> Iterator[Any]:
    """Every grad_fn node reachable from `roots` (grad_fn nodes), each once,
    breadth first — the traversal of next_functions the graph is made of."""
    seen: set[int] = set()
    queue = [r for r in roots if r is not None]
    while queue:
        node = queue.pop(0)
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        queue.extend(n for n, _ in node.next_functions if n is not None)


@dataclass
class RecordedGradient:
    """The gradient into one node's output, kept small; `node` keeps the node (and
    with it its id) alive while the record is."""

    node: Any
    values: ValuesView
    norm: float


class GradientRecorder:
    """While entered, records the gradient flowing into every grad_fn node reachable
    from `root` (a node hook each); the hooks are removed on exit.

    `gradients` maps id(node) → RecordedGradient and may be shared between
    recorders (the console keeps one across statements)."""

    def __init__(self, root: Any, gradients: dict[int, RecordedGradient] | None = None
                 ) -> None:
        self.root = root
        self.gradients = gradients if gradients is not None else {}
        self._handles: list[Any] = []

    def __enter__(self) -> GradientRecorder:
        fn = getattr(self.root, "grad_fn", None)
        for node in walk([fn] if fn is not None else []):
            if type(node).__name__ != "AccumulateGrad":
                self._handles.append(node.register_hook(self._hook_for(node)))
        return self

    def _hook_for(self, node: Any) -> Callable[[Any, Any], None]:
        gradients = self.gradients

        def hook(_grad_inputs: Any, grad_outputs: Any) -> None:
            grad = grad_outputs[0] if grad_outputs else None
            if grad is not None:
                grad = grad.detach()
                view = _tensor_view(grad)
                gradients[id(node)] = RecordedGradient(node, view, float(grad.norm()))

        return hook

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def _tensor_view(tensor: Any) -> ValuesView:
    from netexplorer.core.autograd.snapshot import SHOWN_COLUMNS, SHOWN_ROWS

    t = tensor.reshape(1, -1) if tensor.dim() < 2 else tensor.reshape(-1, tensor.shape[-1])
    part = t[:SHOWN_ROWS, :SHOWN_COLUMNS].to("cpu").float().numpy()
    view = values_view(part)
    rows, columns = t.shape
    note = "" if part.shape == (rows, columns) else \
        f"showing {part.shape[0]}×{part.shape[1]} of {rows:,}×{columns:,}"
    return ValuesView(view.values, int(rows), int(columns), note)


def trace_graph(roots: Sequence[tuple[str, Any]], *,
                leaf_names: Mapping[int, str] | None = None,
                gradients: Mapping[int, RecordedGradient] | None = None,
                group_of: Mapping[int, str] | None = None,
                layer_index: Mapping[str, int] | None = None,
                title: str = "") -> AutogradGraph:
    """The graph behind `roots` ((name, tensor) pairs).

    A root that is itself a leaf requiring grad appears as a lone leaf. Leaves are
    named by `leaf_names` (id(tensor) → name), else by the root names bound to
    them, else `leaf`. `group_of` maps id(grad_fn node) — for a leaf, id of its
    AccumulateGrad node — to a layer name; groups follow the order of first
    appearance in `layer_index` (name → position), the rest after.
    """
    leaf_names = dict(leaf_names or {})
    gradients = gradients or {}
    group_of = group_of or {}
    bound: dict[int, list[str]] = {}  # id(grad_fn) or id(leaf tensor) → names
    starts = []
    for name, tensor in roots:
        if tensor.grad_fn is not None:
            bound.setdefault(id(tensor.grad_fn), []).append(name)
            starts.append(tensor.grad_fn)
        elif tensor.requires_grad:
            bound.setdefault(id(tensor), []).append(name)
            leaf_names.setdefault(id(tensor), name)
    builder = _Builder(leaf_names, bound, gradients, group_of)
    for node in walk(starts):
        builder.add(node)
    for _name, tensor in roots:  # leaves not (yet) used by any operation
        if tensor.grad_fn is None and tensor.requires_grad:
            builder.add_leaf(tensor, None)
    return builder.graph(layer_index or {}, title)


class _Builder:
    def __init__(self, leaf_names: Mapping[int, str], bound: Mapping[int, list[str]],
                 gradients: Mapping[int, RecordedGradient], group_of: Mapping[int, str]
                 ) -> None:
        self._leaf_names = leaf_names
        self._bound = bound
        self._gradients = gradients
        self._group_of = group_of
        self._keys: dict[tuple[str, int], str] = {}
        self._nodes: list[GraphNode] = []
        self._edges: list[GraphEdge] = []

    def _key(self, kind: str, obj: Any) -> tuple[str, bool]:
        ident = (kind, id(obj))
        known = ident in self._keys
        if not known:
            self._keys[ident] = f"n{len(self._keys)}"
        return self._keys[ident], known

    def _key_of(self, fn: Any) -> str:
        if type(fn).__name__ == "AccumulateGrad":
            return self._key("tensor", fn.variable)[0]
        return self._key("node", fn)[0]

    def add_leaf(self, tensor: Any, accumulate: Any) -> str:
        key, known = self._key("tensor", tensor)
        if known and any(n.key == key for n in self._nodes):
            return key
        names = tuple(self._bound.get(id(tensor), ()))
        label = self._leaf_names.get(id(tensor)) or (names[0] if names else "leaf")
        grad = tensor.grad
        group = self._group_of.get(id(accumulate), "") if accumulate is not None else ""
        self._nodes.append(GraphNode(
            key, LEAF, "AccumulateGrad", label, tuple(int(s) for s in tensor.shape), names,
            group, _tensor_view(grad.detach()) if grad is not None else None,
            float(grad.detach().norm()) if grad is not None else None))
        return key

    def add(self, fn: Any) -> None:
        if type(fn).__name__ == "AccumulateGrad":
            self.add_leaf(fn.variable, fn)
            return
        key = self._key_of(fn)
        recorded = self._gradients.get(id(fn))
        op = type(fn).__name__
        self._nodes.append(GraphNode(
            key, FUNCTION, op, op, output_shape(fn), tuple(self._bound.get(id(fn), ())),
            self._group_of.get(id(fn), ""),
            recorded.values if recorded is not None else None,
            recorded.norm if recorded is not None else None))
        for source, index in fn.next_functions:
            if source is None:
                continue
            if type(source).__name__ == "AccumulateGrad":
                shape: tuple[int, ...] | None = tuple(int(s) for s in source.variable.shape)
            else:
                shape = output_shape(source, index)
            self._edges.append(GraphEdge(self._key_of(source), key, shape))

    def graph(self, layer_index: Mapping[str, int], title: str) -> AutogradGraph:
        order: dict[str, list[str]] = {}
        for node in self._nodes:
            if node.group:
                order.setdefault(node.group, []).append(node.key)
        names = sorted(order, key=lambda g: (layer_index.get(g, math.inf), list(order).index(g)))
        groups = tuple(LayerGroup(g, tuple(order[g]), layer_index.get(g)) for g in names)
        return AutogradGraph(tuple(self._nodes), tuple(self._edges), groups, title)


def describe_shape(shape: Sequence[int] | None) -> str:
    """5×3, 'scalar' for (), '?' when unknown — how shapes read on the graph."""
    if shape is None:
        return "?"
    return "×".join(str(s) for s in shape) if len(shape) else "scalar"
