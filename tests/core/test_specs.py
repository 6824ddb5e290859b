"""ModelSpec: shape inference, errors with fixes, JSON round trip, hostile input, building.

Everything here is analytic or builds tiny modules on the CPU; the file runs in a
few seconds.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import statistics
import time

import pytest
import torch
from torch import nn

from netexplorer.core.layers import LAYER_KINDS, MAX_FEATURES, default_params
from netexplorer.core.specs import (
    FORMAT,
    FORMAT_VERSION,
    MAX_ACTIVATION_VALUES,
    MAX_JSON_BYTES,
    MAX_LAYERS,
    MAX_PARAMETERS,
    RESERVED_NAMES,
    LayerSpec,
    ModelSpec,
    SpecError,
    SpecFix,
    Summary,
    build_model,
    format_shape,
    format_summary,
    read_spec_file,
    summarize,
    validate,
)

# --------------------------------------------------------------------------- helpers


def make_spec(*layers: tuple, input_shape=(1, 28, 28), name: str = "test") -> ModelSpec:
    """A spec from (kind, name) or (kind, name, params) tuples."""
    return ModelSpec(name, tuple(input_shape),
                     tuple(LayerSpec(t[0], t[1], t[2] if len(t) > 2 else {}) for t in layers))


def expect_error(spec: ModelSpec, *fragments: str, layer: str | None = ...,
                 index: int | None = ..., shape_error: bool | None = None,
                 has_fix: bool | None = None) -> SpecError:
    """Validate `spec`, expecting a SpecError whose message holds every fragment.

    `layer`/`index` (when given, None included) must match the error's; if the
    error carries a fix, applying it must give a spec that validates (or, with
    has_fix=False, there must be no fix).
    """
    with pytest.raises(SpecError) as info:
        validate(spec)
    err = info.value
    message = str(err)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert err.message == message
    if layer is not ...:
        assert err.layer == layer
    if index is not ...:
        assert err.index == index
    if shape_error is not None:
        assert err.shape_error is shape_error
    if has_fix is False:
        assert err.fix is None
    if has_fix is True:
        assert err.fix is not None
    if err.fix is not None:
        fixed = err.fix.apply(spec)
        assert fixed != spec
        validate(fixed)
        build_model(fixed)
    # The non-strict summary reports the same error and the rows before it.
    summary = summarize(spec, strict=False)
    assert not summary.ok
    assert str(summary.error) == message
    if err.index is not None:
        assert len(summary.rows) == err.index
    return err


def doc(**overrides) -> dict:
    """A valid model-file dict (a tiny MLP) with fields overridden; a value of
    `DROP` removes the field."""
    data = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "name": "tiny",
        "input_shape": [1, 4, 4],
        "layers": [
            {"name": "flatten", "kind": "flatten", "params": {}},
            {"name": "fc1", "kind": "linear", "params": {"out_features": 3}},
        ],
    }
    for key, value in overrides.items():
        if value is DROP:
            data.pop(key)
        else:
            data[key] = value
    return data


DROP = object()


def doc_with_layer(layer: dict, input_shape=(1, 4, 4)) -> dict:
    return doc(input_shape=list(input_shape), layers=[layer])


def expect_load_error(text, *fragments: str, check_shapes: bool = True) -> SpecError:
    """from_json must raise SpecError — not another exception type, and not return."""
    try:
        result = ModelSpec.from_json(text, check_shapes=check_shapes)
    except SpecError as err:
        for fragment in fragments:
            assert fragment in str(err), f"{fragment!r} not in {str(err)!r}"
        return err
    except BaseException as exc:
        pytest.fail(f"from_json raised {type(exc).__name__} instead of SpecError: {exc!s:.200}")
    pytest.fail(f"from_json returned {result!r:.200} instead of raising SpecError")


LENET = (
    ("conv2d", "conv1", {"out_channels": 6, "kernel_size": 5}),
    ("relu", "relu1"),
    ("maxpool2d", "pool1", {"kernel_size": 2}),
    ("conv2d", "conv2", {"out_channels": 16, "kernel_size": 5}),
    ("relu", "relu2"),
    ("maxpool2d", "pool2", {"kernel_size": 2}),
    ("flatten", "flatten"),
    ("linear", "fc1", {"out_features": 120}),
    ("relu", "relu3"),
    ("linear", "fc2", {"out_features": 84}),
    ("relu", "relu4"),
    ("linear", "fc3", {"out_features": 10}),
)


def lenet(input_shape=(1, 32, 32)) -> ModelSpec:
    return make_spec(*LENET, input_shape=input_shape, name="lenet")


def lenet_on_mnist_with_fixed_fc1() -> ModelSpec:
    """The tutorial's classic mistake: LeNet's fc1 (400 inputs) on 28×28 digits."""
    spec = lenet(input_shape=(1, 28, 28))
    i = spec.index_of("fc1")
    return spec.with_layer(i, spec.layers[i].with_params(in_features=400))


def forward_shapes(model: nn.Sequential, input_shape, batch: int = 2) -> dict[str, tuple]:
    """Each named child's per-sample output shape from a real forward pass (hooks)."""
    shapes: dict[str, tuple] = {}
    handles = [module.register_forward_hook(
        lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:])))
        for name, module in model.named_children()]
    try:
        model.eval()
        with torch.no_grad():
            model(torch.randn(batch, *input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return shapes


# ------------------------------------------------------------------ shape inference


def test_lenet_summary_shapes_params_and_mult_adds():
    summary = summarize(lenet())
    assert summary.ok and summary.error is None
    rows = {r.name: r for r in summary.rows}
    assert [r.name for r in summary.rows] == [t[1] for t in LENET]
    assert [r.index for r in summary.rows] == list(range(len(LENET)))
    assert rows["conv1"].output_shape == (6, 28, 28)
    assert rows["pool1"].output_shape == (6, 14, 14)
    assert rows["conv2"].input_shape == (6, 14, 14)
    assert rows["conv2"].output_shape == (16, 10, 10)
    assert rows["pool2"].output_shape == (16, 5, 5)
    assert rows["flatten"].output_shape == (400,)
    assert summary.output_shape == (10,)
    assert summary.total_params == 61_706
    assert summary.param_bytes == 4 * 61_706
    macs = {name: rows[name].macs for name in ("conv1", "conv2", "fc1", "fc2", "fc3")}
    assert macs == {"conv1": 122_304, "conv2": 241_600, "fc1": 48_120, "fc2": 10_164,
                    "fc3": 850}  # torchinfo's figures (tests/core/test_mult_adds.py)
    assert summary.total_macs == 423_038
    assert all(r.macs == 0 for r in summary.rows if r.kind not in ("conv2d", "linear"))
    assert summary.activation_values == sum(math.prod(r.output_shape) for r in summary.rows)


def test_omitted_in_channels_in_features_num_features_are_inferred():
    spec = make_spec(
        ("conv2d", "conv1", {"out_channels": 6, "kernel_size": 5}),
        ("batchnorm2d", "bn1"),
        ("conv2d", "conv2", {"out_channels": 16, "kernel_size": 3}),
        ("flatten", "flatten"),
        ("linear", "fc1", {"out_features": 32}),
        ("batchnorm1d", "bn2"),
        ("linear", "fc2", {"out_features": 10}),
        input_shape=(3, 12, 12),
    )
    rows = {r.name: r for r in summarize(spec).rows}
    assert rows["conv1"].resolved["in_channels"] == 3
    assert rows["bn1"].resolved["num_features"] == 6
    assert rows["conv2"].resolved["in_channels"] == 6
    assert rows["fc1"].resolved["in_features"] == 16 * 6 * 6
    assert rows["bn2"].resolved["num_features"] == 32
    assert rows["fc2"].resolved["in_features"] == 32
    # Defaults are filled in too, and the spec itself keeps only what was given.
    assert rows["conv1"].resolved["stride"] == 1 and rows["conv1"].resolved["bias"] is True
    assert "in_channels" not in spec.layers[0].params

    model = build_model(spec)
    assert model.conv1.in_channels == 3
    assert model.bn1.num_features == 6
    assert model.conv2.in_channels == 6
    assert model.fc1.in_features == 576
    assert model.bn2.num_features == 32
    assert model.fc2.in_features == 32


def test_inferred_values_follow_an_earlier_edit():
    spec = lenet()
    wider = spec.with_layer(0, spec.layers[0].with_params(out_channels=12))
    rows = {r.name: r for r in summarize(wider).rows}
    assert rows["conv2"].resolved["in_channels"] == 12
    assert build_model(wider).conv2.weight.shape == (16, 12, 5, 5)


def test_explicit_matching_values_are_accepted():
    spec = make_spec(
        ("conv2d", "conv1", {"in_channels": 1, "out_channels": 4, "kernel_size": 3}),
        ("batchnorm2d", "bn", {"num_features": 4}),
        ("flatten", "flatten"),
        ("linear", "fc", {"in_features": 4 * 26 * 26, "out_features": 2}),
    )
    assert summarize(spec).output_shape == (2,)


# Every kind of layer, in a stack that exercises strides, tuple sizes, groups,
# dilation, ceil_mode and parameter-free variants.
ZOO = (
    ("conv2d", "conv1", {"out_channels": 8, "kernel_size": (3, 5), "padding": (1, 2),
                         "stride": (1, 2)}),
    ("batchnorm2d", "bn1", {"affine": False, "eps": 1e-3}),
    ("leakyrelu", "lrelu", {"negative_slope": 0.2}),
    ("conv2d", "grouped", {"out_channels": 16, "kernel_size": 3, "groups": 4, "dilation": 2,
                           "bias": False}),
    ("elu", "elu", {"alpha": 0.5}),
    ("maxpool2d", "pool1", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ("dropout2d", "drop2d", {"p": 0.1}),
    ("avgpool2d", "pool2", {"kernel_size": (2, 3), "ceil_mode": True}),
    ("batchnorm2d", "bn2"),
    ("gelu", "gelu", {"approximate": "tanh"}),
    ("adaptiveavgpool2d", "gap", {"output_size": (2, 3)}),
    ("tanh", "tanh"),
    ("flatten", "flatten"),
    ("linear", "fc1", {"out_features": 20}),
    ("batchnorm1d", "bn3"),
    ("relu", "relu", {"inplace": True}),
    ("dropout", "drop", {"p": 0.25}),
    ("sigmoid", "sigmoid"),
    ("linear", "fc2", {"out_features": 5, "bias": False}),
    ("softmax", "softmax", {"dim": -1}),
    ("logsoftmax", "logsoftmax"),
)


def test_zoo_covers_every_kind():
    assert {t[0] for t in ZOO} == set(LAYER_KINDS)


def test_every_kind_matches_torch_shapes_params_and_mult_adds():
    spec = make_spec(*ZOO, input_shape=(3, 20, 22))
    summary = summarize(spec)
    model = build_model(spec)
    assert [name for name, _ in model.named_children()] == [t[1] for t in ZOO]
    for row, (name, module) in zip(summary.rows, model.named_children()):
        assert type(module).__name__ == LAYER_KINDS[row.kind].torch_name
        assert row.params == sum(p.numel() for p in module.parameters()), name
    shapes = forward_shapes(model, spec.input_shape)
    for row in summary.rows:
        assert row.output_shape == shapes[row.name], row.name
        module = getattr(model, row.name)
        # torchinfo's rule: a convolution's parameters once per output position,
        # any other layer's parameters once.
        if row.kind == "conv2d":
            assert row.macs == math.prod(row.output_shape[1:]) * row.params
        else:
            assert row.macs == sum(p.numel() for p in module.parameters())
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    # The options reach the modules.
    assert model.grouped.groups == 4 and model.grouped.dilation == (2, 2)
    assert model.grouped.bias is None and model.fc2.bias is None
    assert model.conv1.kernel_size == (3, 5) and model.conv1.stride == (1, 2)
    assert model.pool1.ceil_mode is True and model.bn1.affine is False
    assert model.bn1.eps == pytest.approx(1e-3)
    assert model.drop.p == 0.25 and model.gelu.approximate == "tanh"
    assert model.relu.inplace is True and model.softmax.dim == -1


def test_pool_without_stride_uses_the_kernel_size():
    spec = make_spec(("maxpool2d", "pool", {"kernel_size": 3}), input_shape=(2, 10, 10))
    assert summarize(spec).output_shape == (2, 3, 3)
    assert summarize(spec).rows[0].resolved["stride"] is None
    assert build_model(spec).pool.stride == 3


@pytest.fixture
def one_thread():
    """Hundreds of tiny forward passes: one intra-op thread avoids OpenMP overhead
    (and fighting other processes on a small machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _torch_shape(module: nn.Module, input_shape) -> tuple | None:
    try:
        with torch.no_grad():
            return tuple(module(torch.zeros(1, *input_shape)).shape[1:])
    except RuntimeError:
        return None


@pytest.mark.parametrize("kind", ["maxpool2d", "avgpool2d"])
def test_pool_arithmetic_agrees_with_torch(kind, one_thread):
    cls = getattr(nn, LAYER_KINDS[kind].torch_name)
    for size, k, stride, pad, ceil in itertools.product(
            range(1, 8), range(1, 5), (None, 1, 2, 3), range(3), (False, True)):
        params = {"kernel_size": k, "padding": pad, "ceil_mode": ceil}
        if stride is not None:
            params["stride"] = stride
        spec = make_spec((kind, "pool", params), input_shape=(1, size, size + 1))
        summary = summarize(spec, strict=False)
        expected = _torch_shape(cls(k, stride, pad, ceil_mode=ceil), (1, size, size + 1))
        got = summary.output_shape if summary.ok else None
        assert got == expected, (size, k, stride, pad, ceil, summary.error)


def test_ceil_mode_pool_larger_than_its_input_is_accepted_as_torch_does():
    # Regression: PyTorch gives one window here (it may start inside the input
    # and run past it); the analytic shape once called this "shrinks to nothing".
    spec = make_spec(("maxpool2d", "pool", {"kernel_size": 3, "ceil_mode": True}),
                     input_shape=(1, 2, 2))
    assert summarize(spec).output_shape == (1, 1, 1)
    assert forward_shapes(build_model(spec), (1, 2, 2))["pool"] == (1, 1, 1)
    expect_error(make_spec(("maxpool2d", "pool", {"kernel_size": 3}), input_shape=(1, 2, 2)),
                 "shrinks its 2×2 input to nothing", shape_error=True)


def test_conv_arithmetic_agrees_with_torch(one_thread):
    for size, k, stride, pad, dil in itertools.product(
            range(1, 7), range(1, 5), (1, 2, 3), range(3), (1, 2)):
        kernel = (k, max(1, k - 1))
        spec = make_spec(("conv2d", "conv", {"out_channels": 2, "kernel_size": kernel,
                                             "stride": stride, "padding": pad,
                                             "dilation": dil}),
                         input_shape=(2, size, size + 1))
        summary = summarize(spec, strict=False)
        expected = _torch_shape(nn.Conv2d(2, 2, kernel, stride, pad, dil), (2, size, size + 1))
        got = summary.output_shape if summary.ok else None
        assert got == expected, (size, kernel, stride, pad, dil, summary.error)
        if not summary.ok:  # the suggested kernel size fits
            validate(summary.error.fix.apply(spec))


def test_summary_of_an_invalid_spec_keeps_the_rows_before_the_error():
    spec = lenet_on_mnist_with_fixed_fc1()
    summary = summarize(spec, strict=False)
    assert not summary.ok
    assert summary.error.layer == "fc1"
    assert [r.name for r in summary.rows] == [t[1] for t in LENET[:7]]
    assert summary.output_shape == (256,)
    with pytest.raises(SpecError):
        summarize(spec)
    empty = Summary("x", (1, 2, 3), ())
    assert empty.output_shape == (1, 2, 3) and empty.total_params == 0 and empty.ok


def test_format_shape():
    assert format_shape((16, 4, 4)) == "16×4×4"
    assert format_shape([10]) == "10"


# ------------------------------------------------------------------- errors: shapes


def test_linear_with_wrong_in_features_names_layer_origin_and_fix():
    spec = lenet_on_mnist_with_fixed_fc1()
    err = expect_error(
        spec,
        "linear 'fc1' expects 400 input features but receives 256 (16×4×4): "
        "set in_features to 256",
        layer="fc1", index=7, shape_error=True, has_fix=True)
    assert err.fix.action == "set" and err.fix.param == "in_features" and err.fix.value == 256
    assert "256" in err.fix.description
    fixed = err.fix.apply(spec)
    assert fixed.layers[7].params["in_features"] == 256
    assert build_model(fixed).fc1.weight.shape == (120, 256)


def test_linear_wrong_in_features_after_a_linear_has_no_feature_map_origin():
    spec = make_spec(("flatten", "flatten"), ("linear", "fc1", {"out_features": 30}),
                     ("linear", "fc2", {"in_features": 31, "out_features": 2}))
    err = expect_error(spec, "linear 'fc2' expects 31 input features but receives 30: "
                             "set in_features to 30", layer="fc2", index=2, shape_error=True)
    assert "(" not in str(err)


def test_conv2d_with_wrong_in_channels():
    spec = make_spec(("conv2d", "conv1", {"in_channels": 3, "out_channels": 6,
                                          "kernel_size": 5}))
    err = expect_error(spec, "conv2d 'conv1' expects 3 input channels but receives 1 "
                             "(1×28×28): set in_channels to 1",
                       layer="conv1", index=0, shape_error=True, has_fix=True)
    assert err.fix.apply(spec).layers[0].params["in_channels"] == 1


def test_batchnorm2d_with_wrong_num_features():
    spec = make_spec(("conv2d", "conv1", {"out_channels": 6, "kernel_size": 5}),
                     ("batchnorm2d", "bn1", {"num_features": 8}))
    err = expect_error(spec, "batchnorm2d 'bn1' expects 8 channels but receives 6 "
                             "(6×24×24): set num_features to 6",
                       layer="bn1", index=1, shape_error=True, has_fix=True)
    assert build_model(err.fix.apply(spec)).bn1.num_features == 6


def test_batchnorm1d_with_wrong_num_features():
    spec = make_spec(("flatten", "flatten"), ("linear", "fc", {"out_features": 12}),
                     ("batchnorm1d", "bn", {"num_features": 10}))
    expect_error(spec, "batchnorm1d 'bn' expects 10 features but receives 12",
                 "set num_features to 12", layer="bn", index=2, shape_error=True, has_fix=True)


def test_conv_kernel_larger_than_its_input():
    spec = make_spec(*LENET[:5], *LENET[6:], input_shape=(1, 12, 12))  # conv2 sees 6×4×4
    err = expect_error(spec, "conv2d 'conv2' with a 5×5 kernel shrinks its 4×4 input to "
                             "nothing (output 0×0): use kernel_size at most 4",
                       "remove a pooling layer", layer="conv2", index=3, shape_error=True,
                       has_fix=True)
    assert err.fix.param == "kernel_size" and err.fix.value == 4


def test_conv_tuple_kernel_too_big_suggests_a_pair():
    spec = make_spec(("conv2d", "conv", {"out_channels": 2, "kernel_size": (3, 9)}),
                     input_shape=(1, 8, 8))
    err = expect_error(spec, "with a 3×9 kernel shrinks its 8×8 input to nothing",
                       "use kernel_size at most 3×8", layer="conv", index=0,
                       shape_error=True, has_fix=True)
    assert err.fix.value == (3, 8)


def test_conv_dilated_kernel_too_big():
    spec = make_spec(("conv2d", "conv", {"out_channels": 2, "kernel_size": 3, "dilation": 3}),
                     input_shape=(1, 5, 5))
    err = expect_error(spec, "shrinks its 5×5 input to nothing", layer="conv",
                       shape_error=True, has_fix=True)
    assert summarize(err.fix.apply(spec)).output_shape[1] >= 1


def test_pool_window_larger_than_its_input():
    spec = make_spec(("conv2d", "conv1", {"out_channels": 6, "kernel_size": 5}),
                     ("maxpool2d", "pool1", {"kernel_size": 30}))
    err = expect_error(spec, "maxpool2d 'pool1' with a 30×30 window shrinks its 24×24 input "
                             "to nothing: use kernel_size at most 24",
                       layer="pool1", index=1, shape_error=True, has_fix=True)
    assert err.fix.value == 24


def test_repeated_pooling_shrinks_to_nothing():
    spec = make_spec(*[("avgpool2d", f"pool{i}", {"kernel_size": 2}) for i in range(1, 7)],
                     input_shape=(1, 32, 32))  # 16, 8, 4, 2, 1, then nothing
    expect_error(spec, "avgpool2d 'pool6' with a 2×2 window shrinks its 1×1 input to nothing",
                 layer="pool6", index=5, shape_error=True, has_fix=True)


def test_missing_flatten_before_linear_inserts_one():
    spec = make_spec(("conv2d", "conv1", {"out_channels": 6, "kernel_size": 5}),
                     ("linear", "fc1", {"out_features": 10}))
    err = expect_error(spec, "linear 'fc1' receives a 6×24×24 feature map but needs flat "
                             "features: add a flatten layer before it (giving 3,456 features)",
                       layer="fc1", index=1, shape_error=True, has_fix=True)
    assert err.fix.action == "insert" and err.fix.index == 1
    fixed = err.fix.apply(spec)
    assert [(layer.kind, layer.name) for layer in fixed.layers] == [
        ("conv2d", "conv1"), ("flatten", "flatten"), ("linear", "fc1")]
    assert summarize(fixed).output_shape == (10,)


def test_inserted_flatten_gets_a_unique_name():
    spec = make_spec(("relu", "flatten"), ("linear", "fc1", {"out_features": 10}))
    err = expect_error(spec, "add a flatten layer", has_fix=True)
    assert err.fix.layer == LayerSpec("flatten", "flatten_2")


def test_conv2d_after_flatten():
    spec = make_spec(*LENET[:7], ("conv2d", "conv3", {"out_channels": 4, "kernel_size": 1}),
                     input_shape=(1, 32, 32))
    expect_error(spec, "conv2d 'conv3' needs a C×H×W feature map but receives 400 flat "
                       "features (16×5×5): move it before the flatten layer",
                 layer="conv3", index=7, shape_error=True, has_fix=False)


@pytest.mark.parametrize("kind, params, advice", [
    ("maxpool2d", {"kernel_size": 2}, "pool before flattening"),
    ("avgpool2d", {"kernel_size": 2}, "pool before flattening"),
    ("adaptiveavgpool2d", {}, "pool before flattening"),
    ("batchnorm2d", {}, "use batchnorm1d for flat features"),
    ("dropout2d", {}, "use dropout for flat features"),
])
def test_feature_map_layers_after_flatten(kind, params, advice):
    spec = make_spec(("flatten", "flatten"), (kind, "late", params), input_shape=(2, 3, 3))
    expect_error(spec, f"{kind} 'late' needs a C×H×W feature map but receives 18 flat "
                       f"features (2×3×3): {advice}",
                 layer="late", index=1, shape_error=True, has_fix=False)


def test_batchnorm1d_on_a_feature_map():
    spec = make_spec(("conv2d", "conv1", {"out_channels": 6, "kernel_size": 5}),
                     ("batchnorm1d", "bn"))
    expect_error(spec, "batchnorm1d 'bn' needs flat features but receives a 6×24×24 feature "
                       "map: use batchnorm2d here, or flatten first",
                 layer="bn", index=1, shape_error=True, has_fix=False)


def test_pool_padding_more_than_half_the_kernel():
    spec = make_spec(("maxpool2d", "pool1", {"kernel_size": 2, "padding": 2}))
    err = expect_error(spec, "maxpool2d 'pool1' has padding 2×2 but PyTorch allows at most half "
                             "the kernel (1×1 for a 2×2 kernel)",
                       layer="pool1", index=0, has_fix=True)
    assert "padding" not in err.fix.apply(spec).layers[0].params
    expect_error(make_spec(("avgpool2d", "pool", {"kernel_size": (4, 2), "padding": (2, 2)})),
                 "has padding 2×2", "(2×1 for a 4×2 kernel)", layer="pool", has_fix=True)


def test_conv_groups_must_divide_the_channels():
    spec = make_spec(("conv2d", "conv1", {"out_channels": 6, "kernel_size": 3}),
                     ("conv2d", "conv2", {"out_channels": 16, "kernel_size": 3, "groups": 4}))
    err = expect_error(spec, "conv2d 'conv2' has groups=4, which must divide both its 6 input "
                             "channels and its 16 output channels",
                       layer="conv2", index=1, shape_error=True, has_fix=True)
    assert "groups" not in err.fix.apply(spec).layers[1].params
    expect_error(make_spec(("conv2d", "c", {"out_channels": 3, "kernel_size": 1, "groups": 2}),
                           input_shape=(4, 3, 3)),
                 "has groups=2, which must divide both its 4 input channels and its 3 output",
                 shape_error=True)


@pytest.mark.parametrize("kind", ["softmax", "logsoftmax"])
@pytest.mark.parametrize("dim", [2, 3, -3])
def test_softmax_dim_out_of_range(kind, dim):
    spec = make_spec(("flatten", "flatten"), ("linear", "fc", {"out_features": 10}),
                     (kind, "out", {"dim": dim}))
    err = expect_error(spec, f"{kind} 'out' has dim={dim} but its input has 2 dimensions with "
                             f"the batch: use dim=1",
                       layer="out", index=2, shape_error=True, has_fix=True)
    assert err.fix.apply(spec).layers[2].params == {}


def test_softmax_dim_valid_over_a_feature_map():
    spec = make_spec(("softmax", "sm", {"dim": 3}), ("logsoftmax", "lsm", {"dim": -4}))
    assert summarize(spec).output_shape == (1, 28, 28)


# ------------------------------------------------------------------- errors: values


def _place(kind: str, params: dict) -> ModelSpec:
    """A one-layer spec (after a flatten for layers that take flat features)."""
    if kind in ("linear", "batchnorm1d"):
        return make_spec(("flatten", "flatten"), (kind, "x", params))
    return make_spec((kind, "x", params))


@pytest.mark.parametrize("kind, params, fragment", [
    ("conv2d", {"out_channels": 4, "kernel_size": -3},
     "conv2d 'x': kernel_size must be an integer from 1 to 1024 or a pair of them, got -3"),
    ("conv2d", {"out_channels": 4, "kernel_size": 0}, "kernel_size must be an integer"),
    ("conv2d", {"out_channels": 4, "kernel_size": (3, 0)}, "got (3, 0)"),
    ("conv2d", {"out_channels": 4, "kernel_size": (3, 3, 3)}, "or a pair of them"),
    ("conv2d", {"out_channels": 4, "kernel_size": ()}, "or a pair of them"),
    ("conv2d", {"out_channels": 4, "kernel_size": 2000}, "from 1 to 1024"),
    ("conv2d", {"out_channels": 4, "kernel_size": 3.0}, "kernel_size must be an integer"),
    ("conv2d", {"out_channels": 4, "kernel_size": "3"}, "got '3'"),
    ("conv2d", {"out_channels": 4, "kernel_size": 3, "padding": -1},
     "padding must be an integer from 0 to 1024"),
    ("conv2d", {"out_channels": 0, "kernel_size": 3},
     "conv2d 'x': out_channels must be an integer from 1 to 65536, got 0"),
    ("conv2d", {"out_channels": True, "kernel_size": 3},
     "out_channels must be an integer from 1 to 65536, got True"),
    ("conv2d", {"out_channels": 4.0, "kernel_size": 3}, "out_channels must be an integer"),
    ("conv2d", {"out_channels": 4, "kernel_size": (True, 3)}, "kernel_size must be an integer"),
    ("conv2d", {"out_channels": 4, "kernel_size": 3, "bias": 1},
     "bias must be true or false, got 1"),
    ("conv2d", {"out_channels": 4, "kernel_size": 3, "groups": 0}, "groups must be an integer"),
    ("conv2d", {"in_channels": -1, "out_channels": 4, "kernel_size": 3},
     "in_channels must be an integer"),
    ("dropout", {"p": 1.5}, "dropout 'x': p must be a number from 0 to 1, got 1.5"),
    ("dropout", {"p": -0.1}, "p must be a number from 0 to 1"),
    ("dropout", {"p": "0.5"}, "p must be a number from 0 to 1, got '0.5'"),
    ("dropout", {"p": True}, "p must be a number"),
    ("dropout", {"p": float("nan")}, "p must be a number"),
    ("dropout", {"p": float("inf")}, "p must be a number"),
    ("dropout", {"p": None}, "p must be a number"),
    ("relu", {"inplace": 1}, "relu 'x': inplace must be true or false, got 1"),
    ("relu", {"inplace": "yes"}, "inplace must be true or false"),
    ("gelu", {"approximate": "fast"}, "approximate must be one of 'none', 'tanh', got 'fast'"),
    ("gelu", {"approximate": 1}, "approximate must be one of"),
    ("batchnorm2d", {"eps": 0.0}, "eps must be a number from 1e-12 to 1"),
    ("batchnorm2d", {"momentum": 2}, "momentum must be a number from 0 to 1"),
    ("leakyrelu", {"negative_slope": -1}, "negative_slope must be a number"),
    ("softmax", {"dim": 5}, "softmax 'x': dim must be an integer from -4 to 3, got 5"),
    ("softmax", {"dim": 1.0}, "dim must be an integer"),
    ("adaptiveavgpool2d", {"output_size": 0}, "output_size must be an integer"),
    ("linear", {"out_features": 10**12},
     "linear 'x': out_features must be an integer from 1 to"),
    ("linear", {"out_features": "10"}, "out_features must be an integer"),
    ("batchnorm1d", {"affine": None}, "affine must be true or false"),
])
def test_bad_parameter_values(kind, params, fragment):
    spec = _place(kind, params)
    err = expect_error(spec, fragment, layer="x", index=spec.index_of("x"), shape_error=False,
                       has_fix=False)
    assert err.layer == "x"


@pytest.mark.parametrize("kind, params, key, suggestion", [
    ("conv2d", {"out_channels": 6, "kernel_size": 5, "paddding": 1}, "paddding", "padding"),
    ("conv2d", {"out_channels": 6, "kernel_size": 5, "stide": 2}, "stide", "stride"),
    ("dropout", {"pp": 0.2}, "pp", "p"),
    ("linear", {"out_features": 6, "bais": False}, "bais", "bias"),
])
def test_unknown_parameter_suggests_a_close_name_and_is_removed_by_the_fix(
        kind, params, key, suggestion):
    spec = _place(kind, params)
    err = expect_error(spec, f"{kind} 'x' has no parameter {key!r} — did you mean "
                             f"{suggestion!r}?", "its parameters are",
                       layer="x", shape_error=False, has_fix=True)
    assert key not in err.fix.apply(spec).layers[spec.index_of("x")].params


def test_unknown_parameter_of_a_kind_without_parameters():
    spec = make_spec(("flatten", "flatten", {"start_dim": 1}))
    expect_error(spec, "flatten 'flatten' has no parameter 'start_dim'",
                 "(it takes no parameters)", layer="flatten", index=0, has_fix=True)


@pytest.mark.parametrize("kind, params, missing", [
    ("conv2d", {"kernel_size": 3}, "conv2d 'x' needs out_channels (number of filters)"),
    ("conv2d", {"out_channels": 3}, "conv2d 'x' needs kernel_size (filter height and width)"),
    ("maxpool2d", {}, "maxpool2d 'x' needs kernel_size"),
    ("avgpool2d", {"stride": 1}, "avgpool2d 'x' needs kernel_size"),
    ("linear", {}, "linear 'x' needs out_features"),
])
def test_missing_required_parameter(kind, params, missing):
    spec = _place(kind, params)
    expect_error(spec, missing, layer="x", index=spec.index_of("x"), shape_error=False,
                 has_fix=False)


def test_default_params_make_every_kind_valid_where_it_fits():
    for kind, info in LAYER_KINDS.items():
        validate(_place(kind, default_params(kind)))
        assert set(default_params(kind)) == {p.name for p in info.params if p.required}


@pytest.mark.parametrize("kind, suggestion", [
    ("conv2", "conv2d"), ("Conv2d", "conv2d"), ("Linear", "linear"), ("maxpool", "maxpool2d"),
    ("batchnorm", "batchnorm2d"), ("relu6", "relu"),
])
def test_unknown_kind_suggests_a_close_match(kind, suggestion):
    spec = make_spec(("flatten", "flatten"), (kind, "mystery"))
    err = expect_error(spec, f"layer 'mystery' has unknown kind {kind!r} — did you mean "
                             f"{suggestion!r}?", "Known kinds: conv2d, ",
                       layer="mystery", index=1, shape_error=False, has_fix=False)
    for known in LAYER_KINDS:
        assert known in str(err)


def test_unknown_kind_with_no_close_match_lists_known_kinds():
    err = expect_error(make_spec(("zzzzzz", "mystery")), "unknown kind 'zzzzzz'",
                       "Known kinds:", layer="mystery", index=0)
    assert "did you mean" not in str(err)


# ------------------------------------------------------------------- errors: names


def test_reserved_names_cover_every_public_attribute_of_sequential():
    public = {n for n in dir(torch.nn.Sequential()) if not n.startswith("_")}
    assert public <= RESERVED_NAMES, sorted(public - RESERVED_NAMES)


def test_every_sequential_attribute_is_rejected_as_a_layer_name():
    for name in sorted(n for n in dir(torch.nn.Sequential()) if not n.startswith("_")):
        spec = make_spec(("relu", name))
        err = expect_error(spec, f"layer 1 is named {name!r}, which is reserved by PyTorch "
                                 f"modules", layer=name, index=0, shape_error=False,
                           has_fix=True)
        assert err.fix.action == "rename" and err.fix.value not in RESERVED_NAMES


@pytest.mark.parametrize("name, suggestion, why", [
    ("1conv", "conv", "must use letters, digits and underscores"),
    ("for", "for_layer", "must use letters"),
    ("class", "class_layer", "must use letters"),
    ("forward", "forward_layer", "is reserved by PyTorch modules"),
    ("to", "to_layer", "is reserved by PyTorch modules"),
    ("a.b", "a_b", "must use letters"),
    ("my layer", "my_layer", "must use letters"),
    ("conv-1", "conv_1", "must use letters"),
    ("_hidden", "hidden", "must use letters"),
    ("__init__", "init__", "must use letters"),
    ("123", "layer", "must use letters"),
    ("x" * 65, "x" * 64, "be at most 64 characters"),
])
def test_invalid_names_are_rejected_with_a_rename_fix(name, suggestion, why):
    spec = make_spec(("conv2d", "conv1", {"out_channels": 2, "kernel_size": 3}), ("relu", name))
    err = expect_error(spec, f"layer 2 is named {name!r:.80}, which ", why,
                       f"rename it, e.g. to {suggestion!r}",
                       layer=name, index=1, shape_error=False, has_fix=True)
    assert err.fix.action == "rename" and err.fix.value == suggestion
    fixed = err.fix.apply(spec)
    assert fixed.layers[1] == LayerSpec("relu", suggestion)
    assert hasattr(build_model(fixed), suggestion)


@pytest.mark.parametrize("name, folded, suggestion", [
    ("fc\uff11", "fc1", "fc_2"),          # a full-width digit beside a real fc1
    ("\uff54\uff4f", "to", "to_layer"),  # full-width "to": nn.Module.to once folded
    ("\ufb01lter", "filter", "filter"),   # the "fi" ligature
    ("x\u2082", "x2", "x2"),              # a subscript two
])
def test_names_that_python_would_normalise_are_rejected(name, folded, suggestion):
    """Python reads identifiers in NFKC form, so `self.fc１` in the exported module is
    `fc1`: the generated class would differ from the trained model. Such a name is
    refused, naming the layer and the name Python would read."""
    spec = make_spec(("flatten", "flat"), ("linear", "fc1", {"out_features": 8}),
                     ("linear", name, {"out_features": 4}))
    err = expect_error(spec, f"layer 3 is named {name!r}, which Python reads as {folded!r}",
                       f"rename it, e.g. to {suggestion!r}", layer=name, index=2,
                       shape_error=False, has_fix=True)
    fixed = err.fix.apply(spec)
    assert fixed.layers[2].name == suggestion
    with pytest.raises(SpecError, match="Python reads as"):
        ModelSpec.from_json(spec.to_json())


def test_names_python_keeps_as_written_are_accepted():
    """Letters beyond ASCII that NFKC leaves alone name the same attribute in the
    exported module, so they stay allowed."""
    spec = make_spec(("flatten", "schicht_\u00e4"), ("linear", "\u0441\u043b\u043e\u0439",
                                                     {"out_features": 3}))
    validate(spec)
    assert [n for n, _ in build_model(spec).named_children()] == ["schicht_\u00e4",
                                                                  "\u0441\u043b\u043e\u0439"]


def test_a_decomposed_accent_is_refused_for_its_composed_spelling():
    decomposed = "schicht_a\u0308"  # a + combining diaeresis; Python reads it as "ä"
    expect_error(make_spec(("relu", decomposed)), "which Python reads as 'schicht_\u00e4'",
                 layer=decomposed, index=0, has_fix=True)


def test_invalid_name_suggestion_avoids_names_in_use():
    spec = make_spec(("relu", "a_b"), ("relu", "a.b"))
    err = expect_error(spec, "rename it, e.g. to 'a_b_2'", layer="a.b", index=1, has_fix=True)
    assert err.fix.value == "a_b_2"


def test_empty_name_gets_a_name_from_its_kind():
    spec = make_spec(("relu", ""))
    err = expect_error(spec, "layer 1 has no name: give it one", layer=None, index=0,
                       shape_error=False, has_fix=True)
    assert err.fix.apply(spec).layers[0].name == "relu"


def test_duplicate_names_are_rejected_and_the_fix_renames_the_second():
    spec = make_spec(("conv2d", "conv1", {"out_channels": 6, "kernel_size": 3}),
                     ("relu", "act"),
                     ("conv2d", "conv1", {"out_channels": 6, "kernel_size": 3}))
    err = expect_error(spec, "two layers are named 'conv1' (layers 1 and 3): names must be "
                             "unique — rename layer 3, e.g. to 'conv_2'",
                       layer="conv1", index=2, shape_error=False, has_fix=True)
    fixed = err.fix.apply(spec)
    assert [layer.name for layer in fixed.layers] == ["conv1", "act", "conv_2"]
    assert fixed.layers[2].params == spec.layers[2].params


# ----------------------------------------------------------- errors: whole model


def test_empty_model():
    err = expect_error(make_spec(), "the model has no layers: add at least one layer",
                       layer=None, index=None, shape_error=False, has_fix=False)
    assert err.fix is None


@pytest.mark.parametrize("shape, fragment", [
    ((0, 28, 28), "three positive integers (C, H, W), got (0, 28, 28)"),
    ((1, -28, 28), "three positive integers"),
    ((1, 28), "three positive integers (C, H, W), got (1, 28)"),
    ((1, 1, 28, 28), "three positive integers"),
    ((), "three positive integers"),
    ((1.0, 28, 28), "three positive integers"),
    ((True, 28, 28), "three positive integers"),
    (("1", 28, 28), "three positive integers"),
    ((2048, 1, 1), "the input has 2,048 channels; at most 1,024"),
    ((1, 9000, 28), "the input is 9000×28; at most 8192×8192"),
    ((3, 8192, 8192), "has 201,326,592 values; the limit is 50,000,000"),
])
def test_bad_input_shape(shape, fragment):
    expect_error(make_spec(("relu", "relu"), input_shape=shape), fragment,
                 layer=None, index=None, shape_error=False, has_fix=False)


def test_too_many_layers():
    spec = make_spec(*[("relu", f"r{i}") for i in range(MAX_LAYERS + 1)])
    expect_error(spec, "the model has 1,001 layers; at most 1,000", layer=None, index=None)
    validate(make_spec(*[("relu", f"r{i}") for i in range(MAX_LAYERS)]))


def test_a_billion_parameter_linear_is_refused_before_anything_is_allocated(monkeypatch):
    # 10,000 features into 100,000 units: 10**9 weights, 4 GB.
    spec = make_spec(("flatten", "flatten"), ("linear", "fc1", {"out_features": 100_000}),
                     input_shape=(1, 100, 100))
    start = time.perf_counter()
    err = expect_error(spec, "linear 'fc1' brings the model to 1,000,100,000 parameters",
                       "(4.0 GB of weights): the limit is 100,000,000",
                       "use fewer units or channels", layer="fc1", index=1)
    assert time.perf_counter() - start < 0.5
    assert err.fix is None

    def no_allocation(*args, **kwargs):
        raise AssertionError("a module was constructed for an over-limit spec")

    monkeypatch.setattr(torch.nn.Linear, "__init__", no_allocation)
    monkeypatch.setattr(torch.nn.Flatten, "__init__", no_allocation)
    start = time.perf_counter()
    with pytest.raises(SpecError, match="the limit is 100,000,000"):
        build_model(spec)
    assert time.perf_counter() - start < 0.5
    with pytest.raises(SpecError, match="the limit is 100,000,000"):
        ModelSpec.from_json(spec.to_json())
    # A billion output units is outside out_features' range before any arithmetic.
    units = make_spec(("flatten", "flatten"), ("linear", "fc1", {"out_features": 10**9}))
    start = time.perf_counter()
    with pytest.raises(SpecError, match="out_features must be an integer from 1 to") as info:
        build_model(units)
    assert time.perf_counter() - start < 0.5
    assert info.value.layer == "fc1" and not info.value.shape_error


def test_parameter_limit_counts_the_whole_model():
    big = {"out_features": 9_000}
    spec = make_spec(("flatten", "flatten"), *[("linear", f"fc{i}", big) for i in range(1, 4)],
                     input_shape=(1, 100, 100))  # 90 M, then 81 M more
    expect_error(spec, "linear 'fc2' brings the model to", "the limit is 100,000,000",
                 layer="fc2", index=2)
    assert MAX_PARAMETERS == 100_000_000


def test_absurd_activation_size_is_refused():
    spec = make_spec(("conv2d", "conv1", {"out_channels": 65536, "kernel_size": 3}),
                     input_shape=(3, 2048, 2048))
    start = time.perf_counter()
    expect_error(spec, f"conv2d 'conv1' outputs 65536×2046×2046 = {65536 * 2046 * 2046:,} "
                       "values per image: the limit is 50,000,000", "add pooling before it",
                 layer="conv1", index=0, shape_error=False)
    with pytest.raises(SpecError, match="values per image"):
        build_model(spec)
    assert time.perf_counter() - start < 0.5
    assert MAX_ACTIVATION_VALUES == 50_000_000


def test_adaptive_pool_output_size_is_bounded_by_activation_limit():
    spec = make_spec(("adaptiveavgpool2d", "up", {"output_size": 8192}), input_shape=(4, 8, 8))
    expect_error(spec, "adaptiveavgpool2d 'up' outputs 4×8192×8192", "the limit is 50,000,000",
                 layer="up")


def test_fix_with_unknown_action():
    with pytest.raises(ValueError, match="unknown fix action"):
        SpecFix("?", "explode", 0).apply(lenet())


# ------------------------------------------------------------------------- editing


def _abcd() -> ModelSpec:
    return make_spec(("relu", "a"), ("tanh", "b"), ("sigmoid", "c"), ("relu", "d"))


def _names(spec: ModelSpec) -> list[str]:
    return [layer.name for layer in spec.layers]


def test_editing_returns_new_specs_and_leaves_the_original_alone():
    spec = _abcd()
    assert _names(spec.inserted(1, LayerSpec("gelu", "g"))) == ["a", "g", "b", "c", "d"]
    assert _names(spec.inserted(4, LayerSpec("gelu", "g"))) == ["a", "b", "c", "d", "g"]
    assert _names(spec.inserted(0, LayerSpec("gelu", "g"))) == ["g", "a", "b", "c", "d"]
    assert _names(spec.removed(0)) == ["b", "c", "d"]
    assert _names(spec.removed(-1)) == ["a", "b", "c"]
    assert _names(spec.moved(0, 2)) == ["b", "c", "a", "d"]
    assert _names(spec.moved(3, 0)) == ["d", "a", "b", "c"]
    assert _names(spec.moved(1, 1)) == ["a", "b", "c", "d"]
    replaced = spec.with_layer(2, LayerSpec("elu", "e", {"alpha": 2.0}))
    assert replaced.layers[2] == LayerSpec("elu", "e", {"alpha": 2.0})
    assert _names(replaced) == ["a", "b", "e", "d"]
    assert spec == _abcd()  # unchanged
    assert isinstance(spec.inserted(1, LayerSpec("gelu", "g")).layers, tuple)
    assert spec.replace(name="other").name == "other" and spec.name == "test"
    assert spec.index_of("c") == 2
    with pytest.raises(KeyError):
        spec.index_of("zzz")


def test_unique_name():
    spec = make_spec(("conv2d", "conv1", {"out_channels": 2, "kernel_size": 1}),
                     ("relu", "relu"), ("relu", "relu_2"), ("flatten", "flatten"))
    assert spec.unique_name("conv2") == "conv2"  # unused: itself
    assert spec.unique_name("tanh") == "tanh"
    assert spec.unique_name("flatten") == "flatten_2"
    assert spec.unique_name("relu") == "relu_3"  # relu_2 is taken
    assert spec.unique_name("relu_2") == "relu_3"  # a copy of a copy: no relu_2_2
    assert spec.unique_name("conv1") == "conv_2"
    for base in ("conv1", "relu", "relu_2", "flatten"):
        assert spec.unique_name(base) not in _names(spec)


def test_layer_spec_with_params_and_renamed():
    layer = LayerSpec("conv2d", "c", {"out_channels": 4, "kernel_size": 3})
    changed = layer.with_params(kernel_size=[5, 3], padding=1, out_channels=None)
    assert changed.params == {"kernel_size": (5, 3), "padding": 1}
    assert layer.params == {"out_channels": 4, "kernel_size": 3}
    assert layer.renamed("d") == LayerSpec("conv2d", "d", layer.params)


def test_layer_spec_freezes_lists_to_tuples():
    assert LayerSpec("conv2d", "c", {"kernel_size": [3, 5]}) == \
        LayerSpec("conv2d", "c", {"kernel_size": (3, 5)})
    layer = LayerSpec("conv2d", "c", {"kernel_size": [3, 5]})
    assert layer.params["kernel_size"] == (3, 5)
    assert isinstance(layer.params["kernel_size"], tuple)
    source = {"kernel_size": 3}
    layer = LayerSpec("conv2d", "c", source)
    source["kernel_size"] = 7  # the spec does not share the caller's dict
    assert layer.params["kernel_size"] == 3
    spec = ModelSpec("m", [1, 8, 8], [LayerSpec("relu", "r")])
    assert spec.input_shape == (1, 8, 8) and isinstance(spec.layers, tuple)


# ---------------------------------------------------------------------------- JSON


ROUND_TRIP = make_spec(
    ("conv2d", "conv1", {"in_channels": 3, "out_channels": 8, "kernel_size": (3, 5),
                         "stride": (1, 2), "padding": [1, 2], "bias": False}),
    ("batchnorm2d", "bn1", {"eps": 1e-3, "momentum": 0.05}),
    ("leakyrelu", "act", {"negative_slope": 0.2}),
    ("maxpool2d", "pool", {"kernel_size": (2, 3), "stride": None, "ceil_mode": True}),
    ("dropout2d", "drop2d", {"p": 0.125}),
    ("flatten", "flatten"),
    ("dropout", "drop", {"p": 1 / 3}),
    ("linear", "fc", {"out_features": 10}),
    ("elu", "elu", {"alpha": 0.1 + 0.2}),
    input_shape=(3, 16, 16), name="round trip ✓",
)


def test_json_round_trip_is_exact_with_tuples_and_floats():
    validate(ROUND_TRIP)
    text = ROUND_TRIP.to_json()
    loaded = ModelSpec.from_json(text)
    assert loaded == ROUND_TRIP
    assert loaded.to_json() == text
    assert loaded.layers[0].params["kernel_size"] == (3, 5)
    assert loaded.layers[0].params["padding"] == (1, 2)
    assert loaded.layers[6].params["p"] == 1 / 3  # bit for bit
    assert loaded.layers[8].params["alpha"] == 0.1 + 0.2
    assert loaded.layers[3].params["stride"] is None
    assert ModelSpec.from_json(text.encode("utf-8")) == ROUND_TRIP
    assert ModelSpec.from_json(ROUND_TRIP.to_json(indent=None)) == ROUND_TRIP
    assert ModelSpec.from_dict(json.loads(text)) == ROUND_TRIP


def test_to_dict_layout():
    data = json.loads(ROUND_TRIP.to_json())
    assert data["format"] == FORMAT and data["version"] == FORMAT_VERSION
    assert data["input_shape"] == [3, 16, 16]
    assert data["layers"][0] == {"name": "conv1", "kind": "conv2d", "params": {
        "in_channels": 3, "out_channels": 8, "kernel_size": [3, 5], "stride": [1, 2],
        "padding": [1, 2], "bias": False}}
    assert data["layers"][5] == {"name": "flatten", "kind": "flatten", "params": {}}


def test_integers_given_for_float_parameters_load_as_floats():
    data = doc(input_shape=[1, 4, 4], layers=[
        {"name": "flatten", "kind": "flatten"},  # params may be left out
        {"name": "drop", "kind": "dropout", "params": {"p": 0}},
        {"name": "act", "kind": "elu", "params": {"alpha": 2}}])
    spec = ModelSpec.from_json(json.dumps(data))
    assert spec.layers[1].params["p"] == 0.0 and isinstance(spec.layers[1].params["p"], float)
    assert isinstance(spec.layers[2].params["alpha"], float)
    assert spec.layers[0].params == {}
    assert ModelSpec.from_json(spec.to_json()).to_json() == spec.to_json()


def test_description_field_is_allowed():
    spec = ModelSpec.from_json(json.dumps(doc(description="a tiny model")))
    assert spec.name == "tiny"


def test_shape_error_loads_only_without_check_shapes():
    text = lenet_on_mnist_with_fixed_fc1().to_json()
    err = expect_load_error(text, "linear 'fc1' expects 400 input features but receives 256")
    assert err.shape_error and err.layer == "fc1" and err.index == 7
    spec = ModelSpec.from_json(text, check_shapes=False)
    assert spec == lenet_on_mnist_with_fixed_fc1()
    assert summarize(spec, strict=False).error.layer == "fc1"
    with pytest.raises(SpecError):
        ModelSpec.from_dict(json.loads(text))
    assert ModelSpec.from_dict(json.loads(text), check_shapes=False) == spec
    with pytest.raises(SpecError, match="expects 400 input features"):
        build_model(spec)


@pytest.mark.parametrize("late_layer, fragment", [
    ({"name": "drop", "kind": "dropout", "params": {"p": 1.5}}, "p must be a number"),
    ({"name": "what", "kind": "conv2", "params": {}}, "did you mean 'conv2d'"),
    ({"name": "fc1", "kind": "relu", "params": {}}, "two layers are named 'fc1'"),
    ({"name": "for", "kind": "relu", "params": {}}, "is named 'for'"),
    ({"name": "big", "kind": "linear", "params": {"out_features": 10**12}},
     "out_features must be an integer"),
    ({"name": "fc9", "kind": "linear", "params": {"out_features": 10, "oops": 1}},
     "has no parameter 'oops'"),
    ({"name": "fc9", "kind": "linear", "params": {}}, "needs out_features"),
])
def test_without_check_shapes_later_values_are_still_validated(late_layer, fragment):
    # Regression: summarize stops at the first (shape) error, so values after it
    # were once returned unchecked despite from_json's promise.
    data = json.loads(lenet_on_mnist_with_fixed_fc1().to_json())
    data["layers"].append(late_layer)
    err = expect_load_error(json.dumps(data), fragment, check_shapes=False)
    assert not err.shape_error and err.index == len(data["layers"]) - 1
    expect_load_error(json.dumps(data), "expects 400 input features")  # the first error


def test_value_errors_are_raised_even_without_check_shapes():
    data = doc(layers=[{"name": "d", "kind": "dropout", "params": {"p": 2}}])
    err = expect_load_error(json.dumps(data), "p must be a number", check_shapes=False)
    assert err.layer == "d" and err.index == 0 and not err.shape_error


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


_VALID = json.dumps(doc())
_BIG_PAD = " " * (MAX_JSON_BYTES + 1)

MALFORMED = [
    ("not json", "not valid JSON"),
    ("", "not valid JSON"),
    ("{", "not valid JSON"),
    ("{'version': 1}", "not valid JSON"),
    (_VALID[:-1], "not valid JSON"),
    (_VALID + "}", "not valid JSON"),
    ("[]", "a model spec is a JSON object, not a list"),
    ("[1, 2, 3]", "not a list"),
    ("null", "not null"),
    ("42", "not an integer"),
    ('"lenet"', "not a string"),
    ("true", "not a boolean"),
    (json.dumps(doc(version=DROP)), "the model file has no 'version' field"),
    (json.dumps(doc(name=DROP)), "the model file has no 'name' field"),
    (json.dumps(doc(input_shape=DROP)), "the model file has no 'input_shape' field"),
    (json.dumps(doc(layers=DROP)), "the model file has no 'layers' field"),
    (json.dumps(doc(extra=1)), "unknown field(s) 'extra'"),
    (json.dumps(doc(Layers=[])), "unknown field(s) 'Layers'"),
    (json.dumps(doc(format="keras-model")), "not a netexplorer model file"),
    (json.dumps(doc(format=None)), "not a netexplorer model file"),
    (json.dumps(doc(format=["netexplorer-model"])), "not a netexplorer model file"),
    (json.dumps(doc(version=2)), "format version 2 (made by a newer netexplorer?)"),
    (json.dumps(doc(version=10**30)), "made by a newer netexplorer"),
    (json.dumps(doc(version=0)), "format version 0; this netexplorer reads version 1"),
    (json.dumps(doc(version=-1)), "format version -1"),
    (json.dumps(doc(version="1")), "'version' must be an integer, not a string"),
    (json.dumps(doc(version=1.0)), "'version' must be an integer, not a number"),
    (json.dumps(doc(version=True)), "'version' must be an integer, not a boolean"),
    (json.dumps(doc(version=None)), "'version' must be an integer, not null"),
    (json.dumps(doc(name=42)), "'name' must be a non-empty string"),
    (json.dumps(doc(name="")), "'name' must be a non-empty string"),
    (json.dumps(doc(name="   ")), "'name' must be a non-empty string"),
    (json.dumps(doc(name="n" * 201)), "at most 200 characters"),
    (json.dumps(doc(name=["lenet"])), "'name' must be a non-empty string"),
    (json.dumps(doc(input_shape="1x28x28")), "'input_shape' must be three integers"),
    (json.dumps(doc(input_shape=["1", "28", "28"])), "'input_shape' must be three integers"),
    (json.dumps(doc(input_shape=[1, 28])), "'input_shape' must be three integers"),
    (json.dumps(doc(input_shape=[1, 28, 28, 1])), "'input_shape' must be three integers"),
    (json.dumps(doc(input_shape=[1.0, 28, 28])), "'input_shape' must be three integers"),
    (json.dumps(doc(input_shape=[True, 28, 28])), "'input_shape' must be three integers"),
    (json.dumps(doc(input_shape={"c": 1, "h": 2, "w": 3})), "must be three integers"),
    (json.dumps(doc(input_shape=None)), "'input_shape' must be three integers"),
    (json.dumps(doc(input_shape=[0, 28, 28])), "three positive integers"),
    (json.dumps(doc(input_shape=[1, -4, 4])), "three positive integers"),
    (json.dumps(doc(input_shape=[10**12, 1, 1])), "at most 1,024"),
    (json.dumps(doc(input_shape=[1, 10**12, 1])), "at most 8192×8192"),
    (json.dumps(doc(layers={"fc": {}})), "'layers' must be a list, not an object"),
    (json.dumps(doc(layers="conv2d")), "'layers' must be a list, not a string"),
    (json.dumps(doc(layers=None)), "'layers' must be a list, not null"),
    (json.dumps(doc(layers=[])), "the model has no layers"),
    (json.dumps(doc(layers=[42])), "layer 1 must be an object with name, kind and params, "
                                   "not an integer"),
    (json.dumps(doc(layers=[["conv2d", "c"]])), "layer 1 must be an object"),
    (json.dumps(doc(layers=["relu"])), "layer 1 must be an object"),
    (json.dumps(doc(layers=[None])), "layer 1 must be an object"),
    (json.dumps(doc(layers=[{"kind": "relu"}])), "layer 1 needs a string 'name'"),
    (json.dumps(doc(layers=[{"name": "r"}])), "layer 1 needs a string 'kind'"),
    (json.dumps(doc(layers=[{"name": 42, "kind": "relu"}])), "needs a string 'name'"),
    (json.dumps(doc(layers=[{"name": "r", "kind": ["relu"]}])), "needs a string 'kind'"),
    (json.dumps(doc(layers=[{"name": "r", "kind": "relu", "type": "x"}])),
     "layer 1 has unknown field(s) 'type'"),
    (json.dumps(doc(layers=[{"name": "r", "kind": "relu", "params": []}])),
     "layer 1 ('r'): 'params' must be an object, not a list"),
    (json.dumps(doc(layers=[{"name": "r", "kind": "relu", "params": "inplace"}])),
     "'params' must be an object, not a string"),
    (json.dumps(doc(layers=[{"name": "r", "kind": "relu", "params": None}])),
     "'params' must be an object, not null"),
    (json.dumps(doc(layers=[{"name": "r", "kind": "relu", "params": {"inplace": {}}}])),
     "inplace must be true or false"),
    (json.dumps(doc(layers=[{"name": "c", "kind": "conv2d",
                             "params": {"out_channels": 2, "kernel_size": [[3, 3]]}}])),
     "kernel_size must be an integer"),
    (json.dumps(doc(layers=[{"name": "c", "kind": "conv2d",
                             "params": {"out_channels": {"n": 2}, "kernel_size": 3}}])),
     "out_channels must be an integer"),
    (json.dumps(doc(layers=[{"name": "r", "kind": "relu"}, {"name": "r", "kind": "relu"}])),
     "two layers are named 'r'"),
    (json.dumps(doc(layers=[{"name": "x", "kind": "dense"}])), "unknown kind 'dense'"),
    (json.dumps(doc(layers=[{"name": "x", "kind": "relu"}] * (MAX_LAYERS + 1))),
     "the model has 1,001 layers; at most 1,000"),
    ('{"version": NaN}', "contains NaN, which is not a valid number"),
    (_VALID.replace('"out_features": 3', '"out_features": Infinity'), "contains Infinity"),
    (_VALID.replace('"out_features": 3', '"out_features": -Infinity'), "contains -Infinity"),
    (json.dumps(doc(layers=[{"name": "d", "kind": "dropout", "params": {"p": 0.5}}]))
     .replace("0.5", "NaN"), "contains NaN"),
    (_VALID.replace('"out_features": 3', '"out_features": 1e400'),
     "out_features must be an integer"),
    (_VALID.replace('"out_features": 3', '"out_features": ' + "9" * 5000), "not valid JSON"),
    ("[" * 100_000, "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ('{"a":' * 100_000, "not valid JSON"),
    (_VALID.replace('"out_features": 3', '"out_features": ' + _deep(600)), "nested too deeply"),
    (_VALID.replace('"out_features": 3', '"out_features": ' + _deep(990)), ""),
    (_VALID.replace('"params": {}', '"params": {"x": ' + _deep(900) + "}"), ""),
    (json.dumps(doc(input_shape=[])).replace("[]", _deep(900)), ""),
    (json.dumps(doc(format="x")).replace('"x"', _deep(900)), ""),
    (_VALID + _BIG_PAD, "the model file is 1,000,"),
    ((_VALID + _BIG_PAD).encode(), "at most 1,000,000"),
    (b"\xff\xfe{}", "not UTF-8 text"),
    (_VALID.encode()[:-2] + b"\xc3\x28}", "not UTF-8 text"),
    (b"\xef\xbb\xbf" + _VALID.encode(), "not valid JSON"),
    (bytearray(b"[]"), "not a list"),
    (None, "a model spec is JSON text, not NoneType"),
    (42, "JSON text, not int"),
    (["{}"], "JSON text, not list"),
    (doc(), "JSON text, not dict"),
]


@pytest.mark.parametrize("text, fragment", MALFORMED,
                         ids=[f"{i}:{str(t)[:30]!r}" for i, (t, _) in enumerate(MALFORMED)])
def test_malformed_json_raises_spec_error(text, fragment):
    expect_load_error(text, fragment)
    if isinstance(text, (str, bytes)):
        expect_load_error(text, fragment, check_shapes=False)


def test_malformed_json_is_refused_quickly():
    start = time.perf_counter()
    for text in ("[" * 100_000, _VALID + _BIG_PAD, '{"a":' * 100_000):
        expect_load_error(text)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("data, fragment", [
    ([], "not a list"),
    ("text", "not a string"),
    (doc(version=DROP), "no 'version' field"),
    (doc(layers=[{"name": "r", "kind": "relu", "params": [1]}]), "'params' must be an object"),
])
def test_from_dict_validates_like_from_json(data, fragment):
    with pytest.raises(SpecError, match=fragment.replace("(", r"\(")):
        ModelSpec.from_dict(data)


def test_huge_out_features_in_json_is_a_range_error():
    data = doc(layers=[{"name": "flatten", "kind": "flatten"},
                       {"name": "fc1", "kind": "linear", "params": {"out_features": 10**12}}])
    err = expect_load_error(json.dumps(data), "linear 'fc1': out_features must be an integer "
                                              "from 1 to", "got 1000000000000")
    assert err.layer == "fc1" and err.index == 1 and not err.shape_error
    assert MAX_FEATURES < 10**12


def test_hostile_sizes_in_json_are_refused_before_allocation():
    conv = doc(input_shape=[3, 2048, 2048],
               layers=[{"name": "conv1", "kind": "conv2d",
                        "params": {"out_channels": 65536, "kernel_size": 3}}])
    linear = doc(input_shape=[1, 100, 100],
                 layers=[{"name": "flatten", "kind": "flatten"},
                         {"name": "fc1", "kind": "linear", "params": {"out_features": 100_000}}])
    start = time.perf_counter()
    expect_load_error(json.dumps(conv), "values per image: the limit is 50,000,000")
    expect_load_error(json.dumps(linear), "the limit is 100,000,000")
    # Size limits do not depend on check_shapes.
    expect_load_error(json.dumps(linear), "the limit is 100,000,000", check_shapes=False)
    assert time.perf_counter() - start < 0.5


def test_mutated_files_raise_spec_error_or_load():
    """Random corruptions of a real file: each loads or raises SpecError, nothing else."""
    text = lenet().to_json(indent=None)
    rng = random.Random(1234)
    alphabet = '{}[]",:0123456789-.eE ntfaluxNI\\\x00é'
    loaded = 0
    for _ in range(400):
        chars = list(text)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(chars))
            op = rng.random()
            if op < 0.4:
                chars[pos] = rng.choice(alphabet)
            elif op < 0.7:
                del chars[pos]
            else:
                chars.insert(pos, rng.choice(alphabet))
        mutated = "".join(chars)
        try:
            spec = ModelSpec.from_json(mutated)
        except SpecError:
            continue
        loaded += 1
        summarize(spec)  # whatever loads is a valid spec
    for cut in range(0, len(text), 7):  # every truncation is refused
        expect_load_error(text[:cut])
    assert loaded < 400


# ------------------------------------------------------------------------ building


def test_build_model_uses_the_layer_names():
    spec = lenet()
    model = build_model(spec)
    assert isinstance(model, nn.Sequential)
    assert [name for name, _ in model.named_children()] == [layer.name for layer in spec.layers]
    assert model.conv1.weight.shape == (6, 1, 5, 5)
    assert model.fc1.weight.shape == (120, 400)
    assert model[0] is model.conv1
    # Every layer name gives a working attribute, so no name may shadow a method.
    model.to("cpu").eval()
    out = model(torch.randn(3, 1, 32, 32))
    assert out.shape == (3, 10)


def test_build_model_validates_first():
    with pytest.raises(SpecError, match="expects 400 input features"):
        build_model(lenet_on_mnist_with_fixed_fc1())
    with pytest.raises(SpecError, match="no layers"):
        build_model(make_spec())


# ------------------------------------------------------------------------ printing


def test_format_summary():
    text = format_summary(summarize(lenet()))
    for name in [t[1] for t in LENET] + ["input"]:
        assert name in text
    assert "Model: lenet" in text
    assert "Total params: 61,706" in text
    assert "Mult-adds per sample: 423,038 (0.42 M)" in text
    assert "16×5×5" in text and "48,120" in text and "241,600" in text
    assert "Weights: 246.8 KB" in text
    assert "Error" not in text
    header = next(line for line in text.splitlines() if line.startswith("Layer"))
    for title in ("Kind", "Output shape", "Params", "Mult-adds"):
        assert title in header


def test_format_summary_shows_the_error():
    text = format_summary(summarize(lenet_on_mnist_with_fixed_fc1(), strict=False))
    assert "Error: linear 'fc1' expects 400 input features but receives 256" in text
    assert "flatten" in text and "fc2" not in text


def test_summarize_is_cheap():
    spec = make_spec(*ZOO, input_shape=(3, 20, 22))
    times = []
    for _ in range(7):
        start = time.perf_counter()
        summarize(spec)
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < 0.02


# ------------------------------------------------------------------ spec files


def test_read_spec_file_round_trips(tmp_path):
    spec = make_spec(("flatten", "flat"), ("linear", "fc1", {"out_features": 3}))
    path = tmp_path / "model.json"
    path.write_text(spec.to_json())
    assert read_spec_file(path) == ModelSpec.from_json(spec.to_json())


def test_a_huge_spec_file_is_refused_without_being_read(tmp_path):
    """A sparse 5 GB file: its size is named, and no more than the limit is read
    (reading it whole would need 5 GB of memory)."""
    import tracemalloc

    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:
        handle.truncate(5 * 1024**3)
    tracemalloc.start()
    try:
        with pytest.raises(SpecError) as caught:
            read_spec_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(caught.value) == (f"{path} is {5 * 1024**3:,} bytes; a model spec is at most "
                                 f"{MAX_JSON_BYTES:,} bytes: is this the right file?")
    assert peak < 4 * MAX_JSON_BYTES


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_spec_file_is_refused_after_the_limit():
    with pytest.raises(SpecError, match=r"^/dev/zero is more than 1,000,000 bytes; a model "
                                        r"spec is at most 1,000,000 bytes"):
        read_spec_file("/dev/zero")


def test_class_count_error_offers_the_fix_that_makes_the_outputs_fit():
    from netexplorer.core.presets import get_preset
    from netexplorer.core.specs import class_count_error

    lenet = get_preset("lenet")
    assert class_count_error(lenet, summarize(lenet), 10, "digits") is None
    error = class_count_error(lenet, summarize(lenet), 5, "five")
    assert error.layer == "fc3" and "5 classes" in error.message
    fixed = error.fix.apply(lenet)
    assert class_count_error(fixed, summarize(fixed), 5, "five") is None
    # A model that ends on images: flatten first, then a linear layer of the classes.
    convs = ModelSpec("convs", (1, 8, 8), (LayerSpec("conv2d", "conv1", {"out_channels": 2,
                                                                           "kernel_size": 3}),))
    error = class_count_error(convs, summarize(convs), 3, "three")
    assert error.fix.layer.kind == "flatten"
    flat = error.fix.apply(convs)
    error = class_count_error(flat, summarize(flat), 3, "three")
    assert error.fix.layer.kind == "linear"
    done = error.fix.apply(flat)
    assert summarize(done).output_shape == (3,)
    assert class_count_error(done, summarize(done), 3, "three") is None
