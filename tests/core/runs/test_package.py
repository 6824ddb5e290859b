"""core.runs loads its names on first use (PEP 562): each one must still arrive."""

from __future__ import annotations

import subprocess
import sys

import pytest

from netexplorer.core import runs
from netexplorer.core.runs import folders, history, store


def test_every_exported_name_is_the_one_its_module_defines():
    homes = {"folders": folders, "history": history, "store": store}
    assert sorted(runs.__all__) == sorted(runs._HOMES)
    for name in runs.__all__:
        assert getattr(runs, name) is getattr(homes[runs._HOMES[name]], name)
    assert set(runs.__all__) <= set(dir(runs))


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nonesuch'"):
        runs.Nonesuch  # noqa: B018


def test_the_runs_folder_is_found_without_numpy_or_sqlite():
    """The window asks for its runs folder before its first paint."""
    code = ("import sys\nfrom netexplorer.core.runs.folders import resolve_runs_dir\n"
            "resolve_runs_dir(None)\nprint('numpy' in sys.modules, 'sqlite3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.split() == ["False", "False"]
