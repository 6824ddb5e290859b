"""Autograd's errors in a learner's words: what happened, and what to do.

torch's messages are exact but written for someone who already knows how
autograd works ("one of the variables needed for gradient computation has
been modified by an inplace operation: … is at version 2; expected version 1").
explain() keeps the original as the last line and puts first what it means
and the usual fix, naming the console's variable where it can be found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_VERSION = re.compile(r"\[(?P<type>[\w.]+) \[(?P<shape>[\d, ]*)\]\], which is output "
                      r"(?P<output>\d+) of (?P<op>\w+), is at version (?P<now>\d+); "
                      r"expected version (?P<then>\d+)")


def _names_made_by(op: str, names: Mapping[str, Any]) -> list[str]:
    """Console names whose tensor was made by a node called `op` (MulBackward0 for
    "Mul") or, for a leaf, that are leaves."""
    import torch

    found = []
    for name, value in names.items():
        if isinstance(value, torch.Tensor):
            fn = value.grad_fn
            made_by = type(fn).__name__ if fn is not None else ""
            if made_by.removesuffix("0").removesuffix("Backward") == op or made_by == op:
                found.append(name)
    return found


def explain(error: BaseException, names: Mapping[str, Any] | None = None) -> str:
    """What `error` means for a person at the console, then torch's own words."""
    names = names or {}
    original = str(error).strip() or type(error).__name__
    first = original.splitlines()[0]
    if "backward through the graph a second time" in original:
        return ("backward() already ran through this graph, and autograd freed the values "
                "it saved for it. Run the statements that build the graph again, or call "
                "backward(retain_graph=True) the first time if you mean to call it twice "
                "(the gradients then add up in .grad).\n" + first)
    match = _VERSION.search(original)
    if match:
        made = _names_made_by(match["op"], names)
        which = f" ({', '.join(made)})" if made else ""
        return (f"a tensor autograd saved for backward() was changed in place afterwards: "
                f"the tensor of shape {match['shape'].replace(', ', '×') or '()'} made by "
                f"{match['op']}{which} was at version {match['then']} when it was saved and "
                f"is at version {match['now']} now. Compute with an operation that makes a "
                f"new tensor (y = y + 1 rather than y.add_(1)), or change a .clone().\n"
                + first)
    if "grad can be implicitly created only for scalar outputs" in original:
        return ("backward() without an argument works on a single number (a loss). For a "
                "tensor of several elements autograd computes a vector–Jacobian product, so "
                "give it the vector: y.backward(torch.ones_like(y)) — or reduce first, as in "
                "y.sum().backward().\n" + first)
    if "does not require grad and does not have a grad_fn" in original:
        return ("this tensor was not computed from any tensor with requires_grad=True, so "
                "there is nothing to differentiate: make the inputs with "
                "requires_grad=True (or call x.requires_grad_()) before computing.\n" + first)
    if "leaf Variable that requires grad is being used in an in-place operation" in original:
        return ("an in-place operation on a leaf that requires grad would change the value "
                "autograd differentiates with respect to. Change it inside "
                "`with torch.no_grad():`, or compute a new tensor.\n" + first)
    if "Can't call numpy() on Tensor that requires grad" in original:
        return ("numpy() would share memory that autograd is tracking: take x.detach()."
                "numpy() for a view without the graph.\n" + first)
    if any(s in original for s in ("NVIDIA driver", "CUDA", "cuda")) and \
            isinstance(error, RuntimeError | AssertionError):
        return ("this machine has no CUDA GPU PyTorch can use, so tensors stay on the CPU "
                "(torch.cuda.is_available() says so).\n" + first)
    if isinstance(error, NameError):
        return first + " (names live until the console is reset)"
    return f"{type(error).__name__}: {first}" if not isinstance(error, RuntimeError) \
        else first
