"""How big a console statement may get, found before anything is allocated.

A torch operation cannot be interrupted from Python once it has started, so the
time limit alone (checked between the statement's parts) cannot stop
`torch.ones(10**9)` or a 10⁴×10⁴ matrix product: sizes have to be known first.
Every torch call, tensor method, operator and subscript is run once on the
"meta" device — tensors with a shape and no memory, which torch's own shape
rules fill in — and refused when its result would exceed MAX_ELEMENTS, or when a
matrix product or convolution would take more than MAX_FLOPS. numpy calls are
sized by their shape arguments and broadcasting; Python's own numbers and
sequences by their lengths and bit counts (`10**10**10` never starts).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

# Elements in one tensor or array: 10⁷ float32 values are 40 MB.
MAX_ELEMENTS = 10_000_000
# Multiply-adds ×2 in one matrix product or convolution: about a second on one core.
MAX_FLOPS = 2_000_000_000
# Items in one Python list, tuple, string or range.
MAX_SEQUENCE = 100_000
# Bits in one Python integer (about 30,000 decimal digits).
MAX_INT_BITS = 100_000


class Refused(Exception):
    """A statement the console will not run, and why, in one sentence.

    Raised before the construct it names has any effect.
    """


# Calls whose results are no bigger than their inputs, or which cannot run on the
# meta device (they read values): sized by their inputs, which are already bounded.
_NOT_DRY_RUN = frozenset({
    "item", "tolist", "numpy", "backward", "retain_grad", "requires_grad_", "detach_",
    "to", "cpu", "cuda", "from_numpy", "as_tensor", "tensor", "manual_seed", "no_grad",
    "enable_grad", "is_grad_enabled", "device", "size", "dim", "numel", "element_size",
    "stride", "is_contiguous", "is_floating_point", "is_tensor", "type", "equal",
    "allclose", "uniform_", "normal_", "is_available", "device_count",
    "get_device_name", "current_device", "name",
})
# Calls whose cost grows faster than their result: counted in FLOPs.
_MATMUL_LIKE = frozenset({"matmul", "mm", "dot", "linear", "__matmul__"})
_CONV_LIKE = frozenset({"conv2d"})


def _meta(value: Any) -> Any:
    """The value with every tensor and array replaced by a meta tensor of its shape."""
    import torch

    if isinstance(value, torch.Tensor):
        return torch.empty(value.shape, dtype=value.dtype, device="meta")
    if isinstance(value, np.ndarray):
        return torch.empty(value.shape, dtype=_torch_dtype_of(value), device="meta")
    if isinstance(value, list | tuple) and any(_holds_array(v) for v in value):
        return type(value)(_meta(v) for v in value)
    if isinstance(value, torch.device):
        return torch.device("meta")
    return value


def _holds_array(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor | np.ndarray) or (
        isinstance(value, list | tuple) and any(_holds_array(v) for v in value))


def _torch_dtype_of(array: np.ndarray) -> Any:
    import torch

    try:
        return torch.from_numpy(np.empty(0, array.dtype)).dtype
    except TypeError:  # an object or string array: its shape is what matters
        return torch.float64


def _tensors_in(value: Any) -> list[Any]:
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _tensors_in(v)]
    return []


def _shape_text(shape: Sequence[int]) -> str:
    return "×".join(str(int(s)) for s in shape) or "a scalar"


def _check_result(label: str, result: Any) -> None:
    for tensor in _tensors_in(result):
        check_elements(label, int(tensor.numel()), tuple(tensor.shape))


def check_elements(label: str, elements: int, shape: Sequence[int] = ()) -> None:
    """Refuse a result of more than MAX_ELEMENTS elements."""
    if elements > MAX_ELEMENTS:
        where = f" ({_shape_text(shape)})" if len(shape) > 1 else ""
        raise Refused(f"{label} would make {elements:,} elements{where}; the console's "
                      f"limit is {MAX_ELEMENTS:,} per tensor, so that nothing it runs can "
                      f"fill the memory or outlast its time limit")


def _check_flops(label: str, name: str, args: Sequence[Any], result: Any) -> None:
    outputs = _tensors_in(result)
    inputs = _tensors_in(list(args))
    if not outputs or not inputs:
        return
    if name in _MATMUL_LIKE:
        inner = int(inputs[0].shape[-1]) if inputs[0].dim() else 1
        flops = 2 * int(outputs[0].numel()) * inner
    elif name in _CONV_LIKE and len(inputs) > 1:
        flops = 2 * int(outputs[0].numel()) * int(inputs[1][0].numel())
    else:
        return
    if flops > MAX_FLOPS:
        raise Refused(f"{label} would take {flops:,} floating-point operations; the "
                      f"console's limit is {MAX_FLOPS:,} (about a second), because a "
                      f"running torch operation cannot be stopped")


def _requested_elements(args: Sequence[Any]) -> int:
    """What integer arguments ask for when read as a shape (the fallback for a call
    the meta device cannot run)."""
    numbers: list[int] = []
    for arg in args:
        if isinstance(arg, bool):
            continue
        if isinstance(arg, int):
            numbers.append(arg)
        elif isinstance(arg, list | tuple) and all(isinstance(a, int) for a in arg):
            numbers.extend(arg)
    return math.prod(max(n, 0) for n in numbers) if numbers else 0


def check_torch_call(label: str, name: str, function: Callable[..., Any],
                     args: Sequence[Any], kwargs: Mapping[str, Any],
                     owner: Any = None) -> None:
    """Refuse `function(*args, **kwargs)` (a method of `owner` when given) if its
    result would be too large or too slow. `name` is the function's name."""
    if name in _NOT_DRY_RUN:
        return
    meta_args = [_meta(a) for a in args]
    meta_kwargs = {k: _meta(v) for k, v in kwargs.items()}
    if owner is None and not _tensors_in(list(args) + list(kwargs.values())):
        meta_kwargs["device"] = "meta"  # a factory: made where nothing is allocated
        meta_kwargs.pop("pin_memory", None)
    try:
        if owner is not None:
            result = getattr(_meta(owner), name)(*meta_args, **meta_kwargs)
        else:
            result = function(*meta_args, **meta_kwargs)
    except Refused:
        raise
    except Exception:
        # Wrong arguments fail the same way for real, at once; a call the meta
        # device cannot run is sized by what its integers ask for.
        check_elements(label, _requested_elements(list(args) + list(kwargs.values())))
        return
    _check_result(label, result)
    _check_flops(label, name, ([owner] if owner is not None else []) + list(args), result)


_OPERATOR_NAMES = {operator.matmul: "__matmul__"}


def check_operator(label: str, op: Callable[[Any, Any], Any], left: Any, right: Any) -> None:
    """Refuse `op(left, right)` (a binary operator) if its result would be too large."""
    if _holds_array(left) or _holds_array(right):
        try:
            result = op(_meta(left), _meta(right))
        except Exception:
            return  # the real operation fails the same way, at once
        _check_result(label, result)
        _check_flops(label, _OPERATOR_NAMES.get(op, ""), [_meta(left), _meta(right)], result)
        return
    _check_python_operator(label, op, left, right)


def _check_python_operator(label: str, op: Callable[[Any, Any], Any], left: Any,
                           right: Any) -> None:
    ints = isinstance(left, int) and isinstance(right, int)
    if ints and op in (operator.pow, operator.ipow) and right > 0:
        bits = max(abs(left).bit_length(), 1) * right
    elif ints and op in (operator.mul, operator.imul):
        bits = abs(left).bit_length() + abs(right).bit_length()
    elif ints and op in (operator.lshift, operator.ilshift):
        bits = abs(left).bit_length() + max(right, 0)
    else:
        bits = 0
    if abs(left if isinstance(left, int) else 0) > 1 and bits > MAX_INT_BITS:
        raise Refused(f"{label} would be a number of about {bits:,} bits; the console "
                      f"keeps numbers under {MAX_INT_BITS:,} bits")
    length = 0
    if op in (operator.mul, operator.imul):
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(times, int):
                length = len(seq) * times
    elif op in (operator.add, operator.iadd) and isinstance(left, str | list | tuple) \
            and isinstance(right, str | list | tuple):
        length = len(left) + len(right)
    check_length(label, length)


def check_length(label: str, length: int) -> None:
    """Refuse a Python sequence longer than MAX_SEQUENCE."""
    if length > MAX_SEQUENCE:
        raise Refused(f"{label} would hold {length:,} items; the console keeps lists, "
                      f"strings and ranges under {MAX_SEQUENCE:,}")


def check_subscript(label: str, value: Any, index: Any) -> None:
    """Refuse `value[index]` on a tensor when advanced indexing would make it too large."""
    if not _holds_array(value):
        return
    try:
        result = _meta(value)[_meta(index)]
    except Exception:
        return
    _check_result(label, result)


# numpy: sized from shape arguments (factories) or from broadcasting (the rest).
_NUMPY_SHAPED = frozenset({"ones", "zeros", "full"})


def check_numpy_call(label: str, name: str, args: Sequence[Any],
                     kwargs: Mapping[str, Any]) -> None:
    """Refuse a numpy call whose result would exceed MAX_ELEMENTS."""
    check_elements(label, _numpy_elements(name, args, kwargs))


def _numpy_elements(name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> int:
    if name in _NUMPY_SHAPED:
        shape = args[0] if args else kwargs.get("shape", ())
        return _requested_elements([shape])
    if name == "eye":
        n = args[0] if args else kwargs.get("N", 0)
        m = args[1] if len(args) > 1 and args[1] is not None else kwargs.get("M") or n
        return _requested_elements([n, m])
    if name == "arange":
        numbers = [a for a in args if isinstance(a, int | float)]
        start, stop, step = (0, numbers[0], 1) if len(numbers) == 1 else \
            (numbers + [1])[:3] if numbers else (0, 0, 1)
        return max(math.ceil((stop - start) / step), 0) if step else 0
    if name == "linspace":
        num = args[2] if len(args) > 2 else kwargs.get("num", 50)
        return int(num) if isinstance(num, int) else 0
    shapes = [tuple(getattr(a, "shape", ())) for a in list(args) + list(kwargs.values())
              if isinstance(a, np.ndarray | int | float) or _tensors_in(a)]
    try:
        return math.prod(np.broadcast_shapes(*shapes)) if shapes else 0
    except ValueError:
        return 0  # numpy says what does not fit, at once
