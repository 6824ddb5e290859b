"""Headless training and evaluation for the CLI: the Trainer's reports printed the
way the tutorial prints them, a progress line on a terminal, metrics as JSON."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import torch

from netexplorer.core.checkpoints import load_checkpoint, save_checkpoint
from netexplorer.core.data import Dataset, load_dataset, require_images, skipped_summary
from netexplorer.core.devices import describe
from netexplorer.core.evaluation import EvalReport, evaluate
from netexplorer.core.formatting import format_shape
from netexplorer.core.trainers import new_trainer, resume_trainer
from netexplorer.core.training import (
    EpochReport,
    FinishedReport,
    PausedReport,
    StepReport,
    TrainConfig,
    Trainer,
)


class ProgressLine:
    """One self-overwriting status line on a terminal; silent when not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self._width = 0

    def show(self, text: str) -> None:
        if self.enabled:
            self.stream.write("\r" + text.ljust(self._width))
            self.stream.flush()
            self._width = len(text)

    def clear(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def progress_text(report: StepReport, total_steps: int, run_steps: int, run_seconds: float
                  ) -> str:
    done = report.step
    fraction = min(done / max(total_steps, 1), 1.0)
    bar = "#" * int(fraction * 24)
    rate = run_steps / run_seconds if run_seconds > 0 else 0.0
    eta = (total_steps - done) / rate if rate > 0 else float("nan")
    return (f"epoch {report.epoch} [{bar:<24}] {100 * fraction:5.1f}%  "
            f"{report.images_per_second:,.0f} img/s  ETA {format_seconds(eta)}")


def format_seconds(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "--:--"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _load_data(args: argparse.Namespace, name: str, input_shape, normalization=None,
               err: TextIO | None = None) -> Dataset:
    """The dataset, with a warning on stderr if files of it were left out."""
    dataset = load_dataset(name, root=args.data_root, input_shape=input_shape,
                           download=args.download, normalization=normalization)
    summary = skipped_summary(dataset)
    if summary is not None:
        print(f"warning: {summary}", file=err or sys.stderr)
    return dataset


def run_training(args: argparse.Namespace, config: TrainConfig,
                 load_spec: Callable[[argparse.Namespace], Any],
                 out: TextIO | None = None, err: TextIO | None = None) -> int:
    # The streams are looked up now, not when this module was imported, so that
    # redirect_stdout and pytest's capsys see the output.
    out, err = out or sys.stdout, err or sys.stderr
    if args.resume is not None:
        checkpoint = load_checkpoint(args.resume)
        dataset_name = args.dataset if args.dataset != "digits" or not checkpoint.dataset_name \
            else checkpoint.dataset_name
        dataset = _load_data(args, dataset_name, checkpoint.spec.input_shape,
                             checkpoint.normalization, err)
        _require_both_splits(dataset)
        trainer = resume_trainer(checkpoint, dataset, config)
        print(f"Resuming {checkpoint.spec.name} from epoch {checkpoint.epochs_done} "
              f"({args.resume})", file=out)
    else:
        spec = load_spec(args)
        dataset = _load_data(args, args.dataset, spec.input_shape, err=err)
        _require_both_splits(dataset)
        trainer = new_trainer(spec, dataset, config)
    print(f"Training {trainer.spec.name if trainer.spec else 'model'} on {dataset.name} "
          f"({len(dataset.train):,} train / {len(dataset.test):,} test images) on "
          f"{describe(trainer.device)}", file=out)
    finished = _drive(trainer, out, err)
    if finished.status == "diverged":
        print(f"Diverged: {finished.message}", file=out)
    elif finished.status == "stopped":
        print(f"Stopped after {finished.step} steps.", file=out)
    # What is printed and written is what is saved: after a divergence mid-epoch the
    # model holds the last finite step's weights, not the last epoch's.
    report = trainer.evaluation_of_current_weights()
    _print_evaluation(report, out)
    if args.save is not None:
        path = save_checkpoint(args.save, trainer)
        print(f"Saved checkpoint to {path}", file=out)
    if args.metrics_json is not None:
        _write_metrics(args.metrics_json, report, trainer)
    return 0 if finished.status != "diverged" else 1


def _require_both_splits(dataset: Dataset) -> None:
    """Training needs images to learn from and images to measure the result on."""
    require_images(dataset, "train")
    require_images(dataset, "test")


def _drive(trainer: Trainer, out: TextIO, err: TextIO) -> FinishedReport:
    """Run the generator, printing tutorial lines; Ctrl-C stops gracefully (twice: abort)."""
    progress = ProgressLine(err)
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum, frame):
        trainer.control.stop()
        signal.signal(signal.SIGINT, previous)  # a second Ctrl-C aborts

    in_main_thread = _in_main_thread()
    if in_main_thread:
        signal.signal(signal.SIGINT, on_interrupt)
    started = time.perf_counter()
    first_step = trainer.position.step
    finished = None
    try:
        for report in trainer.steps():
            if isinstance(report, StepReport):
                progress.clear()
                print(f"[{report.epoch}, {report.batch:5d}] loss: {report.running_loss:.3f}",
                      file=out)
                progress.show(progress_text(report, trainer.total_steps,
                                            report.step - first_step,
                                            time.perf_counter() - started))
            elif isinstance(report, EpochReport):
                progress.clear()
                print(f"epoch {report.epoch}: train loss {report.train_loss:.4f}, "
                      f"test loss {report.test_loss:.4f}, test accuracy "
                      f"{100 * report.test_accuracy:.2f} %  ({report.epoch_seconds:.1f} s, "
                      f"{report.images_per_second:,.0f} img/s)", file=out)
            elif isinstance(report, PausedReport):  # nothing pauses a headless run but a probe
                trainer.control.resume()
            elif isinstance(report, FinishedReport):
                finished = report
    finally:
        progress.clear()
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)
    assert finished is not None
    return finished


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _print_evaluation(report: EvalReport, out: TextIO) -> None:
    print(f"Accuracy of the network on the {report.count:,} test images: "
          f"{100 * report.accuracy:.2f} %  (loss {report.loss:.4f})", file=out)
    for line in report.per_class_lines():
        print(line, file=out)
    print("Confusion matrix (rows: true class):", file=out)
    for line in report.confusion_lines():
        print(line, file=out)


def metrics(report: EvalReport, trainer: Trainer | None = None) -> dict[str, Any]:
    """The --metrics-json document."""
    data: dict[str, Any] = {
        "test_accuracy": _number(report.accuracy),
        "test_loss": _number(report.loss),
        "per_class_accuracy": {c: (None if a != a else float(a))
                               for c, a in zip(report.classes, report.per_class_accuracy)},
        "confusion_matrix": report.confusion.tolist(),
    }
    if trainer is not None:
        epochs = trainer.history["epochs"]
        images = sum(e["images_per_second"] * e["epoch_seconds"] for e in epochs)
        seconds = trainer.elapsed
        data.update({
            "epochs": [{k: _number(e[k]) for k in ("epoch", "train_loss", "test_loss",
                                                   "test_accuracy")}
                       for e in epochs],
            "images_per_second": images / seconds if seconds > 0 else 0.0,
            "train_seconds": seconds,
            "device": str(trainer.device),
            "threads": torch.get_num_threads(),
        })
    return data


def _number(value: Any) -> Any:
    """JSON has no NaN or infinity (json.dumps writes tokens other readers refuse):
    a figure that is not finite (the loss of diverged weights) is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_metrics(path: Path, report: EvalReport, trainer: Trainer | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics(report, trainer), indent=2), encoding="utf-8")


def run_evaluation(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    from netexplorer.core.devices import resolve_device

    checkpoint = load_checkpoint(args.checkpoint)
    name = args.dataset or checkpoint.dataset_name or "digits"
    dataset = _load_data(args, name, checkpoint.spec.input_shape, checkpoint.normalization)
    split = require_images(dataset, args.split)
    if checkpoint.classes and tuple(checkpoint.classes) != tuple(dataset.classes):
        print(f"warning: the checkpoint was trained on {checkpoint.dataset_name}, whose classes "
              f"differ from {dataset.name}'s", file=sys.stderr)
    device = resolve_device(args.device)
    model = checkpoint.build_model().to(device)
    loss = checkpoint.config.loss if checkpoint.config else "cross-entropy"
    report = evaluate(model, split, loss=loss, classes=dataset.classes, device=device)
    print(f"{checkpoint.spec.name} on {dataset.name} ({args.split} split), {describe(device)}",
          file=out)
    _print_evaluation(report, out)
    if not math.isfinite(report.loss):
        print(f"warning: the loss is {report.loss}: the model's outputs overflow on these "
              f"images, as after a training run that diverged", file=sys.stderr)
    if args.metrics_json is not None:
        _write_metrics(args.metrics_json, report, None)
    return 0


def run_inspection(args: argparse.Namespace, spec, out: TextIO | None = None) -> int:
    """The tutorial's hook printout for every layer after a few training steps,
    with the probe's further statistics and the doctor's alerts."""
    out = out or sys.stdout  # looked up now (not at import), as in run_training
    dataset = _load_data(args, args.dataset, spec.input_shape)
    require_images(dataset, "train")
    config = TrainConfig(batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         device=args.device, report_every=1, schedule="none",
                         epochs=max(1, -(-args.steps * args.batch_size // len(dataset.train))))
    config.validate()
    from netexplorer.core.inspection.probe import Probe

    trainer = new_trainer(spec, dataset, config, probe_every=args.every)
    # new_trainer attached a Probe: cmd_inspect checked that --every is at least 1.
    assert isinstance(trainer.probe, Probe)
    alerts = []
    with trainer.probe as probe:  # its hooks are removed when the run is over
        for report in trainer.steps():
            if isinstance(report, StepReport):
                alerts.extend(report.probe.alerts)
                if report.step >= args.steps:
                    trainer.control.stop()
            elif isinstance(report, PausedReport):
                trainer.control.stop()  # a non-finite value: show what we have
    print(f"{spec.name} on {dataset.name}: {trainer.position.step} training step(s) of "
          f"{config.batch_size} image(s), lr {config.lr}, {describe(trainer.device)}", file=out)
    print(format_probe_table(probe), file=out)
    if alerts:
        print("Alerts:", file=out)
        for alert in alerts:
            print(f"  {alert}", file=out)
    else:
        print("No alerts: every layer looks healthy.", file=out)
    return 0


def format_probe_table(probe) -> str:
    """One row per layer from the probe's last sampled step."""
    from netexplorer.core.formatting import engineering, percent
    from netexplorer.core.inspection import STATS

    steps, values = probe.history_buffer.ordered()
    last = values[-1] if len(values) else None
    headers = ("layer", "kind", "input size", "output size", "output norm", "grad norm",
               "mean", "std", "zeros", "dead", "weight norm", "weight grad", "update")
    columns = ("act_norm", "grad_norm", "act_mean", "act_std", "act_zeros", "dead",
               "weight_norm", "weight_grad_norm", "update_ratio")
    rows = []
    for info in probe.layers:
        cells = [info.name, info.kind, format_shape(info.input_shape),
                 format_shape(info.output_shape)]
        for stat in columns:
            value = float(last[STATS.index(stat), info.index]) if last is not None else None
            cells.append(percent(value) if stat in ("act_zeros", "dead") else engineering(value))
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) if i < 4 else h.rjust(w)
                       for i, (h, w) in enumerate(zip(headers, widths)))]
    lines.append("─" * len(lines[0]))
    for r in rows:
        lines.append("  ".join(c.ljust(w) if i < 4 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)
