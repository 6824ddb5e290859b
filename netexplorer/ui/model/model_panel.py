"""The model-building panel: preset, input shape, layer stack, form and summary.

The panel holds one ModelSpec. Every edit builds a new spec and pushes it on
the undo stack; the stack's commands show it, and showing recomputes the
summary (analytic, well under a millisecond per layer) and refreshes every
view from it. Invalid stacks are shown, not refused: the summary stops at the
broken layer, which is marked, explained, and repaired by one click where the
core offers a fix.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from PySide6.QtCore import Property, QEvent, QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from netexplorer.core.layers import CATEGORIES, LAYER_KINDS, default_params
from netexplorer.core.presets import DEFAULT_PRESET, get_preset, list_presets
from netexplorer.core.specs import (
    MAX_INPUT_CHANNELS,
    MAX_SPATIAL,
    LayerSpec,
    ModelSpec,
    SpecError,
    Summary,
    class_count_error,
    format_bytes,
    format_shape,
    summarize,
)
from netexplorer.ui.icons import category_icon, icon
from netexplorer.ui.model.layer_form import LayerForm
from netexplorer.ui.model.layer_list import LayerListWidget
from netexplorer.ui.model.summary_table import SummaryTable
from netexplorer.ui.model.undo import SpecEditCommand, SpecState
from netexplorer.ui.widgets.accessibility import heading_label, named, notice_frame

_MODEL_NAME_LIMIT = 200  # what ModelSpec.from_json accepts
FORM_SHARE = 0.45  # at most this much of the panel's height for the layer form
SUMMARY_SHARE = 0.22


class ModelPanel(QWidget):
    """Builds a ModelSpec; `spec`, `specChanged(object)` and `valid` are its interface."""

    specChanged = Signal(object)  # the new ModelSpec
    validityChanged = Signal(bool)

    def __init__(self, spec: ModelSpec | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "modelPanel", "Model panel")
        self._spec = spec if spec is not None else get_preset(DEFAULT_PRESET)
        self._summary = summarize(self._spec, strict=False)
        self._selected: int | None = 0 if self._spec.layers else None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setObjectName("modelUndoStack")
        self._locked = ""  # why the model cannot be edited now ("" when it can)
        self._classes: tuple[int, str] | None = None  # the dataset's class count, name
        self._build()
        self._refresh()

    # ------------------------------------------------------------------ interface

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    @property
    def summary(self) -> Summary:
        return self._summary

    def _is_valid(self) -> bool:
        return self._summary.ok

    valid = Property(bool, _is_valid, notify=validityChanged)

    @property
    def is_valid(self) -> bool:
        """False while the stack has an error: training is disabled until it is fixed."""
        return self._summary.ok

    @property
    def error(self) -> SpecError | None:
        """What the panel shows as wrong: the stack's own error, else a mismatch of
        its outputs with the dataset's classes (set_classes)."""
        if self._summary.error is not None or self._classes is None:
            return self._summary.error
        count, dataset = self._classes
        return class_count_error(self._spec, self._summary, count, dataset)

    def set_classes(self, count: int, dataset: str) -> None:
        """The dataset the model will train on has `count` classes: a model that does
        not give one output per class is flagged now, with its fix, not at Train."""
        self._classes = (count, dataset)
        self._refresh_error()

    @property
    def selected_index(self) -> int | None:
        return self._selected

    def select_layer(self, index: int | None) -> None:
        if index is not None and not 0 <= index < len(self._spec.layers):
            index = None
        self._selected = index
        self._refresh_selection()

    def set_spec(self, spec: ModelSpec, text: str = "Replace model") -> None:
        """Show another model (opened, new, preset) as one undoable step."""
        self._edit(text, spec, 0 if spec.layers else None)

    def load_preset(self, name: str) -> None:
        self.set_spec(get_preset(name), f"Load preset {name}")

    def rename_model(self, name: str) -> None:
        name = name.strip()
        if name and len(name) <= _MODEL_NAME_LIMIT:
            self._edit("Rename model", self._spec.replace(name=name), self._selected, ("name",))

    def set_input_shape(self, shape: tuple[int, int, int]) -> None:
        self._edit("Change input shape", self._spec.replace(input_shape=tuple(shape)),
                   self._selected, ("input",))

    def add_layer(self, kind: str, index: int | None = None) -> None:
        """Insert a new `kind` layer after the selected one (or at `index`)."""
        if index is None:
            index = self._selected + 1 if self._selected is not None else len(self._spec.layers)
        layer = LayerSpec(kind, self._spec.unique_name(kind), default_params(kind))
        self._edit(f"Add {kind}", self._spec.inserted(index, layer), index)

    def remove_layer(self, index: int | None = None) -> None:
        index = self._selected if index is None else index
        if index is None or not 0 <= index < len(self._spec.layers):
            return
        spec = self._spec.removed(index)
        selected = min(index, len(spec.layers) - 1) if spec.layers else None
        self._edit(f"Remove {self._spec.layers[index].name}", spec, selected)

    def duplicate_layer(self, index: int | None = None) -> None:
        index = self._selected if index is None else index
        if index is None or not 0 <= index < len(self._spec.layers):
            return
        layer = self._spec.layers[index]
        copy = layer.renamed(self._spec.unique_name(layer.name))
        self._edit(f"Duplicate {layer.name}", self._spec.inserted(index + 1, copy), index + 1)

    def move_layer(self, source: int, destination: int) -> None:
        n = len(self._spec.layers)
        if not (0 <= source < n and 0 <= destination < n) or source == destination:
            return
        self._edit(f"Move {self._spec.layers[source].name}",
                   self._spec.moved(source, destination), destination)

    def rename_layer(self, index: int, name: str) -> None:
        if not 0 <= index < len(self._spec.layers):
            return
        layer = self._spec.layers[index]
        self._edit(f"Rename {layer.name}", self._spec.with_layer(index, layer.renamed(name)),
                   index, ("rename", index))

    def set_param(self, index: int, name: str, value: Any) -> None:
        """Set one parameter; None (or the default of a plain parameter) leaves it out."""
        if not 0 <= index < len(self._spec.layers):
            return
        layer = self._spec.layers[index]
        info = LAYER_KINDS.get(layer.kind)
        p = info.param(name) if info else None
        if p is not None and not (p.required or p.inferred or p.optional) and value == p.default:
            value = None  # keeps specs short: a default needs no entry
        self._edit(f"Set {layer.name}.{name}",
                   self._spec.with_layer(index, layer.with_params(**{name: value})),
                   index, ("param", index, name))

    def apply_fix(self) -> bool:
        """Apply the current error's one-click fix, if it has one."""
        error = self.error
        if error is None or error.fix is None:
            return False
        fix = error.fix
        selected = fix.index if fix.index is not None else self._selected
        self._edit(f"Fix: {fix.description}", fix.apply(self._spec), selected)
        return True

    # ------------------------------------------------------------------ editing

    @property
    def locked(self) -> str:
        """Why the model cannot be edited now ("" when it can)."""
        return self._locked

    def set_locked(self, reason: str) -> None:
        """While a run trains its model, editing it is refused ("" allows it again):
        the run keeps training the model it started with, and every layer can still
        be looked at. The reason shows above the layers."""
        if reason == self._locked:
            return
        self._locked = reason
        editable = not reason
        for widget in (self.preset_combo, self.name_edit, self.channels_spin,
                       self.height_spin, self.width_spin, self.add_button, self.layer_form,
                       self.fix_button):
            widget.setEnabled(editable)
        self.layer_list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove
                                        if editable else
                                        QAbstractItemView.DragDropMode.NoDragDrop)
        self.lock_label.setText(reason)
        self.lock_frame.setVisible(bool(reason))
        self._refresh_selection()

    def _edit(self, text: str, spec: ModelSpec, selected: int | None,
              merge_key: Hashable | None = None) -> None:
        if self._locked and spec != self._spec:
            return  # see set_locked: the change is refused, the panel says why
        if spec == self._spec and selected == self._selected:
            return
        before = SpecState(self._spec, self._selected)
        after = SpecState(spec, selected)
        self.undo_stack.push(SpecEditCommand(text, before, after, self._show, merge_key))

    def _show(self, state: SpecState) -> None:
        """Make `state` current; called by undo commands (push, undo and redo)."""
        was_valid = self._summary.ok
        changed = state.spec != self._spec
        self._spec = state.spec
        self._summary = summarize(state.spec, strict=False)
        n = len(state.spec.layers)
        self._selected = (min(max(state.selected, 0), n - 1)
                          if state.selected is not None and n else (0 if n else None))
        self._refresh()
        if changed:
            self.specChanged.emit(self._spec)
        if self._summary.ok != was_valid:
            self.validityChanged.emit(self._summary.ok)

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("modelSplitter")
        splitter.setChildrenCollapsible(False)
        layout.addWidget(splitter)
        self._stack_area = self._build_stack_area()
        self._form_area = self._build_form_area()
        self._summary_area = self._build_summary_area()
        for area in (self._stack_area, self._form_area, self._summary_area):
            splitter.addWidget(area)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setStretchFactor(2, 2)
        splitter.setSizes([300, 290, 190])  # until fit_split() knows the content
        splitter.splitterMoved.connect(self._on_splitter_moved)
        splitter.installEventFilter(self)
        self._split_by_hand = False  # the person dragged a handle: the split is theirs
        self._splitter = splitter

    def _build_stack_area(self) -> QWidget:
        area = QWidget()
        layout = QVBoxLayout(area)
        layout.setContentsMargins(0, 0, 0, 0)

        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        self.preset_combo = named(QComboBox(), "presetCombo", "Preset",
                                  "start from one of the ready-made networks")
        for preset in list_presets():
            self.preset_combo.addItem(preset.name, preset.name)
            self.preset_combo.setItemData(self.preset_combo.count() - 1, preset.description,
                                          Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.setPlaceholderText("custom model")
        self.preset_combo.activated.connect(self._on_preset_activated)
        grid.addWidget(self._label("&Preset", self.preset_combo), 0, 0)
        grid.addWidget(self.preset_combo, 0, 1)

        self.name_edit = named(QLineEdit(), "modelNameEdit", "Model name",
                               "the model's name, saved in its spec file")
        self.name_edit.setMaxLength(_MODEL_NAME_LIMIT)
        self.name_edit.textEdited.connect(self.rename_model)
        self.name_edit.editingFinished.connect(self._on_name_editing_finished)
        grid.addWidget(self._label("&Name", self.name_edit), 1, 0)
        grid.addWidget(self.name_edit, 1, 1)

        shape_row = QHBoxLayout()
        shape_row.setSpacing(4)
        self.channels_spin = self._shape_spin("inputChannelsSpin", "Input channels",
                                              "colour channels of the input: 1 grey, 3 RGB",
                                              MAX_INPUT_CHANNELS)
        self.height_spin = self._shape_spin("inputHeightSpin", "Input height",
                                            "input image height in pixels", MAX_SPATIAL)
        self.width_spin = self._shape_spin("inputWidthSpin", "Input width",
                                           "input image width in pixels", MAX_SPATIAL)
        for i, (text, spin) in enumerate((("C", self.channels_spin), ("H", self.height_spin),
                                           ("W", self.width_spin))):
            if i:
                shape_row.addSpacing(6)
            shape_row.addWidget(self._label(text, spin))
            shape_row.addWidget(spin, 1)
        grid.addWidget(self._label("Input", self.channels_spin), 2, 0)
        grid.addLayout(shape_row, 2, 1)
        layout.addLayout(grid)
        self.lock_frame, self.lock_label, _ = notice_frame("modelLockedFrame", "training",
                                                           "modelLockedLabel", "Model locked")
        self.lock_frame.setVisible(False)
        layout.addWidget(self.lock_frame)

        header = QHBoxLayout()
        header.addWidget(heading_label("Layers"))
        header.addStretch(1)
        self._build_layer_actions()
        self.add_button = named(QToolButton(), "addLayerButton", "Add layer",
                                "add a layer after the selected one")
        self.add_button.setText("Add")
        self.add_button.setIcon(icon("add"))
        self.add_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_button.setMenu(self._build_palette_menu())
        header.addWidget(self.add_button)
        for object_name, action in (("duplicateLayerButton", self.duplicate_action),
                                    ("moveUpButton", self.move_up_action),
                                    ("moveDownButton", self.move_down_action),
                                    ("removeLayerButton", self.remove_action)):
            button = QToolButton()
            button.setDefaultAction(action)
            named(button, object_name, action.text().replace("&", ""), action.toolTip())
            header.addWidget(button)
        layout.addLayout(header)

        self.layer_list = LayerListWidget()
        self.layer_list.currentRowChanged.connect(self._on_current_row_changed)
        self.layer_list.layerMoved.connect(self.move_layer)
        self.layer_list.renameRequested.connect(self.rename_layer)
        self.layer_list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        for action in (self.duplicate_action, self.move_up_action, self.move_down_action,
                       self.remove_action):
            self.layer_list.addAction(action)
        layout.addWidget(self.layer_list, 1)
        return area

    def _build_layer_actions(self) -> None:
        def action(text: str, icon_name: str, tip: str, keys: QKeySequence | str,
                   slot: Any, panel_wide: bool = True) -> QAction:
            act = QAction(icon(icon_name), text, self)
            shortcut = QKeySequence(keys)
            act.setShortcut(shortcut)
            act.setToolTip(f"{tip} ({shortcut.toString(QKeySequence.SequenceFormat.NativeText)})")
            act.triggered.connect(slot)
            if panel_wide:
                act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                self.addAction(act)
            else:  # Delete must stay with text fields everywhere but the list
                act.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            return act

        self.duplicate_action = action("&Duplicate layer", "duplicate",
                                       "duplicate the selected layer", "Ctrl+D",
                                       self._on_duplicate)
        self.move_up_action = action("Move layer &up", "move-up", "move the selected layer up",
                                     "Ctrl+Up", self._on_move_up)
        self.move_down_action = action("Move layer do&wn", "move-down",
                                       "move the selected layer down", "Ctrl+Down",
                                       self._on_move_down)
        self.remove_action = action("&Remove layer", "remove", "remove the selected layer",
                                    QKeySequence(QKeySequence.StandardKey.Delete),
                                    self._on_remove, panel_wide=False)

    def _build_palette_menu(self) -> QMenu:
        menu = QMenu(self)
        menu.setObjectName("layerPaletteMenu")
        menu.setToolTipsVisible(True)
        self.palette_actions: dict[str, QAction] = {}
        for category in CATEGORIES:
            menu.addSection(category_icon(category), category)
            for info in LAYER_KINDS.values():
                if info.category != category:
                    continue
                act = menu.addAction(category_icon(category), f"{info.torch_name}  ({info.kind})")
                act.setObjectName(f"addLayer_{info.kind}")
                act.setToolTip(info.doc)
                act.setData(info.kind)
                act.triggered.connect(self._on_palette_triggered)
                self.palette_actions[info.kind] = act
        return menu

    def _build_error_frame(self) -> QFrame:
        frame, self.error_label, _ = notice_frame("specErrorFrame", "error", "specErrorLabel",
                                                  "Model error")
        # Below the message rather than beside it: the message keeps the full width.
        self.fix_button = named(QPushButton("Fix"), "fixButton", "Fix the error")
        self.fix_button.setIcon(icon("fix"))
        self.fix_button.clicked.connect(self.apply_fix)
        column = frame.layout()
        assert isinstance(column, QVBoxLayout)  # notice_frame lays its frame out in a column
        column.addWidget(self.fix_button, 0, Qt.AlignmentFlag.AlignRight)
        self.error_frame = frame
        return frame

    def _build_form_area(self) -> QWidget:
        self.layer_form = LayerForm()
        self.layer_form.paramEdited.connect(self._on_param_edited)
        self.layer_form.renameRequested.connect(self._on_form_rename)
        scroll = QScrollArea()
        self._form_scroll = scroll
        scroll.setObjectName("layerFormScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.layer_form)
        # The error sits right under the list, in this pane: the list keeps its rows
        # when an error appears, and the form below it scrolls instead.
        area = QWidget()
        layout = QVBoxLayout(area)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_error_frame())
        layout.addWidget(scroll, 1)
        return area

    def _build_summary_area(self) -> QWidget:
        area = QWidget()
        layout = QVBoxLayout(area)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(heading_label("Summary"))
        self.summary_table = SummaryTable()
        self.summary_table.layerActivated.connect(self.select_layer)
        layout.addWidget(self.summary_table, 1)
        self.totals_label = named(QLabel(), "summaryTotals", "Model totals")
        self.totals_label.setWordWrap(True)
        self.totals_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.totals_label)
        return area

    def _label(self, text: str, buddy: QWidget) -> QLabel:
        label = QLabel(text)
        label.setBuddy(buddy)
        return label

    def _shape_spin(self, object_name: str, accessible: str, tip: str, maximum: int) -> QSpinBox:
        spin = named(QSpinBox(), object_name, accessible, tip)
        spin.setRange(1, maximum)
        spin.setAccelerated(True)
        # Wide enough for four digits and the arrows, not for the maximum's five: the
        # three boxes share one row of the dock, which sets the window's least width.
        spin.setMinimumWidth(spin.fontMetrics().horizontalAdvance("8888") + 34)
        spin.valueChanged.connect(self._on_shape_spin_changed)
        return spin

    # ------------------------------------------------------------------ showing

    # ------------------------------------------------------------------ the split

    def fit_split(self) -> None:
        """Share the panel's height by content: the model's largest layer form whole
        (up to FORM_SHARE of the height), the summary up to SUMMARY_SHARE, and every
        other pixel to the layer list — 18 layers of cifar-vgg are seen at once
        rather than 6 above a half-empty form. Once the person drags a handle, the
        split is theirs."""
        if self._split_by_hand:
            return
        total = sum(self._splitter.sizes())
        if total <= 0:
            return
        widest = max((len(LAYER_KINDS[layer.kind].params) for layer in self._spec.layers
                      if layer.kind in LAYER_KINDS), default=1)
        form_need = (self._form_area.sizeHint().height() - self._form_scroll.sizeHint().height()
                     + self.layer_form.height_for(widest) + 4)
        form = min(max(form_need, self._form_area.minimumSizeHint().height()),
                   int(FORM_SHARE * total))
        list_rows = self.layer_list.count() * max(self.layer_list.sizeHintForRow(0), 1)
        stack_need = (self._stack_area.sizeHint().height() - self.layer_list.sizeHint().height()
                      + list_rows + 2 * self.layer_list.frameWidth() + 4)
        summary_need = self._summary_area.sizeHint().height()
        summary = min(max(summary_need, self._summary_area.minimumSizeHint().height()),
                      int(SUMMARY_SHARE * total))
        stack = max(total - form - summary, self._stack_area.minimumSizeHint().height())
        if stack > stack_need:  # room to spare: the summary shows more rows
            summary += stack - stack_need
            stack = stack_need
        self._splitter.setSizes([stack, form, max(total - stack - form, 0)])

    @Slot(int, int)
    def _on_splitter_moved(self, _position: int, _index: int) -> None:
        self._split_by_hand = True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # The splitter's own resize (after the panel's layout gave it its height)
        # would share the new height by stretch factors: share it by content.
        if watched is self._splitter and event.type() == QEvent.Type.Resize:
            self.fit_split()
        return super().eventFilter(watched, event)

    def _refresh(self) -> None:
        spec, summary = self._spec, self._summary
        index = self.preset_combo.findData(spec.name)
        self.preset_combo.setCurrentIndex(index)
        if self.name_edit.text() != spec.name:
            self.name_edit.setText(spec.name)
        for spin, value in zip((self.channels_spin, self.height_spin, self.width_spin),
                               spec.input_shape):
            if spin.value() != value:
                spin.blockSignals(True)
                spin.setValue(int(value))
                spin.blockSignals(False)
        self.layer_list.show_layers(spec, summary)
        self.summary_table.show_summary(spec, summary)
        self._refresh_error()
        self._refresh_totals()
        self._refresh_selection()
        self.fit_split()

    def _refresh_error(self) -> None:
        error = self.error
        self.error_frame.setVisible(error is not None)
        if error is None:
            self.error_label.clear()
            self.fix_button.setVisible(False)
            return
        where = f"Layer {error.index + 1}: " if error.index is not None else ""
        self.error_label.setText(where + error.message)
        self.error_label.setAccessibleDescription(error.message)
        fix = error.fix
        self.fix_button.setVisible(fix is not None)
        if fix is not None:
            self.fix_button.setText(f"Fix: {fix.description}")
            self.fix_button.setToolTip(f"{fix.description} (undo with "
                                       f"{QKeySequence(QKeySequence.StandardKey.Undo).toString()})")

    def _refresh_totals(self) -> None:
        s = self._summary
        totals = (f"{s.total_params:,} parameters ({format_bytes(s.param_bytes)}) · "
                  f"{s.total_macs / 1e6:.2f} M mult-adds per sample")
        if s.ok:
            self.totals_label.setText(f"{totals} · output {format_shape(s.output_shape)}")
        else:
            self.totals_label.setText(f"Up to the error: {totals}")

    def _refresh_selection(self) -> None:
        n = len(self._spec.layers)
        selected = self._selected
        self.layer_list.blockSignals(True)
        self.layer_list.setCurrentRow(selected if selected is not None else -1)
        self.layer_list.blockSignals(False)
        if selected is not None:
            self.layer_list.scrollToItem(self.layer_list.item(selected))
        if selected is not None:
            rows = self._summary.rows
            row = rows[selected] if selected < len(rows) else None
            # The broken layer's input is known: it is what the last good layer gives.
            known_input = (self._summary.output_shape if selected == len(rows) and
                           self._summary.error is not None else None)
            self.layer_form.show_layer(self._spec.layers[selected], row, known_input)
        else:
            self.layer_form.show_layer(None)
        has = selected is not None and not self._locked
        self.remove_action.setEnabled(has)
        self.duplicate_action.setEnabled(has)
        self.move_up_action.setEnabled(has and selected is not None and selected > 0)
        self.move_down_action.setEnabled(has and selected is not None and selected < n - 1)

    # ------------------------------------------------------------------ reactions

    @Slot(int)
    def _on_preset_activated(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if name:
            self.load_preset(name)

    @Slot()
    def _on_name_editing_finished(self) -> None:
        if self.name_edit.text().strip() != self._spec.name:
            self.name_edit.setText(self._spec.name)  # an empty name is not kept

    @Slot(int)
    def _on_shape_spin_changed(self, _value: int) -> None:
        self.set_input_shape((self.channels_spin.value(), self.height_spin.value(),
                              self.width_spin.value()))

    @Slot(int)
    def _on_current_row_changed(self, row: int) -> None:
        self.select_layer(row if row >= 0 else None)

    @Slot()
    def _on_palette_triggered(self) -> None:
        action = self.sender()
        if isinstance(action, QAction) and action.data():
            self.add_layer(str(action.data()))

    @Slot()
    def _on_duplicate(self) -> None:
        self.duplicate_layer()

    @Slot()
    def _on_remove(self) -> None:
        self.remove_layer()

    @Slot()
    def _on_move_up(self) -> None:
        if self._selected is not None:
            self.move_layer(self._selected, self._selected - 1)

    @Slot()
    def _on_move_down(self) -> None:
        if self._selected is not None:
            self.move_layer(self._selected, self._selected + 1)

    @Slot(str, object)
    def _on_param_edited(self, name: str, value: Any) -> None:
        if self._selected is not None:
            self.set_param(self._selected, name, value)

    @Slot(str)
    def _on_form_rename(self, name: str) -> None:
        if self._selected is not None:
            self.rename_layer(self._selected, name)
