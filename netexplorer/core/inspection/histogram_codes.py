"""The probe's histograms on the device: a spread sample of each layer's values,
binned by the bits of its float32s (distributions.py says why those bins), and
every layer's and kind's bins counted in one bincount per sampled step.

Cost, on this machine's LeNet step (~20 ms on one CPU thread, where an op costs
~10 µs whatever its size): a search over the bin edges (torch.bucketize) takes
~35 ns a value, so binning all of a step's ~240,000 sampled activations would
cost ~8 ms; a shift of the bit pattern costs ~1 ns a value, and each layer gives
only HISTOGRAM_VALUES values spread over its sample. What is added per sampled
step: one view per layer and kind (no copy), a cat, a shift and an add per kind,
and one bincount (`benchmarks/bench_inspection.py` measures the whole probe).
"""

from __future__ import annotations

import torch

from netexplorer.core.inspection.distributions import (
    CODE_SHIFT,
    HISTOGRAM_VALUES,
    KINDS,
    RAW_CODES,
    RAW_OFFSET,
)


def spread(values: torch.Tensor, count: int = HISTOGRAM_VALUES) -> torch.Tensor:
    """At most `count` of `values`, evenly spread over all of them (every n-th),
    flat and detached: a view when `values` is contiguous."""
    total = values.numel()
    if values.is_contiguous():
        if total <= count:
            return values.detach().view(-1)
        return values.detach().as_strided((count,), (total // count,))
    flat = values.detach().reshape(-1)
    return flat if total <= count else flat[::total // count][:count]


class HistogramCoder:
    """Turns a step's samples into cell codes (slot · RAW_CODES + raw code, where
    a slot is a kind and a layer) and counts them. The offsets that put each
    sample in its slot are made once per set of sizes and kept (batch sizes, and
    so sample sizes, come and go: a few are kept)."""

    def __init__(self, layers: int) -> None:
        self.layers = layers
        self._offsets: dict[tuple, torch.Tensor] = {}

    @property
    def cells(self) -> int:
        """Raw counts per step: every kind of every layer."""
        return len(KINDS) * self.layers * RAW_CODES

    def codes(self, kind: int, layers: list[int], samples: list[torch.Tensor]) -> torch.Tensor:
        """Each sample (already spread) of layers[j] binned into its slot."""
        flat = samples[0] if len(samples) == 1 else torch.cat(samples)
        if flat.dtype != torch.float32:
            flat = flat.float()  # float64 beyond float32's range bins as ±inf
        return (flat.view(torch.int32) >> CODE_SHIFT) + self._offset(kind, layers, samples)

    def count(self, codes: list[torch.Tensor]) -> torch.Tensor:
        """One bincount of all of a step's codes: `cells` counts (int64)."""
        flat = codes[0] if len(codes) == 1 else torch.cat(codes)
        return torch.bincount(flat, minlength=self.cells)

    def _offset(self, kind: int, layers: list[int], samples: list[torch.Tensor]
                ) -> torch.Tensor:
        sizes = tuple(s.numel() for s in samples)
        key = (kind, tuple(layers), sizes, samples[0].device)
        offset = self._offsets.get(key)
        if offset is None:
            if len(self._offsets) > 48:
                self._offsets.clear()
            slots = torch.tensor([(kind * self.layers + layer) * RAW_CODES + RAW_OFFSET
                                  for layer in layers], dtype=torch.int32)
            offset = torch.repeat_interleave(slots, torch.tensor(sizes)).to(samples[0].device)
            self._offsets[key] = offset
        return offset
