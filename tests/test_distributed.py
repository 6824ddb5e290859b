"""`netexplorer train` under a real torchrun (python -m torch.distributed.run, gloo,
localhost): the same steps as one process, one run written, and a killed rank
ending the job with the run marked failed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from netexplorer.core.distributed import join_evaluations, loss_weight, share_bounds
from netexplorer.core.inspection import STATS
from netexplorer.core.runs.store import RunStore

# The command, at a learning rate where training is not chaotic: the ranks
# sum a batch's gradient in another order than one process (1e-7 apart per step),
# and at lr 0.05 the loss spike of digits' first epoch grows that to 1e-2.
TRAIN = ["train", "--model", "lenet", "--dataset", "digits", "--batch-size", "64",
         "--schedule", "none", "--lr", "0.02"]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", NETEXPLORER_THREADS="1")
    env.pop("RANK", None)
    return env


def _netexplorer(*args: str, ranks: int | None = None) -> list[str]:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc-per-node", str(ranks), "--monitor-interval", "0.1"] if ranks else \
        [sys.executable]
    return [*launcher, "-m", "netexplorer", *args]


def test_shares_cover_a_batch_in_order():
    for size in (1, 5, 64, 65):
        bounds = [share_bounds(size, 3, rank) for rank in range(3)]
        assert bounds[0][0] == 0 and bounds[-1][1] == size
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        assert sum(loss_weight(b - a, size, 3) for a, b in bounds) == pytest.approx(3)


def test_evaluation_parts_join_into_the_whole():
    import torch

    from netexplorer.core.data import Split
    from netexplorer.core.evaluation import evaluate

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    split = Split(torch.randn(11, 1, 2, 2), torch.randint(0, 3, (11,)),
                  torch.zeros(11, 1, 2, 2, dtype=torch.uint8))
    whole = evaluate(model, split, classes=("a", "b", "c"))
    parts = [evaluate(model, Split(split.images[a:b], split.labels[a:b],
                                   split.originals[a:b]), classes=("a", "b", "c"))
             for a, b in (share_bounds(11, 2, r) for r in range(2))]
    joined = join_evaluations(parts)
    assert joined.accuracy == whole.accuracy
    assert joined.loss == pytest.approx(whole.loss, rel=1e-6)
    assert (joined.confusion == whole.confusion).all()
    assert (joined.predictions == whole.predictions).all()


def _one_process_and_two_ranks(tmp_path: Path, *args: str
                               ) -> tuple[dict, dict, subprocess.CompletedProcess, Path]:
    """The same `train` as one process (not recorded) and as two torchrun ranks
    (recorded in tmp_path/runs): both metrics files, the ranks' output, the runs
    folder. Both per-epoch training losses must agree within 1e-4 and the test
    accuracies exactly."""
    common = [*TRAIN, *args]
    one = subprocess.run(_netexplorer(*common, "--no-store", "--metrics-json",
                                      str(tmp_path / "one.json")),
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    runs = tmp_path / "runs"
    two = subprocess.run(_netexplorer(*common, "--runs-dir", str(runs), "--metrics-json",
                                      str(tmp_path / "two.json"), ranks=2),
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr
    a = json.loads((tmp_path / "one.json").read_text())
    b = json.loads((tmp_path / "two.json").read_text())
    assert len(a["epochs"]) == len(b["epochs"])
    for x, y in zip(a["epochs"], b["epochs"]):
        assert y["train_loss"] == pytest.approx(x["train_loss"], rel=1e-4)
    assert b["test_accuracy"] == a["test_accuracy"]
    return a, b, two, runs


def test_a_failing_rank_ignores_sigterm_until_it_exits():
    """torchrun sends SIGTERM to every rank once one ends. A rank already failing
    ignores it from then on, also after raise_on_sigterm's block: restoring the
    default there let a SIGTERM kill rank 0 before it printed why (1 run in 10)."""
    from netexplorer.core.distributed import Cluster, ignore_sigterm, raise_on_sigterm

    cluster = Cluster(0, 2, 0, 2, "gloo", torch.device("cpu"))
    before = signal.getsignal(signal.SIGTERM)
    try:
        with raise_on_sigterm(cluster):
            assert signal.getsignal(signal.SIGTERM) not in (before, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGTERM) is before  # a rank that ended well
        with raise_on_sigterm(cluster):
            ignore_sigterm()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before)


@pytest.mark.slow
def test_two_ranks_take_the_steps_of_one_process_with_the_probe_on_rank_0(tmp_path):
    """Same seed and global batch: per-epoch training losses within 1e-4 and the
    same test accuracy, with shift augmentation on (drawn for the global batch)
    and --probe-every: rank 0 samples layers on its share of a step, and on those
    steps every rank syncs its gradients with one explicit all-reduce instead of
    DDP's hooks, so both ways of syncing are in the steps compared. One run is
    written, by rank 0 alone, with its samples every 5th step. (One torchrun job
    checks both: each job starts three Pythons that import torch, the suite's
    largest fixed cost.)"""
    a, _, two, runs = _one_process_and_two_ranks(tmp_path, "--epochs", "2",
                                                 "--augment-shift", "2", "--probe-every", "5")
    assert "× 2 ranks (gloo)" in two.stdout
    assert two.stdout.count("Accuracy of the network") == 1  # rank 0 alone prints
    assert len(a["epochs"]) == 2
    with RunStore(runs) as store:
        (run,) = store.list_runs()
        layers, steps, stats = store.probe_history(run.id)
    assert run.status == "completed" and run.epochs == 2
    assert len([p for p in runs.iterdir() if p.is_dir()]) == 1
    assert [layer["name"] for layer in layers][:2] == ["conv1", "relu1"]
    assert run.steps == 2 * 23  # 1,438 training images in batches of 64: 23 steps an epoch
    assert steps.tolist() == list(range(0, run.steps, 5))
    assert stats.shape == (len(steps), len(STATS), len(layers))
    for measured in ("act_norm", "grad_norm"):  # forward and backward both sampled
        assert np.isfinite(stats[:, STATS.index(measured)]).all(), measured


def _rank_pid(launcher: subprocess.Popen, rank: int) -> int | None:
    """The pid of the torchrun worker whose RANK is `rank` (Linux /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if parent == launcher.pid and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


def _running_with_steps(runs: Path) -> bool:
    if not (runs / "runs.sqlite").exists():
        return False
    with RunStore(runs) as store:
        return any(run.steps >= 30 for run in store.list_runs())


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("victim", [1, 0], ids=["rank 1 killed", "rank 0 (the writer) killed"])
def test_a_killed_rank_ends_the_job_and_fails_the_run(tmp_path, victim):
    """Rank 1 killed: rank 0 sees its peer gone and marks its run failed. Rank 0
    killed: the run's writer is gone, and rank 1 takes the run over to mark it
    failed (not left "running", which the store shows as interrupted)."""
    survivor = 1 - victim
    runs = tmp_path / "runs"
    launcher = subprocess.Popen(_netexplorer(*TRAIN, "--epochs", "200", "--runs-dir",
                                             str(runs), ranks=2),
                                env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    try:
        deadline = time.monotonic() + 180
        while not _running_with_steps(runs):
            assert launcher.poll() is None, launcher.communicate()
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.2)
        pid = _rank_pid(launcher, victim)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        out, err = launcher.communicate(timeout=60)
        assert time.monotonic() - killed < 60
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.communicate()
    assert launcher.returncode != 0
    assert f"rank {survivor}:" in err  # the surviving rank says what it saw
    assert f"rank      : {victim}" in err  # torchrun's summary names the rank that died
    with RunStore(runs) as store:
        (run,) = store.list_runs()
    assert run.status == "failed", (run.status, run.message, err[-2000:])
    assert run.message.startswith(f"rank {survivor}: ")
