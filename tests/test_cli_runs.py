"""The command line and the run store: `train` records every run (and says its id),
`runs` lists them, `evaluate` and `train --resume` take a run as well as a file, a
resumed run is its parent's child, and the tutorial's plain state_dict evaluates.

Commands run in this process (tests/test_cli.py's run_main); the runs folder is the
test's own, through $NETEXPLORER_RUNS or --runs-dir."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch

from netexplorer.core.checkpoints import load_checkpoint
from netexplorer.core.presets import get_preset
from netexplorer.core.runs import RunStore
from netexplorer.core.specs import build_model
from netexplorer.core.train_config import TrainConfig
from tests.core.test_plain_state_dict import TutorialNet
from tests.core.trainkit import TINY
from tests.test_cli import REPO, run_main

RUN_ID = r"\d{8}-\d{6}-[0-9a-f]{6}"
TABLE_HEADER = ("id", "name", "model", "dataset", "epochs", "test acc", "status", "parent")


@pytest.fixture()
def runs(tmp_path, monkeypatch):
    folder = tmp_path / "runs"
    monkeypatch.setenv("NETEXPLORER_RUNS", str(folder))
    return folder


@pytest.fixture()
def tiny(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(TINY.to_json())
    return path


def train(*extra) -> tuple[int, str, str]:
    return run_main("train", "--epochs", 2, "--device", "cpu", *extra)


def run_ids(out: str) -> list[str]:
    return re.findall(rf"^Run ({RUN_ID})\b", out, re.M)


def table(out: str) -> list[list[str]]:
    """The rows of `netexplorer runs`, split on its column gaps."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("id "))
    assert tuple(re.split(r"\s{2,}", lines[start].strip())) == TABLE_HEADER
    return [re.split(r"\s{2,}", line.strip()) for line in lines[start + 2:] if line.strip()]


def test_train_records_the_run_and_runs_lists_it(runs, tiny):
    code, out, err = train("--spec", tiny, "--lr", 0.2)
    assert code == 0, err
    [start, end] = run_ids(out)
    assert start == end
    assert f"Run {start}: recorded in {runs / start}" in out
    accuracy = re.search(r"^Accuracy of the network on the 359 test images: (\d+\.\d\d) %",
                         out, re.M).group(1)
    assert re.search(rf"^Run {start} completed, test accuracy {accuracy} %: {runs / start} "
                     rf"\(netexplorer evaluate {start}\)$", out, re.M)
    assert err == ""
    code, listed, err = run_main("runs")
    assert code == 0 and err == ""
    assert listed.startswith(f"1 run in {runs} (newest first):")
    assert table(listed) == [[start, "–", "tiny", "digits", "2", f"{accuracy} %", "completed",
                              "–"]]
    with RunStore(runs) as store:
        run = store.run(start)
        assert run.config.lr == 0.2 and run.steps == 46 and run.status == "completed"
        assert len(store.load_history(start).losses) == 46
    assert load_checkpoint(runs / start / "last.ckpt").epochs_done == 2


def test_runs_dir_overrides_and_no_store_records_nothing(runs, tiny, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    code, out, err = train("--spec", tiny, "--runs-dir", elsewhere, "--name", "wide one")
    assert code == 0, err
    [run_id, _] = run_ids(out)
    assert f"Run {run_id} (wide one): recorded in {elsewhere / run_id}" in out
    code, out, err = train("--spec", tiny, "--no-store")
    assert code == 0, err
    assert run_ids(out) == [] and "recorded in" not in out
    assert not runs.exists()
    code, listed, _ = run_main("runs", "--runs-dir", elsewhere)
    assert [row[:2] for row in table(listed)] == [[run_id, "wide one"]]
    code, listed, err = run_main("runs")
    assert code == 0 and listed == f"No runs in {runs} yet: `netexplorer train` records one.\n"
    assert not runs.exists()  # looking made nothing


def test_evaluate_a_run_by_id_prefix_or_name(runs, tiny):
    code, out, err = train("--spec", tiny, "--name", "baseline", "--epochs", 3, "--lr", 0.5)
    assert code == 0, err
    run_id = run_ids(out)[0]
    printed = re.search(r"^Accuracy of the network on the 359 test images: .*$", out, re.M)[0]
    for named in (run_id, run_id[:-3], "baseline"):
        code, evaluated, err = run_main("evaluate", named, "--device", "cpu")
        assert code == 0, err
        assert evaluated.startswith(f"Run {run_id} (baseline), completed: "
                                    f"{runs / run_id / 'last.ckpt'}\ntiny on digits (test split)")
        assert printed in evaluated.splitlines()
    code, best, err = run_main("evaluate", "baseline", "--best", "--device", "cpu")
    assert code == 0, err
    assert f"{runs / run_id / 'best.ckpt'}" in best
    with RunStore(runs) as store:
        best_accuracy = store.run(run_id).best_accuracy
    assert f"test images: {100 * best_accuracy:.2f} %" in best


def test_resume_a_run_makes_its_child_with_its_settings(runs, tiny):
    code, out, err = train("--spec", tiny, "--optimizer", "adam", "--lr", 0.01,
                           "--schedule", "none")
    assert code == 0, err
    parent = run_ids(out)[0]
    code, out, err = run_main("train", "--resume", parent[:-2], "--epochs", 3,
                              "--device", "cpu")
    assert code == 0, err
    assert f"Resuming tiny from epoch 2 (run {parent}, last.ckpt)" in out
    child = run_ids(out)[0]
    assert f"Run {child}, continuing run {parent}: recorded in {runs / child}" in out
    assert re.search(r"^epoch 3: ", out, re.M) and not re.search(r"^epoch [12]: ", out, re.M)
    with RunStore(runs) as store:
        summary = store.run(child)
        assert (summary.parent, summary.first_step, summary.steps, summary.epochs) == (
            parent, 46, 69, 3)
        assert summary.config == TrainConfig(optimizer="adam", lr=0.01, schedule="none",
                                             epochs=3, device="cpu")  # the parent's own
        history = store.load_history(child)
    assert list(history.steps.values) == list(range(1, 70))
    assert [e.epoch for e in history.epochs] == [1, 2, 3]
    # its checkpoint resumes too, by its path: the grandchild knows its parent
    code, out, err = run_main("train", "--resume", runs / child / "last.ckpt", "--epochs", 4,
                              "--device", "cpu")
    assert code == 0, err
    assert f"Resuming tiny from epoch 3 ({runs / child / 'last.ckpt'})" in out
    grandchild = run_ids(out)[0]
    code, listed, _ = run_main("runs")
    assert [(row[0], row[4], row[7]) for row in table(listed)] == [
        (grandchild, "4", child), (child, "3", parent), (parent, "2", "–")]
    # a run that has done its planned epochs is not resumed for nothing
    code, out, err = run_main("train", "--resume", grandchild, "--device", "cpu")
    assert code == 1
    assert err == ("netexplorer: error: tiny has done 4 of 4 epochs: give --epochs N, the "
                   "total, above 4, to train more\n")


def test_a_run_without_a_checkpoint_and_unknown_runs_are_one_clear_line(runs, tiny):
    code, out, err = train("--spec", tiny)
    assert code == 0, err
    code, out, err = train("--spec", tiny)
    with RunStore(runs) as store:
        fresh = store.create_run(TINY.to_json(), TrainConfig(), model="tiny", dataset="digits")
    cases = {
        ("evaluate", "nosuch"): f"there is no checkpoint file or run 'nosuch' (runs in {runs}; "
                                f"`netexplorer runs` lists them)",
        ("evaluate", "2"): "'2' names 3 runs (",
        ("evaluate", fresh): f"run {fresh} (running) has no last.ckpt: no epoch of it has "
                             f"ended yet",
        ("train", "--resume", "nosuch"): "there is no checkpoint file or run 'nosuch'",
        ("evaluate", "nosuch.ckpt"): "there is no checkpoint at nosuch.ckpt",
        ("train", "--checkpoint-every", "-1"): "--checkpoint-every is a number of seconds from "
                                               "0, not -1.0",
    }
    for argv, words in cases.items():
        code, out, err = run_main(*argv)
        assert code == 1, argv
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("netexplorer: error: "), (argv, err)
        assert words in lines[0], (argv, lines[0])


def test_evaluate_the_tutorials_plain_state_dict(tmp_path):
    torch.manual_seed(0)
    net = TutorialNet()
    path = tmp_path / "mnist_net.pth"
    torch.save(net.state_dict(), path)
    spec_file = tmp_path / "lenet.json"
    spec_file.write_text(get_preset("lenet").to_json())
    reference = run_main("evaluate", path, "--model", "lenet", "--device", "cpu")
    for argv in (["--model", "lenet"], ["--spec", spec_file]):
        code, out, err = run_main("evaluate", path, *argv, "--device", "cpu")
        assert code == 0 and err == "", err
        assert out.startswith("lenet on digits (test split), cpu")
        assert "Accuracy of the network on the 359 test images:" in out
        assert out == reference[1]
    code, out, err = run_main("evaluate", path)
    assert code == 1
    assert err == ("netexplorer: error: mnist_net.pth is a plain state_dict: weights by name, "
                   "without the model they belong to; name it with --model NAME or "
                   "--spec FILE\n")
    code, out, err = run_main("evaluate", path, "--model", "mlp")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "mnist_net.pth does not fit the model 'mlp': tensor 'fc1.weight' is 120×400 in " \
        "the file but 256×784 in the model (8 more" in err
    # and it starts a run of its own, with a fresh optimizer
    tiny = tmp_path / "tiny.pt"
    torch.save(build_model(TINY).state_dict(), tiny)
    spec = tmp_path / "tiny.json"
    spec.write_text(TINY.to_json())
    code, out, err = run_main("train", "--resume", tiny, "--spec", spec, "--epochs", 1,
                              "--device", "cpu", "--no-store")
    assert code == 0, err
    assert f"Resuming tiny from epoch 0 ({tiny})" in out


def test_the_runs_table_comes_without_torch(runs, tiny):
    code, out, err = train("--spec", tiny)
    assert code == 0, err
    check = ("import sys; from netexplorer.cli import main; code = main(['runs']); "
             "print('torch' in sys.modules, code)")
    result = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False 0"
    assert run_ids(out)[0] in result.stdout
