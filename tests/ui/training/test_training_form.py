"""The training settings form: every TrainConfig field round-trips, fields that
mean nothing are greyed out, remembered settings are read defensively."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PySide6.QtCore import QSettings

from netexplorer.core.train_config import TrainConfig
from netexplorer.ui.main_window import MainWindow
from netexplorer.ui.settings import AppSettings
from netexplorer.ui.training.config_form import (
    LogStepSpinBox,
    PowerOfTwoSpinBox,
    TrainConfigForm,
    config_from_settings,
)

CPU = SimpleNamespace(name="cpu", label="CPU (2 cores)", available=True, reason="")
NO_CUDA = SimpleNamespace(name="cuda", label="CUDA GPU", available=False,
                          reason="no CUDA GPU or driver was found on this machine")
GPU = SimpleNamespace(name="cuda:0", label="NVIDIA H100 (79.1 GB)", available=True, reason="")


@pytest.fixture
def form(qtbot) -> TrainConfigForm:
    widget = TrainConfigForm()
    qtbot.addWidget(widget)
    return widget


def test_every_setting_round_trips(form):
    form.set_devices([CPU, GPU])
    config = TrainConfig(loss="mse", optimizer="rmsprop", lr=0.003, momentum=0.5,
                         weight_decay=1e-4, schedule="step", step_size=3, gamma=0.5,
                         batch_size=100, epochs=7, augment_shift=1, seed=42, device="cuda:0")
    form.set_config(config)
    assert form.config() == config
    assert form.problem() == ""


def test_fields_are_enabled_only_where_they_mean_something(form):
    form.set_config(TrainConfig(optimizer="adam", schedule="cosine"))
    assert not form.momentum_spin.isEnabled()
    assert "adam has no momentum" in form.momentum_spin.toolTip()
    assert not form.step_size_spin.isEnabled() and not form.gamma_spin.isEnabled()
    form.optimizer_combo.setCurrentIndex(form.optimizer_combo.findData("nesterov"))
    form.optimizer_combo.activated.emit(form.optimizer_combo.currentIndex())
    assert form.momentum_spin.isEnabled()
    form.schedule_combo.setCurrentIndex(form.schedule_combo.findData("step"))
    form.schedule_combo.activated.emit(form.schedule_combo.currentIndex())
    assert form.step_size_spin.isEnabled() and form.gamma_spin.isEnabled()


def test_a_setting_that_cannot_train_is_explained(form):
    form.set_config(TrainConfig(optimizer="nesterov", momentum=0.0))
    assert "nesterov needs momentum" in form.problem()


def test_locked_while_training_except_the_learning_rate(form, qtbot):
    form.set_locked(True)
    assert form.lr_spin.isEnabled()
    assert not form.epochs_spin.isEnabled() and not form.device_combo.isEnabled()
    assert "stop training" in form.epochs_spin.toolTip()
    with qtbot.waitSignal(form.learningRateEdited) as edited:
        form.lr_spin.setValue(0.2)
    assert edited.args == [pytest.approx(0.2)]
    form.set_locked(False)
    assert form.epochs_spin.isEnabled()


def test_devices_list_gpus_and_explain_a_missing_cuda(form):
    form.set_config(TrainConfig(device="auto"))
    assert not form.devices_known
    assert form.config().device == "auto"  # remembered until the list is known
    form.set_devices([CPU, NO_CUDA])
    assert form.devices_known
    assert form.config().device == "cpu"
    assert form.device_combo.itemData(1, 3) == NO_CUDA.reason  # the tooltip says why
    assert not form.device_combo.model().item(1).isEnabled()

    gpu_form = TrainConfigForm()
    gpu_form.set_config(TrainConfig(device="auto"))
    gpu_form.set_devices([CPU, GPU])
    assert gpu_form.config().device == "cuda:0"  # auto: the first GPU
    gpu_form.deleteLater()


def test_learning_rate_arrows_walk_one_two_five(qtbot):
    spin = LogStepSpinBox(1e-6)
    qtbot.addWidget(spin)
    spin.setRange(1e-6, 100)
    spin.setValue(0.05)
    spin.stepBy(1)
    assert spin.value() == pytest.approx(0.1)
    spin.stepBy(-2)
    assert spin.value() == pytest.approx(0.02)
    spin.setValue(0.03)
    spin.stepBy(1)
    assert spin.value() == pytest.approx(0.05)
    assert spin.text() == "0.05"
    spin.setValue(1e-6)
    spin.stepBy(-1)
    assert spin.value() == pytest.approx(1e-6)  # the minimum holds

    decay = LogStepSpinBox(1e-6)
    qtbot.addWidget(decay)
    decay.setRange(0.0, 0.999)
    decay.setValue(0.0)
    decay.stepBy(1)
    assert decay.value() == pytest.approx(1e-6)
    decay.stepBy(-1)
    assert decay.value() == 0.0


def test_batch_size_arrows_double_and_halve(qtbot):
    spin = PowerOfTwoSpinBox()
    qtbot.addWidget(spin)
    spin.setRange(1, 65_536)
    spin.setValue(64)
    spin.stepBy(1)
    assert spin.value() == 128
    spin.stepBy(-2)
    assert spin.value() == 32
    spin.setValue(100)
    spin.stepBy(1)
    assert spin.value() == 128
    spin.setValue(100)
    spin.stepBy(-1)
    assert spin.value() == 64
    spin.setValue(1)
    spin.stepBy(-1)
    assert spin.value() == 1


@pytest.mark.parametrize("stored, expected", [
    (None, TrainConfig()),
    ("not a dict", TrainConfig()),
    ({"lr": "fast", "epochs": 5}, TrainConfig(epochs=5)),
    ({"lr": -1.0, "batch_size": 10**9, "optimizer": "adam"}, TrainConfig(optimizer="adam")),
    ({"lr": 1, "seed": True, "loss": "hinge"}, TrainConfig(lr=1.0)),
    ({"epochs": 3, "unknown": 1}, TrainConfig(epochs=3)),
])
def test_remembered_settings_are_read_field_by_field(stored, expected):
    assert config_from_settings(stored) == expected


def test_the_window_remembers_the_training_settings(qtbot, tmp_path):
    path = str(tmp_path / "remember.ini")
    first = MainWindow(settings=QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    form = first.training_panel.form
    form.epochs_spin.setValue(12)
    form.optimizer_combo.setCurrentIndex(form.optimizer_combo.findData("adamw"))
    form.optimizer_combo.activated.emit(form.optimizer_combo.currentIndex())
    first.close()

    settings = QSettings(path, QSettings.Format.IniFormat)
    assert AppSettings(settings).training_config["epochs"] == 12
    settings.setValue("training/config", "{broken json")
    settings.sync()
    second = MainWindow(settings=QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    assert second.training_panel.form.config().epochs == TrainConfig().epochs
    second.close()
