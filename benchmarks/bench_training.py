"""Engine throughput against a bare PyTorch loop, and time to 97 % on digits.

    .venv/bin/python benchmarks/bench_training.py [--runs 5] [--epochs 3]

Both loops train LeNet on the bundled digits with the same batch size, optimizer,
thread count and in-memory data, and both compute test accuracy after each epoch;
the engine also reports, snapshots for divergence recovery and checks controls.
Runs alternate engine/bare so that machine noise hits both alike. Target:
engine ≥ 0.97 × bare.
"""

from __future__ import annotations

import argparse
import time

import torch
from common import Clock, Timing, bare_loop, comparable_config, median, verdict

from netexplorer.core.data import load_dataset
from netexplorer.core.devices import apply_cpu_policy
from netexplorer.core.presets import get_preset
from netexplorer.core.training import EpochReport, TrainConfig, Trainer

TARGET_RATIO = 0.97


def engine_run(spec, dataset, config: TrainConfig) -> tuple[Timing, int]:
    trainer = Trainer(spec, dataset, config)
    clock = Clock()
    for _ in trainer.steps():
        pass
    return clock.stop(), trainer.position.epoch * trainer.images_per_epoch


def report_ratio(rates: dict, name: str, baseline: str, target: float) -> None:
    """Print medians by wall and by CPU time, and the CPU-time ratio against target."""
    for clock in ("cpu", "wall"):
        a, b = median(rates[name][clock]), median(rates[baseline][clock])
        print(f"{clock:>4} time: {name} {a:8,.0f} img/s, {baseline} {b:8,.0f} img/s, "
              f"ratio {a / b:.3f}" + (f"   target ≥ {target}  {verdict(a / b, target)}"
                                      if clock == "cpu" else "   (noisy on a shared machine)"))
    print(f"     runs (cpu img/s): {name} {[round(r) for r in rates[name]['cpu']]}, "
          f"{baseline} {[round(r) for r in rates[baseline]['cpu']]}")


def time_to_accuracy(run, target: float, limit_s: float) -> tuple[float | None, int, float]:
    """(seconds until test accuracy ≥ target or None, epochs run, best accuracy)."""
    start = time.perf_counter()
    best, epochs = 0.0, 0
    for accuracy in run():
        epochs += 1
        best = max(best, accuracy)
        elapsed = time.perf_counter() - start
        if accuracy >= target:
            return elapsed, epochs, best
        if elapsed > limit_s:
            break
    return None, epochs, best


def engine_accuracies(spec, dataset, config):
    for report in Trainer(spec, dataset, config).steps():
        if isinstance(report, EpochReport):
            yield report.test_accuracy


def tutorial_accuracies(spec, dataset, epochs: int):
    """The tutorial's recipe: DataLoader(batch 4, shuffle, 2 workers), SGD lr 0.001,
    momentum 0.9, cross-entropy."""
    from torch.utils.data import DataLoader, TensorDataset

    from netexplorer.core.specs import build_model

    torch.manual_seed(0)
    model = build_model(spec)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    loader = DataLoader(TensorDataset(dataset.train.images, dataset.train.labels), batch_size=4,
                        shuffle=True, num_workers=2)
    criterion = torch.nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            yield float((model(dataset.test.images).argmax(1) == dataset.test.labels)
                        .float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per throughput run")
    parser.add_argument("--limit", type=float, default=120.0,
                        help="seconds before giving up on reaching 97 %%")
    args = parser.parse_args()
    threads = apply_cpu_policy(interactive=False)
    spec = get_preset("lenet")
    dataset = load_dataset("digits", input_shape=spec.input_shape)
    base = comparable_config(args.epochs)
    print(f"LeNet on digits, batch {base.batch_size}, SGD lr {base.lr} momentum "
          f"{base.momentum}, {threads} thread(s), {args.runs} runs of {args.epochs} epochs")
    rates: dict[str, dict[str, list[float]]] = {
        name: {"wall": [], "cpu": []} for name in ("engine", "bare")}
    for _ in range(args.runs):
        for name, run in (("engine", lambda: engine_run(spec, dataset, base)),
                          ("bare", lambda: bare_loop(spec, dataset, epochs=args.epochs,
                                                     batch_size=base.batch_size, lr=base.lr,
                                                     momentum=base.momentum))):
            timing, images = run()
            rates[name]["wall"].append(images / timing.wall)
            rates[name]["cpu"].append(images / timing.cpu)
    report_ratio(rates, "engine", "bare", TARGET_RATIO)

    default = TrainConfig(device="cpu")
    seconds, epochs, best = time_to_accuracy(
        lambda: engine_accuracies(spec, dataset, default), 0.97, args.limit)
    shown = f"{seconds:.1f} s ({epochs} epochs)" if seconds is not None else \
        f"not reached in {epochs} epochs (best {100 * best:.1f} %)"
    print(f"time to 97 % with the default config: {shown}")
    seconds, epochs, best = time_to_accuracy(
        lambda: tutorial_accuracies(spec, dataset, 30), 0.97, args.limit)
    shown = f"{seconds:.1f} s ({epochs} epochs)" if seconds is not None else \
        f"not reached in {epochs} epochs, {args.limit:.0f} s limit (best {100 * best:.1f} %)"
    print(f"time to 97 % with the tutorial's recipe (batch 4, DataLoader, 2 workers, "
          f"lr 0.001): {shown}")


if __name__ == "__main__":
    main()
