"""Layer inspection: what every layer does while a model trains, and a training
doctor that names the layer going wrong.

- stats.py — the statistics' names and the torch-free records that cross threads
  (LayerInfo, Alert, ProbeReport, Snapshot);
- history.py — the ring buffers that hold a run's statistics;
- probe.py — the Probe that measures layers on sampled steps (needs torch);
- doctor.py — the Doctor that reads the statistics and raises Alerts;
- feature_maps.py — one batch's feature maps and filters (needs torch).

Importing this package does not import torch: the Probe and take_snapshot are
loaded on first use, so the GUI can use the records before torch has loaded.
"""

from __future__ import annotations

from typing import Any

from netexplorer.core.inspection.doctor import (
    DEAD_THRESHOLD,
    DEAD_WINDOW,
    EXPLODING_FACTOR,
    MIN_HISTORY,
    RECENT,
    UPDATE_RATIO_HIGH,
    UPDATE_RATIO_LOW,
    VANISHING_RATIO,
    Doctor,
    Examination,
)
from netexplorer.core.inspection.history import RingBuffer
from netexplorer.core.inspection.stats import (
    MEASURED,
    NONFINITE_KINDS,
    STAT_INDEX,
    STAT_LABELS,
    STATS,
    Alert,
    LayerInfo,
    ProbeReport,
    Snapshot,
)

_NEED_TORCH = {"Probe": "probe", "probe_layers": "probe", "ACTIVATION_SAMPLE": "probe",
               "GRAD_CAPTURE_BYTES": "probe", "take_snapshot": "feature_maps"}

__all__ = ["DEAD_THRESHOLD", "DEAD_WINDOW", "EXPLODING_FACTOR", "MIN_HISTORY", "RECENT",
           "UPDATE_RATIO_HIGH", "UPDATE_RATIO_LOW", "VANISHING_RATIO", "Doctor", "Examination",
           "RingBuffer", "MEASURED", "NONFINITE_KINDS", "STAT_INDEX", "STAT_LABELS", "STATS",
           "Alert", "LayerInfo", "ProbeReport", "Snapshot", *_NEED_TORCH]


def __getattr__(name: str) -> Any:
    """The torch-backed names, imported when first asked for (PEP 562)."""
    if name in _NEED_TORCH:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_NEED_TORCH[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
