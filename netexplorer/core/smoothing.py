"""Smoothing a noisy curve as TensorBoard's scalar dashboard does: a debiased
exponential moving average with weight w in [0, 1) (0: the raw values).

    last = w · last + (1 − w) · x        (starting from last = 0)
    smoothed = last / (1 − w^k)          (k: the values seen so far)

The division removes the start's pull towards 0, so the first smoothed value is
the first value. Non-finite values are skipped (they neither move the average nor
count), as TensorBoard skips them.

A live curve only grows, so EmaSmoother keeps where it stopped and smooths only
what is new: a redraw costs what arrived since the last one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

MAX_WEIGHT = 0.999


def smoothed(values: np.ndarray, weight: float) -> np.ndarray:
    """The whole curve smoothed with `weight` (see the module doc)."""
    smoother = EmaSmoother(weight)
    return smoother.extend(values)


@dataclass
class EmaSmoother:
    """One curve's running smoothing; extend() with the values that follow."""

    weight: float
    _last: float = 0.0
    _seen: int = 0
    _done: int = 0  # values of the curve smoothed so far
    _out: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (0.0 <= self.weight <= MAX_WEIGHT):
            raise ValueError(f"the smoothing weight must be from 0 to {MAX_WEIGHT}, "
                             f"got {self.weight}")

    def extend(self, values: np.ndarray) -> np.ndarray:
        """The smoothed curve for `values` — the same curve as before, grown."""
        values = np.asarray(values, dtype=np.float64)
        if values.size < self._done:  # not the same curve: start again
            self._last, self._seen, self._done, self._out = 0.0, 0, 0, []
        w, last, seen, out = self.weight, self._last, self._seen, self._out
        for x in values[self._done:].tolist():
            if math.isfinite(x):
                last = w * last + (1.0 - w) * x
                seen += 1
            out.append(last / (1.0 - w ** seen) if seen else math.nan)
        self._last, self._seen, self._done = last, seen, values.size
        return np.asarray(out, dtype=np.float64)
