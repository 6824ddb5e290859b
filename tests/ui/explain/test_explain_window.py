"""A click on any image — the data grid, the confusion-matrix gallery, ground truth
/ predicted, the hardest examples — opens its trace: the right image, class
probabilities that sum to 1 and agree with the evaluation, the saliency maps and
every layer's output; computed as a session job, again when the weights change."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from netexplorer.ui.explain.explain_view import ExplainView, Trace
from netexplorer.ui.widgets.image_grid import CLICK_HINT, ImageGridView
from tests.ui.debugging_helpers import train
from tests.ui.evaluation.test_evaluation_panel import evaluate_now

WAIT = 30_000
LENET_LAYERS = 12


def view_of(window) -> ExplainView:
    return window.explain_window.view


def click_image(qtbot, window, grid: ImageGridView, cell: int) -> Trace:
    """A real click on `cell` of `grid`; the trace it opens, once drawn."""
    view = view_of(window)
    with qtbot.waitSignal(view.traced, timeout=WAIT) as traced:
        qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_center(cell))
    assert window.explain_window.isVisible()
    return traced.args[0]


def assert_trace_of(window, trace: Trace, split: str, index: int) -> None:
    """The trace is of image `index` of `split`, complete, and shown."""
    e = trace.explanation
    dataset = window.data_view.dataset
    assert (e.split, e.index) == (split, index)
    assert e.label == int(dataset.split(split).labels[index])
    np.testing.assert_array_equal(e.image, dataset.split(split).images[index].numpy())
    assert e.probabilities.shape == (10,)
    assert float(e.probabilities.sum()) == pytest.approx(1.0, abs=1e-5)
    view = view_of(window)
    assert view.trace is trace and not view.busy
    assert f"image #{index:,}" in view.title_label.text()
    assert f"image #{index:,}" in window.explain_window.windowTitle()
    assert view.thumbnail.source(0) == (split, index)
    np.testing.assert_allclose(view.probabilities.probabilities, e.probabilities)
    assert view.saliency.captions() == ("image", "gradient × input", "Grad-CAM (conv2)",
                                        "conv2: 10×10")
    assert e.grad_cam.shape == (10, 10) and (e.grad_cam >= 0).all()
    assert view.layers.layer_list.count() == len(e.layers) == LENET_LAYERS
    predicted = trace.name(e.predicted)
    assert f"predicted {predicted}" in view.verdict_label.text()


def test_a_click_in_the_data_grid_opens_the_trace_of_that_image(window, qtbot):
    grid = window.data_view.grid
    window.tabs.setCurrentWidget(window.data_view)
    assert not window.explain_window.isVisible()
    split, index = grid.source(5)
    assert split == "train"
    trace = click_image(qtbot, window, grid, 5)
    assert_trace_of(window, trace, "train", index)
    assert trace.step is None  # nothing trained: the untrained model's weights
    # The last layer with maps is shown first: what the last convolution made of it.
    layers = view_of(window).layers
    assert layers.layer == "pool2" and layers.maps.image_count() == 16
    layers.set_layer("fc1")
    assert layers.stack.currentWidget() is layers.bars
    # Another click replaces the trace; the test split, too.
    window.data_view.split_combo.setCurrentIndex(window.data_view.split_combo.findData("test"))
    trace = click_image(qtbot, window, grid, 0)
    assert_trace_of(window, trace, "test", grid.source(0)[1])
    assert layers.layer == "fc1"  # the layer looked at stays chosen


@pytest.mark.parametrize("tab", ["cell", "predictions", "hardest"])
def test_a_click_in_an_evaluation_gallery_opens_the_trace_the_evaluation_agrees_with(
        window, qtbot, tab):
    panel = evaluate_now(qtbot, window)
    report = panel.report
    grids = {"cell": panel.gallery, "predictions": panel.prediction_grid,
             "hardest": panel.hardest_gallery}
    grid = grids[tab]
    panel.galleries.setCurrentIndex(list(grids).index(tab))
    cell = min(1, grid.image_count() - 1)
    split, index = grid.source(cell)
    assert split == "test"
    trace = click_image(qtbot, window, grid, cell)
    assert_trace_of(window, trace, "test", index)
    e = trace.explanation
    assert e.predicted == int(report.predictions[index])
    assert e.confidence == pytest.approx(float(report.confidences[index]), abs=1e-5)


def test_the_trace_follows_the_weights_and_any_class_can_be_explained(window, qtbot):
    grid = window.data_view.grid
    window.tabs.setCurrentWidget(window.data_view)
    before = click_image(qtbot, window, grid, 2)
    view = view_of(window)
    traces: list[Trace] = []
    view.traced.connect(traces.append)
    run = train(qtbot, window)
    qtbot.waitUntil(lambda: bool(traces) and traces[-1].step == run.last_step.step, timeout=WAIT)
    assert traces[-1].explanation.index == before.explanation.index
    # Traced again between batches at the epoch's end, and after the run.
    assert all(t.step is not None for t in traces)
    assert not np.allclose(traces[-1].explanation.probabilities,
                           before.explanation.probabilities)
    # The saliency of another class than the predicted one.
    other = (traces[-1].explanation.predicted + 1) % 10
    combo = view.target_combo
    combo.setCurrentIndex(combo.findData(other))
    with qtbot.waitSignal(view.traced, timeout=WAIT) as traced:
        combo.activated.emit(combo.currentIndex())
    assert traced.args[0].explanation.target == other
    assert combo.currentData() == other


def test_an_image_that_cannot_be_traced_is_explained(window, qtbot):
    handle = window.explain_window.view.explain("test", 10_000)
    with qtbot.waitSignal(handle.failed, timeout=WAIT):
        pass  # outcomes are handled on this thread: none can arrive before the wait
    view = view_of(window)
    assert "there is no test image #10,000: the test split has images 0 to 358" in \
        view.status_label.text()
    assert view.trace is None and not view.busy and view.refresh_button.isEnabled()


def test_a_click_on_the_inspectors_probe_image_opens_its_trace(window, qtbot):
    thumbnail = window.inspector_panel.feature_view.thumbnail
    window.inspector_panel.feature_view.image_spin.setValue(7)
    window.tabs.setCurrentWidget(window.inspector_panel)
    qtbot.waitUntil(lambda: thumbnail.source(0) == ("test", 7), timeout=WAIT)
    assert thumbnail.cursor().shape() == Qt.CursorShape.PointingHandCursor
    trace = click_image(qtbot, window, thumbnail, 0)
    assert_trace_of(window, trace, "test", 7)


def test_only_clickable_galleries_offer_a_click(window, qtbot):
    feature_view = window.inspector_panel.feature_view
    maps = feature_view.map_grid  # pictures of a layer, not dataset images
    chosen: list[tuple[str, int]] = []
    maps.imageChosen.connect(lambda split, index: chosen.append((split, index)))
    window.tabs.setCurrentWidget(window.inspector_panel)
    window.inspector_panel.views.setCurrentWidget(feature_view)
    qtbot.waitUntil(lambda: maps.image_count() > 0, timeout=WAIT)
    qtbot.mouseClick(maps, Qt.MouseButton.LeftButton, pos=maps.cell_center(0))
    assert chosen == [] and not window.explain_window.isVisible()
    assert maps.cursor().shape() != Qt.CursorShape.PointingHandCursor
    grid = window.data_view.grid
    assert grid.cursor().shape() == Qt.CursorShape.PointingHandCursor
    for view, hinted in ((grid, True), (maps, False)):
        point = view.cell_center(0)
        QApplication.sendEvent(view, QHelpEvent(QEvent.Type.ToolTip, point,
                                                view.mapToGlobal(point)))
        assert QToolTip.text().endswith(CLICK_HINT) == hinted, QToolTip.text()
        QToolTip.hideText()


def test_the_saliency_picture_is_saved_as_the_cli_writes_it(window, qtbot, tmp_path,
                                                            monkeypatch):
    from PIL import Image
    from PySide6.QtWidgets import QFileDialog

    view = view_of(window)
    assert not view.save_button.isEnabled()  # nothing traced yet
    window.tabs.setCurrentWidget(window.data_view)
    trace = click_image(qtbot, window, window.data_view.grid, 1)
    chosen = tmp_path / "pictures" / "one"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(chosen), ""))
    assert view.save_button.isEnabled()
    qtbot.mouseClick(view.save_button, Qt.MouseButton.LeftButton)
    written = chosen.with_suffix(".png")
    qtbot.waitUntil(lambda: "Saved the saliency picture" in view.status_label.text(),
                    timeout=WAIT)
    assert str(written) in view.status_label.text()
    with Image.open(written) as picture:
        assert picture.format == "PNG" and picture.size[0] > 4 * 128
    assert trace.model == window.model_panel.spec.name
