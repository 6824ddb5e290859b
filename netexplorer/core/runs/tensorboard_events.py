"""TensorBoard event files, written by the run's recorder on the training thread.

The format is TensorBoard's own: records of (length, masked CRC-32C of the length,
an Event protocol buffer, masked CRC-32C of it), as its RecordWriter frames them.
Two things there cost the training thread more than the rest of the store did,
measured with cProfile on the app's training thread (LeNet on digits, inspector
on): 16 % of the thread's time, all in the weight and gradient histograms written
once a second:

- TensorBoard's stub checksums every byte in Python (about 1 µs a byte; a
  histogram event of LeNet's ten tensors is ~130 kB, so ~75 ms a write). The
  `crc32c` package does it in C (with the CPU's CRC instruction where there is
  one); TensorBoard's own function is the fallback, with the same result.
- torch.utils.tensorboard's make_histogram converts each tensor to float64 numpy
  and has np.histogram sort it against 1,540 edges (~50 ms for LeNet's tensors).
  Here the same histograms are made in torch on the tensors' device, with one
  copy of all of them to the host: bucket edges, trimming and statistics are
  make_histogram's, so TensorBoard shows exactly what SummaryWriter.add_histogram
  would have written.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np


def _crc32c_function() -> Callable[[bytes], int]:
    """CRC-32C of bytes: the `crc32c` package's C code, else TensorBoard's Python."""
    try:
        with warnings.catch_warnings():  # it warns when it has no CRC instruction
            warnings.simplefilter("ignore")
            from crc32c import crc32c
        return crc32c
    except ImportError:  # pragma: no cover - crc32c is a dependency
        from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c as slow
        return slow


_crc32c = _crc32c_function()
_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data: bytes) -> int:
    """The record checksum TFRecord files carry: CRC-32C rotated right by 15 bits
    plus a constant (so that a CRC of data holding CRCs does not degenerate)."""
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    """One TFRecord: what tensorboard's RecordWriter.write(data) writes, byte for byte."""
    header = struct.pack("<Q", len(data))
    return b"".join((header, struct.pack("<I", masked_crc32c(header)), data,
                     struct.pack("<I", masked_crc32c(data))))


def _tensorflow_bins() -> np.ndarray:
    """The bucket edges SummaryWriter.add_histogram uses by default (TensorFlow's):
    ±1e-12 growing by 10 % to ±1e20, and 0."""
    edges, v = [], 1e-12
    while v < 1e20:
        edges.append(v)
        v *= 1.1
    return np.array([-e for e in reversed(edges)] + [0.0] + edges)


BINS = _tensorflow_bins()
_edges_on: dict[Any, Any] = {}  # device → BINS as a float64 tensor there


def histogram_values(named: Iterable[tuple[str, Any]]) -> list[Any]:
    """Summary values (HistogramProto) of each finite, non-empty tensor of `named`
    (tag, tensor), as torch.utils.tensorboard.summary.histogram(tag, values, BINS)
    makes them; a tensor holding NaN or infinity is left out, as SummaryWriter
    would refuse it. The tensors are binned on their device, then copied to the
    host together, once."""
    import torch
    from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary

    tensors = [(tag, t.detach().reshape(-1)) for tag, t in named if t.numel()]
    if not tensors:
        return []
    device = tensors[0][1].device
    edges = _edges_on.get(device)
    if edges is None:
        edges = _edges_on[device] = torch.as_tensor(BINS, dtype=torch.float64, device=device)
    n_bins = len(BINS) - 1
    cells, moments = [], []
    for _, flat in tensors:
        values = flat.to(device=device, dtype=torch.float64)
        # np.histogram's bins: edges[i] ≤ v < edges[i+1], the last one closed.
        index = torch.searchsorted(edges, values, right=True) - 1
        index = torch.where(values == edges[-1], n_bins - 1, index)
        inside = (index >= 0) & (index < n_bins)
        # Outside the edges (|v| ≥ 1e20): one cell past the bins, dropped below.
        # Counted tensor by tensor: their bin indices are never all held at once.
        cells.append(torch.bincount(torch.where(inside, index, n_bins), minlength=n_bins + 1))
        moments.append(torch.stack([values.min(), values.max(), values.sum(),
                                    torch.dot(values, values)]))
    counts_host = torch.stack(cells)[:, :n_bins].cpu().numpy()
    moments_host = torch.stack(moments).cpu().numpy()
    values_out = []
    for (tag, flat), count, (low, high, total, squares) in zip(tensors, counts_host,
                                                                moments_host, strict=True):
        if not np.isfinite(squares) or not np.isfinite(low) or not np.isfinite(high):
            continue
        limits, kept = _support(count)
        values_out.append(Summary.Value(tag=tag, histo=HistogramProto(
            min=float(low), max=float(high), num=flat.numel(), sum=float(total),
            sum_squares=float(squares), bucket_limit=limits.tolist(), bucket=kept.tolist())))
    return values_out


def _support(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """make_histogram's trimming: the bins from the first to the last non-empty one,
    with an empty bin before them (TensorBoard keeps only right limits)."""
    cum_counts = np.cumsum(np.greater(counts, 0))
    start, end = np.searchsorted(cum_counts, [0, cum_counts[-1] - 1], side="right")
    start, end = int(start), int(end) + 1
    kept = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
    return BINS[start:end + 1], kept


class EventFile:
    """A TensorBoard event file of the run, written on the recording thread.

    torch.utils.tensorboard.SummaryWriter hands every event to a thread of its own,
    which took the GIL from the training thread event by event. Here events are
    kept and written together, at most every `every` seconds and at every epoch,
    closing and end — the recorder passes its store's flush interval, so what a
    kill loses is as old as the store's metrics.
    """

    _files = itertools.count()

    def __init__(self, folder: Path, every: float) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        self.summary = Summary
        self._event = Event
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                f"{os.getpid()}.{next(self._files)}")
        self._file = open(folder / name, "wb")
        self._pending: list[bytes] = []
        self._every = every
        self._last_write = time.monotonic()
        self._pending.append(Event(wall_time=time.time(),
                                   file_version="brain.Event:2").SerializeToString())
        self.write()

    def add(self, step: int, summary: Any) -> None:
        self._pending.append(self._event(wall_time=time.time(), step=step,
                                         summary=summary).SerializeToString())

    def write_if_due(self) -> None:
        if time.monotonic() - self._last_write >= self._every:
            self.write()

    def write(self) -> None:
        if self._pending:
            self._file.write(b"".join(record(event) for event in self._pending))
        self._pending = []
        self._file.flush()
        self._last_write = time.monotonic()

    def close(self) -> None:
        try:
            self.write()
        finally:
            self._file.close()

    @property
    def path(self) -> Path:
        return Path(self._file.name)
