"""The Evaluation tab: on demand, after every run, after opening a checkpoint; the
confusion matrix and its galleries."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from netexplorer.ui.evaluation.evaluation_panel import SAMPLE_COUNT, EvaluationPanel
from tests.ui.debugging_helpers import click_cell, open_poisoned_checkpoint, train


def evaluation(window) -> EvaluationPanel:
    panel = window.evaluation_panel
    assert isinstance(panel, EvaluationPanel)
    return panel


def evaluate_now(qtbot, window) -> EvaluationPanel:
    panel = evaluation(window)
    window.tabs.setCurrentWidget(panel)
    button = window.findChild(QPushButton, "evaluateButton")
    with qtbot.waitSignal(window.session.evaluationReady, timeout=30_000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert button.isEnabled()
    return panel


def test_named_parts_exist(window):
    for name in ("evaluateButton", "accuracyLabel", "perClassChart", "confusionMatrix",
                 "exampleGallery"):
        assert window.findChild(QWidget, name) is not None, name


def test_evaluate_on_demand_without_training(window, qtbot):
    panel = evaluate_now(qtbot, window)
    report = panel.report
    test_size = len(window.data_view.dataset.test)
    assert report.count == test_size == 359
    assert int(report.confusion.sum()) == test_size
    label = window.findChild(QLabel, "accuracyLabel")
    assert label.text().endswith(" %") and "accuracy" in label.text().lower()
    assert panel.per_class_table.rowCount() == 10
    assert panel.per_class_table.item(3, 0).text() == "3"
    assert panel.per_class_table.item(3, 1).text().endswith(" %")
    bars = panel._bars.opts
    assert np.allclose(bars["width"], np.nan_to_num(100 * report.per_class_accuracy))
    assert panel.confusion.shape == (10, 10)
    assert "on demand" in panel.detail_label.text()


def test_confusion_counts_and_a_clicked_cell_shows_exactly_its_images(window, qtbot):
    train(qtbot, window)
    panel = evaluation(window)
    window.tabs.setCurrentWidget(panel)
    report = panel.report
    assert report is not None and int(report.confusion.sum()) == 359
    # The cells' numbers are the counts.
    texts = {(round(label.pos().y() - 0.5), round(label.pos().x())): label.toPlainText()
             for label in panel.confusion._labels}
    for (row, column), count in np.ndenumerate(report.confusion):
        assert texts.get((row, column), "0") == str(int(count))
    off = report.confusion.copy()
    np.fill_diagonal(off, 0)
    for row, column in [(2, 2), np.unravel_index(int(off.argmax()), off.shape)]:
        row, column = int(row), int(column)
        click_cell(qtbot, panel.confusion, row, column)
        expected = np.flatnonzero((report.labels == row) & (report.predictions == column))
        assert sorted(panel.gallery_indices) == sorted(expected)
        assert panel.gallery.image_count() == len(expected) == int(report.confusion[row,
                                                                                     column])
        assert panel.confusion.selected == (row, column)
        assert f"{len(expected)} image" in panel.cell_caption.text()


def test_evaluates_automatically_at_the_end_of_each_run(window, qtbot):
    panel = evaluation(window)
    with qtbot.waitSignal(window.session.evaluationReady, timeout=60_000):
        train(qtbot, window)
    assert panel.report is not None
    assert "end of run 1" in panel.detail_label.text()
    assert panel.prediction_grid.image_count() == SAMPLE_COUNT
    assert panel.hardest_gallery.image_count() == SAMPLE_COUNT
    hardest = panel.report.hardest(SAMPLE_COUNT)
    assert panel.hardest_gallery.captions()[0].startswith(
        panel.report.classes[int(panel.report.labels[hardest[0]])])
    first = panel.prediction_grid.captions()[0]
    truth, predicted = int(panel.report.labels[0]), int(panel.report.predictions[0])
    assert first.startswith(f"{truth} / {predicted}")
    panel.sample_combo.setCurrentIndex(panel.sample_combo.findData("mistakes"))
    wrong = len(panel.report.misclassified())
    assert panel.prediction_grid.image_count() == min(SAMPLE_COUNT, wrong)
    assert all("✗" in c for c in panel.prediction_grid.captions())


def test_an_opened_checkpoint_is_evaluated_without_training(window, qtbot, tmp_path):
    import torch

    from netexplorer.core.evaluation import evaluate
    from netexplorer.core.specs import build_model

    panel = evaluation(window)
    with qtbot.waitSignal(window.session.evaluationReady, timeout=30_000):
        open_poisoned_checkpoint(window, tmp_path, lambda m: None)
    assert len(window.session.runs[-1].steps) == 0  # nothing was trained
    assert "checkpoint" in panel.detail_label.text()
    torch.manual_seed(0)
    expected = evaluate(build_model(window.model_panel.spec), window.data_view.dataset.test,
                        classes=window.data_view.dataset.classes)
    assert panel.report.accuracy == expected.accuracy
    assert np.array_equal(panel.report.confusion, expected.confusion)


def test_a_failed_evaluation_is_explained(window, qtbot, monkeypatch):
    panel = evaluation(window)

    def broken(_context):
        raise RuntimeError("the model and the data do not fit")

    monkeypatch.setattr("netexplorer.ui.session.training_session._evaluate_job", broken)
    request = panel.evaluate()
    with qtbot.waitSignal(request.failed, timeout=30_000):
        pass  # outcomes are handled on this thread: none can arrive before the wait
    assert "do not fit" in panel.detail_label.text()
    assert panel.evaluate_button.isEnabled() and not panel.busy
