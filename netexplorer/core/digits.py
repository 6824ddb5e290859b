"""The bundled digits as numpy arrays, read from the copy shipped in resources/.

scikit-learn's 1,797 handwritten 8×8 digits are the dataset every first look
starts from. Reading them through scikit-learn costs its import (well over a
second on a small machine) before the first picture; the same pixels, already
scaled to 0..255, ship as `resources/digits.npz` (a few tens of kB), which numpy
reads in milliseconds without torch. scikit-learn stays the source: the file is
made from it by `python tools/make_digits.py`, and a test checks that they agree.

Torch-free, so that the window can show the digits before torch has loaded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from netexplorer.core.assets import resource
from netexplorer.core.errors import DatasetUnavailable

RESOURCE = "digits.npz"
COUNT = 1797
SIDE = 8
# Held-out share of the bundled digits and of an image folder without its own
# train/test sub-folders; the split is stratified and seeded, so it never changes.
TEST_FRACTION = 0.2
SPLIT_SEED = 0
CLASSES = tuple(str(i) for i in range(10))
SOURCE = "scikit-learn's bundled handwritten digits (1,797 images)"


@dataclass(frozen=True, eq=False)
class DigitsArrays:
    """images: uint8 N×1×8×8 in 0..255 (scikit-learn's 0..16 scaled); labels: int64 N."""

    images: np.ndarray
    labels: np.ndarray

    def test_mask(self) -> np.ndarray:
        return stratified_test_mask(self.labels)


def from_sklearn() -> DigitsArrays:
    """The digits as scikit-learn ships them, prepared as every dataset is stored:
    pixel values 0..16 rounded to 0..255, one channel."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    return DigitsArrays(images, digits.target.astype(np.int64))


def to_bytes(digits: DigitsArrays) -> bytes:
    """The resource file's contents: a compressed npz of plain arrays (no pickles)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=digits.images, labels=digits.labels.astype(np.uint8))
    return buffer.getvalue()


def read_digits() -> DigitsArrays:
    """The shipped digits; DatasetUnavailable, saying how to remake the file, if it is
    missing or not what it should be."""
    try:
        with resource(RESOURCE).open("rb") as file, \
                np.load(file, allow_pickle=False) as arrays:
            images, labels = arrays["images"], arrays["labels"].astype(np.int64)
    except (OSError, KeyError, ValueError) as exc:
        raise _damaged(f"{type(exc).__name__}: {exc}") from None
    if images.shape != (COUNT, 1, SIDE, SIDE) or images.dtype != np.uint8 \
            or labels.shape != (COUNT,) or labels.min() < 0 or labels.max() > 9:
        raise _damaged(f"it holds images {images.shape} {images.dtype} and labels "
                       f"{labels.shape}")
    return DigitsArrays(images, labels)


def _damaged(reason: str) -> DatasetUnavailable:
    return DatasetUnavailable(f"the bundled digits (netexplorer/resources/{RESOURCE}) cannot "
                              f"be read ({reason}): reinstall netexplorer, or remake the file "
                              f"with `python tools/make_digits.py`")


def stratified_test_mask(labels: np.ndarray) -> np.ndarray:
    """True for the held-out images: TEST_FRACTION of each class (rounded; none of a
    class of one), chosen by a generator seeded with SPLIT_SEED."""
    rng = np.random.default_rng(SPLIT_SEED)
    mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_test = int(round(len(idx) * TEST_FRACTION)) if len(idx) > 1 else 0
        mask[idx[:n_test]] = True
    return mask
