"""Distributions over time: each layer's activations, output gradients and weights
as histograms on fixed bins, one per sampled step — what TensorBoard's
distributions and histograms views show. Torch-free: the GUI reads these records
and the percentiles before torch has loaded; the probe bins on the device
(histogram_codes.py) with the table defined here.

Why these bins. They are the same for every layer, kind and step, so nothing is
ever re-binned, two steps compare bin by bin, and a run whose values grow a
thousandfold (or a gradient that vanishes to 1e-8) still lands in real bins:

- symmetric and log-spaced, two per octave (edges ±2^k and ±1.5·2^k, so each bin
  is at most 50 % wider than the last — TensorBoard's are 10 %, but it keeps every
  value; we keep a ~250-value sample), from 2^-30 (~1e-9) to 2^30 (~1e9);
- one bin for |x| < 2^-30, exact zeros included (a ReLU's silent half shows as
  mass at 0), and one beyond each end for finite values past ±2^30;
- −inf, +inf and NaN counted apart, in cells after the bins, so a diverging layer
  neither crashes the binning nor hides in an edge bin.

The edges are those of a float32's own bit pattern (its sign, exponent and top
mantissa bit), so the probe bins a value with one integer shift rather than a
search: `raw code = (bits >> CODE_SHIFT) + RAW_OFFSET`, and CELL_OF_CODE looks up
the cell (bin or non-finite count) of each of the 1,024 raw codes — on the host
here, and on the device (histogram_codes.py) as one table lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# What is histogrammed for every layer (the first axis of a step's counts).
KINDS: tuple[str, ...] = ("activations", "gradients", "weights")
KIND_TITLES = {"activations": "Activations", "gradients": "Output gradients",
               "weights": "Weights and biases"}
# Values histogrammed per layer, kind and step: spread evenly over the probe's
# sample (see histogram_codes.spread). Enough for the percentile bands (the
# outermost band, 6.7 %, holds ~17 of them; a band's edge moves by a few percent
# of the distribution's width from step to step), and few enough that every
# pass over them stays a few µs: a sampled step keeps ~250 values per layer and
# kind, where each op on the CPU costs the same few µs up to ~1,000 values and
# more beyond. Counts then fit a uint16.
HISTOGRAM_VALUES = 256

# Binning a float32 by its bits: sign, 8 exponent bits, 1 mantissa bit.
CODE_SHIFT = 22
RAW_CODES = 1024  # codes −512 … 511, offset by RAW_OFFSET to 0 … 1023
RAW_OFFSET = 512
_EXPONENT_BIAS = 127
LOW_OCTAVE, HIGH_OCTAVE = -30, 30  # bins cover 2^-30 ≤ |x| < 2^30
BINS_PER_OCTAVE = 2
_SIDE = (HIGH_OCTAVE - LOW_OCTAVE) * BINS_PER_OCTAVE  # bins on each side of zero
N_BINS = 2 * _SIDE + 3  # + |x| < 2^-30 in the middle, + one beyond each end
ZERO_BIN = _SIDE + 1
NONFINITE: tuple[str, ...] = ("-inf", "+inf", "NaN")
CELLS = N_BINS + len(NONFINITE)  # a histogram: the bins, then the non-finite counts


def _magnitude_edges() -> np.ndarray:
    """2^-30, 1.5·2^-30, 2^-29, … 2^30: where the bins of one side begin."""
    octaves = np.arange(LOW_OCTAVE, HIGH_OCTAVE, dtype=np.float64)
    starts = np.stack([2.0 ** octaves, 1.5 * 2.0 ** octaves], axis=1).ravel()
    return np.append(starts, 2.0 ** HIGH_OCTAVE)


_MAGNITUDES = _magnitude_edges()
# N_BINS + 1 ascending edges. The outermost bins hold every finite value beyond
# ±2^30; their outer edges (±2^31) only give them a width to be drawn with.
BIN_EDGES = np.concatenate([[-2.0 ** (HIGH_OCTAVE + 1)], -_MAGNITUDES[::-1], _MAGNITUDES,
                            [2.0 ** (HIGH_OCTAVE + 1)]])
# What value a bin stands for when one is needed (log-centre; 0 for the middle bin).
BIN_CENTRES = np.concatenate([[-2.0 ** HIGH_OCTAVE],
                              -np.sqrt(_MAGNITUDES[1:] * _MAGNITUDES[:-1])[::-1], [0.0],
                              np.sqrt(_MAGNITUDES[1:] * _MAGNITUDES[:-1]),
                              [2.0 ** HIGH_OCTAVE]])


def _cell_table() -> np.ndarray:
    """The cell (bin or non-finite count) of every raw code."""
    raw = np.arange(RAW_CODES)
    code = raw - RAW_OFFSET
    negative = code < 0
    magnitude = np.where(negative, code + RAW_OFFSET, code)  # exponent·2 + mantissa bit
    first = (_EXPONENT_BIAS + LOW_OCTAVE) * BINS_PER_OCTAVE
    last = (_EXPONENT_BIAS + HIGH_OCTAVE) * BINS_PER_OCTAVE  # first code beyond 2^30
    inf, nan = 2 * (2 ** 8 - 1), 2 * (2 ** 8 - 1) + 1  # exponent all ones, mantissa bit 0/1
    offset = np.clip(magnitude - first, 0, _SIDE - 1)
    cell = np.where(negative, ZERO_BIN - 1 - offset, ZERO_BIN + 1 + offset)
    cell = np.where(magnitude < first, ZERO_BIN, cell)
    cell = np.where(magnitude >= last, np.where(negative, 0, N_BINS - 1), cell)
    cell = np.where(magnitude == inf, np.where(negative, N_BINS, N_BINS + 1), cell)
    # A NaN's quiet bit is the top mantissa bit (a signalling NaN with only lower
    # bits set reads as infinite: no arithmetic makes one).
    return np.where(magnitude == nan, N_BINS + 2, cell)


CELL_OF_CODE = _cell_table()  # RAW_CODES entries, each a cell (0 … CELLS − 1)


def histogram(values: np.ndarray) -> np.ndarray:
    """The cells of float32 `values` binned on the host, as the probe bins them
    on the device: for tests and for values that never were on a device."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.int32).ravel()
    return np.bincount(CELL_OF_CODE[(bits >> CODE_SHIFT) + RAW_OFFSET], minlength=CELLS)


@dataclass(frozen=True, eq=False)
class Histograms:
    """Sampled steps' histograms: counts[i, k, l] holds the CELLS of kind KINDS[k]
    of layer l at step steps[i] (N_BINS bins, then −inf, +inf, NaN). A layer with
    nothing of a kind (no weights) has only zeros there. The steps are some of a
    report's sampled steps (the probe histograms every few training steps, see
    probe.HISTOGRAM_EVERY)."""

    steps: np.ndarray  # int64
    counts: np.ndarray  # steps × len(KINDS) × layers × CELLS, uint16

    @property
    def bins(self) -> np.ndarray:
        return self.counts[..., :N_BINS]

    @property
    def nonfinite(self) -> np.ndarray:
        return self.counts[..., N_BINS:]


# Percentiles TensorBoard's distributions view draws: the bands between them
# are a normal distribution's ±σ multiples (0, 7, 16, 31, 50, 69, 84, 93, 100).
BAND_PERCENTILES = (0.0, 6.68, 15.87, 30.85, 50.0, 69.15, 84.13, 93.32, 100.0)


def percentiles(bins: np.ndarray, qs: tuple[float, ...] = BAND_PERCENTILES) -> np.ndarray:
    """Percentiles (in %) of histograms `bins` (… × N_BINS) → … × len(qs), by
    linear interpolation inside the bin where each falls; NaN for an empty
    histogram. Non-finite values are not in the bins, so they move no percentile.
    The 0th and 100th are the outer edges of the outermost non-empty bins."""
    counts = np.asarray(bins, dtype=np.float64)
    cumulative = np.cumsum(counts, axis=-1)
    total = cumulative[..., -1:]
    out = np.empty((*counts.shape[:-1], len(qs)), dtype=np.float64)
    for j, q in enumerate(qs):
        target = np.clip(q / 100.0, 0.0, 1.0) * total
        if q <= 0:  # the first non-empty bin's lower edge
            index = np.argmax(counts > 0, axis=-1)
            out[..., j] = BIN_EDGES[index]
            continue
        index = np.minimum(np.argmax(cumulative >= target - 1e-9, axis=-1), N_BINS - 1)
        before = np.take_along_axis(cumulative, index[..., None], -1)[..., 0] - \
            np.take_along_axis(counts, index[..., None], -1)[..., 0]
        inside = np.take_along_axis(counts, index[..., None], -1)[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            fraction = np.clip((target[..., 0] - before) / inside, 0.0, 1.0)
        low, high = BIN_EDGES[index], BIN_EDGES[index + 1]
        out[..., j] = low + np.nan_to_num(fraction) * (high - low)
    out[total[..., 0] == 0] = np.nan
    return out


def beyond_range(bins: np.ndarray) -> np.ndarray:
    """How many finite values of each histogram lie past ±2^30 (the edge bins)."""
    counts = np.asarray(bins)
    return counts[..., 0].astype(np.int64) + counts[..., N_BINS - 1]
