"""Where a NaN or an infinity first appeared: one training step replayed with every
layer watched, and the fused finite checks the trainer runs on every step.

The trainer checks each step's loss and gradients cheaply (`note_nonfinite`: one
fused check per step into a flag kept on the device and read with the report), so a run that
diverges between two probe samples is still caught at the step it diverged. It
then returns to the last finite weights and calls `locate_nonfinite` on the batch
that went wrong: forward with a hook on every layer, backward with a hook on every
output, then the optimizer's update — and the first layer whose output (forward
order), gradient (backward order) or new weights hold a NaN or an infinity is the
one named. That replay is rare and exact (whole tensors, one check each), unlike
the probe's sampled statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from netexplorer.core.inspection.probe import probe_layers
from netexplorer.core.reports import NonFiniteSite

__all__ = ["all_finite", "locate_nonfinite", "note_nonfinite"]


def note_nonfinite(tensors: list[torch.Tensor], flag: torch.Tensor) -> None:
    """Set `flag` (a one-element float tensor on their device) to 1 if any of the
    dense floating-point `tensors` holds a NaN or an infinity, else leave it.

    One fused op (the check AMP's GradScaler runs on every step: ~30 µs for
    LeNet's gradients on one CPU thread, a single kernel on CUDA) and no sync: the
    flag is read with the report. Exact — unlike a norm, which overflows float32
    for finite values above ~1e19 — and the scale it multiplies by is 1, which
    changes no value."""
    groups: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in tensors:
        if t.layout == torch.strided and t.is_floating_point():
            groups.setdefault(t.dtype, []).append(t)
    for group in groups.values():
        torch._amp_foreach_non_finite_check_and_unscale_(group, flag, _one(flag.device))


_ONES: dict[torch.device, torch.Tensor] = {}


def _one(device: torch.device) -> torch.Tensor:
    one = _ONES.get(device)
    if one is None:
        one = _ONES[device] = torch.ones((), device=device)
    return one


def all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    """True when no NaN or infinity is in any of the floating-point `tensors`
    (exact, one check per tensor: for the rare moments after a divergence)."""
    return all(bool(torch.isfinite(t.detach()).all()) for t in tensors
               if t.is_floating_point())


def _kind(t: torch.Tensor) -> str | None:
    """None for a finite tensor, else 'NaN' (any NaN) or 'infinity'."""
    if bool(torch.isfinite(t).all()):
        return None
    return "NaN" if bool(torch.isnan(t).any()) else "infinity"


@dataclass
class _Found:
    layer: int | None = None
    where: str = ""
    value: str = ""

    def note(self, layer: int | None, where: str, value: str | None) -> None:
        if value is not None and not self.where:
            self.layer, self.where, self.value = layer, where, value


def locate_nonfinite(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                     y: torch.Tensor, loss_fn: Callable[[torch.Tensor, torch.Tensor],
                                                         torch.Tensor],
                     *, step: int, batch: tuple[int, ...] = (), images=None
                     ) -> NonFiniteSite:
    """Run one training step on (x, y) with every layer watched and name the first
    place a NaN or infinity appeared. The model and optimizer are changed by the
    step: the caller restores them (the trainer does, from its snapshot)."""
    layers = probe_layers(model)
    names = [name for name, _ in layers]
    forward = _Found()
    backward = _Found()
    handles = []

    def forward_hook(i: int):
        def hook(_module: nn.Module, _inputs: tuple, output) -> None:
            if not isinstance(output, torch.Tensor):
                return
            forward.note(i, "output", _kind(output.detach()))
            if output.requires_grad:
                def on_grad(grad: torch.Tensor) -> None:
                    backward.note(i, "gradient", _kind(grad))

                output.register_hook(on_grad)

        return hook

    try:
        for i, (_, module) in enumerate(layers):
            handles.append(module.register_forward_hook(forward_hook(i)))
        found = _Found()
        found.note(None, "input", _kind(x))
        optimizer.zero_grad(set_to_none=True)
        out = model(x)
        loss = loss_fn(out, y)
        if not found.where:
            found = forward
        found.note(None, "loss", _kind(loss.detach()))
        if loss.requires_grad:
            loss.backward()
        for i in reversed(range(len(layers))):  # the weights' gradients, backward order
            grads = [p.grad for p in layers[i][1].parameters(recurse=False)
                     if p.grad is not None]
            value = next((k for k in map(_kind, grads) if k is not None), None)
            if value is not None and (not backward.where or backward.where == "gradient"
                                      and backward.layer is not None and i > backward.layer):
                backward.layer, backward.where, backward.value = i, "weight gradient", value
        found.note(backward.layer, backward.where, backward.value or None)
        with torch.no_grad():
            optimizer.step()
            for i, (_, module) in enumerate(layers):
                params = [p.detach() for p in module.parameters(recurse=False)]
                found.note(i, "weights", next((k for k in map(_kind, params)
                                               if k is not None), None))
    finally:
        for handle in handles:
            handle.remove()
    layer = found.layer
    return NonFiniteSite(step=step, layer=names[layer] if layer is not None else None,
                         layer_index=layer, where=found.where, value=found.value,
                         batch=tuple(batch), images=images)
