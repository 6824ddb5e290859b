"""`netexplorer export CKPT --format onnx|pt2|torchscript|python|csv --out FILE`: a
checkpoint's model as a file other tools open, or its run's metrics as CSV.

CKPT is read as `evaluate` reads it (cli.run.open_source): a checkpoint file, a
plain state_dict with --model/--spec, or a stored run by id, id prefix or name.
The writing is core.export's and core.graph_export's, as in the Export menu.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from netexplorer.cli.main import CommandError
from netexplorer.cli.run import open_source
from netexplorer.core.checkpoints import Checkpoint
from netexplorer.core.export import FORMATS, ExportError, ExportFormat, ModelCard
from netexplorer.core.specs import format_bytes


def format_for(name: str | None, out: Path) -> ExportFormat:
    """The format asked for, else the one --out's suffix names."""
    if name is not None:
        return FORMATS[name]
    by_suffix = {f.suffix: f for f in FORMATS.values()}
    found = by_suffix.get(out.suffix.lower())
    if found is None:
        raise CommandError(f"cannot tell the format from {out.name!r}: give --format "
                           f"{'|'.join(FORMATS)}")
    return found


def _writers() -> dict[str, Callable[[Checkpoint, Path], Path]]:
    from netexplorer.core import export, graph_export

    return {
        "onnx": lambda c, path: graph_export.save_onnx(c.build_model(), path,
                                                       ModelCard.of_checkpoint(c)),
        "pt2": lambda c, path: graph_export.save_exported_program(c.build_model(), path,
                                                                  ModelCard.of_checkpoint(c)),
        "torchscript": lambda c, path: export.save_torchscript(c.build_model(), path,
                                                               ModelCard.of_checkpoint(c)),
        "python": lambda c, path: export.write_python(path, c.spec),
        "csv": lambda c, path: export.write_text(path, _metrics_csv(c)),
    }


def _metrics_csv(checkpoint: Checkpoint) -> str:
    from netexplorer.core.runs.history import run_from_checkpoint

    if not checkpoint.history["step_losses"]:
        raise CommandError("the checkpoint holds no training history (weights only): there "
                           "are no metrics to write")
    return run_from_checkpoint(1, checkpoint).to_csv()


def run_export(args: argparse.Namespace, spec=None, out: TextIO | None = None,
               err: TextIO | None = None) -> int:
    out = out or sys.stdout  # looked up now, so that redirect_stdout sees it
    err = err or sys.stderr
    fmt = format_for(args.format, args.out)
    source = open_source(args.checkpoint, getattr(args, "runs_dir", None), spec=spec,
                         which="best" if getattr(args, "best", False) else "last", err=err)
    if fmt.legacy:
        print(f"note: {fmt.title.split(' (')[0]} is legacy, deprecated in PyTorch; "
              f"--format pt2 writes its successor, a torch.export program", file=err)
    try:
        written = _writers()[fmt.name](source.checkpoint, args.out)
    except ExportError as exc:
        raise CommandError(str(exc)) from None
    detail = ""
    if fmt.name == "onnx":
        from netexplorer.core.graph_export import ONNX_OPSET

        detail = f" at opset {ONNX_OPSET}"
    print(f"Exported {source.checkpoint.spec.name} ({source.describe(args.checkpoint)}) as "
          f"{fmt.title}{detail} to {written} ({format_bytes(written.stat().st_size)})",
          file=out)
    return 0
