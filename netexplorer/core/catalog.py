"""The datasets netexplorer knows, as data — importable without torch.

The dataset chooser fills from this before the first dataset (and torch) has
loaded; netexplorer.core.data re-exports it and does the loading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DIGITS = "digits"
MNIST = "mnist"
FASHION_MNIST = "fashion-mnist"
CIFAR10 = "cifar10"
FOLDER_PREFIX = "folder:"


@dataclass(frozen=True)
class DatasetInfo:
    """What the dataset chooser shows before anything is loaded."""

    name: str
    title: str
    native_shape: tuple[int, int, int]
    bundled: bool
    folder: str  # sub-folder of the data root that torchvision reads ("" if bundled)
    files: tuple[str, ...]  # files torchvision expects in that sub-folder
    source: str  # where a person gets the files


_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

DATASETS: dict[str, DatasetInfo] = {
    DIGITS: DatasetInfo(DIGITS, "Handwritten digits (bundled, 8×8)", (1, 8, 8), True, "", (),
                        "shipped with scikit-learn"),
    MNIST: DatasetInfo(MNIST, "MNIST (28×28 digits)", (1, 28, 28), False, "MNIST/raw",
                       _MNIST_FILES, "https://yann.lecun.com/exdb/mnist/ (or any MNIST mirror)"),
    FASHION_MNIST: DatasetInfo(
        FASHION_MNIST, "Fashion-MNIST (28×28 clothing)", (1, 28, 28), False, "FashionMNIST/raw",
        _MNIST_FILES, "https://github.com/zalandoresearch/fashion-mnist"),
    CIFAR10: DatasetInfo(
        CIFAR10, "CIFAR-10 (32×32 colour)", (3, 32, 32), False, "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta"),
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (unpacked)"),
}


def dataset_choices() -> list[DatasetInfo]:
    return list(DATASETS.values())


def default_data_root() -> Path:
    """The per-user folder where torchvision datasets live unless told otherwise.

    NETEXPLORER_DATA overrides it (tests and shared machines use that).
    """
    if os.environ.get("NETEXPLORER_DATA"):
        return Path(os.environ["NETEXPLORER_DATA"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "netexplorer" / "datasets"
