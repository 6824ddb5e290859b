"""Feature maps: one batch through the model without gradients, every map-shaped
layer output and the first conv layer's filters kept as numpy arrays (the
tutorial's "what does conv1 see")."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from netexplorer.core.inspection.stats import Snapshot


def take_snapshot(model: nn.Module, layers: list[tuple[str, nn.Module]],
                  x: torch.Tensor) -> Snapshot:
    """Run `x` through `model` in eval mode, with hooks on `layers` (name, module)
    that copy each 4-D output; the model's training mode is restored after."""
    maps: dict[str, np.ndarray] = {}
    handles = []

    def keep(name: str):
        def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
            if isinstance(output, torch.Tensor) and output.dim() == 4:
                # A copy: on the CPU .numpy() shares the tensor's memory, which a
                # following in-place layer (ReLU(inplace=True)) overwrites.
                maps[name] = output.detach().float().cpu().numpy().copy()
        return hook

    for name, module in layers:
        handles.append(module.register_forward_hook(keep(name)))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            output = model(x.to(_device_of(layers)))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    conv_layers = [(name, m) for name, m in layers if isinstance(m, nn.Conv2d)]
    convs = tuple(name for name, _ in conv_layers)
    first = convs[0] if convs else None
    filters = None
    if conv_layers:
        # A copy, not a view of the live weights that training keeps changing.
        filters = conv_layers[0][1].weight.detach().float().cpu().numpy().copy()
    return Snapshot(maps, convs, filters, first, output.detach().float().cpu().numpy())


def _device_of(layers: list[tuple[str, nn.Module]]) -> torch.device:
    for _, module in layers:
        for p in module.parameters():
            return p.device
    return torch.device("cpu")
