"""Galleries: pages of images with a caption and a tooltip each, shown by the
dataset view's ImageGridView in a scroll area.

The evaluation shows test images (a confusion-matrix cell, ground truth against
prediction, the hardest examples) and the inspector shows feature maps and
filters; both come here, so every gallery enlarges, captions and scrolls the
same way. Pixels go through core.data.image_grid like the dataset view's.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget

from netexplorer.ui.widgets.accessibility import named
from netexplorer.ui.widgets.image_grid import ImageGridView, display_scale

if TYPE_CHECKING:  # pragma: no cover - core.data imports torch
    from netexplorer.core.data import Dataset

# A gallery shows at most this many images (a confusion cell of CIFAR-10 can hold
# a thousand); the caption above it says how many there are in all.
MAX_GALLERY = 200


def make_gallery(object_name: str, accessible_name: str, tooltip: str = "",
                 parent: QWidget | None = None) -> tuple[ImageGridView, QScrollArea]:
    """An ImageGridView named for tests and screen readers, in a scroll area."""
    view = named(ImageGridView(), object_name, accessible_name, tooltip)
    scroll = QScrollArea(parent)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(view)
    return view, scroll


def show_dataset_images(view: ImageGridView, dataset: Dataset, split: str,
                        indices: Sequence[int] | np.ndarray, captions: Sequence[str],
                        tooltips: Sequence[str] = (), empty: str = "No images.") -> None:
    """Show images of a split (model-ready, normalisation undone) by index."""
    import torch

    indices = np.asarray(indices, dtype=np.int64)[:MAX_GALLERY]
    if not len(indices):
        view.show_message(empty)
        return
    images = dataset.split(split).images.index_select(0, torch.from_numpy(indices))
    _show(view, images, captions, tooltips, dataset.normalization, sources=(split, indices))


def show_arrays(view: ImageGridView, images01: np.ndarray, captions: Sequence[str],
                tooltips: Sequence[str] = (), empty: str = "No images.",
                cell: int | None = None) -> None:
    """Show N×C×H×W float pixels in [0, 1] (C is 1 or 3), each enlarged to about
    `cell` pixels (default: the dataset view's size)."""
    import torch

    if not len(images01):
        view.show_message(empty)
        return
    _show(view, torch.from_numpy(np.ascontiguousarray(images01[:MAX_GALLERY], np.float32)),
          captions, tooltips, None, cell=cell)


def _show(view: ImageGridView, images, captions: Sequence[str],
          tooltips: Sequence[str], normalization, *, cell: int | None = None,
          sources: tuple[str, np.ndarray] | None = None) -> None:
    from netexplorer.core.data import image_grid

    n = int(images.shape[0])
    height, width = int(images.shape[-2]), int(images.shape[-1])
    scale = display_scale(height, width) if cell is None else \
        max(1, cell // max(height, width, 1))
    grid = image_grid(images, list(range(n)), [str(c) for c in captions[:n]],
                      normalization=normalization, columns=n, padding=1, scale=scale)
    view.show_grid(grid, list(tooltips)[:n], sources=sources)


def normalise_each(maps: np.ndarray) -> np.ndarray:
    """Scale every map (the last two axes) to [0, 1] on its own, as feature-map
    pictures are drawn: a flat map becomes mid-grey rather than dividing by 0."""
    maps = np.asarray(maps, dtype=np.float32)
    if not maps.size:
        return maps
    finite = np.where(np.isfinite(maps), maps, np.nan)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN map: shown black
        low = np.nanmin(finite, axis=(-2, -1), keepdims=True)
        high = np.nanmax(finite, axis=(-2, -1), keepdims=True)
        span = high - low
        out = np.where(span > 1e-12, (maps - low) / np.where(span > 1e-12, span, 1.0), 0.5)
    return np.nan_to_num(np.where(np.isfinite(maps), out, 0.0), nan=0.0).astype(np.float32)


def filters_as_images(weights: np.ndarray) -> tuple[np.ndarray, str]:
    """A first conv layer's weights (out × in × kh × kw) as pictures: RGB when it reads
    three channels, otherwise the mean over its inputs in grey; one common scale
    centred on 0 (mid-grey is a zero weight), so filters compare with each other.
    Returns the images and a phrase saying how they were made."""
    weights = np.nan_to_num(np.asarray(weights, dtype=np.float32))
    edge = float(np.abs(weights).max()) if weights.size else 0.0
    scaled = 0.5 + 0.5 * weights / edge if edge > 0 else np.full_like(weights, 0.5)
    if weights.ndim == 4 and weights.shape[1] == 3:
        return scaled, "RGB, one scale for all: grey is 0"
    if weights.ndim == 4 and weights.shape[1] > 1:
        return scaled.mean(axis=1, keepdims=True), "mean over the input channels; grey is 0"
    return scaled, "one scale for all: grey is 0, light positive, dark negative"
