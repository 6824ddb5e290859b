"""The probe's memory: fixed-size ring buffers of numbers, never tensors.

Values are float64: a statistic of finite float32 values (a norm of activations
of 1e23) can exceed float32's range, and stored as float32 it would read as
infinity — a false "overflow" alert."""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """Fixed-capacity history of (step, matrix) rows; memory never grows. Rows are
    float64 unless told otherwise (histogram counts are uint16).

    Rows not written yet are never handed out (ordered and recent read `count`
    rows), so the storage is left unfilled: the pages are touched as rows arrive.
    Filled at creation, the inspector's two buffers (32 MB each at most) held the
    GUI thread for tens of milliseconds at a run's first report."""

    def __init__(self, capacity: int, row_shape: tuple[int, ...],
                 dtype: type | np.dtype = np.float64) -> None:
        self.capacity = capacity
        self.steps = np.empty(capacity, dtype=np.int64)
        self.values = np.empty((capacity, *row_shape), dtype=dtype)
        self._next = 0
        self.count = 0

    def extend(self, steps: np.ndarray, values: np.ndarray) -> None:
        for step, row in zip(steps, values):
            self.steps[self._next] = step
            self.values[self._next] = row
            self._next = (self._next + 1) % self.capacity
            self.count = min(self.count + 1, self.capacity)

    def ordered(self, part: tuple = ()) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) oldest first, copies; `part` indexes each row first (a
        layer's histograms), so that only that part is copied."""
        values = self.values[(slice(None), *part)]
        if self.count < self.capacity:
            return self.steps[:self.count].copy(), values[:self.count].copy()
        order = np.r_[self._next:self.capacity, 0:self._next]
        return self.steps[order], values[order]

    @property
    def nbytes(self) -> int:
        """The memory the buffer holds, fixed when it is made."""
        return self.steps.nbytes + self.values.nbytes

    def recent(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The last `n` rows (fewer if there are fewer), oldest first — without
        copying the whole buffer, since the doctor asks on every report."""
        n = min(n, self.count)
        idx = (self._next - n + np.arange(n)) % self.capacity
        return self.steps[idx], self.values[idx]
