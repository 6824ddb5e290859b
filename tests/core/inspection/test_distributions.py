"""Histograms on fixed bins: counts of known values land in the right bins, the
probe's device binning (a lookup table straight into the cells) agrees with the
host's and with a search over the edges, non-finite values are counted apart,
and percentiles read back what was binned."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from netexplorer.core.inspection import Probe
from netexplorer.core.inspection.distributions import (
    BIN_EDGES,
    CELLS,
    CODE_SHIFT,
    HISTOGRAM_VALUES,
    KINDS,
    N_BINS,
    RAW_CODES,
    RAW_OFFSET,
    ZERO_BIN,
    beyond_range,
    histogram,
    percentiles,
)
from netexplorer.core.inspection.histogram_codes import HistogramCoder, spread, spreads


def bin_of(value: float) -> int:
    """The bin whose edges hold `value`, found by search (the slow, obvious way)."""
    return int(np.searchsorted(BIN_EDGES, value, side="right")) - 1


def test_the_bins_are_symmetric_log_spaced_and_fixed():
    assert len(BIN_EDGES) == N_BINS + 1 and np.all(np.diff(BIN_EDGES) > 0)
    np.testing.assert_array_equal(BIN_EDGES, -BIN_EDGES[::-1])
    positive = BIN_EDGES[ZERO_BIN + 1:-1]
    assert positive[0] == 2.0 ** -30 and positive[-1] == 2.0 ** 30
    assert np.all(positive[1:] / positive[:-1] <= 1.5 + 1e-12)


def test_known_values_land_in_their_bins():
    values = np.array([1.0, 1.2, 1.6, 3.0, 0.02, 7e5], dtype=np.float32)
    cells = histogram(values)
    assert cells.sum() == len(values) and cells[N_BINS:].sum() == 0
    for value in values:
        assert cells[bin_of(float(value))] >= 1, value
    assert cells[bin_of(1.0)] == 2  # 1.0 and 1.2 share [1, 1.5); 1.6 is in [1.5, 2)
    assert BIN_EDGES[bin_of(1.6)] == 1.5
    # Negative values mirror the positive ones; zeros and tiny values sit in the middle.
    negative = histogram(-values)
    np.testing.assert_array_equal(negative[:N_BINS], cells[:N_BINS][::-1])
    middle = histogram(np.array([0.0, -0.0, 1e-12, -3e-10, 1e-40], dtype=np.float32))
    assert middle[ZERO_BIN] == 5 and middle.sum() == 5
    # Finite values beyond ±2^30 fill the end bins, and are said to be beyond the range.
    far = histogram(np.array([5e9, -5e9, 3e38], dtype=np.float32))
    assert far[0] == 1 and far[N_BINS - 1] == 2 and beyond_range(far[:N_BINS]) == 3


def test_nonfinite_values_are_counted_apart_and_move_no_percentile():
    values = np.array([1.1, 1.2, 1.3, np.nan, np.inf, -np.inf, np.inf], dtype=np.float32)
    cells = histogram(values)
    assert list(cells[N_BINS:]) == [1, 2, 1]  # −inf, +inf, NaN
    assert cells[:N_BINS].sum() == 3 and cells[bin_of(1.0)] == 3
    median = percentiles(cells[:N_BINS], (50.0,))[0]
    assert 1.0 <= median < 1.5
    nothing = percentiles(histogram(np.array([np.nan], np.float32))[:N_BINS])
    assert np.isnan(nothing).all()


def test_percentiles_interpolate_inside_a_bin():
    values = np.linspace(1.0, 1.5, 1001, dtype=np.float32)[:-1]  # all in [1, 1.5)
    bins = histogram(values)[:N_BINS]
    low, median, high = percentiles(bins, (0.0, 50.0, 100.0))
    assert (low, median, high) == (1.0, pytest.approx(1.25), 1.5)
    both = np.stack([bins, histogram(-values)[:N_BINS]])
    assert percentiles(both, (50.0,))[:, 0] == pytest.approx([1.25, -1.25])


def device_cells(coder: HistogramCoder, kind: int, parts: list[torch.Tensor]) -> np.ndarray:
    """`parts` (one per layer) binned by the coder as flush bins a step's samples."""
    views, sizes = spreads(parts)
    layout = ((kind, tuple(range(len(parts))), sizes),)
    return coder.bins([(layout, [torch.cat(views)])])[0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_the_device_binning_agrees_with_the_host(dtype):
    torch.manual_seed(0)
    values = (torch.randn(3000) * torch.logspace(-12, 12, 3000)).to(dtype)
    values[::97] = float("nan")
    values[5] = float("inf")
    coder = HistogramCoder(layers=2)
    small, large = values[:HISTOGRAM_VALUES - 6], values[1000:]
    cells = device_cells(coder, 1, [small, large])
    assert cells.shape == (len(KINDS), 2, CELLS) and cells.dtype == np.uint16
    assert cells[0].sum() == 0 and cells[2].sum() == 0  # only the kind asked for
    as_float = values.float().numpy()
    sampled = as_float[1000:][::2000 // HISTOGRAM_VALUES][:HISTOGRAM_VALUES]
    np.testing.assert_array_equal(cells[1, 0], histogram(as_float[:HISTOGRAM_VALUES - 6]))
    np.testing.assert_array_equal(cells[1, 1], histogram(sampled))


def test_the_device_lookup_puts_every_bit_pattern_in_the_bin_a_search_finds():
    # Per raw code (sign, exponent, top mantissa bit) its smallest and largest
    # float32 in magnitude: the lookup table straight into cells on the device
    # against a search over the edges, for all 1,024 codes.
    codes = np.arange(RAW_CODES, dtype=np.int64) - RAW_OFFSET
    low = (codes << CODE_SHIFT).astype(np.int32)
    bits = np.stack([low, low | np.int32(2 ** CODE_SHIFT - 1)], axis=1).ravel()
    coder = HistogramCoder(layers=1)
    for start in range(0, len(bits), HISTOGRAM_VALUES):  # one layer's spread at a time
        chunk = bits[start:start + HISTOGRAM_VALUES]
        layout = ((0, (0,), (len(chunk),)),)
        got = coder.bins([(layout, [torch.from_numpy(chunk.view(np.float32).copy())])])
        expected = np.bincount([expected_cell(b) for b in chunk], minlength=CELLS)
        np.testing.assert_array_equal(got[0, 0, 0], expected)


def expected_cell(bits: np.int32) -> int:
    """A float32's cell by the definition: non-finite apart (a NaN without its
    quiet bit reads as infinite), |x| < 2^-30 in the middle, finite values beyond
    ±2^30 in the end bins, the rest by a search over the edges — mirrored for a
    negative value, whose bins hold (−1.5·2^k, −2^k]."""
    value = float(np.array(bits, dtype=np.int32).view(np.float32))
    magnitude = abs(value)
    if np.isnan(value) and int(bits) & (1 << CODE_SHIFT):
        return N_BINS + 2
    if np.isnan(value) or np.isinf(value):
        return N_BINS if bits < 0 else N_BINS + 1
    cell = ZERO_BIN if magnitude < 2.0 ** -30 else int(min(bin_of(magnitude), N_BINS - 1))
    return N_BINS - 1 - cell if bits < 0 else cell


def test_steps_are_binned_together_each_in_its_own_row():
    coder = HistogramCoder(layers=3)
    ones, twos = torch.ones(5), torch.full((7,), 2.0)
    step = ((0, (0, 2), (5, 7)),)
    other = ((2, (1,), (7,)), (1, (0,), (5,)))  # another layout, two segments
    cells = coder.bins([(step, [torch.cat([ones, twos])]), ((), []), (other, [twos, ones]),
                        (step, [torch.cat([twos[:5], ones, ones[:2]])])])
    assert cells.shape == (4, len(KINDS), 3, CELLS)
    assert cells[0, 0, 0, bin_of(1.0)] == 5 and cells[0, 0, 2, bin_of(2.0)] == 7
    assert cells[0].sum() == 12 and cells[1].sum() == 0  # a step that kept nothing
    assert cells[2, 2, 1, bin_of(2.0)] == 7 and cells[2, 1, 0, bin_of(1.0)] == 5
    assert cells[2].sum() == 12
    assert cells[3, 0, 0, bin_of(2.0)] == 5 and cells[3, 0, 2, bin_of(1.0)] == 7


def test_spread_takes_values_from_all_of_a_tensor():
    t = torch.arange(10_000, dtype=torch.float32).view(100, 100)
    picked = spread(t, 1000)
    assert picked.numel() == 1000 and picked[0] == 0 and picked[-1] >= 9_900
    assert spread(t.t(), 1000).numel() == 1000  # not contiguous: copied, same spread
    assert spread(t[:5], 1000).numel() == 500


def step(probe: Probe, model: nn.Module, x: torch.Tensor, number: int = 0) -> None:
    probe.begin_step(number)
    out = probe.forward(x)
    probe.backward(out.sum())
    probe.end_step()


def test_the_probe_histograms_every_layers_activations_gradients_and_weights():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.arange(12.0).view(3, 4) / 10 - 0.5)
        model[0].bias.fill_(0.25)
    x = torch.linspace(-2, 2, 8 * 4).view(8, 4)
    with Probe(model) as probe:
        step(probe, model, x)
        report = probe.flush()
    counts = report.histograms.counts
    assert counts.shape == (1, len(KINDS), 3, CELLS) and counts.dtype == np.uint16
    act, grad, weights = (KINDS.index(k) for k in ("activations", "gradients", "weights"))
    params = torch.cat([model[0].weight.detach().ravel(), model[0].bias.detach()]).numpy()
    np.testing.assert_array_equal(counts[0, weights, 0], histogram(params))
    assert counts[0, weights, 1].sum() == 0  # a ReLU has no weights
    output = model[0](x).detach().numpy()
    np.testing.assert_array_equal(counts[0, act, 0], histogram(output))
    relu = np.maximum(output, 0)
    assert counts[0, act, 1, ZERO_BIN] == (relu == 0).sum()
    # ∂(Σ out)/∂out of the last layer is all ones.
    assert counts[0, grad, 2, bin_of(1.0)] == 8 * 2


def test_a_layer_going_nonfinite_is_counted_not_crashing_the_bins():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight[0, 0] = float("inf")
    x = torch.ones(8, 4)
    x[0, 0] = -1.0
    x[1, 1] = float("nan")
    with Probe(model) as probe:
        step(probe, model, x)
        report = probe.flush()
    cells = report.histograms.counts[0, KINDS.index("activations")]
    # Row 0 meets the infinite weight as −inf, row 1 is NaN throughout, the rest +inf.
    minus_inf, plus_inf, nan = (int(n) for n in cells[0, N_BINS:])
    assert (minus_inf, plus_inf, nan) == (1, 6, 3)
    assert cells[0, :N_BINS].sum() == 8 * 3 - 10
    assert cells[1, N_BINS:].sum() == 8 * 2  # every value of the next layer, apart
    assert np.isfinite(percentiles(cells[0, :N_BINS], (50.0,))).all()


@pytest.mark.parametrize(("every", "histogrammed"), [(1, [0, 4, 8]), (2, [0, 4, 8]),
                                                     (3, [0, 6]), (5, [0, 5, 10])])
def test_the_probe_histograms_sampled_steps_at_least_histogram_every_apart(every, histogrammed):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    x = torch.randn(8, 4)
    with Probe(model, every=every, histogram_every=4) as probe:
        sampled = [s for s in range(11) if probe.sampling(s)]
        for number in sampled:
            step(probe, model, x, number)
        report = probe.flush()
    assert list(report.steps) == sampled  # the statistics: every sampled step
    assert list(report.histograms.steps) == histogrammed
    counts = report.histograms.counts
    assert counts.shape == (len(histogrammed), len(KINDS), 3, CELLS)
    assert (counts.sum(axis=-1) > 0).sum() == len(histogrammed) * (3 + 3 + 2)
