"""One diagnosis for every view: verdicts that agree with the doctor's alerts on
the learning rate and name only activations the model has."""

from __future__ import annotations

import pytest

from netexplorer.core.data import load_dataset
from netexplorer.core.inspection.advice import lr_advice, vanishing_advice
from netexplorer.core.inspection.diagnosis import RunFacts, diagnose, lr_direction
from netexplorer.core.inspection.stats import Alert
from netexplorer.core.presets import get_preset
from netexplorer.core.reports import EpochReport, FinishedReport
from netexplorer.core.runs import RunHistory
from netexplorer.core.trainers import new_trainer
from netexplorer.core.training import TrainConfig

ACTIVATIONS = ("sigmoid", "tanh", "relu")


def probed_run(preset: str, **changes) -> RunHistory:
    """A run of a preset on the digits, probed at every step, as the window keeps it."""
    spec = get_preset(preset)
    data = load_dataset("digits", input_shape=spec.input_shape)
    config = TrainConfig(epochs=2, device="cpu").replace(**changes)
    trainer = new_trainer(spec, data, config, probe_every=1)
    run = RunHistory(1, config, spec.name, data.name,
                     layer_kinds=tuple(layer.kind for layer in spec.layers))
    run.extend(trainer.steps())
    return run


def advice_texts(run: RunHistory) -> list[str]:
    return [alert.advice for alert in run.alerts] + \
        [verdict.advice for verdict in diagnose(RunFacts.of_run(run))]


def named_activations(text: str) -> set[str]:
    words = text.lower().replace("/", " ").replace(",", " ").split()
    return {kind for kind in ACTIVATIONS if kind in words}


@pytest.mark.parametrize("preset, changes, direction", [
    ("deep-sigmoid", {}, "raise"),
    ("lenet", {"lr": 1.5}, "lower"),
])
def test_the_verdict_and_the_alerts_agree(preset, changes, direction):
    run = probed_run(preset, **changes)
    [verdict] = diagnose(RunFacts.of_run(run))
    assert verdict.kind == "not_learning" and "chance level" in verdict.message
    # One direction for the learning rate, in the verdict and in every alert.
    assert lr_direction(run.config, run.alerts) == direction
    texts = advice_texts(run)
    opposite = "ten times" if direction == "lower" else "a tenth"
    assert not [t for t in texts if opposite in t], texts
    assert lr_advice(run.config.optimizer, run.config.lr, direction) in verdict.advice
    # The activations blamed are the model's own: no "replace the sigmoid" for ReLUs.
    present = set(run.layer_kinds)
    for text in texts:
        assert named_activations(text) & {"sigmoid", "tanh"} <= present, text


def test_vanishing_advice_follows_the_activations():
    assert "sigmoid" in vanishing_advice(["linear", "sigmoid"])
    assert "sigmoid" not in vanishing_advice(["conv2d", "relu"])
    assert "tanh" in vanishing_advice(["tanh"]) and "sigmoid" not in vanishing_advice(["tanh"])


def epoch(accuracy: float, loss: float = 1.0, n: int = 1) -> EpochReport:
    return EpochReport(n, 23 * n, loss, accuracy, loss, accuracy, (accuracy,) * 10, 0.05,
                       1.0, 1.0, 1000.0)


@pytest.mark.parametrize("optimizer, lr, words", [
    ("adam", 10.0, "0.001"), ("rmsprop", 100.0, "RMSprop usually works"),
    ("sgd", 1e-5, "far below"),
])
def test_not_learning_names_the_optimizers_learning_rate(optimizer, lr, words):
    config = TrainConfig(optimizer=optimizer, lr=lr, momentum=0.0)
    [verdict] = diagnose(RunFacts(config, ("conv2d", "relu"), (epoch(0.1),)))
    assert verdict.kind == "not_learning" and words in verdict.advice


def test_a_learning_run_has_no_verdict_and_a_flat_loss_does():
    config = TrainConfig()
    assert diagnose(RunFacts(config, (), (epoch(0.9, 0.3),))) == []
    flat = (epoch(0.3, 2.29, 1), epoch(0.3, 2.29, 2))
    [verdict] = diagnose(RunFacts(config, (), flat))
    assert "no better than guessing" in verdict.message


def test_a_divergence_says_the_run_ended_and_lower():
    config = TrainConfig(lr=50.0)
    done = FinishedReport("diverged", "m", 0, 3, 1.0, diverged_step=5, diverged_lr=50.0)
    alerts = (Alert("update_low", "fc1", 2, "m", "try ten times the learning rate"),)
    [verdict] = diagnose(RunFacts(config, ("relu",), (), done, alerts))
    assert "ended" in verdict.message and "step 5" in verdict.message
    assert "learning rate of 0.1" in verdict.advice  # lower, whatever an alert said
