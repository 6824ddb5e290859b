"""The headless commands: train, evaluate, resume, summary — and every bad input
ending in one clear line and a non-zero exit, never a traceback.

Most calls run netexplorer.cli.main in this process (fast); a few run
`python -m netexplorer` for real exit codes and stderr.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from netexplorer.cli import main
from netexplorer.cli.run import _number
from netexplorer.core.checkpoints import load_checkpoint, save_checkpoint
from netexplorer.core.data import load_dataset
from netexplorer.core.specs import LayerSpec, ModelSpec, build_model
from tests.core.trainkit import TINY
from tests.fakes import write_image_folder, write_zip_bomb

REPO = Path(__file__).resolve().parents[1]
HAS_CUDA = torch.cuda.is_available()
TUTORIAL_LINE = re.compile(r"^\[(\d+), +(\d+)\] loss: \d\.\d{3}$")
METRIC_KEYS = {"test_accuracy", "test_loss", "per_class_accuracy", "confusion_matrix", "epochs",
               "images_per_second", "train_seconds", "device", "threads"}
EVAL_KEYS = {"test_accuracy", "test_loss", "per_class_accuracy", "confusion_matrix"}
EPOCH_KEYS = {"epoch", "train_loss", "test_loss", "test_accuracy"}
DIGITS = [str(i) for i in range(10)]
N_TEST, N_TRAIN = 359, 1438


def run_main(*argv) -> tuple[int, str, str]:
    """main(argv) in this process; its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()  # train and evaluate apply the thread policy
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in argv])
    finally:
        torch.set_num_threads(threads)
    return code, out.getvalue(), err.getvalue()


def tutorial_lines(stdout: str) -> list[re.Match]:
    lines = [line for line in stdout.splitlines() if line.startswith("[")]
    matches = [TUTORIAL_LINE.match(line) for line in lines]
    assert lines and all(matches), lines
    return matches


def assert_metrics(data: dict, epochs: list[int]) -> None:
    assert set(data) == METRIC_KEYS
    assert 0.0 <= data["test_accuracy"] <= 1.0 and data["test_loss"] > 0
    assert list(data["per_class_accuracy"]) == DIGITS
    assert all(isinstance(v, float) and 0 <= v <= 1 for v in data["per_class_accuracy"].values())
    matrix = data["confusion_matrix"]
    assert len(matrix) == 10 and all(len(row) == 10 for row in matrix)
    assert all(isinstance(v, int) and v >= 0 for row in matrix for v in row)
    assert sum(map(sum, matrix)) == N_TEST
    assert sum(matrix[i][i] for i in range(10)) == round(data["test_accuracy"] * N_TEST)
    assert [e["epoch"] for e in data["epochs"]] == epochs
    for e in data["epochs"]:
        assert set(e) == EPOCH_KEYS
        assert e["train_loss"] > 0 and e["test_loss"] > 0 and 0 <= e["test_accuracy"] <= 1
    assert data["epochs"][-1]["test_accuracy"] == data["test_accuracy"]
    assert data["images_per_second"] > 0 and data["train_seconds"] > 0
    assert data["device"] == "cpu"
    assert isinstance(data["threads"], int) and data["threads"] >= 1


# --------------------------------------------------------------- train, evaluate


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory):
    """One epoch of LeNet on the digits, with a checkpoint and metrics."""
    folder = tmp_path_factory.mktemp("cli")
    ckpt, metrics = folder / "lenet.ckpt", folder / "metrics.json"
    code, out, err = run_main("train", "--model", "lenet", "--dataset", "digits", "--epochs", 1,
                              "--device", "cpu", "--metrics-json", metrics, "--save", ckpt)
    assert code == 0, err
    return {"folder": folder, "ckpt": ckpt, "metrics": json.loads(metrics.read_text()),
            "out": out, "err": err}


def test_train_prints_the_tutorial_lines(lenet_run):
    out = lenet_run["out"]
    matches = tutorial_lines(out)
    assert {m.group(1) for m in matches} == {"1"}
    assert [int(m.group(2)) for m in matches] == [10, 20, 23]  # every 10 batches, and the last
    assert f"Training lenet on digits ({N_TRAIN:,} train / {N_TEST:,} test images) on cpu" in out
    assert re.search(r"^epoch 1: train loss \d+\.\d{4}, test loss \d+\.\d{4}, test accuracy",
                     out, re.M)
    assert f"Accuracy of the network on the {N_TEST} test images:" in out
    assert "Accuracy of 0" in out and "Confusion matrix (rows: true class):" in out
    assert f"Saved checkpoint to {lenet_run['ckpt']}" in out
    assert "Traceback" not in lenet_run["err"]


def test_train_writes_the_documented_metrics(lenet_run):
    assert_metrics(lenet_run["metrics"], epochs=[1])


def test_train_saves_a_loadable_checkpoint(lenet_run):
    ckpt = load_checkpoint(lenet_run["ckpt"])
    assert ckpt.spec.name == "lenet" and ckpt.epochs_done == 1
    assert ckpt.dataset_name == "digits" and list(ckpt.classes) == DIGITS
    assert ckpt.config.epochs == 1 and ckpt.config.device == "cpu"


def test_evaluate_prints_accuracy_table_and_matrix(lenet_run):
    metrics = lenet_run["folder"] / "eval.json"
    code, out, err = run_main("evaluate", lenet_run["ckpt"], "--device", "cpu",
                              "--metrics-json", metrics)
    assert code == 0, err
    trained = lenet_run["metrics"]
    assert out.startswith("lenet on digits (test split), cpu")
    assert (f"Accuracy of the network on the {N_TEST} test images: "
            f"{100 * trained['test_accuracy']:.2f} %") in out
    assert sum(line.startswith("Accuracy of ") for line in out.splitlines()) == 11
    lines = out.splitlines()
    start = lines.index("Confusion matrix (rows: true class):")
    rows = [line.split() for line in lines[start + 2:start + 12]]
    assert [row[0] for row in rows] == DIGITS
    assert [[int(v) for v in row[1:]] for row in rows] == trained["confusion_matrix"]
    data = json.loads(metrics.read_text())
    assert set(data) == EVAL_KEYS
    assert {k: data[k] for k in EVAL_KEYS} == {k: trained[k] for k in EVAL_KEYS}


def test_evaluate_the_training_split(lenet_run):
    code, out, err = run_main("evaluate", lenet_run["ckpt"], "--split", "train")
    assert code == 0, err
    assert "(train split)" in out and f"on the {N_TRAIN:,} " in out


def test_train_resume_continues_from_the_checkpoint(lenet_run):
    metrics = lenet_run["folder"] / "resumed.json"
    code, out, err = run_main("train", "--resume", lenet_run["ckpt"], "--epochs", 2,
                              "--device", "cpu", "--metrics-json", metrics)
    assert code == 0, err
    assert f"Resuming lenet from epoch 1 ({lenet_run['ckpt']})" in out
    assert {m.group(1) for m in tutorial_lines(out)} == {"2"}
    assert re.search(r"^epoch 2: ", out, re.M) and not re.search(r"^epoch 1: ", out, re.M)
    data = json.loads(metrics.read_text())
    assert_metrics(data, epochs=[1, 2])
    assert data["epochs"][0] == lenet_run["metrics"]["epochs"][0]  # epoch 1 from the checkpoint


def test_summary_of_lenet():
    code, out, _ = run_main("summary", "--model", "lenet")
    assert code == 0
    assert "Total params: 61,706" in out


def test_train_from_a_spec_file_and_divergence_exit_code(tmp_path):
    spec = tmp_path / "tiny.json"
    spec.write_text(TINY.to_json())
    code, out, err = run_main("train", "--spec", spec, "--epochs", 3, "--lr", 50, "--schedule",
                              "none", "--device", "cpu", "--report-every", 5)
    assert code == 1
    assert re.search(r"^Diverged: the loss became (nan|inf) at step \d+ \(learning rate 50\)",
                     out, re.M), out
    assert f"Accuracy of the network on the {N_TEST} test images" in out  # last finite weights
    assert "Traceback" not in err


def test_after_a_divergence_mid_epoch_train_reports_the_weights_it_saved(tmp_path):
    """The run diverges in epoch 5, after four epoch reports; the model goes back to
    its last finite step. What train prints and writes to --metrics-json is that
    model's evaluation — the same figures `evaluate` gives for the saved checkpoint —
    not the evaluation made at the end of epoch 4."""
    spec, ckpt, metrics = tmp_path / "tiny.json", tmp_path / "d.ckpt", tmp_path / "m.json"
    spec.write_text(TINY.to_json())
    code, out, err = run_main("train", "--spec", spec, "--epochs", 8, "--lr", 3, "--optimizer",
                              "sgd", "--momentum", 0.9, "--schedule", "none", "--device", "cpu",
                              "--save", ckpt, "--metrics-json", metrics)
    assert code == 1, err
    diverged = re.search(r"^Diverged: .* at step (\d+) ", out, re.M)
    assert diverged, out
    trained = json.loads(metrics.read_text())
    epochs = trained["epochs"]
    assert epochs and int(diverged.group(1)) - 1 > 23 * len(epochs)  # mid-epoch, not at an end
    code, eval_out, err = run_main("evaluate", ckpt, "--device", "cpu", "--metrics-json",
                                   tmp_path / "e.json")
    assert code == 0, err
    saved = json.loads((tmp_path / "e.json").read_text())
    assert {k: trained[k] for k in EVAL_KEYS} == saved
    printed = re.search(r"^Accuracy of the network on the 359 test images: .*$", out, re.M)
    assert printed.group(0) in eval_out.splitlines()
    assert trained["test_accuracy"] != epochs[-1]["test_accuracy"] or \
        trained["test_loss"] != epochs[-1]["test_loss"]


def test_metrics_json_writes_null_for_a_loss_that_is_not_a_number(tmp_path):
    """Diverged weights can evaluate to a NaN loss: the file stays valid JSON (null),
    and evaluate says why the loss is not a number."""
    spec, ckpt, metrics = tmp_path / "tiny.json", tmp_path / "d.ckpt", tmp_path / "m.json"
    spec.write_text(TINY.to_json())
    code, out, err = run_main("train", "--spec", spec, "--epochs", 3, "--lr", 50, "--schedule",
                              "none", "--device", "cpu", "--save", ckpt, "--metrics-json",
                              metrics)
    # The run keeps the last weights with a finite test loss, and says which layer broke.
    assert code == 1 and "Diverged: the loss became nan at step" in out, out
    assert "layer '" in out and "error: Diverged at step" in err
    loss = json.loads(metrics.read_text())["test_loss"]
    assert loss is not None and math.isfinite(loss)
    assert _number(float("nan")) is None and _number(float("inf")) is None


# ------------------------------------------------------------------- bad input


@functools.lru_cache(maxsize=1)
def _digits():
    return load_dataset("digits")


def checkpoint_with(folder: Path, change) -> Path:
    """A weights-only checkpoint of TINY on the digits, its payload edited by `change`."""
    path = save_checkpoint(folder / "edited.ckpt", spec=TINY, model=build_model(TINY),
                           dataset=_digits())
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)
    return path


def one_image_per_class(folder: Path) -> Path:
    write_image_folder(folder / "pets", per_class=1, corrupt=0)
    return folder / "pets"


def spec_file(folder: Path, *names: str) -> Path:
    """A spec file of flatten → linear layers with these names, for 1×8×8 digits."""
    spec = ModelSpec("named", (1, 8, 8), (LayerSpec("flatten", "flat"),) + tuple(
        LayerSpec("linear", name, {"out_features": 10}) for name in names))
    path = folder / "named.json"
    path.write_text(json.dumps(spec.to_dict()), encoding="utf-8")
    return path


TRAIN = ["train", "--epochs", 1, "--device", "cpu"]
BAD_INPUTS = {  # name → (tmp folder → argv, words the one error line must contain)
    "preset": (lambda t: TRAIN + ["--model", "nosuch"], lambda t: "there is no preset 'nosuch'"),
    "dataset": (lambda t: TRAIN + ["--dataset", "nosuch"], lambda t: "unknown dataset 'nosuch'"),
    "mnist-missing": (lambda t: TRAIN + ["--model", "mlp", "--dataset", "mnist", "--data-root", t],
                      lambda t: f"Looked in {t / 'MNIST'}"),
    "mnist-missing-says-how": (
        lambda t: TRAIN + ["--model", "mlp", "--dataset", "mnist", "--data-root", t],
        lambda t: "On the command line, add --download to fetch it."),
    "mnist-default-folder": (
        lambda t: TRAIN + ["--model", "mlp", "--dataset", "mnist"],
        lambda t: f"Looked in {Path(os.environ['NETEXPLORER_DATA']) / 'MNIST'}"),
    "lr": (lambda t: TRAIN + ["--lr", -1], lambda t: "learning rate must be above 0"),
    "batch": (lambda t: TRAIN + ["--batch-size", 0], lambda t: "batch size must be from 1"),
    "epochs": (lambda t: ["train", "--epochs", 0], lambda t: "epochs must be from 1"),
    "momentum": (lambda t: TRAIN + ["--momentum", 1.5], lambda t: "momentum"),
    "device": (lambda t: ["train", "--device", "gpu"], lambda t: "unknown device 'gpu'"),
    "cuda": (lambda t: ["train", "--device", "cuda"],
             lambda t: "device 'cuda' was requested but"),
    "spec-missing": (lambda t: TRAIN + ["--spec", t / "nonexistent.json"],
                     lambda t: "cannot read"),
    "spec-json": (lambda t: TRAIN + ["--spec", t / "bad.json"], lambda t: "not valid JSON"),
    "nll-without-logsoftmax": (lambda t: TRAIN + ["--loss", "nll"],
                               lambda t: "add a logsoftmax"),
    "evaluate-garbage": (lambda t: ["evaluate", t / "garbage.ckpt"],
                         lambda t: "garbage.ckpt is not a readable checkpoint"),
    "evaluate-missing": (lambda t: ["evaluate", t / "none.ckpt"],
                         lambda t: "there is no checkpoint at"),
    "resume-garbage": (lambda t: TRAIN + ["--resume", t / "garbage.ckpt"],
                       lambda t: "not a readable checkpoint"),
    "summary-preset": (lambda t: ["summary", "--model", "nosuch"],
                       lambda t: "there is no preset"),
    "spec-look-alike-digit": (lambda t: ["summary", "--spec", spec_file(t, "fc1", "fc\uff11")],
                              lambda t: "layer 3 is named 'fc\uff11', which Python reads as "
                                        "'fc1'"),
    "spec-look-alike-reserved": (lambda t: TRAIN + ["--spec", spec_file(t, "\uff54\uff4f")],
                                 lambda t: "layer 2 is named '\uff54\uff4f', which Python reads "
                                           "as 'to'"),
    "dataset-root": (lambda t: TRAIN + ["--dataset", "folder:/"],
                     lambda t: "'folder:/' is the whole file system (/)"),
    "evaluate-dataset-name-type": (
        lambda t: ["evaluate", checkpoint_with(t, lambda d: d["dataset"].update(name=5))],
        lambda t: "edited.ckpt: its dataset name is unusable: a dataset name is text, not int"),
    "evaluate-dataset-name-root": (
        lambda t: ["evaluate", checkpoint_with(t, lambda d: d["dataset"].update(name="folder:/"))],
        lambda t: "edited.ckpt: its dataset name is unusable: 'folder:/' is the whole file "
                  "system"),
    "resume-dataset-name-root": (
        lambda t: TRAIN + ["--resume", checkpoint_with(
            t, lambda d: d["dataset"].update(name="folder:/"))],
        lambda t: "its dataset name is unusable: 'folder:/' is the whole file system"),
    "evaluate-nan-weights": (
        lambda t: ["evaluate", checkpoint_with(
            t, lambda d: d["model"]["fc1.weight"].view(-1)[0].fill_(math.nan))],
        lambda t: "edited.ckpt: its tensor 'fc1.weight' holds 1 NaN or infinite value(s)"),
    "evaluate-inf-weights": (
        lambda t: ["evaluate", checkpoint_with(
            t, lambda d: d["model"]["fc2.bias"].fill_(math.inf))],
        lambda t: "its tensor 'fc2.bias' holds 10 NaN or infinite value(s) of 10"),
    "evaluate-bool-weights": (
        lambda t: ["evaluate", checkpoint_with(
            t, lambda d: d["model"].update({"fc1.bias": d["model"]["fc1.bias"] > 0}))],
        lambda t: "its tensor 'fc1.bias' is bool, but the model's is float32"),
    "evaluate-int-weights": (
        lambda t: ["evaluate", checkpoint_with(
            t, lambda d: d["model"].update({"fc1.weight": d["model"]["fc1.weight"].long()}))],
        lambda t: "its tensor 'fc1.weight' is int64, but the model's is float32"),
    "evaluate-complex-weights": (
        lambda t: ["evaluate", checkpoint_with(t, lambda d: d["model"].update(
            {"fc2.weight": d["model"]["fc2.weight"].to(torch.complex64)}))],
        lambda t: "its tensor 'fc2.weight' is complex64, but the model's is float32"),
    "evaluate-std-zero": (
        lambda t: ["evaluate", checkpoint_with(t, lambda d: d["dataset"].update(std=[0.0]))],
        lambda t: "edited.ckpt: the normalisation std of channel 0 is 0.0: it must be a "
                  "positive finite number"),
    "evaluate-std-negative": (
        lambda t: ["evaluate", checkpoint_with(t, lambda d: d["dataset"].update(std=[-1.0]))],
        lambda t: "the normalisation std of channel 0 is -1.0"),
    "evaluate-std-nan": (
        lambda t: ["evaluate", checkpoint_with(t, lambda d: d["dataset"].update(std=[math.nan]))],
        lambda t: "the normalisation std of channel 0 is nan"),
    "evaluate-zip-bomb": (
        lambda t: ["evaluate", write_zip_bomb(checkpoint_with(t, lambda d: None), t / "bomb.ckpt",
                                              "/data/0", 40 * (1 << 26))],
        lambda t: "bomb.ckpt was refused: its contents would unpack from 2.6 MB to 2.7 GB"),
    "evaluate-no-test-images": (
        lambda t: ["evaluate", checkpoint_with(t, lambda d: None), "--dataset",
                   f"folder:{one_image_per_class(t)}"],
        lambda t: f"folder:{t / 'pets'} has no test images: put images in "
                  f"{t / 'pets'}/test/<class>/"),
    "train-no-test-images": (
        lambda t: TRAIN + ["--spec", spec_file(t, "fc"), "--dataset",
                           f"folder:{one_image_per_class(t)}"],
        lambda t: f"folder:{t / 'pets'} has no test images"),
    "spec-too-big": (lambda t: ["summary", "--spec", sparse(t / "huge.json", 5 * 1024**3)],
                     lambda t: f"{t / 'huge.json'} is 5,368,709,120 bytes; a model spec is at "
                               f"most 1,000,000 bytes"),
}


def sparse(path: Path, size: int) -> Path:
    """A file of `size` bytes that takes no disk space (a hole)."""
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_is_one_clear_line(name, tmp_path):
    if name == "cuda" and HAS_CUDA:
        pytest.skip("CUDA is available here")
    (tmp_path / "garbage.ckpt").write_bytes(b"this is not a checkpoint at all \x00\xff" * 10)
    (tmp_path / "bad.json").write_text("{ not json")
    argv, words = (make(tmp_path) for make in BAD_INPUTS[name])
    code, out, err = run_main(*argv)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netexplorer: error: "), err
    assert words in lines[0]
    assert "Traceback" not in err + out


@pytest.mark.parametrize("argv, words", [
    (["train", "--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
    (["train", "--epochs", "many"], "invalid int value: 'many'"),
    (["train", "--model", "lenet", "--spec", "x.json"], "not allowed with argument"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_are_usage_errors(argv, words, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_train_and_evaluate_say_how_many_files_they_left_out(tmp_path):
    """An image folder with a corrupt file, a link that loops onto itself and a class
    folder linking back to the root trains and evaluates; both commands say, on one
    warning line, how many files were left out and name a few."""
    pets = tmp_path / "pets"
    write_image_folder(pets, per_class=6, corrupt=1)
    os.symlink("loop.png", pets / "dog" / "loop.png")
    os.symlink(pets, pets / "again")
    spec = ModelSpec("pets", (3, 8, 8), (LayerSpec("flatten", "flat"),
                                         LayerSpec("linear", "fc", {"out_features": 2})))
    (tmp_path / "pets.json").write_text(spec.to_json())
    code, out, err = run_main("train", "--spec", tmp_path / "pets.json", "--dataset",
                              f"folder:{pets}", "--epochs", 1, "--device", "cpu", "--save",
                              tmp_path / "pets.ckpt")
    # A dozen made-up images teach nothing in one epoch: trained, but said so (exit 3).
    assert code in (0, 3), err
    assert (code == 3) == ("The model is not learning" in err)
    warning = (f"warning: 3 file(s) of folder:{pets} left out (unreadable, or links that leave "
               f"the folder or lead back into one that holds them): ")
    assert err.startswith(warning) and err.count("\n") == 1 + (code == 3), err
    assert "again (links back to a folder that contains it)" in err and "bad_0.png" in err
    assert "loop.png (cannot be read: Too many levels of symbolic links)" in err
    assert "(10 train / 2 test images)" in out  # 12 images, each with one label
    code, out, err = run_main("evaluate", tmp_path / "pets.ckpt", "--device", "cpu")
    assert code == 0, err
    assert err.startswith(warning) and err.count("\n") == 1
    assert "Accuracy of the network on the 2 test images" in out


def _limit_heap() -> None:
    """In the child: 1 GB of heap (RLIMIT_DATA), enough for torch and the command,
    so reading a spec file whole fails fast with MemoryError instead of filling the
    machine. Shared libraries are file mappings and do not count."""
    import resource

    resource.setrlimit(resource.RLIMIT_DATA, (1024**3, 1024**3))


@pytest.mark.skipif(not os.path.exists("/dev/zero") or os.name != "posix",
                    reason="needs /dev/zero and RLIMIT_DATA")
def test_an_endless_or_huge_spec_file_is_refused_before_it_is_read(tmp_path):
    """`summary --spec /dev/zero` and a 5 GB file end with one line and exit 1 under a
    1 GB heap: the size is checked while reading, not after."""
    huge = sparse(tmp_path / "huge.json", 5 * 1024**3)
    env = {**os.environ, "NETEXPLORER_THREADS": "1"}
    running = [subprocess.Popen([sys.executable, "-m", "netexplorer", "summary", "--spec",
                                 str(path)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, preexec_fn=_limit_heap)
               for path in ("/dev/zero", huge)]
    results = [proc.communicate(timeout=120) + (proc.returncode,) for proc in running]
    (out0, err0, code0), (out1, err1, code1) = results
    assert (code0, code1) == (1, 1), (err0[-500:], err1[-500:])
    assert err0 == ("netexplorer: error: /dev/zero is more than 1,000,000 bytes; a model spec "
                    "is at most 1,000,000 bytes: is this the right file?\n")
    assert err1 == (f"netexplorer: error: {huge} is 5,368,709,120 bytes; a model spec is at "
                    f"most 1,000,000 bytes: is this the right file?\n")


# ------------------------------------------------------------------ subprocesses


@pytest.fixture(scope="module")
def processes(tmp_path_factory):
    """Real `python -m netexplorer` runs, started together to share the wait: a
    LeNet epoch, an evaluation of a garbage file, and a long run stopped by Ctrl-C
    (SIGINT) after its first report."""
    folder = tmp_path_factory.mktemp("proc")
    garbage = folder / "garbage.ckpt"
    garbage.write_bytes(random.Random(0).randbytes(3000))
    spec = folder / "tiny.json"
    spec.write_text(TINY.to_json())
    env = {**os.environ, "NETEXPLORER_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    argvs = {
        "train": ["train", "--model", "lenet", "--dataset", "digits", "--epochs", "1",
                  "--device", "cpu", "--metrics-json", str(folder / "m.json"),
                  "--save", str(folder / "c.ckpt")],
        "garbage": ["evaluate", str(garbage)],
        "interrupted": ["train", "--spec", str(spec), "--epochs", "5000", "--device", "cpu",
                        "--report-every", "1", "--save", str(folder / "stopped.ckpt"),
                        "--runs-dir", str(folder / "runs")],
    }
    running = {name: subprocess.Popen([sys.executable, "-m", "netexplorer", *argv], cwd=REPO,
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
               for name, argv in argvs.items()}
    results = {}
    try:
        first = []
        if os.name == "posix":
            stopping = running["interrupted"]
            for line in stopping.stdout:
                first.append(line)
                if line.startswith("[1,"):
                    stopping.send_signal(signal.SIGINT)
                    break
        for name, proc in running.items():
            out, err = proc.communicate(timeout=240)
            if name == "interrupted":
                out = "".join(first) + out
            results[name] = (proc.returncode, out, err)
    finally:
        for proc in running.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return folder, results


def test_module_train_exits_zero(processes):
    folder, results = processes
    code, out, err = results["train"]
    assert code == 0, err
    assert "Traceback" not in err
    assert tutorial_lines(out)
    assert_metrics(json.loads((folder / "m.json").read_text()), epochs=[1])
    assert load_checkpoint(folder / "c.ckpt").epochs_done == 1


def test_module_bad_checkpoint_exits_one(processes):
    _, results = processes
    code, out, err = results["garbage"]
    assert code == 1
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "garbage.ckpt is not a readable checkpoint" in lines[0], err


# ------------------------------------------------------------------- the recipe


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_default_recipe_reaches_98_percent(tmp_path):
    metrics = tmp_path / "m.json"
    code, out, err = run_main("train", "--model", "lenet", "--dataset", "digits", "--device",
                              "cpu", "--metrics-json", metrics)
    assert code == 0, err
    data = json.loads(metrics.read_text())
    assert_metrics(data, epochs=list(range(1, 31)))
    assert data["test_accuracy"] >= 0.98, data["test_accuracy"]


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child is POSIX")
def test_ctrl_c_stops_saves_and_the_run_resumes(processes, tmp_path):
    folder, results = processes
    code, out, err = results["interrupted"]
    assert code == 0, err
    assert "Traceback" not in err
    stopped = re.search(r"^Stopped after (\d+) steps\.$", out, re.M)
    assert stopped, out[-2000:]
    assert f"Saved checkpoint to {folder / 'stopped.ckpt'}" in out
    ckpt = load_checkpoint(folder / "stopped.ckpt")
    position = ckpt.trainer_state["position"]
    assert position["step"] == int(stopped.group(1)) == len(ckpt.history["step_losses"])
    assert position["epoch"] < 5000
    # and it continues from there, with one more epoch than it finished
    more = position["epoch"] + 1
    code, out, err = run_main("train", "--resume", folder / "stopped.ckpt", "--epochs", more,
                              "--device", "cpu", "--metrics-json", tmp_path / "m.json")
    assert code == 0, err
    assert f"Resuming tiny from epoch {position['epoch']}" in out
    data = json.loads((tmp_path / "m.json").read_text())
    assert [e["epoch"] for e in data["epochs"]] == list(range(1, more + 1))


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child is POSIX")
def test_ctrl_c_ends_the_stored_run_stopped_with_its_weights(processes):
    from netexplorer.core.runs import RunStore

    folder, results = processes
    code, out, err = results["interrupted"]
    [run_id] = set(re.findall(r"^Run (\S+?)[:, ]", out, re.M))
    with RunStore(folder / "runs") as store:
        run = store.run(run_id)
        history = store.load_history(run_id)
    stopped = int(re.search(r"^Stopped after (\d+) steps\.$", out, re.M).group(1))
    assert (run.status, run.message, run.steps) == ("stopped", "stopped by request", stopped)
    assert len(history.losses) == stopped  # every step, though it was cut short
    last = load_checkpoint(folder / "runs" / run_id / "last.ckpt")
    assert last.trainer_state["position"]["step"] == stopped
    assert_same_weights_of(last, load_checkpoint(folder / "stopped.ckpt"))


def assert_same_weights_of(a, b) -> None:
    assert a.model_state.keys() == b.model_state.keys()
    assert all(torch.equal(a.model_state[k], b.model_state[k]) for k in a.model_state)
