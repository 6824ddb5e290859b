"""The run's diagnosis in the window: the Training tab's banner and the Inspector
give one verdict, and a divergence brings its layer and its batch forward."""

from __future__ import annotations

from PySide6.QtCore import Qt

from netexplorer.ui.inspector.inspector_panel import DEFAULT_PROBE_EVERY, InspectorPanel
from tests.ui.debugging_helpers import train


def inspector(window) -> InspectorPanel:
    return window.inspector_panel


def test_lr_50_ends_at_the_divergence_and_shows_its_layer_and_batch(window, qtbot):
    panel = inspector(window)
    assert window.session.probe_every == DEFAULT_PROBE_EVERY  # the default sampling
    window.tabs.setCurrentIndex(0)
    run = train(qtbot, window, lr=50.0)
    done = run.finished
    assert done.status == "diverged" and done.nonfinite is not None
    site = done.nonfinite
    assert site.layer in [layer.name for layer in window.model_panel.spec.layers]
    # The window shows the Inspector, the layer selected there and in the model panel.
    assert window.tabs.currentWidget() is panel
    assert window.model_panel.selected_index == site.layer_index
    if site.layer_index < len(panel.history.layers):
        assert panel.table.selected_layers() == [site.layer_index]
    # One verdict, in the same words in both tabs; it says the run ended.
    [verdict] = panel.diagnosis.verdicts
    assert panel.diagnosis.isVisible() and panel.diagnosis.banner.label.text() == str(verdict)
    banner = window.training_panel.banner.label.text()
    assert verdict.message[1:] in banner and verdict.advice in banner
    assert "ended" in verdict.message and f"step {done.diverged_step}" in verdict.message
    # The batch that went wrong.
    grid = panel.diagnosis.batch_grid
    assert grid.image_count() == len(site.batch) > 0
    # A click on one of its images explains it.
    view = window.explain_window.view
    with qtbot.waitSignal(view.traced, timeout=30_000) as traced:
        qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_center(1))
    explanation = traced.args[0].explanation
    assert (explanation.split, explanation.index) == ("train", int(site.batch[1]))
    window.explain_window.hide()
    window.resize(1300, 900)
    panel.grab().save("/tmp/inspector_diverged.png")


def test_relu_lenet_at_lr_1_5_one_verdict_for_both_tabs(window, qtbot):
    panel = inspector(window)
    panel.set_probe_every(1)
    run = train(qtbot, window, lr=1.5, epochs=2)
    [verdict] = panel.diagnosis.verdicts
    assert verdict.kind == "not_learning"
    banner = window.training_panel.banner.label.text()
    assert verdict.message in banner and verdict.advice in banner
    # Lower, never raise, in every alert and in the verdict; no sigmoid for a ReLU model.
    texts = [str(t.alert) for t in panel.history.alerts] + [str(verdict)]
    assert "ten times" not in " ".join(texts) and "sigmoid" not in " ".join(texts).lower()
    assert run.finished.status == "completed"
