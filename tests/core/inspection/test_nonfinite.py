"""Non-finite values: caught at the step they appear whatever the probe samples,
named by a replay with every layer watched, and never mistaken for the overflow
of a statistic of finite values."""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from netexplorer.core.data import Split
from netexplorer.core.inspection import STAT_INDEX, Probe
from netexplorer.core.inspection.nonfinite import all_finite, locate_nonfinite, note_nonfinite
from netexplorer.core.inspection.probe import probe_layers
from netexplorer.core.presets import get_preset
from netexplorer.core.trainers import new_trainer
from netexplorer.core.training import TrainConfig, Trainer
from tests.core.trainkit import TINY, config, drive, finished, probe_step, steps_of

LENET = get_preset("lenet")
# The Inspector's default sampling interval and the default report interval.
DEFAULT_EVERY = 10


def test_note_nonfinite_sets_the_flag_only_for_nan_or_infinity():
    flag = torch.zeros(1)
    note_nonfinite([torch.full((3,), 3e38), torch.ones(2)], flag)
    assert flag.item() == 0  # huge but finite: no false alarm (a norm would overflow)
    for bad in (float("nan"), float("inf"), -float("inf")):
        flag = torch.zeros(1)
        note_nonfinite([torch.ones(4), torch.tensor([1.0, bad])], flag)
        assert flag.item() == 1, bad
    assert all_finite([torch.full((2,), 3e38)]) and not all_finite([torch.tensor([math.nan])])


@pytest.fixture(scope="module")
def lenet_at_lr_50(digits32):
    """LeNet at lr 50 with the Inspector's default sampling: it diverges between samples."""
    settings = TrainConfig(lr=50.0, epochs=2, device="cpu")
    trainer = new_trainer(LENET, digits32, settings, probe_every=DEFAULT_EVERY)
    return trainer, drive(trainer)


def test_lr_50_stops_at_the_first_non_finite_step_and_names_a_layer(lenet_at_lr_50):
    trainer, reports = lenet_at_lr_50
    done = finished(reports)
    assert done.status == "diverged"
    bad = done.diverged_step
    assert bad % DEFAULT_EVERY != 0, "diverged on a sampled step: the test proves nothing"
    # Every step before it was finite and kept at most up to it; none after it ran on.
    assert trainer.position.step < bad == len(trainer.history["step_losses"]) + (
        bad - trainer.position.step)
    assert all(math.isfinite(v) for v in trainer.history["step_losses"])
    site = done.nonfinite
    names = [name for name, _ in probe_layers(trainer.model)]
    assert site is not None and site.layer in names and site.layer_index == names.index(site.layer)
    assert site.where in ("output", "gradient", "weight gradient", "weights")
    assert site.value in ("NaN", "infinity")
    assert f"step {bad}" in done.message and f"'{site.layer}'" in done.message
    # That batch, for display: its indices and its images.
    assert len(site.batch) == trainer.config.batch_size
    assert site.images.shape[0] == len(site.batch)
    assert np.array_equal(site.images, trainer.dataset.train.originals[list(site.batch)].numpy())


def test_lr_50_keeps_finite_weights_with_a_finite_test_loss(lenet_at_lr_50):
    trainer, reports = lenet_at_lr_50
    done = finished(reports)
    assert all(torch.isfinite(t).all() for t in trainer.model.state_dict().values())
    now = trainer.evaluation_of_current_weights()
    assert math.isfinite(now.loss)
    assert (done.test_accuracy, done.test_loss) == (now.accuracy, now.loss)
    assert f"weights of step {trainer.position.step}" in done.message
    # The probe's samples of undone steps are dropped: none after the kept step.
    sampled = [int(s) for r in steps_of(reports) if r.probe is not None for s in r.probe.steps]
    assert all(s < trainer.position.step for s in sampled)


class SqrtOf(nn.Module):
    """√x: finite at 0, but its gradient there is infinite."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(x)


class ZeroWithGradient(nn.Module):
    """Outputs zeros, passes gradients through unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - x.detach()


def sqrt_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc1=nn.Linear(64, 16),
                                     zero=ZeroWithGradient(), sqrt=SqrtOf(),
                                     fc2=nn.Linear(16, 10)))


def test_a_non_finite_gradient_with_a_finite_loss_is_caught_at_its_step(digits8):
    """Zeros under a √: every loss is finite, the gradients are not. Without the
    gradient check the run would go on with NaN weights until a later loss showed it."""
    model = sqrt_model()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(model, digits8, config(report_every=DEFAULT_EVERY))
    done = finished(drive(trainer))
    assert done.status == "diverged" and done.diverged_step == 1
    assert math.isfinite(done.diverged_loss)  # the loss said nothing
    assert trainer.position.step == 0
    assert all(torch.equal(v, initial[k]) for k, v in trainer.model.state_dict().items())
    site = done.nonfinite
    assert (site.layer, site.where) == ("zero", "gradient")  # √'s gradient at its input


def test_locate_names_the_first_layer_in_forward_order():
    model = nn.Sequential(OrderedDict(fc1=nn.Linear(4, 4), fc2=nn.Linear(4, 4),
                                      fc3=nn.Linear(4, 2)))
    with torch.no_grad():
        model.fc2.bias[0] = float("nan")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    site = locate_nonfinite(model, opt, torch.randn(3, 4), torch.tensor([0, 1, 0]),
                            nn.functional.cross_entropy, step=7)
    assert (site.step, site.layer, site.layer_index, site.where, site.value) == \
        (7, "fc2", 1, "output", "NaN")
    assert "'fc2'" in site.describe() and "NaN" in site.describe()


def test_locate_names_an_update_that_overflowed_the_weights():
    model = nn.Sequential(OrderedDict(fc1=nn.Linear(4, 4), fc2=nn.Linear(4, 2)))
    opt = torch.optim.SGD(model.parameters(), lr=3e38)  # finite gradients, ±∞ weights
    site = locate_nonfinite(model, opt, torch.randn(3, 4), torch.tensor([0, 1, 0]),
                            lambda out, _y: out.sum() * 1e3, step=1)
    assert site.where == "weights" and site.layer in ("fc1", "fc2")
    assert site.value == "infinity" and "update" in site.describe()


def test_when_no_weights_give_a_finite_test_loss_it_says_so(digits8):
    """A NaN in a test image: no weights can give a finite test loss. The run keeps
    the earliest weights it can reach and says honestly that they do not either."""
    images = digits8.test.images.clone()
    images[0, 0, 0, 0] = float("nan")
    data = dataclasses.replace(digits8, test=Split(images, digits8.test.labels,
                                                   digits8.test.originals))
    trainer = Trainer(TINY, data, config(lr=50.0, schedule="none", epochs=3,
                                         report_every=1000))
    done = finished(drive(trainer))
    assert done.status == "diverged"
    assert "No weights in reach give a finite loss on the test images" in done.message
    assert trainer.position.step == 0 == done.step
    assert not math.isfinite(done.test_loss)


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def test_finite_activations_of_1e30_give_finite_statistics_and_no_alert():
    """Squares of 1e30 overflow float32; the statistics of such values must not."""
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc0=nn.Linear(64, 64),
                                      big=Scale(1e30), fc=nn.Linear(64, 10)))
    with Probe(model) as probe:
        x = torch.rand(32, 1, 8, 8) + 0.5
        report = probe_step(probe, model, x, torch.arange(32) % 10, None, 0)
    big = [i.name for i in report.layers].index("big")
    for stat in ("act_norm", "act_mean", "act_std", "grad_norm"):
        value = report.stats[0, STAT_INDEX[stat], big]
        assert np.isfinite(value), (stat, value)
    assert abs(report.stats[0, STAT_INDEX["act_mean"], big]) > 1e27
    assert report.stats[0, STAT_INDEX["act_norm"], big] > 1e31  # beyond float32's squares
    for name in ("fc0", "fc"):
        column = [i.name for i in report.layers].index(name)
        assert np.isfinite(report.stats[0, STAT_INDEX["weight_grad_norm"], column]), name
    fc0 = [i.name for i in report.layers].index("fc0")
    assert report.stats[0, STAT_INDEX["weight_grad_norm"], fc0] > 1e20
    assert not [a for a in report.alerts if a.kind in ("nan", "overflow")]
    _, history = probe.history("act_norm", "big")
    assert np.isfinite(history).all()  # the ring buffer keeps them finite too
