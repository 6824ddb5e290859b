"""Suite-wide settings: headless Qt, no network, a private data folder."""

from __future__ import annotations

import os

# Before anything imports Qt: no display in CI.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_runs(tmp_path_factory):
    """Runs that module- and session-scoped fixtures train (before any test's own
    folders are set) go to a folder of the session, never the user's runs folder."""
    before = os.environ.get("NETEXPLORER_RUNS")
    os.environ["NETEXPLORER_RUNS"] = str(tmp_path_factory.mktemp("session-runs"))
    yield
    if before is None:
        os.environ.pop("NETEXPLORER_RUNS", None)
    else:
        os.environ["NETEXPLORER_RUNS"] = before


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path_factory, monkeypatch, _private_runs):
    """Keep tests away from the user's data folder and settings; a test's runs go
    to the default folder under its own XDG_DATA_HOME."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("NETEXPLORER_DATA", str(home / "datasets"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.delenv("NETEXPLORER_RUNS", raising=False)
