"""Shared pieces of the benchmarks: the bare PyTorch loop every ratio is measured
against, medians, and resident memory. Timings on shared machines are noisy, so
every figure is a median of several runs, and every target is a ratio against a
baseline measured in the same run."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netexplorer.core.data import Dataset
from netexplorer.core.specs import ModelSpec, build_model


def bare_loop(spec: ModelSpec, dataset: Dataset, *, epochs: int, batch_size: int, lr: float,
              momentum: float, seed: int = 0, device: str = "cpu") -> tuple[Timing, int]:
    """The plain loop a person would write (bare_steps, run through).
    Returns (Timing, training images seen)."""
    clock = Clock()
    *_, seen = bare_steps(spec, dataset, epochs=epochs, batch_size=batch_size, lr=lr,
                          momentum=momentum, seed=seed, device=device)
    if device != "cpu":
        torch.cuda.synchronize()
    return clock.stop(), seen


def bare_steps(spec: ModelSpec, dataset: Dataset, *, epochs: int, batch_size: int, lr: float,
               momentum: float, seed: int = 0, device: str = "cpu",
               every: int = 10) -> Iterator[int]:
    """The plain loop a person would write: in-memory tensors, index a shuffled
    permutation, SGD with momentum, test accuracy after each epoch. Yields the
    training images seen so far where a Trainer's steps() yields reports (every
    `every` steps of an epoch, at its last step, after its test), so that
    interleaved_cpu can pair it with one."""
    torch.manual_seed(seed)
    model = build_model(spec).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    generator = torch.Generator().manual_seed(seed)
    x, y = dataset.train.images.to(device), dataset.train.labels.to(device)
    tx, ty = dataset.test.images.to(device), dataset.test.labels.to(device)
    seen = 0
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=generator).to(device)
        starts = range(0, len(y), batch_size)
        for step, i in enumerate(starts, 1):
            idx = order[i:i + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            seen += len(idx)
            if step % every == 0 or step == len(starts):  # where a Trainer reports
                yield seen
        model.eval()
        with torch.no_grad():
            float((model(tx).argmax(1) == ty).float().mean())
        yield seen


class Clock:
    """Wall time and this process's CPU time of a stretch of work.

    On a shared machine the wall clock also counts other processes' load; CPU
    time counts only our own work, so ratios of CPU time measure the engine's
    overhead robustly (with one intra-op thread they are the same quantity).
    """

    def __init__(self) -> None:
        self.wall0 = time.perf_counter()
        self.cpu0 = time.process_time()

    def stop(self) -> Timing:
        return Timing(time.perf_counter() - self.wall0, time.process_time() - self.cpu0)


class Timing:
    def __init__(self, wall: float, cpu: float) -> None:
        self.wall = wall
        self.cpu = cpu


def comparable_config(epochs: int, **changes):
    """The engine's TrainConfig that does what bare_loop does: SGD at a constant
    learning rate, no augmentation, CPU — so a ratio compares like with like."""
    from netexplorer.core.train_config import TrainConfig

    settings = {"device": "cpu", "schedule": "none", "augment_shift": 0, **changes}
    return TrainConfig(epochs=epochs, **settings)


def median(values) -> float:
    return statistics.median(values)


def rss_mb() -> float:
    """Resident memory of this process now (Linux), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "OK" if ok else "BELOW TARGET" if higher_is_better else "ABOVE TARGET"


def interleaved_cpu(streams: dict[str, Iterator[Any]]) -> dict[str, list[float]]:
    """This thread's CPU seconds of each item of each stream, the streams advanced
    in turn, one item each per round (a trainer's steps() yields a report every
    report_every steps, bare_steps at the same places), the order reversed every
    round. A stream's list holds its items' times in order; the round after it
    ran out is not in it.

    On this shared machine the same run's speed swings by ±20 % from one run to
    the next, and within a run from one second to the next (other tenants' load
    changes the speed of every instruction, which CPU time counts too), so two
    variants timed in separate runs differ by more than the overheads measured.
    Interleaved at ten steps, the variants of one round meet the same load;
    paired_ratio compares them round by round."""
    left = dict(streams)
    spent: dict[str, list[float]] = {name: [] for name in streams}
    forward = True
    while left:
        for name in list(left) if forward else list(reversed(left)):
            start = time.thread_time()
            try:
                next(left[name])
            except StopIteration:
                del left[name]
                continue
            spent[name].append(time.thread_time() - start)
        forward = not forward
    return spent


def paired_ratio(variant: list[float], baseline: list[float]) -> float:
    """The variant's throughput over the baseline's: the median, over the rounds both
    ran, of baseline time / variant time for the same work. A burst of other load
    skews the rounds it hits, not the median (two identical trainers read
    1.00 ± 0.01 this way where their totals read 0.90-1.10)."""
    ratios = [b / a for a, b in zip(variant, baseline) if a > 0 and b > 0]
    return statistics.median(ratios)


def report_paired(title: str, variant: list[list[float]], baseline: list[list[float]],
                  target: float) -> None:
    """Print the median over runs of each run's paired_ratio (`variant` and
    `baseline`: each run's interleaved_cpu times), its verdict and the runs'."""
    ratios = [paired_ratio(a, b) for a, b in zip(variant, baseline, strict=True)]
    print(f"   {title}: ratio {median(ratios):.3f}   target ≥ {target}  "
          f"{verdict(median(ratios), target)}   runs {[round(r, 3) for r in ratios]}")
