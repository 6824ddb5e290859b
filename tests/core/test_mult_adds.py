"""Mult-adds as torchinfo 1.8 counts them, row by row, for every preset.

torchinfo's rule (LayerInfo.calculate_macs), applied to a leaf module's parameters
at batch size 1: a parameter named weight or bias of a Conv layer counts
numel × output H × W (the output channels are already in numel); of any other
layer, numel. Layers without parameters count 0. So a convolution's bias counts
once per output position, a linear layer's bias once, a batch-norm layer's weight
and bias once each — 2 per channel, whatever the feature map's size.

The figures below are derived by hand from that rule (torchinfo is not a
dependency); LeNet's total, 423,038, is the one torchinfo 1.8 prints.
"""

from __future__ import annotations

import pytest

from netexplorer.core.presets import get_preset, preset_names
from netexplorer.core.specs import LayerSpec, ModelSpec, format_summary, summarize

TORCHINFO = {
    "lenet": {  # 1×32×32
        "conv1": (6 * 1 * 5 * 5 + 6) * 28 * 28,  # 122,304
        "conv2": (16 * 6 * 5 * 5 + 16) * 10 * 10,  # 241,600
        "fc1": 400 * 120 + 120,
        "fc2": 120 * 84 + 84,
        "fc3": 84 * 10 + 10,
    },
    "cifar-net": {  # 3×32×32
        "conv1": (6 * 3 * 5 * 5 + 6) * 28 * 28,  # 357,504
        "conv2": (16 * 6 * 5 * 5 + 16) * 10 * 10,
        "fc1": 400 * 120 + 120,
        "fc2": 120 * 84 + 84,
        "fc3": 84 * 10 + 10,
    },
    "cifar-vgg": {  # 3×32×32, convolutions without bias, batch-norm after each
        "conv1": 32 * 3 * 3 * 3 * 32 * 32,
        "bn1": 2 * 32,
        "conv2": 32 * 32 * 3 * 3 * 32 * 32,
        "bn2": 2 * 32,
        "conv3": 64 * 32 * 3 * 3 * 16 * 16,
        "bn3": 2 * 64,
        "conv4": 64 * 64 * 3 * 3 * 16 * 16,
        "bn4": 2 * 64,
        "fc": 64 * 10 + 10,
    },
    "deep-sigmoid": {  # 1×28×28 flattened to 784
        "fc1": 784 * 64 + 64,
        **{f"fc{i}": 64 * 64 + 64 for i in range(2, 9)},
        "out": 64 * 10 + 10,
    },
    "mlp": {
        "fc1": 784 * 256 + 256,
        "fc2": 256 * 128 + 128,
        "fc3": 128 * 10 + 10,
    },
    "mnist-cnn": {  # 1×28×28
        "conv1": (10 * 1 * 5 * 5 + 10) * 24 * 24,  # 149,760
        "conv2": (20 * 10 * 5 * 5 + 20) * 8 * 8,  # 321,280
        "fc1": 320 * 50 + 50,
        "fc2": 50 * 10 + 10,
    },
}

TORCHINFO_TOTALS = {"lenet": 423_038, "cifar-net": 658_238, "cifar-vgg": 24_478_730,
                    "deep-sigmoid": 80_010, "mlp": 235_146, "mnist-cnn": 487_600}


def test_every_preset_is_checked():
    assert set(TORCHINFO) == set(TORCHINFO_TOTALS) == set(preset_names())


@pytest.mark.parametrize("preset", preset_names())
def test_every_row_and_total_matches_torchinfo(preset):
    summary = summarize(get_preset(preset))
    expected = TORCHINFO[preset]
    assert {r.name: r.macs for r in summary.rows} == \
        {r.name: expected.get(r.name, 0) for r in summary.rows}
    assert set(expected) <= {r.name for r in summary.rows}
    assert summary.total_macs == sum(expected.values()) == TORCHINFO_TOTALS[preset]


def test_biases_and_affine_parameters_count_only_when_present():
    spec = ModelSpec("options", (2, 6, 6), (
        LayerSpec("conv2d", "plain", {"out_channels": 4, "kernel_size": 3, "bias": False}),
        LayerSpec("conv2d", "biased", {"out_channels": 4, "kernel_size": 3}),
        LayerSpec("batchnorm2d", "fixed", {"affine": False}),
        LayerSpec("batchnorm2d", "scaled"),
        LayerSpec("conv2d", "grouped", {"out_channels": 4, "kernel_size": 1, "groups": 2,
                                        "stride": 2}),
        LayerSpec("flatten", "flatten"),
        LayerSpec("batchnorm1d", "bn1d"),
        LayerSpec("linear", "fc", {"out_features": 3, "bias": False}),
    ))
    rows = {r.name: r.macs for r in summarize(spec).rows}
    assert rows == {
        "plain": 4 * 2 * 3 * 3 * 4 * 4,
        "biased": (4 * 4 * 3 * 3 + 4) * 2 * 2,
        "fixed": 0,
        "scaled": 2 * 4,
        "grouped": (4 * 2 * 1 * 1 + 4) * 1 * 1,
        "flatten": 0,
        "bn1d": 2 * 4,
        "fc": 4 * 3,
    }


def test_the_printed_summary_names_the_rule():
    text = format_summary(summarize(get_preset("lenet")))
    assert "Mult-adds per sample: 423,038 (0.42 M)" in text
    assert "torchinfo 1.8" in text
