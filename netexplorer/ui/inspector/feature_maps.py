"""Feature maps: one test image through the model, and what each map-producing layer
makes of it — the tutorial's "what does conv1 see" — plus the first conv layer's
filters.

The pass runs as a session job (on the training thread between batches while a
run is active, else on the job thread); it returns numpy arrays only. The view
asks again at the end of every epoch, when a run ends, when the model is
replaced, or when the person clicks Refresh — and only while it is visible: a
hidden view just remembers that it is out of date and asks when it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from netexplorer.core.formatting import engineering, format_shape, percent
from netexplorer.ui.icons import icon
from netexplorer.ui.widgets.accessibility import heading_label, hint_label, named
from netexplorer.ui.widgets.gallery import (
    filters_as_images,
    make_gallery,
    normalise_each,
    show_arrays,
    show_dataset_images,
)

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.core.data import Dataset
    from netexplorer.core.inspection import Snapshot
    from netexplorer.ui.session.training_session import ModelContext, TrainingSession
    from netexplorer.ui.session.workers import TaskFailure, TaskHandle


@dataclass(frozen=True, eq=False)
class FeatureSnapshot:
    """A probe image's pass through the model, as plain arrays."""

    index: int  # in the test split
    label: int
    snapshot: Snapshot
    layer_kinds: dict[str, str]
    predicted: int
    confidence: float
    step: int | None  # the training step the weights are from, if a run is active


def feature_snapshot_job(context: ModelContext, index: int) -> FeatureSnapshot:
    """Runs where the model may be used (see TrainingSession.submit)."""
    import torch

    from netexplorer.core import losses
    from netexplorer.core.inspection import Probe

    dataset = context.dataset
    if dataset is None:
        raise RuntimeError("load a dataset first: the probe image comes from its test split")
    split = dataset.test
    if not 0 <= index < len(split):
        raise ValueError(f"there is no test image #{index}; the test split has {len(split):,}")
    probe = Probe(context.model, capacity=1)  # only for snapshot(): no history kept
    snapshot = probe.snapshot(split.images[index:index + 1])
    loss = context.config.loss if context.config is not None else "cross-entropy"
    output = torch.from_numpy(snapshot.output)
    probabilities = losses.probabilities(loss, output)[0]
    confidence, predicted = probabilities.max(dim=0)
    kinds = {info.name: info.kind for info in probe.layers}
    trainer = context.trainer
    step = trainer.position.step if trainer is not None else None
    return FeatureSnapshot(index, int(split.labels[index]), snapshot, kinds, int(predicted),
                           float(confidence), step)


class FeatureMapView(QWidget):
    """Probe image and layer pickers, the chosen layer's maps, the first conv's filters.

    A click on the probe image says which it is (imageChosen), as a click on any
    dataset image does: the window opens its trace."""

    imageChosen = Signal(str, int)  # a click on the probe image: its split and index

    def __init__(self, session: TrainingSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "featureMapView", "Feature maps",
              "what each layer makes of one test image, and the first conv layer's filters")
        self._session = session
        self._dataset: Dataset | None = None
        self._job: TaskHandle | None = None  # the newest snapshot asked for
        self._stale = True
        self._result: FeatureSnapshot | None = None
        self.maps = np.zeros((0, 0, 0), np.float32)  # the maps shown: channels × H × W
        self._build()

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        self.image_spin = named(QSpinBox(), "probeImageSpin", "Probe image",
                                "which test image goes through the model")
        self.image_spin.setRange(0, 0)
        self.image_spin.setPrefix("test image #")
        self.image_spin.setKeyboardTracking(False)
        self.image_spin.valueChanged.connect(self._on_image_changed)
        self.thumbnail, _ = make_gallery("probeImageView", "The probe image")
        self.thumbnail.setFixedWidth(120)
        self.thumbnail.set_clickable(True)
        self.thumbnail.imageChosen.connect(self.imageChosen)
        self.layer_combo = named(QComboBox(), "featureLayerCombo", "Layer",
                                 "the layer whose output maps are shown")
        self.layer_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layer_combo.activated.connect(self._on_layer_activated)
        self.refresh_button = named(QPushButton(icon("retry"), "Refresh"), "refreshMapsButton",
                                    "Refresh feature maps",
                                    "run the probe image through the current weights now")
        self.refresh_button.clicked.connect(self._on_refresh_clicked)
        self.auto_check = named(QCheckBox("Update after each epoch"), "autoMapsCheck",
                                "Update after each epoch",
                                "refresh the maps whenever an epoch ends (while they are shown)")
        self.auto_check.setChecked(True)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Image:"))
        controls.addWidget(self.image_spin)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Layer:"))
        controls.addWidget(self.layer_combo)
        controls.addWidget(self.refresh_button)
        controls.addSpacing(12)
        controls.addWidget(self.auto_check)
        controls.addStretch(1)
        self.status_label = hint_label("", "featureMapStatus")
        self.image_caption = hint_label("", "probeImageCaption")
        self.image_caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        side = QVBoxLayout()
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.thumbnail)
        side.addWidget(self.image_caption)
        side.addStretch(1)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setFixedWidth(130)

        self.maps_heading = heading_label("Feature maps", "featureMapsHeading")
        self.map_grid, map_scroll = make_gallery(
            "featureMapGrid", "Feature maps of the chosen layer",
            "each map scaled to its own range: black is its lowest value, white its highest")
        self.filters_heading = heading_label("Filters of the first conv layer", "filtersHeading")
        self.filter_grid, filter_scroll = make_gallery("filterGrid", "First conv layer's filters")
        maps_box = QWidget()
        maps_layout = QVBoxLayout(maps_box)
        maps_layout.setContentsMargins(0, 0, 0, 0)
        maps_layout.addWidget(self.maps_heading)
        maps_layout.addWidget(map_scroll, 1)
        filters_box = QWidget()
        filters_layout = QVBoxLayout(filters_box)
        filters_layout.setContentsMargins(0, 0, 0, 0)
        filters_layout.addWidget(self.filters_heading)
        filters_layout.addWidget(filter_scroll, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(maps_box)
        splitter.addWidget(filters_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        body = QHBoxLayout()
        body.addWidget(side_widget)
        body.addWidget(splitter, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(controls)
        layout.addWidget(self.status_label)
        layout.addLayout(body, 1)
        self.map_grid.show_message("Feature maps appear here once a dataset is loaded.")
        self.filter_grid.show_message("")

    # ------------------------------------------------------------------ interface

    @property
    def layer(self) -> str | None:
        return self.layer_combo.currentData()

    @property
    def busy(self) -> bool:
        return self._job is not None

    @property
    def result(self) -> FeatureSnapshot | None:
        return self._result

    def set_dataset(self, dataset: Dataset | None) -> None:
        self._dataset = dataset
        count = len(dataset.test) if dataset is not None else 0
        self.image_spin.blockSignals(True)
        self.image_spin.setRange(0, max(count - 1, 0))
        self.image_spin.blockSignals(False)
        self.image_spin.setEnabled(count > 0)
        self._show_thumbnail()
        self.model_changed()

    def set_layer(self, name: str) -> None:
        index = self.layer_combo.findData(name)
        if index >= 0:
            self.layer_combo.setCurrentIndex(index)
            self._render()

    def model_changed(self) -> None:
        """The weights changed (an epoch ended, a run finished, a model was loaded):
        refresh now if shown, else when shown."""
        self._stale = True
        if self.isVisible():
            self.refresh()

    def epoch_ended(self) -> None:
        if self.auto_check.isChecked():
            self.model_changed()

    def refresh(self) -> None:
        """Run the probe image through the model now (as a session job)."""
        self._stale = False
        if self._dataset is None or self._session.spec is None:
            self.map_grid.show_message("Load a dataset and build a valid model to see what "
                                       "its layers make of an image.")
            return
        self._job = self._session.submit(feature_snapshot_job, self.image_spin.value(),
                                         description="feature maps")
        self._job.finished.connect(self._on_snapshot)
        self._job.failed.connect(self._on_snapshot_failed)
        self.status_label.setText("Running the probe image through the model…")

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    # ------------------------------------------------------------------ drawing

    def _show_thumbnail(self) -> None:
        dataset = self._dataset
        if dataset is None or not len(dataset.test):
            self.thumbnail.show_message("")
            self.image_caption.setText("")
            return
        index = self.image_spin.value()
        label = int(dataset.test.labels[index])
        show_dataset_images(self.thumbnail, dataset, "test", [index], [dataset.classes[label]],
                            [f"test image #{index:,}: {dataset.classes[label]}"])

    def _fill_layers(self, result: FeatureSnapshot) -> None:
        wanted = self.layer or (result.snapshot.first_conv or "")
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for name, maps in result.snapshot.feature_maps.items():
            kind = result.layer_kinds.get(name, "")
            self.layer_combo.addItem(f"{name} ({kind}, {format_shape(maps.shape[1:])})", name)
        found = self.layer_combo.findData(wanted)
        self.layer_combo.setCurrentIndex(found if found >= 0 else 0)
        self.layer_combo.blockSignals(False)

    def _render(self) -> None:
        result = self._result
        if result is None:
            return
        snapshot = result.snapshot
        name = self.layer
        classes = self._dataset.classes if self._dataset is not None else ()
        predicted = classes[result.predicted] if result.predicted < len(classes) else \
            str(result.predicted)
        truth = classes[result.label] if result.label < len(classes) else str(result.label)
        when = f"weights of step {result.step:,}" if result.step is not None else \
            "current weights"
        verdict = "right" if result.predicted == result.label else "wrong"
        self.image_caption.setText(f"true {truth}, predicted {predicted} "
                                   f"({percent(result.confidence)}): {verdict}")
        if name is None or name not in snapshot.feature_maps:
            self.maps = np.zeros((0, 0, 0), np.float32)
            self.map_grid.show_message("This model has no layer with feature maps (conv or "
                                       "pooling outputs): nothing to draw.")
            self.maps_heading.setText("Feature maps")
            self.status_label.setText(when)
        else:
            maps = snapshot.feature_maps[name][0]
            self.maps = maps
            channels, height, width = maps.shape
            self.maps_heading.setText(f"{name}: {channels} maps of {height}×{width}")
            tips = [f"{name} map {c}: from {engineering(float(np.nanmin(m)))} to "
                    f"{engineering(float(np.nanmax(m)))}, mean {engineering(float(np.nanmean(m)))}"
                    if np.isfinite(m).any() else f"{name} map {c}: not finite"
                    for c, m in enumerate(maps)]
            show_arrays(self.map_grid, normalise_each(maps)[:, None], [str(c) for c in
                                                                       range(channels)], tips)
            self.status_label.setText(f"Test image #{result.index:,} through the {when}; each "
                                      f"map scaled to its own range (black low, white high).")
        if snapshot.filters is None:
            self.filters_heading.setText("Filters")
            self.filter_grid.show_message("No conv layer: no filters to show.")
        else:
            images, how = filters_as_images(snapshot.filters)
            out, inputs, kh, kw = snapshot.filters.shape
            self.filters_heading.setText(f"{snapshot.first_conv} filters: "
                                         f"{out} × {inputs}×{kh}×{kw}")
            self.filter_grid.setToolTip(f"the first conv layer's weights — {how}")
            show_arrays(self.filter_grid, images, [str(i) for i in range(out)],
                        [f"{snapshot.first_conv} filter {i}" for i in range(out)])

    # ------------------------------------------------------------------ reactions

    @Slot(int)
    def _on_image_changed(self, _value: int) -> None:
        self._show_thumbnail()
        self.refresh()

    @Slot(int)
    def _on_layer_activated(self, _index: int) -> None:
        self._render()

    @Slot()
    def _on_refresh_clicked(self) -> None:
        self.refresh()

    @Slot(object)
    def _on_snapshot(self, result: Any) -> None:
        if self.sender() is not self._job:  # an older request, overtaken
            return
        self._job = None
        self._result = result
        self._fill_layers(result)
        self._render()

    @Slot(object)
    def _on_snapshot_failed(self, failure: TaskFailure) -> None:
        if self.sender() is not self._job:
            return
        self._job = None
        self.maps = np.zeros((0, 0, 0), np.float32)
        self.map_grid.show_message(f"The feature maps could not be computed: {failure.message}")
        self.status_label.setText("")
