"""The Doctor on its own: it reads the Examination it is handed, no Probe needed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from netexplorer.core.inspection import (
    DEAD_WINDOW,
    MEASURED,
    STAT_INDEX,
    STATS,
    Doctor,
    Examination,
    LayerInfo,
)

LAYERS = (LayerInfo(0, "fc1", "linear", True, False), LayerInfo(1, "relu1", "relu", False, True),
          LayerInfo(2, "fc2", "linear", True, False))


def examination(stats: np.ndarray, filled: int = 0) -> Examination:
    steps = np.arange(len(stats), dtype=np.int64)
    measured = np.ones((len(stats), len(MEASURED), len(LAYERS)), dtype=bool)
    return Examination(LAYERS, steps, stats, measured, stats, (filled,) * len(LAYERS),
                       DEAD_WINDOW)


def healthy(rows: int = 1) -> np.ndarray:
    stats = np.ones((rows, len(STATS), len(LAYERS)), dtype=np.float32)
    stats[:, STAT_INDEX["dead"]] = 0.0
    stats[:, STAT_INDEX["update_ratio"]] = 1e-3  # the rule of thumb
    return stats


def test_a_nan_activation_names_its_layer_once():
    stats = healthy()
    stats[0, STAT_INDEX["act_norm"], 1:] = np.nan  # relu1 first, then fc2 after it
    doctor = Doctor()
    [alert] = doctor.examine(examination(stats))
    assert (alert.kind, alert.layer, alert.pause) == ("nan", "relu1", True)
    assert doctor.examine(examination(stats)) == []  # still there: not told again


def test_dead_units_wait_for_a_full_window():
    stats = healthy()
    stats[0, STAT_INDEX["dead"], 1] = 0.9
    assert Doctor().examine(examination(stats, filled=DEAD_WINDOW - 1)) == []
    [alert] = Doctor().examine(examination(stats, filled=DEAD_WINDOW))
    assert (alert.kind, alert.layer) == ("dead", "relu1")


def test_a_healthy_examination_raises_nothing():
    assert Doctor().examine(examination(healthy(40), filled=DEAD_WINDOW)) == []


@pytest.mark.parametrize("rows", [1, 2, 3, 8, 31, 32])
def test_the_doctors_medians_are_numpys(rows):
    """The doctor's sorting median (its hot path) against numpy's, with NaN-free,
    partly NaN and all-NaN columns, odd and even counts."""
    from netexplorer.core.inspection.doctor import _nanmedian

    values = np.random.default_rng(rows).normal(size=(rows, 5)) * 10.0 ** np.arange(5)
    values[0, 1] = np.nan
    values[:, 2] = np.nan
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanmedian(values, axis=0)
    np.testing.assert_array_equal(_nanmedian(values, axis=0), expected)
    np.testing.assert_array_equal(_nanmedian(values.T, axis=1), expected)
    for column in range(5):
        np.testing.assert_array_equal(_nanmedian(values[:, column]), expected[column])
