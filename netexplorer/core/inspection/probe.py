"""The Probe: what every layer does while a model trains, measured on sampled steps.

The tutorial's hooks print each layer's input size, output size, output norm and
gradient norm. The Probe measures that and more for every layer on sampled steps,
cheaply enough to leave on (figures and the how in Probe's docstring):

- a sampled step runs through the probe's forward and backward; an unsampled
  step never touches it, and with no probe no hook exists at all;
- statistics are reduced on the device — all layers' activations in a handful of
  ops, output gradients and parameter norms in fused torch._foreach_norm calls —
  and copied to the host once per report, never with a per-layer .item();
- in-place activations work: an output a later layer overwrites is copied and
  its gradient taken by a tensor hook registered before the overwrite (where
  register_full_backward_hook fails);
- each layer's activations, output gradients and weights are histogrammed on
  fixed bins from a spread of the same samples (distributions.py,
  histogram_codes.py): a histogrammed step (at most every HISTOGRAM_EVERY
  training steps) keeps ~250 values per layer and kind, in two copies; flush
  bins all of a report's at once;
- history lives in fixed-size ring buffers of numbers; no activation or gradient
  tensor outlives its step.

The Doctor (doctor.py) reads that history and raises Alerts that say what is
wrong, where, and what to try.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from netexplorer.core.inspection.distributions import KINDS, Histograms
from netexplorer.core.inspection.doctor import DEAD_WINDOW, Doctor, Examination
from netexplorer.core.inspection.feature_maps import take_snapshot
from netexplorer.core.inspection.histogram_codes import (
    HistogramCoder,
    ParameterSpreads,
    Segment,
    spreads,
)
from netexplorer.core.inspection.history import RingBuffer
from netexplorer.core.inspection.stats import (
    MEASURED,
    STAT_INDEX,
    STATS,
    Alert,
    LayerInfo,
    ProbeReport,
    Snapshot,
)
from netexplorer.core.layers import LAYER_KINDS

_ACTIVATION_TYPES = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.ReLU6, nn.SiLU, nn.PReLU)

# Activation statistics (norm, mean, std, zeros, dead units) and output-gradient
# norms are measured on at most this many images of each sampled batch (the first
# ones; batches are shuffled): exact for small batches (the CLI's one-image
# inspection), and for larger ones the probe's cost stops growing with the batch.
# A norm of the whole batch is estimated as ‖sample‖·√(batch/sample). Parameters,
# their gradients and updates always cover the whole batch, so a non-finite value
# in any image still shows in the weights' gradients (and in the loss).
ACTIVATION_SAMPLE = 16

# Training steps between histogrammed steps, at least: the probe histograms every
# n-th sampled step, n = ⌈HISTOGRAM_EVERY / every⌉. Why not every one: a
# histogram costs a sampled step a few device ops (an index_select, a cat of a
# view per layer's gradient and weights, ~1.3 ops of flush's binning), and on a
# shared 2-core CPU each costs 5–40 µs in the middle of a step: ~0.2 ms of a
# ~11 ms LeNet step (~2 %) where their budget is ≤ 1 %. Every 4th: ≤ 0.5 %. The
# distributions view draws the histogrammed steps at their own steps; sampling
# every ≥ 4 steps (the GUI's default is 10) histograms every sampled step.
HISTOGRAM_EVERY = 4

# Seconds a probe may keep its sampled steps before flushing them, when the trainer
# lets it (flush(only_if_due=True): reports within an epoch). A flush costs ~1 ms
# whatever it holds (a copy, numpy on small arrays, the doctor) on the training
# thread, and as much again where the window takes it in; a report comes every
# ~40–100 ms, and the inspector redraws at most 4×/s (ui.inspector's
# PLOT_REDRAW_S). A step that measured a value that is not finite is flushed at
# the next report; MAX_PENDING bounds the steps kept (a GPU samples many in 0.25 s).
FLUSH_EVERY_S = 0.25
MAX_PENDING = 256


def probe_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers a probe watches: a spec model's named children, or any module's
    leaf modules (those without children)."""
    children = list(model.named_children())
    if children and all(not list(m.children()) for _, m in children):
        return children
    return [(name, m) for name, m in model.named_modules() if name and not list(m.children())]


def kind_of(module: nn.Module) -> str:
    """The spec's name for a module's kind ("conv2d"), or its class name: the one
    name the inspector, the explain trace and the CLI show for a layer."""
    for kind, info in LAYER_KINDS.items():
        if type(module).__name__ == info.torch_name:
            return kind
    return type(module).__name__


class Probe:
    """Per-layer statistics of a model on sampled training steps.

    Use as a context manager (every hook it added is removed on exit), pass it to
    Trainer(probe=...), and read `flush()`'s ProbeReports or query `history()`
    and `heatmap()`.

    A sampled step runs through the probe: begin_step, forward (the model's
    output, every layer measured on the way), backward (the loss backpropagated,
    output gradients and parameters measured), the optimizer's step, end_step (the
    update measured). On this machine's LeNet step (batch 64, one CPU thread,
    ~20 ms) most device ops cost ~10 µs whatever their size, so the probe keeps
    their number down (`benchmarks/bench_inspection.py`: 0.854 × bare with hooks
    and per-layer reductions, 0.92 with what follows):

    - no per-layer hooks for a plain nn.Sequential (every spec model): forward
      calls its layers itself (a registered hook costs ~28 µs per layer per step
      even when it does nothing). Any other module gets forward hooks for the
      sampled forward only, so an unsampled step runs the bare model;
    - forward only notes each layer's output; then one op per layer takes its
      sample (as_strided), the samples are laid into rows of one matrix (padded
      per layer), and three row reductions give every row's ‖x‖, Σx and number
      of non-zeros; flush() adds rows up per layer on the host;
    - output gradients come from the same backward pass as the weights'
      (torch.autograd.grad over parameters and layer outputs), normed in one fused
      call: no Python runs inside backward. Only an output that a later layer
      overwrites in place (ReLU(inplace=True)) gets a tensor hook, registered
      before the overwrite, since autograd would give the gradient of the
      overwritten value; the version counter catches overwrites nobody announced;
    - parameter, gradient and update norms in fused torch._foreach_norm calls;
    - the measuring runs in inference mode (no autograd bookkeeping per op);
    - one host copy per report (flush), statistics derived there with numpy;
    - histograms on sampled steps at least `histogram_every` training steps
      apart (HISTOGRAM_EVERY says why).
    """

    def __init__(self, model: nn.Module, *, every: int = 1, capacity: int = 4096,
                 dead_window: int = DEAD_WINDOW,
                 activation_sample: int = ACTIVATION_SAMPLE,
                 histogram_every: int = HISTOGRAM_EVERY,
                 flush_every_s: float = FLUSH_EVERY_S) -> None:
        if every < 1:
            raise ValueError(f"the sampling interval must be at least 1 step, got {every}")
        self.model = model
        self.every = every
        self.flush_every_s = flush_every_s
        self._flushed_at = -math.inf  # (the first report's flush is always due)
        self._report_ends: list[int] = []  # steps pending at each report that kept them
        self._urgent = False  # a pending step measured a value that is not finite
        # Histogram every n-th sampled step: n sampled steps span ≥ histogram_every steps.
        self._histogram_stride = max(1, -(-histogram_every // every))
        self.activation_sample = activation_sample
        self._modules = probe_layers(model)
        if not self._modules:
            raise ValueError("the model has no layers to probe")
        self.layers: list[LayerInfo] = [
            LayerInfo(i, name, kind_of(m), any(True for _ in m.parameters(recurse=False)),
                      isinstance(m, _ACTIVATION_TYPES))
            for i, (name, m) in enumerate(self._modules)]
        # Pure reshapes (flatten) show the same values as the layer before them.
        self._same_values = {i for i, (_, m) in enumerate(self._modules)
                             if isinstance(m, (nn.Flatten, nn.Identity)) and i > 0}
        # Layers whose output the next layer overwrites in place: their sample is
        # copied and their gradient taken by a tensor hook (see the class docstring).
        # A generic model's forward order is only assumed; _measure_activations
        # notices an overwrite it missed and adds the layer here.
        self._overwritten = {i for i in range(len(self._modules) - 1)
                             if getattr(self._modules[i + 1][1], "inplace", False)}
        self._roles: list[str] = []
        self._shapes: list[tuple[int, ...]] = [()] * len(self.layers)
        self._update_roles()
        # A plain nn.Sequential whose layers are exactly the probed ones, each once
        # (named_children lists a module used twice only once): forward can call
        # them itself. Checked again on every sampled step (layers can be replaced).
        self._layer_modules = tuple(m for _, m in self._modules)
        self._runs_layers = (type(model).forward is nn.Sequential.forward
                             and len(set(map(id, self._layer_modules))) == len(self._modules))
        self._param_layers = [i for i, info in enumerate(self.layers) if info.has_params]
        self._param_modules = [self._modules[i][1] for i in self._param_layers]
        self._params: list[torch.Tensor] = []  # this step's, in layer order
        self.history_buffer = RingBuffer(capacity, (len(STATS), len(self.layers)))
        self.dead_window = dead_window
        self._since: dict[int, np.ndarray] = {}  # layer → batches since each unit fired
        self._window_fill: dict[int, int] = {}
        self._handles: list[Any] = []
        self.grad_layers: set[int] = set()  # layers whose output gradient was measured
        self._pending: list[_StepRaw] = []
        self._raw: _StepRaw | None = None
        self._before: list[torch.Tensor] | None = None  # the weights before the update
        self._weights_before = _WeightCopies()
        self._alerts: list[Alert] = []
        self._row_plans: dict[tuple, _RowPlan] = {}
        self._fill_plans: dict[_Layout, _FillPlan] = {}
        self.doctor = Doctor()
        self._coder = HistogramCoder(len(self.layers))
        self._weight_spreads = ParameterSpreads()
        self._tensor_layers_of: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
        self._grad_hooks = [self._grad_hook(i) for i in range(len(self.layers))]
        self._forward_hooks = [self._forward_hook(i) for i in range(len(self.layers))]

    # -- context manager
    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    def detach(self) -> None:
        """Remove every hook this probe added and forget a step left half-done."""
        self._remove_hooks()
        self._raw = None
        self._before = None

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _update_roles(self) -> None:
        self._roles = [_SAME_VALUES if i in self._same_values else
                       _OVERWRITTEN if i in self._overwritten else _PLAIN
                       for i in range(len(self.layers))]

    # -- the Trainer's StepProbe protocol
    def sampling(self, step: int) -> bool:
        return step % self.every == 0

    def begin_step(self, step: int) -> None:
        self._raw = _StepRaw(step, (step // self.every) % self._histogram_stride == 0)
        self._before = None

    def forward(self, x: torch.Tensor) -> Any:
        """The model's output for `x`; on a sampled step every layer is measured."""
        raw = self._raw
        if raw is None:
            return self.model(x)
        model = self.model
        if (self._runs_layers and tuple(model._modules.values()) == self._layer_modules
                and not model._parameters and "forward" not in model.__dict__
                and not _has_hooks(model)):
            raw.layer_by_layer = True
            out = x
            for i, (_, module) in enumerate(self._modules):
                h, out = out, module(out)
                self._capture(i, h, out)
        else:
            for i, (_, module) in enumerate(self._modules):
                self._handles.append(module.register_forward_hook(self._forward_hooks[i]))
            try:
                out = self.model(x)
            finally:
                self._remove_hooks()
        self._measure_activations(raw)
        return out

    def backward(self, loss: torch.Tensor) -> None:
        """loss.backward(), with the layers' output gradients measured, then the
        parameters' norms, and a copy of the weights taken so that end_step can
        measure the optimizer's update.

        Output gradients are taken one of two ways. A spec model (a plain
        nn.Sequential: standard layers, every leaf a parameter of the model) gets
        them from the backward pass itself — torch.autograd.grad over its
        parameters and the layers' outputs, the parameters' gradients then put in
        .grad as backward() would — with no Python inside backward (~0.6 ms of a
        ~20 ms LeNet step less than hooks). That holds every layer's output gradient
        until the pass ends, so above GRAD_CAPTURE_BYTES of them, and for any other
        module (sparse or shared gradients, leaves outside the model), a pre-hook
        on the node that made each output measures its gradient as backward passes
        (see _grad_hook), and loss.backward() does the rest.
        """
        raw = self._raw
        if raw is None:
            loss.backward()
            return
        outputs, raw.outputs = raw.outputs, []
        groups = [[p for p in m._parameters.values() if p is not None]
                  for m in self._param_modules]
        size = sum(out.numel() * out.element_size() for _, out in outputs)
        params = []
        if outputs and size <= GRAD_CAPTURE_BYTES and loss.requires_grad:
            # A layer-by-layer model's parameters are its layers' (each once).
            params = list({id(p): p for g in groups for p in g if p.requires_grad}.values())
        if params:
            grads = torch.autograd.grad(loss, params + [out for _, out in outputs],
                                        allow_unused=True)
            _put_gradients(params, grads)
            with torch.inference_mode():
                self._measure_gradients(raw, [(i, g) for (i, _), g in
                                              zip(outputs, grads[len(params):])],
                                        copy=False)  # (with the weights' below)
        else:
            for i, out in outputs:
                self._hook_gradient(i, out)
            del outputs
            loss.backward()
        with torch.inference_mode():
            self._measure_parameters(raw, groups)
            raw.copy_views()

    def _measure_gradients(self, raw: _StepRaw, grads: list[tuple[int, Any]],
                           copy: bool = True) -> None:
        """Norms of the first images of layer output gradients (None or empty ones
        skipped), in one fused call: all layers' after the pass, or one from a hook.
        Their histogram's spreads are copied now, or (copy=False: the gradients
        live until backward() has measured the weights) with the weights'."""
        grads = [(i, g) for i, g in grads if g is not None and g.numel()]
        if not grads:
            return
        parts = [_leading(g, self.activation_sample) for _, g in grads]
        layers = tuple(i for i, _ in grads)
        raw.grad_layers += layers
        if raw.histogram:
            raw.keep_views(_GRADIENTS, layers, *spreads(parts))
            if copy:
                raw.copy_views()
        raw.grad_counts += [(g.numel(), part.numel()) for (_, g), part in zip(grads, parts)]
        if copy:  # a hook's: normed now, while the gradient is at hand
            raw.norms += _norms(parts)
        else:  # normed with the parameters, in one call (_measure_parameters)
            raw.grad_parts = parts

    @torch.inference_mode()
    def end_step(self) -> None:
        """After the optimizer step: the update norms; then the step's results are
        packed into one vector that waits for flush()."""
        self._remove_hooks()
        raw = self._raw
        if raw is None:
            return
        if self._before is not None:
            torch._foreach_sub_(self._before, self._params)  # −Δw: the same norm
            raw.update_norms = _fast_norms(self._before)
            raw.norm_sources += self._before
        self._before = None
        raw.pack()
        self._urgent = self._urgent or raw.nonfinite
        self._pending.append(raw)
        self._raw = None

    def flush(self, until: int | None = None, *, only_if_due: bool = False) -> ProbeReport:
        """Copy the pending steps to the host (one transfer), derive the statistics,
        update the history and let the doctor look. Returns what is new. Steps from
        `until` on (0-based, as begin_step numbers them) were undone — a divergence
        went back to earlier weights — and are dropped unmeasured.

        `only_if_due`: keep the steps, and return nothing new, until flush_every_s
        has passed since the last flush (FLUSH_EVERY_S says why) or a kept step
        measured a value that is not finite. The doctor still examines each
        report's steps on their own, in order, so its alerts do not depend on when
        flushes happen, nor on the machine's speed."""
        pending = self._pending
        if until is not None:
            pending = self._pending = [raw for raw in pending if raw.step < until]
        elif only_if_due and not self._urgent and len(pending) < MAX_PENDING and \
                time.perf_counter() - self._flushed_at < self.flush_every_s:
            if pending and (not self._report_ends or self._report_ends[-1] < len(pending)):
                self._report_ends.append(len(pending))
            return self._nothing_new()
        ends = sorted({end for end in self._report_ends if end < len(pending)} | {len(pending)})
        self._report_ends, self._urgent = [], False
        if not pending:
            return self._nothing_new()
        self._flushed_at = time.perf_counter()
        steps = np.array([raw.step for raw in pending], dtype=np.int64)
        histograms = self._histograms(pending)
        observed = {i: np.array([r for r, raw in enumerate(pending) if i in raw.activity])
                    for i in {i for raw in pending for i in raw.activity}}
        stats, measured = self._derive(pending)
        self._pending = []
        alerts: list[Alert] = []
        start = 0
        for end in ends:
            alerts += self._examine(steps[start:end], stats[start:end], measured[start:end],
                                    observed, end)
            start = end
        self._alerts.extend(alerts)
        return ProbeReport(tuple(self.layers), steps, stats, tuple(alerts), histograms)

    def _examine(self, steps: np.ndarray, stats: np.ndarray, measured: np.ndarray,
                 observed: dict[int, np.ndarray], end: int) -> list[Alert]:
        """Into the history, and past the doctor: the steps one report brought (the
        flushed rows before `end`). `observed` holds the flushed rows that measured
        each layer's units, for the dead-unit windows' fill as of that report."""
        self.history_buffer.extend(steps, stats)
        _, recent = self.history_buffer.recent(Doctor.HISTORY_NEEDED + len(steps))
        filled = []
        for i in range(len(self.layers)):
            rows = observed.get(i)
            total = self._window_fill.get(i, 0)
            filled.append(total if rows is None else
                          total - len(rows) + int(np.count_nonzero(rows < end)))
        return self.doctor.examine(Examination(
            tuple(self.layers), steps, stats, measured, recent, tuple(filled),
            self.dead_window))

    def _nothing_new(self) -> ProbeReport:
        return ProbeReport(tuple(self.layers), np.zeros(0, dtype=np.int64),
                           np.zeros((0, len(STATS), len(self.layers)), dtype=np.float64))

    # -- measuring
    def _capture(self, i: int, inputs: Any, output: Any) -> None:
        """Layer i produced `output`: note its shape, keep its sample for
        _measure_activations and its tensor for backward. Nothing is computed here
        (and little else: it runs for every layer of every sampled step)."""
        raw = self._raw
        if raw is None or not isinstance(output, torch.Tensor):
            return
        shape = output.shape
        if self._shapes[i] != shape:
            self._record_shapes(i, inputs, shape)
        role = self._roles[i]
        if role is _OVERWRITTEN:  # copy the sample now, before the next layer overwrites it
            with torch.no_grad():
                sample = _leading(output, self.activation_sample).clone()
            raw.parts.append((i, sample, 0, output.numel()))
        elif role is not _SAME_VALUES:
            # Sampled in _measure_activations, with every other layer at once.
            raw.parts.append((i, output, output._version, output.numel()))
        if output.grad_fn is None or role is _SAME_VALUES:
            if output.requires_grad:  # (a reshape's gradient has its input's norm)
                self.grad_layers.add(i)
            return
        self.grad_layers.add(i)
        if role is _PLAIN and raw.layer_by_layer:
            raw.outputs.append((i, output))  # for backward() to differentiate
        else:
            self._hook_gradient(i, output)

    def _hook_gradient(self, i: int, output: torch.Tensor) -> None:
        """Measure layer i's output gradient as backward passes: a hook on the node
        that made the output sees the gradient with respect to this output, even
        if a later layer overwrites it in place."""
        grad_fn = output.grad_fn
        # Only outputs autograd made come here: _capture returns early for the others,
        # and raw.outputs holds only what _capture put there.
        assert grad_fn is not None
        if output.output_nr < _MAX_OUTPUTS:  # (else: not measured)
            grad_fn.register_prehook(self._grad_hooks[i][output.output_nr])

    @torch.inference_mode()
    def _measure_activations(self, raw: _StepRaw) -> None:
        """Sum of squares, sum and non-zero count of every layer's sample at once
        (see _RowPlan), and which units of each activation layer fired, into `raw`
        (this sampled step's). Kept to few device ops: on a CPU each costs ~10 µs
        whatever its size."""
        parts, raw.parts = raw.parts, []
        if any(t._version != version for _, t, version, _ in parts):
            # Overwritten in place after all (a generic model's order surprised us):
            # this step cannot show those layers; from the next on they are copied.
            stale = {i for i, t, version, _ in parts if t._version != version}
            self._overwritten |= stale
            self._update_roles()
            parts = [entry for entry in parts if entry[0] not in stale]
            # Their gradients too: autograd would give those of the overwritten values.
            for i, out in raw.outputs:
                if i in stale:
                    self._hook_gradient(i, out)
            raw.outputs = [(i, out) for i, out in raw.outputs if i not in stale]
        if not parts:
            return
        if any(total == 0 for _, _, _, total in parts):  # empty outputs: nothing to show
            parts = [entry for entry in parts if entry[3]]
            if not parts:
                return
        sample = self.activation_sample
        samples = [_leading(t, sample) for _, t, _, _ in parts]
        raw.counts = [(total, part.numel()) for (_, _, _, total), part in zip(parts, samples)]
        plan = self._row_plan(samples[0], raw.counts)
        pieces = [piece for part, pad in zip(samples, plan.pads)
                  for piece in (part, pad) if piece is not None]
        same_dtype = all(part.dtype is plan.buffer.dtype for part in samples)
        rows = (torch.cat(pieces, out=plan.buffer) if same_dtype else torch.cat(pieces)
                ).view(-1, _ROW)  # (mixed precision: the cat promotes to one dtype)
        if rows.dtype in (torch.float16, torch.bfloat16):
            rows = rows.float()  # sums of 256 half-precision values lose counts
        raw.act_layers = tuple(i for i, _, _, _ in parts)
        if raw.histogram:
            self._keep_activations(raw, rows, plan)  # (before sign_ overwrites them)
        norms, sums, finite = _row_norms_and_sums(rows)
        raw.nonfinite = raw.nonfinite or not finite
        nonzero = torch.linalg.vector_norm(rows.sign_(), dim=1)  # √(count of ±1)
        raw.rows = (norms, sums, nonzero)
        raw.row_starts = plan.starts
        for (i, _, _, _), part in zip(parts, samples):
            shape = self._shapes[i]
            if self.layers[i].activation and len(shape) >= 2:
                # Each unit's (channel's or feature's) largest value: it fired if > 0.
                units = part.view(-1, shape[1], math.prod(shape[2:]))
                raw.activity[i] = units.amax(dim=(0, 2))

    def _keep_activations(self, raw: _StepRaw, rows: torch.Tensor, plan: _RowPlan) -> None:
        """The histogram's spread of every layer's sample, taken from the matrix of
        samples in one op (the spreads' places cached per set of sizes)."""
        sizes = tuple(sampled for _, sampled in raw.counts)
        index, spreads = self._coder.activation_index(sizes, plan.starts, _ROW, rows.device)
        raw.keep_histogram(_ACTIVATIONS, raw.act_layers,
                           rows.view(-1).index_select(0, index), spreads)

    def _row_plan(self, first: torch.Tensor, counts: list[tuple[int, int]]) -> _RowPlan:
        sizes = tuple(sampled for _, sampled in counts)
        return _kept(self._row_plans, (sizes, first.dtype, first.device),
                     lambda: _RowPlan.for_sizes(sizes, first))

    def _measure_parameters(self, raw: _StepRaw,
                            groups: Sequence[Sequence[torch.Tensor]]) -> None:
        """Norms of every parameter tensor and its gradient (one fused call), and a
        copy of the weights (one fused call) to measure the optimizer's update.
        `groups` holds each layer's parameters, looked up each step:
        load_state_dict(assign=True) and the like put new tensors in the layers."""
        self._params = params = [p for group in groups for p in group]
        if not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        outputs, raw.grad_parts = raw.grad_parts, []
        # One fused call for the output gradients (spec models') and the parameters;
        # pack() checks them all for overflow at once.
        raw.norm_sources = sources = outputs + params + grads
        norms = _fast_norms(sources)
        raw.norms += norms[:len(outputs)]
        raw.weight_norms = norms[len(outputs):len(outputs) + len(params)]
        raw.grad_norms = norms[len(outputs) + len(params):]
        raw.param_counts = tuple(len(group) for group in groups)
        if raw.histogram:
            raw.keep_views(_WEIGHTS, self._tensor_layers(raw.param_counts),
                           *self._weight_spreads.views(params))
        self._before = self._weights_before.copy(params)

    def _tensor_layers(self, param_counts: tuple[int, ...]) -> tuple[int, ...]:
        """The layer of each parameter tensor, for `param_counts` tensors per layer
        with parameters (kept: it changes only when the layers' tensors do)."""
        if self._tensor_layers_of[0] != param_counts:
            self._tensor_layers_of = (param_counts, tuple(
                layer for layer, n in zip(self._param_layers, param_counts) for _ in range(n)))
        return self._tensor_layers_of[1]

    def _histograms(self, pending: list[_StepRaw]) -> Histograms:
        """Pending histogrammed steps' kept samples → the fixed bins on the device,
        all steps at once → host (one copy), as uint16 (at most HISTOGRAM_VALUES
        values per histogram). A reshape shows its input's values, like its
        statistics."""
        pending = [raw for raw in pending if raw.histogram]
        cells = self._coder.bins([(tuple(raw.hist_layout), raw.hist_values)
                                  for raw in pending])
        for i in sorted(self._same_values):
            cells[:, :_WEIGHTS, i] = cells[:, :_WEIGHTS, i - 1]
        return Histograms(np.array([raw.step for raw in pending], dtype=np.int64), cells)

    def _derive(self, pending: list[_StepRaw]) -> tuple[np.ndarray, np.ndarray]:
        """Pending steps → host → statistics, vectorised over the steps, and which
        of them were measured (steps × MEASURED × layers: a NaN that was measured
        is news; one that was not is only a gap).

        Every step of a model packs the same layout, so the pending vectors stack
        into one matrix: one device op and one copy per flush, then numpy.
        """
        # float64: a norm of finite float32 values may exceed float32's range.
        out = np.full((len(pending), len(STATS), len(self.layers)), np.nan, dtype=np.float64)
        measured = np.zeros((len(pending), len(MEASURED), len(self.layers)), dtype=bool)
        groups: dict[_Layout, list[int]] = {}
        vectors: list[torch.Tensor] = []
        for row, raw in enumerate(pending):
            # end_step packs every step before it joins the pending ones.
            assert raw.layout is not None and raw.vector is not None
            groups.setdefault(raw.layout, []).append(row)
            vectors.append(raw.vector)
        for layout, rows in groups.items():
            matrix = torch.stack([vectors[r].double() for r in rows]).cpu().numpy()
            self._fill(out, measured, np.array(rows), layout, matrix)
        dead = STAT_INDEX["dead"]
        for i in sorted({i for raw in pending for i in raw.activity}):
            rows = [r for r, raw in enumerate(pending) if i in raw.activity]
            maxima = torch.stack([pending[r].activity[i] for r in rows]).float().cpu().numpy()
            out[rows, dead, i] = self._dead_fractions(i, maxima > 0)
        return out, measured

    def _fill(self, out: np.ndarray, measured: np.ndarray, rows: np.ndarray, layout: _Layout,
              m: np.ndarray) -> None:
        plan = _kept(self._fill_plans, layout,
                     lambda: _FillPlan.of(layout, self._param_layers))
        at = rows[:, None]
        measured[at, 0, plan.act] = True
        measured[at, 1, plan.grad] = True
        n_rows, col = layout.n_rows, 0
        if len(layout.act_layers):
            def per_layer(block: np.ndarray) -> np.ndarray:
                return np.add.reduceat(block, layout.row_starts, axis=1)

            sumsq = per_layer(m[:, :n_rows] ** 2)
            total = per_layer(m[:, n_rows:2 * n_rows])
            nonzero = per_layer(np.rint(m[:, 2 * n_rows:3 * n_rows] ** 2))
            sampled = plan.sampled
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                mean = total / sampled
                # var = (Σx² − n·mean²) / (n − 1): no second pass over the activations.
                var = (sumsq - sampled * mean * mean) / plan.dof
                std = np.where(np.isfinite(var), np.sqrt(np.maximum(var, 0)), var)
                zeros = 1.0 - nonzero / sampled
                norm = np.sqrt(sumsq * plan.batch_scale)  # the whole batch's norm
            for stat, values in ((_ACT_NORM, norm), (_ACT_MEAN, mean), (_ACT_STD, std),
                                 (_ACT_ZEROS, zeros)):
                out[at, stat, plan.act] = values
            col = 3 * n_rows
        n_grad = len(layout.grad_layers)
        if n_grad:
            out[at, _GRAD_NORM, plan.grad] = m[:, col:col + n_grad] * plan.grad_scale
            col += n_grad
        for i in sorted(self._same_values):  # a reshape shows its input's values
            out[rows, :4, i] = out[rows, :4, i - 1]
            out[rows, _GRAD_NORM, i] = out[rows, _GRAD_NORM, i - 1]
            measured[rows, :2, i] = measured[rows, :2, i - 1]
        n_params = plan.n_params
        if n_params:
            # Per-tensor norms → per-layer norms (a layer's weight and bias together).
            def layer_norms(first: int) -> np.ndarray:
                return np.sqrt(np.add.reduceat(m[:, first:first + n_params] ** 2,
                                               plan.tensor_starts, axis=1))

            layers = plan.param_layers
            weight = layer_norms(col)
            out[at, _WEIGHT_NORM, layers] = weight
            out[at, _WEIGHT_GRAD_NORM, layers] = layer_norms(col + n_params)
            measured[at, 2, layers] = True
            if m.shape[1] >= col + 3 * n_params:
                update = layer_norms(col + 2 * n_params)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[at, _UPDATE_RATIO, layers] = update / np.maximum(weight, 1e-12)

    def _dead_fractions(self, i: int, active: np.ndarray) -> np.ndarray:
        """Layer i's units fired as `active` says (batches × units) in its next
        sampled batches: the fraction of units that, after each of them, have not
        fired in any of the last dead_window batches (or any batch yet, before there
        are that many). Each unit keeps one number, the batches since it last fired."""
        count, units = active.shape
        since = self._since.get(i)
        if since is None or len(since) != units:
            since = np.zeros(units, dtype=np.int64)
            self._window_fill[i] = 0
        filled = self._window_fill[i]
        batch = np.arange(count)[:, None]
        last = np.maximum.accumulate(np.where(active, batch, -1), axis=0)
        idle = np.where(last >= 0, batch - last, since[None, :] + batch + 1)
        window = np.minimum(filled + 1 + np.arange(count), self.dead_window)
        self._since[i] = idle[-1]
        self._window_fill[i] = filled + count
        return np.count_nonzero(idle >= window[:, None], axis=1) / units

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

    # -- feature maps
    def snapshot(self, x: torch.Tensor) -> Snapshot:
        """`x` through the model without gradients: every map-shaped output and the
        first conv layer's filters, as numpy arrays (see feature_maps)."""
        return take_snapshot(self.model, self._modules, x)

    # -- hooks (models that are not a plain nn.Sequential, and overwritten outputs)
    def _forward_hook(self, i: int):
        def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
            self._capture(i, inputs, output)

        return hook

    def _record_shapes(self, i: int, inputs: Any, shape: torch.Size) -> None:
        self._shapes[i] = tuple(shape)
        info = self.layers[i]
        if isinstance(inputs, tuple):
            inputs = inputs[0] if inputs else None
        first = inputs if isinstance(inputs, torch.Tensor) else None
        self.layers[i] = LayerInfo(info.index, info.name, info.kind, info.has_params,
                                   info.activation,
                                   tuple(first.shape) if first is not None else (),
                                   tuple(shape))

    def _grad_hook(self, i: int) -> tuple:
        """Layer i's gradient pre-hooks, one per output position of the node that
        made its output. Each norms the first images of the gradient at once,
        while it is still in the cache (a norm of a whole batch's gradients costs
        memory traffic, not arithmetic), and keeps only that number."""
        def hook_for(position: int):
            def hook(grad_outputs: tuple) -> None:
                if self._raw is not None and position < len(grad_outputs):
                    self._measure_gradients(self._raw, [(i, grad_outputs[position])])

            return hook

        return tuple(hook_for(position) for position in range(_MAX_OUTPUTS))



# Above this many bytes of layer output gradients a sampled step measures them with
# hooks as backward passes instead of holding them all to its end (Probe.backward).
GRAD_CAPTURE_BYTES = 64 * 2**20

# Output positions of an autograd node a layer's output can hold (ops that return
# several tensors: max/min with indices, split, unbind…).
_MAX_OUTPUTS = 8

# How _capture treats a layer's output.
_PLAIN = "plain"
_SAME_VALUES = "same values"  # a reshape: its input's statistics, not measured again
_OVERWRITTEN = "overwritten"  # the next layer works in place: copy, and hook the gradient

# The kinds of histograms, as distributions.KINDS orders them.
_ACTIVATIONS, _GRADIENTS, _WEIGHTS = (KINDS.index(kind)
                                      for kind in ("activations", "gradients", "weights"))

# The statistics _fill writes, by their place in STATS.
(_ACT_NORM, _ACT_MEAN, _ACT_STD, _ACT_ZEROS, _GRAD_NORM, _WEIGHT_NORM, _WEIGHT_GRAD_NORM,
 _UPDATE_RATIO) = (STAT_INDEX[name] for name in (
    "act_norm", "act_mean", "act_std", "act_zeros", "grad_norm", "weight_norm",
    "weight_grad_norm", "update_ratio"))

_T = TypeVar("_T")

# Width of the rows that _measure_activations lays every layer's sample into.
_ROW = 256


@dataclass(frozen=True, eq=False)
class _RowPlan:
    """How one step's layer samples become rows of one matrix: each sample is
    padded with zeros to a whole number of rows (zeros change no sum and count as
    no non-zero); layer l owns rows starts[l] to starts[l + 1] (the host adds
    them up per layer when it derives the statistics)."""

    pads: tuple[torch.Tensor | None, ...]
    starts: tuple[int, ...]
    # The matrix's storage, kept from step to step (its rows are reduced within the
    # step): a fresh one each sampled step costs an allocation of its whole size.
    buffer: torch.Tensor

    @classmethod
    def for_sizes(cls, sizes: tuple[int, ...], like: torch.Tensor) -> _RowPlan:
        rows = [-(-size // _ROW) for size in sizes]
        pads = tuple(like.new_zeros(n * _ROW - size) if n * _ROW > size else None
                     for size, n in zip(sizes, rows))
        return cls(pads, tuple(int(v) for v in np.cumsum([0] + rows[:-1])),
                   like.new_empty(sum(rows) * _ROW))


@dataclass(frozen=True)
class _Layout:
    """Where each number sits in a packed step vector (see _StepRaw.pack): steps of
    one model share it, so flush() stacks their vectors into one matrix and reads
    its columns by this."""

    act_layers: tuple[int, ...]  # layers whose activation samples were measured
    counts: tuple[tuple[int, int], ...]  # (values, sampled) of each of them
    row_starts: tuple[int, ...]  # first row of each of them in the samples' matrix
    n_rows: int  # rows of that matrix: the vector starts with ‖x‖, Σx, √non-zeros per row
    grad_layers: tuple[int, ...]  # then one output-gradient norm per layer, in this order
    grad_counts: tuple[tuple[int, int], ...]  # (values, sampled) of each gradient
    param_counts: tuple[int, ...]  # then per-tensor weight, gradient and update norms


@dataclass(frozen=True, eq=False)
class _FillPlan:
    """The numpy arrays _fill indexes and scales by for one _Layout, made once per
    layout: a flush of one step is otherwise mostly the making of them."""

    act: np.ndarray  # (1 × layers) the layers whose activations were measured
    sampled: np.ndarray  # values sampled of each
    dof: np.ndarray  # their degrees of freedom, ≥ 1
    batch_scale: np.ndarray  # values over values sampled: a sample's Σx² → the batch's
    grad: np.ndarray  # (1 × layers) the layers whose output gradients were measured
    grad_scale: np.ndarray  # √(values / values sampled) of each gradient
    n_params: int  # parameter tensors
    tensor_starts: np.ndarray  # each layer's first parameter tensor
    param_layers: np.ndarray  # (1 × layers) the layers with parameters

    @classmethod
    def of(cls, layout: _Layout, param_layers: list[int]) -> _FillPlan:
        count = np.array([c for c, _ in layout.counts], dtype=np.float64)
        sampled = np.array([s for _, s in layout.counts], dtype=np.float64)
        grad_counts = np.array(layout.grad_counts, dtype=np.float64).reshape(-1, 2)
        return cls(np.array(layout.act_layers, dtype=np.int64)[None, :], sampled,
                   np.maximum(sampled - 1, 1), count / np.maximum(sampled, 1),
                   np.array(layout.grad_layers, dtype=np.int64)[None, :],
                   np.sqrt(grad_counts[:, 0] / grad_counts[:, 1]),
                   sum(layout.param_counts),
                   np.cumsum([0, *layout.param_counts[:-1]]).astype(np.int64),
                   np.array(param_layers, dtype=np.int64)[None, :])


@dataclass
class _StepRaw:
    """One sampled step's device-side results, before anything is copied off.

    pack() turns them into one vector plus a layout describing it; steps of the
    same model share the layout, so flush() stacks them into one matrix.
    """

    step: int
    histogram: bool = True  # this step's distributions are measured (Probe.histogram_every)
    layer_by_layer: bool = False  # forward ran a spec model's layers itself
    nonfinite: bool = False  # a float32 norm was not finite (an overflow, a NaN or an inf)
    outputs: list[tuple[int, torch.Tensor]] = field(default_factory=list)  # until backward
    # Until measured: (layer, output or its copied sample, its version, its size).
    parts: list[tuple[int, torch.Tensor, int, int]] = field(default_factory=list)
    counts: list[tuple[int, int]] = field(default_factory=list)  # (values, sampled) per layer
    rows: tuple[torch.Tensor, ...] = ()  # per row of the samples: ‖x‖, Σx, √non-zeros
    row_starts: tuple[int, ...] = ()  # first row of each layer in act_layers
    act_layers: tuple[int, ...] = ()
    norms: list[torch.Tensor] = field(default_factory=list)  # output-gradient norms
    grad_parts: list[torch.Tensor] = field(default_factory=list)  # until normed with the weights
    # The tensors of the last norms (outputs', weights', gradients', updates'), kept
    # until pack() has checked those float32 norms for overflow (see _fast_norms).
    norm_sources: list[torch.Tensor] = field(default_factory=list)
    grad_layers: list[int] = field(default_factory=list)  # in backward order
    grad_counts: list[tuple[int, int]] = field(default_factory=list)  # (values, sampled)
    param_counts: tuple[int, ...] = ()  # parameter tensors per layer with parameters
    activity: dict[int, torch.Tensor] = field(default_factory=dict)  # unit maxima
    weight_norms: list[torch.Tensor] = field(default_factory=list)  # per parameter tensor
    grad_norms: list[torch.Tensor] = field(default_factory=list)
    update_norms: list[torch.Tensor] = field(default_factory=list)
    # Histogram samples kept until flush (HistogramCoder.bins): copies of values, what
    # they are, and views of values to copy in one cat (copy_views) before they change.
    hist_values: list[torch.Tensor] = field(default_factory=list)
    hist_layout: list[Segment] = field(default_factory=list)
    hist_views: list[torch.Tensor] = field(default_factory=list)
    vector: torch.Tensor | None = None
    layout: _Layout | None = None

    def keep_histogram(self, kind: int, layers: tuple[int, ...], values: torch.Tensor,
                       sizes: tuple[int, ...]) -> None:
        """Keep `values` (a copy: spreads of layers' samples, `sizes` each) to bin at flush."""
        self.copy_views()  # (the values follow the layout's order)
        self.hist_values.append(values)
        self.hist_layout.append((kind, layers, sizes))

    def keep_views(self, kind: int, layers: tuple[int, ...], views: list[torch.Tensor],
                   sizes: tuple[int, ...]) -> None:
        """Keep spreads of layers' values as views, copied by the next copy_views:
        one cat for several kinds' (on a CPU each op costs µs whatever its size)."""
        self.hist_views += views
        self.hist_layout.append((kind, layers, sizes))

    def copy_views(self) -> None:
        if self.hist_views:
            self.hist_values.append(torch.cat(self.hist_views))
            self.hist_views = []

    def pack(self) -> None:
        scalars = self.norms + self.weight_norms + self.grad_norms + self.update_norms
        parts = list(self.rows)
        if scalars:
            parts.append(self._checked(scalars))
        self.vector = torch.cat(parts) if parts else torch.zeros(0)
        n_rows = len(self.rows[0]) if self.rows else 0
        self.layout = _Layout(self.act_layers, tuple(self.counts), self.row_starts, n_rows,
                              tuple(self.grad_layers), tuple(self.grad_counts),
                              self.param_counts)
        self.parts, self.outputs = [], []
        self.rows = ()
        self.norms, self.weight_norms, self.grad_norms, self.update_norms = [], [], [], []
        self.grad_parts, self.norm_sources = [], []

    def _checked(self, scalars: list[torch.Tensor]) -> torch.Tensor:
        """The step's norms as one vector; the last len(norm_sources) of them, taken
        in float32 by _fast_norms, taken again in float64 if any norm is not finite
        (an overflow or a NaN: the second pass tells them apart). One check per step
        for all of them: on a CPU each op costs µs whatever its size."""
        stacked = torch.stack(scalars)
        sources = self.norm_sources
        if (not sources or stacked.device.type != "cpu"
                or math.isfinite(float(stacked.sum()))):
            return stacked
        self.nonfinite = True
        exact = torch._foreach_norm(sources, 2, dtype=torch.float64)
        checked = scalars[:len(scalars) - len(sources)]
        return torch.stack([s.double() for s in checked] + list(exact))


def _kept(cache: dict[Any, _T], key: Any, make: Callable[[], _T]) -> _T:
    """cache[key], made by `make` the first time. A plan depends on the batch's
    size, and sizes come and go (the last batch of an epoch): a few are kept."""
    value = cache.get(key)
    if value is None:
        if len(cache) > 16:
            cache.clear()
        value = cache[key] = make()
    return value


def _norms(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """2-norms of `tensors` (one fused call) that never overflow for finite values.

    A float32 sum of squares overflows for values above ~1e19 (a LeNet at lr 50
    read "inf" for finite activations of 1e23). On a GPU the reduction accumulates
    in float64 at no extra launch; on a CPU float64 costs ~3× the float32 pass, so
    the float32 norms are checked — reading a CPU tensor waits for nothing — and
    computed again in float64 only when one overflowed (or a value was not finite)."""
    norms = _fast_norms(tensors)
    if (not norms or tensors[0].device.type != "cpu"
            or bool(torch.isfinite(torch.stack(norms)).all())):
        return norms
    return list(torch._foreach_norm(tensors, 2, dtype=torch.float64))


def _fast_norms(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """2-norms of `tensors` in one fused call: float64 on a GPU, float32 on a CPU,
    unchecked: _norms checks them at once, _StepRaw.pack a step's all together, and
    both take them again in float64 where one overflowed."""
    if not tensors:
        return []
    if tensors[0].device.type != "cpu":
        return list(torch._foreach_norm(tensors, 2, dtype=torch.float64))
    return list(torch._foreach_norm(tensors))


class _WeightCopies:
    """The weights before the optimizer's step, copied into tensors kept from step
    to step (a fresh copy each sampled step costs an allocation per tensor)."""

    def __init__(self) -> None:
        self._copies: list[torch.Tensor] = []
        self._key: tuple = ()

    def copy(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        key = tuple((p.shape, p.dtype, p.device) for p in params)
        if key != self._key:
            self._copies = [torch.empty_like(p) for p in params]
            self._key = key
        torch._foreach_copy_(self._copies, params)
        return self._copies


def _row_norms_and_sums(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Each row's ‖x‖ and Σx, without overflow for finite values (as _norms), and
    False if a float32 norm was not finite (checked on a CPU only: a GPU's are
    float64 and would make the check wait). Only the norms need checking: finite
    norms mean no |x| above ~1.8e19, so no sum of 256 of them overflows; a NaN or
    an infinity anywhere makes its row's norm one."""
    if rows.device.type != "cpu":
        return (torch.linalg.vector_norm(rows, dim=1, dtype=torch.float64),
                rows.sum(dim=1, dtype=torch.float64), True)
    norms, sums = torch.linalg.vector_norm(rows, dim=1), rows.sum(dim=1)
    if math.isfinite(float(norms.sum())):
        return norms, sums, True
    return (torch.linalg.vector_norm(rows, dim=1, dtype=torch.float64),
            rows.sum(dim=1, dtype=torch.float64), False)


def _leading(t: torch.Tensor, images: int) -> torch.Tensor:
    """The values of t's first `images` entries along the batch dimension, flat and
    detached (call under no_grad). For a contiguous tensor those are its first
    values: one op (as_strided) where a slice and a reshape would be two, at ~5 µs
    each."""
    batch = t.shape[0] if t.dim() > 1 else 0
    values = t.numel() // batch * images if batch > images else t.numel()
    if t.is_contiguous():
        return t.as_strided((values,), (1,))
    return (t[:images] if batch > images else t).reshape(-1)


def _put_gradients(params: Sequence[torch.Tensor], grads: tuple) -> None:
    """Put torch.autograd.grad's parameter gradients where backward() would have:
    into .grad, added to any gradient already there, in the parameter's layout."""
    with torch.no_grad():
        for param, grad in zip(params, grads):
            if grad is None:
                continue
            if param.grad is None:
                if grad.stride() != param.stride():
                    grad = torch.empty_like(param).copy_(grad)
                param.grad = grad
            else:
                param.grad += grad


def _has_hooks(module: nn.Module) -> bool:
    """Whether calling `module` would run hooks around its forward (its own or
    global ones): then a probe must call the module rather than its layers."""
    from torch.nn.modules import module as torch_module

    return bool(module._forward_hooks or module._forward_pre_hooks
                or module._backward_hooks or module._backward_pre_hooks
                or torch_module._global_forward_hooks
                or torch_module._global_forward_pre_hooks
                or torch_module._global_backward_hooks
                or torch_module._global_backward_pre_hooks)


