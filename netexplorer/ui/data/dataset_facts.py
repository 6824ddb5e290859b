"""What a person should know about the loaded dataset, beside its images."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QFormLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from netexplorer.core.formatting import format_shape
from netexplorer.ui.widgets.accessibility import heading_label, named

if TYPE_CHECKING:  # pragma: no cover - importing core.data would import torch
    from netexplorer.core.data import Dataset

_CHANNEL_WORDS = {1: "grey", 3: "colour"}


class ClassCountsChart(QWidget):
    """Horizontal bars, one per class: is the dataset balanced?

    Painted rather than plotted: ten bars do not need a plotting library, and
    the view then reads its colours from the palette like every other widget.
    """

    _MAX_LABEL = 110

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "classCountsChart", "Samples per class")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._classes: tuple[str, ...] = ()
        self._counts: tuple[int, ...] = ()

    def set_counts(self, classes: Sequence[str], counts: Iterable[int]) -> None:
        self._classes = tuple(classes)
        self._counts = tuple(int(c) for c in counts)
        self.setAccessibleDescription(", ".join(f"{name}: {count:,}" for name, count
                                                in zip(self._classes, self._counts)))
        self.setToolTip("\n".join(f"{name}: {count:,}" for name, count
                                  in zip(self._classes, self._counts)))
        self.updateGeometry()
        self.update()

    def counts(self) -> tuple[int, ...]:
        return self._counts

    def _row_height(self) -> int:
        return self.fontMetrics().height() + 4

    def sizeHint(self) -> QSize:
        return QSize(240, max(1, len(self._classes)) * self._row_height() + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(140, self.sizeHint().height())

    def paintEvent(self, _event) -> None:
        if not self._classes:
            return
        painter = QPainter(self)
        palette = self.palette()
        metrics = self.fontMetrics()
        label_width = min(self._MAX_LABEL,
                          max(metrics.horizontalAdvance(c) for c in self._classes) + 8)
        number_width = metrics.horizontalAdvance(f"{max(self._counts, default=0):,}") + 8
        bar_space = max(10, self.width() - label_width - number_width - 4)
        top_count = max(max(self._counts, default=0), 1)
        row_h = self._row_height()
        text = palette.color(QPalette.ColorRole.WindowText)
        bar = palette.color(QPalette.ColorRole.Highlight)
        for i, (name, count) in enumerate(zip(self._classes, self._counts)):
            y = 2 + i * row_h
            painter.setPen(text)
            label = metrics.elidedText(name, Qt.TextElideMode.ElideRight, label_width - 8)
            painter.drawText(QRect(0, y, label_width - 8, row_h),
                             int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                             label)
            length = round(bar_space * count / top_count)
            painter.fillRect(QRect(label_width, y + 3, max(length, 1), row_h - 6), bar)
            painter.drawText(QRect(label_width + length + 4, y, number_width, row_h),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                             f"{count:,}")


class DatasetFacts(QWidget):
    """Sizes, classes, shapes, normalisation and origin of the loaded dataset."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "datasetFacts", "Dataset facts")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(heading_label("About this dataset"))
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._values: dict[str, QLabel] = {}
        for key, title in (("train", "Training samples"), ("test", "Test samples"),
                           ("classes", "Classes"), ("native", "Stored images"),
                           ("input", "Model input"), ("normalization", "Normalisation"),
                           ("source", "Source"), ("skipped", "Skipped files")):
            value = QLabel("—")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            named(value, f"fact_{key}", title)
            label = QLabel(title)
            label.setBuddy(value)
            form.addRow(label, value)
            self._values[key] = value
        self._form = form
        layout.addLayout(form)
        self._chart_title = heading_label("Samples per class")
        layout.addSpacing(6)
        layout.addWidget(self._chart_title)
        self.chart = ClassCountsChart()
        layout.addWidget(self.chart)
        layout.addStretch(1)
        self._set_skipped_visible(False)

    def value(self, key: str) -> str:
        return self._values[key].text()

    def _set_skipped_visible(self, visible: bool) -> None:
        self._form.setRowVisible(self._values["skipped"], visible)

    def show_dataset(self, dataset: Dataset, title: str, split: str = "train") -> None:
        v = self._values
        v["train"].setText(f"{len(dataset.train):,}")
        v["test"].setText(f"{len(dataset.test):,}")
        v["classes"].setText(f"{dataset.num_classes:,}")
        c, h, w = dataset.native_shape
        stored = f"{h}×{w} {_CHANNEL_WORDS.get(c, f'{c}-channel')}"
        v["native"].setText(stored + (" (read from colour files)" if dataset.colour_files
                                      else ""))
        v["input"].setText(f"{format_shape(dataset.input_shape)} (C×H×W)")
        norm = dataset.normalization
        v["normalization"].setText("mean " + ", ".join(f"{m:.3f}" for m in norm.mean)
                                   + " · std " + ", ".join(f"{s:.3f}" for s in norm.std))
        v["source"].setText(dataset.source)
        v["source"].setToolTip(dataset.source)
        if dataset.skipped:
            examples = ", ".join(dataset.skipped_examples)
            # Unreadable files, entries that could not be examined, links out of the
            # folder: each example names its reason in brackets.
            v["skipped"].setText(f"{dataset.skipped:,} file(s) left out"
                                 + (f": {examples}" + ("…" if dataset.skipped > len(
                                     dataset.skipped_examples) else "") if examples else ""))
        self._set_skipped_visible(bool(dataset.skipped))
        part = dataset.split(split)
        self._chart_title.setText(f"Samples per class ({split})")
        self.chart.set_counts(dataset.classes, part.class_counts(dataset.num_classes))
        self.setAccessibleDescription(title)
