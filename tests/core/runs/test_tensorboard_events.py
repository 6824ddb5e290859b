"""The recorder's TensorBoard writing is TensorBoard's format exactly: its records
are what tensorboard's RecordWriter writes, and its histograms what
torch.utils.tensorboard's SummaryWriter.add_histogram would have written."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as tb_masked
from tensorboard.summary.writer.record_writer import RecordWriter
from torch.utils.tensorboard.summary import histogram as tb_histogram

from netexplorer.core.runs.tensorboard_events import (
    BINS,
    histogram_values,
    masked_crc32c,
    record,
)


@pytest.mark.parametrize("data", [b"", b"x", bytes(range(256)) * 9, b"\x00" * 4097])
def test_records_are_tensorboards_byte_for_byte(data):
    assert masked_crc32c(data) == tb_masked(data)
    written = io.BytesIO()
    RecordWriter(written).write(data)
    assert record(data) == written.getvalue()


def _tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    relu = torch.relu(torch.randn(4, 6, 5, 5, generator=g))  # a mass at exactly 0
    return {
        "weights/conv1.weight": torch.randn(6, 1, 5, 5, generator=g) * 0.2,
        "weights/fc1.weight": torch.randn(120, 400, generator=g) * 0.05,
        "gradients/fc1.bias": torch.randn(120, generator=g) * 1e-7,
        "activations/relu": relu,
        "one value": torch.tensor([3.0]),
        "huge": torch.tensor([-3e25, 1.0, 2e30]),  # beyond TensorFlow's edges
        "edge": torch.tensor(BINS[[0, 700, -1]], dtype=torch.float64),  # on the edges
        "float64": torch.randn(50, generator=g, dtype=torch.float64),
    }


def test_histograms_are_those_summary_writer_makes():
    tensors = _tensors()
    made = {value.tag: value.histo for value in histogram_values(tensors.items())}
    assert list(made) == list(tensors)
    for tag, tensor in tensors.items():
        expected = tb_histogram(tag, tensor.numpy(), BINS.tolist()).value[0].histo
        got = made[tag]
        assert list(got.bucket_limit) == list(expected.bucket_limit), tag
        assert list(got.bucket) == list(expected.bucket), tag
        assert (got.min, got.max, got.num) == (expected.min, expected.max, expected.num)
        assert got.sum == pytest.approx(expected.sum, rel=1e-9, abs=1e-12)
        assert got.sum_squares == pytest.approx(expected.sum_squares, rel=1e-9)


def test_non_finite_and_empty_tensors_are_left_out():
    tensors = [("nan", torch.tensor([1.0, float("nan")])), ("inf", torch.tensor([float("inf")])),
               ("empty", torch.zeros(0)), ("fine", torch.ones(3))]
    made = histogram_values(tensors)
    assert [v.tag for v in made] == ["fine"]
    assert list(made[0].histo.bucket) == [0, 3] and made[0].histo.num == 3
    assert histogram_values([]) == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.cuda
def test_histograms_on_the_gpu_equal_those_on_the_cpu():
    tensors = _tensors()
    on_cpu = histogram_values(tensors.items())
    on_gpu = histogram_values((tag, t.cuda()) for tag, t in tensors.items())
    for a, b in zip(on_cpu, on_gpu, strict=True):
        assert list(a.histo.bucket) == list(b.histo.bucket)
        assert np.isclose(a.histo.sum_squares, b.histo.sum_squares, rtol=1e-9)
