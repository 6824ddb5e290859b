"""An image's trace: what the model says about one image and why.

The image and the verdict; the probability of every class; the saliency maps
(gradient × input, Grad-CAM on the last convolution over the image and at its own
resolution); and each layer's output for the image. A click on any dataset image
in the window (the data grid, the evaluation's galleries) brings it here.

The trace is computed by core.explain as a session job — between the batches of
a run that is training, else on the job thread — and arrives as plain arrays. It
is computed again for the same image when the weights change (an epoch ends, a
run ends, another model is opened) while it is shown; a hidden view remembers
that it is out of date and asks when it is shown again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QFont, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from netexplorer.core.explain_pictures import (
    class_name,
    picture_title,
    saliency_panels,
    write_saliency_png,
)
from netexplorer.core.formatting import percent
from netexplorer.core.reports import EpochReport
from netexplorer.ui.explain.layer_view import LayerActivationView
from netexplorer.ui.explain.probability_chart import ProbabilityChart
from netexplorer.ui.icons import icon
from netexplorer.ui.session.workers import expect_gui_thread
from netexplorer.ui.widgets.accessibility import heading_label, hint_label, named
from netexplorer.ui.widgets.gallery import make_gallery, show_arrays, show_dataset_images

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.core.explain import Explanation
    from netexplorer.ui.session.training_session import ModelContext, TrainingSession
    from netexplorer.ui.session.workers import TaskFailure, TaskHandle

SALIENCY_CELL = 128  # saliency pictures are enlarged to about this many pixels
THUMBNAIL_CELL = 96


@dataclass(frozen=True, eq=False)
class Trace:
    """An Explanation with what drawing it needs from the dataset it was made on."""

    explanation: Explanation
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    step: int | None  # the training step the weights are from, if a run is active
    model: str  # the model's name

    def name(self, index: int | None) -> str:
        return class_name(self.classes, index)


def explain_job(context: ModelContext, split: str, index: int, target: int | None) -> Trace:
    """Runs where the model may be used (see TrainingSession.submit)."""
    from netexplorer.core.explain import explain_example

    dataset = context.dataset
    if dataset is None:
        raise RuntimeError("load a dataset first: the image comes from it")
    loss = context.config.loss if context.config is not None else "cross-entropy"
    explanation = explain_example(context.model, dataset.split(split), index, split_name=split,
                                  loss=loss, target=target)
    trainer = context.trainer
    norm = dataset.normalization
    return Trace(explanation, tuple(dataset.classes), tuple(norm.mean), tuple(norm.std),
                 trainer.position.step if trainer is not None else None, context.spec.name)


def picture_job(_context: ModelContext, trace: Trace, path: str) -> str:
    """Writes the saliency picture `netexplorer explain` writes; a session job, so the
    file is written off the GUI thread (the model is not used)."""
    e = trace.explanation
    return str(write_saliency_png(path, e, trace.mean, trace.std, trace.classes,
                                  picture_title(e, trace.classes, trace.model)))


class ExplainView(QWidget):
    """See the module doc. `trace` is the one shown (None before any)."""

    traced = Signal(object)  # a Trace has been drawn
    titleChanged = Signal(str)  # which image is shown, in words

    def __init__(self, session: TrainingSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "explainView", "Explain an image",
              "how the model decides about one image")
        self._session = session
        self._image: tuple[str, int] | None = None  # split, index
        self._job: TaskHandle | None = None  # the newest trace asked for
        self._stale = False
        self._pictures: set[QObject] = set()  # picture writes under way
        self.trace: Trace | None = None
        self.probabilities = ProbabilityChart()
        self.layers = LayerActivationView()
        self._build()
        session.modelReplaced.connect(self._on_weights_changed)
        session.runFinished.connect(self._on_run_finished)
        session.reportsReady.connect(self._on_reports)

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        self.thumbnail, _ = make_gallery("explainImage", "The explained image")
        self.thumbnail.setFixedWidth(THUMBNAIL_CELL + 40)
        self.title_label = named(QLabel("Click an image to explain it"), "explainTitle",
                                 "Explained image")
        font = QFont(self.title_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.title_label.setFont(font)
        self.verdict_label = named(QLabel(""), "explainVerdict", "Verdict")
        self.status_label = hint_label("", "explainStatus")
        self.target_combo = named(QComboBox(), "explainTargetCombo", "Explain the class",
                                  "the class whose score the saliency maps explain")
        self.target_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.target_combo.activated.connect(self._on_target_activated)
        self.refresh_button = named(QPushButton(icon("retry"), "Refresh"),
                                    "explainRefreshButton", "Refresh the trace",
                                    "trace the image through the current weights now")
        self.refresh_button.clicked.connect(self._on_refresh_clicked)
        self.save_button = named(QPushButton(icon("save"), "Save picture…"),
                                 "explainSaveButton", "Save the saliency picture",
                                 "write the image, its saliency maps and the class "
                                 "probabilities as a PNG (as netexplorer explain does)")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._on_save_clicked)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Saliency for"))
        controls.addWidget(self.target_combo)
        controls.addWidget(self.refresh_button)
        controls.addWidget(self.save_button)
        controls.addStretch(1)
        text = QVBoxLayout()
        text.addWidget(self.title_label)
        text.addWidget(self.verdict_label)
        text.addLayout(controls)
        text.addWidget(self.status_label)
        text.addStretch(1)
        header = QHBoxLayout()
        header.addWidget(self.thumbnail)
        header.addLayout(text, 1)

        self.saliency, saliency_scroll = make_gallery(
            "saliencyGallery", "Saliency maps",
            "gradient × input: red raises the class's score, blue lowers it; Grad-CAM: "
            "bright where the last convolution holds the evidence")
        self.saliency_caption = hint_label("", "saliencyCaption")
        saliency_box = QWidget()
        saliency_layout = QVBoxLayout(saliency_box)
        saliency_layout.setContentsMargins(0, 0, 0, 0)
        saliency_layout.addWidget(saliency_scroll, 1)
        saliency_layout.addWidget(self.saliency_caption)
        upper = QSplitter(Qt.Orientation.Horizontal)
        upper.setChildrenCollapsible(False)
        upper.addWidget(self._titled("Class probabilities", self.probabilities.plot))
        upper.addWidget(self._titled("Saliency", saliency_box))
        upper.setSizes([340, 620])
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(upper)
        splitter.addWidget(self._titled("Each layer's output for this image", self.layers))
        splitter.setSizes([300, 320])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(header)
        layout.addWidget(splitter, 1)
        self._show_empty("Click an image in the Data tab or the Evaluation tab to see how "
                         "the model decides about it.")

    @staticmethod
    def _titled(title: str, widget: QWidget) -> QWidget:
        box = QWidget()
        layout = QGridLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(heading_label(title), 0, 0)
        layout.addWidget(widget, 1, 0)
        layout.setRowStretch(1, 1)
        return box

    # ------------------------------------------------------------------ interface

    @property
    def busy(self) -> bool:
        return self._job is not None

    @property
    def image(self) -> tuple[str, int] | None:
        """The split and index of the image asked for last."""
        return self._image

    def explain(self, split: str, index: int) -> TaskHandle | None:
        """Trace image `index` of `split` (as a session job); its handle, or None when
        there is no model or data to trace it with (the view says why)."""
        if self._image != (split, index):
            self.target_combo.clear()  # the new image's own prediction, until chosen
        self._image = (split, index)
        self._show_image()
        return self.refresh()

    def refresh(self) -> TaskHandle | None:
        """Trace the current image again through the weights there are now."""
        self._stale = False
        if self._image is None:
            return None
        if self._session.spec is None:
            self.status_label.setText("Build a valid model first (see the model panel).")
            return None
        if self._session.dataset is None:
            self.status_label.setText("Load a dataset first (Data tab).")
            return None
        split, index = self._image
        target = self.target_combo.currentData()
        self._job = self._session.submit(explain_job, split, index,
                                         None if target is None or target < 0 else int(target),
                                         description="explanation")
        self._job.finished.connect(self._on_traced)
        self._job.failed.connect(self._on_trace_failed)
        self.refresh_button.setEnabled(False)
        self.status_label.setText("Tracing the image through the model…")
        return self._job

    def save_picture(self, path: str) -> TaskHandle | None:
        """Write the trace's saliency picture to `path` (as a session job)."""
        if self.trace is None:
            return None
        handle = self._session.submit(picture_job, self.trace, path,
                                      description="saliency picture")
        handle.finished.connect(self._on_picture_saved)
        handle.failed.connect(self._on_picture_failed)
        self._pictures.add(handle)
        handle.settled.connect(self._on_picture_settled)
        return handle

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    # ------------------------------------------------------------------ drawing

    def _show_empty(self, message: str) -> None:
        self.thumbnail.show_message("")
        self.saliency.show_message(message)
        self.saliency_caption.setText("")
        self.probabilities.clear()
        self.layers.show_layers((), None)

    def _show_image(self) -> None:
        """The image itself at once, from the dataset the window shows."""
        dataset = self._session.dataset
        split, index = self._image or ("test", 0)
        title = f"{split.capitalize()} image #{index:,}"
        self.title_label.setText(title)
        self.titleChanged.emit(title)
        if dataset is None or not 0 <= index < len(dataset.split(split)):
            self.thumbnail.show_message("")
            return
        label = int(dataset.split(split).labels[index])
        show_dataset_images(self.thumbnail, dataset, split, [index], [dataset.classes[label]],
                            [f"{split} image #{index:,}: {dataset.classes[label]}"])

    def _render(self, trace: Trace) -> None:
        e = trace.explanation
        truth = trace.name(e.label)
        predicted = trace.name(e.predicted)
        right = e.label is None or e.predicted == e.label
        mark = "✓ right" if right else "✗ wrong"
        self.verdict_label.setText(f"true class {truth} · predicted {predicted} "
                                   f"({percent(e.confidence)}) · {mark}")
        self.verdict_label.setAccessibleDescription(self.verdict_label.text())
        when = f"the weights of step {trace.step:,}" if trace.step is not None else \
            "the current weights"
        top = ", ".join(f"{trace.name(c)} {percent(p)}" for c, p in e.top(3))
        self.status_label.setText(f"Traced through {when}. Most probable: {top}.")
        self._fill_targets(trace)
        self.probabilities.show(e.probabilities, trace.classes, e.predicted, e.label)
        panels = saliency_panels(e, trace.mean, trace.std, trace.name(e.target))
        show_arrays(self.saliency, np.stack([p.pixels.transpose(2, 0, 1) for p in panels]),
                    [p.caption for p in panels], [p.about for p in panels], cell=SALIENCY_CELL)
        self.saliency_caption.setText("  ·  ".join(
            [f"For class {trace.name(e.target)}"] + [f"{p.caption}: {p.about}"
                                                     for p in panels[1:3]]))
        self.layers.show_layers(e.layers, self.layers.layer, trace.classes)

    def _fill_targets(self, trace: Trace) -> None:
        e = trace.explanation
        chosen = self.target_combo.currentData()
        self.target_combo.blockSignals(True)
        self.target_combo.clear()
        self.target_combo.addItem(f"the predicted class ({trace.name(e.predicted)})", -1)
        for c in range(len(e.probabilities)):
            truth = " — the true class" if c == e.label else ""
            self.target_combo.addItem(f"{trace.name(c)}{truth}", c)
        found = self.target_combo.findData(chosen if chosen is not None else -1)
        self.target_combo.setCurrentIndex(max(found, 0))
        self.target_combo.blockSignals(False)

    # ------------------------------------------------------------------ reactions

    @Slot(object)
    def _on_traced(self, trace: Any) -> None:
        expect_gui_thread("ExplainView._on_traced")
        if self.sender() is not self._job:  # an older request, overtaken
            return
        self._job = None
        self.refresh_button.setEnabled(True)
        self.save_button.setEnabled(True)
        self.trace = trace
        self._render(trace)
        self.traced.emit(trace)

    @Slot(object)
    def _on_trace_failed(self, failure: TaskFailure) -> None:
        expect_gui_thread("ExplainView._on_trace_failed")
        if self.sender() is not self._job:
            return
        self._job = None
        self.refresh_button.setEnabled(True)
        self.save_button.setEnabled(False)
        self.trace = None
        self.verdict_label.setText("")
        self._show_empty("")
        self._show_image()
        self.status_label.setText(f"The image could not be traced: {failure.message}")

    def _weights_changed(self) -> None:
        """Trace the image again now if shown, else when shown."""
        if self._image is None:
            return
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    @Slot()
    def _on_weights_changed(self) -> None:
        self._weights_changed()

    @Slot(object)
    def _on_run_finished(self, _run: Any) -> None:
        self._weights_changed()

    @Slot(object)
    def _on_reports(self, reports: list) -> None:
        if any(isinstance(r, EpochReport) for r in reports):
            self._weights_changed()

    @Slot(int)
    def _on_target_activated(self, _index: int) -> None:
        self.refresh()

    @Slot()
    def _on_refresh_clicked(self) -> None:
        self.refresh()

    @Slot()
    def _on_save_clicked(self) -> None:
        e = self.trace.explanation if self.trace is not None else None
        if e is None:
            return
        name = f"explain-{e.split or 'image'}-{e.index if e.index is not None else 0}.png"
        path, _ = QFileDialog.getSaveFileName(self, "Save the saliency picture",
                                              str(Path.home() / name), "PNG pictures (*.png)")
        if path:
            self.save_picture(path if Path(path).suffix else f"{path}.png")

    @Slot(object)
    def _on_picture_saved(self, path: str) -> None:
        expect_gui_thread("ExplainView._on_picture_saved")
        self.status_label.setText(f"Saved the saliency picture to {path}")

    @Slot(object)
    def _on_picture_failed(self, failure: TaskFailure) -> None:
        expect_gui_thread("ExplainView._on_picture_failed")
        self.status_label.setText(f"The picture was not saved: {failure.message}")

    @Slot()
    def _on_picture_settled(self) -> None:
        self._pictures.discard(self.sender())
