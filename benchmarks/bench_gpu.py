"""GPU readiness: images/s of LeNet and cifar-vgg on a CUDA GPU — a bare loop, the
engine, the engine with the probe every 10 steps — and the host synchronisations
the engine makes per report.

    .venv/bin/python benchmarks/bench_gpu.py [--runs 3] [--epochs 2] [--images 10000]

Every variant trains on the same random images and labels, made once and resident
on the device (so no host-to-device copy of data is timed), with the same batch,
optimizer and constant learning rate, no augmentation (benchmarks/common's
comparable_config); the bare loop is benchmarks/common.bare_loop. Each run is
timed by the wall clock and ends with torch.cuda.synchronize(); the variants
alternate so that noise hits all alike, after one untimed warm-up run each
(CUDA's lazy initialisation, cuDNN's algorithm search). Figures are medians.

Host synchronisations are counted in one more run of each engine variant, and of
the default recipe (random shift 2 px, cosine schedule), with
torch.cuda.set_sync_debug_mode("warn"): every synchronising call warns, from the
Python line that made it; the count over the whole run (epoch-end evaluations
included) is divided by the run's StepReports, and the lines that synchronise
most are printed.

Targets (issue 18): engine and probe every 10 steps ≥ 0.97 × bare; ≤ 1 host
synchronisation per report. Without a CUDA GPU it says so in one line and exits 0.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import bare_loop, comparable_config, median, verdict

from netexplorer.core.data import Dataset, Normalization, Split
from netexplorer.core.inspection import Probe
from netexplorer.core.presets import get_preset
from netexplorer.core.reports import StepReport
from netexplorer.core.specs import ModelSpec, build_model
from netexplorer.core.train_config import TrainConfig
from netexplorer.core.training import Trainer

MODELS = ("lenet", "cifar-vgg")
TARGET_RATIO = 0.97
TARGET_SYNCS_PER_REPORT = 1.0
PROBE_EVERY = 10
CLASSES = 10


@dataclass(frozen=True)
class Syncs:
    """Host synchronisations of one run: how many, per report, and where."""

    count: int
    reports: int
    where: tuple[tuple[str, int], ...]  # (file:line, count), most first

    @property
    def per_report(self) -> float:
        return self.count / max(1, self.reports)


def resident_dataset(spec: ModelSpec, device: torch.device, n_train: int) -> Dataset:
    """Random images of the model's input shape and random labels, on `device`."""
    c, h, w = spec.input_shape
    generator = torch.Generator().manual_seed(0)

    def split(n: int) -> Split:
        labels = torch.randint(0, CLASSES, (n,), generator=generator)
        images = torch.randn(n, c, h, w, generator=generator)
        return Split(images.to(device), labels.to(device),
                     torch.zeros((n, c, h, w), dtype=torch.uint8))

    return Dataset("random", split(n_train), split(max(1, n_train // 5)),
                   tuple(str(i) for i in range(CLASSES)),
                   Normalization((0.0,) * c, (1.0,) * c), (c, h, w), (c, h, w),
                   "random tensors resident on the device")


def engine(spec: ModelSpec, dataset: Dataset, config: TrainConfig,
           probe_every: int | None) -> Callable[[], int]:
    """A prepared engine run (model, probe and trainer built); calling it trains and
    returns the number of StepReports."""
    torch.manual_seed(config.seed)
    model = build_model(spec)
    probe = Probe(model, every=probe_every) if probe_every else None
    trainer = Trainer(model, dataset, config, probe=probe, spec=spec)

    def run() -> int:
        reports = sum(isinstance(r, StepReport) for r in trainer.steps())
        if probe is not None:
            probe.detach()
        return reports

    return run


def timed_engine(spec, dataset, config, probe_every) -> float:
    """Images per second of one engine run, by the wall clock, the GPU drained."""
    run = engine(spec, dataset, config, probe_every)
    torch.cuda.synchronize()
    start = time.perf_counter()
    run()
    torch.cuda.synchronize()
    return config.epochs * len(dataset.train) / (time.perf_counter() - start)


def timed_bare(spec, dataset, config) -> float:
    timing, images = bare_loop(spec, dataset, epochs=config.epochs,
                               batch_size=config.batch_size, lr=config.lr,
                               momentum=config.momentum, seed=config.seed,
                               device=str(dataset.train.images.device))
    return images / timing.wall


def count_syncs(run: Callable[[], int]) -> Syncs:
    """Run with every synchronising CUDA call reported as a warning, and count them."""
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # the default filter would keep one per line
        torch.cuda.set_sync_debug_mode("warn")
        try:
            reports = run()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    where = collections.Counter(f"{Path(w.filename).name}:{w.lineno}" for w in syncs)
    return Syncs(len(syncs), reports, tuple(where.most_common(3)))


def measure(name: str, device: torch.device, args: argparse.Namespace) -> bool:
    """Print one model's figures; True if every target is met."""
    spec = get_preset(name)
    dataset = resident_dataset(spec, device, args.images)
    config = comparable_config(args.epochs, device=str(device), batch_size=args.batch_size)
    variants: dict[str, Callable[[], float]] = {
        "bare": lambda: timed_bare(spec, dataset, config),
        "engine": lambda: timed_engine(spec, dataset, config, None),
        f"probe every {PROBE_EVERY}": lambda: timed_engine(spec, dataset, config, PROBE_EVERY),
    }
    for run in variants.values():  # warm-up, untimed
        run()
    rates: dict[str, list[float]] = {variant: [] for variant in variants}
    for _ in range(args.runs):
        for variant, run in variants.items():
            rates[variant].append(run())
    bare = median(rates["bare"])
    print(f"{name} ({'×'.join(map(str, spec.input_shape))}), batch {config.batch_size}, "
          f"{args.images:,} images × {args.epochs} epochs, medians of {args.runs} runs:")
    print(f"  bare                 {bare:10,.0f} img/s   runs {[round(r) for r in rates['bare']]}")
    ok = True
    for variant in list(variants)[1:]:
        rate = median(rates[variant])
        ok &= rate / bare >= TARGET_RATIO
        print(f"  {variant:<20} {rate:10,.0f} img/s   ratio {rate / bare:.3f}   "
              f"target ≥ {TARGET_RATIO}  {verdict(rate / bare, TARGET_RATIO)}   "
              f"runs {[round(r) for r in rates[variant]]}")
    recipe = TrainConfig(device=str(device), epochs=args.epochs, batch_size=args.batch_size)
    for variant, run in (("engine", engine(spec, dataset, config, None)),
                         (f"probe every {PROBE_EVERY}",
                          engine(spec, dataset, config, PROBE_EVERY)),
                         (f"default recipe (shift {recipe.augment_shift} px, "
                          f"{recipe.schedule})", engine(spec, dataset, recipe, None))):
        syncs = count_syncs(run)
        ok &= syncs.per_report <= TARGET_SYNCS_PER_REPORT
        places = ", ".join(f"{place} ×{n}" for place, n in syncs.where) or "none"
        print(f"  host syncs, {variant}: {syncs.count} in {syncs.reports} reports = "
              f"{syncs.per_report:.2f} per report   target ≤ {TARGET_SYNCS_PER_REPORT:.0f}  "
              f"{verdict(syncs.per_report, TARGET_SYNCS_PER_REPORT, higher_is_better=False)}"
              f"   most from: {places}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run")
    parser.add_argument("--images", type=int, default=10_000, help="training images")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cuda", help="a CUDA device, e.g. cuda:1")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA GPU here (torch.cuda.is_available() is False), "
              "nothing to measure")
        return 0
    device = torch.device(args.device)
    torch.cuda.set_device(device)
    print(f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}; the machine may be shared: figures are medians")
    ok = True
    for name in MODELS:
        ok &= measure(name, device, args)
    print("all targets met" if ok else "some targets not met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
