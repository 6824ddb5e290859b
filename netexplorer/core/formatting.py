"""Numbers formatted for reading: the inspector table, the CLI and tooltips share
these so a value reads the same everywhere."""

from __future__ import annotations

import math
from collections.abc import Sequence

_PREFIXES = {-12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T"}


def engineering(value: float | None, digits: int = 3) -> str:
    """3 significant digits with an SI prefix: 0.00123 → '1.23m', 45600 → '45.6k'.

    Beyond the prefixes (below 1e-12 or from 1e15) it falls back to e-notation;
    NaN and None read as '–' (not measured), infinities as '∞'.
    """
    if value is None or math.isnan(value):  # also numpy's NaN (np.float32 is no float)
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == 0:
        return "0"
    rounded = float(f"{value:.{digits - 1}e}")  # round first: 999.9 → 1.00e3, not 1000
    exponent = int(math.floor(math.log10(abs(rounded)) / 3) * 3)
    if exponent not in _PREFIXES:
        return f"{value:.{digits - 1}e}"
    mantissa = rounded / 10**exponent
    decimals = max(digits - 1 - int(math.floor(math.log10(abs(mantissa)))), 0)
    return f"{mantissa:.{decimals}f}{_PREFIXES[exponent]}"


def plain(value: float | None, digits: int = 3) -> str:
    """`digits` significant digits without an SI prefix: 0.236 → '0.236', 4.19e-6 →
    '4.19e-06' — for a loss, where '236m' reads as minutes or metres."""
    if value is None or math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.{digits}g}"


def percent(fraction: float | None, decimals: int = 1) -> str:
    if fraction is None or math.isnan(fraction):
        return "–"
    return f"{100 * fraction:.{decimals}f} %"


def format_shape(shape: Sequence[int]) -> str:
    """16×5×5 — the way shapes read in messages and tables, everywhere."""
    return "×".join(str(int(s)) for s in shape)
