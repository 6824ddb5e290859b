"""The model-building panel on its own: presets, editing, undo, errors and fixes."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QCheckBox, QLabel, QPushButton, QSpinBox, QToolButton

from netexplorer.core.presets import get_preset, list_presets
from netexplorer.core.specs import LayerSpec, ModelSpec, summarize
from netexplorer.ui.model.model_panel import ModelPanel
from netexplorer.ui.widgets.param_editors import AutoEditor, SizeEditor


@pytest.fixture
def panel(qtbot) -> ModelPanel:
    widget = ModelPanel()
    qtbot.addWidget(widget)
    widget.resize(430, 760)
    widget.show()
    return widget


def layer_names(panel: ModelPanel) -> list[str]:
    return [layer.name for layer in panel.spec.layers]


def list_names(panel: ModelPanel) -> list[str]:
    return [panel.layer_list.item(i).text() for i in range(panel.layer_list.count())]


def test_starts_with_lenet_and_its_summary(panel):
    assert panel.spec == get_preset("lenet")
    assert panel.is_valid and panel.property("valid") is True
    assert panel.preset_combo.currentText() == "lenet"
    assert list_names(panel) == layer_names(panel)
    table = panel.summary_table
    assert table.rowCount() == len(panel.spec.layers) + 2  # input, layers, total
    assert table.item(1, 2).text() == "6×28×28"
    assert table.item(table.rowCount() - 1, 3).text() == "61,706"
    assert "61,706 parameters" in panel.totals_label.text()
    assert "0.42 M mult-adds" in panel.totals_label.text()
    assert table.item(table.rowCount() - 1, 4).text() == "423,038"  # torchinfo's total
    rule = table.horizontalHeaderItem(4).toolTip()
    assert "torchinfo 1.8" in rule and "biases" in rule and "batch-norm" in rule
    assert not panel.error_frame.isVisible()


def test_every_control_has_object_and_accessible_names(panel):
    for name in ("presetCombo", "layerList", "summaryTable", "addLayerButton",
                 "removeLayerButton", "duplicateLayerButton", "moveUpButton", "moveDownButton",
                 "layerForm", "fixButton", "specErrorLabel", "inputChannelsSpin",
                 "inputHeightSpin", "inputWidthSpin", "modelNameEdit", "summaryTotals"):
        widget = panel.findChild(object, name)
        assert widget is not None, name
        assert widget.accessibleName(), name


@pytest.mark.parametrize("preset", [p.name for p in list_presets()])
def test_choosing_a_preset_updates_the_totals(panel, preset):
    index = panel.preset_combo.findData(preset)
    panel.preset_combo.setCurrentIndex(index)
    panel.preset_combo.activated.emit(index)
    assert panel.spec.name == preset
    expected = summarize(get_preset(preset)).total_params
    assert f"{expected:,} parameters" in panel.totals_label.text()
    table = panel.summary_table
    assert table.item(table.rowCount() - 1, 3).text() == f"{expected:,}"


def test_cifar_net_shows_62006_parameters(panel):
    panel.load_preset("cifar-net")
    assert "62,006 parameters" in panel.totals_label.text()
    assert (panel.channels_spin.value(), panel.height_spin.value(),
            panel.width_spin.value()) == (3, 32, 32)


def test_add_layer_from_the_palette_is_undoable(panel, qtbot):
    panel.select_layer(2)
    menu_action = panel.palette_actions["dropout2d"]
    with qtbot.waitSignal(panel.specChanged):
        menu_action.trigger()
    assert panel.spec.layers[3].kind == "dropout2d"
    assert panel.spec.layers[3].name == "dropout2d"
    assert panel.selected_index == 3
    assert list_names(panel)[3] == "dropout2d"
    assert panel.is_valid
    panel.add_layer("dropout2d")  # a second one gets a unique name
    assert panel.spec.layers[4].name == "dropout2d_2"
    panel.undo_stack.undo()
    panel.undo_stack.undo()
    assert panel.spec == get_preset("lenet")
    panel.undo_stack.redo()
    assert panel.spec.layers[3].kind == "dropout2d"


def test_palette_lists_every_kind_grouped_by_category(panel):
    from netexplorer.core.layers import LAYER_KINDS

    assert set(panel.palette_actions) == set(LAYER_KINDS)
    menu = panel.add_button.menu()
    sections = [a.text() for a in menu.actions() if a.isSeparator() and a.text()]
    from netexplorer.core.layers import CATEGORIES

    assert sections == list(CATEGORIES)


def test_move_remove_duplicate_with_buttons_and_undo(panel, qtbot):
    original = layer_names(panel)
    panel.select_layer(1)
    qtbot.mouseClick(panel.findChild(QToolButton, "moveDownButton"), Qt.MouseButton.LeftButton)
    assert layer_names(panel)[1:3] == ["pool1", "relu1"]
    assert panel.selected_index == 2
    qtbot.mouseClick(panel.findChild(QToolButton, "moveUpButton"), Qt.MouseButton.LeftButton)
    assert layer_names(panel) == original
    qtbot.mouseClick(panel.findChild(QToolButton, "duplicateLayerButton"),
                     Qt.MouseButton.LeftButton)
    assert layer_names(panel)[2] == "relu_2"  # ModelSpec.unique_name("relu1")
    qtbot.mouseClick(panel.findChild(QToolButton, "removeLayerButton"),
                     Qt.MouseButton.LeftButton)
    assert layer_names(panel) == original
    assert panel.undo_stack.count() == 4
    for _ in range(4):
        panel.undo_stack.undo()
    assert layer_names(panel) == original
    assert panel.undo_stack.index() == 0


def test_move_buttons_are_disabled_at_the_ends(panel):
    panel.select_layer(0)
    assert not panel.move_up_action.isEnabled()
    assert panel.move_down_action.isEnabled()
    panel.select_layer(len(panel.spec.layers) - 1)
    assert not panel.move_down_action.isEnabled()


def test_dragging_a_row_moves_the_layer(panel):
    lst = panel.layer_list
    panel.select_layer(0)
    target = lst.visualItemRect(lst.item(3))
    point = QPoint(target.center().x(), target.bottom() - 1)  # lower half: after relu2... row 3
    mime = QMimeData()
    event = QDropEvent(point.toPointF(), Qt.DropAction.MoveAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    lst.dropEvent(event)
    assert layer_names(panel)[:4] == ["relu1", "pool1", "conv2", "conv1"]
    assert list_names(panel) == layer_names(panel)
    assert event.dropAction() == Qt.DropAction.IgnoreAction  # the view does not move rows itself
    panel.undo_stack.undo()
    assert panel.spec == get_preset("lenet")


def test_rename_in_the_list_and_in_the_form(panel):
    panel.layer_list.item(0).setText("first")  # what the list's editor commits
    assert panel.spec.layers[0].name == "first"
    panel.select_layer(1)
    edit = panel.layer_form.findChild(object, "layerNameEdit")
    edit.setText("")
    edit.textEdited.emit("act")
    edit.textEdited.emit("act1")
    assert panel.spec.layers[1].name == "act1"
    panel.undo_stack.undo()  # both keystrokes were one rename
    assert panel.spec.layers[1].name == "relu1"


def test_bad_rename_is_shown_with_a_fix(panel):
    panel.rename_layer(1, "conv1")
    assert not panel.is_valid
    assert panel.summary.error.index == 1
    assert panel.fix_button.isVisible()
    panel.fix_button.click()
    assert panel.is_valid
    assert panel.spec.layers[1].name == "conv_2"


def test_param_edits_merge_into_one_undo_step(panel):
    panel.select_layer(0)
    editor = panel.layer_form.editor("out_channels")
    spin = editor.findChild(QSpinBox)
    for value in (1, 12, 120):
        spin.setValue(value)
    assert panel.spec.layers[0].params["out_channels"] == 120
    assert panel.undo_stack.count() == 1
    assert panel.summary.rows[0].output_shape == (120, 28, 28)
    panel.undo_stack.undo()
    assert panel.spec.layers[0].params["out_channels"] == 6


def test_inferred_parameter_shows_its_value_and_can_be_set(panel):
    panel.select_layer(3)  # conv2: in_channels inferred from conv1's 6
    editor = panel.layer_form.editor("in_channels")
    assert isinstance(editor, AutoEditor) and editor.is_auto
    inner = editor.findChild(QSpinBox)
    assert inner.value() == 6 and not inner.isEnabled()
    auto = editor.findChild(QCheckBox, "param_in_channels_auto")
    auto.setChecked(False)
    assert panel.spec.layers[3].params["in_channels"] == 6
    assert panel.is_valid
    auto.setChecked(True)
    assert "in_channels" not in panel.spec.layers[3].params


def test_optional_parameter_falls_back_visibly(panel):
    panel.select_layer(2)  # pool1: stride defaults to kernel_size (2)
    editor = panel.layer_form.editor("stride")
    assert editor.is_auto
    size = editor.findChild(SizeEditor)
    assert size.value() == 2 and not size.isEnabled()


def test_size_editor_gives_an_int_or_a_pair(panel):
    panel.select_layer(0)
    editor = panel.layer_form.editor("kernel_size")
    pair = editor.findChild(QToolButton, "param_kernel_size_pair")
    pair.setChecked(True)
    assert panel.spec.layers[0].params["kernel_size"] == (5, 5)
    editor.findChild(QSpinBox, "param_kernel_size_width").setValue(3)
    assert panel.spec.layers[0].params["kernel_size"] == (5, 3)
    assert panel.summary.rows[0].output_shape == (6, 28, 30)
    pair.setChecked(False)
    assert panel.spec.layers[0].params["kernel_size"] == 5


def test_float_choice_and_bool_editors(panel):
    panel.add_layer("dropout")
    index = panel.selected_index
    panel.layer_form.editor("p").findChild(object, "param_p_spin").setValue(0.25)
    assert panel.spec.layers[index].params["p"] == pytest.approx(0.25)
    panel.add_layer("gelu")
    gelu = panel.selected_index
    combo = panel.layer_form.editor("approximate").findChild(object, "param_approximate_combo")
    combo.setCurrentIndex(combo.findText("tanh"))
    combo.activated.emit(combo.currentIndex())
    assert panel.spec.layers[gelu].params["approximate"] == "tanh"
    panel.select_layer(0)
    bias = panel.layer_form.editor("bias").findChild(QCheckBox)
    bias.setChecked(False)
    assert panel.spec.layers[0].params["bias"] is False
    bias.setChecked(True)  # back to the default: the entry goes away
    assert "bias" not in panel.spec.layers[0].params


def test_spin_ranges_follow_the_catalogue(panel):
    panel.select_layer(0)
    spin = panel.layer_form.editor("padding").findChild(QSpinBox, "param_padding_height")
    assert spin.minimum() == 0
    out = panel.layer_form.editor("out_channels").findChild(QSpinBox)
    assert out.minimum() == 1 and out.maximum() == 65_536


def test_invalid_edit_marks_the_layer_and_fix_repairs_it(panel, qtbot):
    with qtbot.waitSignal(panel.validityChanged, check_params_cb=lambda ok: ok is False):
        panel.remove_layer(6)  # the flatten before fc1
    error = panel.summary.error
    assert error is not None and error.index == 6 and error.layer == "fc1"
    item = panel.layer_list.item(6)
    assert "flatten" in item.toolTip()
    assert item.background().color().alpha() > 0
    assert panel.error_frame.isVisible()
    label = panel.findChild(QLabel, "specErrorLabel")
    assert "fc1" in label.text() and "flatten" in label.text()
    fix = panel.findChild(QPushButton, "fixButton")
    assert fix.isVisible() and "flatten" in fix.text()
    assert "Up to the error" in panel.totals_label.text()
    assert panel.summary_table.item(7, 2).text() == "error"
    assert panel.summary_table.item(8, 2).text() == "—"
    with qtbot.waitSignal(panel.validityChanged, check_params_cb=lambda ok: ok is True):
        qtbot.mouseClick(fix, Qt.MouseButton.LeftButton)
    assert panel.spec.layers[6].kind == "flatten"
    assert not panel.error_frame.isVisible()
    panel.undo_stack.undo()  # the fix is one undo step
    assert panel.summary.error is not None


def test_channel_mismatch_fix_sets_the_parameter(panel):
    panel.set_param(3, "in_channels", 3)
    assert panel.layer_form.findChild(QLabel, "layerShapes").text() == "6×14×14 → ?"
    error = panel.summary.error
    assert error.index == 3 and error.fix is not None
    assert panel.layer_list.item(3).toolTip().startswith("conv2:")
    assert panel.apply_fix()
    assert panel.spec.layers[3].params["in_channels"] == 6
    assert panel.is_valid


def test_input_shape_spins_edit_the_spec(panel, qtbot):
    with qtbot.waitSignal(panel.specChanged):
        panel.findChild(QSpinBox, "inputChannelsSpin").setValue(3)
    assert panel.spec.input_shape == (1 * 3, 32, 32)
    panel.findChild(QSpinBox, "inputHeightSpin").setValue(28)
    assert panel.spec.input_shape == (3, 28, 32)
    assert panel.summary.rows[0].output_shape == (6, 24, 28)
    assert panel.undo_stack.count() == 1  # consecutive shape edits merge


def test_empty_model_explains_itself(panel):
    panel.set_spec(ModelSpec("untitled", (1, 28, 28), ()))
    assert not panel.is_valid
    assert "no layers" in panel.error_label.text()
    assert not panel.fix_button.isVisibleTo(panel)
    assert panel.layer_list.count() == 0
    assert not panel.remove_action.isEnabled()
    panel.add_layer("flatten")
    panel.add_layer("linear")
    assert panel.is_valid
    assert panel.summary.output_shape == (10,)


def test_model_name_edit(panel):
    panel.name_edit.textEdited.emit("mynet")
    assert panel.spec.name == "mynet"
    panel.name_edit.setText("  ")
    panel.name_edit.textEdited.emit("  ")
    assert panel.spec.name == "mynet"  # a blank name is not kept


def test_layers_past_an_error_are_marked_unknown(panel):
    spec = panel.spec
    bad = spec.with_layer(3, LayerSpec("conv2d", "conv2", {"out_channels": 16,
                                                           "kernel_size": 50}))
    panel.set_spec(bad)
    assert panel.summary.error.index == 3
    assert panel.layer_list.item(5).data(Qt.ItemDataRole.UserRole + 1).endswith("?")
    panel.select_layer(5)
    assert "unknown" in panel.layer_form.findChild(QLabel, "layerShapes").text()


def test_outputs_that_do_not_match_the_classes_are_flagged_with_a_fix(window, qtbot):
    """fc3 with 5 outputs for the digits' 10 classes is caught as it is typed, not
    when Train is pressed: the model panel names it, Train says why it waits, and
    the Fix sets out_features back."""
    from tests.ui.conftest import wait_for_data

    wait_for_data(qtbot, window)
    panel = window.model_panel
    fc3 = [layer.name for layer in panel.spec.layers].index("fc3")
    panel.set_param(fc3, "out_features", 5)
    assert panel.is_valid  # the stack itself is fine
    assert panel.error_frame.isVisibleTo(window)
    assert "10 classes" in panel.error_label.text() and "fc3" in panel.error_label.text()
    assert panel.fix_button.text() == "Fix: set out_features of 'fc3' to 10"
    training = window.training_panel
    assert "classes" in training.ready_reason
    assert panel.apply_fix()
    assert panel.spec.layers[fc3].params["out_features"] == 10
    assert not panel.error_frame.isVisibleTo(window)
    qtbot.waitUntil(lambda: training.ready_reason == "", timeout=30_000)


def test_the_split_follows_the_content_until_the_person_moves_it(window, qtbot):
    """cifar-vgg's 18 layers at 1920×1080: the form pane holds the model's largest
    form (a conv2d's eight parameters) whole, and the list takes the rest instead of
    showing 6 rows above a half-empty form; a dragged handle is the person's."""
    panel = window.model_panel
    window.resize(1920, 1080)
    panel.load_preset("cifar-vgg")
    qtbot.waitUntil(lambda: panel.layer_list.viewport().height() > 300, timeout=5_000)
    rows = panel.layer_list.viewport().height() // panel.layer_list.sizeHintForRow(0)
    assert rows >= 12
    stack, form, summary = panel._splitter.sizes()
    assert form >= panel.layer_form.height_for(8) - 10 and summary > 100
    panel.select_layer(2)  # a ReLU: the split does not jump with the selection
    assert panel._splitter.sizes() == [stack, form, summary]
    panel._splitter.moveSplitter(stack - 120, 1)
    moved = panel._splitter.sizes()
    panel.load_preset("lenet")
    assert panel._splitter.sizes() == moved
