"""Layer inspection: hooks that measure every layer while a model trains, and a
training doctor that names the layer going wrong.

The tutorial's hooks print each layer's input size, output size, output norm and
gradient norm. The Probe measures that and more for every layer on sampled steps,
cheaply enough to leave on:

- hooks are attached only for a sampled step and removed after it (a registered
  hook costs time on every step even when it records nothing), and with no probe
  no hook exists at all;
- statistics are reduced on the device — a few fused reductions per layer, and
  torch._foreach_norm over all parameters, gradients and updates at once — and
  copied to the host once per report, never with a per-layer .item();
- output gradients are captured by a tensor hook registered from the forward hook,
  which works after in-place activations where register_full_backward_hook fails;
- history lives in fixed-size ring buffers of numbers; no activation or gradient
  tensor outlives its step.

The Doctor reads that history and raises Alerts that say what is wrong, where,
and what to try.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from netexplorer.core.layers import LAYER_KINDS

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
STAT_LABELS = {
    "act_norm": "activation norm", "act_mean": "activation mean", "act_std": "activation std",
    "act_zeros": "zeros", "grad_norm": "output-gradient norm", "weight_norm": "weight norm",
    "weight_grad_norm": "weight-gradient norm", "update_ratio": "update ratio",
    "dead": "dead units",
}

# Reduction dims that leave dimension 1 (channels or features), by tensor rank.
_ALL_BUT_CHANNELS = {n: tuple(d for d in range(n) if d != 1) for n in range(2, 9)}

_ACTIVATION_TYPES = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.ReLU6, nn.SiLU, nn.PReLU)

# --- Doctor thresholds (module constants so that tests and docs can name them) ---
# A ReLU-family layer whose units were never active in this share of the window.
DEAD_THRESHOLD = 0.5
# Batches over which "never active" is judged; alerts wait until it is full.
DEAD_WINDOW = 20
# Vanishing: the first trainable layer's output-gradient RMS below this fraction of
# the last one's (three orders of magnitude), as a median over recent samples.
VANISHING_RATIO = 1e-3
# Exploding: a gradient norm more than this many times its recent median.
EXPLODING_FACTOR = 10.0
# Activation statistics (norm, mean, std, zeros, dead units) are measured on at
# most this many images of each sampled batch: exact for small batches (the CLI's
# one-image inspection), and for larger ones the probe's cost stops growing with
# the batch. The batch's norm is estimated as ‖sample‖·√(batch/sample). Output
# gradients, parameters and updates always use the whole batch, and a non-finite
# value anywhere still shows in them and in the loss.
ACTIVATION_SAMPLE = 16
# Samples of history needed before a recent median means anything.
MIN_HISTORY = 8
RECENT = 32
# Update-to-weight ratio: the rule of thumb is ~1e-3 per step; far outside these
# bounds the learning rate is most likely wrong. Measured on healthy LeNet runs on
# digits (SGD, lr 0.05, momentum 0.9): per-layer medians 6e-3 to 8e-3, 5th to 95th
# percentiles 1.3e-4 to 1.1e-1 — so the alert looks at the median of recent steps.
UPDATE_RATIO_HIGH = 1e-1
UPDATE_RATIO_LOW = 1e-6


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


@dataclass(frozen=True)
class Alert:
    kind: str  # "nonfinite", "dead", "vanishing", "exploding", "update_high", "update_low"
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

    stats[i, s, l] is statistic STATS[s] of layer l at sampled step steps[i].
    """

    layers: tuple[LayerInfo, ...]
    steps: np.ndarray
    stats: np.ndarray
    alerts: tuple[Alert, ...] = ()

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


class RingBuffer:
    """Fixed-capacity history of (step, matrix) rows; memory never grows."""

    def __init__(self, capacity: int, row_shape: tuple[int, ...]) -> None:
        self.capacity = capacity
        self.steps = np.zeros(capacity, dtype=np.int64)
        self.values = np.full((capacity, *row_shape), np.nan, dtype=np.float32)
        self._next = 0
        self.count = 0

    def extend(self, steps: np.ndarray, values: np.ndarray) -> None:
        for step, row in zip(steps, values):
            self.steps[self._next] = step
            self.values[self._next] = row
            self._next = (self._next + 1) % self.capacity
            self.count = min(self.count + 1, self.capacity)

    def ordered(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) oldest first, copies."""
        if self.count < self.capacity:
            return self.steps[:self.count].copy(), self.values[:self.count].copy()
        order = np.r_[self._next:self.capacity, 0:self._next]
        return self.steps[order], self.values[order]

    def recent(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The last `n` rows (fewer if there are fewer), oldest first — without
        copying the whole buffer, since the doctor asks on every report."""
        n = min(n, self.count)
        idx = (self._next - n + np.arange(n)) % self.capacity
        return self.steps[idx], self.values[idx]


def probe_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers a probe watches: a spec model's named children, or any module's
    leaf modules (those without children)."""
    children = list(model.named_children())
    if children and all(not list(m.children()) for _, m in children):
        return children
    return [(name, m) for name, m in model.named_modules() if name and not list(m.children())]


def _kind_of(module: nn.Module) -> str:
    for kind, info in LAYER_KINDS.items():
        if type(module).__name__ == info.torch_name:
            return kind
    return type(module).__name__


class Probe:
    """Per-layer statistics of a model on sampled training steps.

    Use as a context manager (every hook it added is removed on exit), pass it to
    Trainer(probe=...), and read `flush()`'s ProbeReports or query `history()`
    and `heatmap()`.

    On a sampled step the hooks only launch raw reductions on the device (a norm,
    a sum and a count of non-zeros per output, on up to ACTIVATION_SAMPLE images;
    a norm per output gradient; fused norms of parameters, gradients and updates)
    and keep the 0-d results. flush()
    stacks every pending scalar into one tensor, copies it to the host once and
    derives the statistics (mean, std, ratios, dead units) there with numpy.
    """

    def __init__(self, model: nn.Module, *, every: int = 1, capacity: int = 4096,
                 dead_window: int = DEAD_WINDOW,
                 activation_sample: int = ACTIVATION_SAMPLE) -> None:
        if every < 1:
            raise ValueError(f"the sampling interval must be at least 1 step, got {every}")
        self.model = model
        self.every = every
        self.activation_sample = activation_sample
        self._modules = probe_layers(model)
        if not self._modules:
            raise ValueError("the model has no layers to probe")
        self.layers: list[LayerInfo] = [
            LayerInfo(i, name, _kind_of(m), any(True for _ in m.parameters(recurse=False)),
                      isinstance(m, _ACTIVATION_TYPES))
            for i, (name, m) in enumerate(self._modules)]
        # Pure reshapes (flatten) show the same values as the layer before them.
        self._same_values = {i for i, (_, m) in enumerate(self._modules)
                             if isinstance(m, (nn.Flatten, nn.Identity)) and i > 0}
        self._param_layers = [i for i, info in enumerate(self.layers) if info.has_params]
        self._params = [list(self._modules[i][1].parameters(recurse=False))
                        for i in self._param_layers]
        self._param_starts = np.cumsum([0] + [len(g) for g in self._params])[:-1]
        self.history_buffer = RingBuffer(capacity, (len(STATS), len(self.layers)))
        self.dead_window = dead_window
        self._activity: dict[int, np.ndarray] = {}  # layer → window × units, on the host
        self._window_fill: dict[int, int] = {}
        self._handles: list[Any] = []
        self.grad_layers: set[int] = set()  # layers whose output gradient was measured
        self.act_layers: set[int] = set()  # layers whose output was measured (they ran)
        self._pending: list[_StepRaw] = []
        self._raw: _StepRaw | None = None
        self._before: list[torch.Tensor] | None = None
        self._alerts: list[Alert] = []
        self.doctor = Doctor(self)
        self._grad_hooks = [self._grad_hook(i) for i in range(len(self.layers))]
        self._forward_hooks = [self._forward_hook(i) for i in range(len(self.layers))]

    # -- context manager
    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    def detach(self) -> None:
        """Remove every hook this probe added."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._raw = None
        self._before = None

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    # -- the Trainer's StepProbe protocol
    def sampling(self, step: int) -> bool:
        return step % self.every == 0

    def begin_step(self, step: int) -> None:
        self._raw = _StepRaw(step)
        self._before = None
        for i, (_, module) in enumerate(self._modules):
            self._handles.append(module.register_forward_hook(self._forward_hooks[i]))

    @torch.no_grad()
    def after_backward(self) -> None:
        """Norms of every parameter tensor and its gradient (two fused calls), and a
        copy of the weights (one fused call) to measure the optimizer's update."""
        raw = self._raw
        if raw is None or not self._param_layers:
            return
        params = [p.detach() for group in self._params for p in group]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p)
                 for group in self._params for p in group]
        raw.weight_sq = torch.stack(torch._foreach_norm(params))
        raw.grad_sq = torch.stack(torch._foreach_norm(grads))
        self._before = torch._foreach_mul(params, 1.0)

    @torch.no_grad()
    def end_step(self) -> None:
        """After the optimizer step: the update norms; then the step's scalars are
        packed into one vector that waits for flush()."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        raw = self._raw
        if raw is None:
            return
        if self._before is not None:
            params = [p.detach() for group in self._params for p in group]
            raw.update_sq = torch.stack(torch._foreach_norm(torch._foreach_sub(params,
                                                                               self._before)))
        self._before = None
        raw.pack()
        self._pending.append(raw)
        self._raw = None

    def flush(self) -> ProbeReport:
        """Copy the pending steps to the host (one transfer), derive the statistics,
        update the history and let the doctor look. Returns what is new."""
        steps = np.array([raw.step for raw in self._pending], dtype=np.int64)
        if self._pending:
            stats = self._derive(self._pending)
            self._pending = []
            self.history_buffer.extend(steps, stats)
        else:
            stats = np.zeros((0, len(STATS), len(self.layers)), dtype=np.float32)
        alerts = tuple(self.doctor.examine(steps, stats)) if len(steps) else ()
        self._alerts.extend(alerts)
        return ProbeReport(tuple(self.layers), steps, stats, alerts)

    def _derive(self, pending: list[_StepRaw]) -> np.ndarray:
        """Pending steps → host → statistics, vectorised over the steps.

        Every step of a model packs the same layout, so the pending vectors stack
        into one matrix: one device op and one copy per flush, then numpy.
        """
        out = np.full((len(pending), len(STATS), len(self.layers)), np.nan, dtype=np.float32)
        groups: dict[tuple, list[int]] = {}
        for row, raw in enumerate(pending):
            groups.setdefault(raw.layout, []).append(row)
        for layout, rows in groups.items():
            matrix = torch.stack([pending[r].vector for r in rows]).double().cpu().numpy()
            self._fill(out, np.array(rows), layout, matrix)
        masks = [m for raw in pending for m in raw.activity.values()]
        if masks:
            host_masks = iter([m.cpu().numpy() for m in masks])
            dead = STAT_INDEX["dead"]
            for row, raw in enumerate(pending):
                for i in raw.activity:
                    self._remember_activity(i, next(host_masks))
                for i, window in self._activity.items():
                    seen = window[:min(self._window_fill[i], self.dead_window)]
                    out[row, dead, i] = 1.0 - seen.any(axis=0).mean()
        return out

    def _fill(self, out: np.ndarray, rows: np.ndarray, layout: tuple, m: np.ndarray) -> None:
        act, counts, grad, n_params = layout
        n = len(act)
        col = 0
        if n:
            block = m[:, :3 * n].reshape(len(rows), n, 3)
            norm, total, nonzero = block[..., 0], block[..., 1], block[..., 2]
            count = np.array([c for c, _ in counts], dtype=np.float64)
            sampled = np.array([s for _, s in counts], dtype=np.float64)
            idx = np.array(act, dtype=np.int64)
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                mean = total / sampled
                # var = (‖x‖² − n·mean²) / (n − 1): no second pass over the activations.
                var = (norm * norm - sampled * mean * mean) / np.maximum(sampled - 1, 1)
                std = np.where(np.isfinite(var), np.sqrt(np.maximum(var, 0)), var)
                zeros = 1.0 - nonzero / sampled
                norm = norm * np.sqrt(count / sampled)  # the whole batch's norm
            for stat, values in (("act_norm", norm), ("act_mean", mean), ("act_std", std),
                                 ("act_zeros", zeros)):
                out[rows[:, None], STAT_INDEX[stat], idx[None, :]] = values
            for i in self._same_values:  # a reshape shows its input's values
                out[rows, :4, i] = out[rows, :4, i - 1]
            col = 3 * n
        if grad:
            out[rows[:, None], STAT_INDEX["grad_norm"], np.array(grad)[None, :]] = \
                m[:, col:col + len(grad)]
            col += len(grad)
        if n_params:
            # Per-tensor norms → per-layer norms (a layer's weight and bias together).
            starts = self._param_starts

            def per_layer(first: int) -> np.ndarray:
                return np.sqrt(np.add.reduceat(m[:, first:first + n_params] ** 2, starts,
                                               axis=1))

            layers = np.array(self._param_layers)[None, :]
            weight = per_layer(col)
            out[rows[:, None], STAT_INDEX["weight_norm"], layers] = weight
            out[rows[:, None], STAT_INDEX["weight_grad_norm"], layers] = per_layer(col + n_params)
            if m.shape[1] >= col + 3 * n_params:
                update = per_layer(col + 2 * n_params)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[rows[:, None], STAT_INDEX["update_ratio"], layers] = \
                        update / np.maximum(weight, 1e-12)

    def _remember_activity(self, i: int, active: np.ndarray) -> None:
        window = self._activity.get(i)
        if window is None or window.shape[1] != active.shape[0]:
            window = np.zeros((self.dead_window, active.shape[0]), dtype=bool)
            self._activity[i] = window
            self._window_fill[i] = 0
        window[self._window_fill[i] % self.dead_window] = active
        self._window_fill[i] += 1

    # -- queries
    def history(self, stat: str, layer: str | int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one statistic, oldest first: values is steps × layers,
        or a vector when `layer` (a name or index) is given."""
        steps, values = self.history_buffer.ordered()
        column = values[:, STAT_INDEX[stat], :]
        if layer is None:
            return steps, column
        return steps, column[:, self._layer_index(layer)]

    def heatmap(self, stat: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(layer names, steps, values layers × steps) for the layer × step view."""
        steps, values = self.history(stat)
        return [info.name for info in self.layers], steps, values.T.copy()

    @property
    def alerts(self) -> list[Alert]:
        return list(self._alerts)

    def window_filled(self, layer: int) -> int:
        return self._window_fill.get(layer, 0)

    def _layer_index(self, layer: str | int) -> int:
        if isinstance(layer, int):
            return layer
        for info in self.layers:
            if info.name == layer:
                return info.index
        raise KeyError(f"no layer named {layer!r}")

    def _device(self) -> torch.device:
        for _, module in self._modules:
            for p in module.parameters():
                return p.device
        return torch.device("cpu")

    # -- hooks
    def _forward_hook(self, i: int):
        """The hook for layer i. Kept lean: it runs on every sampled step for every
        layer, so per-call Python work shows up directly in the step time."""
        reuse = i in self._same_values
        activation = self.layers[i].activation
        grad_hook = self._grad_hooks[i]
        sample = self.activation_sample
        layers = self.layers

        def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
            raw = self._raw
            if raw is None or not isinstance(output, torch.Tensor):
                return
            shape = output.shape
            if layers[i].output_shape != shape:
                self._record_shapes(i, inputs, shape)
            self.act_layers.add(i)
            # Activation statistics are measured on the first `sample` images of the
            # batch, so a probe costs the same whatever the batch size (see
            # ACTIVATION_SAMPLE); output gradients and parameters use everything.
            # no_grad: these reductions need no autograd bookkeeping (measured ~15 %
            # cheaper per op inside a training step).
            with torch.no_grad():
                data = output.detach()
                part = data[:sample] if data.dim() > 1 and shape[0] > sample else data
                if not reuse:
                    raw.act[i] = (torch.linalg.vector_norm(part), part.sum(),
                                  part.sign().abs_().sum())
                    raw.counts[i] = (data.numel(), part.numel())
                if activation and part.dim() >= 2:
                    # Which units (channels of a map, features of a vector) fired.
                    raw.activity[i] = part.amax(dim=_ALL_BUT_CHANNELS[part.dim()]) > 0
            if output.requires_grad:
                self.grad_layers.add(i)
                output.register_hook(grad_hook)

        return hook

    def _record_shapes(self, i: int, inputs: tuple, shape: torch.Size) -> None:
        info = self.layers[i]
        first = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
        self.layers[i] = LayerInfo(info.index, info.name, info.kind, info.has_params,
                                   info.activation,
                                   tuple(first.shape) if first is not None else (),
                                   tuple(shape))

    def _grad_hook(self, i: int):
        def hook(grad: torch.Tensor) -> None:
            if self._raw is not None:
                self._raw.grad[i] = torch.linalg.vector_norm(grad.detach())

        return hook

    # -- feature maps
    def snapshot(self, x: torch.Tensor) -> Snapshot:
        """Run `x` through the model without gradients and keep every map-shaped
        output, plus the first conv layer's filters, as numpy arrays."""
        maps: dict[str, np.ndarray] = {}
        handles = []

        def keep(name: str):
            def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
                if isinstance(output, torch.Tensor) and output.dim() == 4:
                    # A copy: on the CPU .numpy() shares the tensor's memory, which a
                    # following in-place layer (ReLU(inplace=True)) overwrites.
                    maps[name] = output.detach().float().cpu().numpy().copy()
            return hook

        for name, module in self._modules:
            handles.append(module.register_forward_hook(keep(name)))
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                output = self.model(x.to(self._device()))
        finally:
            for handle in handles:
                handle.remove()
            self.model.train(was_training)
        convs = tuple(name for name, m in self._modules if isinstance(m, nn.Conv2d))
        first = convs[0] if convs else None
        filters = None
        if first is not None:
            # A copy, not a view of the live weights that training keeps changing.
            filters = dict(self._modules)[first].weight.detach().float().cpu().numpy().copy()
        return Snapshot(maps, convs, filters, first, output.detach().float().cpu().numpy())


@dataclass
class _StepRaw:
    """One sampled step's device-side results, before anything is copied off.

    pack() turns them into one vector plus a layout describing it; steps of the
    same model share the layout, so flush() stacks them into one matrix.
    """

    step: int
    act: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    counts: dict[int, tuple[int, int]] = field(default_factory=dict)
    grad: dict[int, torch.Tensor] = field(default_factory=dict)
    activity: dict[int, torch.Tensor] = field(default_factory=dict)
    weight_sq: torch.Tensor | None = None  # per parameter tensor: norms (named _sq for the
    grad_sq: torch.Tensor | None = None  # squares taken on the host, per layer)
    update_sq: torch.Tensor | None = None
    vector: torch.Tensor | None = None
    layout: tuple = ()

    def pack(self) -> None:
        parts = []
        scalars = [t for triple in self.act.values() for t in triple]
        scalars += list(self.grad.values())
        if scalars:
            parts.append(torch.stack(scalars).double())
        n_params = 0
        if self.weight_sq is not None:
            n_params = int(self.weight_sq.shape[0])
            parts += [t.double() for t in (self.weight_sq, self.grad_sq, self.update_sq)
                      if t is not None]
        self.vector = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)
        self.layout = (tuple(self.act), tuple(self.counts.values()), tuple(self.grad),
                       n_params)
        self.act, self.grad = {}, {}
        self.weight_sq = self.grad_sq = self.update_sq = None


# ----------------------------------------------------------------------------- doctor


class Doctor:
    """Reads the probe's history and names the layer that is going wrong.

    Each alert fires when its condition starts and again only after it has
    cleared, so a persistent problem is one alert, not one per report.
    """

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self._active: set[tuple[str, str]] = set()

    def examine(self, steps: np.ndarray, stats: np.ndarray) -> list[Alert]:
        found: dict[tuple[str, str], Alert] = {}
        for alert in self._nonfinite(steps, stats):
            found[(alert.kind, alert.layer)] = alert
        if not found:  # with NaNs around, the other checks say nothing useful
            for check in (self._dead, self._vanishing, self._exploding, self._update_ratio):
                for alert in check(steps, stats):
                    found[(alert.kind, alert.layer)] = alert
        new = [a for key, a in found.items() if key not in self._active]
        self._active = set(found)
        return new

    # Each check returns the alerts whose condition holds now.
    def _nonfinite(self, steps: np.ndarray, stats: np.ndarray) -> Iterable[Alert]:
        act = stats[:, STAT_INDEX["act_norm"], :]
        grad = stats[:, STAT_INDEX["grad_norm"], :]
        n = len(self.probe.layers)
        ran = np.zeros(n, dtype=bool)  # a layer that never ran is "not measured"
        ran[list(self.probe.act_layers)] = True
        measured = np.zeros(n, dtype=bool)
        measured[list(self.probe.grad_layers)] = True
        bad = (~np.isfinite(act) & ran) | (~np.isfinite(grad) & measured)
        if not bad.any():
            return []
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        # The layer where it started: activations go bad in forward order, and a bad
        # activation makes every earlier layer's gradient bad too, so the first bad
        # activation names it; with finite activations the gradients went bad in
        # backward order, so the last layer with a bad gradient is the first to.
        bad_act = np.flatnonzero(~np.isfinite(act[row]) & ran)
        layer = int(bad_act[0]) if len(bad_act) else int(np.flatnonzero(bad[row])[-1])
        name = self.probe.layers[layer].name
        where = "activation" if not np.isfinite(act[row, layer]) else "gradient"
        return [Alert("nonfinite", name, int(steps[row]),
                      f"its {where} became NaN or infinite — the first layer to do so",
                      "training paused: lower the learning rate, check the input "
                      "normalisation, or add batch normalisation before this layer",
                      severity="error", pause=True)]

    def _dead(self, steps: np.ndarray, stats: np.ndarray) -> Iterable[Alert]:
        dead = stats[-1, STAT_INDEX["dead"], :]
        for i, info in enumerate(self.probe.layers):
            filled = self.probe.window_filled(i)
            if info.activation and filled >= self.probe.dead_window and dead[i] > DEAD_THRESHOLD:
                yield Alert("dead", info.name, int(steps[-1]),
                            f"{100 * dead[i]:.0f} % of its units have not fired in the last "
                            f"{self.probe.dead_window} sampled batches (dead ReLUs)",
                            "lower the learning rate, check the bias initialisation of the "
                            "layer before it, or try LeakyReLU/ELU")

    def _vanishing(self, steps: np.ndarray, stats: np.ndarray) -> Iterable[Alert]:
        params = self.probe._param_layers
        if len(params) < 2:
            return
        recent = self._recent("grad_norm", RECENT)
        if len(recent) < MIN_HISTORY:
            return
        rms = recent / np.sqrt(np.maximum(self._per_sample_sizes(), 1))
        first, last = params[0], params[-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = _nanmedian(rms[:, first]) / _nanmedian(rms[:, last])
        if np.isfinite(ratio) and ratio < VANISHING_RATIO:
            name = self.probe.layers[first].name
            yield Alert("vanishing", name, int(steps[-1]),
                        f"its gradients are {ratio:.1e} times those of the last layer "
                        f"'{self.probe.layers[last].name}': they vanish on the way back",
                        "use ReLU-family activations instead of sigmoid/tanh, add batch "
                        "normalisation, or make the network shallower")

    def _exploding(self, steps: np.ndarray, stats: np.ndarray) -> Iterable[Alert]:
        new = len(steps)
        history = self._recent("grad_norm", RECENT + new)
        before = history[:-new]
        if len(before) < MIN_HISTORY:
            return
        with np.errstate(invalid="ignore"):
            baseline = _nanmedian(before[-RECENT:], axis=0)
            latest = _nanmax(history[-new:], axis=0)
            jumped = latest > EXPLODING_FACTOR * baseline
        for i in np.flatnonzero(jumped & (baseline > 0)):
            name = self.probe.layers[int(i)].name
            yield Alert("exploding", name, int(steps[-1]),
                        f"its gradient norm jumped to {latest[i]:.3g}, "
                        f"{latest[i] / baseline[i]:.0f}× its recent median",
                        "lower the learning rate or clip gradients; a loss about to diverge "
                        "often shows this first")

    def _update_ratio(self, steps: np.ndarray, stats: np.ndarray) -> Iterable[Alert]:
        recent = self._recent("update_ratio", RECENT)
        if len(recent) < MIN_HISTORY:
            return
        median = _nanmedian(recent, axis=0)
        for i in self.probe._param_layers:
            value = median[i]
            name = self.probe.layers[i].name
            if value > UPDATE_RATIO_HIGH:
                yield Alert("update_high", name, int(steps[-1]),
                            f"each step changes its weights by {value:.1e} of their size "
                            f"(rule of thumb: ~1e-3)",
                            "the learning rate is likely too high: try a tenth of it")
            elif value < UPDATE_RATIO_LOW:
                yield Alert("update_low", name, int(steps[-1]),
                            f"each step changes its weights by only {value:.1e} of their "
                            f"size (rule of thumb: ~1e-3)",
                            "the learning rate is likely too low, or this layer gets no "
                            "gradient: try ten times the learning rate")

    def _recent(self, stat: str, n: int) -> np.ndarray:
        """The last n sampled rows of one statistic: samples × layers."""
        return self.probe.history_buffer.recent(n)[1][:, STAT_INDEX[stat], :]

    def _per_sample_sizes(self) -> np.ndarray:
        return np.array([math.prod(info.output_shape) if info.output_shape else 1
                         for info in self.probe.layers], dtype=np.float64)



def _nanmedian(values: np.ndarray, axis: int | None = None) -> Any:
    """np.nanmedian without its warning for all-NaN columns (layers without
    parameters or gradients stay NaN), and fast in the common case: columns with
    no NaN take np.median; only partly measured ones pay for nanmedian."""
    if axis is None or values.ndim == 1:
        finite = values[~np.isnan(values)]
        return float(np.median(finite)) if finite.size else float("nan")
    values = np.moveaxis(values, axis, 0)
    out = np.full(values.shape[1:], np.nan)
    nan = np.isnan(values)
    full = ~nan.any(axis=0)
    if full.any():
        out[full] = np.median(values[:, full], axis=0)
    partial = ~full & ~nan.all(axis=0)
    if partial.any():
        out[partial] = np.nanmedian(values[:, partial], axis=0)
    return out


def _nanmax(values: np.ndarray, axis: int | None = None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(values, axis=axis)
