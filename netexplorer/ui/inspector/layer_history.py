"""The inspector's memory of one run: every sampled step's per-layer statistics and
the doctor's alerts, gathered from the ProbeReports that reach the GUI.

The Probe's own history lives on the training thread; the GUI keeps this copy,
built only from the plain arrays the reports carry, so the views never reach
into the trainer. Values sit in a fixed-size RingBuffer (core.inspection's): a
long run keeps its most recent samples and memory never grows. No Qt here, so
it is tested like core code. core.inspection (which imports torch) is imported
only once reports arrive, so building the window never waits for torch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from netexplorer.core.inspection import STAT_INDEX, STATS, Alert, LayerInfo, ProbeReport, RingBuffer
from netexplorer.core.inspection.distributions import CELLS, KINDS

# Sampled steps kept per run, and the most values (steps × stats × layers) that
# may be held: a model with very many layers keeps fewer steps instead of more memory.
CAPACITY = 4096
MAX_VALUES = 4_000_000
MIN_CAPACITY = 64
# The histograms' memory (uint16 cells, steps × kinds × layers × CELLS): a LeNet
# keeps its last ~1,900 histogrammed steps' distributions, a deeper model fewer.
MAX_HISTOGRAM_BYTES = 32 * 2**20

# Statistics that span orders of magnitude: plotted and coloured on a log scale.
LOG_STATS = frozenset({"act_norm", "act_std", "grad_norm", "weight_norm", "weight_grad_norm",
                       "update_ratio"})
# Fractions, shown as percentages.
FRACTION_STATS = frozenset({"act_zeros", "dead"})


@dataclass(frozen=True)
class TimedAlert:
    """An alert with the wall-clock time it reached the window."""

    alert: Alert
    received: float  # time.time()
    layer_index: int | None

    @property
    def clock(self) -> str:
        return time.strftime("%H:%M:%S", time.localtime(self.received))


class LayerHistory:
    """Per-layer statistics of the current run, oldest sample first."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self.layers: tuple[LayerInfo, ...] = ()
        self.alerts: list[TimedAlert] = []
        self._buffer: RingBuffer | None = None
        self._ordered: tuple[np.ndarray, np.ndarray] | None = None  # cache until the next add
        self._histograms: RingBuffer | None = None
        # Bumped by every add and reset: views that draw from the history redo their
        # work only when it moved (two runs of one model end in the same shape).
        self.revision = 0

    # -- filling
    def reset(self) -> None:
        """A new run starts with an empty history."""
        self.revision += 1
        self.layers = ()
        self.alerts = []
        self._buffer = None
        self._ordered = None
        self._histograms = None

    def add(self, report: ProbeReport) -> list[TimedAlert]:
        """Take one ProbeReport; returns its alerts, stamped. A report whose layers
        differ from the history's (another model) starts the history afresh."""
        self.revision += 1
        layers = tuple(report.layers)
        if [i.name for i in layers] != [i.name for i in self.layers]:
            self.reset()
        self.layers = layers  # later reports know the output shapes
        steps = np.asarray(report.steps)
        stats = np.asarray(report.stats)
        if len(steps) and stats.ndim == 3 and stats.shape[1:] == (len(STATS), len(layers)):
            if self._buffer is None:
                per_step = len(STATS) * max(len(layers), 1)
                capacity = max(MIN_CAPACITY, min(self._capacity, MAX_VALUES // per_step))
                self._buffer = RingBuffer(capacity, (len(STATS), len(layers)))
            self._buffer.extend(steps, stats)
            self._ordered = None
            self._add_histograms(report)
        now = time.time()
        new = [TimedAlert(a, now, self.index_of(a.layer)) for a in report.alerts]
        self.alerts.extend(new)
        return new

    def _add_histograms(self, report: ProbeReport) -> None:
        """Keep the report's histograms, at their own steps (some of its sampled ones)."""
        histograms = report.histograms
        shape = (len(KINDS), len(self.layers), CELLS)
        if histograms is None or not len(histograms.steps) or \
                histograms.counts.shape != (len(histograms.steps), *shape):
            return
        if self._histograms is None:
            per_step = int(np.prod(shape)) * np.dtype(np.uint16).itemsize
            capacity = max(MIN_CAPACITY, min(self._capacity, MAX_HISTOGRAM_BYTES // per_step))
            self._histograms = RingBuffer(capacity, shape, np.uint16)
        self._histograms.extend(histograms.steps, histograms.counts)

    # -- queries
    @property
    def count(self) -> int:
        return 0 if self._buffer is None else self._buffer.count

    @property
    def capacity(self) -> int:
        return self._capacity if self._buffer is None else self._buffer.capacity

    @property
    def names(self) -> list[str]:
        return [info.name for info in self.layers]

    def index_of(self, name: str) -> int | None:
        for info in self.layers:
            if info.name == name:
                return info.index
        return None

    def ordered(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values steps × stats × layers), oldest first; cached between adds."""
        if self._buffer is None:
            return np.zeros(0, np.int64), np.zeros((0, 0, len(self.layers)), np.float32)
        if self._ordered is None:
            self._ordered = self._buffer.ordered()
        return self._ordered

    def series(self, stat: str, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one statistic of one layer."""
        steps, values = self.ordered()
        if not len(steps):
            return steps, np.zeros(0, np.float32)
        return steps, values[:, _index(stat), layer]

    def matrix(self, stat: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values layers × steps) for the layer × step heatmap."""
        steps, values = self.ordered()
        if not len(steps):
            return steps, np.zeros((len(self.layers), 0), np.float32)
        return steps, values[:, _index(stat), :].T

    def latest(self, stat: str) -> np.ndarray:
        """The newest sample of `stat` for every layer (NaN before any)."""
        steps, values = self.ordered()
        if not len(steps):
            return np.full(len(self.layers), np.nan)
        return values[-1, _index(stat), :]

    def recent(self, stat: str, n: int) -> np.ndarray:
        """The last n samples of `stat`: samples × layers."""
        steps, values = self.ordered()
        if not len(steps):
            return np.zeros((0, len(self.layers)), np.float32)
        return values[-n:, _index(stat), :]

    def at_step(self, step: int) -> np.ndarray | None:
        """stats × layers at a sampled step, or None if it is not (or no longer) kept."""
        steps, values = self.ordered()
        where = np.flatnonzero(steps == step)
        return values[where[-1]] if len(where) else None

    @property
    def histogram_bytes(self) -> int:
        """The memory the distributions hold (fixed once the first arrives)."""
        return 0 if self._histograms is None else self._histograms.nbytes

    def distributions(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """(steps, cells steps × KINDS × CELLS) of one layer, oldest first."""
        if self._histograms is None or not self._histograms.count:
            return np.zeros(0, np.int64), np.zeros((0, len(KINDS), CELLS), np.uint16)
        return self._histograms.ordered((slice(None), layer))

    def alert_layers(self) -> dict[int, str]:
        """Layer index → the most serious alert kind raised for it in this run."""
        worst: dict[int, str] = {}
        for timed in self.alerts:
            if timed.layer_index is None:
                continue
            if timed.alert.severity == "error" or timed.layer_index not in worst:
                worst[timed.layer_index] = timed.alert.severity
        return worst


def _index(stat: str) -> int:
    return STAT_INDEX[stat]


def transformed(stat: str, values: np.ndarray) -> np.ndarray:
    """Values as the plots and the heatmap show them: log10 for norms and ratios
    (non-positive values become NaN: they have no place on a log scale), percent
    for fractions, the rest unchanged."""
    values = np.asarray(values, dtype=np.float64)
    if stat in LOG_STATS:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)
    if stat in FRACTION_STATS:
        return 100.0 * values
    return values


def finite_range(values: np.ndarray, symmetric: bool = False) -> tuple[float, float]:
    """Colour levels that cover the finite values (a tiny span if they are all equal)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return (0.0, 1.0)
    low, high = float(finite.min()), float(finite.max())
    if symmetric:
        edge = max(abs(low), abs(high), 1e-12)
        return (-edge, edge)
    if high - low < 1e-9:
        return (low - 0.5, high + 0.5)
    return (low, high)

