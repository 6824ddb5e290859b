"""The shipped presets: the tutorial's numbers, real forward passes, cheap summaries."""

from __future__ import annotations

import json
import statistics
import time

import pytest
import torch

from netexplorer.core.assets import resource
from netexplorer.core.presets import (
    DEFAULT_PRESET,
    PresetInfo,
    get_preset,
    list_presets,
    preset_names,
)
from netexplorer.core.specs import ModelSpec, SpecError, build_model, format_summary, summarize

PRESETS = preset_names()


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def rows_by_name(name: str) -> dict:
    return {row.name: row for row in summarize(get_preset(name)).rows}


def test_the_expected_presets_ship():
    assert {"lenet", "cifar-net", "mnist-cnn", "mlp", "cifar-vgg", "deep-sigmoid"} <= set(PRESETS)
    files = sorted(e.name[:-5] for e in resource("presets").iterdir() if e.name.endswith(".json"))
    assert sorted(PRESETS) == files


def test_list_presets_starts_with_lenet_then_sorted():
    presets = list_presets()
    assert DEFAULT_PRESET == "lenet"
    assert presets[0].name == "lenet"
    assert [p.name for p in presets[1:]] == sorted(p.name for p in presets[1:])
    assert [p.name for p in presets] == PRESETS
    for info in presets:
        assert isinstance(info, PresetInfo)
        assert info.spec is get_preset(info.name)
        assert info.spec.name == info.name
        assert info.description.strip()


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(SpecError) as info:
        get_preset("nope")
    message = str(info.value)
    assert "there is no preset 'nope'" in message
    for name in PRESETS:
        assert name in message


# ----------------------------------------------------------------- tutorial numbers


def test_lenet_parameters_and_names():
    spec = get_preset("lenet")
    assert spec.input_shape == (1, 32, 32)
    summary = summarize(spec)
    assert summary.total_params == 61_706
    model = build_model(spec)
    assert n_params(model) == 61_706
    assert len(list(model.parameters())) == 10
    assert model.conv1.weight.shape == (6, 1, 5, 5)
    assert [name for name, _ in model.named_parameters()] == [
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]


def test_lenet_format_summary():
    text = format_summary(summarize(get_preset("lenet")))
    assert "Total params: 61,706" in text
    assert "423,038" in text
    for layer in get_preset("lenet").layers:
        assert layer.name in text


def test_cifar_net():
    spec = get_preset("cifar-net")
    assert spec.input_shape == (3, 32, 32)
    assert summarize(spec).total_params == 62_006
    model = build_model(spec)
    assert n_params(model) == 62_006
    assert model.conv1.weight.shape == (6, 3, 5, 5)


def test_mnist_cnn_conv2_shapes_from_the_summary():
    spec = get_preset("mnist-cnn")
    assert spec.input_shape == (1, 28, 28)
    conv2 = rows_by_name("mnist-cnn")["conv2"]
    assert conv2.input_shape == (10, 12, 12)
    assert conv2.output_shape == (20, 8, 8)
    assert conv2.resolved["in_channels"] == 10


def test_mnist_cnn_conv2_shapes_from_a_forward_hook():
    model = build_model(get_preset("mnist-cnn")).eval()
    seen = {}

    def hook(_module, inputs, output):
        seen["in"] = tuple(inputs[0].shape)
        seen["out"] = tuple(output.shape)

    handle = model.conv2.register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(torch.randn(1, 1, 28, 28))
    finally:
        handle.remove()
    assert seen == {"in": (1, 10, 12, 12), "out": (1, 20, 8, 8)}


def test_mlp_takes_28x28_images():
    spec = get_preset("mlp")
    assert spec.input_shape == (1, 28, 28)
    model = build_model(spec).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


# ------------------------------------------------------------------- every preset


@pytest.mark.parametrize("name", PRESETS)
def test_summary_matches_the_built_module_and_a_real_forward_pass(name):
    spec = get_preset(name)
    summary = summarize(spec)
    assert summary.ok
    model = build_model(spec)
    assert summary.total_params == n_params(model)
    for row in summary.rows:
        assert row.params == n_params(getattr(model, row.name)), row.name

    shapes = {}
    handles = [module.register_forward_hook(
        lambda _m, _i, out, name=child: shapes.__setitem__(name, tuple(out.shape)))
        for child, module in model.named_children()]
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.randn(2, *spec.input_shape))
    finally:
        for handle in handles:
            handle.remove()
    assert tuple(out.shape) == (2, *summary.output_shape)
    for row in summary.rows:
        assert shapes[row.name] == (2, *row.output_shape), row.name


@pytest.mark.parametrize("name", PRESETS)
def test_summarize_is_cheap(name):
    spec = get_preset(name)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        summarize(spec)
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < 0.020


@pytest.mark.parametrize("name", PRESETS)
def test_json_round_trip(name):
    spec = get_preset(name)
    text = spec.to_json()
    assert ModelSpec.from_json(text) == spec
    assert ModelSpec.from_json(text).to_json() == text
    # The shipped file itself describes the same spec.
    shipped = resource("presets", f"{name}.json").read_text(encoding="utf-8")
    assert ModelSpec.from_json(shipped) == spec
    assert json.loads(shipped)["layers"] == json.loads(text)["layers"]


@pytest.mark.parametrize("name", PRESETS)
def test_layer_names_are_attributes_of_the_built_model(name):
    spec = get_preset(name)
    model = build_model(spec)
    for layer in spec.layers:
        assert isinstance(getattr(model, layer.name), torch.nn.Module)
