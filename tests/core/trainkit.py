"""Small helpers shared by the training, evaluation, checkpoint and inspection tests.

Tiny specs for the bundled digits at their native 1×8×8 size train an epoch in
a few milliseconds, so whole runs (pause, resume, divergence, checkpoints) can
be compared bit for bit without making the suite slow.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from netexplorer.core.data import Dataset, Split
from netexplorer.core.reports import probe_of
from netexplorer.core.specs import LayerSpec, ModelSpec
from netexplorer.core.training import (
    EpochReport,
    FinishedReport,
    PausedReport,
    Report,
    StepReport,
    TrainConfig,
    Trainer,
)

WAIT = 10.0  # seconds any test waits for a report from a training thread


def layer(kind: str, name: str, **params: Any) -> LayerSpec:
    return LayerSpec(kind, name, params)


def tiny_spec(*extra: LayerSpec, hidden: int = 32, outputs: int = 10,
              dropout: bool = False, name: str = "tiny") -> ModelSpec:
    """flatten → fc1 → relu → [dropout] → fc2 (→ extra layers), for 1×8×8 digits."""
    layers = [layer("flatten", "flatten"), layer("linear", "fc1", out_features=hidden),
              layer("relu", "relu1")]
    if dropout:
        layers.append(layer("dropout", "drop1", p=0.2))
    layers.append(layer("linear", "fc2", out_features=outputs))
    return ModelSpec(name, (1, 8, 8), tuple(layers) + extra)


TINY = tiny_spec()
TINY_DROPOUT = tiny_spec(dropout=True, name="tiny-dropout")
TINY_NLL = tiny_spec(layer("logsoftmax", "logp"), name="tiny-nll")


def config(**changes: Any) -> TrainConfig:
    """A quick CPU run: 2 epochs of SGD with momentum, shifts of 1 pixel, a
    report every 5 steps; override anything."""
    base = TrainConfig(lr=0.1, epochs=2, batch_size=64, augment_shift=1, device="cpu",
                       report_every=5, seed=0)
    return base.replace(**changes)


def subset(dataset: Dataset, n_train: int, n_test: int | None = None) -> Dataset:
    """The first n images of each split, as a Dataset."""
    def cut(split: Split, n: int | None) -> Split:
        n = len(split) if n is None else n
        return Split(split.images[:n], split.labels[:n], split.originals[:n])

    return dataclasses.replace(dataset, train=cut(dataset.train, n_train),
                               test=cut(dataset.test, n_test))


def with_labels(dataset: Dataset, train_labels: torch.Tensor) -> Dataset:
    split = dataset.train
    return dataclasses.replace(dataset, train=Split(split.images, train_labels, split.originals))


def drive(trainer: Trainer, on_report: Callable[[Trainer, Report], None] | None = None
          ) -> list[Report]:
    """Run trainer.steps() to the end on this thread; `on_report` may use the control."""
    reports = []
    for report in trainer.steps():
        reports.append(report)
        if on_report is not None:
            on_report(trainer, report)
    return reports


def train(spec: ModelSpec, dataset: Dataset, *, on_report=None, **changes: Any
          ) -> tuple[Trainer, list[Report]]:
    trainer = Trainer(spec, dataset, config(**changes))
    return trainer, drive(trainer, on_report)


def of_type(reports: Iterable[Report], kind: type) -> list:
    return [r for r in reports if isinstance(r, kind)]


def steps_of(reports: Iterable[Report]) -> list[StepReport]:
    return of_type(reports, StepReport)


def epochs_of(reports: Iterable[Report]) -> list[EpochReport]:
    return of_type(reports, EpochReport)


def finished(reports: list[Report]) -> FinishedReport:
    assert isinstance(reports[-1], FinishedReport), reports[-1]
    assert len(of_type(reports, FinishedReport)) == 1
    return reports[-1]


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: torch.nn.Module | dict, b: torch.nn.Module | dict) -> None:
    wa = a if isinstance(a, dict) else weights(a)
    wb = b if isinstance(b, dict) else weights(b)
    assert wa.keys() == wb.keys()
    different = [k for k in wa if not torch.equal(wa[k].cpu(), wb[k].cpu())]
    assert not different, f"weights differ in {different}"


def stop_at(step: int) -> Callable[[Trainer, Report], None]:
    """on_report hook: request a stop once a StepReport reaches `step`."""
    def hook(trainer: Trainer, report: Report) -> None:
        if isinstance(report, StepReport) and report.step >= step:
            trainer.control.stop()
    return hook


class ThreadedRun:
    """trainer.steps() on a worker thread, as the GUI runs it; reports arrive in a
    queue. `delay` seconds of sleep after each StepReport keep a tiny run long
    enough for another thread to act in the middle of it."""

    def __init__(self, trainer: Trainer, delay: float = 0.0) -> None:
        self.trainer = trainer
        self.delay = delay
        self.reports: queue.Queue[Report | BaseException] = queue.Queue()
        self.seen: list[Report] = []
        self.thread = threading.Thread(target=self._work, daemon=True)

    def _work(self) -> None:
        try:
            for report in self.trainer.steps():
                self.reports.put(report)
                if self.delay and isinstance(report, StepReport):
                    threading.Event().wait(self.delay)
        except BaseException as exc:  # handed to the test thread
            self.reports.put(exc)

    def __enter__(self) -> ThreadedRun:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.trainer.control.stop()
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the training thread did not end"

    def next(self, timeout: float = WAIT) -> Report:
        try:
            item = self.reports.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no report within {timeout} s") from None
        if isinstance(item, BaseException):
            raise item
        self.seen.append(item)
        return item

    def until(self, predicate: Callable[[Report], bool], timeout: float = WAIT) -> Report:
        """Reports until one satisfies `predicate` (a FinishedReport before it fails)."""
        while True:
            report = self.next(timeout)
            if predicate(report):
                return report
            assert not isinstance(report, FinishedReport), f"run ended first: {report}"

    def rest(self) -> Iterator[Report]:
        while True:
            report = self.next()
            yield report
            if isinstance(report, FinishedReport):
                return


def is_paused(report: Report) -> bool:
    return isinstance(report, PausedReport)


# ------------------------------------------------------------------ inspection


def probed_trainer(model: ModelSpec | torch.nn.Module, dataset: Dataset, *,
                   every: int = 1, probe_options: dict[str, Any] | None = None,
                   **changes: Any):
    """A Trainer with a Probe on its model: a spec is built the way the Trainer
    builds it (seeded with the config's seed), so the run matches an unprobed one."""
    from netexplorer.core.inspection import Probe

    cfg = config(**changes)
    trainer = Trainer(model, dataset, cfg)
    trainer.probe = Probe(trainer.model, every=every, **(probe_options or {}))
    return trainer, trainer.probe


def alerts_of(reports: Iterable[Report]) -> list:
    """Every alert the probe raised, in report order (a pause or a stop may carry
    the last ones: reports.probe_of)."""
    return [a for r in reports if probe_of(r) is not None for a in probe_of(r).alerts]


def probe_step(probe, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None,
               optimizer: torch.optim.Optimizer | None, step: int, *,
               loss_fn: Callable | None = None, before_update: Callable[[], None] | None = None,
               flush: bool = True):
    """One training step driven by hand through the Trainer's StepProbe protocol
    (begin_step → forward → backward → [before_update] → optimizer step →
    end_step); returns the probe's flush() (None with flush=False).

    Without an optimizer the weights stay as they are; `loss_fn(output, y)`
    defaults to cross-entropy."""
    loss_fn = loss_fn or torch.nn.functional.cross_entropy
    probe.begin_step(step)
    model.zero_grad(set_to_none=True)
    probe.backward(loss_fn(probe.forward(x), y))
    if before_update is not None:
        before_update()
    if optimizer is not None:
        optimizer.step()
    probe.end_step()
    return probe.flush() if flush else None
