"""One editor per parameter type of the layer catalogue (layers.ParamDef).

The form never knows what a conv2d is: it asks make_editor for an editor per
ParamDef, and each editor keeps its value within the ParamDef's range. Editors
emit valueEdited only for a person's edits, never when the form sets a value,
so showing a spec can never push an undo step.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QWidget,
)

from netexplorer.core.layers import BOOL, CHOICE, FLOAT, INT, SIZE, ParamDef
from netexplorer.ui.widgets.accessibility import hint_label, named

_INT_LIMIT = 2**31 - 1


def describe_range(p: ParamDef) -> str:
    """'from 1 to 65,536' — the valid range as a tooltip reads it."""
    if p.type in (BOOL, CHOICE):
        return ""
    if p.minimum is not None and p.maximum is not None:
        return f"from {p.minimum:,g} to {p.maximum:,g}"
    if p.minimum is not None:
        return f"at least {p.minimum:,g}"
    return ""


def param_tooltip(p: ParamDef) -> str:
    parts = [p.help] if p.help else []
    valid = describe_range(p)
    if valid:
        parts.append(f"valid values: {valid}" + (" (or a height × width pair)"
                                                 if p.type == SIZE else ""))
    return "; ".join(parts)


class ParamEditor(QWidget):
    """Base of the editors: value(), set_value(), and valueEdited(object)."""

    valueEdited = Signal(object)

    def __init__(self, p: ParamDef, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = p
        named(self, f"param_{p.name}", p.name, param_tooltip(p))
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def value(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def set_value(self, value: Any) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _child(self, widget: QWidget, suffix: str, accessible: str) -> QWidget:
        named(widget, f"param_{self.param.name}_{suffix}", accessible, param_tooltip(self.param))
        self._layout.addWidget(widget)
        return widget


def _int_spin(p: ParamDef) -> QSpinBox:
    spin = QSpinBox()
    low = int(p.minimum) if p.minimum is not None else -_INT_LIMIT
    high = int(min(p.maximum, _INT_LIMIT)) if p.maximum is not None else _INT_LIMIT
    spin.setRange(low, high)
    spin.setGroupSeparatorShown(high >= 10_000)
    spin.setAccelerated(True)
    return spin


class IntEditor(ParamEditor):
    def __init__(self, p: ParamDef, parent: QWidget | None = None) -> None:
        super().__init__(p, parent)
        self._spin = _int_spin(p)
        self._child(self._spin, "spin", p.name)
        self._spin.valueChanged.connect(self._on_value_changed)

    def value(self) -> int:
        return self._spin.value()

    def set_value(self, value: Any) -> None:
        self._spin.blockSignals(True)
        self._spin.setValue(int(value) if value is not None else self._spin.minimum())
        self._spin.blockSignals(False)

    @Slot(int)
    def _on_value_changed(self, value: int) -> None:
        self.valueEdited.emit(value)


class FloatSpinBox(QDoubleSpinBox):
    """A double spin box that shows 1e-05 as 1e-05, not 0.000010000000."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)  # the catalogue's smallest bound is 1e-12
        self.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)

    def textFromValue(self, value: float) -> str:
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        try:
            value = float(text.replace(",", "."))
        except ValueError:
            allowed = set("0123456789.,-+eE")
            state = (QValidator.State.Intermediate if set(text) <= allowed
                     else QValidator.State.Invalid)
            return (state, text, pos)
        inside = self.minimum() <= value <= self.maximum()
        return (QValidator.State.Acceptable if inside else QValidator.State.Intermediate,
                text, pos)


class FloatEditor(ParamEditor):
    def __init__(self, p: ParamDef, parent: QWidget | None = None) -> None:
        super().__init__(p, parent)
        self._spin = FloatSpinBox()
        self._spin.setRange(p.minimum if p.minimum is not None else -1e12,
                            p.maximum if p.maximum is not None else 1e12)
        self._child(self._spin, "spin", p.name)
        self._spin.valueChanged.connect(self._on_value_changed)

    def value(self) -> float:
        return self._spin.value()

    def set_value(self, value: Any) -> None:
        self._spin.blockSignals(True)
        self._spin.setValue(float(value) if value is not None else self._spin.minimum())
        self._spin.blockSignals(False)

    @Slot(float)
    def _on_value_changed(self, value: float) -> None:
        self.valueEdited.emit(value)


class BoolEditor(ParamEditor):
    def __init__(self, p: ParamDef, parent: QWidget | None = None) -> None:
        super().__init__(p, parent)
        self._check = QCheckBox()
        self._child(self._check, "check", p.name)
        self._layout.addStretch(1)
        self._check.toggled.connect(self._on_toggled)

    def value(self) -> bool:
        return self._check.isChecked()

    def set_value(self, value: Any) -> None:
        self._check.blockSignals(True)
        self._check.setChecked(bool(value))
        self._check.blockSignals(False)

    @Slot(bool)
    def _on_toggled(self, checked: bool) -> None:
        self.valueEdited.emit(checked)


class ChoiceEditor(ParamEditor):
    def __init__(self, p: ParamDef, parent: QWidget | None = None) -> None:
        super().__init__(p, parent)
        self._combo = QComboBox()
        self._combo.addItems(list(p.choices))
        self._child(self._combo, "combo", p.name)
        self._combo.activated.connect(self._on_activated)

    def value(self) -> str:
        return self._combo.currentText()

    def set_value(self, value: Any) -> None:
        self._combo.blockSignals(True)
        self._combo.setCurrentIndex(max(0, self._combo.findText(str(value))))
        self._combo.blockSignals(False)

    @Slot(int)
    def _on_activated(self, _index: int) -> None:
        self.valueEdited.emit(self.value())


class SizeEditor(ParamEditor):
    """A kernel size, stride or padding: one int, or a (height, width) pair.

    The pair button reveals the width; with it off the value is a single int,
    which is how the tutorial writes nn.Conv2d(1, 6, 5).
    """

    def __init__(self, p: ParamDef, parent: QWidget | None = None) -> None:
        super().__init__(p, parent)
        self._height = _int_spin(p)
        self._child(self._height, "height", f"{p.name} (height)")
        self._times = QLabel("×")
        self._layout.addWidget(self._times)
        self._width = _int_spin(p)
        self._child(self._width, "width", f"{p.name} (width)")
        self._pair = QToolButton()
        self._pair.setText("h × w")
        self._pair.setCheckable(True)
        named(self._pair, f"param_{p.name}_pair", f"{p.name}: separate height and width",
              "give height and width separately")
        self._layout.addWidget(self._pair)
        self._show_pair(False)
        self._height.valueChanged.connect(self._on_spin_changed)
        self._width.valueChanged.connect(self._on_spin_changed)
        self._pair.toggled.connect(self._on_pair_toggled)

    def value(self) -> int | tuple[int, int]:
        if self._pair.isChecked():
            return (self._height.value(), self._width.value())
        return self._height.value()

    def set_value(self, value: Any) -> None:
        pair = isinstance(value, (tuple, list)) and len(value) == 2
        h, w = (value[0], value[1]) if pair else (value, value)
        for widget in (self._height, self._width, self._pair):
            widget.blockSignals(True)
        self._height.setValue(int(h) if h is not None else self._height.minimum())
        self._width.setValue(int(w) if w is not None else self._width.minimum())
        self._pair.setChecked(pair)
        self._show_pair(pair)
        for widget in (self._height, self._width, self._pair):
            widget.blockSignals(False)

    def _show_pair(self, pair: bool) -> None:
        self._times.setVisible(pair)
        self._width.setVisible(pair)

    @Slot(int)
    def _on_spin_changed(self, _value: int) -> None:
        self.valueEdited.emit(self.value())

    @Slot(bool)
    def _on_pair_toggled(self, pair: bool) -> None:
        if not pair:
            self._width.blockSignals(True)
            self._width.setValue(self._height.value())
            self._width.blockSignals(False)
        self._show_pair(pair)
        self.valueEdited.emit(self.value())


class AutoEditor(ParamEditor):
    """A parameter that may be left to the model: inferred or optional.

    With "auto" ticked the value is left out of the spec (None): an inferred
    one (in_channels) then shows what the previous layer gives, greyed out; an
    optional one (a pooling stride) shows what it falls back to. Unticking
    "auto" makes the shown value explicit, so nothing changes until it is edited.
    """

    def __init__(self, p: ParamDef, inner: ParamEditor, parent: QWidget | None = None) -> None:
        super().__init__(p, parent)
        self._inner = inner
        inner.setObjectName(f"param_{p.name}_value")
        self._layout.addWidget(inner, 1)
        self._hint = hint_label(p.help or "automatic")
        self._hint.setObjectName(f"param_{p.name}_hint")
        self._layout.addWidget(self._hint, 1)
        self._auto = QCheckBox("auto")
        what = "inferred from the previous layer" if p.inferred else (p.help or "automatic")
        named(self._auto, f"param_{p.name}_auto", f"{p.name}: automatic",
              f"leave {p.name} to the model ({what}); untick to set it explicitly")
        self._layout.addWidget(self._auto)
        self._auto.toggled.connect(self._on_auto_toggled)
        inner.valueEdited.connect(self._on_inner_edited)
        self._automatic_value: Any = None

    @property
    def is_auto(self) -> bool:
        return self._auto.isChecked()

    def value(self) -> Any:
        return None if self._auto.isChecked() else self._inner.value()

    def set_value(self, value: Any, automatic_value: Any = None) -> None:
        """Show `value`; when it is None, show automatic_value greyed (if known)."""
        self._automatic_value = automatic_value
        auto = value is None
        self._auto.blockSignals(True)
        self._auto.setChecked(auto)
        self._auto.blockSignals(False)
        shown = value if not auto else automatic_value
        self._inner.set_value(shown if shown is not None else self.param.default)
        self._inner.setEnabled(not auto)
        self._inner.setVisible(not auto or automatic_value is not None)
        self._hint.setVisible(auto and automatic_value is None)

    @Slot(bool)
    def _on_auto_toggled(self, auto: bool) -> None:
        self._inner.setEnabled(not auto)
        self._inner.setVisible(not auto or self._automatic_value is not None)
        self._hint.setVisible(auto and self._automatic_value is None)
        self.valueEdited.emit(None if auto else self._inner.value())

    @Slot(object)
    def _on_inner_edited(self, value: Any) -> None:
        if not self._auto.isChecked():
            self.valueEdited.emit(value)


_EDITORS: dict[str, type[ParamEditor]] = {
    INT: IntEditor, FLOAT: FloatEditor, BOOL: BoolEditor, CHOICE: ChoiceEditor, SIZE: SizeEditor,
}


def make_editor(p: ParamDef, parent: QWidget | None = None) -> ParamEditor:
    """The editor for one ParamDef, wrapped in AutoEditor where it may be left out."""
    if p.inferred or p.optional:
        return AutoEditor(p, _EDITORS[p.type](p), parent)
    return _EDITORS[p.type](p, parent)
