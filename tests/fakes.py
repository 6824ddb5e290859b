"""Tiny datasets written in the real on-disk formats, for tests that must not download.

Each writer produces files that the real readers (torchvision's MNIST /
FashionMNIST / CIFAR10 classes, PIL for image folders) accept, small enough to
write and load in milliseconds. Images are learnable: each class draws a bright
bar at its own position over faint noise, so a model can tell the classes apart.

torchvision's CIFAR10 checks the md5 sums of the real batch files, so these tiny
files fail its integrity check: tests that load them must patch that check inside
the test (see `bypass_cifar_integrity`), never in the product.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


def class_images(labels: Sequence[int], height: int, width: int, channels: int = 1,
                 seed: int = 0) -> np.ndarray:
    """uint8 N×C×H×W images whose content depends on the label.

    Faint noise (0..40) plus a bright (220..255) horizontal bar whose row depends
    on the label; for colour images the bar is strongest in channel label % C, so
    grey and colour classes are both distinguishable.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    images = rng.integers(0, 41, size=(n, channels, height, width), dtype=np.uint8)
    bar = max(1, height // 10)
    for i, label in enumerate(labels):
        top = int(label) * (height - bar) // 9 if height > bar else 0
        top = min(top, height - bar)
        value = rng.integers(220, 256, dtype=np.uint8)
        if channels == 1:
            images[i, 0, top:top + bar, :] = value
        else:
            images[i, :, top:top + bar, :] = value // 2
            images[i, int(label) % channels, top:top + bar, :] = value
    return images


def _cyclic_labels(n: int, num_classes: int = 10) -> np.ndarray:
    """0, 1, …, 9, 0, 1, … — every class present once n >= num_classes."""
    return np.arange(n, dtype=np.int64) % num_classes


def write_idx_images(path: Path, images: np.ndarray) -> Path:
    """Write uint8 N×H×W `images` as an IDX3 file (magic 2051, big-endian sizes)."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    n, h, w = images.shape
    Path(path).write_bytes(struct.pack(">IIII", 2051, n, h, w) + images.tobytes())
    return Path(path)


def write_idx_labels(path: Path, labels: np.ndarray) -> Path:
    """Write `labels` as an IDX1 file of uint8 (magic 2049, big-endian count)."""
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    Path(path).write_bytes(struct.pack(">II", 2049, len(labels)) + labels.tobytes())
    return Path(path)


def write_mnist(root: str | Path, folder: str = "MNIST", n_train: int = 60, n_test: int = 20,
                seed: int = 0) -> dict[str, np.ndarray]:
    """Write an MNIST-format dataset to root/<folder>/raw/ (uncompressed IDX files).

    Use folder="FashionMNIST" for Fashion-MNIST (same format, other folder).
    Labels cycle 0..9; images are 28×28 uint8 from `class_images`.
    Returns the arrays written: train_images (N×28×28), train_labels,
    test_images, test_labels — for comparing with what a loader read.
    """
    raw = Path(root) / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    train_labels = _cyclic_labels(n_train)
    test_labels = _cyclic_labels(n_test)
    train_images = class_images(train_labels, 28, 28, 1, seed)[:, 0]
    test_images = class_images(test_labels, 28, 28, 1, seed + 1)[:, 0]
    write_idx_images(raw / "train-images-idx3-ubyte", train_images)
    write_idx_labels(raw / "train-labels-idx1-ubyte", train_labels)
    write_idx_images(raw / "t10k-images-idx3-ubyte", test_images)
    write_idx_labels(raw / "t10k-labels-idx1-ubyte", test_labels)
    return {"train_images": train_images, "train_labels": train_labels,
            "test_images": test_images, "test_labels": test_labels}


def _cifar_batch(images: np.ndarray, labels: np.ndarray, name: str) -> dict:
    """A batch dict as torchvision reads a CIFAR-10 python pickle (see write_cifar10)."""
    return {"batch_label": name, "labels": [int(x) for x in labels],
            "data": np.ascontiguousarray(images.reshape(len(images), 3 * 32 * 32)),
            "filenames": [f"{name}_{i}.png" for i in range(len(images))]}


def write_cifar10(root: str | Path, n_per_batch: int = 10, n_test: int | None = None,
                  seed: int = 0, classes: Sequence[str] = CIFAR10_CLASSES) -> dict[str, np.ndarray]:
    """Write a CIFAR-10 python-format dataset to root/cifar-10-batches-py/.

    Five training pickles data_batch_1..5 of `n_per_batch` images each, a
    test_batch of `n_test` (default n_per_batch), and batches.meta with
    "label_names". Each batch dict has "data" (uint8 N×3072: the R, G and B
    32×32 planes, each row-major) and "labels" (list of int), as in the real files.
    The real files are Python 2 pickles whose byte-string keys come back as str
    under torchvision's `pickle.load(f, encoding="latin1")`; a Python 3 pickle of
    bytes keys would stay bytes, so str keys are what reproduces the real reading.
    Returns train_images (N×3×32×32 uint8), train_labels, test_images, test_labels.
    Loading them through torchvision needs `bypass_cifar_integrity`.
    """
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    n_test = n_per_batch if n_test is None else n_test
    train_labels = _cyclic_labels(5 * n_per_batch, len(classes))
    test_labels = _cyclic_labels(n_test, len(classes))
    train_images = class_images(train_labels, 32, 32, 3, seed)
    test_images = class_images(test_labels, 32, 32, 3, seed + 1)
    for b in range(5):
        part = slice(b * n_per_batch, (b + 1) * n_per_batch)
        name = f"data_batch_{b + 1}"
        with open(folder / name, "wb") as f:
            pickle.dump(_cifar_batch(train_images[part], train_labels[part], name), f)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(_cifar_batch(test_images, test_labels, "test_batch"), f)
    meta = {"num_cases_per_batch": n_per_batch, "num_vis": 3072,
            "label_names": list(classes)}
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump(meta, f)
    return {"train_images": train_images, "train_labels": train_labels,
            "test_images": test_images, "test_labels": test_labels}


def bypass_cifar_integrity(monkeypatch) -> None:
    """Make torchvision's CIFAR10 accept these files whatever their md5 sums.

    Pass pytest's `monkeypatch`, so the patch is undone when the test ends; it must
    never be applied outside tests. CIFAR10 checks twice: the batches through its
    `_check_integrity` method, and batches.meta through the `check_integrity`
    function that torchvision.datasets.cifar imported; both are patched.
    """
    from torchvision.datasets import cifar

    monkeypatch.setattr(cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kwargs: True)


def write_image_folder(root: str | Path, classes: Sequence[str] = ("cat", "dog"),
                       per_class: int = 5, size: tuple[int, int] = (20, 16), mode: str = "RGB",
                       corrupt: int = 1, seed: int = 0, fmt: str = "png") -> dict[str, list[Path]]:
    """Write an ImageFolder layout: root/<class>/<i>.<fmt>, plus `corrupt` bad files.

    `size` is (width, height) as PIL takes it; `mode` is a PIL mode ("RGB", "L").
    `fmt` is "png" or "jpg". The corrupt files carry an image suffix (.png) but hold
    garbage bytes; they go into the first class's folder, named bad_<i>.png.
    Returns {"images": [...], "corrupt": [...]} with the paths written.
    """
    from PIL import Image

    root = Path(root)
    width, height = size
    channels = 1 if mode in ("L", "1") else 3
    written: dict[str, list[Path]] = {"images": [], "corrupt": []}
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        pixels = class_images([label] * per_class, height, width, channels,
                              seed=int(rng.integers(1 << 31)))
        for i in range(per_class):
            array = pixels[i, 0] if channels == 1 else pixels[i].transpose(1, 2, 0)
            path = folder / f"{i}.{fmt}"
            Image.fromarray(np.ascontiguousarray(array)).convert(mode).save(path)
            written["images"].append(path)
    for i in range(corrupt):
        path = root / classes[0] / f"bad_{i}.png"
        path.write_bytes(b"this is not an image\x00\xff" + bytes(rng.integers(0, 256, 64,
                                                                           dtype=np.uint8)))
        written["corrupt"].append(path)
    return written


def write_zip_bomb(model_file: str | Path, path: str | Path, member_suffix: str,
                   inflated_size: int, chunk: int = 1 << 24) -> Path:
    """Copy the zip at `model_file` (a torch checkpoint) to `path`, with the member
    ending in `member_suffix` replaced by `inflated_size` zero bytes, DEFLATE-compressed
    (about 1,000:1): a small file whose zip directory declares gigabytes, as a zip bomb
    built against torch.load does.

    The compressed stream is one block of `chunk` zeros made once and repeated (after
    a full flush a DEFLATE stream restarts cleanly, so repeats decode on), then an
    empty final block, so crafting costs milliseconds and no memory. The member's
    CRC is left 0: a loader inflates before it can check it. Sizes stay below 4 GiB
    (no Zip64). Members are stored as they were, in the same order.
    """
    import struct
    import zipfile
    import zlib

    assert inflated_size < 1 << 32 and inflated_size % chunk == 0
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(bytes(chunk)) + packer.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    repeats = inflated_size // chunk
    out = bytearray()
    central = bytearray()
    with zipfile.ZipFile(model_file) as source:
        infos = source.infolist()
        for info in infos:
            name = info.filename.encode("utf-8")
            if info.filename.endswith(member_suffix):
                method, crc, size = zipfile.ZIP_DEFLATED, 0, inflated_size
                data = None
                packed = len(block) * repeats + len(final)
            else:
                data = source.read(info)
                method, crc, size, packed = zipfile.ZIP_STORED, zlib.crc32(data), len(data), \
                    len(data)
            offset = len(out)
            out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, packed,
                               size, len(name), 0) + name
            if data is None:
                out += block * repeats + final
            else:
                out += data
            central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21,
                                   crc, packed, size, len(name), 0, 0, 0, 0, 0, offset) + name
    start = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(infos), len(infos), len(central),
                       start, 0)
    Path(path).write_bytes(bytes(out))
    return Path(path)
