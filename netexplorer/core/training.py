"""The training engine: one generator that the GUI's thread, the CLI and the tests
all drive.

`Trainer.steps()` trains and yields plain-number reports (superqt's
GeneratorWorker pattern): a StepReport per reporting interval, an EpochReport per
epoch, a PausedReport when it stops to wait, and one FinishedReport at the end.
Control — pause, resume, single step, stop, a new learning rate — comes from any
thread through `Trainer.control` and is checked between batches.

Per-step numbers (losses, correct counts, and a flag from a fused finite check of
the gradients — every step, whatever the probe samples) stay on the device and
are copied out once per report: no host sync per step, even on CUDA. That leaves
a non-finite step unseen until the report, so the trainer keeps a snapshot of the
model and optimizer at every report boundary; on divergence it restores the
snapshot and replays the finite steps, replays the step that went wrong with every
layer watched to name where the first NaN or infinity appeared
(inspection/nonfinite.py), and keeps the last weights that are finite and give a
finite loss on the test images — or says that none in reach do.

Under torchrun the same generator drives DistributedDataParallel (`distributed=`,
see core/distributed.py): each rank trains on its share of every global batch and
the per-report numbers are summed across ranks, so every rank reports — and
decides on — the same losses as one process would.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from netexplorer.core import distributed as dist
from netexplorer.core import losses
from netexplorer.core.data import Dataset, Split, random_shift
from netexplorer.core.devices import resolve_device
from netexplorer.core.errors import TrainingError
from netexplorer.core.evaluation import EvalReport, evaluate
from netexplorer.core.formatting import format_shape
from netexplorer.core.inspection.nonfinite import all_finite, locate_nonfinite, note_nonfinite
from netexplorer.core.reports import (
    EpochReport,
    FinishedReport,
    NonFiniteSite,
    PausedReport,
    Report,
    SettingChange,
    StepReport,
)
from netexplorer.core.specs import ModelSpec, build_model, class_count_error, summarize
from netexplorer.core.train_config import (  # noqa: F401 - re-exported
    LOSSES,
    ONECYCLE_DIV,
    ONECYCLE_FINAL_DIV,
    ONECYCLE_WARMUP,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    schedule_factor,
)

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.core.distributed import Cluster

__all__ = ["TrainConfig", "Trainer", "TrainingControl", "StepReport", "EpochReport",
           "PausedReport", "FinishedReport", "Report", "evaluate", "EvalReport",
           "OPTIMIZERS", "SCHEDULES", "LOSSES", "schedule_factor"]

class StepProbe(Protocol):
    """What the trainer asks of an optional probe (netexplorer.core.inspection).

    A sampled step runs through the probe: begin_step, forward (returns the
    model's output), backward (backpropagates the loss), the optimizer's step,
    end_step. An unsampled step never touches it, so it runs the bare model.
    flush(until) drops the steps from `until` on: a divergence undid them;
    flush(only_if_due=True) may keep the steps for a later flush (the trainer asks
    so of reports within an epoch, and flushes what is kept when the run pauses or
    stops: nothing sampled goes unreported).
    """

    def sampling(self, step: int) -> bool: ...
    def begin_step(self, step: int) -> None: ...
    def forward(self, x: torch.Tensor) -> torch.Tensor: ...
    def backward(self, loss: torch.Tensor) -> None: ...
    def end_step(self) -> None: ...
    def flush(self, until: int | None = None, *, only_if_due: bool = False) -> Any: ...


# --------------------------------------------------------------------------- control


class TrainingControl:
    """Pause, resume, single step, stop and a new learning rate, from any thread.

    The training thread calls `gate()` between batches; it blocks there while
    paused and returns whether to run the next batch. `call(fn)` runs fn on the
    training thread at the next gate — also while paused — so other threads can
    read or use the model (evaluate it, take feature maps, save a checkpoint)
    without ever racing a training step.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._paused = False
        self._stopping = False
        self._steps_allowed = 0
        self._pending_lr: float | None = None
        self._reason = "requested"
        self._calls: deque[tuple[Callable[[], Any], Future]] = deque()
        self._closed = False

    def call(self, fn: Callable[[], Any]) -> Future | None:
        """Run fn() on the training thread between batches; its Future carries the
        result. None once training has ended (run it elsewhere then)."""
        future: Future = Future()
        with self._cond:
            if self._closed:
                return None
            self._calls.append((fn, future))
            self._cond.notify_all()
        return future

    def close(self) -> None:
        """Training has ended: run what is queued, accept no more calls."""
        with self._cond:
            self._closed = True
        self._run_calls()

    def _run_calls(self) -> None:
        while True:
            with self._cond:
                if not self._calls:
                    return
                fn, future = self._calls.popleft()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # handed to whoever waits on the future
                    future.set_exception(exc)

    # -- called from any thread
    def pause(self, reason: str = "requested") -> None:
        with self._cond:
            self._paused = True
            self._reason = reason
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._steps_allowed = 0
            self._cond.notify_all()

    def step(self, count: int = 1) -> None:
        """While paused, let `count` more batches run, then pause again."""
        with self._cond:
            self._steps_allowed += count
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def set_learning_rate(self, lr: float) -> None:
        if not (math.isfinite(lr) and lr > 0):
            raise TrainingError(f"learning rate must be a positive number, got {lr}")
        with self._cond:
            self._pending_lr = float(lr)

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- called by the training thread
    def must_wait(self) -> bool:
        with self._cond:
            return self._paused and not self._stopping and self._steps_allowed == 0

    @property
    def reason(self) -> str:
        return self._reason

    def gate(self) -> bool:
        """Run queued calls; block while paused (still serving calls); True to run
        one batch, False to stop."""
        while True:
            self._run_calls()
            with self._cond:
                if self._calls:
                    continue
                if self._stopping:
                    return False
                if not self._paused:
                    return True
                if self._steps_allowed > 0:
                    self._steps_allowed -= 1
                    return True
                self._cond.wait()

    @property
    def stepping(self) -> bool:
        """True while single-stepping (paused, running an allowed batch)."""
        return self._paused

    def take_learning_rate(self) -> float | None:
        with self._cond:
            lr, self._pending_lr = self._pending_lr, None
            return lr


# --------------------------------------------------------------------------- trainer


@dataclass
class _Position:
    """Where training stands, enough to resume exactly (also mid-epoch)."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches completed in the current epoch
    step: int = 0  # global steps completed
    epoch_rng: torch.Tensor | None = None  # data-order generator state at epoch start


def _cloned(value: Any) -> Any:
    """A state dict's nested dicts, lists and tuples copied and its tensors cloned:
    what copy.deepcopy gives it, at a fraction of the cost (deepcopy goes through
    Tensor.__deepcopy__ and its memo for every tensor, on every report's snapshot)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {key: _cloned(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_cloned(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_cloned(item) for item in value)
    return value  # numbers, strings, None, bools: not changed in place


@dataclass
class _Snapshot:
    position: _Position
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]
    rng_state: torch.Tensor
    cuda_rng_state: Any
    base_lr: float


@dataclass
class _EpochTotals:
    loss_sum: float = 0.0  # sum over samples
    correct: int = 0
    seen: int = 0
    started: float = field(default_factory=time.perf_counter)


@dataclass
class _Interval:
    """Steps since the last report: device-side losses and counts, and the
    snapshot to return to if one of them turns out non-finite."""

    snapshot: _Snapshot
    started: float
    losses: list[torch.Tensor] = field(default_factory=list)
    grad_flags: list[torch.Tensor] = field(default_factory=list)  # 1: a gradient not finite
    correct: list[torch.Tensor] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)  # host numbers: no device op
    changes: list[SettingChange] = field(default_factory=list)

    def add(self, loss: torch.Tensor, grad_flag: torch.Tensor, correct: torch.Tensor,
            size: int, lr: float) -> None:
        self.losses.append(loss)
        self.grad_flags.append(grad_flag)
        self.correct.append(correct)
        self.sizes.append(size)
        self.lrs.append(lr)


class Trainer:
    """Trains a model (or a ModelSpec, built with the config's seed) on a dataset.

    Continuing a run: pass the trained module instead of the spec (with `spec=`
    for checkpoints), or restore a checkpoint with `load_state`. `history` keeps
    every epoch report and every step's loss for checkpoints and run overlays.
    """

    def __init__(self, model: ModelSpec | nn.Module, dataset: Dataset,
                 config: TrainConfig | None = None, *, probe: StepProbe | None = None,
                 spec: ModelSpec | None = None, control: TrainingControl | None = None,
                 distributed: Cluster | None = None, sync_batchnorm: bool = False) -> None:
        self.config = config or TrainConfig()
        self.config.validate()
        # One of torchrun's ranks (core/distributed.py) trains on its local device.
        self.cluster = distributed
        self.device = distributed.device if distributed else resolve_device(self.config.device)
        self.dataset = dataset
        torch.manual_seed(self.config.seed)  # weights of a new model, then dropout masks
        if isinstance(model, ModelSpec):
            self.spec: ModelSpec | None = model
            self.model: nn.Module = build_model(model)
        else:
            self.spec = spec
            self.model = model
        self._check_fit()
        self.model.to(self.device)
        # What a training step's forward runs: the model, or its DDP wrapper (the same
        # parameters; checkpoints, the probe and evaluation use the plain model).
        self._forward: nn.Module = (dist.wrap(self.model, distributed,
                                              sync_batchnorm=sync_batchnorm)
                                    if distributed else self.model)
        if sync_batchnorm and distributed is None:
            raise TrainingError("--sync-batchnorm is for a run under torchrun")
        # Under torchrun, the steps rank 0's probe samples (every `probe_every`):
        # every rank syncs those steps' gradients itself (see core/distributed.py).
        self.probe_every: int | None = None
        self._stop_requested = False
        self.train_split: Split = dataset.train.to(self.device)
        self.test_split: Split = dataset.test.to(self.device)
        self.optimizer = self._make_optimizer()
        self.base_lr = self.config.lr
        self.control = control or TrainingControl()
        self.probe = probe
        self.position = _Position()
        self.generator = torch.Generator().manual_seed(self.config.seed)
        # Every epoch's report and every step's loss and learning rate, for checkpoints.
        self.history: dict[str, list] = {"epochs": [], "step_losses": [], "step_lrs": []}
        self.last_eval: EvalReport | None = None
        self._last_eval_step: int | None = None  # position.step of the weights last_eval saw
        # The current epoch's running totals, kept across a stop / save / resume
        # mid-epoch so that its EpochReport covers the whole epoch.
        self._totals: _EpochTotals | None = None
        self.elapsed = 0.0
        self._last_lr = self.config.lr
        # The per-step finite check of the gradients (benchmarks turn it off to
        # measure what it costs; the loss is checked either way).
        self.check_gradients = True
        self._no_check = torch.zeros(1, device=self.device)
        # Listed once: model.parameters() walks the module tree, on every step.
        self._parameters = list(self.model.parameters())
        # The global RNG (dropout) as seeded here, restored when steps() starts, so
        # whatever ran in between cannot change the run.
        self._rng_restore: tuple[torch.Tensor, Any] | None = (torch.get_rng_state(), None)

    # -- setup
    def _check_fit(self) -> None:
        """Refuse model/dataset mismatches before any step (an out-of-range label on
        CUDA is a sticky device error that only a restart clears)."""
        k = self.dataset.num_classes
        for name, split in (("training", self.dataset.train), ("test", self.dataset.test)):
            if len(split) and (int(split.labels.min()) < 0 or int(split.labels.max()) >= k):
                raise TrainingError(f"the {name} labels run from {int(split.labels.min())} to "
                                    f"{int(split.labels.max())} but {self.dataset.name} has "
                                    f"{k} classes")
        if len(self.dataset.train) == 0:
            raise TrainingError(f"{self.dataset.name} has no training images")
        if self.spec is not None:
            summary = summarize(self.spec)
            if tuple(summary.input_shape) != tuple(self.dataset.input_shape):
                raise TrainingError(
                    f"the model takes {format_shape(summary.input_shape)} input but the dataset "
                    f"was prepared for {format_shape(self.dataset.input_shape)}: reload the "
                    f"dataset for this model")
            # Worded and fixed once, as the model panel says it while the model is edited.
            mismatch = class_count_error(self.spec, summary, k, self.dataset.name)
            if mismatch is not None:
                raise TrainingError(mismatch.message)
            last = summary.rows[-1]
            if self.config.loss == "nll" and last.kind != "logsoftmax":
                raise TrainingError("the nll loss expects log-probabilities: add a logsoftmax "
                                    "layer at the end of the model, or use cross-entropy")

    def _make_optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        params = self.model.parameters()
        if c.optimizer in ("sgd", "nesterov"):
            return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum,
                                   nesterov=c.optimizer == "nesterov", weight_decay=c.weight_decay)
        if c.optimizer == "adam":
            return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        if c.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
        return torch.optim.RMSprop(params, lr=c.lr, momentum=c.momentum,
                                   weight_decay=c.weight_decay)

    # -- geometry
    @property
    def batches_per_epoch(self) -> int:
        n, b = len(self.train_split), self.config.batch_size
        full, rest = divmod(n, b)
        # A last batch of one sample breaks batch norm in training mode: drop it.
        return full + (1 if rest > 1 else 0)

    @property
    def images_per_epoch(self) -> int:
        return min(len(self.train_split), self.batches_per_epoch * self.config.batch_size)

    @property
    def total_steps(self) -> int:
        return self.config.epochs * self.batches_per_epoch

    def current_lr(self) -> float:
        return self.base_lr * schedule_factor(self.config, self.position.step,
                                              self.batches_per_epoch)

    def set_base_lr_for(self, lr: float) -> None:
        """Make the learning rate at the current step `lr`, keeping the schedule's
        shape: later steps scale from the new value."""
        factor = schedule_factor(self.config, self.position.step, self.batches_per_epoch)
        self.base_lr = lr / factor if factor > 1e-12 else lr

    # -- the loop
    def steps(self) -> Iterator[Report]:
        """Train to config.epochs, yielding reports; see the module docstring."""
        c = self.config
        pos = self.position
        with torch.enable_grad():  # grad mode is per thread: set it in the training thread
            self.model.train()
            if self._rng_restore is not None:
                _set_rng(*self._rng_restore, self.device)
                self._rng_restore = None
            while pos.epoch < c.epochs:
                if pos.batch == 0 or pos.epoch_rng is None:
                    pos.epoch_rng = self.generator.get_state()
                else:
                    self.generator.set_state(pos.epoch_rng)
                order = torch.randperm(len(self.train_split), generator=self.generator)
                order = order.to(self.device)
                if pos.batch == 0 or self._totals is None:
                    self._totals = _EpochTotals()
                totals = self._totals
                outcome = yield from self._epoch(order, totals)
                if outcome is not None:
                    yield outcome
                    return
                yield self._finish_epoch(totals)
        yield self._finished("completed", f"finished {c.epochs} epochs")

    def _epoch(self, order: torch.Tensor, totals: _EpochTotals
               ) -> Generator[Report, None, FinishedReport | None]:
        """One epoch from the current position; returns a FinishedReport if the run
        ends inside it (stop or divergence), None when the epoch completes."""
        c = self.config
        pos = self.position
        nb = self.batches_per_epoch
        interval = self._new_interval()
        while pos.batch < nb:
            if self.control.must_wait():
                if interval.losses:
                    ended = yield from self._flush(interval, totals)
                    if ended is not None:
                        return ended
                    interval = self._new_interval()
                yield PausedReport(pos.step, pos.epoch + 1, self.control.reason,
                                   probe=self._held_probe_steps())
                paused_at = time.perf_counter()
                proceed = self.control.gate()
                interval.started += time.perf_counter() - paused_at
            else:
                proceed = self.control.gate()
            if not proceed:
                if interval.losses:
                    ended = yield from self._flush(interval, totals)
                    if ended is not None:
                        return ended
                return self._finished("stopped", "stopped by request",
                                      probe=self._held_probe_steps())
            new_lr = self.control.take_learning_rate()
            if new_lr is not None:
                interval.changes.append(SettingChange(pos.step + 1, "lr", self.current_lr(),
                                                      new_lr, time.time()))
                self.set_base_lr_for(new_lr)
            stepping = self.control.stepping
            idx = order[pos.batch * c.batch_size:(pos.batch + 1) * c.batch_size]
            loss, grad_flag, correct = self._train_step(idx, sample=True)
            interval.add(loss, grad_flag, correct, int(idx.shape[0]), self._last_lr)
            pos.batch += 1
            pos.step += 1
            if len(interval.losses) >= c.report_every or pos.batch == nb or stepping:
                # Only a report within an epoch lets the probe keep its steps a while.
                ended = yield from self._flush(interval, totals,
                                               probe_due=pos.batch == nb or stepping)
                if ended is not None:
                    return ended
                interval = self._new_interval()
        return None

    def _new_interval(self) -> _Interval:
        started = time.perf_counter()  # the snapshot's cost counts as training time
        return _Interval(self._snapshot(), started)

    def _batch(self, idx: torch.Tensor, whole: bool = False
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The images and labels of the next step (under torchrun this rank's share of
        the global batch `idx`, unless `whole`), with the learning rate set."""
        lr = self.current_lr()
        self._last_lr = lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        start, stop = self._share(len(idx), whole)
        shift = self.config.augment_shift
        # The shifts are drawn for the global batch, so every rank keeps its rows of
        # the one-process draws.
        x = self.train_split.images.index_select(0, idx if shift else idx[start:stop])
        y = self.train_split.labels.index_select(0, idx[start:stop])
        if shift:
            # Seeded by the step, so resumed and replayed steps see the same shifts.
            g = torch.Generator().manual_seed(self.config.seed * 1_000_003 + self.position.step)
            x = random_shift(x, shift, g)[start:stop]
        return x, y

    def _share(self, size: int, whole: bool = False) -> tuple[int, int]:
        if self.cluster is None or whole:
            return 0, size
        return dist.share_bounds(size, self.cluster.world_size, self.cluster.rank)

    def _train_step(self, idx: torch.Tensor, sample: bool
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step; returns its loss, a flag set if a gradient was not finite, and its
        correct count, all still on the device."""
        pos = self.position
        x, y = self._batch(idx)
        probe = self.probe if sample else None
        if probe is not None and not probe.sampling(pos.step):
            probe = None  # an unsampled step never touches the probe
        cluster = self.cluster
        # Under torchrun a step rank 0 probes bypasses DDP on every rank (the probe
        # takes the gradients itself): its gradients are averaged explicitly.
        bypass = cluster is not None and sample and bool(self.probe_every) and \
            pos.step % (self.probe_every or 1) == 0
        if probe is not None:
            probe.begin_step(pos.step)
        self.optimizer.zero_grad(set_to_none=True)
        forward = self.model if bypass else self._forward
        out = probe.forward(x) if probe is not None else forward(x)
        loss = losses.batch_loss(self.config.loss, out, y)
        # Each rank's mean loss weighted by its share: DDP's average of the ranks'
        # gradients is then the global batch's, whatever the shares' sizes.
        share = len(y) / len(idx)
        scaled = loss if cluster is None else loss * dist.loss_weight(
            len(y), len(idx), cluster.world_size)
        if probe is not None:
            probe.backward(scaled)
        else:
            scaled.backward()
        if bypass:
            assert cluster is not None
            dist.average_gradients(list(self.model.parameters()), cluster.world_size)
        # Before the update: a NaN in the gradients is caught even on a run's last
        # step, where no next loss would show it (one fused op, no sync).
        if self.check_gradients:
            grad_flag = torch.zeros(1, device=self.device)
            note_nonfinite([p.grad for p in self._parameters if p.grad is not None],
                           grad_flag)
        else:
            grad_flag = self._no_check
        self.optimizer.step()
        if probe is not None:
            probe.end_step()
        # The rank's part of the global batch's mean: summed across ranks per report.
        reported = loss.detach() if cluster is None else loss.detach() * share
        return reported, grad_flag, (out.detach().argmax(dim=1) == y).sum()

    def _flush(self, interval: _Interval, totals: _EpochTotals, probe_due: bool = True
               ) -> Generator[Report, None, FinishedReport | None]:
        """Yield the interval's StepReport; return a FinishedReport if it diverged."""
        report, diverged = self._report(interval, totals, probe_due)
        yield report
        return diverged

    def _held_probe_steps(self) -> Any:
        """What the probe kept back from earlier reports (or None), flushed now that
        the run pauses or stops: after a report of its own interval, nothing."""
        if self.probe is None:
            return None
        held = self.probe.flush()
        return held if len(getattr(held, "steps", ())) else None

    def _report(self, interval: _Interval, totals: _EpochTotals, probe_due: bool = True
                ) -> tuple[StepReport, FinishedReport | None]:
        """One host copy for the interval; divergence is found (and undone) here.
        `probe_due`: the probe must report its sampled steps now (else it may keep
        them for a later report: Probe.flush's only_if_due)."""
        pos = self.position
        snapshot = interval.snapshot
        checks = torch.stack([torch.stack(interval.losses).float(),
                              torch.cat(interval.grad_flags),
                              torch.stack(interval.correct).float()])
        if self.cluster is not None:
            checks = self._sum_across_ranks(checks)
        values, grad_flags, correct = checks.cpu()  # the one synchronisation
        seconds = max(time.perf_counter() - interval.started, 1e-9)
        self.elapsed += seconds
        finite = torch.isfinite(values) & (grad_flags == 0)
        kept = len(interval.losses)
        diverged: FinishedReport | None = None
        if not bool(finite.all()):
            bad = int((~finite).nonzero()[0, 0])
            kept, diverged = self._diverge(interval, bad, float(values[bad]))
        loss_list = tuple(float(v) for v in values[:kept])
        sizes = interval.sizes[:kept]
        if kept:
            totals.loss_sum += sum(v * n for v, n in zip(loss_list, sizes))
            totals.correct += int(correct[:kept].sum())
            totals.seen += sum(sizes)
        self.history["step_losses"].extend(loss_list)
        self.history["step_lrs"].extend(interval.lrs[:kept])
        probe_stats = None
        if self.probe is not None:
            probe_stats = (self.probe.flush(pos.step) if diverged else
                           self.probe.flush(only_if_due=not probe_due))
        report = StepReport(
            epoch=pos.epoch + 1, step=pos.step, batch=pos.batch,
            batches_per_epoch=self.batches_per_epoch,
            batch_loss=loss_list[-1] if loss_list else float("nan"),
            running_loss=sum(loss_list) / kept if kept else float("nan"),
            lr=self._last_lr, images_per_second=sum(interval.sizes) / seconds,
            elapsed=self.elapsed, losses=loss_list, first_step=snapshot.position.step + 1,
            probe=probe_stats, lrs=tuple(interval.lrs[:kept]), changes=tuple(interval.changes))
        pause_reason = getattr(probe_stats, "pause_reason", None)
        # Under torchrun nothing pauses: rank 0 alone would stop entering collectives.
        if pause_reason and diverged is None and self.cluster is None:
            self.control.pause(pause_reason)
        return report, diverged

    def _sum_across_ranks(self, checks: torch.Tensor) -> torch.Tensor:
        """The interval's numbers summed over the ranks, with a stop request (a Ctrl-C
        on any rank) in the same all-reduce: every rank stops at the same step."""
        flag = torch.full((1,), float(self._stop_requested), device=checks.device)
        summed = dist.sum_across(torch.cat([checks.flatten(), flag]))
        if float(summed[-1]) > 0:
            self.control.stop()
        return summed[:-1].view_as(checks)

    def request_stop(self) -> None:
        """Stop at the next chance: now alone, at the next report under torchrun (a
        rank stopping alone would leave the others waiting in a collective)."""
        if self.cluster is None:
            self.control.stop()
        else:
            self._stop_requested = True

    def _evaluate_test(self) -> EvalReport:
        """The model on the test split; under torchrun each rank takes a share and
        the parts are gathered (the same report on every rank)."""
        split = self.test_split
        if self.cluster is None:
            return evaluate(self.model, split, loss=self.config.loss,
                            classes=self.dataset.classes)
        start, stop = self._share(len(split))
        part = evaluate(self.model, Split(split.images[start:stop], split.labels[start:stop],
                                          split.originals[start:stop]),
                        loss=self.config.loss, classes=self.dataset.classes)
        return dist.gather_evaluation(part, self.cluster)

    def _finish_epoch(self, totals: _EpochTotals) -> EpochReport:
        pos = self.position
        report = self._evaluate_test()
        self.model.train()
        self.last_eval = report
        self._last_eval_step = pos.step
        seen = max(totals.seen, 1)
        epoch_seconds = time.perf_counter() - totals.started
        pos.epoch += 1
        pos.batch = 0
        pos.epoch_rng = None
        epoch = EpochReport(
            epoch=pos.epoch, step=pos.step, train_loss=totals.loss_sum / seen,
            train_accuracy=totals.correct / seen, test_loss=report.loss,
            test_accuracy=report.accuracy,
            per_class_accuracy=tuple(float(a) for a in report.per_class_accuracy),
            lr=self.current_lr(), elapsed=self.elapsed, epoch_seconds=epoch_seconds,
            images_per_second=totals.seen / max(epoch_seconds, 1e-9))
        self.history["epochs"].append(asdict(epoch))
        return epoch

    def _finished(self, status: str, message: str, **extra: Any) -> FinishedReport:
        last = self.history["epochs"][-1] if self.history["epochs"] else None
        return FinishedReport(status, message, self.position.epoch, self.position.step,
                              self.elapsed,
                              test_accuracy=last["test_accuracy"] if last else None,
                              test_loss=last["test_loss"] if last else None, **extra)

    # -- divergence
    def _snapshot(self) -> _Snapshot:
        cuda_state = (torch.cuda.get_rng_state(self.device) if self.device.type == "cuda"
                      else None)
        return _Snapshot(
            position=copy.copy(self.position),
            model_state={k: v.detach().clone() for k, v in self.model.state_dict().items()},
            optimizer_state=_cloned(self.optimizer.state_dict()),
            rng_state=torch.get_rng_state(), cuda_rng_state=cuda_state, base_lr=self.base_lr)

    def _diverge(self, interval: _Interval, bad: int, bad_loss: float
                 ) -> tuple[int, FinishedReport]:
        """Step `bad` of the interval (0-based) went non-finite: back to the last
        weights that hold no NaN or infinity, replay the step after them with every
        layer watched, then keep the last of them that also give a finite test loss.
        Returns how many of the interval's steps are kept, and the run's end."""
        snapshot = interval.snapshot
        bad_step = snapshot.position.step + bad + 1
        bad_lr = interval.lrs[bad]
        finite = bad  # steps of the interval whose weights hold no NaN or infinity
        order = self._restore_and_replay(snapshot, finite)
        while finite > 0 and not all_finite(self.model.parameters()):
            finite -= 1
            order = self._restore_and_replay(snapshot, finite)
        site = self._locate(order)
        kept = finite
        evaluation = self.evaluate()
        while kept > 0 and not math.isfinite(evaluation.loss):
            kept -= 1
            self._restore_and_replay(snapshot, kept)
            evaluation = self.evaluate()
        self.model.train()
        kept_step = snapshot.position.step + kept
        where = f"; {site.describe()} (replayed step {site.step})"
        message = (f"the loss became {bad_loss} at step {bad_step} (learning rate "
                   f"{bad_lr:.3g}){where if site.step == bad_step else ''}")
        if site.step != bad_step:
            message += (f"; the update of step {site.step} already made weights non-finite: "
                        f"{site.describe()}")
        if not math.isfinite(evaluation.loss):
            message += (f". No weights in reach give a finite loss on the test images: the "
                        f"model keeps those of step {kept_step}, whose test loss is "
                        f"{evaluation.loss}. Reset the weights, lower the learning rate and "
                        f"train again.")
        else:
            later = (f" (those of step {kept_step + 1}"
                     f"{f' to {bad_step - 1}' if kept_step + 1 < bad_step - 1 else ''} give a "
                     f"non-finite loss on the test images)" if kept_step < bad_step - 1 else "")
            message += (f"; the model keeps the weights of step {kept_step}{later}. Lower the "
                        f"learning rate and train again.")
        finished = FinishedReport(
            "diverged", message, self.position.epoch, self.position.step, self.elapsed,
            test_accuracy=evaluation.accuracy, test_loss=evaluation.loss,
            diverged_step=bad_step, diverged_loss=bad_loss, diverged_lr=bad_lr, nonfinite=site)
        if self.cluster is not None:
            finished = dist.broadcast(finished)  # one message, whichever rank it reaches
        return kept, finished

    def _locate(self, order: torch.Tensor) -> NonFiniteSite:
        """Replay the step after the current weights with every layer watched (see
        inspection/nonfinite.py), then put the model, optimizer and RNG back."""
        pos = self.position
        b = self.config.batch_size
        idx = order[pos.batch * b:(pos.batch + 1) * b]
        x, y = self._batch(idx, whole=True)  # the global batch, replayed on every rank
        before = self._snapshot()
        batch = tuple(int(i) for i in idx.cpu())
        images = self.dataset.train.originals.index_select(0, idx.cpu()).numpy()
        try:
            return locate_nonfinite(self.model, self.optimizer, x, y,
                                    lambda out, labels: losses.batch_loss(self.config.loss,
                                                                          out, labels),
                                    step=pos.step + 1, batch=batch, images=images)
        finally:
            self._restore(before)

    def _restore(self, snapshot: _Snapshot) -> None:
        self.model.load_state_dict(snapshot.model_state)
        # A copy each time: load_state_dict keeps the tensors it is given (Tensor.to
        # returns a tensor already of the right kind as it is), so the steps replayed
        # after a restore would update the snapshot's momentum in place and the next
        # restore of the same snapshot would not be the state it was taken in.
        self.optimizer.load_state_dict(_cloned(snapshot.optimizer_state))
        _set_rng(snapshot.rng_state, snapshot.cuda_rng_state, self.device)
        self.base_lr = snapshot.base_lr
        self.position.__dict__.update(copy.copy(snapshot.position).__dict__)

    def _restore_and_replay(self, snapshot: _Snapshot, steps: int) -> torch.Tensor:
        """Back to the snapshot, then re-run `steps` finite steps exactly as before.
        Returns the epoch's data order."""
        self._restore(snapshot)
        pos = self.position
        # Snapshots are taken inside an epoch, after steps() noted its epoch_rng.
        assert pos.epoch_rng is not None
        self.generator.set_state(pos.epoch_rng)
        order = torch.randperm(len(self.train_split), generator=self.generator).to(self.device)
        b = self.config.batch_size
        for _ in range(steps):
            self._train_step(order[pos.batch * b:(pos.batch + 1) * b], sample=False)
            pos.batch += 1
            pos.step += 1
        return order

    # -- checkpoints
    def state(self) -> dict[str, Any]:
        """Everything needed to resume exactly: for checkpoints.save_checkpoint."""
        pos = self.position
        return {
            "optimizer": self.optimizer.state_dict(),
            "base_lr": self.base_lr,
            "position": {"epoch": pos.epoch, "batch": pos.batch, "step": pos.step},
            "epoch_rng": pos.epoch_rng if pos.epoch_rng is not None else self.generator.get_state(),
            "rng": torch.get_rng_state(),
            # Dropout on a GPU draws from the device's generator: without its state a
            # resumed run would drop other units than the uninterrupted one.
            "cuda_rng": (torch.cuda.get_rng_state(self.device) if self.device.type == "cuda"
                         else None),
            "elapsed": self.elapsed,
            "history": self.history,
            "epoch_totals": None if pos.batch == 0 or self._totals is None else {
                "loss_sum": self._totals.loss_sum, "correct": self._totals.correct,
                "seen": self._totals.seen,
                "seconds": time.perf_counter() - self._totals.started},
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from Trainer.state() (the weights are loaded separately)."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.base_lr = float(state["base_lr"])
        p = state["position"]
        self.position = _Position(int(p["epoch"]), int(p["batch"]), int(p["step"]),
                                  state["epoch_rng"])
        self.generator.set_state(state["epoch_rng"])
        cuda_rng = state.get("cuda_rng")  # absent from checkpoints saved before it was kept
        self._rng_restore = (state["rng"],
                             cuda_rng if isinstance(cuda_rng, torch.Tensor) else None)
        self.elapsed = float(state.get("elapsed", 0.0))
        totals = state.get("epoch_totals")
        self._totals = None if not totals else _EpochTotals(
            float(totals["loss_sum"]), int(totals["correct"]), int(totals["seen"]),
            time.perf_counter() - float(totals["seconds"]))
        self.history = {"epochs": list(state["history"]["epochs"]),
                        "step_losses": list(state["history"]["step_losses"]),
                        # absent from checkpoints saved before it was kept
                        "step_lrs": list(state["history"].get("step_lrs", []))}

    def evaluate(self) -> EvalReport:
        """The model on the test split, now."""
        self.last_eval = self._evaluate_test()
        self._last_eval_step = self.position.step
        return self.last_eval

    def evaluation_of_current_weights(self) -> EvalReport:
        """The test-split evaluation of the weights the model holds now — what a
        checkpoint saved now would evaluate to.

        That is last_eval when no step has run since it was made; otherwise (a run
        stopped mid-epoch, or one that diverged and went back to its last finite
        step) the model is evaluated again, so a report never shows an epoch's
        figures for weights that have changed since.
        """
        if self.last_eval is None or self._last_eval_step != self.position.step:
            return self.evaluate()
        return self.last_eval


def _set_rng(cpu_state: torch.Tensor, cuda_state: Any, device: torch.device | None = None
             ) -> None:
    torch.set_rng_state(cpu_state)
    if cuda_state is not None and device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(cuda_state, device)

