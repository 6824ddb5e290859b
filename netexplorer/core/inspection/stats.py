"""What the probe measures, as names and torch-free records that cross threads.

A step's statistics are a matrix: one row per statistic in STATS, one column per
layer. LayerInfo, Alert, ProbeReport and Snapshot carry plain numbers and numpy
arrays only, so the GUI can import this module without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netexplorer.core.inspection.distributions import Histograms

# Columns of a step's statistics matrix (one row per stat, one column per layer).
STATS: tuple[str, ...] = (
    "act_norm",  # ‖output‖ over the batch
    "act_mean",
    "act_std",
    "act_zeros",  # fraction of output values that are exactly 0
    "grad_norm",  # ‖∂loss/∂output‖
    "weight_norm",  # ‖parameters‖ of the layer (NaN for layers without any)
    "weight_grad_norm",  # ‖∂loss/∂parameters‖
    "update_ratio",  # ‖Δparameters‖ / ‖parameters‖ after the optimizer step
    "dead",  # ReLU family: fraction of units never active over the window (else NaN)
)
STAT_INDEX = {name: i for i, name in enumerate(STATS)}
# What the doctor needs to know was measured, not merely missing, on a step.
MEASURED = ("act_norm", "grad_norm", "weight_grad_norm")
STAT_LABELS = {
    "act_norm": "activation norm", "act_mean": "activation mean", "act_std": "activation std",
    "act_zeros": "zeros", "grad_norm": "output-gradient norm", "weight_norm": "weight norm",
    "weight_grad_norm": "weight-gradient norm", "update_ratio": "update ratio",
    "dead": "dead units",
}


@dataclass(frozen=True)
class LayerInfo:
    """What the inspector's table shows in its first columns."""

    index: int
    name: str
    kind: str  # the spec's kind ("conv2d") or the module's class name
    has_params: bool
    activation: bool  # ReLU family: dead units are tracked
    input_shape: tuple[int, ...] = ()  # with the batch dimension, as the tutorial prints
    output_shape: tuple[int, ...] = ()


# Alert kinds that say values stopped being finite numbers: NaN appeared, or values
# overflowed float32 to infinity.
NONFINITE_KINDS = ("nan", "overflow")


@dataclass(frozen=True)
class Alert:
    kind: str  # "nan", "overflow", "dead", "vanishing", "exploding", "update_high", "update_low"
    layer: str
    step: int
    message: str  # what is wrong, in words
    advice: str  # what to try
    severity: str = "warning"  # or "error"
    pause: bool = False  # training should stop to let the person look

    def __str__(self) -> str:
        return f"[step {self.step}] {self.layer}: {self.message} — {self.advice}"


@dataclass(frozen=True, eq=False)
class ProbeReport:
    """One report interval's measurements: plain arrays, safe across threads.

    stats[i, s, l] is statistic STATS[s] of layer l at sampled step steps[i];
    histograms (when measured) hold the same steps' distributions.
    """

    layers: tuple[LayerInfo, ...]
    steps: np.ndarray
    stats: np.ndarray
    alerts: tuple[Alert, ...] = ()
    histograms: Histograms | None = None

    @property
    def pause_reason(self) -> str | None:
        for alert in self.alerts:
            if alert.pause:
                return str(alert)
        return None

    def latest(self, stat: str) -> np.ndarray:
        """The last sampled value of `stat` for every layer (NaN if none yet)."""
        if len(self.steps) == 0:
            return np.full(len(self.layers), np.nan)
        return self.stats[-1, STAT_INDEX[stat]]


@dataclass(frozen=True, eq=False)
class Snapshot:
    """One probe batch through the model (no gradient), for the feature-map view."""

    feature_maps: dict[str, np.ndarray]  # layer → N×C×H×W, every layer with a map output
    conv_layers: tuple[str, ...]  # names of the conv layers among them, in order
    filters: np.ndarray | None  # first conv layer's weights, out×in×kh×kw
    first_conv: str | None
    output: np.ndarray  # the model's output for the batch
