"""A tensor (or numpy array) as a plain record, for the tensor view and the CLI.

What crosses to the GUI is never the live tensor (it keeps changing on the
console's thread): a TensorRecord holds its facts — shape, dtype, device,
requires_grad, is_leaf, grad_fn, the version counter `_version` — and a copy of
at most SHOWN_ROWS × SHOWN_COLUMNS of its values (and of its .grad), as a 2-D
float array; a tensor with more dimensions is shown as its rows of the last
dimension. Which names share memory (the numpy bridge) is found here too.

torch is imported inside the functions: the records are read by the GUI before
torch has loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SHOWN_ROWS = 64
SHOWN_COLUMNS = 64


@dataclass(frozen=True)
class ValuesView:
    """Up to SHOWN_ROWS × SHOWN_COLUMNS of a tensor's values, as float64 rows.

    `rows` × `columns` is the whole tensor read as a matrix; `note` says which
    part is shown when it is not all of it.
    """

    values: np.ndarray
    rows: int
    columns: int
    note: str = ""

    @property
    def complete(self) -> bool:
        return self.values.shape == (self.rows, self.columns)


@dataclass(frozen=True)
class TensorRecord:
    """One name of the console and the tensor or array it holds, as plain data."""

    name: str
    kind: str  # "tensor" or "array" (numpy)
    shape: tuple[int, ...]
    dtype: str
    device: str
    requires_grad: bool = False
    is_leaf: bool = True
    grad_fn: str = ""  # the class of the node that made it, "" for none
    version: int | None = None  # the version counter; None for numpy arrays
    values: ValuesView | None = None
    grad: ValuesView | None = None
    text: str = ""  # how Python's prompt prints it
    shares_memory_with: tuple[str, ...] = ()
    changes: tuple[str, ...] = field(default=())  # what the last statement did to it

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


def values_view(array: np.ndarray) -> ValuesView:
    """The part of `array` the views show, as a 2-D float64 matrix."""
    if array.ndim == 0:
        matrix = array.reshape(1, 1)
    elif array.ndim == 1:
        matrix = array.reshape(1, -1)
    else:
        matrix = array.reshape(-1, array.shape[-1])
    rows, columns = matrix.shape
    shown = matrix[:SHOWN_ROWS, :SHOWN_COLUMNS]
    note = ""
    if shown.shape != matrix.shape:
        note = (f"showing rows 1–{shown.shape[0]} of {rows:,} and columns 1–{shown.shape[1]} "
                f"of {columns:,}")
    if np.iscomplexobj(shown):
        shown = np.abs(shown)
    return ValuesView(np.array(shown, dtype=np.float64), rows, columns, note)


def _tensor_values(tensor: Any) -> ValuesView | None:
    """A copy of the shown part of a tensor (its rows first, so a big tensor on a GPU
    is never copied whole)."""
    import torch

    if tensor.device.type == "meta":
        return None
    with torch.no_grad():
        t = tensor.detach()
        t = t.reshape(1, 1) if t.dim() == 0 else t.reshape(1, -1) if t.dim() == 1 else \
            t.reshape(-1, t.shape[-1])
        rows, columns = t.shape
        part = t[:SHOWN_ROWS, :SHOWN_COLUMNS].to("cpu")
        if part.dtype in (torch.bfloat16, torch.float16) or part.dtype == torch.bool:
            part = part.to(torch.float32)
        if part.is_complex():
            part = part.abs()
        shown = part.numpy().astype(np.float64)
    note = ""
    if shown.shape != (rows, columns):
        note = (f"showing rows 1–{shown.shape[0]} of {rows:,} and columns 1–{shown.shape[1]} "
                f"of {columns:,}")
    return ValuesView(shown, int(rows), int(columns), note)


def _text(value: Any, limit: int = 2000) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def describe(name: str, value: Any) -> TensorRecord | None:
    """The record of a tensor or numpy array; None for anything else."""
    import torch

    if isinstance(value, torch.Tensor):
        grad = value.grad if value.is_leaf else None
        return TensorRecord(
            name=name, kind="tensor", shape=tuple(value.shape),
            dtype=str(value.dtype).removeprefix("torch."), device=str(value.device),
            requires_grad=value.requires_grad, is_leaf=value.is_leaf,
            grad_fn=type(value.grad_fn).__name__ if value.grad_fn is not None else "",
            version=int(value._version), values=_tensor_values(value),
            grad=_tensor_values(grad) if grad is not None else None, text=_text(value))
    if isinstance(value, np.ndarray):
        numeric = value.dtype.kind in "biufc"
        return TensorRecord(name=name, kind="array", shape=tuple(value.shape),
                            dtype=str(value.dtype), device="cpu",
                            values=values_view(value) if numeric else None,
                            text=_text(value))
    return None


def _memory_range(value: Any) -> tuple[int, int] | None:
    """(first byte, one past the last byte) of what a CPU tensor or an array uses."""
    import torch

    if isinstance(value, torch.Tensor):
        if value.device.type != "cpu":
            return None
        storage = value.untyped_storage()
        start = storage.data_ptr()
        return (start, start + storage.nbytes()) if storage.nbytes() else None
    if isinstance(value, np.ndarray) and value.nbytes:
        start = value.__array_interface__["data"][0]
        return start, start + value.nbytes
    return None


def shared_memory(names: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """For each name holding a tensor or array, the other names whose values live in
    the same memory (a.numpy() and a, torch.from_numpy(b) and b, a view and its base)."""
    ranges = {n: r for n, v in names.items() if (r := _memory_range(v)) is not None}
    shared: dict[str, list[str]] = {n: [] for n in ranges}
    items = list(ranges.items())
    for i, (a, (a0, a1)) in enumerate(items):
        for b, (b0, b1) in items[i + 1:]:
            if a0 < b1 and b0 < a1 and names[a] is not names[b]:
                shared[a].append(b)
                shared[b].append(a)
    return {n: tuple(others) for n, others in shared.items() if others}


def describe_all(names: Mapping[str, Any],
                 changes: Mapping[str, Iterable[str]] | None = None) -> tuple[TensorRecord, ...]:
    """The records of every tensor and array among `names`, in the order given, with
    who shares memory with whom and what the last statement changed."""
    from dataclasses import replace

    shared = shared_memory(names)
    records = []
    for name, value in names.items():
        record = describe(name, value)
        if record is not None:
            records.append(replace(record, shares_memory_with=shared.get(name, ()),
                                   changes=tuple((changes or {}).get(name, ()))))
    return tuple(records)
