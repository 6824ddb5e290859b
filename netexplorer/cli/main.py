"""Command line: the GUI by default, and the same core headless.

Every command ends with one clear line and a non-zero exit on bad input — a
SpecError, DatasetError or a bad argument never reaches the user as a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from netexplorer import __version__

EXIT_USAGE = 2
EXIT_FAILED = 1


class CommandError(Exception):
    """A failure the user can fix, reported as one line."""


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--model", metavar="NAME", help="a preset (default: lenet)")
    group.add_argument("--spec", metavar="FILE.json", type=Path, help="a model spec file")


def _add_runs_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", type=Path, metavar="DIR",
                        help="the runs folder (default: $NETEXPLORER_RUNS or "
                             "~/.local/share/netexplorer/runs)")


def given_spec_argument(args: argparse.Namespace):
    """The ModelSpec named by --model or --spec, None when neither is given."""
    if getattr(args, "spec", None) is None and getattr(args, "model", None) is None:
        return None
    return load_spec_argument(args)


def load_spec_argument(args: argparse.Namespace):
    """The ModelSpec named by --model or --spec (lenet when neither is given)."""
    from netexplorer.core.presets import DEFAULT_PRESET, get_preset
    from netexplorer.core.specs import read_spec_file

    if getattr(args, "spec", None) is not None:
        try:
            return read_spec_file(args.spec)
        except OSError as exc:
            raise CommandError(f"cannot read {args.spec}: {exc.strerror or exc}") from None
    return get_preset(args.model or DEFAULT_PRESET)


def cmd_summary(args: argparse.Namespace) -> int:
    from netexplorer.core.specs import format_summary, summarize

    print(format_summary(summarize(load_spec_argument(args))))
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from netexplorer.core.formatting import format_shape
    from netexplorer.core.presets import list_presets
    from netexplorer.core.specs import summarize

    for preset in list_presets():
        summary = summarize(preset.spec)
        print(f"{preset.name:<14} {format_shape(preset.spec.input_shape):>8}  "
              f"{summary.total_params:>9,} params  {preset.description}")
    return 0


def _add_data_arguments(parser: argparse.ArgumentParser, default: str | None = "digits") -> None:
    parser.add_argument("--dataset", default=default, metavar="NAME",
                        help="digits (bundled), mnist, fashion-mnist, cifar10 or folder:PATH"
                             + (f" (default: {default})" if default else ""))
    parser.add_argument("--data-root", type=Path, metavar="DIR",
                        help="folder holding torchvision datasets (default: $NETEXPLORER_DATA "
                             "or ~/.local/share/netexplorer/datasets)")
    parser.add_argument("--download", action="store_true",
                        help="download a torchvision dataset if it is missing")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N "
                                                         "(default: auto)")


def _add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """What `evaluate` and `explain` read: a checkpoint or a stored run, the data,
    the split."""
    _add_checkpoint_source_arguments(parser)
    _add_data_arguments(parser, default=None)
    parser.add_argument("--split", choices=("test", "train"), default="test")


def _add_checkpoint_source_arguments(parser: argparse.ArgumentParser) -> None:
    """What names a model's weights (cli.run.open_source reads it): a checkpoint file,
    a plain state_dict with --model/--spec, or a stored run."""
    parser.add_argument("checkpoint", metavar="CKPT|RUN",
                        help="a checkpoint file, a plain state_dict file (with --model or "
                             "--spec), or a stored run: its id, the start of its id, or its "
                             "name")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--model", metavar="NAME",
                       help="the preset whose layers a plain state_dict's weights fit")
    group.add_argument("--spec", metavar="FILE.json", type=Path,
                       help="the model spec whose layers a plain state_dict's weights fit")
    _add_runs_dir_argument(parser)
    parser.add_argument("--best", action="store_true",
                        help="of a stored run, its best epoch's weights (best.ckpt) rather "
                             "than its last")


# The training settings `train` takes, as TrainConfig names them. Each is left out of
# the parsed arguments when not given (argparse.SUPPRESS), so that a resumed run keeps
# its own and a new run takes TrainConfig's defaults.
TRAIN_SETTINGS = ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay",
                  "schedule", "loss", "augment_shift", "seed", "report_every")


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from netexplorer.core.train_config import LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig

    d = TrainConfig()
    unset = argparse.SUPPRESS
    resumed = "; a resumed run keeps its own unless given"
    parser.add_argument("--epochs", type=int, default=unset,
                        help=f"total epochs of the run, counting resumed ones (default: "
                             f"{d.epochs}; a resumed run, its own planned total)")
    parser.add_argument("--batch-size", type=int, default=unset,
                        help=f"default: {d.batch_size}{resumed}")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=unset,
                        help=f"default: {d.optimizer}{resumed}")
    parser.add_argument("--lr", type=float, default=unset,
                        help=f"learning rate (default: {d.lr}{resumed})")
    parser.add_argument("--momentum", type=float, default=unset,
                        help=f"for sgd, nesterov and rmsprop (default: {d.momentum})")
    parser.add_argument("--weight-decay", type=float, default=unset,
                        help=f"default: {d.weight_decay}")
    parser.add_argument("--schedule", choices=SCHEDULES, default=unset,
                        help=f"learning-rate schedule (default: {d.schedule})")
    parser.add_argument("--loss", choices=LOSSES, default=unset, help=f"default: {d.loss}")
    parser.add_argument("--augment-shift", type=int, default=unset, metavar="PIXELS",
                        help=f"random translation of training images, 0 for none (default: "
                             f"{d.augment_shift})")
    parser.add_argument("--seed", type=int, default=unset, help=f"default: {d.seed}")
    parser.add_argument("--report-every", type=int, default=unset, metavar="STEPS",
                        help=f"print the running loss every STEPS batches "
                             f"(default: {d.report_every})")


def _config_from(args: argparse.Namespace, base=None):
    """The run's TrainConfig: the settings given on the command line over `base` (a
    resumed run's own), else over TrainConfig's defaults; the device always as given."""
    from netexplorer.core.train_config import TrainConfig

    given = {name: getattr(args, name) for name in TRAIN_SETTINGS if hasattr(args, name)}
    config = (base or TrainConfig()).replace(**given, device=args.device)
    config.validate()
    return config


def cmd_train(args: argparse.Namespace) -> int:
    from netexplorer.cli.run import run_training
    from netexplorer.core.devices import apply_cpu_policy

    apply_cpu_policy(interactive=False)
    if not (math.isfinite(args.checkpoint_every) and args.checkpoint_every >= 0):
        raise CommandError(f"--checkpoint-every is a number of seconds from 0, not "
                           f"{args.checkpoint_every}")
    if args.probe_every < 0 or not args.collective_timeout > 0:
        raise CommandError("--probe-every is a number of steps from 0 (0: off) and "
                           "--collective-timeout a number of seconds above 0")
    return run_training(args, lambda base: _config_from(args, base), load_spec_argument)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from netexplorer.cli.run import run_evaluation
    from netexplorer.core.devices import apply_cpu_policy

    apply_cpu_policy(interactive=False)
    return run_evaluation(args, spec=given_spec_argument(args))


def cmd_explain(args: argparse.Namespace) -> int:
    from netexplorer.cli.explain import run_explanation
    from netexplorer.core.devices import apply_cpu_policy

    apply_cpu_policy(interactive=False)
    return run_explanation(args, spec=given_spec_argument(args))


def cmd_export(args: argparse.Namespace) -> int:
    from netexplorer.cli.export import run_export

    return run_export(args, spec=given_spec_argument(args))


def cmd_runs(args: argparse.Namespace) -> int:
    from netexplorer.cli.runs import list_runs  # no torch: the table comes at once

    return list_runs(args)


def cmd_inspect(args: argparse.Namespace) -> int:
    from netexplorer.cli.run import run_inspection
    from netexplorer.core.devices import apply_cpu_policy

    apply_cpu_policy(interactive=False)
    if args.steps < 1 or args.batch_size < 1 or args.every < 1:
        raise CommandError("--steps, --batch-size and --every must be at least 1")
    return run_inspection(args, load_spec_argument(args))


def cmd_gui(args: argparse.Namespace) -> int:
    from netexplorer.ui.app import main as gui_main

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

    train = commands.add_parser("train", help="train a model headless, printing the "
                                              "tutorial's running loss")
    _add_model_arguments(train)
    _add_data_arguments(train)
    _add_train_arguments(train)
    train.add_argument("--save", type=Path, metavar="CKPT", help="write a checkpoint at the end "
                                                                  "(and when stopped)")
    train.add_argument("--resume", metavar="CKPT|RUN",
                       help="continue the run saved in CKPT, or a stored run (its id, the start "
                            "of its id, or its name: its last.ckpt) as a new run whose parent "
                            "it is; its model, and its dataset unless --dataset is given")
    train.add_argument("--metrics-json", type=Path, metavar="FILE",
                       help="write accuracy, per-class accuracy, confusion matrix, epochs and "
                            "speed as JSON")
    _add_runs_dir_argument(train)
    train.add_argument("--no-store", action="store_true",
                       help="do not record the run in the runs folder")
    train.add_argument("--name", metavar="NAME", help="the run's name in the runs folder "
                                                      "(default: its id)")
    train.add_argument("--checkpoint-every", type=float, default=10.0, metavar="SECONDS",
                       help="seconds of training between writes of the run's last.ckpt and "
                            "best.ckpt, after the first epoch's and before the end's "
                            "(default: 10)")
    train.add_argument("--probe-every", type=int, default=0, metavar="STEPS",
                       help="measure every layer at every STEPS-th step and record it with "
                            "the run (the Inspector of the run, followed or opened later, "
                            "shows it); under torchrun rank 0's steps (default: off)")
    train.add_argument("--sync-batchnorm", action="store_true",
                       help="under torchrun on CUDA: batch-norm statistics over the whole "
                            "global batch (SyncBatchNorm)")
    train.add_argument("--collective-timeout", type=float, default=120.0, metavar="SECONDS",
                       help="under torchrun: how long a rank waits for the others in a "
                            "collective before the job fails (default: 120)")
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser("evaluate", help="evaluate a checkpoint or a stored run on a "
                                                    "dataset's test split")
    _add_checkpoint_arguments(evaluate)
    evaluate.add_argument("--metrics-json", type=Path, metavar="FILE")
    evaluate.set_defaults(handler=cmd_evaluate)

    explain = commands.add_parser("explain", help="explain one image: its true class, the "
                                                  "prediction, the top 3 classes, and a "
                                                  "saliency picture")
    _add_checkpoint_arguments(explain)
    explain.add_argument("--index", type=int, required=True, metavar="N",
                         help="the image's number in the split (from 0)")
    explain.add_argument("--out", type=Path, metavar="FILE.png",
                         help="where the saliency picture goes (default: "
                              "explain-SPLIT-N.png in the current folder)")
    explain.set_defaults(handler=cmd_explain)

    from netexplorer.core.export import FORMATS  # torch-free

    export = commands.add_parser("export", help="write a checkpoint's or a stored run's model "
                                                "as ONNX, a torch.export program, TorchScript "
                                                "(legacy) or Python, or its metrics as CSV")
    _add_checkpoint_source_arguments(export)
    export.add_argument("--format", choices=tuple(FORMATS), metavar="|".join(FORMATS),
                        help="; ".join(f"{f.name}: {f.title}" for f in FORMATS.values())
                             + " (default: from --out's suffix)")
    export.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="where the file goes (replaced atomically if it exists)")
    export.set_defaults(handler=cmd_export)

    runs = commands.add_parser("runs", help="list the stored runs: id, name, model, dataset, "
                                            "epochs, test accuracy, status, parent")
    _add_runs_dir_argument(runs)
    runs.set_defaults(handler=cmd_runs)

    inspect = commands.add_parser("inspect", help="train a few steps with hooks on every layer "
                                                  "and print what each layer does")
    _add_model_arguments(inspect)
    _add_data_arguments(inspect)
    inspect.add_argument("--steps", type=int, default=5, help="training steps (default: 5)")
    inspect.add_argument("--batch-size", type=int, default=1,
                         help="images per step; 1 prints the tutorial's shapes (default: 1)")
    inspect.add_argument("--every", type=int, default=1, metavar="N",
                         help="sample every N steps (default: 1)")
    inspect.add_argument("--lr", type=float, default=0.05, help="learning rate (default: 0.05)")
    inspect.add_argument("--seed", type=int, default=0)
    inspect.set_defaults(handler=cmd_inspect)

    from netexplorer.cli.autograd import add_commands as add_autograd_commands

    add_autograd_commands(commands, _add_model_arguments)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from netexplorer.core.errors import (
        CheckpointError,
        DatasetError,
        DatasetUnavailable,
        DeviceError,
        StoreError,
        TrainingError,
        first_line,
    )
    from netexplorer.core.specs import SpecError

    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (SpecError, DatasetError, DeviceError, TrainingError, CheckpointError,
            StoreError, CommandError) as exc:
        remedy = (" On the command line, add --download to fetch it."
                  if isinstance(exc, DatasetUnavailable) and exc.downloadable else "")
        print(f"netexplorer: error: {exc}{remedy}", file=sys.stderr)
        return EXIT_FAILED
    except RuntimeError as exc:  # from torch while running: one line, unless debugging
        if os.environ.get("NETEXPLORER_DEBUG"):
            raise
        print(f"netexplorer: error: {first_line(exc)} (set NETEXPLORER_DEBUG=1 for the "
              "traceback)",
              file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("netexplorer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `netexplorer … | head`: the reader left; say nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
