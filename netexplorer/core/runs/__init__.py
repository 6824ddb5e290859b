"""Runs: a run's history as the GUI draws it (history.py), and the run store that
keeps every run on disk (store.py: SQLite index and metrics, checkpoints and
TensorBoard event files beside them; recorder.py records a training run into it).

Importing this package does not import torch; the recorder (which needs the
Trainer) is imported from netexplorer.core.runs.recorder.
"""

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
    default_runs_dir,
    resolve_runs_dir,
)

__all__ = ["COMPLETED", "DIVERGED", "FAILED", "INTERRUPTED", "RUNNING", "STOPPED",
           "GrowableArray", "RunHistory", "RunStore", "RunSummary", "RunWriter",
           "default_runs_dir", "resolve_runs_dir", "run_from_checkpoint"]
