"""core/grids.py draws the pixels torchvision's make_grid drew (the grids were
made with it until issue 18), without importing torch or torchvision."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from netexplorer.core.data import Normalization
from netexplorer.core.grids import image_grid


def make_grid_pixels(images: torch.Tensor, *, normalization=None, columns: int,
                     padding: int, scale: int, pad_value: float = 1.0) -> np.ndarray:
    """The grid's pixels as core.data.image_grid made them with torchvision."""
    from torchvision.utils import make_grid

    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    if normalization is not None and images.dtype != torch.uint8:
        x = normalization.invert(x)
    x = x.clamp(0.0, 1.0)
    if scale > 1:
        x = x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    columns = max(1, min(columns, x.shape[0]))
    grid = make_grid(x, nrow=columns, padding=padding, pad_value=pad_value)
    if x.shape[0] == 1:
        grid = F.pad(grid, (padding,) * 4, value=pad_value)
    return grid.permute(1, 2, 0).mul(255).round().to(torch.uint8).numpy()


CASES = [  # (n, channels, side, columns, padding, scale)
    (32, 1, 8, 32, 1, 8), (10, 3, 5, 4, 2, 1), (1, 1, 6, 8, 2, 3), (7, 3, 4, 3, 0, 2)]


@pytest.mark.parametrize(("n", "c", "side", "columns", "padding", "scale"), CASES)
def test_grid_of_originals_is_make_grids(n, c, side, columns, padding, scale):
    images = torch.randint(0, 256, (n, c, side, side), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(n))
    grid = image_grid(images, columns=columns, padding=padding, scale=scale)
    expected = make_grid_pixels(images, columns=columns, padding=padding, scale=scale)
    assert grid.pixels.dtype == np.uint8
    assert np.array_equal(grid.pixels, expected)
    # every cell holds its image, where `cells` says
    for i, (x, y, w, h) in enumerate(grid.cells):
        cell = grid.pixels[y:y + h, x:x + w]
        assert np.array_equal(cell[::scale, ::scale, :c].transpose(2, 0, 1), images[i].numpy())


@pytest.mark.parametrize(("n", "c", "side", "columns", "padding", "scale"), CASES)
def test_grid_of_normalised_floats_is_make_grids(n, c, side, columns, padding, scale):
    norm = Normalization((0.1307,) * c, (0.3081,) * c) if c == 1 else \
        Normalization((0.49, 0.48, 0.45), (0.25, 0.24, 0.26))
    images = torch.randn(n, c, side, side, generator=torch.Generator().manual_seed(c)) * 2
    grid = image_grid(images, normalization=norm, columns=columns, padding=padding,
                      scale=scale)
    expected = make_grid_pixels(images, normalization=norm, columns=columns,
                                padding=padding, scale=scale)
    assert np.array_equal(grid.pixels, expected)


def test_numpy_images_and_captions():
    images = np.zeros((3, 1, 2, 2), np.uint8)
    grid = image_grid(images, [2, 0, 1], ["cat", "dog", "eel"], columns=2)
    assert grid.captions == ("eel", "cat", "dog")
    assert grid.columns == 2
    assert grid.pixels.shape == (2 * (2 + 2) + 2, 2 * (2 + 2) + 2, 3)
    assert image_grid(images, [5], columns=1).captions == ("5",)
    empty = image_grid(np.zeros((0, 1, 2, 2), np.uint8))
    assert empty.cells == () and empty.pixels.shape == (1, 1, 3)


def test_grids_and_the_shipped_digits_need_neither_torch_nor_torchvision():
    code = ("import sys; from netexplorer.core import digits, grids; "
            "d = digits.read_digits(); g = grids.image_grid(d.images[:32], d.labels[:32], "
            "scale=8); assert g.pixels.shape[2] == 3; "
            "print(sorted(m for m in ('torch', 'torchvision', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]"
