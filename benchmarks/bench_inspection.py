"""Cost of the layer probe: training LeNet (batch 64, CPU) bare, with the probe
sampling every step, and every 10 steps; and its memory over a long run.

    .venv/bin/python benchmarks/bench_inspection.py [--runs 5] [--epochs 3]
        [--memory-steps 20000]

Throughput is the engine's own (with and without a probe). The verdicts come from
runs of the four variants interleaved ten steps at a time in one thread
(common.interleaved_cpu: the same machine load meets all four); a run's ratio is
the median over its rounds of the CPU times' ratio (common.paired_ratio), the
figure the median over runs. The same variants timed in separate runs,
one after another as before, are printed beside them: on a shared machine those
swing by more than the overheads measured. Targets (issue 18): every step ≥ 0.95
× bare, every 10 steps ≥ 0.995 × bare. "bare" is the engine as it trains, with
its per-step finite check of the gradients (the loss is always checked); that
check costs ≥ 0.99 × the engine without it. The probe's flushes are then timed in
whole runs, the probe keeping its steps up to FLUSH_EVERY_S (the default) and
flushing at every report: their CPU time per training step (no target; the
interleaved runs cannot show it). Memory: resident memory after
20,000 probed steps within 50 MB of that after 1,000.
"""

from __future__ import annotations

import argparse
import time

import torch
from bench_training import report_ratio
from common import (
    Clock,
    comparable_config,
    interleaved_cpu,
    median,
    report_paired,
    rss_mb,
    verdict,
)

from netexplorer.core.data import load_dataset
from netexplorer.core.devices import apply_cpu_policy
from netexplorer.core.inspection import Probe
from netexplorer.core.inspection.probe import FLUSH_EVERY_S
from netexplorer.core.presets import get_preset
from netexplorer.core.specs import build_model
from netexplorer.core.training import StepReport, TrainConfig, Trainer

TARGETS = {"every step": 0.95, "every 10 steps": 0.995}  # issue 18
FINITE_CHECK_TARGET = 0.99  # bare (checked every step) over the engine without the check
MEMORY_LIMIT_MB = 50.0


def trainer_for(spec, dataset, config: TrainConfig, every: int | None,
                check: bool = True) -> tuple[Trainer, Probe | None]:
    torch.manual_seed(config.seed)
    model = build_model(spec)
    probe = Probe(model, every=every) if every else None
    trainer = Trainer(model, dataset, config, probe=probe, spec=spec)
    trainer.check_gradients = check
    return trainer, probe


def run(spec, dataset, config: TrainConfig, every: int | None, check: bool = True):
    trainer, probe = trainer_for(spec, dataset, config, every, check)
    clock = Clock()
    for _ in trainer.steps():
        pass
    timing = clock.stop()
    if probe is not None:
        probe.detach()
    return timing, trainer.position.epoch * trainer.images_per_epoch


def memory_growth(spec, dataset, steps: int, early: int = 1000) -> tuple[float, float]:
    """RSS after `early` and after `steps` probed steps of one run."""
    config = comparable_config(steps * 16 // len(dataset.train) + 2, batch_size=16,
                               report_every=10)
    torch.manual_seed(0)
    model = build_model(spec)
    with Probe(model, every=1) as probe:
        trainer = Trainer(model, dataset, config, probe=probe, spec=spec)
        at_early = None
        for report in trainer.steps():
            if isinstance(report, StepReport):
                if at_early is None and report.step >= early:
                    at_early = rss_mb()
                if report.step >= steps:
                    trainer.control.stop()
        return at_early, rss_mb()


class _TimedProbe(Probe):
    """A Probe that adds up the training thread's CPU time in its flushes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.flush_seconds, self.flushes, self.calls = 0.0, 0, 0

    def flush(self, *args, **kwargs):
        started = time.thread_time()
        report = super().flush(*args, **kwargs)
        self.flush_seconds += time.thread_time() - started
        self.calls += 1
        self.flushes += bool(len(report.steps))
        return report


def flush_costs(spec, dataset, config: TrainConfig, every: int, runs: int) -> None:
    """The probe's flushes in whole runs, keeping its steps for FLUSH_EVERY_S (the
    default) or flushing at every report: the interleaved runs above cannot show the
    difference (another variant's steps pass between two reports of one)."""
    results: dict[float, list[tuple[float, int, int, int]]] = {FLUSH_EVERY_S: [], 0.0: []}
    for round_ in range(runs):
        for keep in (FLUSH_EVERY_S, 0.0) if round_ % 2 == 0 else (0.0, FLUSH_EVERY_S):
            torch.manual_seed(config.seed)
            model = build_model(spec)
            probe = _TimedProbe(model, every=every, flush_every_s=keep)
            trainer = Trainer(model, dataset, config, probe=probe, spec=spec)
            for _ in trainer.steps():
                pass
            probe.detach()
            results[keep].append((probe.flush_seconds, probe.calls, probe.flushes,
                                  trainer.position.step))
    for keep, rows in results.items():
        seconds = median(row[0] for row in rows)
        _, reports, flushes, steps = rows[0]
        how = f"kept up to {keep} s" if keep else "flushed every report"
        print(f"   probe every {every} step(s), {how}: {flushes} flushes for {reports} "
              f"reports, {seconds / steps * 1e6:.0f} µs of flush per training step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--memory-steps", type=int, default=20_000)
    args = parser.parse_args()
    threads = apply_cpu_policy(interactive=False)
    spec = get_preset("lenet")
    dataset = load_dataset("digits", input_shape=spec.input_shape)
    config = comparable_config(args.epochs)
    print(f"LeNet on digits, batch {config.batch_size}, {threads} thread(s), {args.runs} runs "
          f"of {args.epochs} epochs each")
    variants = {"bare": (None, True), "no finite check": (None, False),
                "every step": (1, True), "every 10 steps": (10, True)}
    spent: dict[str, list[list[float]]] = {name: [] for name in variants}
    rates = {name: {"wall": [], "cpu": []} for name in variants}
    for _ in range(args.runs):
        built = {name: trainer_for(spec, dataset, config, every, check)
                 for name, (every, check) in variants.items()}
        for name, seconds in interleaved_cpu({name: trainer.steps() for name, (trainer, _)
                                              in built.items()}).items():
            spent[name].append(seconds)
        for _, probe in built.values():
            if probe is not None:
                probe.detach()
        for name, (every, check) in variants.items():  # the same, one run after another
            timing, images = run(spec, dataset, config, every, check)
            rates[name]["wall"].append(images / timing.wall)
            rates[name]["cpu"].append(images / timing.cpu)
    images = config.epochs * len(dataset.train)
    print(f"\ninterleaved ten steps at a time ({images:,} images per variant and run):")
    print("   " + ", ".join(f"{name} {images / median(map(sum, spent[name])):,.0f} img/s"
                            for name in variants) + " (CPU time, medians)")
    paired = [("finite check of every step's gradients", "bare", "no finite check",
               FINITE_CHECK_TARGET)] + [(f"probe {name}", name, "bare", target)
                                        for name, target in TARGETS.items()]
    for title, name, baseline, target in paired:
        report_paired(f"{title} ({name} / {baseline})", spent[name], spent[baseline], target)
    print("\nthe same variants in separate runs, one after another (no verdict: see above):")
    for title, name, baseline, _ in paired:
        print(f"{title}:")
        report_ratio(rates, name, baseline, None)
    print(f"\nthe probe's flushes in whole runs (CPU time in flush, median of {args.runs}):")
    for every in (1, 10):
        flush_costs(spec, dataset, config, every, args.runs)
    if args.memory_steps:
        early, late = memory_growth(spec, dataset, args.memory_steps)
        growth = late - early
        print(f"memory: {early:.1f} MB after 1,000 probed steps, {late:.1f} MB after "
              f"{args.memory_steps:,}: +{growth:.1f} MB (limit {MEMORY_LIMIT_MB:.0f} MB)  "
              f"{verdict(growth, MEMORY_LIMIT_MB, higher_is_better=False)}")


if __name__ == "__main__":
    main()
