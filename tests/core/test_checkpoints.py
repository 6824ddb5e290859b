"""Checkpoints: what they hold, exact resumption, atomic saving (even under
SIGKILL), and refusing damaged, foreign and hostile files with a clear message."""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from netexplorer.core import checkpoints, files
from netexplorer.core.checkpoints import (
    FORMAT_VERSION,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from netexplorer.core.errors import TrainingError
from netexplorer.core.specs import LayerSpec, ModelSpec, build_model
from netexplorer.core.trainers import resume_trainer
from netexplorer.core.training import EpochReport, Trainer
from tests.core.trainkit import (
    TINY,
    TINY_DROPOUT,
    WAIT,
    assert_same_weights,
    config,
    drive,
    epochs_of,
    finished,
    steps_of,
    stop_at,
    tiny_spec,
    train,
)
from tests.fakes import write_zip_bomb

REPO = Path(__file__).resolve().parents[2]


def stop_after_epoch(epoch: int):
    def hook(trainer, report):
        if isinstance(report, EpochReport) and report.epoch == epoch:
            trainer.control.stop()
    return hook


@pytest.fixture(scope="module")
def uninterrupted(digits8):
    """Three epochs in one go: what every resumed run must end with."""
    trainer, _ = train(TINY_DROPOUT, digits8, epochs=3)
    return trainer


@pytest.fixture(scope="module")
def saved(digits8, tmp_path_factory):
    """Two epochs of a three-epoch run, stopped and saved."""
    trainer, reports = train(TINY_DROPOUT, digits8, epochs=3, on_report=stop_after_epoch(2))
    assert finished(reports).status == "stopped"
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "run.ckpt", trainer)
    return trainer, path


# ------------------------------------------------------------------- round trip


def test_round_trip_keeps_everything(saved, digits8):
    trainer, path = saved
    assert path.suffix == checkpoints.SUFFIX
    ckpt = load_checkpoint(path)
    assert ckpt.spec == TINY_DROPOUT
    assert_same_weights(ckpt.model_state, trainer.model)
    assert ckpt.config == trainer.config
    assert ckpt.history == trainer.history
    assert ckpt.epochs_done == 2
    assert ckpt.dataset_name == "digits"
    assert ckpt.classes == digits8.classes
    assert ckpt.normalization == digits8.normalization
    assert ckpt.versions["torch"] == str(torch.__version__)
    assert {"netexplorer", "python"} <= set(ckpt.versions)
    assert ckpt.saved_at
    assert ckpt.trainer_state["position"] == {"epoch": 2, "batch": 0, "step": 46}
    model = ckpt.build_model()
    assert_same_weights(model, trainer.model)


def test_resume_after_two_of_three_epochs_equals_one_run(saved, uninterrupted, digits8):
    _, path = saved
    resumed = resume_trainer(load_checkpoint(path), digits8)
    assert resumed.config.epochs == 3 and resumed.position.epoch == 2
    reports = drive(resumed)
    assert finished(reports).status == "completed"
    assert steps_of(reports)[0].first_step == 47
    assert [e.epoch for e in epochs_of(reports)] == [3]
    assert_same_weights(resumed.model, uninterrupted.model)
    assert resumed.history["step_losses"] == uninterrupted.history["step_losses"]
    assert [e["test_accuracy"] for e in resumed.history["epochs"]] == \
        [e["test_accuracy"] for e in uninterrupted.history["epochs"]]


def test_resume_mid_epoch_equals_one_run(uninterrupted, digits8, tmp_path):
    trainer, reports = train(TINY_DROPOUT, digits8, epochs=3, on_report=stop_at(30))
    done = finished(reports)
    assert done.status == "stopped" and trainer.position.batch not in (0, 23)
    path = save_checkpoint(tmp_path / "mid.ckpt", trainer)
    resumed = resume_trainer(load_checkpoint(path), digits8)
    assert resumed.position.step == done.step
    reports = drive(resumed)
    assert finished(reports).status == "completed"
    assert steps_of(reports)[0].first_step == done.step + 1
    assert_same_weights(resumed.model, uninterrupted.model)
    assert resumed.history["step_losses"] == uninterrupted.history["step_losses"]


def test_resumed_epoch_reports_cover_the_whole_epoch(uninterrupted, digits8, tmp_path):
    """An epoch split by a save and a resume reports the same training loss and
    accuracy as the same epoch run in one go."""
    trainer, _ = train(TINY_DROPOUT, digits8, epochs=3, on_report=stop_at(30))
    resumed = resume_trainer(load_checkpoint(save_checkpoint(tmp_path / "m.ckpt", trainer)),
                             digits8)
    drive(resumed)
    for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
        got = [e[key] for e in resumed.history["epochs"]]
        want = [e[key] for e in uninterrupted.history["epochs"]]
        assert got == pytest.approx(want, rel=1e-9), key


def test_resume_with_more_epochs_continues(saved, digits8):
    _, path = saved
    ckpt = load_checkpoint(path)
    resumed = resume_trainer(ckpt, digits8, ckpt.config.replace(epochs=4))
    reports = drive(resumed)
    assert [e.epoch for e in epochs_of(reports)] == [3, 4]
    assert finished(reports).step == 4 * 23


def test_resume_on_other_classes_is_refused(saved, digits8):
    _, path = saved
    other = dataclasses.replace(digits8, name="letters",
                                classes=tuple("abcdefghij"))
    with pytest.raises(TrainingError, match="other classes"):
        resume_trainer(load_checkpoint(path), other)


def test_weights_only_checkpoint(tmp_path, digits8):
    torch.manual_seed(3)
    model = build_model(TINY)
    path = save_checkpoint(tmp_path / "weights.ckpt", spec=TINY, model=model)
    ckpt = load_checkpoint(path)
    assert ckpt.spec == TINY and ckpt.config is None and ckpt.trainer_state is None
    assert ckpt.epochs_done == 0 and ckpt.history == {"epochs": [], "step_losses": [],
                                                      "step_lrs": []}
    assert ckpt.classes == () and ckpt.normalization is None and ckpt.dataset_name is None
    assert_same_weights(ckpt.build_model(), model)
    trainer = resume_trainer(ckpt, digits8, config(epochs=1))  # training can start from it
    assert trainer.position.step == 0
    assert_same_weights(trainer.model, model)


def test_checkpoint_needs_a_spec(tmp_path, digits8):
    trainer = Trainer(build_model(TINY), digits8, config())
    with pytest.raises(CheckpointError, match="needs the model spec"):
        save_checkpoint(tmp_path / "x.ckpt", trainer)
    with pytest.raises(CheckpointError, match="needs the model spec"):
        save_checkpoint(tmp_path / "x.ckpt")
    save_checkpoint(tmp_path / "x.ckpt", trainer, spec=TINY)
    assert load_checkpoint(tmp_path / "x.ckpt").spec == TINY
    assert not (tmp_path / "y.ckpt").exists()


def test_save_creates_the_folder(tmp_path):
    path = save_checkpoint(tmp_path / "a" / "b" / "w.ckpt", spec=TINY, model=build_model(TINY))
    assert load_checkpoint(path).spec == TINY


def test_save_where_the_folder_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="cannot save to"):
        save_checkpoint(tmp_path / "file" / "w.ckpt", spec=TINY, model=build_model(TINY))


# --------------------------------------------------------------- atomic saving


def only_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("error, raised", [
    (OSError(28, "No space left on device"), CheckpointError),
    (RuntimeError("serialisation failed"), RuntimeError),
    (KeyboardInterrupt(), KeyboardInterrupt),
])
def test_failed_save_keeps_the_previous_checkpoint(error, raised, tmp_path, monkeypatch):
    model = build_model(TINY)
    path = save_checkpoint(tmp_path / "run.ckpt", spec=TINY, model=model)
    before = path.read_bytes()

    def broken_save(obj, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 half a zip")
        handle.flush()
        raise error

    monkeypatch.setattr(checkpoints.torch, "save", broken_save)
    other = build_model(tiny_spec(hidden=8))
    with pytest.raises(raised) as caught:
        save_checkpoint(path, spec=tiny_spec(hidden=8), model=other)
    if raised is CheckpointError:
        assert "cannot save to" in str(caught.value) and "No space left" in str(caught.value)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert_same_weights(load_checkpoint(path).build_model(), model)
    assert only_files(tmp_path) == ["run.ckpt"]  # no temporary file left behind


KILLED_CHILD = r"""
import sys, time, torch
from netexplorer.core import checkpoints
from netexplorer.core.checkpoints import save_checkpoint
from netexplorer.core.specs import build_model
from tests.core.trainkit import TINY

checkpoints._torchvision_version = lambda: {}  # importing torchvision takes seconds
path = sys.argv[1]
model = build_model(TINY)
with torch.no_grad():
    for p in model.parameters():
        p.fill_(1.0)
save_checkpoint(path, spec=TINY, model=model)
print("saved A", flush=True)

def slow_save(obj, handle, *args, **kwargs):
    for i in range(100_000):
        handle.write(b"\0" * 4096)
        handle.flush()
        if i == 3:
            print("writing B", flush=True)
        time.sleep(0.005)

torch.save = slow_save
with torch.no_grad():
    for p in model.parameters():
        p.fill_(2.0)
save_checkpoint(path, spec=TINY, model=model)
print("saved B", flush=True)
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
@pytest.mark.timeout(60)
def test_killed_mid_save_leaves_the_previous_checkpoint(tmp_path):
    path = tmp_path / "run.ckpt"
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(path)], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in child.stdout:
            lines.append(line.strip())
            if line.strip() == "writing B":
                break
        assert lines == ["saved A", "writing B"], (lines, child.stderr.read())
        child.send_signal(signal.SIGKILL)
        assert child.wait(WAIT) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(WAIT)
        child.stdout.close()
        child.stderr.close()
    ckpt = load_checkpoint(path)  # A, whole
    assert all(bool((v == 1.0).all()) for v in ckpt.model_state.values())
    leftovers = [p for p in tmp_path.iterdir() if p.name != "run.ckpt"]
    assert leftovers and all(p.name.startswith(".run.ckpt.") and p.suffix == ".tmp"
                             for p in leftovers)
    assert leftovers[0].stat().st_size >= 4 * 4096  # it really was killed mid-write


SAVING_CHILD = r"""
import os, sys
import torch
torch.set_num_threads(1)  # no OpenMP pool: the forks below stay safe
from netexplorer.core import checkpoints
from netexplorer.core.checkpoints import save_checkpoint
from netexplorer.core.specs import ModelSpec, LayerSpec, build_model

checkpoints._torchvision_version = lambda: {}  # importing torchvision takes seconds
path = sys.argv[1]
spec = ModelSpec.from_json(sys.argv[2])
model = build_model(spec)
print("ready", flush=True)
for line in sys.stdin:  # one try per line: fork a saver, let the test kill it, reap it
    pid = os.fork()
    if pid == 0:
        try:
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(float(line))
            print(f"saving {os.getpid()}", flush=True)
            while True:  # the real save, over and over, until the test kills it
                save_checkpoint(path, spec=spec, model=model)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    print("reaped", flush=True)
"""
# 3 M float32 weights: a 12 MB checkpoint, some tens of milliseconds per save.
BIG = ModelSpec("big", (3, 32, 32), (LayerSpec("flatten", "flat"),
                                     LayerSpec("linear", "fc1", {"out_features": 1000}),
                                     LayerSpec("linear", "fc2", {"out_features": 10})))


def temporaries(folder: Path, name: str) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(f".{name}.") and p.suffix == ".tmp"]


def kill_when_temporary_reaches(folder: Path, name: str, pid: int, size: int) -> None:
    """SIGKILL `pid` as soon as a temporary of `name` holds `size` bytes: mid-save."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # busy-polls the folder: it never sleeps
        for tmp in temporaries(folder, name):
            try:
                if tmp.stat().st_size >= size:
                    os.kill(pid, signal.SIGKILL)
                    return
            except FileNotFoundError:  # renamed into place meanwhile: the next save comes
                pass
    raise AssertionError(f"no save of {name} reached {size} bytes in 30 s")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="SIGKILL and fork are POSIX")
@pytest.mark.timeout(120)
def test_saves_killed_by_sigkill_leave_no_temporary_past_the_next_save(tmp_path):
    """A real process saving a 12 MB checkpoint over and over is SIGKILLed mid-save
    (at 0 %, ~30 % and ~70 % of the file, and as soon as a save begins), several times.
    Each time the checkpoint present loads whole (the old one or the new one); the
    temporaries the kills leave are removed by the next save, which alone remains."""
    path = tmp_path / "big.ckpt"
    model = build_model(BIG)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.0)
    save_checkpoint(path, spec=BIG, model=model)
    full = path.stat().st_size
    child = subprocess.Popen([sys.executable, "-c", SAVING_CHILD, str(path), BIG.to_json()],
                             cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    left_behind = 0
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        previous = 0.0
        for value, fraction in ((1.0, 0.0), (2.0, 0.3), (3.0, 0.7), (4.0, 0.0), (5.0, 0.5)):
            child.stdin.write(f"{value}\n")
            child.stdin.flush()
            saving = child.stdout.readline().split()
            assert saving[:1] == ["saving"], (saving, child.stderr.read())
            kill_when_temporary_reaches(tmp_path, path.name, int(saving[1]),
                                        int(fraction * full))
            assert child.stdout.readline().strip() == "reaped"
            weights = load_checkpoint(path).model_state  # complete: the old or the new
            found = torch.cat([v.flatten() for v in weights.values()]).unique().tolist()
            assert len(found) == 1 and found[0] in (previous, value), found
            previous = found[0]
            left_behind += len(temporaries(tmp_path, path.name))
    finally:
        child.kill()
        child.communicate()
    assert left_behind, "no kill landed mid-save: the test proved nothing"
    assert temporaries(tmp_path, path.name)  # the kills' leftovers, before the next save
    save_checkpoint(path, spec=BIG, model=model)
    assert only_files(tmp_path) == ["big.ckpt"]
    assert all(bool((v == 0.0).all()) for v in load_checkpoint(path).model_state.values())


def test_stale_temporaries_of_dead_writers_go_and_live_ones_stay(tmp_path):
    """Only a temporary whose writer is gone is removed: one named after a running
    process (another save in progress) or after this process (another thread) stays,
    and so do other files' temporaries and an old-style one that is recent."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])  # its pid: a writer now gone
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        names = {
            f".run.ckpt.{dead.pid}.abcd1234.tmp": False,
            f".run.ckpt.{alive.pid}.abcd1234.tmp": True,
            f".run.ckpt.{os.getpid()}.abcd1234.tmp": True,
            f".other.ckpt.{dead.pid}.abcd1234.tmp": True,
            ".run.ckpt.efgh5678.tmp": True,  # written before temporaries named their pid
            "run.ckpt.notes": True,
        }
        for name in names:
            (tmp_path / name).write_bytes(b"partial")
        old_style = tmp_path / ".run.ckpt.zzzz9999.tmp"
        old_style.write_bytes(b"partial")
        an_hour_ago = time.time() - 2 * files.LEGACY_TEMPORARY_AGE_S
        os.utime(old_style, (an_hour_ago, an_hour_ago))
        save_checkpoint(tmp_path / "run.ckpt", spec=TINY, model=build_model(TINY))
        kept = sorted(p.name for p in tmp_path.iterdir())
        assert kept == sorted(["run.ckpt"] + [n for n, stays in names.items() if stays])
    finally:
        alive.communicate(b"")


# ---------------------------------------------------------- damaged and foreign


@pytest.fixture(scope="module")
def good(saved) -> Path:
    return saved[1]


def raw(good: Path) -> dict:
    return torch.load(good, map_location="cpu", weights_only=True)


def edited(change):
    """A builder writing the good checkpoint's payload after `change(payload)`."""
    def build(path: Path, good: Path) -> None:
        payload = raw(good)
        change(payload)
        torch.save(payload, path)
    return build


def set_path(keys: tuple, value):
    def change(payload):
        target = payload
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return change


DAMAGED = {
    "truncated": (lambda p, g: p.write_bytes(g.read_bytes()[:g.stat().st_size // 2]),
                  "not a readable checkpoint"),
    "tail-cut": (lambda p, g: p.write_bytes(g.read_bytes()[:-100]),
                 "not a readable checkpoint"),
    "random": (lambda p, g: p.write_bytes(random.Random(0).randbytes(5000)),
               "not a readable checkpoint"),
    "empty": (lambda p, g: p.write_bytes(b""), "not a readable checkpoint"),
    "text": (lambda p, g: p.write_text("{\"format\": \"netexplorer-checkpoint\"}"),
             "not a readable checkpoint"),
    "state-dict": (lambda p, g: torch.save(build_model(TINY).state_dict(), p),
                   "not a netexplorer checkpoint"),
    "plain-dict": (lambda p, g: torch.save({"a": 1}, p), "not a netexplorer checkpoint"),
    "list": (lambda p, g: torch.save([1, 2, 3], p), "not a netexplorer checkpoint"),
    "tensor": (lambda p, g: torch.save(torch.zeros(3), p), "not a netexplorer checkpoint"),
    "version": (edited(set_path(("version",), FORMAT_VERSION + 98)),
                f"format version {FORMAT_VERSION + 98}"),
    "no-version": (edited(lambda d: d.pop("version")), "format version None"),
    "spec-json": (edited(set_path(("spec",), '{"format": "netexplorer-model", "layers": 5')),
                  "model spec is unusable"),
    "spec-type": (edited(set_path(("spec",), 5)), "model spec is unusable"),
    "spec-layer": (edited(set_path(("spec",), tiny_spec().to_json().replace("linear", "lineer"))),
                   "model spec is unusable"),
    "no-spec": (edited(lambda d: d.pop("spec")), "model spec is unusable"),
    "weights-type": (edited(set_path(("model",), [1, 2])), "weights are missing or malformed"),
    "weights-values": (edited(set_path(("model", "fc1.weight"), "zeros")),
                       "weights are missing or malformed"),
    "no-weights": (edited(lambda d: d.pop("model")), "weights are missing or malformed"),
    "config-lr": (edited(set_path(("config", "lr"), -1.0)), "training settings are invalid"),
    "config-type": (edited(set_path(("config", "lr"), "fast")), "training settings are invalid"),
    "config-list": (edited(set_path(("config",), [1])), "training settings are invalid"),
    "trainer-position": (edited(set_path(("trainer", "position"), {"epoch": "two"})),
                         "training state is malformed"),
    "trainer-type": (edited(set_path(("trainer",), "state")), "training state is malformed"),
    "trainer-rng": (edited(set_path(("trainer", "rng"), 5)), "training state is malformed"),
    "dataset-mean": (edited(set_path(("dataset", "mean"), "grey")),
                     "dataset description is malformed"),
    "dataset-keys": (edited(set_path(("dataset",), {"name": "digits"})),
                     "dataset description is malformed"),
    "weights-misfit": (edited(set_path(("spec",), tiny_spec(hidden=16).to_json())),
                       "weights do not fit its model 'tiny'"),
    # values load_state_dict would take as they come, or convert without a word
    "weights-nan": (edited(lambda d: d["model"]["fc1.weight"].view(-1)[:3].fill_(math.nan)),
                    "its tensor 'fc1.weight' holds 3 NaN or infinite value(s) of 2,048: the run "
                    "diverged before it was saved"),
    "weights-inf": (edited(lambda d: d["model"]["fc2.bias"].view(-1)[0].fill_(-math.inf)),
                    "its tensor 'fc2.bias' holds 1 NaN or infinite value(s) of 10"),
    "weights-bool": (edited(lambda d: d["model"].update({"fc1.bias": d["model"]["fc1.bias"] > 0})),
                     "its tensor 'fc1.bias' is bool, but the model's is float32"),
    "weights-int64": (edited(lambda d: d["model"].update(
        {"fc2.weight": d["model"]["fc2.weight"].long()})),
        "its tensor 'fc2.weight' is int64, but the model's is float32"),
    "weights-complex": (edited(lambda d: d["model"].update(
        {"fc1.weight": d["model"]["fc1.weight"].to(torch.complex64)})),
        "its tensor 'fc1.weight' is complex64, but the model's is float32"),
    "weights-double": (edited(lambda d: d["model"].update(
        {"fc1.weight": d["model"]["fc1.weight"].double()})),
        "its tensor 'fc1.weight' is float64, but the model's is float32"),
    "std-zero": (edited(set_path(("dataset", "std"), [0.0])),
                 "the normalisation std of channel 0 is 0.0: it must be a positive finite number"),
    "std-negative": (edited(set_path(("dataset", "std"), [-0.3])),
                     "the normalisation std of channel 0 is -0.3"),
    "std-nan": (edited(set_path(("dataset", "std"), [math.nan])),
                "the normalisation std of channel 0 is nan"),
    "mean-inf": (edited(set_path(("dataset", "mean"), [math.inf])),
                 "the normalisation mean of channel 0 is inf: it must be a finite number"),
    "std-count": (edited(set_path(("dataset", "std"), [])),
                  "the normalisation needs one mean and one std per channel"),
    # the dataset name goes through the check a --dataset argument does
    "dataset-name-int": (edited(set_path(("dataset", "name"), 5)),
                         "its dataset name is unusable: a dataset name is text, not int (5)"),
    "dataset-name-list": (edited(set_path(("dataset", "name"), ["digits"])),
                          "its dataset name is unusable: a dataset name is text, not list"),
    "dataset-name-root": (edited(set_path(("dataset", "name"), "folder:/")),
                          "its dataset name is unusable: 'folder:/' is the whole file system"),
    "dataset-name-up": (edited(set_path(("dataset", "name"), "folder:/tmp/../..")),
                        "'folder:/tmp/../..' is the whole file system"),
    "dataset-name-empty-folder": (edited(set_path(("dataset", "name"), "folder:")),
                                  "'folder:' names no folder"),
    "dataset-name-unknown": (edited(set_path(("dataset", "name"), "imagenet")),
                             "its dataset name is unusable: unknown dataset 'imagenet'"),
}


@pytest.mark.parametrize("kind", DAMAGED)
def test_damaged_or_foreign_file_is_refused(kind, good, tmp_path):
    build, words = DAMAGED[kind]
    path = tmp_path / f"{kind}.ckpt"
    build(path, good)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert words in message
    if kind != "weights-misfit":  # found by building the model, after reading the file
        assert path.name in message
    assert "refused" not in message  # damaged is not hostile
    assert "\n" not in message and "Traceback" not in message
    assert "weights_only" not in message  # not torch's advice to load it unsafely


def test_weights_holding_nan_are_not_saved_over_a_good_checkpoint(tmp_path):
    """A file of NaN weights could never be loaded; writing it would replace the good
    checkpoint there (`train --resume run.ckpt --save run.ckpt` after a divergence)."""
    model = build_model(TINY)
    path = save_checkpoint(tmp_path / "run.ckpt", spec=TINY, model=model)
    before = path.read_bytes()
    with torch.no_grad():
        model.fc2.weight[0, :4] = math.inf
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(path, spec=TINY, model=model)
    assert str(caught.value) == (f"not saved to {path}: tensor 'fc2.weight' holds 4 NaN or "
                                 f"infinite value(s) of 320 (the run diverged); the file there, "
                                 f"if any, is unchanged")
    assert path.read_bytes() == before and only_files(tmp_path) == ["run.ckpt"]


def test_a_folder_dataset_from_another_machine_still_loads(good, tmp_path):
    """Only the name is checked when loading: a folder that is not here is for
    loading the dataset to report, and the model stays usable on another dataset."""
    path = tmp_path / "elsewhere.ckpt"
    edited(set_path(("dataset", "name"), "folder:/home/someone/pets"))(path, good)
    assert load_checkpoint(path).dataset_name == "folder:/home/someone/pets"


def peak_rss_bytes() -> int | None:
    """This process's peak resident memory since the last reset_peak_rss(); None
    where Linux's /proc does not tell."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak (VmHWM)
    except OSError:
        return False
    return True


def test_a_zip_bomb_is_refused_before_anything_is_inflated(good, tmp_path):
    """A 2.6 MB file whose weights member declares 2.7 GB of (deflated) zeros — the
    attack that drove memory to 2.8 GB — is refused from the zip's directory alone:
    the load costs no memory to speak of."""
    bomb = write_zip_bomb(good, tmp_path / "bomb.ckpt", "/data/0", 40 * (1 << 26))
    assert bomb.stat().st_size < 3_000_000
    measured = reset_peak_rss()
    before = peak_rss_bytes()
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(bomb)
    message = str(caught.value)
    assert message.startswith("bomb.ckpt was refused: its contents would unpack from 2.6 MB "
                              "to 2.7 GB, more than any checkpoint holds"), message
    assert "\n" not in message
    if measured and before is not None:
        assert peak_rss_bytes() - before < 100 * 1024**2


def test_a_checkpoint_that_would_inflate_far_beyond_its_size_is_refused(good, tmp_path):
    """Below the absolute limit too: torch.save stores members uncompressed, so a
    file that would unpack to hundreds of times its size is not one it wrote."""
    bomb = write_zip_bomb(good, tmp_path / "small-bomb.ckpt", "/data/0", 64 << 20)
    with pytest.raises(CheckpointError, match=r"^small-bomb.ckpt was refused: its contents "
                                              r"would unpack from \d+\.\d KB to 67.1 MB, over "
                                              r"4× its size"):
        load_checkpoint(bomb)


def test_the_size_limit_counts_every_member(good, tmp_path, monkeypatch):
    """A real checkpoint over the limit is refused by the declared sizes alone."""
    monkeypatch.setattr(checkpoints, "MAX_CHECKPOINT_BYTES", good.stat().st_size // 2)
    with pytest.raises(CheckpointError, match="was refused: .* more than any checkpoint holds"):
        load_checkpoint(good)
    monkeypatch.undo()
    load_checkpoint(good)


def test_weights_that_do_not_fit_the_spec(tmp_path):
    model = build_model(tiny_spec(hidden=16))
    path = save_checkpoint(tmp_path / "misfit.ckpt", spec=TINY, model=model)
    with pytest.raises(CheckpointError, match=r"do not fit its model 'tiny': .*fc1.weight"):
        load_checkpoint(path)


@pytest.mark.parametrize("where", ["missing.ckpt", "."])
def test_no_checkpoint_there(where, tmp_path):
    with pytest.raises(CheckpointError, match="there is no checkpoint at"):
        load_checkpoint(tmp_path / where)


# ---------------------------------------------------------------------- hostile


class Payload:
    """Unpickling this calls `function(argument)`."""

    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


def hostile_payloads(marker: Path) -> dict[str, Payload]:
    return {
        "os.system": Payload(os.system, f"touch {shlex.quote(str(marker))}"),
        "exec": Payload(exec, f"open({str(marker)!r}, 'w').write('ran')"),
        "eval": Payload(eval, f"open({str(marker)!r}, 'w').write('ran')"),
    }


def write_hostile(path: Path, how: str, payload: Payload, good: Path) -> None:
    if how.startswith("pickle-"):
        protocol = how.removeprefix("pickle-")
        path.write_bytes(pickle.dumps(payload, protocol=None if protocol == "default"
                                      else int(protocol)))
    elif how == "torch-zip":
        torch.save({"format": "netexplorer-checkpoint", "version": 1, "x": payload}, path)
    else:  # inside an otherwise valid checkpoint
        data = raw(good)
        data["versions"] = {"torch": payload}
        torch.save(data, path)


def is_live(path: Path, how: str) -> None:
    """Prove the file really would run code when loaded without protection."""
    if how.startswith("pickle-"):
        pickle.loads(path.read_bytes())
    else:
        torch.load(path, weights_only=False)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("how", ["pickle-0", "pickle-2", "pickle-default", "torch-zip",
                                 "inside-checkpoint"])
@pytest.mark.parametrize("function", ["os.system", "exec", "eval"])
def test_hostile_file_is_refused_and_runs_nothing(how, function, good, tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.ckpt"
    write_hostile(path, how, hostile_payloads(marker)[function], good)
    is_live(path, how)
    assert marker.exists(), "the payload is not live: the test would prove nothing"
    marker.unlink()
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "refused" in message and "evil.ckpt" in message, message
    assert "\n" not in message
    if how not in ("pickle-default",):  # the refused global is named where torch names it
        assert f"{function.rsplit('.', 1)[-1]})" in message, message
    assert not marker.exists()


def test_unreadable_resume_state_is_a_checkpoint_error(saved, digits8):
    _, path = saved
    ckpt = load_checkpoint(path)
    state = dict(ckpt.trainer_state, base_lr=None)
    broken = dataclasses.replace(ckpt, trainer_state=state)
    with pytest.raises(CheckpointError, match="cannot resume from this checkpoint"):
        resume_trainer(broken, digits8)


def test_a_cpu_run_saves_no_gpu_generator(saved):
    _, path = saved
    assert load_checkpoint(path).trainer_state["cuda_rng"] is None


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_resume_on_cuda_repeats_the_dropout_of_one_run(digits8, tmp_path):
    """Dropout on the GPU draws from the device's generator, which the checkpoint
    keeps: a run saved mid-epoch and resumed ends with the uninterrupted weights."""
    whole, _ = train(TINY_DROPOUT, digits8, epochs=2, device="cuda")
    trainer, reports = train(TINY_DROPOUT, digits8, epochs=2, device="cuda",
                             on_report=stop_at(30))
    assert finished(reports).status == "stopped"
    path = save_checkpoint(tmp_path / "cuda.ckpt", trainer)
    assert isinstance(load_checkpoint(path).trainer_state["cuda_rng"], torch.Tensor)
    resumed = resume_trainer(load_checkpoint(path), digits8)
    assert finished(drive(resumed)).status == "completed"
    assert_same_weights(resumed.model, whole.model)
