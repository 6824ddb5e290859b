"""Where the runs folder is: its own module, free of numpy and SQLite, because the
window needs the folder's name before its first paint and the store's modules
(numpy, the inspection records) are not needed until the runs are listed."""

from __future__ import annotations

import os
from pathlib import Path

RUNS_ENV = "NETEXPLORER_RUNS"


def default_runs_dir() -> Path:
    """$NETEXPLORER_RUNS, else the per-user data folder's netexplorer/runs."""
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "netexplorer" / "runs"


def resolve_runs_dir(folder: str | os.PathLike | None = None) -> Path:
    """The runs folder to use: the one asked for (--runs-dir, the GUI's setting),
    else the default."""
    return Path(folder).expanduser() if folder else default_runs_dir()
