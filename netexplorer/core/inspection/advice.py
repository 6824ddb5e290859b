"""What to try, worded from what the model and the optimizer actually are.

One place for the advice both the Doctor's alerts and the run's diagnosis give,
so the Training tab and the Inspector never say opposite things, and never advise
replacing a sigmoid the model does not have. Plain functions of plain values: no
torch, no Qt.
"""

from __future__ import annotations

from collections.abc import Iterable

# Activations that saturate (their gradient vanishes for large inputs).
SATURATING = ("sigmoid", "tanh")
# Typical working ranges of the learning rate, per optimizer family: far outside
# them, the rate is the first suspect.
ADAPTIVE = ("adam", "adamw", "rmsprop")
LR_RANGE = {"adaptive": (1e-5, 1e-2), "sgd": (1e-3, 1.0)}
OPTIMIZER_NAMES = {"sgd": "SGD", "nesterov": "SGD with Nesterov momentum", "adam": "Adam",
                   "adamw": "AdamW", "rmsprop": "RMSprop"}


def saturating_in(kinds: Iterable[str]) -> list[str]:
    """The saturating activation kinds the model has, in the order of SATURATING."""
    present = {kind.lower() for kind in kinds}
    return [kind for kind in SATURATING if kind in present]


def vanishing_advice(kinds: Iterable[str]) -> str:
    """What to try when gradients vanish, for a model with these layer kinds."""
    saturating = saturating_in(kinds)
    if saturating:
        return (f"replace the {'/'.join(saturating)} layers with ReLU-family activations, "
                f"add batch normalisation, or make the network shallower")
    return ("add batch normalisation between the layers, check the weight initialisation, "
            "or make the network shallower")


def lr_family(optimizer: str) -> str:
    return "adaptive" if optimizer in ADAPTIVE else "sgd"


def lr_out_of_range(optimizer: str, lr: float) -> str | None:
    """"high" or "low" when lr is far outside the optimizer's usual range, else None."""
    low, high = LR_RANGE[lr_family(optimizer)]
    if lr > high:
        return "high"
    if lr < low:
        return "low"
    return None


def lr_advice(optimizer: str, lr: float, direction: str) -> str:
    """'use a learning rate of 0.005' — a tenth, or ten times — and the optimizer's
    usual range when lr is outside it."""
    low, high = LR_RANGE[lr_family(optimizer)]
    name = OPTIMIZER_NAMES.get(optimizer, optimizer)
    new = lr / 10 if direction == "lower" else lr * 10
    if direction == "lower" and lr > high:
        new = min(new, high / 10)
    elif direction == "raise" and lr < low:
        new = max(new, low * 10)
    text = f"use a learning rate of {new:g}"
    out = lr_out_of_range(optimizer, lr)
    if out is not None:
        side = "above" if out == "high" else "below"
        text += f" ({name} usually works between {low:g} and {high:g}; {lr:.3g} is far {side})"
    return text
