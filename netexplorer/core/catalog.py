"""The datasets netexplorer knows, as data — importable without torch.

The dataset chooser fills from this before the first dataset (and torch) has
loaded; netexplorer.core.data re-exports it and does the loading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from netexplorer.core.errors import DatasetError

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


def check_dataset_name(name: object) -> str:
    """`name` if it names a dataset netexplorer can load; DatasetError otherwise.

    The one check for every dataset name, whoever gives it — the --dataset
    argument, the GUI, or a checkpoint (a file from anywhere, which must not be
    trusted more than a person's typing): text; a known dataset or folder:PATH;
    and a folder that is not the whole file system, which would be scanned file
    by file. Whether the folder exists is for loading to say.
    """
    choices = f"choose one of {', '.join(DATASETS)}, or folder:PATH for a folder of images"
    if not isinstance(name, str):
        raise DatasetError(f"a dataset name is text, not {type(name).__name__} "
                           f"({name!r:.40}): {choices}")
    if name.startswith(FOLDER_PREFIX):
        raw = name[len(FOLDER_PREFIX):]
        if not raw.strip() or "\0" in raw:
            raise DatasetError(f"{name!r:.80} names no folder: give the folder that holds the "
                               f"class folders, e.g. folder:~/pictures/pets")
        try:
            resolved = Path(raw).expanduser().resolve()
        except (OSError, RuntimeError):  # a link loop or an unreadable parent: load says
            return name
        if resolved == Path(resolved.anchor):
            raise DatasetError(f"{name!r:.80} is the whole file system ({resolved.anchor}): give "
                               f"the folder that holds one dataset's class folders")
        return name
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r:.80}: {choices}")
    return name


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
