"""A model's autograd graph: one forward pass and loss, traced, grouped by layer.

The tutorial's step from `out = net(input); loss = criterion(out, target)` to
`loss.grad_fn.next_functions[0][0]` is made visible for the model being built:
the model is built from its ModelSpec (fresh weights, a fixed seed), one
random input of its input shape goes through it, the run's loss is taken
against class 0, and backward() runs once so that every node's output shape
and gradient are known. Each layer's forward hook claims the graph nodes its
output added since the previous layer — `ConvolutionBackward0` and the
AccumulateGrad leaves of conv1.weight and conv1.bias fall inside conv1 — and
what the loss adds is the "loss" group.
"""

from __future__ import annotations

from typing import Any

from netexplorer.core.autograd.graph import AutogradGraph, GradientRecorder, trace_graph

LOSS_GROUP = "loss"


def trace_model(spec: Any, loss_name: str = "cross-entropy", seed: int = 0) -> AutogradGraph:
    """The graph of `spec`'s loss for one random input (see the module doc)."""
    import torch

    from netexplorer.core.losses import batch_loss
    from netexplorer.core.specs import build_model

    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = build_model(spec)
        inputs = torch.randn(1, *spec.input_shape)
    finally:
        torch.random.set_rng_state(generator_state)
    group_of: dict[int, str] = {}
    claimed: list[Any] = []  # keeps every claimed node alive, so no id is reused

    def claim(output: Any, name: str) -> None:
        fn = getattr(output, "grad_fn", None)
        if fn is None or id(fn) in group_of:
            return
        for node in _unclaimed(fn, group_of):
            group_of[id(node)] = name
            claimed.append(node)

    handles = [module.register_forward_hook(_claimer(claim, name))
               for name, module in model.named_children()]
    try:
        model.train()
        outputs = model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    labels = torch.zeros(outputs.shape[0], dtype=torch.long)
    loss = batch_loss(loss_name, outputs.flatten(1) if outputs.dim() > 2 else outputs, labels)
    claim(loss, LOSS_GROUP)
    parameter_names = {id(p): name for name, p in model.named_parameters()}
    with GradientRecorder(loss) as recorder:
        loss.backward()
    layer_index = {layer.name: i for i, layer in enumerate(spec.layers)}
    layer_index[LOSS_GROUP] = len(spec.layers)
    graph = trace_graph([(LOSS_GROUP, loss)], leaf_names=parameter_names,
                        gradients=recorder.gradients, group_of=group_of,
                        layer_index=layer_index,
                        title=f"{spec.name}: one forward pass and {loss_name} loss")
    groups = tuple(g if g.name != LOSS_GROUP else type(g)(g.name, g.nodes, None)
                   for g in graph.groups)
    return AutogradGraph(graph.nodes, graph.edges, groups, graph.title)


def _claimer(claim: Any, name: str) -> Any:
    def hook(_module: Any, _inputs: Any, output: Any) -> None:
        claim(output, name)

    return hook


def _unclaimed(fn: Any, group_of: dict[int, str]) -> list[Any]:
    """The nodes reachable from `fn` without passing through a claimed one."""
    found, queue, seen = [], [fn], set()
    while queue:
        node = queue.pop(0)
        if id(node) in seen or id(node) in group_of:
            continue
        seen.add(id(node))
        found.append(node)
        queue.extend(n for n, _ in node.next_functions if n is not None)
    return found

