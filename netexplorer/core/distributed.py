"""Training under `torchrun`: DistributedDataParallel over the same Trainer.

`torchrun --nproc-per-node N -m netexplorer train …` starts N processes with
RANK, WORLD_SIZE and LOCAL_RANK set. Each joins one process group (gloo on the
CPU, nccl on CUDA with one device per local rank) and trains the same model on
its share of every global batch:

- the data order is the one-process order (every rank draws the same permutation
  from the seeded generator); global batch B at step s is split into W
  contiguous shares (`share_bounds`), so N processes with `--batch-size B` take
  the same steps as one process with batch B. Shift augmentation is drawn for
  the whole global batch and each rank keeps its rows: the same draws too;
- a rank's loss is scaled by its share of the batch (`loss_weight`), so DDP's
  gradient average is the gradient of the global batch's mean loss even when B
  is not a multiple of W;
- the per-report numbers (losses, gradient flags, correct counts, a stop
  request) are summed across ranks in one all-reduce per report, so every rank
  sees the same losses and takes the same decision on a non-finite step or a
  Ctrl-C: no rank is left waiting in a collective the others never enter;
- evaluation is split into contiguous shares of the test set and gathered
  (`gather_evaluation`): the same EvalReport as one process;
- rank 0 alone writes the run store, checkpoints and TensorBoard and runs the
  probe; on the steps it samples every rank syncs its gradients with one
  explicit all-reduce (`average_gradients`) instead of DDP's hooks, since the
  probe's backward takes the gradients itself.

A rank that fails or is killed must not leave the others hanging: every
collective has a timeout (`--collective-timeout`), a peer that disappears makes
gloo fail at once, and torchrun stops the remaining ranks with SIGTERM, which
`raise_on_sigterm` turns into a DistributedError so that rank 0 marks its run
failed before it exits.
"""

from __future__ import annotations

import datetime
import os
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from netexplorer.core.errors import TrainingError, first_line
from netexplorer.core.evaluation import EvalReport, report_of

DEFAULT_TIMEOUT_S = 120.0
ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


class DistributedError(TrainingError):
    """A distributed run that cannot go on: a rank lost, a collective timed out,
    the job stopped by torchrun. Says which rank noticed."""


@dataclass(frozen=True)
class Cluster:
    """This process's place in the job: its rank among world_size, its local rank
    on the machine, the backend and the device it trains on."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    backend: str
    device: torch.device

    @property
    def leader(self) -> bool:
        """Rank 0: the one that writes the run and prints."""
        return self.rank == 0

    def describe(self) -> str:
        return (f"rank {self.rank} of {self.world_size} ({self.backend}, "
                f"{self.device})")


def launched() -> bool:
    """Whether torchrun (or another launcher setting its variables) started us."""
    return all(os.environ.get(name) for name in ENVIRONMENT) and \
        int(os.environ["WORLD_SIZE"]) >= 1


def join(device_name: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Cluster:
    """Join the job torchrun started: the process group (gloo on the CPU, nccl on
    CUDA, one device per local rank) with `timeout_s` on every collective."""
    try:
        rank = int(os.environ["RANK"])
        world = int(os.environ["WORLD_SIZE"])
        local = int(os.environ["LOCAL_RANK"])
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    except (KeyError, ValueError):
        raise DistributedError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers "
                               "(torchrun sets them)") from None
    device = _device_of(device_name, local)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_available():
        raise DistributedError(f"this PyTorch ({torch.__version__}) was built without "
                               f"torch.distributed")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s),
                                device_id=device if device.type == "cuda" else None)
    except (RuntimeError, ValueError) as exc:
        raise DistributedError(f"rank {rank}: cannot join the job's process group "
                               f"({backend}): {first_line(exc)}") from None
    return Cluster(rank, world, local, local_world, backend, device)


def leave() -> None:
    """Leave the process group (after a run that ended on every rank)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _device_of(name: str, local_rank: int) -> torch.device:
    from netexplorer.core.devices import resolve_device

    wanted = resolve_device(name)
    if wanted.type != "cuda":
        return wanted
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise DistributedError(f"local rank {local_rank} needs cuda:{local_rank} but this "
                               f"machine has {count} CUDA device(s): start at most {count} "
                               f"processes per node (--nproc-per-node {count})")
    return torch.device("cuda", local_rank)


def cpu_threads(local_world_size: int) -> int:
    """Intra-op threads per rank: the machine's cores shared among the ranks on it
    ($NETEXPLORER_THREADS or OMP_NUM_THREADS, when set, win)."""
    for name in ("NETEXPLORER_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    return max(1, cores // max(1, local_world_size))


# ---------------------------------------------------------------------- batches


def share_bounds(size: int, world_size: int, rank: int) -> tuple[int, int]:
    """Rank's rows [start, stop) of a batch of `size`, as torch.tensor_split makes
    them: the first size % world_size ranks take one row more."""
    base, extra = divmod(size, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def loss_weight(share: int, size: int, world_size: int) -> float:
    """What a rank's mean loss is multiplied by before backward: DDP averages the
    ranks' gradients (divides their sum by world_size), so weighting each mean by
    world_size × share / size makes the result the global batch's mean."""
    return world_size * share / size if size else 0.0


def wrap(model: nn.Module, cluster: Cluster, *, sync_batchnorm: bool = False) -> nn.Module:
    """`model` in DistributedDataParallel (the same parameters: the Trainer keeps
    using the plain module for checkpoints, the probe and evaluation)."""
    from torch.nn.parallel import DistributedDataParallel

    if sync_batchnorm:
        if cluster.device.type != "cuda":
            raise DistributedError("--sync-batchnorm needs CUDA (PyTorch's SyncBatchNorm "
                                   "runs on GPUs only); on the CPU each rank's batch norm "
                                   "uses its own share of the batch")
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if converted is not model:
            raise DistributedError("--sync-batchnorm cannot convert a model that is itself "
                                   "one batch-norm layer")
    ids = [cluster.device.index] if cluster.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def average_gradients(parameters: Sequence[nn.Parameter], world_size: int) -> None:
    """Every parameter's gradient averaged across ranks with one all-reduce of a
    flat buffer (a probed step, whose backward DDP's hooks did not see)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def sum_across(values: torch.Tensor) -> torch.Tensor:
    """values summed over every rank (one all-reduce); the same tensor on each."""
    dist.all_reduce(values)
    return values


def broadcast(value: Any) -> Any:
    """Rank 0's `value` on every rank (a picklable object)."""
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


# ---------------------------------------------------------------------- evaluation


def gather_evaluation(part: EvalReport, cluster: Cluster) -> EvalReport:
    """The test set's EvalReport from each rank's contiguous share of it: the
    per-sample arrays joined in rank order (the split's order), the rest derived
    from them as evaluate() derives it."""
    parts: list[Any] = [None] * cluster.world_size
    dist.all_gather_object(parts, part)
    return join_evaluations(parts)


def join_evaluations(parts: Sequence[EvalReport]) -> EvalReport:
    labels = np.concatenate([p.labels for p in parts])
    predictions = np.concatenate([p.predictions for p in parts])
    confidences = np.concatenate([p.confidences for p in parts])
    losses = np.concatenate([p.losses for p in parts])
    confusion = np.sum([p.confusion for p in parts], axis=0).astype(np.int64)
    return report_of(labels, predictions, confidences, losses, confusion, parts[0].classes)


# ---------------------------------------------------------------------- failures


@contextmanager
def raise_on_sigterm(cluster: Cluster) -> Iterator[None]:
    """SIGTERM (torchrun stopping the job because another rank ended) raised as a
    DistributedError in this rank, so its run is marked failed on the way out. A
    rank that began failing meanwhile (ignore_sigterm) keeps ignoring it after."""
    def on_term(signum: int, frame: Any) -> None:
        raise DistributedError(f"rank {cluster.rank}: stopped by torchrun (SIGTERM): "
                               f"another rank of the job ended; torchrun's summary names it")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is on_term:
            signal.signal(signal.SIGTERM, previous)


def ignore_sigterm() -> None:
    """From now on this process ignores SIGTERM: a rank that is failing is on its
    way out, and torchrun's SIGTERM (sent to every rank as soon as one ends) would
    cut the write of how its run ended, or kill it silently before it says why
    (seen once in ten runs: the default handler was back by the time it came).
    torchrun kills a rank still running after its grace period, so nothing hangs."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def explain_failure(exc: BaseException, cluster: Cluster) -> DistributedError | None:
    """A collective's error (a peer gone, a timeout) in words naming this rank;
    None for an error that is not the job's."""
    if isinstance(exc, DistributedError):
        return exc
    backend_error = getattr(dist, "DistBackendError", ())
    # gloo's own advice after its message ("This is typically caused by …") is cut.
    text = first_line(exc).split(" This is typically")[0]
    lowered = text.lower()
    if isinstance(exc, backend_error) or any(word in lowered for word in (
            "gloo", "nccl", "connection closed", "connection reset", "timed out",
            "timeout", "broken pipe", "peer")):
        why = ("a collective waited past --collective-timeout" if "time" in lowered
               else "another rank of the job is gone")
        return DistributedError(f"rank {cluster.rank}: {why} ({text}); torchrun's summary "
                                f"names the rank that failed")
    return None


