"""Runs: a training run's history as the GUI keeps and draws it (history.py)."""

from netexplorer.core.runs.history import GrowableArray, RunHistory, run_from_checkpoint

__all__ = ["GrowableArray", "RunHistory", "run_from_checkpoint"]
