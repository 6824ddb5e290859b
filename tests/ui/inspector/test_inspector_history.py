"""The inspector's run history and the number helpers behind its views (no window)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netexplorer.core.inspection import STATS, Alert, LayerInfo, ProbeReport
from netexplorer.ui.inspector.layer_history import LayerHistory, finite_range, transformed
from netexplorer.ui.widgets.plots import log_ticks


def report(steps, layers=("a", "b"), alerts=(), value=1.0) -> ProbeReport:
    infos = tuple(LayerInfo(i, name, "linear", True, False) for i, name in enumerate(layers))
    stats = np.full((len(steps), len(STATS), len(layers)), value, dtype=np.float32)
    for row, step in enumerate(steps):
        stats[row] *= step + 1
    return ProbeReport(infos, np.asarray(steps, dtype=np.int64), stats, tuple(alerts))


def test_reports_accumulate_in_order_and_memory_is_bounded():
    history = LayerHistory(capacity=64)
    for start in range(0, 200, 10):
        history.add(report(range(start, start + 10)))
    assert history.count == 64 == history.capacity  # the oldest fell out
    steps, values = history.ordered()
    assert list(steps) == list(range(136, 200))
    assert values.shape == (64, len(STATS), 2)
    assert history.latest("grad_norm").tolist() == [200.0, 200.0]
    assert history.series("act_std", 1)[1][-1] == 200.0
    assert history.matrix("dead")[1].shape == (2, 64)
    assert history.recent("act_norm", 5).shape == (5, 2)
    assert history.at_step(150) is not None and history.at_step(10) is None


def test_another_model_or_reset_starts_afresh_and_empty_queries_are_safe():
    history = LayerHistory()
    assert history.count == 0 and history.latest("act_norm").shape == (0,)
    history.add(report([0, 1]))
    history.add(report([2], layers=("x", "y", "z")))
    assert history.names == ["x", "y", "z"] and history.count == 1
    history.reset()
    assert history.count == 0 and history.names == []
    assert history.matrix("grad_norm")[1].shape == (0, 0)
    assert history.series("grad_norm", 0)[1].shape == (0,)
    history.add(report([], layers=("x",)))  # a report interval without a sampled step
    assert history.count == 0 and history.names == ["x"]


def test_alerts_are_stamped_with_their_layer():
    history = LayerHistory()
    alerts = (Alert("dead", "b", 3, "m", "a"), Alert("nan", "a", 3, "m", "a",
                                                   severity="error", pause=True))
    new = history.add(report([3], alerts=alerts))
    assert [(t.layer_index, t.alert.kind) for t in new] == [(1, "dead"), (0, "nan")]
    assert len(new[0].clock) == 8  # HH:MM:SS
    assert history.alert_layers() == {1: "warning", 0: "error"}


def test_values_are_transformed_for_display():
    values = np.array([1e-3, 0.0, -1.0, np.nan, 100.0])
    logged = transformed("grad_norm", values)
    assert logged[0] == pytest.approx(-3) and logged[4] == pytest.approx(2)
    assert np.isnan(logged[1:4]).all()  # no logarithm for 0, negatives or NaN
    assert transformed("dead", np.array([0.25]))[0] == 25.0
    assert transformed("act_mean", np.array([-2.0]))[0] == -2.0
    assert finite_range(np.array([np.nan, 1.0, 3.0])) == (1.0, 3.0)
    assert finite_range(np.array([np.nan])) == (0.0, 1.0)
    assert finite_range(np.array([2.0, 2.0])) == (1.5, 2.5)
    assert finite_range(np.array([-1.0, 3.0]), symmetric=True) == (-3.0, 3.0)


def test_log_ticks_label_decades_or_one_two_five():
    major, minor = log_ticks(-3.2, 1.5)
    assert [label for _, label in major] == ["1m", "10m", "100m", "1", "10"]
    assert all(label == "" for _, label in minor) and len(minor) > 10
    major, minor = log_ticks(math.log10(0.015), math.log10(0.09))
    assert [label for _, label in major] == ["20m", "50m"]
    assert log_ticks(float("nan"), 1.0) == [[], []]


def test_histogram_memory_stays_bounded_over_20000_sampled_steps():
    from netexplorer.core.inspection.distributions import CELLS, KINDS, Histograms
    from netexplorer.ui.inspector.layer_history import MAX_HISTOGRAM_BYTES

    layers = tuple(LayerInfo(i, f"l{i}", "linear", True, False) for i in range(12))
    history = LayerHistory()
    per_report = 100
    sizes = []
    for first in range(0, 20_000, per_report):
        steps = np.arange(first, first + per_report)
        counts = np.zeros((per_report, len(KINDS), len(layers), CELLS), np.uint16)
        counts[:, 0, 3, 7] = steps % 1000  # each step's own histogram, to find it again
        history.add(ProbeReport(layers, steps, np.zeros((per_report, len(STATS), 12)),
                                histograms=Histograms(steps, counts)))
        sizes.append(history.histogram_bytes)
    assert len(set(sizes)) == 1 and sizes[0] <= MAX_HISTOGRAM_BYTES + 2**20
    steps, cells = history.distributions(3)
    capacity = len(steps)
    assert 64 <= capacity < 20_000 and cells.shape == (capacity, len(KINDS), CELLS)
    # The newest steps are kept, oldest first, each with its own histogram.
    assert list(steps) == list(range(20_000 - capacity, 20_000))
    np.testing.assert_array_equal(cells[:, 0, 7], steps % 1000)


def test_histograms_are_kept_at_their_own_steps():
    # The probe histograms some of a report's sampled steps (probe.HISTOGRAM_EVERY).
    from netexplorer.core.inspection.distributions import CELLS, KINDS, Histograms

    layers = tuple(LayerInfo(i, f"l{i}", "linear", True, False) for i in range(2))
    history = LayerHistory()
    steps = np.arange(10, 20)
    counts = np.zeros((3, len(KINDS), len(layers), CELLS), np.uint16)
    counts[:, 0, 1, 5] = [1, 2, 3]
    history.add(ProbeReport(layers, steps, np.zeros((len(steps), len(STATS), 2)),
                            histograms=Histograms(np.array([12, 16, 20]), counts)))
    kept, cells = history.distributions(1)
    assert list(kept) == [12, 16, 20] and list(cells[:, 0, 5]) == [1, 2, 3]
    assert history.count == len(steps)  # the statistics keep every sampled step
