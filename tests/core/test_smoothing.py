"""TensorBoard's smoothing: a debiased exponential moving average."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netexplorer.core.smoothing import EmaSmoother, smoothed


def _tensorboard(values: list[float], weight: float) -> list[float]:
    """TensorBoard's own loop (its scalar dashboard's resmoothDataset), by hand."""
    last, seen, out = 0.0, 0, []
    for x in values:
        if math.isfinite(x):
            last = last * weight + (1 - weight) * x
            seen += 1
        out.append(last / (1 - weight ** seen) if seen else math.nan)
    return out


def test_the_first_value_is_kept_and_the_rest_follows_tensorboard():
    values = [2.0, 1.0, 3.0, float("nan"), 0.5, 4.0]
    for weight in (0.0, 0.3, 0.6, 0.99):
        got = smoothed(np.array(values), weight)
        assert got[0] == pytest.approx(2.0)
        assert list(got) == pytest.approx(_tensorboard(values, weight), nan_ok=True)
    assert list(smoothed(np.array([1.0, 2.0]), 0.0)) == [1.0, 2.0]


def test_a_growing_curve_is_smoothed_only_where_it_grew():
    values = np.random.default_rng(0).random(1000)
    smoother = EmaSmoother(0.9)
    smoother.extend(values[:400])
    assert list(smoother.extend(values)) == pytest.approx(list(smoothed(values, 0.9)))
    assert list(smoother.extend(values[:10])) == pytest.approx(list(smoothed(values[:10], 0.9)))


def test_a_weight_out_of_range_is_refused():
    with pytest.raises(ValueError, match="from 0 to 0.999"):
        EmaSmoother(1.0)
