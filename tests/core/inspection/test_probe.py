"""Layer inspection: the Probe's hooks and statistics, its ring buffer, feature-map
snapshots, the Trainer integration, the training doctor's alerts, and the number
formatting the inspector table shares with the CLI.

Statistics are checked against hand computations (a 2×2 linear layer whose outputs
are worked out by hand) and against plain PyTorch on the same model (retained
outputs and gradients, parameter copies taken around the optimizer step). Every
alert is provoked on purpose; thresholds are referenced through the module's
constants, never restated as numbers.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import math
import types
import weakref
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from netexplorer.core import inspection
from netexplorer.core.formatting import engineering, percent
from netexplorer.core.inspection import (
    ACTIVATION_SAMPLE,
    DEAD_THRESHOLD,
    DEAD_WINDOW,
    EXPLODING_FACTOR,
    MIN_HISTORY,
    RECENT,
    STAT_INDEX,
    STATS,
    UPDATE_RATIO_HIGH,
    UPDATE_RATIO_LOW,
    VANISHING_RATIO,
    LayerInfo,
    Probe,
    ProbeReport,
    RingBuffer,
    probe_layers,
)
from netexplorer.core.inspection import doctor as doctor_module
from netexplorer.core.inspection import probe as probe_module
from netexplorer.core.inspection.distributions import HISTOGRAM_VALUES, KINDS, RAW_CODES
from netexplorer.core.presets import get_preset
from netexplorer.core.specs import ModelSpec, build_model, summarize
from netexplorer.core.training import PausedReport, StepReport, Trainer
from tests.core.trainkit import (
    TINY,
    TINY_DROPOUT,
    alerts_of,
    assert_same_weights,
    config,
    drive,
    finished,
    layer,
    probe_step,
    probed_trainer,
    steps_of,
    stop_at,
    train,
)

LENET = get_preset("lenet")
# A conv net for the 1×8×8 digits whose ReLU works in place.
INPLACE_CONV = ModelSpec("inplace-conv", (1, 8, 8), (
    layer("conv2d", "conv1", out_channels=4, kernel_size=3),
    layer("relu", "relu1", inplace=True),
    layer("flatten", "flatten"),
    layer("linear", "fc1", out_features=10),
))
PARAM_STATS = ("weight_norm", "weight_grad_norm", "update_ratio")


# ----------------------------------------------------------------------- helpers


def lenet(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return build_model(LENET)


def images(n: int, shape: tuple[int, ...] = (1, 32, 32), seed: int = 0
           ) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randint(0, 10, (n,), generator=g)


def hook_count(model: nn.Module) -> int:
    """Module hooks of every kind registered anywhere in the model."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(getattr(m, "_backward_pre_hooks", {})) for m in model.modules())


def tensor_hooks(t: torch.Tensor) -> int:
    return len(t._backward_hooks or {})


def forward_keeping(model: nn.Sequential, x: torch.Tensor, retain: bool = True
                    ) -> list[torch.Tensor]:
    """Each layer's output (the probe's hooks fire as usual), gradients retained."""
    outputs = []
    for _, module in model.named_children():
        x = module(x)
        if retain and x.requires_grad:
            x.retain_grad()
        outputs.append(x)
    return outputs


def stat(report: ProbeReport, name: str, layer_name: str | None = None) -> np.ndarray:
    """report's statistic over its steps, for one layer (steps × layers without)."""
    values = report.stats[:, STAT_INDEX[name], :]
    if layer_name is None:
        return values
    return values[:, [info.name for info in report.layers].index(layer_name)]


def tensors_in(obj, seen: set[int] | None = None):
    """Every tensor reachable from obj's attributes and containers — except the
    model's own modules and parameters, and functions (the hooks' closures)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, (nn.Module, nn.Parameter, types.FunctionType,
                                           types.MethodType, str, bytes, np.ndarray)):
        return
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from tensors_in(key, seen)
            yield from tensors_in(value, seen)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for item in obj:
            yield from tensors_in(item, seen)
    elif hasattr(obj, "__dict__"):
        yield from tensors_in(vars(obj), seen)


def assert_numpy_only(report: ProbeReport) -> None:
    assert not list(tensors_in(report))
    assert isinstance(report.steps, np.ndarray) and report.steps.dtype.kind == "i"
    assert isinstance(report.stats, np.ndarray) and report.stats.dtype.kind == "f"
    assert isinstance(report.alerts, tuple)


def kinds(alerts) -> list[tuple[str, str]]:
    return [(a.kind, a.layer) for a in alerts]


def of_kind(alerts, kind: str) -> list:
    """The alerts of one kind; "nonfinite" stands for both NaN and overflow."""
    kinds = ("nan", "overflow") if kind == "nonfinite" else (kind,)
    return [a for a in alerts if a.kind in kinds]


def sum_loss(output: torch.Tensor, _target=None) -> torch.Tensor:
    return output.sum()


# ------------------------------------------------------------ attaching, detaching


def test_probe_watches_every_layer_of_a_spec_model():
    model = lenet()
    probe = Probe(model)
    assert [info.name for info in probe.layers] == [spec.name for spec in LENET.layers]
    assert [info.kind for info in probe.layers] == [spec.kind for spec in LENET.layers]
    assert [info.index for info in probe.layers] == list(range(len(LENET.layers)))
    assert [info.has_params for info in probe.layers] == \
        [spec.kind in ("conv2d", "linear") for spec in LENET.layers]
    assert [info.activation for info in probe.layers] == \
        [spec.kind == "relu" for spec in LENET.layers]
    assert not probe.attached and hook_count(model) == 0  # nothing until a sampled step
    report = probe_step(probe, model, *images(2), None, 0)
    assert probe.grad_layers == set(range(len(probe.layers)))
    assert np.isfinite(stat(report, "act_norm")).all()
    assert np.isfinite(stat(report, "grad_norm")).all()


class Block(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x))


class Nested(nn.Module):
    """Not a spec model: layers inside blocks inside Sequentials."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(Block(1, 4), Block(4, 3))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))

    def forward(self, x):
        return self.head(self.features(x))


def test_probe_watches_the_leaf_modules_of_any_module():
    torch.manual_seed(0)
    model = Nested()
    probe = Probe(model)
    names = ["features.0.conv", "features.0.act", "features.1.conv", "features.1.act",
             "head.0", "head.1"]
    assert [info.name for info in probe.layers] == names
    assert [name for name, _ in probe_layers(model)] == names
    assert [info.kind for info in probe.layers] == ["conv2d", "relu", "conv2d", "relu",
                                                    "flatten", "linear"]
    report = probe_step(probe, model, *images(2, (1, 8, 8)), None, 0)
    assert [info.output_shape for info in probe.layers] == \
        [(2, 4, 8, 8), (2, 4, 8, 8), (2, 3, 8, 8), (2, 3, 8, 8), (2, 192), (2, 10)]
    assert probe.layers[0].input_shape == (2, 1, 8, 8)
    assert np.isfinite(stat(report, "act_norm")).all()
    assert np.isfinite(stat(report, "grad_norm")).all()
    with_params = [0, 2, 5]
    assert np.isfinite(stat(report, "weight_norm")[0, with_params]).all()
    # The flatten shows the values it reshapes.
    assert stat(report, "act_norm", "head.0") == pytest.approx(
        stat(report, "act_norm", "features.1.act"))
    assert hook_count(model) == 0


def test_bad_probes_are_refused():
    with pytest.raises(ValueError, match="at least 1"):
        Probe(lenet(), every=0)
    with pytest.raises(ValueError, match="no layers"):
        Probe(nn.Module())


class Boom(RuntimeError):
    pass


def raise_boom(*_):
    raise Boom("a layer failed")


@pytest.mark.parametrize("make", [lenet, Nested], ids=["sequential", "generic"])
def test_a_failing_forward_leaves_no_hook_behind(make):
    """Hooks exist only while a generic model's sampled forward runs (a spec
    model's never has any), even when that forward fails."""
    torch.manual_seed(0)
    model = make()
    clean = copy.deepcopy(model)
    x = images(3, (1, 32, 32) if make is lenet else (1, 8, 8))[0]
    last = probe_layers(model)[-1][1]
    failing = last.register_forward_pre_hook(raise_boom)
    with Probe(model) as probe:
        probe.begin_step(0)
        with pytest.raises(Boom):
            probe.forward(x)
        assert not probe.attached
        assert hook_count(model) == 1  # only the test's own
    failing.remove()
    assert hook_count(model) == 0
    assert not nn.modules.module._global_forward_hooks
    after = model(x)
    assert tensor_hooks(after) == 0 and after.grad_fn is not None
    assert torch.equal(after, clean(x))
    after.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_a_spec_model_runs_its_layers_without_hooks():
    """nn.Sequential models are probed by calling their layers in turn: no hook
    at all, and the same output as the model's own forward."""
    model = lenet()
    clean = copy.deepcopy(model)
    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append(hook_count(model))
            return x

    model.add_module("spy", Spy())
    clean.add_module("spy", Spy())
    probe = Probe(model)
    x, y = images(4)
    probe.begin_step(0)
    out = probe.forward(x)
    assert seen == [0] and torch.equal(out, clean(x))
    probe.backward(nn.functional.cross_entropy(out, y))
    probe.end_step()
    assert np.isfinite(stat(probe.flush(), "act_norm")).all()


class HookSpy(nn.Sequential):
    """A Sequential that notes, on every training forward, how many module hooks
    are registered in it and how many tensor hooks its output carries."""

    def __init__(self, model: nn.Sequential) -> None:
        super().__init__(OrderedDict(model.named_children()))
        self.seen: list[tuple[int, int]] = []

    def forward(self, x):
        hooks = hook_count(self)
        out = super().forward(x)
        if self.training:
            self.seen.append((hooks, tensor_hooks(out)))
        return out


@pytest.mark.parametrize("every", [None, 1, 3])
def test_hooks_exist_only_during_sampled_steps(digits8, every):
    torch.manual_seed(0)
    model = HookSpy(build_model(TINY))
    probe = Probe(model, every=every) if every else None
    reports = drive(Trainer(model, digits8, config(epochs=1), probe=probe))
    assert finished(reports).status == "completed"
    n = len(model)
    # A subclass with its own forward is probed through hooks; gradients come from
    # the probe's backward pass, so outputs carry no tensor hooks.
    expected = [(n, 0) if every and step % every == 0 else (0, 0)
                for step in range(len(model.seen))]
    assert model.seen == expected
    assert hook_count(model) == 0


# ------------------------------------------------------------------- statistics


def test_activation_statistics_by_hand():
    """A 2×2 linear layer and a ReLU whose outputs are worked out by hand:
    x = (1, 1) → linear (3, −4) → relu (3, 0)."""
    linear = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, -4.0]]))
    model = nn.Sequential(OrderedDict(linear=linear, relu=nn.ReLU()))
    probe = Probe(model)
    report = probe_step(probe, model, torch.ones(1, 2), None, None, 0, loss_fn=sum_loss)
    expected = {  # (norm, mean, unbiased std, zeros)
        "linear": (5.0, -0.5, math.sqrt(24.5), 0.0),
        "relu": (3.0, 1.5, math.sqrt(4.5), 0.5),
    }
    for name, values in expected.items():
        got = [stat(report, s, name)[0] for s in ("act_norm", "act_mean", "act_std",
                                                   "act_zeros")]
        assert got == pytest.approx(values, rel=1e-6)
    # ∂(sum of relu)/∂relu = (1, 1); through the ReLU only the first unit passes.
    assert stat(report, "grad_norm", "relu")[0] == pytest.approx(math.sqrt(2))
    assert stat(report, "grad_norm", "linear")[0] == pytest.approx(1.0)
    # The weight's gradient is (1, 0) ⊗ (1, 1): norm √2; ‖W‖ = 5.
    assert stat(report, "weight_norm", "linear")[0] == pytest.approx(5.0)
    assert stat(report, "weight_grad_norm", "linear")[0] == pytest.approx(math.sqrt(2))
    assert stat(report, "dead", "relu")[0] == pytest.approx(0.5)
    assert np.isnan(stat(report, "dead", "linear")[0])
    for name in PARAM_STATS:  # the ReLU has no parameters
        assert np.isnan(stat(report, name, "relu")[0])
    assert probe.layers[0].input_shape == (1, 2) and probe.layers[0].output_shape == (1, 2)


@pytest.mark.parametrize("batch", [3, ACTIVATION_SAMPLE, 2 * ACTIVATION_SAMPLE + 3])
def test_activation_statistics_use_the_first_sample_images(batch):
    """Exact up to ACTIVATION_SAMPLE images; beyond, mean, std and zeros are those
    of the first ACTIVATION_SAMPLE images and the norm is scaled up to the batch."""
    model = lenet()
    probe = Probe(model)
    x, y = images(batch)
    report = probe_step(probe, model, x, y, None, 0)  # no optimizer: weights unchanged
    with torch.no_grad():
        outputs = forward_keeping(model, x, retain=False)  # the probe is off now
    for info, out in zip(probe.layers, outputs):
        part = out[:ACTIVATION_SAMPLE].double()
        if batch <= ACTIVATION_SAMPLE:
            assert part.numel() == out.numel()  # exact: the whole batch
        rms = float(part.norm()) / math.sqrt(part.numel())
        expected = {
            "act_norm": float(part.norm()) * math.sqrt(out.numel() / part.numel()),
            "act_mean": float(part.mean()),
            "act_std": float(part.std()),
            "act_zeros": float((part == 0).double().mean()),
        }
        for name, value in expected.items():
            assert stat(report, name, info.name)[0] == pytest.approx(
                value, rel=1e-4, abs=1e-5 * rms), (info.name, name)
        assert info.output_shape == tuple(out.shape)
    full = outputs[0].double().norm()
    assert stat(report, "act_norm", "conv1")[0] == pytest.approx(float(full), rel=0.5)


def test_shapes_include_the_batch_dimension():
    model = lenet()
    probe = Probe(model)
    probe_step(probe, model, *images(3), None, 0)
    rows = summarize(LENET).rows
    assert [(info.input_shape, info.output_shape) for info in probe.layers] == \
        [((3, *row.input_shape), (3, *row.output_shape)) for row in rows]
    probe_step(probe, model, *images(5), None, 1)  # a new batch size is followed
    assert probe.layers[0].input_shape == (5, 1, 32, 32)
    assert probe.layers[-1].output_shape == (5, 10)


def reference_gradients(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor
                        ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Plain PyTorch on a copy of the model: each layer's output gradient (retained)
    and each parameter's gradient."""
    model = copy.deepcopy(model)
    outputs = forward_keeping(model, x)
    nn.functional.cross_entropy(outputs[-1], y).backward()
    return [out.grad for out in outputs], [p.grad for p in model.parameters()]


class Reused(nn.Sequential):
    """A Sequential that runs one layer twice: named_children lists it once."""

    def __init__(self) -> None:
        layer = nn.Linear(6, 6)
        super().__init__(nn.Linear(4, 6), layer, nn.ReLU(), layer, nn.Linear(6, 3))


class Tied(nn.Module):
    """Two layers computing their weights from shared tensors (aliased gradients)."""

    def __init__(self) -> None:
        super().__init__()
        self.base = nn.Parameter(torch.randn(3, 4))
        self.delta = nn.Parameter(torch.randn(3, 4))
        self.bias = nn.Linear(3, 3)

    def forward(self, x):
        return self.bias(x @ (self.base + self.delta).T)


class SparseBag(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4, sparse=True)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.embed((x.abs() * 3).long().clamp(max=9)).mean(1))


class OwnParameter(nn.Sequential):
    """A Sequential with a parameter of its own, outside its layers."""

    def __init__(self) -> None:
        super().__init__(nn.Linear(4, 3))
        self.temperature = nn.Parameter(torch.full((1,), 2.0))


class OwnForward(nn.Sequential):
    """The layers of a Sequential, run by a forward of the instance's own."""

    def __init__(self) -> None:
        super().__init__(nn.Linear(4, 6), nn.ReLU(), nn.Linear(4, 3))
        self.forward = lambda x: self[2](x) + self[1](self[0](x)).sum(1, keepdim=True)


def with_model_backward_hook() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    model.seen = []
    model.register_full_backward_hook(lambda m, gi, go: m.seen.append(len(go)))
    return model


GRADIENT_CASES = {
    "lenet": (lenet, (1, 32, 32)),
    "reused layer": (Reused, (4,)),
    "tied weights": (Tied, (4,)),
    "sparse embedding": (SparseBag, (4,)),
    "own parameter": (OwnParameter, (4,)),
    "own forward": (OwnForward, (4,)),
    "model backward hook": (with_model_backward_hook, (4,)),
}


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")  # (no input needs grad)
@pytest.mark.parametrize("case", GRADIENT_CASES)
@pytest.mark.parametrize("capture", ["in the pass", "by hooks"])
def test_a_probed_step_computes_what_a_plain_step_does(case, capture, monkeypatch):
    """Output and every parameter's .grad as model(x) and loss.backward() give
    them, whichever way the probe takes output gradients (see Probe.backward)."""
    if capture == "by hooks":
        monkeypatch.setattr(probe_module, "GRAD_CAPTURE_BYTES", 0)
    make, shape = GRADIENT_CASES[case]

    def fresh() -> nn.Module:
        torch.manual_seed(0)
        return make()

    model, twin = fresh(), fresh()
    x = torch.randn(5, *shape)
    y = torch.randint(0, 3, (5,))

    def loss_fn(out, m):
        if case == "own parameter":  # used by the loss, outside what the layers compute
            return (out * m.temperature).sum()
        return sum_loss(out) if case == "lenet" else nn.functional.cross_entropy(out, y)

    expected_out = twin(x)
    loss_fn(expected_out, twin).backward()
    probe = Probe(model)
    probe.begin_step(0)
    out = probe.forward(x)
    torch.testing.assert_close(out, expected_out)
    probe.backward(loss_fn(out, model))
    probe.end_step()
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        assert p.grad is not None, name
        assert p.grad.is_sparse == q.grad.is_sparse, name
        torch.testing.assert_close(p.grad.to_dense(), q.grad.to_dense(), msg=name)
    if case == "tied weights":
        assert model.base.grad is not model.delta.grad
    if case == "model backward hook":
        assert model.seen == twin.seen == [1]
    report = probe.flush()
    assert np.isfinite(stat(report, "act_norm")).all()


def test_layers_replaced_after_the_probe_was_made_still_run():
    """The probe's forward runs the model as it is now: a replaced layer runs (it
    is not measured — the probe watches the layers it was made for)."""
    model = lenet()
    probe = Probe(model)
    model.fc3 = nn.Linear(84, 4)
    x, _ = images(3)
    probe.begin_step(0)
    out = probe.forward(x)
    assert out.shape == (3, 4) and torch.equal(out, model(x))
    probe.backward(out.sum())
    probe.end_step()
    assert model.fc3.weight.grad is not None


def test_parameters_loaded_by_assignment_are_followed():
    """load_state_dict(assign=True) puts new tensors in the layers: the next
    sampled step trains and measures those."""
    model = lenet()
    probe = Probe(model)
    x, y = images(3)
    probe_step(probe, model, x, y, None, 0)
    other = lenet(seed=1)
    model.load_state_dict(other.state_dict(), assign=True)
    report = probe_step(probe, model, x, y, None, 1)
    assert all(p.grad is not None for p in model.parameters())
    assert stat(report, "weight_norm", "fc1")[0] == pytest.approx(
        float(torch.cat([other.fc1.weight.flatten(), other.fc1.bias]).detach().norm()),
        rel=1e-5)


def test_half_precision_and_empty_outputs():
    """bfloat16 models flush (numpy has no bfloat16), and a layer whose output is
    empty shows nothing rather than breaking the statistics of the others."""

    class Empty(nn.Module):
        def forward(self, x):
            return x[:, :0]

    model = nn.Sequential(OrderedDict(fc=nn.Linear(4, 6), relu=nn.ReLU(), empty=Empty(),
                                      ))
    model.forward = lambda x: (model.relu(model.fc(x)), model.empty(x))[0]
    probe = Probe(model)
    report = probe_step(probe, model, torch.randn(3, 4), None, None, 0, loss_fn=sum_loss)
    assert np.isfinite(stat(report, "act_norm", "relu")).all()
    assert np.isnan(stat(report, "act_norm", "empty")).all()
    half = nn.Sequential(OrderedDict(fc=nn.Linear(4, 6), relu=nn.ReLU())).to(torch.bfloat16)
    probe = Probe(half)
    report = probe_step(probe, half, torch.randn(3, 4, dtype=torch.bfloat16), None, None, 0,
                        loss_fn=lambda out, _: out.float().sum())
    assert np.isfinite(stat(report, "act_norm")).all()
    assert 0 <= stat(report, "dead", "relu")[0] <= 1


@pytest.mark.parametrize("capture_bytes", [probe_module.GRAD_CAPTURE_BYTES, 0],
                         ids=["in the pass", "by hooks"])
def test_output_gradient_norms_match_autograd(capture_bytes, monkeypatch):
    monkeypatch.setattr(probe_module, "GRAD_CAPTURE_BYTES", capture_bytes)
    model = lenet()
    probe = Probe(model)
    x, y = images(4)
    outputs, _ = reference_gradients(model, x, y)
    report = probe_step(probe, model, x, y, None, 0)
    expected = [float(g.norm()) for g in outputs]
    assert stat(report, "grad_norm")[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("capture_bytes", [probe_module.GRAD_CAPTURE_BYTES, 0],
                         ids=["in the pass", "by hooks"])
def test_output_gradient_norms_use_the_first_sample_images(capture_bytes, monkeypatch):
    """Beyond ACTIVATION_SAMPLE images, like activations: ‖g[:sample]‖ scaled to
    the batch, √(batch/sample)."""
    monkeypatch.setattr(probe_module, "GRAD_CAPTURE_BYTES", capture_bytes)
    model = lenet()
    probe = Probe(model)
    batch = 3 * ACTIVATION_SAMPLE
    x, y = images(batch)
    outputs, _ = reference_gradients(model, x, y)
    report = probe_step(probe, model, x, y, None, 0)
    expected = [float(g[:ACTIVATION_SAMPLE].norm()) * math.sqrt(3) for g in outputs]
    assert stat(report, "grad_norm")[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("accumulated", [False, True])
def test_the_probes_backward_leaves_the_gradients_backward_would(accumulated):
    """The probe differentiates parameters and layer outputs in one pass; the
    parameters' .grad end as loss.backward() leaves them — added to any gradient
    already there."""
    model = lenet()
    x, y = images(5)
    _, expected = reference_gradients(model, x, y)
    probe = Probe(model)
    if accumulated:
        for p in model.parameters():
            p.grad = torch.ones_like(p)
        expected = [g + 1 for g in expected]
    probe.begin_step(0)
    probe.backward(nn.functional.cross_entropy(probe.forward(x), y))
    probe.end_step()
    for p, g in zip(model.parameters(), expected):
        assert p.grad.stride() == p.stride()
        torch.testing.assert_close(p.grad, g, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_parameter_norms_and_update_ratio_match_copies(optimizer):
    """Per layer, weight and bias together: ‖w‖, ‖∂loss/∂w‖ and ‖Δw‖/‖w‖."""
    model = lenet()
    probe = Probe(model)
    opt = (torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9) if optimizer == "sgd"
           else torch.optim.Adam(model.parameters(), lr=1e-3))
    layers = [info for info in probe.layers if info.has_params]
    copies = {}

    def take_copies():
        for info in layers:
            params = list(getattr(model, info.name).parameters())
            copies[info.name] = ([p.detach().clone() for p in params],
                                 [p.grad.clone() for p in params])

    def norm(tensors) -> float:
        return math.sqrt(sum(float(t.double().norm()) ** 2 for t in tensors))

    for step in range(2):  # the second step carries momentum
        report = probe_step(probe, model, *images(6, seed=step), opt, step,
                            before_update=take_copies)
        for info in layers:
            before, grads = copies[info.name]
            after = [p.detach() for p in getattr(model, info.name).parameters()]
            assert len(before) == 2  # weight and bias
            assert stat(report, "weight_norm", info.name)[0] == pytest.approx(
                norm(before), rel=1e-5)
            assert stat(report, "weight_grad_norm", info.name)[0] == pytest.approx(
                norm(grads), rel=1e-5)
            ratio = norm([a - b for a, b in zip(after, before)]) / norm(before)
            assert stat(report, "update_ratio", info.name)[0] == pytest.approx(ratio, rel=1e-4)
        without = [i for i, info in enumerate(probe.layers) if not info.has_params]
        for name in PARAM_STATS:
            assert np.isnan(stat(report, name)[0, without]).all()


# ------------------------------------------------------------------- dead units


def run_pattern(probe: Probe, model: nn.Module, x: torch.Tensor, steps: range
                ) -> tuple[list[float], list]:
    """Steps of the same batch; the ReLU's dead fraction after each, and dead alerts."""
    dead, alerts = [], []
    for step in steps:
        report = probe_step(probe, model, x, None, None, step, loss_fn=sum_loss)
        dead.append(float(stat(report, "dead", "relu")[0]))
        alerts += of_kind(report.alerts, "dead")
    return dead, alerts


def test_dead_units_are_judged_over_a_sliding_window():
    """10 features behind an identity layer: the input's signs say which fire."""
    n = 10
    linear = nn.Linear(n, n, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.eye(n))
    model = nn.Sequential(OrderedDict(fc=linear, relu=nn.ReLU()))
    probe = Probe(model)
    assert probe.dead_window == DEAD_WINDOW
    active = math.ceil(n * (1 - DEAD_THRESHOLD))  # as many dead as allowed, no more
    some = torch.where(torch.arange(n) < active, 1.0, -1.0)[None]
    allowed = (n - active) / n
    window = DEAD_WINDOW

    # A full window with `active` units firing: at the threshold, no alert.
    dead, alerts = run_pattern(probe, model, some, range(window))
    assert dead == pytest.approx([allowed] * window) and not alerts
    assert probe.window_filled(1) == window
    # Nothing fires: the units count as dead only once the window has slid past
    # the last batch they fired in — then the alert comes, once.
    dead, alerts = run_pattern(probe, model, -some.abs(), range(window, 2 * window + 3))
    assert dead == pytest.approx([allowed] * (window - 1) + [1.0] * 4)
    assert [(a.layer, a.step) for a in alerts] == [("relu", 2 * window - 1)]
    # One batch in which every unit fires: nothing is dead, the alert clears.
    dead, alerts = run_pattern(probe, model, some.abs(), range(2 * window + 3, 2 * window + 4))
    assert dead == [0.0] and not alerts
    # Dead again for a whole window: a new alert.
    start = 2 * window + 4
    dead, alerts = run_pattern(probe, model, -some.abs(), range(start, start + window))
    assert dead[-1] == 1.0 and dead[-2] == 0.0
    assert [(a.layer, a.step) for a in alerts] == [("relu", start + window - 1)]
    assert np.isnan(probe.history("dead", "fc")[1]).all()  # not a ReLU


@pytest.mark.parametrize("batch, negative_at, dead", [
    (3, None, 0.5),  # every pixel positive: the negated channel never fires
    (3, (1, 2, 3), 0.0),  # one negative pixel anywhere in the batch wakes it
    (ACTIVATION_SAMPLE + 1, (ACTIVATION_SAMPLE, 0, 0), 0.5),  # not among the sampled images
])
def test_a_unit_of_a_feature_map_is_a_channel(batch, negative_at, dead):
    conv = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
    model = nn.Sequential(OrderedDict(conv=conv, relu=nn.ReLU()))
    x = torch.ones(batch, 1, 4, 4)
    if negative_at is not None:
        x[negative_at[0], 0, negative_at[1], negative_at[2]] = -1.0
    report = probe_step(Probe(model), model, x, None, None, 0, loss_fn=sum_loss)
    assert stat(report, "dead", "relu")[0] == dead


# ---------------------------------------------------------------- in-place ReLU


def without_inplace(model: nn.Module) -> nn.Module:
    twin = copy.deepcopy(model)
    for module in twin.modules():
        if getattr(module, "inplace", False):
            module.inplace = False
    return twin


@pytest.mark.parametrize("spec, shape", [(INPLACE_CONV, (1, 8, 8)),
                                         (get_preset("cifar-vgg"), (3, 32, 32))])
def test_inplace_activations_are_measured_like_plain_ones(spec, shape):
    torch.manual_seed(0)
    model = build_model(spec)
    assert any(getattr(m, "inplace", False) for m in model.modules())
    twin = without_inplace(model)
    x, y = images(4, shape)
    reports = []
    for m in (model, twin):
        probe = Probe(m)
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        torch.manual_seed(1)  # the same dropout masks
        reports.append(probe_step(probe, m, x, y, opt, 0))
        assert probe.grad_layers == set(range(len(probe.layers)))
        assert hook_count(m) == 0
    inplace, plain = reports
    measured = [s for s in STATS if s not in PARAM_STATS + ("dead",)]
    for name in measured:
        assert np.isfinite(stat(inplace, name)).all(), name
    np.testing.assert_allclose(inplace.stats, plain.stats, rtol=1e-5, equal_nan=True)
    assert not inplace.alerts


class ReluInForward(nn.Module):
    """Not a spec model: its forward overwrites the conv's output in place, where no
    layer says so in advance."""

    def __init__(self, inplace: bool) -> None:
        super().__init__()
        self.inplace = False  # (the model itself; only its forward works in place)
        self.in_forward = inplace
        self.conv = nn.Conv2d(1, 4, 3)
        self.head = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        h = self.conv(x)
        h = h.relu_() if self.in_forward else h.relu()
        return self.head(h.flatten(1))


def test_an_unannounced_in_place_overwrite_is_noticed_and_then_measured():
    """The first sampled step cannot know: the overwritten layer's activations show
    nothing (rather than the overwritten values); from the next step they are
    measured as if nothing were in place."""
    torch.manual_seed(0)
    model = ReluInForward(inplace=True)
    twin = copy.deepcopy(model)
    twin.in_forward = False
    x, y = images(4, (1, 8, 8))
    probes = [Probe(model), Probe(twin)]
    first, plain_first = [probe_step(p, m, x, y, None, 0) for p, m in zip(probes, (model, twin))]
    assert not first.alerts  # a gap, not a non-finite value
    for name in ("act_norm", "act_mean"):
        assert np.isnan(stat(first, name, "conv")[0])
        assert stat(first, name, "head")[0] == pytest.approx(stat(plain_first, name, "head")[0])
    # Gradients are taken at the node that made the output: right from the start.
    assert stat(first, "grad_norm")[0] == pytest.approx(stat(plain_first, "grad_norm")[0])
    second, plain = [probe_step(p, m, x, y, None, 1) for p, m in zip(probes, (model, twin))]
    np.testing.assert_allclose(second.stats, plain.stats, rtol=1e-5, equal_nan=True)
    assert np.isfinite(stat(second, "grad_norm")).all()
    assert hook_count(model) == 0


def test_inplace_spec_trains_with_a_probe(digits8):
    trainer, probe = probed_trainer(INPLACE_CONV, digits8, epochs=1)
    reports = drive(trainer)
    assert finished(reports).status == "completed"
    steps, grads = probe.history("grad_norm")
    assert len(steps) == trainer.position.step
    assert np.isfinite(grads).all() and (grads > 0).all()


# --------------------------------------------------------- reports and history


def test_flush_hands_over_plain_numbers_once():
    model = lenet()
    probe = Probe(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for step in range(3):
        probe_step(probe, model, *images(4, seed=step), opt, step, flush=False)
    report = probe.flush()
    assert isinstance(report, ProbeReport)
    assert_numpy_only(report)
    assert report.steps.tolist() == [0, 1, 2]
    assert report.stats.shape == (3, len(STATS), len(probe.layers))
    assert report.layers == tuple(probe.layers)
    assert all(isinstance(info, LayerInfo) for info in report.layers)
    np.testing.assert_array_equal(report.latest("grad_norm"),
                                  report.stats[-1, STAT_INDEX["grad_norm"]])
    assert report.pause_reason is None
    empty = probe.flush()  # nothing new: an empty report
    assert_numpy_only(empty)
    assert empty.steps.shape == (0,)
    assert empty.stats.shape == (0, len(STATS), len(probe.layers))
    assert empty.alerts == ()
    assert np.isnan(empty.latest("act_norm")).all()
    assert len(empty.latest("act_norm")) == len(probe.layers)


def test_history_and_heatmap_in_step_order():
    model = lenet()
    probe = Probe(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    reports = [probe_step(probe, model, *images(2, seed=s), opt, s) for s in range(5)]
    steps, values = probe.history("act_norm")
    assert steps.tolist() == list(range(5))
    np.testing.assert_array_equal(values, np.concatenate([stat(r, "act_norm") for r in reports]))
    for key in ("conv2", 3):
        layer_steps, column = probe.history("act_norm", key)
        assert layer_steps.tolist() == list(range(5))
        np.testing.assert_array_equal(column, values[:, 3])
    names, heat_steps, heat = probe.heatmap("act_norm")
    assert names == [spec.name for spec in LENET.layers]
    assert heat_steps.tolist() == list(range(5))
    assert heat.shape == (len(names), 5)
    np.testing.assert_array_equal(heat, values.T)
    with pytest.raises(KeyError, match="nope"):
        probe.history("act_norm", "nope")


def test_probe_history_is_bounded_by_its_capacity():
    model = lenet()
    probe = Probe(model, capacity=4)
    reports = [probe_step(probe, model, *images(2, seed=s), None, s) for s in range(7)]
    steps, values = probe.history("act_mean")
    assert steps.tolist() == [3, 4, 5, 6]
    np.testing.assert_array_equal(values, np.concatenate(
        [stat(r, "act_mean") for r in reports[3:]]))
    assert probe.history_buffer.values.shape == (4, len(STATS), len(probe.layers))


def rows_for(steps: list[int]) -> tuple[np.ndarray, np.ndarray]:
    return np.array(steps), np.array([[s, -s] for s in steps], dtype=np.float32)


@pytest.mark.parametrize("chunks", [
    [[0, 1, 2, 3, 4, 5, 6]],
    [[0, 1], [2, 3, 4], [5], [6, 7, 8, 9, 10]],
    [[0], [1], [2], [3], [4], [5], [6]],
], ids=["one-extend", "uneven", "one-by-one"])
def test_ring_buffer_keeps_the_newest_rows_in_order(chunks):
    capacity = 3
    buffer = RingBuffer(capacity, (2,))
    seen: list[int] = []
    for chunk in chunks:
        buffer.extend(*rows_for(chunk))
        seen += chunk
        expect = seen[-capacity:]
        assert buffer.count == len(expect)
        steps, values = buffer.ordered()
        assert steps.tolist() == expect
        np.testing.assert_array_equal(values, rows_for(expect)[1])
        for n in range(capacity + 2):
            recent_steps, recent_values = buffer.recent(n)
            want = expect[len(expect) - min(n, len(expect)):]
            assert recent_steps.tolist() == want
            np.testing.assert_array_equal(recent_values, rows_for(want)[1].reshape(-1, 2))
    assert buffer.steps.shape == (capacity,) and buffer.values.shape == (capacity, 2)


@pytest.mark.parametrize("filled", [2, 5])
def test_ring_buffer_hands_out_copies(filled):
    buffer = RingBuffer(3, (2,))
    buffer.extend(*rows_for(list(range(filled))))
    steps, values = buffer.ordered()
    steps[:] = -1
    values[:] = np.nan
    assert buffer.ordered()[0].tolist() == list(range(filled))[-3:]
    assert np.isfinite(buffer.ordered()[1]).all()


def test_empty_ring_buffer():
    buffer = RingBuffer(4, (2, 3))
    steps, values = buffer.ordered()
    assert steps.shape == (0,) and values.shape == (0, 2, 3)
    assert buffer.recent(3)[0].shape == (0,)


# ----------------------------------------------------------- nothing kept alive


def test_no_activation_or_gradient_outlives_its_step():
    model = lenet()
    probe = Probe(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = images(8)
    outputs = []
    handles = [module.register_forward_hook(lambda m, i, out, keep=outputs.append: keep(out))
               for module in model]
    probe.begin_step(0)
    loss = nn.functional.cross_entropy(probe.forward(x), y)
    probe.backward(loss)
    opt.step()
    probe.end_step()
    for handle in handles:
        handle.remove()
    gone = [weakref.ref(t) for t in outputs + [loss]]
    units = max(out.shape[1] for out in outputs)  # the widest layer's channels or features
    # Per row of sampled activations, three numbers (see probe_module._RowPlan).
    rows = sum(-(-out[:ACTIVATION_SAMPLE].numel() // probe_module._ROW) for out in outputs)
    del outputs, loss
    gc.collect()
    assert all(ref() is None for ref in gone), "the probe keeps an activation alive"
    # Waiting for flush(): a packed vector of numbers, per-unit activity and the
    # histograms' samples (copies, at most HISTOGRAM_VALUES per layer and kind).
    cached = {id(t) for t in tensors_in(probe._coder)}  # where samples sit in the matrix
    # Storage reused from step to step: the matrix the samples are laid into (the
    # measured layers' rows, no more: a reshape's are not laid again) and a copy of
    # each weight for the update's norm.
    plans = list(probe._row_plans.values())
    assert len(plans) == 1 and plans[0].buffer.numel() <= rows * probe_module._ROW
    copies = list(tensors_in(probe._weights_before))
    assert [t.shape for t in copies] == [p.shape for p in model.parameters()]
    pending = [t for t in tensors_in(probe) if id(t) not in cached
               and id(t) not in {id(plan.buffer) for plan in plans} | {id(t) for t in copies}]
    assert pending
    for t in pending:
        assert t.dim() <= 1 and not t.requires_grad and t.grad_fn is None
        assert t.numel() <= max(units, 3 * rows + 8 * len(probe.layers),
                                len(KINDS) * HISTOGRAM_VALUES * len(probe.layers))
    probe.flush()
    assert probe._pending == [] and probe._raw is None and probe._before is None
    # All that stays: the zero padding _measure_activations reuses, under a row each,
    # views of the weights (the spreads histogrammed), the histograms' lookup
    # table, offsets and sample places: integers, as many as the model's layers
    # make, however large its activations; and the storage reused from step to step.
    reused = {id(plan.buffer) for plan in plans} | {id(t) for t in copies}
    cached = {id(t) for t in tensors_in(probe._coder)}
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    for t in tensors_in(probe):
        if id(t) in reused:
            continue
        if t.untyped_storage().data_ptr() in weights:
            assert t.numel() <= HISTOGRAM_VALUES
            continue
        if id(t) in cached:
            assert t.dtype in (torch.int32, torch.int64)
            assert t.numel() <= len(KINDS) * RAW_CODES * len(probe.layers)
            continue
        assert t.numel() < probe_module._ROW and not t.any()
    assert not probe.attached and hook_count(model) == 0


# ------------------------------------------------------------------ snapshots


@pytest.mark.parametrize("training", [True, False])
def test_snapshot_of_lenet(training):
    model = lenet()
    model.train(training)
    probe = Probe(model)
    x, _ = images(1)
    snap = probe.snapshot(x)
    assert model.training is training
    assert hook_count(model) == 0
    assert snap.feature_maps["conv1"].shape == (1, 6, 28, 28)  # 6 maps of 28×28
    assert list(snap.feature_maps) == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2"]
    assert snap.conv_layers == ("conv1", "conv2") and snap.first_conv == "conv1"
    assert snap.filters.shape == (6, 1, 5, 5)
    assert all(isinstance(v, np.ndarray) for v in snap.feature_maps.values())
    assert isinstance(snap.output, np.ndarray) and snap.output.shape == (1, 10)
    with torch.no_grad():
        np.testing.assert_allclose(snap.feature_maps["conv1"], model.conv1(x).numpy(),
                                   rtol=1e-6, atol=1e-6)
        model.eval()
        np.testing.assert_allclose(snap.output, model(x).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(snap.filters, model.conv1.weight.detach().numpy())
    # The snapshot is data: training on does not change it.
    filters = snap.filters.copy()
    with torch.no_grad():
        model.conv1.weight.add_(1.0)
    np.testing.assert_array_equal(snap.filters, filters)


def test_snapshot_keeps_maps_from_before_an_inplace_relu():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 2, 3)
    model = nn.Sequential(OrderedDict(conv=conv, relu=nn.ReLU(inplace=True)))
    x, _ = images(2, (1, 6, 6))
    snap = Probe(model).snapshot(x)
    with torch.no_grad():
        expected = conv(x).numpy()
    assert (expected < 0).any()
    np.testing.assert_allclose(snap.feature_maps["conv"], expected, rtol=1e-6)
    np.testing.assert_allclose(snap.feature_maps["relu"], np.maximum(expected, 0), rtol=1e-6)


def test_snapshot_of_a_model_without_maps():
    torch.manual_seed(0)
    snap = Probe(build_model(TINY)).snapshot(images(2, (1, 8, 8))[0])
    assert snap.feature_maps == {} and snap.conv_layers == ()
    assert snap.filters is None and snap.first_conv is None
    assert snap.output.shape == (2, 10)


# --------------------------------------------------------------------- trainer


def test_trainer_reports_carry_probe_reports_of_sampled_steps(digits8):
    torch.manual_seed(0)
    model = build_model(TINY)
    probe = Probe(model, every=10)
    trainer = Trainer(model, digits8, config(report_every=5), probe=probe)
    reports = drive(trainer)
    assert finished(reports).status == "completed"
    step_reports = steps_of(reports)
    sampled = [s for s in range(trainer.position.step) if s % 10 == 0]
    assert len(sampled) >= 4
    for report in step_reports:
        assert isinstance(report.probe, ProbeReport)
        assert_numpy_only(report.probe)
        assert all(s < report.step for s in report.probe.steps.tolist())  # (0-based)
        if report.batch == report.batches_per_epoch:  # an epoch's end leaves none waiting
            assert probe._pending == []
    # Each sampled step reported once, in order, though a report within an epoch
    # may leave its steps to a later one (Probe.flush's only_if_due).
    assert [s for r in step_reports for s in r.probe.steps.tolist()] == sampled
    assert probe.history("act_norm")[0].tolist() == sampled
    assert hook_count(model) == 0


@pytest.mark.parametrize("spec", [TINY_DROPOUT, INPLACE_CONV], ids=lambda s: s.name)
def test_a_probe_does_not_change_training(digits8, spec):
    bare, _ = train(spec, digits8, epochs=1)
    probed, probe = probed_trainer(spec, digits8, epochs=1)
    reports = drive(probed)
    assert finished(reports).status == "completed"
    assert len(probe.history("act_norm")[0]) == probed.position.step
    assert probed.history["step_losses"] == bare.history["step_losses"]
    assert_same_weights(probed.model, bare.model)


# ---------------------------------------------------------------------- doctor


@pytest.mark.parametrize("layer_name, value, kind", [("conv2", float("nan"), "nan"),
                                                     ("fc1", float("inf"), "nan"),
                                                     ("fc3", float("nan"), "nan"),
                                                     ("conv2", "bias", "overflow")])
def test_nonfinite_names_the_first_layer_that_went_bad(layer_name, value, kind):
    """A poisoned weight makes that layer's output non-finite, and every earlier
    layer's gradient: the alert names the poisoned layer, not the first one."""
    model = lenet()
    probe = Probe(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = images(4)
    assert not of_kind(probe_step(probe, model, x, y, opt, 0).alerts, "nonfinite")
    with torch.no_grad():
        if value == "bias":  # +∞ added to finite sums: infinite, never NaN, in that layer
            getattr(model, layer_name).bias.view(-1)[0] = float("inf")
        else:
            getattr(model, layer_name).weight.view(-1)[0] = value
    report = probe_step(probe, model, x, y, opt, 1)
    [alert] = report.alerts  # the other checks stay quiet amid NaNs
    # (an infinite weight meets zeros in the input: ∞ × 0 is NaN)
    assert (alert.kind, alert.layer, alert.step) == (kind, layer_name, 1)
    assert alert.pause and alert.severity == "error" and "activation" in alert.message
    assert report.pause_reason == str(alert)
    assert layer_name in str(alert) and "[step 1]" in str(alert)


class ZeroWithGradient(nn.Module):
    """Outputs zeros, passes gradients through unchanged."""

    def forward(self, x):
        return x - x.detach()


class Sqrt(nn.Module):
    def forward(self, x):
        return torch.sqrt(x)  # √0 = 0, but its gradient there is infinite


def test_nonfinite_gradient_names_where_backward_went_bad():
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(fc1=nn.Linear(4, 4), zero=ZeroWithGradient(),
                                      sqrt=Sqrt(), fc2=nn.Linear(4, 2)))
    probe = Probe(model)
    report = probe_step(probe, model, torch.randn(3, 4), None, None, 0, loss_fn=sum_loss)
    assert np.isfinite(stat(report, "act_norm")).all()
    assert not np.isfinite(stat(report, "grad_norm", "fc1")).any()
    [alert] = report.alerts
    assert alert.kind in ("nan", "overflow") and alert.layer == "zero"  # next to the √ at 0
    assert "gradient" in alert.message and alert.pause


def test_nonfinite_beyond_the_sampled_images_shows_in_the_weight_gradients():
    """Activations and output gradients are measured on the first images; a NaN in
    a later image still reaches every weight's gradient, and the alert says so."""
    model = lenet()
    probe = Probe(model)
    x, y = images(3 * ACTIVATION_SAMPLE)
    x[-1, 0, 0, 0] = float("nan")
    report = probe_step(probe, model, x, y, None, 0)
    assert np.isfinite(stat(report, "act_norm")).all()
    assert np.isfinite(stat(report, "grad_norm")).all()
    [alert] = report.alerts
    assert (alert.kind, alert.layer) == ("nan", "fc3")  # backward starts there
    assert "weight gradient" in alert.message and alert.pause


@pytest.mark.parametrize("options", [{"flush_every_s": 0.0}, {"flush_every_s": 1e9}],
                         ids=["flushing every report", "keeping its steps"])
def test_nonfinite_values_pause_training(digits8, options):
    """…at the report after the step that measured an infinity, also when the probe
    may keep its steps back (test_probe_flushes.py): that step is flushed at once."""
    poisoned_at = 6

    def poison(trainer, report):
        if isinstance(report, StepReport) and report.step == poisoned_at:
            with torch.no_grad():
                trainer.model.fc1.bias.fill_(-math.inf)  # fc1 goes -inf; the loss stays finite
        elif isinstance(report, PausedReport):
            trainer.control.stop()

    trainer, _ = probed_trainer(TINY, digits8, epochs=1, report_every=2, probe_options=options)
    reports = drive(trainer, poison)
    alerts = alerts_of(reports)
    assert [(a.kind, a.layer, a.step) for a in alerts] == [("overflow", "fc1", poisoned_at)]
    paused = [r for r in reports if isinstance(r, PausedReport)]
    assert paused == [PausedReport(poisoned_at + 2, 1, str(alerts[0]))]
    [carrier] = [r for r in reports if isinstance(r, StepReport) and r.step == poisoned_at + 2]
    kept = options["flush_every_s"] > 0  # (steps 0–1 went with the first report)
    assert carrier.probe.steps.tolist() == list(range(2 if kept else poisoned_at,
                                                      poisoned_at + 2))
    assert finished(reports).status == "stopped"
    assert trainer.position.step == poisoned_at + 2
    assert all(math.isfinite(v) for v in trainer.history["step_losses"])


def test_dead_relu_after_a_huge_negative_bias(digits32):
    trainer, probe = probed_trainer(LENET, digits32, epochs=1, batch_size=16, report_every=1)
    with torch.no_grad():
        trainer.model.fc1.bias.fill_(-100.0)
    reports = drive(trainer, stop_at(DEAD_WINDOW + 2))
    dead = of_kind(alerts_of(reports), "dead")
    assert ("relu3", DEAD_WINDOW - 1) in [(a.layer, a.step) for a in dead]
    assert len([a for a in dead if a.layer == "relu3"]) == 1  # once, not every report
    assert all(a.step >= DEAD_WINDOW - 1 for a in dead)  # only with a full window
    steps, fraction = probe.history("dead", "relu3")
    assert (fraction == 1.0).all()
    assert "relu3" in str(dead[0]) and "dead" in dead[0].message


def test_vanishing_gradients_in_deep_sigmoid(digits28):
    trainer, probe = probed_trainer(get_preset("deep-sigmoid"), digits28, epochs=1,
                                    batch_size=16, report_every=4, lr=0.05)
    reports = drive(trainer, stop_at(MIN_HISTORY + 4))
    vanishing = of_kind(alerts_of(reports), "vanishing")
    assert [(a.layer, a.step) for a in vanishing] == [("fc1", MIN_HISTORY - 1)]
    assert "'out'" in vanishing[0].message
    # The doctor's measure: output-gradient RMS of the first against the last layer.
    sizes = {info.name: math.prod(info.output_shape) for info in probe.layers}
    rms = {name: probe.history("grad_norm", name)[1] / math.sqrt(sizes[name])
           for name in ("fc1", "out")}
    assert np.median(rms["fc1"]) / np.median(rms["out"]) < VANISHING_RATIO


def test_exploding_gradients_after_raising_the_learning_rate(digits8):
    change = MIN_HISTORY + 4

    def raise_lr(trainer, report):
        if isinstance(report, StepReport) and report.step == change:
            trainer.control.pause()
        elif isinstance(report, PausedReport):
            trainer.control.set_learning_rate(400 * trainer.config.lr)
            trainer.control.resume()
        elif isinstance(report, StepReport) and report.step >= change + 6:
            trainer.control.stop()

    trainer, probe = probed_trainer(TINY, digits8, epochs=1, report_every=1, lr=0.05,
                                    schedule="none")
    reports = drive(trainer, raise_lr)
    assert finished(reports).status == "stopped"
    exploding = of_kind(alerts_of(reports), "exploding")
    assert exploding and all(a.step >= change for a in exploding)
    assert len(set(kinds(exploding))) == len(exploding)  # each layer once
    for alert in exploding:
        steps, grads = probe.history("grad_norm", alert.layer)
        at = steps.tolist().index(alert.step)
        baseline = np.median(grads[max(0, at - RECENT):at])
        assert grads[at] > EXPLODING_FACTOR * baseline
    assert "fc1" in [a.layer for a in exploding]


@pytest.mark.parametrize("kind, changes", [
    ("update_low", dict(lr=1e-7)),
    ("update_high", dict(lr=0.5, optimizer="adam")),
])
def test_update_ratio_alerts(digits8, kind, changes):
    trainer, probe = probed_trainer(TINY, digits8, epochs=1, batch_size=32, report_every=2,
                                    **changes)
    reports = drive(trainer, stop_at(MIN_HISTORY + 12))
    assert finished(reports).status == "stopped"  # slow or wild, but finite
    alerts = alerts_of(reports)
    found = of_kind(alerts, kind)
    assert sorted(kinds(found)) == [(kind, "fc1"), (kind, "fc2")]  # once each
    assert all(a.step >= MIN_HISTORY - 1 for a in found)
    for alert in found:  # the doctor's measure: the median of the recent samples
        steps, ratios = probe.history("update_ratio", alert.layer)
        at = steps.tolist().index(alert.step)
        median = np.median(ratios[max(0, at + 1 - RECENT):at + 1])
        if kind == "update_low":
            assert median < UPDATE_RATIO_LOW
        else:
            assert median > UPDATE_RATIO_HIGH
    assert not of_kind(alerts, "nonfinite")


def test_thresholds_are_read_from_the_module_constants(digits8, monkeypatch):
    monkeypatch.setattr(doctor_module, "UPDATE_RATIO_LOW", 0.0)
    trainer, _ = probed_trainer(TINY, digits8, epochs=1, batch_size=32, lr=1e-7)
    reports = drive(trainer, stop_at(MIN_HISTORY + 12))
    assert not of_kind(alerts_of(reports), "update_low")


def test_healthy_lenet_raises_no_alert(digits32):
    trainer, probe = probed_trainer(LENET, digits32, lr=0.05, momentum=0.9, schedule="cosine",
                                    epochs=30, batch_size=32, augment_shift=2,
                                    report_every=10)
    reports = drive(trainer, stop_at(60))
    assert alerts_of(reports) == []
    assert probe.alerts == []
    # …with history enough for every check to have looked.
    assert len(probe.history("act_norm")[0]) >= max(DEAD_WINDOW, MIN_HISTORY)
    steps = steps_of(reports)
    assert steps[-1].running_loss < steps[0].running_loss


def test_alerts_are_kept_on_the_probe(digits8):
    trainer, probe = probed_trainer(TINY, digits8, epochs=1, lr=1e-7, report_every=2)
    reports = drive(trainer)
    assert probe.alerts == alerts_of(reports) and probe.alerts
    assert all(isinstance(a, inspection.Alert) and dataclasses.is_dataclass(a)
               for a in probe.alerts)


# ------------------------------------------------------------------ formatting


@pytest.mark.parametrize("value, text", [
    (0.00123, "1.23m"),
    (45600, "45.6k"),
    (999.9, "1.00k"),  # rounded first, then prefixed
    (999.4, "999"),
    (1, "1.00"),
    (12.345, "12.3"),
    (0.5, "500m"),
    (-0.00123, "-1.23m"),
    (2.5e-7, "250n"),
    (3e12, "3.00T"),
    (0, "0"),
    (1e-15, "1.00e-15"),  # beyond the prefixes
    (1e15, "1.00e+15"),
    (float("nan"), "–"),
    (None, "–"),
    (np.float32("nan"), "–"),  # numpy's NaN too (np.float32 is not a float)
    (np.float32(0.25), "250m"),
    (float("inf"), "∞"),
    (-float("inf"), "−∞"),
])
def test_engineering(value, text):
    assert engineering(value) == text


@pytest.mark.parametrize("value, text", [
    (0.5, "50.0 %"), (1, "100.0 %"), (0.0, "0.0 %"), (0.12345, "12.3 %"),
    (None, "–"), (float("nan"), "–"), (np.float32("nan"), "–"),
])
def test_percent(value, text):
    assert percent(value) == text


def test_percent_decimals():
    assert percent(0.12346, decimals=2) == "12.35 %"
    assert percent(0.5, decimals=0) == "50 %"
