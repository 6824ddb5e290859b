"""The training doctor: reads a probe's statistics and names the layer going wrong,
with what is wrong in words and what to try.

The Doctor sees only what it is handed — an Examination: the layers, the new
steps' statistics, the recent history and how full each layer's dead-unit
window is — never the Probe itself, so it can be tested, and fed from a stored
run, without one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from netexplorer.core.inspection.advice import vanishing_advice
from netexplorer.core.inspection.stats import MEASURED, STAT_INDEX, Alert, LayerInfo

# --- Doctor thresholds (module constants so that tests and docs can name them) ---
# A ReLU-family layer whose units were never active in this share of the window.
DEAD_THRESHOLD = 0.5
# Batches over which "never active" is judged; alerts wait until it is full.
DEAD_WINDOW = 20
# Vanishing: the first trainable layer's output-gradient RMS below this fraction of
# the last one's (three orders of magnitude), as a median over recent samples.
VANISHING_RATIO = 1e-3
# Exploding: a gradient norm more than this many times its recent median.
EXPLODING_FACTOR = 10.0
# Samples of history needed before a recent median means anything.
MIN_HISTORY = 8
RECENT = 32
# Update-to-weight ratio: the rule of thumb is ~1e-3 per step; far outside these
# bounds the learning rate is most likely wrong. Measured on healthy LeNet runs on
# digits (SGD, lr 0.05, momentum 0.9): per-layer medians 6e-3 to 8e-3, 5th to 95th
# percentiles 1.3e-4 to 1.1e-1 — so the alert looks at the median of recent steps.
UPDATE_RATIO_HIGH = 1e-1
UPDATE_RATIO_LOW = 1e-6


@dataclass(frozen=True, eq=False)
class Examination:
    """What the doctor reads after a probe's flush.

    stats[i, s, l] is statistic s of layer l at steps[i] (the new steps);
    measured[i, m, l] says whether MEASURED[m] was measured there (a NaN that was
    measured is news, one that was not is a gap); recent holds the last rows of
    the history, these steps included, as many as the checks need.
    """

    layers: tuple[LayerInfo, ...]
    steps: np.ndarray
    stats: np.ndarray
    measured: np.ndarray
    recent: np.ndarray
    windows_filled: tuple[int, ...]  # sampled batches in each layer's dead-unit window
    dead_window: int

    @property
    def param_layers(self) -> list[int]:
        return [info.index for info in self.layers if info.has_params]

    def recent_stat(self, stat: str, n: int) -> np.ndarray:
        """The last n sampled rows of one statistic: samples × layers."""
        return self.recent[-n:, STAT_INDEX[stat], :]


class Doctor:
    """Reads what a probe measured and names the layer that is going wrong.

    Each alert fires when its condition starts and again only after it has
    cleared, so a persistent problem is one alert, not one per report.
    """

    HISTORY_NEEDED = RECENT  # rows of history an Examination needs beyond its new steps

    def __init__(self) -> None:
        self._active: set[tuple[str, str]] = set()

    def examine(self, exam: Examination) -> list[Alert]:
        """New alerts from a flush's steps."""
        found: dict[tuple[str, str], Alert] = {}
        for alert in self._nonfinite(exam):
            found[(alert.kind, alert.layer)] = alert
        if not found:  # with NaNs around, the other checks say nothing useful
            for check in (self._dead, self._vanishing, self._exploding, self._update_ratio):
                for alert in check(exam):
                    found[(alert.kind, alert.layer)] = alert
        new = [a for key, a in found.items() if key not in self._active]
        self._active = set(found)
        return new

    # Each check returns the alerts whose condition holds now.
    def _nonfinite(self, exam: Examination) -> Iterable[Alert]:
        steps, stats, measured = exam.steps, exam.stats, exam.measured
        bad = ~np.isfinite(stats[:, [STAT_INDEX[name] for name in MEASURED], :]) & measured
        if not bad.any():
            return []
        row = int(np.flatnonzero(bad.any(axis=(1, 2)))[0])
        # The layer where it started: activations go bad in forward order, and a bad
        # activation makes every earlier layer's gradient bad too, so the first bad
        # activation names it; with finite activations the gradients went bad in
        # backward order, so the last layer with a bad gradient is the first to.
        # Output gradients are measured on a sample of the batch; the weights'
        # gradients cover all of it, so they catch what the sample missed.
        act, grad, weight_grad = bad[row]
        if act.any():
            layer, where = int(np.flatnonzero(act)[0]), "activation"
        elif grad.any():
            layer, where = int(np.flatnonzero(grad)[-1]), "gradient"
        else:
            layer, where = int(np.flatnonzero(weight_grad)[-1]), "weight gradient"
        name = exam.layers[layer].name
        stat = {"activation": "act_norm", "gradient": "grad_norm",
                "weight gradient": "weight_grad_norm"}[where]
        value = stats[row, STAT_INDEX[stat], layer]
        # Statistics accumulate in float64: an infinite one means infinite values
        # (float32 overflowed), a NaN one means NaN values — two different stories.
        if np.isnan(value):
            return [Alert("nan", name, int(steps[row]),
                          f"NaN appeared in its {where} — the first layer where one did",
                          "a NaN usually follows an overflow (inf − inf, 0 × inf): lower the "
                          "learning rate, check the input normalisation, or add batch "
                          "normalisation before this layer",
                          severity="error", pause=True)]
        return [Alert("overflow", name, int(steps[row]),
                      f"its {where} overflowed float32 (values beyond ±3.4e38) — the first "
                      f"layer to do so",
                      "lower the learning rate or clip gradients; check the input "
                      "normalisation",
                      severity="error", pause=True)]

    def _dead(self, exam: Examination) -> Iterable[Alert]:
        dead = exam.stats[-1, STAT_INDEX["dead"], :]
        for i, info in enumerate(exam.layers):
            filled = exam.windows_filled[i]
            if info.activation and filled >= exam.dead_window and dead[i] > DEAD_THRESHOLD:
                yield Alert("dead", info.name, int(exam.steps[-1]),
                            f"{100 * dead[i]:.0f} % of its units have not fired in the last "
                            f"{exam.dead_window} sampled batches (dead ReLUs)",
                            "lower the learning rate, check the bias initialisation of the "
                            "layer before it, or try LeakyReLU/ELU")

    def _vanishing(self, exam: Examination) -> Iterable[Alert]:
        params = exam.param_layers
        if len(params) < 2:
            return
        recent = exam.recent_stat("grad_norm", RECENT)
        if len(recent) < MIN_HISTORY:
            return
        rms = recent / np.sqrt(np.maximum(_per_sample_sizes(exam.layers), 1))
        first, last = params[0], params[-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = _nanmedian(rms[:, first]) / _nanmedian(rms[:, last])
        if np.isfinite(ratio) and ratio < VANISHING_RATIO:
            name = exam.layers[first].name
            yield Alert("vanishing", name, int(exam.steps[-1]),
                        f"its gradients are {ratio:.1e} times those of the last layer "
                        f"'{exam.layers[last].name}': they vanish on the way back",
                        vanishing_advice(info.kind for info in exam.layers))

    def _exploding(self, exam: Examination) -> Iterable[Alert]:
        new = len(exam.steps)
        history = exam.recent_stat("grad_norm", RECENT + new)
        before = history[:-new]
        if len(before) < MIN_HISTORY:
            return
        with np.errstate(invalid="ignore"):
            baseline = _nanmedian(before[-RECENT:], axis=0)
            latest = _nanmax(history[-new:], axis=0)
            jumped = latest > EXPLODING_FACTOR * baseline
        for i in np.flatnonzero(jumped & (baseline > 0)):
            name = exam.layers[int(i)].name
            yield Alert("exploding", name, int(exam.steps[-1]),
                        f"its gradient norm jumped to {latest[i]:.3g}, "
                        f"{latest[i] / baseline[i]:.0f}× its recent median",
                        "lower the learning rate or clip gradients; a loss about to diverge "
                        "often shows this first")

    def _update_ratio(self, exam: Examination) -> Iterable[Alert]:
        recent = exam.recent_stat("update_ratio", RECENT)
        if len(recent) < MIN_HISTORY:
            return
        median = _nanmedian(recent, axis=0)
        for i in exam.param_layers:
            value = median[i]
            name = exam.layers[i].name
            if value > UPDATE_RATIO_HIGH:
                yield Alert("update_high", name, int(exam.steps[-1]),
                            f"each step changes its weights by {value:.1e} of their size "
                            f"(rule of thumb: ~1e-3)",
                            "the learning rate is likely too high: try a tenth of it")
            elif value < UPDATE_RATIO_LOW:
                yield Alert("update_low", name, int(exam.steps[-1]),
                            f"each step changes its weights by only {value:.1e} of their "
                            f"size (rule of thumb: ~1e-3)",
                            "the learning rate is likely too low, or this layer gets no "
                            "gradient: try ten times the learning rate")


def _per_sample_sizes(layers: tuple[LayerInfo, ...]) -> np.ndarray:
    return np.array([math.prod(info.output_shape) if info.output_shape else 1
                     for info in layers], dtype=np.float64)


def _nanmedian(values: np.ndarray, axis: int | None = None) -> Any:
    """np.nanmedian without its warning for all-NaN columns (layers without
    parameters or gradients stay NaN), and fast in the common case: columns with
    no NaN take np.median; only partly measured ones pay for nanmedian."""
    if axis is None or values.ndim == 1:
        finite = values[~np.isnan(values)]
        return float(_median(finite[:, None])[0]) if finite.size else float("nan")
    values = np.moveaxis(values, axis, 0)
    out = np.full(values.shape[1:], np.nan)
    nan = np.isnan(values)
    full = ~nan.any(axis=0)
    if full.any():
        out[full] = _median(values[:, full])
    partial = ~full & ~nan.all(axis=0)
    if partial.any():
        out[partial] = np.nanmedian(values[:, partial], axis=0)
    return out


def _median(values: np.ndarray) -> np.ndarray:
    """np.median along axis 0 of NaN-free columns, by a sort: for the doctor's few
    dozen rows np.median's own checks cost ~10× the sorting (it runs several times
    a report)."""
    ordered = np.sort(values, axis=0)
    half = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[half]
    return (ordered[half - 1] + ordered[half]) / 2


def _nanmax(values: np.ndarray, axis: int | None = None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(values, axis=axis)
