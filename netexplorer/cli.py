"""Command line: the GUI by default, and the same core headless.

Every command ends with one clear line and a non-zero exit on bad input — a
SpecError, DatasetError or a bad argument never reaches the user as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from netexplorer import __version__

EXIT_USAGE = 2
EXIT_FAILED = 1


class CommandError(Exception):
    """A failure the user can fix, reported as one line."""


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--model", metavar="NAME", help="a preset (default: lenet)")
    group.add_argument("--spec", metavar="FILE.json", type=Path, help="a model spec file")


def load_spec_argument(args: argparse.Namespace):
    """The ModelSpec named by --model or --spec (lenet when neither is given)."""
    from netexplorer.core.presets import DEFAULT_PRESET, get_preset
    from netexplorer.core.specs import ModelSpec

    if getattr(args, "spec", None) is not None:
        try:
            text = args.spec.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {args.spec}: {exc.strerror or exc}") from None
        return ModelSpec.from_json(text)
    return get_preset(args.model or DEFAULT_PRESET)


def cmd_summary(args: argparse.Namespace) -> int:
    from netexplorer.core.specs import format_summary, summarize

    print(format_summary(summarize(load_spec_argument(args))))
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from netexplorer.core.presets import list_presets
    from netexplorer.core.specs import format_shape, summarize

    for preset in list_presets():
        summary = summarize(preset.spec)
        print(f"{preset.name:<14} {format_shape(preset.spec.input_shape):>8}  "
              f"{summary.total_params:>9,} params  {preset.description}")
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    try:
        from netexplorer.ui.app import main as gui_main
    except ImportError:
        print("The desktop window is not built yet; try `netexplorer summary --model lenet`.")
        return 0
    return gui_main()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netexplorer",
        description="Build, train and visually debug small PyTorch networks. "
                    "Without a command, opens the desktop app.")
    parser.add_argument("--version", action="version", version=f"netexplorer {__version__}")
    parser.set_defaults(handler=cmd_gui)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    summary = commands.add_parser("summary", help="print a model's layers, shapes, params, "
                                                  "mult-adds")
    _add_model_arguments(summary)
    summary.set_defaults(handler=cmd_summary)

    presets = commands.add_parser("presets", help="list the shipped model presets")
    presets.set_defaults(handler=cmd_presets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from netexplorer.core.errors import DatasetError
    from netexplorer.core.specs import SpecError

    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (SpecError, DatasetError, CommandError) as exc:
        print(f"netexplorer: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("netexplorer: interrupted", file=sys.stderr)
        return 130
