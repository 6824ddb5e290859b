"""Headless training and evaluation for the CLI: the Trainer's reports printed the
way the tutorial prints them, a progress line on a terminal, metrics as JSON."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import torch

from netexplorer.cli.runs import open_store
from netexplorer.core import distributed
from netexplorer.core.checkpoints import (
    Checkpoint,
    PlainStateDict,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from netexplorer.core.data import Dataset, load_dataset, require_images, skipped_summary
from netexplorer.core.devices import describe
from netexplorer.core.errors import CheckpointError, StoreError, TrainingError, first_line
from netexplorer.core.evaluation import EvalReport, evaluate
from netexplorer.core.formatting import format_shape
from netexplorer.core.inspection.diagnosis import RunFacts, diagnose
from netexplorer.core.reports import probe_of
from netexplorer.core.runs.folders import resolve_runs_dir
from netexplorer.core.runs.recorder import RunRecorder
from netexplorer.core.runs.store import RunStore, RunSummary, fail_abandoned_run
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


def evaluation_progress_text(done: int, total: int, seconds: float) -> str:
    fraction = min(done / max(total, 1), 1.0)
    rate = done / seconds if seconds > 0 else 0.0
    return (f"evaluating [{'#' * int(fraction * 24):<24}] {100 * fraction:5.1f}%  "
            f"{done:,}/{total:,} images  {rate:,.0f} img/s")


def progress_text(report: StepReport, total_steps: int, run_steps: int, run_seconds: float
                  ) -> str:
    done = report.step
    fraction = min(done / max(total_steps, 1), 1.0)
    bar = "#" * int(fraction * 24)
    rate = run_steps / run_seconds if run_seconds > 0 else 0.0
    eta = (total_steps - done) / rate if rate > 0 else float("nan")
    return (f"epoch {report.epoch} [{bar:<24}] {100 * fraction:5.1f}%  "
            f"loss {report.running_loss:.3f}  {report.images_per_second:,.0f} img/s  "
            f"ETA {format_seconds(eta)}")


def format_seconds(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "--:--"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def load_data(args: argparse.Namespace, name: str, input_shape, normalization=None,
              err: TextIO | None = None) -> Dataset:
    """The dataset, with a warning on stderr if files of it were left out."""
    dataset = load_dataset(name, root=args.data_root, input_shape=input_shape,
                           download=args.download, normalization=normalization)
    summary = skipped_summary(dataset)
    if summary is not None:
        print(f"warning: {summary}", file=err or sys.stderr)
    return dataset


@dataclass(frozen=True)
class Source:
    """What `train --resume` or `evaluate` was pointed at: a checkpoint, the file it
    was read from and, for a stored run (or a checkpoint in a run's folder), the run."""

    checkpoint: Checkpoint
    path: Path
    run: RunSummary | None = None

    def describe(self, given: str) -> str:
        if self.run is None or Path(given).expanduser() == self.path:
            return given
        return f"run {self.run.id}, {self.path.name}"


# What a checkpoint path looks like when it names no file: said as a missing file,
# not looked up as a run.
_CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".pth", ".tar", ".bin")


def open_source(text: str, runs_dir: Path | None, *, spec=None, which: str = "last",
                err: TextIO | None = None) -> Source:
    """The checkpoint `text` names: a file (a plain state_dict loads into `spec`),
    else a stored run in `runs_dir` by id, start of id or name (its `which`.ckpt)."""
    err = err or sys.stderr
    path = Path(text).expanduser()
    folder = resolve_runs_dir(runs_dir)
    if path.is_file():
        return Source(_read_file(path, spec, err), path, _run_holding(path, folder))
    if os.sep in text or path.suffix.lower() in _CHECKPOINT_SUFFIXES or path.exists():
        raise CheckpointError(f"there is no checkpoint at {path}")
    if not folder.is_dir():
        raise StoreError(f"there is no checkpoint file or run {text!r}: {folder} holds no "
                         f"runs yet")
    with open_store(folder, err) as store:
        try:
            run = store.find(text)
        except StoreError as exc:
            if "there is no run" not in str(exc):
                raise
            raise StoreError(f"there is no checkpoint file or run {text!r} (runs in {folder}; "
                             f"`netexplorer runs` lists them)") from None
        checkpoint_path = store.checkpoint_path(run.id, which)
    if not checkpoint_path.is_file():
        why = ("no epoch of it has ended yet" if which == "last" else
               "it has no epoch with a test accuracy yet")
        raise StoreError(f"run {run.id} ({run.status}) has no {which}.ckpt: {why}")
    if spec is not None:
        print(f"warning: run {run.id} carries its model '{run.model}'; --model and --spec "
              f"are for a plain state_dict file", file=err)
    return Source(load_checkpoint(checkpoint_path), checkpoint_path, run)


def _read_file(path: Path, spec, err: TextIO) -> Checkpoint:
    try:
        checkpoint = load_checkpoint(path)
    except PlainStateDict:
        if spec is None:
            raise CheckpointError(f"{path.name} is a plain state_dict: weights by name, without "
                                  f"the model they belong to; name it with --model NAME or "
                                  f"--spec FILE") from None
        return load_weights(path, spec)
    if spec is not None:
        print(f"warning: {path.name} is a netexplorer checkpoint of its own model "
              f"'{checkpoint.spec.name}'; --model and --spec are for a plain state_dict",
              file=err)
    return checkpoint


def _run_holding(path: Path, folder: Path) -> RunSummary | None:
    """The stored run whose folder holds the checkpoint file `path`, if any: resuming
    from a run's last.ckpt by its path continues that run as well."""
    try:
        resolved = path.resolve()
        if not folder.is_dir() or resolved.parent.parent != folder.resolve():
            return None
        with RunStore(folder) as store:
            return store.run(resolved.parent.name)
    except (OSError, StoreError):
        return None


def run_training(args: argparse.Namespace,
                 make_config: Callable[[TrainConfig | None], TrainConfig],
                 load_spec: Callable[[argparse.Namespace], Any],
                 out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`train`: a new run, or (--resume) one continuing a checkpoint or a stored run.
    `make_config(base)` gives the run's settings over `base`: None for a new run, the
    checkpoint's own for a resumed one. Started by torchrun, it is one rank of a
    DistributedDataParallel job (core/distributed.py): rank 0 prints and records
    the run, the other ranks say nothing unless they fail."""
    # The streams are looked up now, not when this module was imported, so that
    # redirect_stdout and pytest's capsys see the output.
    out, err = out or sys.stdout, err or sys.stderr
    if not distributed.launched():
        return _train(args, make_config, load_spec, out, err, None)
    cluster = distributed.join(args.device, getattr(args, "collective_timeout",
                                                    distributed.DEFAULT_TIMEOUT_S))
    torch.set_num_threads(distributed.cpu_threads(cluster.local_world_size))
    with distributed.raise_on_sigterm(cluster), contextlib.ExitStack() as quiet:
        if not cluster.leader:
            out = err = quiet.enter_context(open(os.devnull, "w", encoding="utf-8"))
        code = _train(args, make_config, load_spec, out, err, cluster)
    distributed.leave()  # only after a run that ended on every rank: a lost one hangs it
    return code


def _train(args: argparse.Namespace, make_config: Callable[[TrainConfig | None], TrainConfig],
           load_spec: Callable[[argparse.Namespace], Any], out: TextIO, err: TextIO,
           cluster: distributed.Cluster | None) -> int:
    parent: str | None = None
    options: dict[str, Any] = {"probe_every": getattr(args, "probe_every", None) or None,
                               "distributed": cluster,
                               "sync_batchnorm": getattr(args, "sync_batchnorm", False)}
    if args.resume is None:
        config = make_config(None)  # a bad setting is said before anything loads
        spec = load_spec(args)
        dataset = load_data(args, args.dataset, spec.input_shape, err=err)
        _require_both_splits(dataset)
        trainer = new_trainer(spec, dataset, config, **options)
    else:
        given = None
        if getattr(args, "model", None) is not None or getattr(args, "spec", None) is not None:
            given = load_spec(args)  # for a plain state_dict
        source = open_source(args.resume, args.runs_dir, spec=given, err=err)
        checkpoint = source.checkpoint
        parent = source.run.id if source.run is not None else None
        config = make_config(checkpoint.config)
        if config.epochs <= checkpoint.epochs_done:
            raise TrainingError(f"{checkpoint.spec.name} has done {checkpoint.epochs_done} of "
                                f"{config.epochs} epochs: give --epochs N, the total, above "
                                f"{checkpoint.epochs_done}, to train more")
        dataset_name = args.dataset if args.dataset != "digits" or not checkpoint.dataset_name \
            else checkpoint.dataset_name
        dataset = load_data(args, dataset_name, checkpoint.spec.input_shape,
                             checkpoint.normalization, err)
        _require_both_splits(dataset)
        trainer = resume_trainer(checkpoint, dataset, config, **options)
        print(f"Resuming {checkpoint.spec.name} from epoch {checkpoint.epochs_done} "
              f"({source.describe(args.resume)})", file=out)
    print(f"Training {trainer.spec.name if trainer.spec else 'model'} on {dataset.name} "
          f"({len(dataset.train):,} train / {len(dataset.test):,} test images) on "
          f"{describe(trainer.device)}"
          f"{f' × {cluster.world_size} ranks ({cluster.backend})' if cluster else ''}", file=out)
    if cluster is not None and args.sync_batchnorm and not distributed.has_batchnorm(
            trainer.model):
        print("warning: --sync-batchnorm: the model has no batch-norm layer", file=err)
    recorder = None
    if not args.no_store and (cluster is None or cluster.leader):  # one writer per run
        recorder = RunRecorder.start(args.runs_dir, trainer, name=args.name, parent=parent,
                                     checkpoint_every=args.checkpoint_every)
        if recorder.notice:
            print(f"warning: {recorder.notice}", file=err)
        print(f"Run {recorder.run_id}{f' ({args.name})' if args.name else ''}"
              f"{f', continuing run {parent}' if parent else ''}: recorded in "
              f"{recorder.folder}", file=out)
    # Every rank knows where rank 0 records the run, so that one outliving it can mark
    # the run failed (rank 0 killed would otherwise leave it "interrupted").
    recorded = (distributed.broadcast((str(recorder.runs_dir), recorder.run_id)
                                      if recorder is not None else None)
                if cluster is not None else None)
    finished = None
    alerts: list[Any] = []
    try:
        finished = _drive(trainer, out, err, recorder, alerts)
        if finished.status == "diverged":
            print(f"Diverged: {finished.message}", file=out)
        elif finished.status == "stopped":
            print(f"Stopped after {finished.step} steps.", file=out)
        # What is printed and written is what is saved: after a divergence mid-epoch the
        # model holds the last finite step's weights, not the last epoch's.
        report = trainer.evaluation_of_current_weights()
    except BaseException as exc:
        explained = distributed.explain_failure(exc, cluster) if cluster else None
        if cluster is not None:
            distributed.ignore_sigterm()
        if recorder is not None:
            _end_cut_short(recorder, trainer, finished, explained or exc)
        elif recorded is not None and explained is not None:
            runs_dir, run_id = recorded
            _fail_if_abandoned(runs_dir, run_id, explained)
        if explained is not None and explained is not exc:
            raise explained from None
        raise
    if recorder is not None:
        recorder.finish(finished, test_accuracy=report.accuracy)
        for problem in recorder.problems:
            print(f"warning: {problem}", file=err)
    _print_evaluation(report, out)
    if args.save is not None and (cluster is None or cluster.leader):  # rank 0 writes files
        path = save_checkpoint(args.save, trainer)
        print(f"Saved checkpoint to {path}", file=out)
    if args.metrics_json is not None and (cluster is None or cluster.leader):
        _write_metrics(args.metrics_json, report, trainer)
    if recorder is not None:
        print(f"Run {recorder.run_id} {finished.status}, test accuracy "
              f"{100 * report.accuracy:.2f} %: {recorder.folder} (netexplorer evaluate "
              f"{recorder.run_id})", file=out)
    # The same verdicts the window shows (inspection/diagnosis.py).
    verdicts = diagnose(RunFacts(trainer.config,
                                 tuple(layer.kind for layer in trainer.spec.layers)
                                 if trainer.spec is not None else (),
                                 tuple(EpochReport(**e) for e in trainer.history["epochs"]),
                                 finished, tuple(alerts)))
    for verdict in verdicts:
        print(f"{'error' if verdict.severity == 'error' else 'warning'}: {verdict}", file=err)
    if finished.status == "diverged":
        return EXIT_DIVERGED
    learned = finished.status != "completed" or not any(v.kind == "not_learning"
                                                          for v in verdicts)
    return 0 if learned else EXIT_NOT_LEARNING


# `train`'s exit codes beyond 0 (and main.py's 1 for a setting or file to fix):
EXIT_DIVERGED = 1  # the loss or the gradients went non-finite; the last finite weights kept
EXIT_NOT_LEARNING = 3  # completed, but accuracy at chance or the loss flat (a warning says why)


def _end_cut_short(recorder: RunRecorder, trainer: Trainer, finished: FinishedReport | None,
                   exc: BaseException) -> None:
    """The run ends without its evaluation: "stopped" on a Ctrl-C (a second one, or one
    during the evaluation), "failed" on an error. The last.ckpt already written stays
    unless training had ended cleanly: a Ctrl-C may land inside an optimizer step."""
    try:
        if isinstance(exc, KeyboardInterrupt):
            if finished is None:
                last = trainer.history["epochs"][-1] if trainer.history["epochs"] else None
                finished = FinishedReport(
                    "stopped", "interrupted (Ctrl-C)", trainer.position.epoch,
                    trainer.position.step, trainer.elapsed,
                    test_accuracy=last["test_accuracy"] if last else None)
                recorder.finish(finished, save_last=False)
            else:
                recorder.finish(finished)
        else:
            recorder.finish(None, failure=first_line(exc), save_last=False)
    except (StoreError, OSError):  # the error being raised says more than this one
        pass


def _fail_if_abandoned(runs_dir: str, run_id: str, exc: BaseException) -> None:
    """A rank other than 0 that fails marks the run failed if rank 0 is gone
    without doing so (see fail_abandoned_run)."""
    try:
        fail_abandoned_run(runs_dir, run_id, first_line(exc))
    except (StoreError, OSError):  # the error being raised says more
        pass


def _require_both_splits(dataset: Dataset) -> None:
    """Training needs images to learn from and images to measure the result on."""
    require_images(dataset, "train")
    require_images(dataset, "test")


def _drive(trainer: Trainer, out: TextIO, err: TextIO,
           recorder: RunRecorder | None = None, alerts: list[Any] | None = None
           ) -> FinishedReport:
    """Run the generator, printing tutorial lines (each report recorded first, when a
    recorder is given; a probe's alerts gathered in `alerts`); Ctrl-C stops
    gracefully (twice: abort)."""
    progress = ProgressLine(err)
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum, frame):
        trainer.request_stop()  # under torchrun: every rank at the same step
        signal.signal(signal.SIGINT, previous)  # a second Ctrl-C aborts

    in_main_thread = _in_main_thread()
    if in_main_thread:
        signal.signal(signal.SIGINT, on_interrupt)
    started = time.perf_counter()
    first_step = trainer.position.step
    finished = None
    try:
        for report in trainer.steps():
            if recorder is not None:
                recorder.record(report)
            if alerts is not None and probe_of(report) is not None:
                alerts.extend(probe_of(report).alerts)  # (a stop may carry the last)
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


def run_evaluation(args: argparse.Namespace, out: TextIO | None = None,
                   spec=None) -> int:
    """Evaluate what `args.checkpoint` names: a checkpoint file, a plain state_dict
    loaded into `spec` (--model, --spec), or a stored run's last (--best: best) one."""
    out = out or sys.stdout
    from netexplorer.core.devices import resolve_device

    source = open_source(args.checkpoint, getattr(args, "runs_dir", None), spec=spec,
                         which="best" if getattr(args, "best", False) else "last")
    checkpoint = source.checkpoint
    if source.run is not None and source.path != Path(args.checkpoint).expanduser():
        shown = f" ({source.run.name})" if source.run.name != source.run.id else ""
        print(f"Run {source.run.id}{shown}, {source.run.status}: {source.path}", file=out)
    name = args.dataset or checkpoint.dataset_name or "digits"
    dataset = load_data(args, name, checkpoint.spec.input_shape, checkpoint.normalization)
    split = require_images(dataset, args.split)
    if checkpoint.classes and tuple(checkpoint.classes) != tuple(dataset.classes):
        print(f"warning: the checkpoint was trained on {checkpoint.dataset_name}, whose classes "
              f"differ from {dataset.name}'s", file=sys.stderr)
    device = resolve_device(args.device)
    model = checkpoint.build_model().to(device)
    loss = checkpoint.config.loss if checkpoint.config else "cross-entropy"
    progress = ProgressLine(sys.stderr)
    started = time.perf_counter()

    def show(done: int, total: int) -> None:
        seconds = time.perf_counter() - started
        progress.show(evaluation_progress_text(done, total, seconds))

    try:
        report = evaluate(model, split, loss=loss, classes=dataset.classes, device=device,
                          progress=show)
    finally:
        progress.clear()
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
    dataset = load_data(args, args.dataset, spec.input_shape)
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
            if probe_of(report) is not None:  # (a stop may carry the last ones)
                alerts.extend(probe_of(report).alerts)
            if isinstance(report, StepReport):
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
