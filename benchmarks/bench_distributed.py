"""What torchrun buys on one machine: `netexplorer train` as 2 processes × 1 thread
(DistributedDataParallel, gloo) against 1 process × 2 threads, for LeNet and
cifar-vgg on the bundled digits (resized to each model's input, so it runs
offline); with --gpu, one rank per GPU (nccl) against one process on one GPU,
and the per-step cost of the gradient all-reduce.

    .venv/bin/python benchmarks/bench_distributed.py [--epochs 2] [--models lenet cifar-vgg]
    .venv/bin/python benchmarks/bench_distributed.py --gpu

Each configuration is a real `netexplorer train` subprocess (torchrun through
`python -m torch.distributed.run`); the figure compared is the run's training
throughput from --metrics-json (global images per second of training time, so
start-up and data loading are left out). Printed: images/s of each and the ratio
distributed / single.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def train(model: str, epochs: int, *, ranks: int | None, threads: int, device: str,
          batch: int) -> float:
    """Training images per second of one `netexplorer train` run."""
    with tempfile.TemporaryDirectory() as folder:
        metrics = Path(folder) / "metrics.json"
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    "--nproc-per-node", str(ranks)] if ranks else [sys.executable]
        command = [*launcher, "-m", "netexplorer", "train", "--model", model, "--dataset",
                   "digits", "--epochs", str(epochs), "--batch-size", str(batch),
                   "--schedule", "none", "--lr", "0.02", "--device", device, "--no-store",
                   "--metrics-json", str(metrics)]
        env = dict(os.environ, NETEXPLORER_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
        if done.returncode not in (0, 3):  # 3: completed without learning (few epochs)
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
        return float(json.loads(metrics.read_text())["images_per_second"])


def allreduce_worker(parameters: int, steps: int) -> None:
    """Under torchrun: the median time of one all-reduce of a model's gradients
    (one flat float32 buffer), printed by rank 0."""
    import torch
    import torch.distributed as dist

    local = int(os.environ["LOCAL_RANK"])
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if cuda else "gloo")
    buffer = torch.ones(parameters, device=f"cuda:{local}" if cuda else "cpu")
    times = []
    for _ in range(steps + 5):
        if cuda:
            torch.cuda.synchronize()
        began = time.perf_counter()
        dist.all_reduce(buffer)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    if dist.get_rank() == 0:
        print(json.dumps({"seconds": statistics.median(times[5:])}))
    dist.destroy_process_group()


def allreduce_seconds(model: str, ranks: int) -> float:
    from netexplorer.core.presets import get_preset
    from netexplorer.core.specs import summarize

    parameters = summarize(get_preset(model)).total_params
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc-per-node", str(ranks), __file__, "--allreduce-worker",
                           str(parameters)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"the all-reduce benchmark failed:\n{done.stderr[-2000:]}")
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    return float(json.loads(line)["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lenet", "cifar-vgg"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--gpu", action="store_true", help="one rank per GPU (nccl)")
    parser.add_argument("--allreduce-worker", type=int, metavar="PARAMETERS",
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.allreduce_worker:
        allreduce_worker(args.allreduce_worker, steps=50)
        return
    if args.gpu:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if gpus == 0:
            raise SystemExit("bench_distributed --gpu: no CUDA GPU on this machine; the CPU "
                             "comparison runs without --gpu")
        print(f"{gpus} GPU(s): {gpus} ranks (nccl, one per GPU) vs 1 process on cuda:0")
        for model in args.models:
            single = train(model, args.epochs, ranks=None, threads=4, device="cuda",
                           batch=args.batch_size)
            spread = train(model, args.epochs, ranks=gpus, threads=4, device="cuda",
                           batch=args.batch_size * gpus)
            reduce = allreduce_seconds(model, gpus) if gpus > 1 else 0.0
            print(f"{model:<10} 1 GPU {single:>10,.0f} img/s   {gpus} GPUs {spread:>10,.0f} "
                  f"img/s   ratio {spread / single:.2f}   all-reduce {1e3 * reduce:.3f} ms/step")
        return
    print("digits, CPU: 2 processes × 1 thread (DDP, gloo) vs 1 process × 2 threads, "
          f"global batch {args.batch_size}, {args.epochs} epochs")
    for model in args.models:
        single = train(model, args.epochs, ranks=None, threads=2, device="cpu",
                       batch=args.batch_size)
        spread = train(model, args.epochs, ranks=2, threads=1, device="cpu",
                       batch=args.batch_size)
        reduce = allreduce_seconds(model, 2)
        print(f"{model:<10} 1×2 {single:>8,.0f} img/s   2×1 {spread:>8,.0f} img/s   "
              f"ratio {spread / single:.2f}   all-reduce {1e3 * reduce:.2f} ms/step")


if __name__ == "__main__":
    main()
