"""Suite-wide settings: headless Qt, no network, a private data folder."""

from __future__ import annotations

import os

# Before anything imports Qt: no display in CI.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path_factory, monkeypatch):
    """Keep tests away from the user's data folder and settings."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("NETEXPLORER_DATA", str(home / "datasets"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
