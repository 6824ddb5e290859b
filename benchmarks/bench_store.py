"""Cost of the run store: training LeNet on the digits with every run recorded
(metrics in SQLite, last.ckpt and best.ckpt, TensorBoard event files) against the
same run unrecorded.

    .venv/bin/python benchmarks/bench_store.py [--runs 9] [--epochs 10] [--probe-every N]

Both train the same config in this process, alternating store on / store off so
that machine noise hits both alike; each recorded run is created, recorded with the
CLI's intervals (metrics flushed every second, checkpoints at the first epoch, every
10 s and at the end) and finished, all inside the timed span. Printed:

- medians of --runs runs by CPU time (this process's threads; robust to other
  load, see common.Clock) and by wall time, and the median of each adjacent pair's
  ratio (robust to load that drifts during the benchmark);
- the recorder's own CPU time, measured inside each recorded run (its calls on the
  training thread, and any other thread of the process), as a share of that run:
  1 minus it is the ratio the store allows, free of run-to-run noise.

Target: recorded ≥ 0.98 × unrecorded.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from bench_training import report_ratio
from common import Clock, Timing, comparable_config, verdict

from netexplorer.core.data import load_dataset
from netexplorer.core.devices import apply_cpu_policy
from netexplorer.core.presets import get_preset
from netexplorer.core.reports import FinishedReport
from netexplorer.core.runs.recorder import RunRecorder
from netexplorer.core.trainers import new_trainer
from netexplorer.core.training import TrainConfig

TARGET_RATIO = 0.98


def run(spec, dataset, config: TrainConfig, folder: str | None,
        probe_every: int | None) -> tuple[Timing, int, float]:
    """(timing, training images, CPU seconds the recorder took)."""
    trainer = new_trainer(spec, dataset, config, probe_every=probe_every)
    spent = 0.0
    clock = Clock()
    main0 = time.thread_time()

    def timed(call, *args, **kwargs):
        nonlocal spent
        start = time.thread_time()
        result = call(*args, **kwargs)
        spent += time.thread_time() - start
        return result

    recorder = timed(RunRecorder.start, folder, trainer) if folder is not None else None
    finished = None
    for report in trainer.steps():
        if recorder is not None:
            timed(recorder.record, report)
        if isinstance(report, FinishedReport):
            finished = report
    if recorder is not None:
        accuracy = trainer.evaluation_of_current_weights().accuracy
        timed(recorder.finish, finished, test_accuracy=accuracy)
    timing = clock.stop()
    other_threads = max(0.0, timing.cpu - (time.thread_time() - main0))
    return timing, trainer.position.epoch * trainer.images_per_epoch, spent + other_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=10, help="epochs per run")
    parser.add_argument("--probe-every", type=int, default=None, metavar="N",
                        help="attach the probe, sampling every N steps (histograms then)")
    args = parser.parse_args()
    threads = apply_cpu_policy(interactive=False)
    spec = get_preset("lenet")
    dataset = load_dataset("digits", input_shape=spec.input_shape)
    config = comparable_config(args.epochs)
    probe = f", probe every {args.probe_every} steps" if args.probe_every else ""
    print(f"LeNet on digits, batch {config.batch_size}, report every {config.report_every} "
          f"steps, {threads} thread(s){probe}, {args.runs} runs of {args.epochs} epochs each way")
    rates: dict[str, dict[str, list[float]]] = {
        name: {"wall": [], "cpu": []} for name in ("store on", "store off")}
    shares: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
        run(spec, dataset, config, folder, args.probe_every)  # warm-up: imports, first writes
        for _ in range(args.runs):
            for name, where in (("store on", folder), ("store off", None)):
                timing, images, spent = run(spec, dataset, config, where, args.probe_every)
                rates[name]["wall"].append(images / timing.wall)
                rates[name]["cpu"].append(images / timing.cpu)
                if where is not None:
                    shares.append(spent / timing.cpu)
    report_ratio(rates, "store on", "store off", TARGET_RATIO)
    pairs = [a / b for a, b in zip(rates["store on"]["cpu"], rates["store off"]["cpu"])]
    paired = statistics.median(pairs)
    print(f"     median of paired cpu ratios {paired:.3f}")
    share = statistics.median(shares)
    print(f"recorder's own cpu in the recorded runs: {100 * share:.2f} % (runs: "
          f"{', '.join(f'{100 * s:.2f}' for s in shares)}) → ratio {1 - share:.3f}   "
          f"target ≥ {TARGET_RATIO}  {verdict(1 - share, TARGET_RATIO)}")


if __name__ == "__main__":
    main()
