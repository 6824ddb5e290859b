"""The selected layer's parameters, as a form generated from the layer catalogue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from netexplorer.core.formatting import format_shape
from netexplorer.core.layers import LAYER_KINDS, LayerKind, ParamDef
from netexplorer.core.specs import MAX_NAME_LENGTH, LayerSpec, LayerSummary
from netexplorer.ui.widgets.accessibility import heading_label, hint_label, named
from netexplorer.ui.widgets.param_editors import AutoEditor, ParamEditor, make_editor, param_tooltip


def fallback_value(p: ParamDef, resolved: Mapping[str, Any] | None) -> Any:
    """What a parameter left out amounts to, for showing it greyed.

    Inferred parameters have their value in the summary's resolved row; an
    optional one falls back to another parameter (a pooling stride to
    kernel_size), named by its default_from.
    """
    if resolved is None:
        return None
    value = resolved.get(p.name)
    if value is None and p.default_from:
        value = resolved.get(p.default_from)
    return value


class LayerForm(QWidget):
    """Edits one layer: its name and every parameter of its kind.

    Rows are rebuilt only when the layer's kind changes; otherwise values are
    updated in place, so a spin box being typed into keeps its focus and cursor.
    """

    paramEdited = Signal(str, object)  # parameter name, new value (None: leave it out)
    renameRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "layerForm", "Layer parameters")
        self._kind: str | None = None
        self._editors: dict[str, ParamEditor] = {}
        self._row_height: int | None = None

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 6, 0)  # clear of the scroll bar
        header = QHBoxLayout()
        self._title = heading_label("No layer selected", "layerTitle")
        self._shapes = QLabel()
        named(self._shapes, "layerShapes", "Layer input and output shape")
        self._shapes.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        header.addWidget(self._title)
        header.addWidget(self._shapes, 1)
        outer.addLayout(header)
        self._doc = hint_label("", "layerDoc")
        outer.addWidget(self._doc)

        self._fields = QWidget()
        self._form = QFormLayout(self._fields)
        self._form.setContentsMargins(0, 2, 0, 0)
        self._form.setVerticalSpacing(4)
        self._form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._name = QLineEdit()
        self._name.setMaxLength(MAX_NAME_LENGTH)
        named(self._name, "layerNameEdit", "Layer name",
              "the layer's name in the model (model.<name> in PyTorch)")
        self._name.textEdited.connect(self._on_name_edited)
        self._form.addRow("name", self._name)
        outer.addWidget(self._fields)
        outer.addStretch(1)
        self._fields.setVisible(False)

    @property
    def kind(self) -> str | None:
        return self._kind

    def editor(self, param: str) -> ParamEditor | None:
        return self._editors.get(param)

    def show_layer(self, layer: LayerSpec | None, row: LayerSummary | None = None,
                   input_shape: tuple[int, ...] | None = None) -> None:
        """Show `layer`, with inferred values and shapes from its summary row if known.

        Without a row (the layer is at or past the model's error), `input_shape`
        is what reaches it, when that is known.
        """
        if layer is None or layer.kind not in LAYER_KINDS:
            self._kind = None
            self._clear_rows()
            self._title.setText("No layer selected")
            self._doc.setText("Select a layer in the list to edit it, or add one.")
            self._shapes.clear()
            self._fields.setVisible(False)
            return
        info = LAYER_KINDS[layer.kind]
        if layer.kind != self._kind:
            self._build_rows(info)
        self._title.setText(f"{layer.name} — {info.torch_name}")
        self._doc.setText(info.doc)
        if row is not None:
            self._shapes.setText(f"{format_shape(row.input_shape)} → "
                                 f"{format_shape(row.output_shape)}")
            self._shapes.setToolTip("input shape → output shape, per sample")
        elif input_shape is not None:
            self._shapes.setText(f"{format_shape(input_shape)} → ?")
            self._shapes.setToolTip("this layer cannot take its input: see the error above")
        else:
            self._shapes.setText("shapes unknown")
            self._shapes.setToolTip("shapes are computed up to the first error; fix it to "
                                    "see this layer's")
        if self._name.text() != layer.name:
            self._name.setText(layer.name)
        resolved = row.resolved if row is not None else None
        for p in info.params:
            editor = self._editors[p.name]
            value = layer.params.get(p.name, None if (p.inferred or p.optional) else p.default)
            if isinstance(editor, AutoEditor):
                editor.set_value(value, fallback_value(p, resolved))
            else:
                editor.set_value(value)
        self._fields.setVisible(True)

    def height_for(self, params: int) -> int:
        """The form's height with `params` parameter rows instead of the shown ones:
        the panel sizes its pane for the model's largest form, so the split does not
        jump as layers are selected."""
        shown = max(self._form.rowCount() - 1, 1)  # the rows below "name"
        spacing = max(self._form.verticalSpacing(), 0)
        if self._row_height is None:  # an editor's height: spin boxes are the tallest
            self._row_height = QSpinBox().sizeHint().height()
        row = self._row_height + spacing
        return self.sizeHint().height() + (max(params, 1) - shown) * row

    def _clear_rows(self) -> None:
        while self._form.rowCount() > 1:
            self._form.removeRow(1)
        self._editors.clear()

    def _build_rows(self, info: LayerKind) -> None:
        self._clear_rows()
        self._kind = info.kind
        for p in info.params:
            editor = make_editor(p)
            editor.valueEdited.connect(self._on_value_edited)
            label = QLabel(p.name)
            label.setToolTip(param_tooltip(p))
            label.setBuddy(editor)
            self._form.addRow(label, editor)
            self._editors[p.name] = editor
        if not info.params:
            self._form.addRow(hint_label(f"{info.torch_name} has no parameters."))

    @Slot(object)
    def _on_value_edited(self, value: Any) -> None:
        editor = self.sender()
        if isinstance(editor, ParamEditor):
            self.paramEdited.emit(editor.param.name, value)

    @Slot(str)
    def _on_name_edited(self, text: str) -> None:
        self.renameRequested.emit(text)
