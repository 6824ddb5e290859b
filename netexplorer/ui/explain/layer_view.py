"""Each layer's output for the explained image: a list of the layers in forward
order, and the chosen one drawn as it is shaped — its feature maps (each scaled to
its own range) for convolutions and pooling, one bar per value for linear layers
and every other vector."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from netexplorer.core.formatting import engineering, format_shape
from netexplorer.core.layers import LAYER_KINDS
from netexplorer.ui.icons import category_icon
from netexplorer.ui.widgets.accessibility import heading_label, hint_label, named
from netexplorer.ui.widgets.colours import series_colour
from netexplorer.ui.widgets.gallery import make_gallery, normalise_each, show_arrays
from netexplorer.ui.widgets.plots import make_plot

if TYPE_CHECKING:  # pragma: no cover - core.explain imports torch
    from netexplorer.core.explain import LayerActivation

MAP_CELL = 56  # feature maps are enlarged to about this many pixels


class LayerActivationView(QWidget):
    """The layer list and the chosen layer's output; `layer` is the one shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._activations: tuple[LayerActivation, ...] = ()
        self._classes: tuple[str, ...] = ()
        self.layer_list = named(QListWidget(), "explainLayerList", "Layers",
                                "the model's layers in the order the image passes them")
        self.layer_list.setFixedWidth(190)
        self.layer_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.layer_list.currentRowChanged.connect(self._on_row_changed)
        self.heading = heading_label("", "explainLayerHeading")
        self.caption = hint_label("", "explainLayerCaption")
        self.maps, maps_scroll = make_gallery(
            "explainLayerMaps", "The chosen layer's feature maps",
            "each map scaled to its own range: black is its lowest value, white its highest")
        self.bars = make_plot("explainLayerBars", "The chosen layer's values", left="value",
                              bottom="unit")
        self.bars.getPlotItem().setMenuEnabled(False)
        self._bar_item: pg.BarGraphItem | None = None
        self.stack = QStackedWidget()
        self.stack.addWidget(maps_scroll)
        self.stack.addWidget(self.bars)
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(self.heading)
        right.addWidget(self.caption)
        right.addWidget(self.stack, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.layer_list)
        layout.addLayout(right, 1)

    @property
    def layer(self) -> str | None:
        row = self.layer_list.currentRow()
        return self._activations[row].name if 0 <= row < len(self._activations) else None

    def show_layers(self, activations: tuple[LayerActivation, ...], keep: str | None,
                    classes: tuple[str, ...] = ()) -> None:
        """List `activations`; show `keep` again if it is among them, else the last
        layer with maps (what the last convolution made of the image), else the first.
        The last layer's bars are named after `classes` when there is one per class."""
        self._activations = activations
        self._classes = classes
        names = [a.name for a in activations]
        with_maps = [a.name for a in activations if a.is_maps]
        wanted = keep if keep in names else (with_maps[-1] if with_maps else
                                             names[0] if names else None)
        self.layer_list.blockSignals(True)
        self.layer_list.clear()
        for activation in activations:
            info = LAYER_KINDS.get(activation.kind)
            item = QListWidgetItem(f"{activation.name}   {format_shape(activation.values.shape)}")
            item.setIcon(category_icon(info.category if info else ""))
            item.setToolTip(f"{activation.name} ({activation.kind}): {_summary(activation)}")
            self.layer_list.addItem(item)
        self.layer_list.setCurrentRow(names.index(wanted) if wanted is not None else -1)
        self.layer_list.blockSignals(False)
        self._render()

    def set_layer(self, name: str) -> None:
        for row, activation in enumerate(self._activations):
            if activation.name == name:
                self.layer_list.setCurrentRow(row)

    def _render(self) -> None:
        row = self.layer_list.currentRow()
        if not 0 <= row < len(self._activations):
            self.heading.setText("")
            self.caption.setText("")
            self.maps.show_message("No layer output to show.")
            self.stack.setCurrentIndex(0)
            return
        activation = self._activations[row]
        values = activation.values
        self.heading.setText(f"{activation.name} ({activation.kind}): "
                             f"{format_shape(values.shape)}")
        self.caption.setText(_summary(activation))
        if activation.is_maps:
            tips = [f"{activation.name} map {c}: from {engineering(float(m.min()))} to "
                    f"{engineering(float(m.max()))}" if np.isfinite(m).all()
                    else f"{activation.name} map {c}: not finite" for c, m in enumerate(values)]
            show_arrays(self.maps, normalise_each(values)[:, None],
                        [str(c) for c in range(len(values))], tips, cell=MAP_CELL)
            self.stack.setCurrentIndex(0)
            return
        plot = self.bars.getPlotItem()
        if self._bar_item is not None:
            plot.removeItem(self._bar_item)
        finite = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        self._bar_item = pg.BarGraphItem(x=np.arange(len(values)), height=finite, width=0.8,
                                         brush=series_colour(0), pen=pg.mkPen(None))
        plot.addItem(self._bar_item)
        scores = row == len(self._activations) - 1 and len(values) == len(self._classes)
        plot.getAxis("bottom").setTicks(
            [list(enumerate(self._classes))] if scores else None)
        plot.setLabel("bottom", "class" if scores else "unit")
        plot.enableAutoRange()
        self.stack.setCurrentIndex(1)

    @Slot(int)
    def _on_row_changed(self, _row: int) -> None:
        self._render()


def _summary(activation: LayerActivation) -> str:
    """A layer output in numbers: its range, mean and share of zeros."""
    values = activation.values
    finite = values[np.isfinite(values)]
    if not finite.size:
        return "no finite values"
    zeros = float((finite == 0).mean())
    return (f"{values.size:,} values from {engineering(float(finite.min()))} to "
            f"{engineering(float(finite.max()))}, mean {engineering(float(finite.mean()))}, "
            f"{100 * zeros:.0f} % zero")
