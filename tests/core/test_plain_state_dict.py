"""The PyTorch tutorial's own files: a plain state_dict saved with
`torch.save(net.state_dict(), PATH)` loads into a ModelSpec whose names and shapes
fit — read as safely as a checkpoint — and a file that does not fit is refused with
the first name or shape that differs."""

from __future__ import annotations

import math
import os
import random
import shlex
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from netexplorer.core.checkpoints import (
    CheckpointError,
    PlainStateDict,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from netexplorer.core.presets import get_preset
from netexplorer.core.specs import build_model
from netexplorer.core.trainers import resume_trainer
from tests.core.trainkit import TINY, config, tiny_spec
from tests.fakes import write_zip_bomb


class TutorialNet(nn.Module):
    """The tutorial's LeNet ("Neural Networks"), as written there."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory) -> tuple[TutorialNet, Path]:
    torch.manual_seed(1)
    net = TutorialNet()
    path = tmp_path_factory.mktemp("tutorial") / "lenet_net.pth"
    torch.save(net.state_dict(), path)  # PATH = './cifar_net.pth'; the tutorial's line
    return net, path


def test_the_tutorials_state_dict_loads_into_the_lenet_preset(tutorial):
    net, path = tutorial
    checkpoint = load_weights(path, get_preset("lenet"))
    assert checkpoint.spec.name == "lenet"
    assert checkpoint.config is None and checkpoint.trainer_state is None  # weights only
    assert checkpoint.dataset_name is None and checkpoint.classes == ()
    model = checkpoint.build_model().eval()
    x = torch.randn(4, 1, 32, 32)
    with torch.no_grad():  # the same function: the same weights in the same places
        assert torch.equal(model(x), net.eval()(x))


def test_load_checkpoint_says_a_plain_state_dict_needs_a_model(tutorial):
    _, path = tutorial
    with pytest.raises(PlainStateDict) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert isinstance(caught.value, CheckpointError)
    assert message.startswith("lenet_net.pth: this is a plain state_dict (10 tensors by name")
    assert "load_weights" in message and "--model NAME" in message and "\n" not in message


def test_the_tutorials_general_checkpoint_and_a_data_parallel_model_load(tutorial, tmp_path):
    net, _ = tutorial
    general = tmp_path / "model.tar"
    optimizer = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    torch.save({"epoch": 5, "model_state_dict": net.state_dict(),
                "optimizer_state_dict": optimizer.state_dict(), "loss": 0.4}, general)
    wrapped = tmp_path / "parallel.pt"
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, wrapped)
    for path in (general, wrapped):
        model = load_weights(path, get_preset("lenet")).build_model()
        for key, value in net.state_dict().items():
            assert torch.equal(model.state_dict()[key], value), (path.name, key)


def test_a_netexplorer_checkpoints_weights_load_into_a_spec_that_fits(tmp_path):
    model = build_model(TINY)
    path = save_checkpoint(tmp_path / "tiny.ckpt", spec=TINY, model=model)
    renamed = TINY.__class__("renamed", TINY.input_shape, TINY.layers)
    checkpoint = load_weights(path, renamed)
    assert checkpoint.spec.name == "renamed" and checkpoint.config is None
    assert torch.equal(checkpoint.model_state["fc2.bias"], model.state_dict()["fc2.bias"])


def edited_state(change):
    def build(path: Path) -> None:
        torch.manual_seed(0)
        state = build_model(TINY).state_dict()
        change(state)
        torch.save(state, path)
    return build


MISFITS = {
    "missing": (edited_state(lambda s: s.pop("fc2.bias")),
                "tiny.pt does not fit the model 'tiny': the model's tensor 'fc2.bias' (10) is "
                "missing from the file"),
    "unexpected": (edited_state(lambda s: s.update({"fc3.weight": torch.zeros(2, 3)})),
                   "tiny.pt does not fit the model 'tiny': the file's tensor 'fc3.weight' (2×3) "
                   "is not in the model"),
    "renamed": (edited_state(lambda s: s.update({"out.bias": s.pop("fc2.bias")})),
                "the model's tensor 'fc2.bias' (10) is missing from the file (1 more name(s) "
                "or shape(s) differ)"),
    "shape": (lambda path: torch.save(build_model(tiny_spec(hidden=16)).state_dict(), path),
              "tiny.pt does not fit the model 'tiny': tensor 'fc1.weight' is 16×64 in the file "
              "but 32×64 in the model (2 more name(s) or shape(s) differ)"),
    "nan": (edited_state(lambda s: s["fc1.weight"].view(-1)[:2].fill_(math.nan)),
            "tiny.pt: its tensor 'fc1.weight' holds 2 NaN or infinite value(s) of 2,048"),
    "int": (edited_state(lambda s: s.update({"fc1.bias": s["fc1.bias"].long()})),
            "tiny.pt: its tensor 'fc1.bias' is int64, but the model's is float32"),
    "not-weights": (lambda path: torch.save([1, 2, 3], path),
                    "tiny.pt: it holds no weights by name (a state_dict) to load into 'tiny'"),
    "damaged": (lambda path: path.write_bytes(random.Random(0).randbytes(2000)),
                "tiny.pt is not a readable checkpoint"),
}


@pytest.mark.parametrize("kind", MISFITS)
def test_a_file_that_does_not_fit_names_the_first_difference(kind, tmp_path):
    build, words = MISFITS[kind]
    path = tmp_path / "tiny.pt"
    build(path)
    with pytest.raises(CheckpointError) as caught:
        load_weights(path, TINY)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_hostile_or_inflating_file_is_refused_as_a_checkpoint_is(tmp_path):
    marker = tmp_path / "marker"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {shlex.quote(str(marker))}",)

    evil = tmp_path / "evil.pt"
    torch.save({"fc1.weight": Payload()}, evil)
    with pytest.raises(CheckpointError, match="evil.pt was refused: it contains Python objects"):
        load_weights(evil, TINY)
    assert not marker.exists()
    good = tmp_path / "good.pt"
    torch.save(build_model(TINY).state_dict(), good)
    bomb = write_zip_bomb(good, tmp_path / "bomb.pt", "/data/0", 1 << 30)
    with pytest.raises(CheckpointError, match="bomb.pt was refused: its contents would unpack"):
        load_weights(bomb, TINY)


def test_a_plain_state_dict_starts_a_run_with_a_fresh_optimizer(tmp_path, digits8):
    torch.manual_seed(3)
    model = build_model(TINY)
    path = tmp_path / "tiny.pt"
    torch.save(model.state_dict(), path)
    trainer = resume_trainer(load_weights(path, TINY), digits8, config(epochs=1))
    assert trainer.position.step == 0
    assert torch.equal(trainer.model.state_dict()["fc1.weight"], model.state_dict()["fc1.weight"])
    for _ in trainer.steps():
        pass
    assert trainer.position.epoch == 1
