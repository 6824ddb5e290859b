"""`netexplorer runs`: the stored runs as a table, and the store as the other commands
open it. Imports no torch, so the table comes at once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from netexplorer.core.runs.folders import resolve_runs_dir
from netexplorer.core.runs.store import RunStore, RunSummary

HEADERS = ("id", "name", "model", "dataset", "epochs", "test acc", "status", "parent")
NAME_WIDTH = 24  # longer names are cut with an ellipsis; `runs` is for reading


def open_store(folder: str | Path | None, err: TextIO | None = None) -> RunStore:
    """The runs folder's store; what it says about the folder (a damaged database
    kept beside the one in use) is a warning line on stderr."""
    store = RunStore(folder)
    if store.notice:
        print(f"warning: {store.notice}", file=err or sys.stderr)
    return store


def list_runs(args: argparse.Namespace, out: TextIO | None = None,
              err: TextIO | None = None) -> int:
    out = out or sys.stdout
    folder = resolve_runs_dir(args.runs_dir)
    if not folder.is_dir():  # not made by reading it
        print(f"No runs in {folder} yet: `netexplorer train` records one.", file=out)
        return 0
    with open_store(folder, err) as store:
        runs = store.list_runs()
    if not runs:
        print(f"No runs in {folder} yet: `netexplorer train` records one.", file=out)
        return 0
    print(f"{len(runs)} run{'s' if len(runs) != 1 else ''} in {folder} (newest first):",
          file=out)
    print(format_runs_table(runs), file=out)
    return 0


def format_runs_table(runs: list[RunSummary]) -> str:
    rows = [_row(run) for run in runs]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
    right = {HEADERS.index("epochs"), HEADERS.index("test acc")}

    def line(cells: tuple[str, ...] | list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(HEADERS), line(["─" * w for w in widths])] + [line(r) for r in rows])


def _row(run: RunSummary) -> list[str]:
    name = "–" if run.name == run.id else run.name
    if len(name) > NAME_WIDTH:
        name = name[:NAME_WIDTH - 1] + "…"
    accuracy = "–" if run.test_accuracy is None else f"{100 * run.test_accuracy:.2f} %"
    return [run.id, name, run.model, run.dataset, str(run.epochs), accuracy, run.status,
            run.parent or "–"]
