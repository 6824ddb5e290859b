"""Image grids as numpy pixels: a page of images laid out like torchvision's
make_grid, de-normalised, enlarged, as uint8 RGB.

Numpy only, so that a grid can be drawn before torch (or torchvision, whose
import alone costs seconds) has loaded: the first look at data needs neither.
Tensors are taken too (copied to the CPU as numpy); the pixels are those
make_grid gave, to the bit (tests/core/test_grids.py compares them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = ["ImageGrid", "image_grid"]


class _Normalization(Protocol):
    """core.data.Normalization, named by shape so that this module needs no torch."""

    @property
    def mean(self) -> tuple[float, ...]: ...

    @property
    def std(self) -> tuple[float, ...]: ...


@dataclass(frozen=True)
class ImageGrid:
    """A displayable grid: RGB pixels plus where each image sits, for captions."""

    pixels: np.ndarray  # uint8 H×W×3
    cells: tuple[tuple[int, int, int, int], ...]  # (x, y, width, height) per image
    captions: tuple[str, ...]
    columns: int


def image_grid(images: Any, labels: Sequence[int] | Any | None = None,
               classes: Sequence[str] | None = None, *,
               normalization: _Normalization | None = None, columns: int = 8,
               padding: int = 2, scale: int = 1, pad_value: float = 1.0) -> ImageGrid:
    """make_grid of `images` (N×C×H×W, C of 1 or 3), de-normalised, as uint8 RGB.

    `images` are either model-ready floats (pass their normalization to undo it)
    or uint8 originals, as a numpy array or a tensor. `scale` enlarges each image
    by an integer factor with nearest-neighbour, so 8×8 digits stay crisp
    instead of blurring.
    """
    x = _as_float01(_as_numpy(images), normalization)
    if scale > 1:
        x = x.repeat(scale, axis=2).repeat(scale, axis=3)
    n = x.shape[0]
    columns = max(1, min(columns, n)) if n else 1
    if n == 0:
        return ImageGrid(np.full((1, 1, 3), 255, np.uint8), (), (), columns)
    if x.shape[1] == 1:
        x = x.repeat(3, axis=1)
    h, w = x.shape[2], x.shape[3]
    rows = -(-n // columns)
    grid = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding, 3),
                   np.float32(pad_value), np.float32)
    cells = tuple(((i % columns) * (w + padding) + padding,
                   (i // columns) * (h + padding) + padding, w, h) for i in range(n))
    for image, (left, top, _, _) in zip(x, cells):
        grid[top:top + h, left:left + w] = image.transpose(1, 2, 0)
    pixels = np.round(grid * np.float32(255)).astype(np.uint8)
    if labels is None:
        captions: tuple[str, ...] = ()
    else:
        names = list(classes) if classes is not None else None
        captions = tuple(names[int(lab)] if names else str(int(lab)) for lab in labels)
    return ImageGrid(pixels, cells, captions, columns)


def _as_numpy(images: Any) -> np.ndarray:
    if hasattr(images, "detach"):  # a tensor, wherever it lives
        images = images.detach().cpu().numpy()
    return np.asarray(images)


def _as_float01(x: np.ndarray, normalization: _Normalization | None) -> np.ndarray:
    """float32 pixels in [0, 1], computed as torch computed them (float32 throughout)."""
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / np.float32(255.0)
    else:
        x = x.astype(np.float32)
        if normalization is not None:
            shape = (1, len(normalization.mean), 1, 1)
            std = np.asarray(normalization.std, np.float32).reshape(shape)
            mean = np.asarray(normalization.mean, np.float32).reshape(shape)
            x = x * std + mean
    return np.clip(x, np.float32(0.0), np.float32(1.0))
