"""Runs: a run's history as the GUI draws it (history.py), and the run store that
keeps every run on disk (store.py: SQLite index and metrics, checkpoints and
TensorBoard event files beside them; recorder.py records a training run into it).

The names below are loaded on first use (PEP 562), so that importing a light
module of this package (folders.py, before the window's first paint) costs no
numpy, SQLite or inspection records. Importing this package does not import
torch; the recorder (which needs the Trainer) is imported from
netexplorer.core.runs.recorder.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netexplorer.core.runs.folders import default_runs_dir, resolve_runs_dir
    from netexplorer.core.runs.history import GrowableArray, RunHistory, run_from_checkpoint
    from netexplorer.core.runs.store import (
        COMPLETED,
        DIVERGED,
        FAILED,
        INTERRUPTED,
        RUNNING,
        STOPPED,
        RunStore,
        RunSummary,
        RunWriter,
    )

_HOMES = {
    "default_runs_dir": "folders", "resolve_runs_dir": "folders",
    "GrowableArray": "history", "RunHistory": "history", "run_from_checkpoint": "history",
    **{name: "store" for name in ("COMPLETED", "DIVERGED", "FAILED", "INTERRUPTED", "RUNNING",
                                  "STOPPED", "RunStore", "RunSummary", "RunWriter")},
}

__all__ = ["COMPLETED", "DIVERGED", "FAILED", "INTERRUPTED", "RUNNING", "STOPPED",
           "GrowableArray", "RunHistory", "RunStore", "RunSummary", "RunWriter",
           "default_runs_dir", "resolve_runs_dir", "run_from_checkpoint"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
