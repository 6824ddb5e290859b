"""The Evaluation tab: where the trained model is wrong.

Test accuracy and loss; the tutorial's class-wise accuracy as a table and a bar
chart; the confusion matrix with counts (click a cell to see its images); the
tutorial's "GroundTruth / Predicted" grid; and the hardest examples by loss.
A click on any of those images says which (imageChosen): the window opens its trace.

An evaluation is a session job (TrainingSession.evaluate) and arrives as an
EvalReport — numbers and indices only. The session evaluates at the end of
every run by itself; this panel evaluates on demand (Evaluate button) and after
a checkpoint is opened, so a loaded model can be judged without training. The
images come from the dataset the report was made on, kept beside it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from netexplorer.core.formatting import percent, plain
from netexplorer.ui.icons import icon
from netexplorer.ui.widgets.accessibility import heading_label, hint_label, named
from netexplorer.ui.widgets.colours import series_colour
from netexplorer.ui.widgets.gallery import MAX_GALLERY, make_gallery, show_dataset_images
from netexplorer.ui.widgets.heatmap import HeatmapView
from netexplorer.ui.widgets.plots import make_bar_chart

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.core.data import Dataset
    from netexplorer.core.evaluation import EvalReport
    from netexplorer.ui.session.run_library import WeightsEvaluation
    from netexplorer.ui.session.training_session import TrainingSession
    from netexplorer.ui.session.workers import TaskFailure, TaskHandle

# Images in the "ground truth / predicted" grid and the hardest-examples gallery.
SAMPLE_COUNT = 32
PER_CLASS_COLUMNS = ("Class", "Accuracy", "Right", "Images", "Most often taken for")
_SAMPLE_CHOICES = (("first", "First test images"), ("mistakes", "Mistakes, most confident first"),
                   ("random", "A random sample"))


class EvaluationPanel(QWidget):
    """See the module doc. `report` is the evaluation shown (None before any)."""

    imageChosen = Signal(str, int)  # a click on a gallery image: its split and index

    def __init__(self, session: TrainingSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "evaluationPanel", "Evaluation")
        self._session = session
        self.report: EvalReport | None = None
        self._dataset: Dataset | None = None
        self._request: TaskHandle | None = None  # the evaluation asked for here
        self._evaluated_this_run = False
        self._received_at = 0.0
        self._source = ""
        self._asked_for = "evaluated on demand"  # why the pending evaluation was asked for
        self._stale = ""
        self.gallery_indices = np.zeros(0, np.int64)  # what the cell gallery shows
        self._build()
        session.evaluationReady.connect(self._on_evaluation)
        session.followedEvaluation.connect(self._on_followed_evaluation)
        session.followedEvaluationFailed.connect(self._on_followed_evaluation_failed)
        session.runStarted.connect(self._on_run_started)
        session.runFinished.connect(self._on_run_finished)
        session.modelReplaced.connect(self._on_model_replaced)
        self._show_nothing()

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        self.evaluate_button = named(QPushButton(icon("evaluate"), "Evaluate"), "evaluateButton",
                                     "Evaluate",
                                     "run the current model over the test split now")
        self.evaluate_button.clicked.connect(self._on_evaluate_clicked)
        self.accuracy_label = named(QLabel("–"), "accuracyLabel", "Test accuracy")
        font = QFont(self.accuracy_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.accuracy_label.setFont(font)
        self.detail_label = named(hint_label(""), "evaluationDetail", "Evaluation details")
        self.detail_label.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.evaluate_button)
        top.addSpacing(12)
        top.addWidget(self.accuracy_label)
        top.addSpacing(12)
        top.addWidget(self.detail_label, 1)

        self.per_class_table = named(QTableWidget(0, len(PER_CLASS_COLUMNS)), "perClassTable",
                                     "Accuracy by class")
        table = self.per_class_table
        table.setHorizontalHeaderLabels(list(PER_CLASS_COLUMNS))
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(PER_CLASS_COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        header.setHighlightSections(False)
        self.per_class_chart = make_bar_chart("perClassChart", "Accuracy by class chart",
                                              bottom="accuracy (%)")
        chart = self.per_class_chart.getPlotItem()
        self._bars: pg.BarGraphItem | None = None
        self._mean_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(
            self.palette().color(QPalette.ColorRole.Text), width=1, style=Qt.PenStyle.DashLine))
        self._mean_line.hide()
        chart.addItem(self._mean_line, ignoreBounds=True)
        per_class = QSplitter(Qt.Orientation.Vertical)
        per_class.setChildrenCollapsible(False)
        per_class.addWidget(self._titled("Accuracy by class", self.per_class_chart))
        per_class.addWidget(self.per_class_table)
        per_class.setSizes([230, 170])  # the chart first; the table scrolls

        self.confusion = HeatmapView("confusionMatrix", "Confusion matrix", left="true class",
                                     bottom="predicted class", colormap="CET-L12")
        self.confusion.setToolTip("rows: the true class; columns: what the model said. Click a "
                                  "cell to see its images.")
        self.confusion.cellClicked.connect(self._on_cell_clicked)
        upper = QSplitter(Qt.Orientation.Horizontal)
        upper.setChildrenCollapsible(False)
        upper.addWidget(per_class)
        upper.addWidget(self._titled("Confusion matrix — click a cell to see its images",
                                     self.confusion))
        upper.setStretchFactor(0, 4)
        upper.setStretchFactor(1, 5)

        self.galleries = named(QTabWidget(), "galleryTabs", "Example images")
        self.galleries.setDocumentMode(True)
        self.cell_caption = hint_label("", "cellCaption")
        self.gallery, cell_scroll = make_gallery("exampleGallery", "Images of the chosen cell",
                                                 "the test images in the chosen confusion-matrix "
                                                 "cell, most confident first")
        self.galleries.addTab(self._captioned(self.cell_caption, cell_scroll), "Chosen cell")
        self.sample_combo = named(QComboBox(), "sampleCombo", "Which images")
        for key, text in _SAMPLE_CHOICES:
            self.sample_combo.addItem(text, key)
        self.sample_combo.currentIndexChanged.connect(self._on_sample_changed)
        self.prediction_grid, prediction_scroll = make_gallery(
            "predictionGrid", "Ground truth and predicted classes",
            "each image's caption: its true class / the model's prediction (✗ marks a mistake)")
        row = QHBoxLayout()
        row.addWidget(self.sample_combo)
        row.addWidget(hint_label("Captions: ground truth / predicted", "predictionHint"), 1)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(prediction_scroll, 1)
        self.galleries.addTab(page, "Ground truth / predicted")
        self.hardest_caption = hint_label("", "hardestCaption")
        self.hardest_gallery, hardest_scroll = make_gallery(
            "hardestGallery", "Hardest examples", "the test images with the highest loss")
        self.galleries.addTab(self._captioned(self.hardest_caption, hardest_scroll),
                              "Hardest examples")

        for gallery in (self.gallery, self.prediction_grid, self.hardest_gallery):
            gallery.set_clickable(True)
            gallery.imageChosen.connect(self.imageChosen)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("evaluationSplitter")
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(upper)
        splitter.addWidget(self.galleries)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([400, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

    @staticmethod
    def _titled(title: str, widget: QWidget) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(heading_label(title))
        layout.addWidget(widget, 1)
        return box

    @staticmethod
    def _captioned(caption: QLabel, widget: QWidget) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(caption)
        layout.addWidget(widget, 1)
        return box

    # ------------------------------------------------------------------ interface

    @property
    def busy(self) -> bool:
        return self._request is not None

    def evaluate(self) -> TaskHandle | None:
        """Evaluate the current model on the test split (as a session job); its
        handle, or None if there is nothing to evaluate yet."""
        if self._session.spec is None:
            self.detail_label.setText("Build a valid model first (see the model panel).")
            return None
        if self._session.dataset is None:
            self.detail_label.setText("Load a dataset first (Data tab).")
            return None
        self._request = self._session.evaluate()
        self._request.failed.connect(self._on_evaluation_failed)
        self.evaluate_button.setEnabled(False)
        self.evaluate_button.setText("Evaluating…")
        return self._request

    def show_cell(self, true_class: int, predicted_class: int) -> None:
        """Show the images of one confusion-matrix cell in the gallery."""
        report, dataset = self.report, self._usable_dataset()
        if report is None:
            return
        k = len(report.classes)
        if not (0 <= true_class < k and 0 <= predicted_class < k):
            return
        self.confusion.select_cell(true_class, predicted_class)
        indices = report.cell(true_class, predicted_class)
        indices = indices[np.argsort(-report.confidences[indices], kind="stable")]
        self.gallery_indices = indices
        names = report.classes
        count = len(indices)
        what = (f"{names[true_class]} recognised as {names[true_class]}"
                if true_class == predicted_class
                else f"{names[true_class]} taken for {names[predicted_class]}")
        shown = f" (the first {MAX_GALLERY} shown)" if count > MAX_GALLERY else ""
        self.cell_caption.setText(f"{what}: {count:,} image{'s' if count != 1 else ''}{shown}"
                                  f" — captions give the model's confidence")
        self.galleries.setCurrentIndex(0)
        if dataset is None:
            self.gallery.show_message(self._dataset_changed_message())
            return
        show_dataset_images(self.gallery, dataset, "test", indices,
                            [percent(float(report.confidences[i]), 0) for i in indices],
                            [_describe_image(report, i) for i in indices],
                            empty="No test image falls in this cell.")

    # ------------------------------------------------------------------ showing a report

    def _show_nothing(self) -> None:
        self.accuracy_label.setText("Test accuracy: –")
        self.detail_label.setText("Train a model, open a checkpoint, or click Evaluate to "
                                  "measure the current model on the test images.")
        self.confusion.clear("The confusion matrix appears after an evaluation.")
        for view in (self.gallery, self.prediction_grid, self.hardest_gallery):
            view.show_message("Images appear after an evaluation.")

    def _show_report(self) -> None:
        report = self.report
        if report is None:
            return
        n = report.count
        right = int((report.predictions == report.labels).sum())
        self.accuracy_label.setText(f"Test accuracy: {percent(report.accuracy)}")
        self._refresh_detail()
        self._fill_per_class(report)
        self._fill_confusion(report)
        self._fill_samples()
        self._fill_hardest(report)
        # Start on the most common mistake: usually the most telling cell.
        off = report.confusion.copy()
        np.fill_diagonal(off, 0)
        if off.size and off.max() > 0:
            true_class, predicted_class = np.unravel_index(int(off.argmax()), off.shape)
            self.show_cell(int(true_class), int(predicted_class))
        elif report.confusion.size:
            self.show_cell(0, 0)
        self.setAccessibleDescription(f"test accuracy {percent(report.accuracy)}, "
                                      f"{right} of {n} right")

    def _refresh_detail(self) -> None:
        report = self.report
        if report is None:
            return
        n = report.count
        right = int((report.predictions == report.labels).sum())
        when = time.strftime("%H:%M:%S", time.localtime(self._received_at))
        text = (f"loss {plain(report.loss)} · {right:,} of {n:,} test images right · "
                f"{self._source}, {when}")
        if self._stale:
            text += f"\n{self._stale}"
        self.detail_label.setText(text)

    def _fill_per_class(self, report: EvalReport) -> None:
        confusion = report.confusion
        totals = confusion.sum(axis=1)
        table = self.per_class_table
        table.setRowCount(len(report.classes))
        for row, name in enumerate(report.classes):
            accuracy = float(report.per_class_accuracy[row])
            mistakes = confusion[row].copy()
            mistakes[row] = 0
            worst = int(mistakes.argmax()) if mistakes.size else 0
            confused = (f"{report.classes[worst]} ({int(mistakes[worst])})"
                        if mistakes.size and mistakes[worst] > 0 else "–")
            values = (name, percent(accuracy), f"{int(confusion[row, row]):,}",
                      f"{int(totals[row]):,}", confused)
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                if column in (1, 2, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                item.setToolTip(f"Accuracy of {name}: {percent(accuracy)} "
                                f"({int(confusion[row, row])} of {int(totals[row])} images)")
                table.setItem(row, column, item)
        chart = self.per_class_chart.getPlotItem()
        if self._bars is not None:
            chart.removeItem(self._bars)
        k = len(report.classes)
        widths = np.nan_to_num(100.0 * report.per_class_accuracy, nan=0.0)
        self._bars = pg.BarGraphItem(x0=np.zeros(k), y=np.arange(k), height=0.7, width=widths,
                                     brush=series_colour(0), pen=pg.mkPen(None))
        chart.addItem(self._bars)
        chart.getAxis("left").setTicks([[(i, str(name)) for i, name in
                                         enumerate(report.classes)], []])
        chart.setXRange(0, 100, padding=0.02)
        chart.setYRange(-0.6, k - 0.4, padding=0)
        self._mean_line.setValue(100.0 * report.accuracy)
        self._mean_line.show()
        self.per_class_chart.setToolTip(f"accuracy of each class; the dashed line is the "
                                        f"overall {percent(report.accuracy)}")

    def _fill_confusion(self, report: EvalReport) -> None:
        confusion = report.confusion
        totals = confusion.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            # Empty cells stay transparent, so the few mistakes stand out from nothing.
            share = np.where(confusion > 0, confusion / np.maximum(totals, 1), np.nan)
        names = report.classes

        def describe(row: int, column: int) -> str:
            count = int(confusion[row, column])
            of = int(totals[row, 0])
            return (f"true {names[row]}, predicted {names[column]}: {count:,} image"
                    f"{'s' if count != 1 else ''} ({percent(count / of if of else float('nan'))}"
                    f" of the {of:,} {names[row]} images)\nclick to see them")

        labels = np.array([[str(int(v)) if v else "" for v in row] for row in confusion])
        # Blues that start at the background's end: white on light palettes, dark blue
        # on dark ones, so the few mistakes stay quiet and the diagonal stands out.
        dark = self.palette().color(QPalette.ColorRole.Base).lightnessF() < 0.5
        self.confusion.show_matrix(share, row_labels=names, column_labels=names, levels=(0, 1),
                                   bar_label="share of the true class", describe=describe,
                                   annotations=labels, colormap="CET-L6" if dark else "CET-L12")

    def _fill_samples(self) -> None:
        report, dataset = self.report, self._usable_dataset()
        if report is None:
            return
        if dataset is None:
            self.prediction_grid.show_message(self._dataset_changed_message())
            return
        choice = self.sample_combo.currentData()
        if choice == "mistakes":
            indices = report.misclassified()[:SAMPLE_COUNT]
        elif choice == "random":
            count = min(SAMPLE_COUNT, report.count)
            indices = np.sort(np.random.default_rng().choice(report.count, count, replace=False))
        else:
            indices = np.arange(min(SAMPLE_COUNT, report.count))
        show_dataset_images(self.prediction_grid, dataset, "test", indices,
                            [_truth_and_prediction(report, i) for i in indices],
                            [_describe_image(report, i) for i in indices],
                            empty="No mistakes: every test image is classified right.")

    def _fill_hardest(self, report: EvalReport) -> None:
        dataset = self._usable_dataset()
        indices = report.hardest(SAMPLE_COUNT)
        if len(indices):
            self.hardest_caption.setText(
                f"The {len(indices)} test images with the highest loss, highest first (loss "
                f"{plain(float(report.losses[indices[0]]))} to "
                f"{plain(float(report.losses[indices[-1]]))}); captions: ground truth / "
                f"predicted")
        if dataset is None:
            self.hardest_gallery.show_message(self._dataset_changed_message())
            return
        show_dataset_images(self.hardest_gallery, dataset, "test", indices,
                            [_truth_and_prediction(report, i) for i in indices],
                            [_describe_image(report, i) for i in indices])

    def _usable_dataset(self) -> Dataset | None:
        """The dataset the report was made on, if its test split still matches."""
        dataset, report = self._dataset, self.report
        if dataset is None or report is None or len(dataset.test) != report.count:
            return None
        return dataset

    @staticmethod
    def _dataset_changed_message() -> str:
        return "The dataset has changed since this evaluation: click Evaluate."

    # ------------------------------------------------------------------ reactions

    @Slot()
    def _on_evaluate_clicked(self) -> None:
        self.evaluate()

    @Slot(object)
    def _on_evaluation(self, report: EvalReport) -> None:
        # The session tells every evaluation; this one is ours if our request is the
        # one that just finished (a run's own end-of-run evaluation may come first).
        mine = self._request is not None and self._request.done
        if mine:
            self._request = None
        if self._request is None:
            self.evaluate_button.setEnabled(True)
            self.evaluate_button.setText("Evaluate")
        self._evaluated_this_run = True
        run = self._session.current_run
        if mine:
            source = self._asked_for
        else:
            source = f"end of run {run.number}" if run is not None else "evaluated"
        self._asked_for = "evaluated on demand"
        self._show_evaluation(report, source)

    @Slot(object, object)
    def _on_followed_evaluation(self, run: Any, evaluation: WeightsEvaluation) -> None:
        """A run another process writes, its last weights evaluated here: shown while
        no run trains in this window and no evaluation was asked for."""
        if self._session.active or self._request is not None:
            return
        self._show_evaluation(evaluation.report,
                              f"run {run.number} (followed), its weights after epoch "
                              f"{evaluation.epochs_done}")

    @Slot(object, str)
    def _on_followed_evaluation_failed(self, run: Any, message: str) -> None:
        if self._session.active or self._request is not None:
            return
        self._stale = f"Run {run.number} (followed) is not evaluated here: {message}."
        if self.report is None:
            self.detail_label.setText(self._stale)
        else:
            self._refresh_detail()

    def _show_evaluation(self, report: EvalReport, source: str) -> None:
        self.report = report
        self._dataset = self._session.dataset
        self._received_at = time.time()
        self._source = source
        self._stale = ""
        self._show_report()

    @Slot(object)
    def _on_evaluation_failed(self, failure: TaskFailure) -> None:
        if self.sender() is not self._request:
            return
        self._request = None
        self.evaluate_button.setEnabled(True)
        self.evaluate_button.setText("Evaluate")
        self.detail_label.setText(f"The model could not be evaluated: {failure.message}. Check "
                                  f"that the dataset fits the model (Data tab), then try again.")

    @Slot(object)
    def _on_run_started(self, _run: Any) -> None:
        self._evaluated_this_run = False
        if self.report is not None:
            self._stale = "Training is under way: this evaluation is of the earlier weights."
            self._refresh_detail()

    @Slot(object)
    def _on_run_finished(self, run: Any) -> None:
        # A run that trained has been evaluated by now; an opened checkpoint (or a run
        # that failed) has not: evaluate what the session holds now.
        if not self._evaluated_this_run and not self._session.active and \
                self._session.dataset is not None and self._session.spec is not None:
            finished = getattr(run, "finished", None)
            opened = finished is not None and finished.status == "checkpoint"
            self._asked_for = ("the opened checkpoint, evaluated" if opened else
                               f"evaluated after run {getattr(run, 'number', '')} ended")
            self.evaluate()

    @Slot()
    def _on_model_replaced(self) -> None:
        if self.report is not None:
            self._stale = "The model has changed since: click Evaluate for the new one."
            # The headline must not pass the earlier model's figure off as this one's.
            self.accuracy_label.setText(f"Earlier model: {percent(self.report.accuracy)}")
            self._refresh_detail()

    @Slot(int, int)
    def _on_cell_clicked(self, row: int, column: int) -> None:
        self.show_cell(row, column)

    @Slot(int)
    def _on_sample_changed(self, _index: int) -> None:
        self._fill_samples()


def _truth_and_prediction(report: EvalReport, index: int) -> str:
    """A caption: ground truth / predicted, marked ✗ when they differ."""
    truth, predicted = int(report.labels[index]), int(report.predictions[index])
    mark = "" if truth == predicted else " ✗"
    return f"{report.classes[truth]} / {report.classes[predicted]}{mark}"


def _describe_image(report: EvalReport, index: int) -> str:
    """A tooltip: the image's number, true and predicted class, confidence and loss."""
    truth, predicted = int(report.labels[index]), int(report.predictions[index])
    verdict = "right" if truth == predicted else "wrong"
    return (f"test image #{int(index):,}\ntrue class: {report.classes[truth]}\n"
            f"predicted: {report.classes[predicted]} "
            f"({percent(float(report.confidences[index]))} confident, {verdict})\n"
            f"loss: {plain(float(report.losses[index]))}")
