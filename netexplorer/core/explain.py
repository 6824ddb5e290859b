"""Explain one image: what the model says about it and why.

One forward and one backward pass of a single image through the real model, with
forward hooks on the layers the inspector names (inspection.probe.probe_layers),
gives everything the trace shows, as plain numpy arrays:

- the probability of every class (softmax of the output, or exp for a model
  ending in log-probabilities, as evaluation reads it);
- every layer's output for that image (maps for convolutions and pooling, a
  vector for linear layers);
- gradient × input: how much each input value pushes the explained class's score
  (the raw output, before softmax) up or down. The input is the model's own,
  normalised as it sees it; for a linear model this is exactly w_c · x;
- Grad-CAM on the last convolution (Selvaraju et al.): its maps weighted by the
  mean gradient of the score over each map, summed, negative parts cut off — where
  in the picture the evidence for the class sits, at the convolution's own size
  and stretched to the input's.

Why hooks on the real model: the trace is of the weights being trained, between
their batches, not of a copy. Nothing is left on the model: the hooks are removed,
the training mode restored, and gradients are taken with torch.autograd.grad, so no
parameter's .grad is touched (a run's next step sees exactly what it would have).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from netexplorer.core import losses
from netexplorer.core.data import Split
from netexplorer.core.errors import DatasetError
from netexplorer.core.inspection.probe import kind_of, probe_layers


@dataclass(frozen=True, eq=False)
class LayerActivation:
    """One layer's output for the explained image, without the batch axis."""

    name: str
    kind: str
    values: np.ndarray  # C×H×W for map-shaped outputs, else flattened to a vector

    @property
    def is_maps(self) -> bool:
        return self.values.ndim == 3


@dataclass(frozen=True, eq=False)
class Explanation:
    """Everything the trace of one image shows (see the module doc); crosses threads."""

    image: np.ndarray  # C×H×W, the model's input as it sees it (normalised)
    probabilities: np.ndarray  # one per class, summing to 1
    predicted: int
    target: int  # the class the saliency maps explain
    layers: tuple[LayerActivation, ...]
    gradient_x_input: np.ndarray  # C×H×W, signed
    cam_layer: str | None  # the last convolution, None when the model has none
    grad_cam: np.ndarray | None  # h×w at the last convolution's output size, ≥ 0
    grad_cam_upsampled: np.ndarray | None  # H×W, the input's size, ≥ 0
    label: int | None = None  # the image's true class, when it came from a split
    index: int | None = None
    split: str | None = None

    @property
    def saliency(self) -> np.ndarray:
        """Gradient × input summed over the channels: one signed value per pixel."""
        return self.gradient_x_input.sum(axis=0)

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.predicted])

    def top(self, k: int = 3) -> list[tuple[int, float]]:
        """The k most probable classes with their probabilities, most probable first."""
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(int(c), float(self.probabilities[c])) for c in order]

    def layer(self, name: str) -> LayerActivation:
        for activation in self.layers:
            if activation.name == name:
                return activation
        raise KeyError(f"no layer {name!r}; the layers are "
                       f"{', '.join(a.name for a in self.layers)}")


def explain(model: nn.Module, image: torch.Tensor, *, loss: str = "cross-entropy",
            target: int | None = None) -> Explanation:
    """The trace of one model-ready image (C×H×W or 1×C×H×W) through `model`, for
    class `target` (default: the predicted class). Runs in eval mode."""
    x = image.detach().reshape(1, *image.shape[-3:]).float()
    layers = probe_layers(model)
    if not layers:
        raise ValueError("the model has no layers to explain")
    device = _device_of(model)
    convs = [name for name, module in layers if isinstance(module, nn.Conv2d)]
    cam_layer = convs[-1] if convs else None
    outputs: dict[str, torch.Tensor] = {}
    cam_maps: list[torch.Tensor] = []
    cam_grads: list[torch.Tensor] = []

    def keep(name: str):
        def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
            if not isinstance(output, torch.Tensor):
                return
            # A copy: a following in-place layer (ReLU(inplace=True)) overwrites it.
            outputs[name] = output.detach().clone()
            if name == cam_layer and output.requires_grad:
                cam_maps[:] = [outputs[name]]
                # Registered before any overwrite: the gradient of this value, not of
                # what an in-place layer makes of it.
                output.register_hook(keep_gradient)
        return hook

    def keep_gradient(grad: torch.Tensor) -> None:
        cam_grads[:] = [grad]

    handles = [module.register_forward_hook(keep(name)) for name, module in layers]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad():
            # A copy (never the dataset's own tensor, nor an inference-mode one) that
            # can require a gradient.
            leaf = x.to(device).clone().requires_grad_(True)
            # The clone lets a first in-place layer work on a tensor that is no leaf.
            output = model(leaf.clone())
            scores = _class_scores(output)
            probabilities = losses.probabilities(loss, scores.detach()).float()[0]
            predicted = int(probabilities.argmax())
            chosen = predicted if target is None else _checked_class(target, scores.shape[1])
            (grad,) = torch.autograd.grad(scores[0, chosen], leaf)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    gradient_x_input = (grad * leaf.detach())[0]
    cam, cam_up = _grad_cam(cam_maps, cam_grads, (int(x.shape[-2]), int(x.shape[-1])))
    return Explanation(
        image=_numpy(x[0]), probabilities=_numpy(probabilities), predicted=predicted,
        target=chosen,
        layers=tuple(LayerActivation(name, kind_of(module), _one_image(outputs[name]))
                     for name, module in layers if name in outputs),
        gradient_x_input=_numpy(gradient_x_input), cam_layer=cam_layer if cam is not None
        else None, grad_cam=cam, grad_cam_upsampled=cam_up)


def explain_example(model: nn.Module, split: Split, index: int, *, split_name: str = "test",
                    loss: str = "cross-entropy", target: int | None = None) -> Explanation:
    """The trace of image `index` of `split` (named `split_name` in messages), with
    its true class and where it came from."""
    count = len(split)
    if not 0 <= index < count:
        valid = f"images 0 to {count - 1:,}" if count else "no images"
        raise DatasetError(f"there is no {split_name} image #{index:,}: the {split_name} split "
                           f"has {valid}")
    explanation = explain(model, split.images[index], loss=loss, target=target)
    return replace(explanation, label=int(split.labels[index]), index=index, split=split_name)


def _class_scores(output: Any) -> torch.Tensor:
    if not isinstance(output, torch.Tensor) or output.dim() != 2:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output)
        raise ValueError(f"the model's output is {shape}, not one score per class: only a "
                         f"classifier's decision can be explained")
    return output


def _checked_class(target: int, classes: int) -> int:
    if not 0 <= target < classes:
        raise ValueError(f"there is no class {target}: the model has classes 0 to {classes - 1}")
    return int(target)


def _grad_cam(maps: list[torch.Tensor], grads: list[torch.Tensor], size: tuple[int, int]
              ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Grad-CAM at the convolution's size and at the input's (bilinear, so ≥ 0 too)."""
    if not maps or not grads:
        return None, None
    activation, gradient = maps[0].float(), grads[0].float()  # 1×K×h×w each
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = (weights * activation).sum(dim=1, keepdim=True).clamp(min=0)
    upsampled = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)
    return _numpy(cam[0, 0]), _numpy(upsampled[0, 0].clamp(min=0))


def _one_image(output: torch.Tensor) -> np.ndarray:
    values = output[0]
    return _numpy(values if values.dim() == 3 else values.reshape(-1))


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy().copy()


def _device_of(model: nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")
