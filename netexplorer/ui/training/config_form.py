"""The form for a run's TrainConfig: loss, optimizer and its settings, learning
rate and schedule, batch size, epochs, augmentation, seed and device.

The form holds no settings of its own: `config()` reads a TrainConfig off the
widgets and `set_config()` shows one, so the dataclass in core.train_config
stays the one definition (imported without torch, so the form is built before
torch has loaded). Fields that mean nothing for the current choice — momentum
for Adam, step size for a cosine schedule — are greyed out with a tooltip
saying why, rather than hidden, so the layout never jumps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import fields
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QSpinBox,
    QToolButton,
    QWidget,
)

from netexplorer.core.errors import TrainingError
from netexplorer.core.train_config import (
    LOSSES,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    uses_momentum,
)
from netexplorer.ui.widgets.accessibility import named
from netexplorer.ui.widgets.param_editors import FloatSpinBox

# What each choice means, for tooltips (the tutorial's words where it has them).
LOSS_HELP = {
    "cross-entropy": "cross-entropy on raw scores: the usual choice for classification "
                     "(nn.CrossEntropyLoss)",
    "nll": "negative log-likelihood on log-probabilities: for models ending in logsoftmax "
           "(nn.NLLLoss)",
    "mse": "mean squared error against one-hot targets, as in the tutorial's first network",
}
OPTIMIZER_HELP = {
    "sgd": "stochastic gradient descent, with momentum when momentum is above 0 (optim.SGD)",
    "nesterov": "SGD with Nesterov momentum (optim.SGD(nesterov=True)); needs momentum > 0",
    "adam": "Adam: adaptive per-weight rates (optim.Adam); try a learning rate near 0.001",
    "adamw": "Adam with decoupled weight decay (optim.AdamW); try a learning rate near 0.001",
    "rmsprop": "RMSprop (optim.RMSprop); try a learning rate near 0.001",
}
SCHEDULE_HELP = {
    "none": "keep the learning rate constant",
    "step": "multiply the learning rate by gamma every few epochs (StepLR)",
    "cosine": "decay the learning rate along a half cosine to 0 at the last epoch",
    "onecycle": "warm up to the learning rate over the first 30 %, then anneal (OneCycleLR)",
}
NOT_FOR_OPTIMIZER = "{optimizer} has no momentum setting (Adam keeps its own running averages)"
NOT_FOR_SCHEDULE = "only the step schedule uses this"
LOCKED_WHILE_TRAINING = "stop training to change this; it applies to the next run"
LR_WHILE_TRAINING = "takes effect from the next batch; the schedule continues from it"

_SEED_LIMIT = 2**31 - 1


class LogStepSpinBox(FloatSpinBox):
    """A float spin box whose arrows walk 1-2-5 steps (0.01, 0.02, 0.05, 0.1, …).

    Learning rates and weight decays span decades; a linear step of 0.001 is
    useless at 1e-5 and at 10 alike. With a minimum of 0, stepping down from the
    smallest positive value reaches 0.
    """

    def __init__(self, smallest: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._smallest = smallest

    def stepBy(self, steps: int) -> None:
        value = self.value()
        for _ in range(abs(steps)):
            value = _next_nice(value, up=steps > 0, smallest=self._smallest,
                               floor=self.minimum())
        self.setValue(min(max(value, self.minimum()), self.maximum()))

    def stepEnabled(self):
        flags = QSpinBox.StepEnabledFlag.StepNone
        if self.value() < self.maximum():
            flags |= QSpinBox.StepEnabledFlag.StepUpEnabled
        if self.value() > self.minimum():
            flags |= QSpinBox.StepEnabledFlag.StepDownEnabled
        return flags


def _next_nice(value: float, up: bool, smallest: float, floor: float) -> float:
    """The next value of the 1-2-5 series above or below `value`."""
    if value <= 0:
        return smallest if up else floor
    exponent = math.floor(math.log10(value))
    candidates = sorted({m * 10.0 ** e for e in range(exponent - 1, exponent + 2)
                         for m in (1, 2, 5)})
    if up:
        bigger = [c for c in candidates if c > value * (1 + 1e-9)]
        return float(f"{bigger[0]:.12g}")
    smaller = [c for c in candidates if c < value * (1 - 1e-9)]
    result = float(f"{smaller[-1]:.12g}")
    return floor if result < smallest * (1 - 1e-9) else result


class PowerOfTwoSpinBox(QSpinBox):
    """Batch sizes: the arrows go to the next power of two up or down (any number
    may still be typed)."""

    def stepBy(self, steps: int) -> None:
        value = self.value()
        for _ in range(abs(steps)):
            if steps > 0:
                value = 1 << value.bit_length()
            else:
                power = value & (value - 1) == 0
                value = max(1, (1 << (value.bit_length() - 1)) >> (1 if power else 0))
        self.setValue(min(max(value, self.minimum()), self.maximum()))


class TrainConfigForm(QGroupBox):
    """Every TrainConfig setting as a widget; `configChanged(object)` on each edit.

    The device list starts with the CPU; set_devices() fills in what device
    discovery found (CUDA devices with name and memory, or a disabled CUDA entry
    whose tooltip says why). While a run is active, set_locked(True) greys out
    everything but the learning rate, which learningRateEdited(float) carries to
    the running trainer.
    """

    configChanged = Signal(object)  # TrainConfig, after a person's edit (not set_config)
    learningRateEdited = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Settings", parent)
        named(self, "trainConfigForm", "Training settings")
        self._locked = False
        self._showing = False  # set_config in progress: no configChanged per widget
        self._report_every = TrainConfig().report_every
        self._discovered = False  # set_devices has filled the device list
        self._remembered_device = "cpu"  # chosen before then, selected once it is known
        self._build()
        self.set_config(TrainConfig(device="cpu"))

    # ------------------------------------------------------------------ interface

    def config(self) -> TrainConfig:
        """The settings as shown (not validated: see problem())."""
        return TrainConfig(
            loss=self.loss_combo.currentData(), optimizer=self.optimizer_combo.currentData(),
            lr=self.lr_spin.value(), momentum=self.momentum_spin.value(),
            weight_decay=self.weight_decay_spin.value(),
            schedule=self.schedule_combo.currentData(), step_size=self.step_size_spin.value(),
            gamma=self.gamma_spin.value(), batch_size=self.batch_size_spin.value(),
            epochs=self.epochs_spin.value(), augment_shift=self.shift_spin.value(),
            seed=self.seed_spin.value(), device=self._device(),
            report_every=self._report_every)

    def _device(self) -> str:
        if not self._discovered:  # the list is not known yet: keep what was chosen
            return self._remembered_device
        return self.device_combo.currentData() or "cpu"

    def set_config(self, config: TrainConfig) -> None:
        """Show `config`; values outside a widget's range are clamped to it."""
        self._showing = True
        try:
            _select(self.loss_combo, config.loss)
            _select(self.optimizer_combo, config.optimizer)
            self.lr_spin.setValue(config.lr)
            self.momentum_spin.setValue(config.momentum)
            self.weight_decay_spin.setValue(config.weight_decay)
            _select(self.schedule_combo, config.schedule)
            self.step_size_spin.setValue(config.step_size)
            self.gamma_spin.setValue(config.gamma)
            self.batch_size_spin.setValue(config.batch_size)
            self.epochs_spin.setValue(config.epochs)
            self.shift_spin.setValue(config.augment_shift)
            self.seed_spin.setValue(min(config.seed, _SEED_LIMIT))
            self._select_device(config.device)
            self._report_every = config.report_every
        finally:
            self._showing = False
        self._refresh_enabled()

    def problem(self) -> str:
        """Why these settings cannot train, in words to act on; "" when they can."""
        try:
            self.config().validate()
        except TrainingError as exc:
            return str(exc)
        if not self.device_combo.currentData():
            return "choose a device"
        return ""

    def set_devices(self, devices: Iterable[Any]) -> None:
        """Fill the device list from core.devices.available_devices() (DeviceInfo
        items: name, label, available, reason); keeps the chosen device if it is
        still there, else the first GPU, else the CPU."""
        wanted = self.device_combo.currentData() if self._discovered else self._remembered_device
        devices = list(devices)
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        for info in devices:
            self.device_combo.addItem(info.label, info.name if info.available else None)
            index = self.device_combo.count() - 1
            tip = info.reason if not info.available else (
                "train on the CPU" if info.name == "cpu" else f"train on {info.name}")
            self.device_combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
            if not info.available:
                _disable_item(self.device_combo, index)
        self.device_combo.blockSignals(False)
        self._discovered = True
        self._select_device(wanted)

    @property
    def devices_known(self) -> bool:
        """Device discovery has filled the list (until then only the CPU is listed)."""
        return self._discovered

    def set_locked(self, locked: bool) -> None:
        """Lock everything but the learning rate while a run is active."""
        self._locked = locked
        self._refresh_enabled()

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        grid = QGridLayout(self)
        grid.setContentsMargins(8, 6, 8, 8)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(4)
        self._labels: dict[QWidget, QLabel] = {}

        self.optimizer_combo = self._combo("optimizerCombo", "Optimizer", OPTIMIZERS,
                                           OPTIMIZER_HELP)
        self.lr_spin = named(LogStepSpinBox(1e-6), "lrSpin", "Learning rate",
                             "the step size of each update (0 < lr ≤ 100)")
        self.lr_spin.setRange(1e-6, 100.0)
        self.lr_spin.setKeyboardTracking(False)  # one change per finished entry, not per key
        self.momentum_spin = named(FloatSpinBox(), "momentumSpin", "Momentum",
                                   "fraction of the previous update carried into the next")
        self.momentum_spin.setRange(0.0, 0.999)
        self.momentum_spin.setSingleStep(0.05)
        self.momentum_spin.setStepType(FloatSpinBox.StepType.DefaultStepType)
        self.weight_decay_spin = named(LogStepSpinBox(1e-6), "weightDecaySpin", "Weight decay",
                                       "L2 penalty on the weights (0: none)")
        self.weight_decay_spin.setRange(0.0, 0.999)
        self.schedule_combo = self._combo("scheduleCombo", "Schedule", SCHEDULES, SCHEDULE_HELP)
        self.step_size_spin = self._int_spin("stepSizeSpin", "Step size",
                                             "epochs between learning-rate decays", 1, 100_000,
                                             " epochs")
        self.gamma_spin = named(FloatSpinBox(), "gammaSpin", "Gamma",
                                "factor the learning rate is multiplied by at each decay")
        self.gamma_spin.setRange(1e-6, 1.0)
        self.gamma_spin.setSingleStep(0.1)
        self.gamma_spin.setStepType(FloatSpinBox.StepType.DefaultStepType)
        self.loss_combo = self._combo("lossCombo", "Loss", LOSSES, LOSS_HELP)
        self.batch_size_spin = named(PowerOfTwoSpinBox(), "batchSizeSpin", "Batch size",
                                     "images per update; the arrows double and halve it")
        self.batch_size_spin.setRange(1, 65_536)
        self.epochs_spin = self._int_spin("epochsSpin", "Epochs",
                                          "passes over the training images", 1, 100_000)
        self.shift_spin = self._int_spin("shiftSpin", "Random shift",
                                         "shift each training image by up to this many pixels "
                                         "(augmentation; 0: off)", 0, 64, " px")
        self.seed_spin = self._int_spin("seedSpin", "Seed",
                                        "seeds the initial weights, the data order and the "
                                        "shifts: the same seed gives the same run", 0, _SEED_LIMIT)
        self.device_combo = named(QComboBox(), "deviceCombo", "Device", "where the model trains")
        self.device_combo.addItem("CPU", "cpu")
        self.device_combo.addItem("looking for CUDA GPUs…", None)
        _disable_item(self.device_combo, 1)
        self.device_combo.activated.connect(self._on_edited)

        self.defaults_button = named(QToolButton(), "defaultsButton", "Restore defaults",
                                     "the recipe measured for LeNet on the bundled digits")
        self.defaults_button.setText("Defaults")
        self.defaults_button.clicked.connect(self._on_defaults)

        # Mnemonics avoid the menu bar's F, E, V, H and T.
        # Three columns of label/field pairs: the optimizer and its rate, the schedule,
        # then the run itself.
        rows: list[list[tuple[str, QWidget]]] = [
            [("&Optimizer", self.optimizer_combo), ("&Learning rate", self.lr_spin),
             ("&Momentum", self.momentum_spin)],
            [("Weight &decay", self.weight_decay_spin), ("S&chedule", self.schedule_combo),
             ("Step si&ze", self.step_size_spin)],
            [("&Gamma", self.gamma_spin), ("Lo&ss", self.loss_combo),
             ("&Batch size", self.batch_size_spin)],
            [("E&pochs", self.epochs_spin), ("&Random shift", self.shift_spin),
             ("Seed", self.seed_spin)],
            [("Dev&ice", self.device_combo)],
        ]
        for r, row in enumerate(rows):
            for c, (text, widget) in enumerate(row):
                label = QLabel(text)
                label.setBuddy(widget)
                label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self._labels[widget] = label
                grid.addWidget(label, r, 2 * c)
                grid.addWidget(widget, r, 2 * c + 1)
        grid.addWidget(self.device_combo, 4, 1, 1, 3)
        grid.addWidget(self.defaults_button, 4, 5, Qt.AlignmentFlag.AlignRight)
        for c in (1, 3, 5):
            grid.setColumnStretch(c, 1)

        for spin in (self.momentum_spin, self.weight_decay_spin, self.gamma_spin):
            spin.valueChanged.connect(self._on_edited)
        for int_spin in (self.step_size_spin, self.batch_size_spin, self.epochs_spin,
                         self.shift_spin, self.seed_spin):
            int_spin.valueChanged.connect(self._on_edited)
        for combo in (self.optimizer_combo, self.schedule_combo, self.loss_combo):
            combo.activated.connect(self._on_edited)
        self.lr_spin.valueChanged.connect(self._on_lr_changed)

    def _combo(self, object_name: str, accessible: str, choices: Iterable[str],
               help_text: dict[str, str]) -> QComboBox:
        combo = named(QComboBox(), object_name, accessible)
        for choice in choices:
            combo.addItem(choice, choice)
            combo.setItemData(combo.count() - 1, help_text.get(choice, ""),
                              Qt.ItemDataRole.ToolTipRole)
        return combo

    def _int_spin(self, object_name: str, accessible: str, tip: str, low: int, high: int,
                  suffix: str = "") -> QSpinBox:
        spin = named(QSpinBox(), object_name, accessible, tip)
        spin.setRange(low, high)
        spin.setSuffix(suffix)
        spin.setAccelerated(True)
        spin.setGroupSeparatorShown(high >= 10_000)
        return spin

    # ------------------------------------------------------------------ state

    def _select_device(self, name: str | None) -> None:
        """Choose `name` if listed and usable; "auto" means the first GPU, else the CPU.
        Before discovery the name is remembered and chosen once the list is known."""
        if not self._discovered:
            self._remembered_device = name or "cpu"
        index = self.device_combo.findData(name) if name and name != "auto" else -1
        if index < 0 and name == "auto":
            gpus = [i for i in range(self.device_combo.count())
                    if str(self.device_combo.itemData(i) or "").startswith("cuda")]
            index = gpus[0] if gpus else -1
        if index < 0:
            index = self.device_combo.findData("cpu")
        self.device_combo.setCurrentIndex(max(index, 0))

    def _refresh_enabled(self) -> None:
        optimizer = self.optimizer_combo.currentData()
        momentum_ok = uses_momentum(optimizer)
        step_ok = self.schedule_combo.currentData() == "step"
        reasons: dict[QWidget, str] = {
            self.momentum_spin: "" if momentum_ok else
            NOT_FOR_OPTIMIZER.format(optimizer=optimizer),
            self.step_size_spin: "" if step_ok else NOT_FOR_SCHEDULE,
            self.gamma_spin: "" if step_ok else NOT_FOR_SCHEDULE}
        for widget, label in self._labels.items():
            why = LOCKED_WHILE_TRAINING if self._locked and widget is not self.lr_spin \
                else reasons.get(widget, "")
            widget.setEnabled(not why)
            label.setEnabled(not why)
            base = widget.accessibleDescription()
            widget.setToolTip(f"{base}\n\n{why}" if why and base else why or base)
        if self._locked:
            self.lr_spin.setToolTip(f"{self.lr_spin.accessibleDescription()}\n\n"
                                    f"{LR_WHILE_TRAINING}")
        self.defaults_button.setEnabled(not self._locked)

    # ------------------------------------------------------------------ reactions

    @Slot()
    def _on_edited(self, *_args: Any) -> None:
        if self._showing:
            return
        self._refresh_enabled()
        self.configChanged.emit(self.config())

    @Slot(float)
    def _on_lr_changed(self, value: float) -> None:
        if self._showing:
            return
        if self._locked:
            self.learningRateEdited.emit(value)
        self.configChanged.emit(self.config())

    @Slot()
    def _on_defaults(self) -> None:
        device = self.device_combo.currentData() or "cpu"
        self.set_config(TrainConfig(device=device))


def _select(combo: QComboBox, value: str) -> None:
    index = combo.findData(value)
    combo.setCurrentIndex(index if index >= 0 else 0)


def _disable_item(combo: QComboBox, index: int) -> None:
    """Grey out one entry of a combo box (it stays listed, with its tooltip)."""
    model = combo.model()
    item = model.item(index) if hasattr(model, "item") else None
    if item is not None:
        item.setEnabled(False)


def config_from_settings(data: Any) -> TrainConfig:
    """A TrainConfig from remembered settings, field by field: a value of the wrong
    type or out of range falls back to its default instead of losing the rest."""
    default = TrainConfig()
    if not isinstance(data, dict):
        return default
    values: dict[str, Any] = {}
    for f in fields(TrainConfig):
        value = data.get(f.name, getattr(default, f.name))
        wanted = type(getattr(default, f.name))
        if wanted is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not wanted:
            continue
        try:
            TrainConfig(**{**values, f.name: value}).validate()
        except (TrainingError, TypeError, ValueError, OverflowError):
            continue
        values[f.name] = value
    return TrainConfig(**values)
