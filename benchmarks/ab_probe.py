"""The probe's cost in two source trees, measured against each other: paired and
interleaved, so that two versions of the probe compare on the same machine load.

    .venv/bin/python benchmarks/ab_probe.py BEFORE_TREE AFTER_TREE [--rounds 7]
        [--pairs 3] [--epochs 2] [--every 1]

Each round runs both trees (the order alternating round by round), each in its
own process with that tree first on the path: the process trains LeNet on the
digits (batch 64, one thread) `pairs` times bare and `pairs` times with a probe,
alternating, and reports CPU times. A round's figure per tree is bare / probed
throughput (its pairs' medians) and the probe's CPU time per step; the verdict
is the medians over rounds and the median of the rounds' paired differences
(a shared machine's load moves both trees of a round alike). Make BEFORE_TREE
with `git worktree add --detach /tmp/before <commit>`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path


def worker(pairs: int, epochs: int, every: int) -> None:
    """In a tree's process: `pairs` bare and probed runs, alternating; prints JSON."""
    import torch

    from netexplorer.core.data import load_dataset
    from netexplorer.core.devices import apply_cpu_policy
    from netexplorer.core.inspection import Probe
    from netexplorer.core.presets import get_preset
    from netexplorer.core.specs import build_model
    from netexplorer.core.training import Trainer

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import Clock, comparable_config

    apply_cpu_policy(interactive=False)
    spec = get_preset("lenet")
    dataset = load_dataset("digits", input_shape=spec.input_shape)
    config = comparable_config(epochs)

    def run(probed: bool) -> tuple[float, int]:
        torch.manual_seed(config.seed)
        model = build_model(spec)
        probe = Probe(model, every=every) if probed else None
        trainer = Trainer(model, dataset, config, probe=probe, spec=spec)
        clock = Clock()
        for _ in trainer.steps():
            pass
        cpu = clock.stop().cpu
        if probe is not None:
            probe.detach()
        return cpu, trainer.position.step

    run(True)  # warm up: first calls, allocator
    bare, probed, steps = [], [], 0
    for _ in range(pairs):
        cpu, steps = run(False)
        bare.append(cpu)
        probed.append(run(True)[0])
    print(json.dumps({"bare": bare, "probed": probed, "steps": steps}))


def measure(tree: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ, PYTHONPATH=tree, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__, "--worker", "--pairs", str(args.pairs),
                          "--epochs", str(args.epochs), "--every", str(args.every)],
                         env=env, cwd=tree, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    bare, probed = statistics.median(result["bare"]), statistics.median(result["probed"])
    return {"ratio": bare / probed, "ms": 1000 * (probed - bare) / result["steps"],
            "bare_ms": 1000 * bare / result["steps"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--worker", action="store_true")
    args = parser.parse_args()
    if args.worker:
        worker(args.pairs, args.epochs, args.every)
        return
    before, after = args.trees
    results: dict[str, list[dict]] = {before: [], after: []}
    for round_ in range(args.rounds):
        order = (before, after) if round_ % 2 == 0 else (after, before)
        for tree in order:
            results[tree].append(measure(tree, args))
        b, a = results[before][-1], results[after][-1]
        print(f"round {round_ + 1}: before {b['ratio']:.3f} ({b['ms']:+.2f} ms/step), "
              f"after {a['ratio']:.3f} ({a['ms']:+.2f} ms/step), bare step "
              f"{b['bare_ms']:.1f} / {a['bare_ms']:.1f} ms", flush=True)
    for name, tree in (("before", before), ("after", after)):
        rounds = results[tree]
        print(f"{name} ({tree}): probed / bare throughput, median "
              f"{statistics.median(r['ratio'] for r in rounds):.3f} "
              f"(range {min(r['ratio'] for r in rounds):.3f}–"
              f"{max(r['ratio'] for r in rounds):.3f}); probe cost median "
              f"{statistics.median(r['ms'] for r in rounds):.2f} ms/step")
    diffs = [a["ratio"] - b["ratio"] for a, b in zip(results[after], results[before])]
    costs = [a["ms"] - b["ms"] for a, b in zip(results[after], results[before])]
    print(f"after − before, paired by round: ratio {statistics.median(diffs):+.3f} "
          f"(range {min(diffs):+.3f}…{max(diffs):+.3f}), probe cost "
          f"{statistics.median(costs):+.2f} ms/step")


if __name__ == "__main__":
    main()
