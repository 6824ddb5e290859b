"""The probe's histograms on the device: a spread sample of each layer's values
kept at each sampled step, and all of a report's samples binned at flush, by the
bits of their float32s (distributions.py says why those bins), with a lookup
table straight into the final cells and one scatter of counts.

Why this shape. On a CPU a device op costs a few µs whatever its size (~10 µs on
a loaded machine) and LeNet's bare step is ~5–20 ms, so the probe's 1 % is a
handful of ops per step. What a sampled step adds: one index_select of the
activation samples (HistogramCoder.activation_index: from the probe's matrix of
samples, every layer at once), and one cat of a view per layer of the output
gradients and of views of the weights made once (ParameterSpreads) — copies of
at most HISTOGRAM_VALUES values per layer and kind, which hold on to no tensor
of the step. What flush adds,
once per report for all its steps (bins(): a cat, a shift, an add, a lookup and
a scatter): no per-step bincount, no fold of raw codes on the host. A search
over bin edges (torch.bucketize) would cost ~35 ns a value; the shift and the
lookup ~1–2 ns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from netexplorer.core.inspection.distributions import (
    CELL_OF_CODE,
    CELLS,
    CODE_SHIFT,
    HISTOGRAM_VALUES,
    KINDS,
    RAW_CODES,
    RAW_OFFSET,
)

# Where a step's histogram samples come from, in the order they were kept: for
# each kept tensor its kind, and the layers and sample sizes laid end to end in it.
Segment = tuple[int, tuple[int, ...], tuple[int, ...]]
Layout = tuple[Segment, ...]

# Cached tensors per layout or sizes (batch sizes, and so sample sizes, come and go).
_KEEP = 48


def spread_positions(total: int, count: int = HISTOGRAM_VALUES) -> range:
    """Which of `total` values a spread of at most `count` takes: every n-th,
    from the first, so they cover all of a tensor."""
    step = max(total // count, 1)
    return range(0, step * min(total, count), step)


def spread(values: torch.Tensor, count: int = HISTOGRAM_VALUES) -> torch.Tensor:
    """At most `count` of `values`, evenly spread over all of them (as
    spread_positions), flat: a view when `values` is contiguous. No detach: the
    probe calls it in inference mode, or on gradients that carry no graph."""
    total = values.numel()
    if total <= count:
        return values.reshape(-1)
    if values.is_contiguous():
        return values.as_strided((count,), (total // count,))
    return values.reshape(-1)[::total // count][:count]


def spreads(tensors: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], tuple[int, ...]]:
    """A spread of each of `tensors` (views, for one cat to copy), and the size of each."""
    parts = [spread(t) for t in tensors]
    return parts, tuple(part.numel() for part in parts)


class ParameterSpreads:
    """The weights' spreads as views, kept from step to step: a parameter keeps
    its storage while a model trains (the optimizer updates it in place), so a
    view made once reads every step's values, and a step pays one cat rather than
    a view per tensor. They are made again when a parameter's storage or shape
    changes (load_state_dict(assign=True), .to(), a new tensor put in a layer);
    until then the views keep the old storage alive, so no new parameter can
    take its address."""

    def __init__(self) -> None:
        self._key: tuple = ()
        self._views: list[torch.Tensor] = []
        self._sizes: tuple[int, ...] = ()

    def views(self, params: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], tuple[int, ...]]:
        """A spread of each of `params` (views of their values now), and their sizes."""
        key = tuple((p.data_ptr(), p.shape) for p in params)
        if key != self._key:
            with torch.inference_mode(False):  # plain views, outside autograd
                self._views = [spread(p.detach()) for p in params]
            self._sizes = tuple(view.numel() for view in self._views)
            self._key = key
        return self._views, self._sizes


class HistogramCoder:
    """Bins the probe's kept samples into cells: slot · CELLS + cell, where a slot
    is a kind and a layer. What it keeps between steps depends only on the model
    and the sample sizes: its lookup table, and per layout the offsets that put
    each value in its slot and, per set of activation sizes, where their spreads
    sit in the probe's matrix of samples."""

    def __init__(self, layers: int) -> None:
        self.layers = layers
        self._tables: dict[torch.device, torch.Tensor] = {}
        self._offsets: dict[tuple, torch.Tensor] = {}
        self._indices: dict[tuple, tuple[torch.Tensor, tuple[int, ...]]] = {}

    @property
    def cells(self) -> int:
        """Counts per step: every kind of every layer."""
        return len(KINDS) * self.layers * CELLS

    def activation_index(self, sizes: tuple[int, ...], starts: Sequence[int], width: int,
                         device: torch.device) -> tuple[torch.Tensor, tuple[int, ...]]:
        """Where the spreads of the layer samples of `sizes` sit in a flat matrix of
        rows `width` wide in which sample j begins at row starts[j] (the probe's
        _RowPlan), and each spread's size: one index_select takes all of them."""
        key = (sizes, tuple(starts), width, device)
        found = self._indices.get(key)
        if found is None:
            positions = [start * width + p for size, start in zip(sizes, starts)
                         for p in spread_positions(size)]
            spreads = tuple(len(spread_positions(size)) for size in sizes)
            found = (torch.tensor(positions, dtype=torch.int64, device=device), spreads)
            self._indices = _keep_few(self._indices)
            self._indices[key] = found
        return found

    def bins(self, steps: Sequence[tuple[Layout, Sequence[torch.Tensor]]]) -> np.ndarray:
        """Each step's kept samples (its layout, and the tensors it describes) →
        its cells on the host: steps × len(KINDS) × layers × CELLS, uint16 (zeros
        where nothing was kept). Steps that share a layout are binned together."""
        out = np.zeros((len(steps), len(KINDS), self.layers, CELLS), dtype=np.uint16)
        groups: dict[Layout, list[int]] = {}
        for row, (layout, _) in enumerate(steps):
            if layout:
                groups.setdefault(layout, []).append(row)
        for layout, rows in groups.items():
            values = torch.cat([t for r in rows for t in steps[r][1]]).view(len(rows), -1)
            counts = self._count(layout, values).cpu().numpy()
            out[rows] = counts.reshape(len(rows), len(KINDS), self.layers, CELLS)
        return out

    @torch.inference_mode()
    def _count(self, layout: Layout, values: torch.Tensor) -> torch.Tensor:
        """Rows of values laid out as `layout` → rows of `cells` counts (int32).
        Raw code (sign, exponent, top mantissa bit) + the slot's offset indexes the
        table; the scatter adds each row's ones into its own row."""
        if values.dtype != torch.float32:
            values = values.float()  # float64 beyond float32's range bins as ±inf
        raw = values.view(torch.int32) >> CODE_SHIFT
        slots = self._table(values.device).index_select(
            0, (raw + self._offset(layout, values.device)).view(-1)).view(raw.shape)
        counts = torch.zeros((len(raw), self.cells), dtype=torch.int32, device=values.device)
        ones = torch.ones((1, 1), dtype=torch.int32, device=values.device)
        return counts.scatter_add_(1, slots, ones.expand(raw.shape))

    def _table(self, device: torch.device) -> torch.Tensor:
        """slot · RAW_CODES + raw code → slot · CELLS + its cell, for every slot."""
        table = self._tables.get(device)
        if table is None:
            slots = np.arange(len(KINDS) * self.layers)[:, None]
            table = torch.from_numpy((slots * CELLS + CELL_OF_CODE[None, :]).ravel())
            table = self._tables[device] = table.to(device)
        return table

    def _offset(self, layout: Layout, device: torch.device) -> torch.Tensor:
        """Each value's slot · RAW_CODES + RAW_OFFSET, in a step's order."""
        key = (layout, device)
        offset = self._offsets.get(key)
        if offset is None:
            slots = [(kind * self.layers + layer) * RAW_CODES + RAW_OFFSET
                     for kind, layers, _ in layout for layer in layers]
            sizes = [size for _, _, sizes in layout for size in sizes]
            offset = torch.repeat_interleave(torch.tensor(slots, dtype=torch.int32),
                                             torch.tensor(sizes)).to(device)
            self._offsets = _keep_few(self._offsets)
            self._offsets[key] = offset
        return offset


def _keep_few(cache: dict) -> dict:
    """`cache`, or an empty one when it holds too many (sizes seen long ago)."""
    return cache if len(cache) < _KEEP else {}
