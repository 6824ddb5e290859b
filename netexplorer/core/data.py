"""Datasets as in-memory tensors, adapted to a model's input.

Every dataset — the bundled digits, torchvision's MNIST / Fashion-MNIST /
CIFAR-10, or a folder of the user's images — becomes the same record: train and
test splits of normalised float tensors already resized and channel-converted to
the model's (C, H, W), plus the original uint8 images for display. The whole
transform runs once, batched, at load time, so training only indexes tensors: no
DataLoader workers, no per-sample Python on the hot path.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from netexplorer.core import digits
from netexplorer.core.digits import SPLIT_SEED, TEST_FRACTION
from netexplorer.core.errors import DatasetError, DatasetUnavailable
from netexplorer.core.formatting import format_shape
from netexplorer.core.grids import ImageGrid, image_grid

__all__ = ["DatasetError", "DatasetUnavailable", "Dataset", "DatasetInfo", "ImageGrid",
           "Normalization", "Split", "batches", "check_dataset_name", "dataset_choices",
           "default_data_root", "image_grid", "load_dataset", "missing_files", "random_shift",
           "require_images", "skipped_summary", "SPLIT_SEED", "TEST_FRACTION"]

from netexplorer.core.catalog import (
    CIFAR10,
    DATASETS,
    DIGITS,
    FASHION_MNIST,
    FOLDER_PREFIX,
    MNIST,
    DatasetInfo,
    check_dataset_name,
    dataset_choices,
    default_data_root,
)

# TEST_FRACTION and SPLIT_SEED (core/digits.py): the held-out share of the bundled
# digits and of an image folder without its own train/test sub-folders.
# Images per chunk while transforming, to bound the peak memory of a load.
_CHUNK = 4096
# Side of the thumbnails kept as "originals" for image folders (sizes vary there).
FOLDER_THUMBNAIL = 64
FOLDER_DEFAULT_SHAPE = (3, 32, 32)
# The model-ready float32 copy of a dataset lives in memory (and briefly a second
# one while it is normalised): a larger input size than this allows would exhaust
# the memory of the machine instead of failing with a message.
MAX_DATASET_BYTES = 4 * 1024**3
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm")


# ------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean and std applied after scaling pixels to [0, 1].

    Checked when made: a std of 0, a negative one or a NaN (from a damaged or
    crafted checkpoint) would turn every image into NaN or infinity, and a model
    evaluated on those reports "loss nan" instead of an error.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.mean or len(self.mean) != len(self.std):
            raise DatasetError(f"the normalisation needs one mean and one std per channel, "
                               f"got {len(self.mean)} mean(s) and {len(self.std)} std(s)")
        for channel, (m, s) in enumerate(zip(self.mean, self.std)):
            if not math.isfinite(m):
                raise DatasetError(f"the normalisation mean of channel {channel} is {m}: "
                                   f"it must be a finite number")
            if not (math.isfinite(s) and s > 0):
                raise DatasetError(f"the normalisation std of channel {channel} is {s}: "
                                   f"it must be a positive finite number")

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, len(self.mean), 1, 1)
        mean = torch.tensor(self.mean, dtype=like.dtype, device=like.device).view(shape)
        std = torch.tensor(self.std, dtype=like.dtype, device=like.device).view(shape)
        return mean, std

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(images)
        return (images - mean) / std

    def invert(self, images: torch.Tensor) -> torch.Tensor:
        """Back to [0, 1] pixels — the tutorial's `img / 2 + 0.5`, for any mean/std."""
        mean, std = self._stats(images)
        return images * std + mean


@dataclass(frozen=True, eq=False)
class Split:
    """One split: model-ready images, labels, and the originals for display.

    images: float32 N×C×H×W, resized, channel-converted and normalised.
    originals: uint8 N×C0×H0×W0 as the dataset stores them (thumbnails for folders).
    """

    images: torch.Tensor
    labels: torch.Tensor
    originals: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_counts(self, num_classes: int) -> np.ndarray:
        return torch.bincount(self.labels.cpu(), minlength=num_classes).numpy()

    def to(self, device: torch.device | str) -> Split:
        """A copy whose model-ready tensors live on `device` (originals stay on the CPU)."""
        return Split(self.images.to(device), self.labels.to(device), self.originals)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset, ready for a model with input_shape."""

    name: str
    train: Split
    test: Split
    classes: tuple[str, ...]
    normalization: Normalization
    input_shape: tuple[int, int, int]
    native_shape: tuple[int, int, int]
    source: str  # where it was read from, for the dataset view
    skipped: int = 0  # unreadable files left out (image folders)
    skipped_examples: tuple[str, ...] = ()
    # Image folders: files in colour that a 1-channel model sees in grey (the window
    # says so and offers 3 input channels).
    colour_files: int = 0

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, which: str) -> Split:
        if which not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', not {which!r}")
        return self.train if which == "train" else self.test


def require_images(dataset: Dataset, which: str) -> Split:
    """The `which` split of `dataset`; DatasetError, saying what to do, if it is empty.

    An evaluation of no images is not 0 % but nothing at all (its accuracy is NaN),
    and an image folder whose classes hold one image each has no test images: the
    test split takes 20 % of each class, rounded.
    """
    split = dataset.split(which)
    if len(split):
        return split
    raise _no_images(dataset.name, dataset.source, which)


def _no_images(name: str, source: str, which: str) -> DatasetError:
    what = "test" if which == "test" else "training"
    if name.startswith(FOLDER_PREFIX):
        here, there = ("test", "train") if which == "test" else ("train", "test")
        advice = (f"put images in {source}/{here}/<class>/ beside {source}/{there}/<class>/, "
                  f"or give each class folder at least 2 images "
                  f"({round(100 * TEST_FRACTION)} % of each class are held out for testing)")
    else:
        advice = "its files hold none: download it again"
    return DatasetError(f"{name} has no {what} images: {advice}")


def skipped_summary(dataset: Dataset) -> str | None:
    """One line on what loading left out of an image folder, or None if nothing."""
    if not dataset.skipped:
        return None
    examples = ", ".join(dataset.skipped_examples)
    more = ", …" if dataset.skipped > len(dataset.skipped_examples) else ""
    return (f"{dataset.skipped:,} file(s) of {dataset.name} left out (unreadable, or links "
            f"that leave the folder or lead back into one that holds them): {examples}{more}")


# ------------------------------------------------------------------------- loading


def load_dataset(name: str, root: str | os.PathLike | None = None,
                 input_shape: Sequence[int] | None = None, download: bool = False,
                 normalization: Normalization | None = None) -> Dataset:
    """Load a dataset and adapt it to `input_shape` (C, H, W); native shape if None.

    The normalisation is measured on the training images unless given — a
    checkpoint passes the one its model was trained with.

    Raises DatasetUnavailable when the files are missing or unreadable, with the
    folder searched, the files expected and how to get them; DatasetError when the
    request cannot be met (an unknown name, an impossible channel conversion).
    """
    check_dataset_name(name)
    if name.startswith(FOLDER_PREFIX):
        path = Path(name[len(FOLDER_PREFIX):]).expanduser()
        return _load_folder(path, input_shape, normalization)
    root_path = Path(root).expanduser() if root is not None else default_data_root()
    if name == DIGITS:
        raw = _read_digits()
    else:
        raw = _read_torchvision(DATASETS[name], root_path, download)
    shape = tuple(input_shape) if input_shape is not None else DATASETS[name].native_shape
    return _assemble(name, raw, shape, source=raw.source, normalization=normalization)


@dataclass
class _Raw:
    train_images: torch.Tensor  # uint8 N×C×H×W
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]
    source: str
    skipped: int = 0
    skipped_examples: tuple[str, ...] = ()
    # Set where the display images differ from the decoded ones (folder thumbnails).
    train_originals: torch.Tensor | None = None
    test_originals: torch.Tensor | None = None
    colour_files: int = 0  # files in colour read as grey for a 1-channel model


def _read_digits() -> _Raw:
    """The digits from the copy shipped in resources/ (made from scikit-learn's by
    tools/make_digits.py): numpy reads it in milliseconds, scikit-learn's import
    took over a second."""
    arrays = digits.read_digits()
    images, labels = torch.from_numpy(arrays.images), torch.from_numpy(arrays.labels)
    test = torch.from_numpy(arrays.test_mask())
    return _Raw(images[~test], labels[~test], images[test], labels[test],
                digits.CLASSES, digits.SOURCE)


def _torchvision_class(name: str):
    from torchvision import datasets

    return {MNIST: datasets.MNIST, FASHION_MNIST: datasets.FashionMNIST,
            CIFAR10: datasets.CIFAR10}[name]


def missing_files(name: str, root: str | os.PathLike | None = None) -> list[str]:
    """The files a torchvision dataset still needs under `root` (empty if complete)."""
    info = DATASETS[name]
    folder = (Path(root) if root is not None else default_data_root()) / info.folder
    return [f for f in info.files if not _present(folder / f)]


def _present(path: Path) -> bool:
    return path.is_file() or path.with_name(path.name + ".gz").is_file()


def _unpack_gz(folder: Path, files: Sequence[str]) -> None:
    """Unpack FILE.gz where only the packed copy is there (as MNIST mirrors ship them).

    `missing_files` counts a .gz as present, but torchvision reads only unpacked
    files unless it downloads them itself.
    """
    import gzip
    import shutil

    for name in files:
        path = folder / name
        packed = path.with_name(path.name + ".gz")
        if not path.is_file() and packed.is_file():
            partial = path.with_name(path.name + ".partial")
            try:
                with gzip.open(packed, "rb") as src, open(partial, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            os.replace(partial, path)


def _unavailable_message(info: DatasetInfo, root: Path, reason: str) -> str:
    folder = root / info.folder
    missing = [f for f in info.files if not _present(folder / f)]
    expected = ", ".join(missing or info.files)
    return (f"{info.title} is not available: {reason}. Looked in {folder} for {expected}. "
            f"Download it when online, or put the files there by hand (from {info.source}).")


_IDX_ITEM_BYTES = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


def idx_size_problem(path: Path) -> str | None:
    """What is wrong with an IDX file's size (MNIST's format: a magic number naming
    the item type and the number of dimensions, the dimensions, then the items),
    naming the file — torchvision's own error for a short file names none. None
    when the file is as long as its header says."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(4)
            if len(head) < 4:
                return f"{path.name} is {size} bytes: too short for an IDX header"
            item = _IDX_ITEM_BYTES.get(head[2])
            ndim = head[3]
            dims_bytes = handle.read(4 * ndim)
    except OSError as exc:
        return f"{path.name} cannot be read ({exc.strerror or exc})"
    if head[:2] != b"\x00\x00" or item is None or not 1 <= ndim <= 4:
        return f"{path.name} is not an IDX file (its first bytes are {head.hex(' ')})"
    if len(dims_bytes) < 4 * ndim:
        return f"{path.name} is {size} bytes: its header is cut short"
    declared = 4 + 4 * ndim + item * math.prod(
        int.from_bytes(dims_bytes[i:i + 4], "big") for i in range(0, 4 * ndim, 4))
    if size < declared:
        return (f"{path.name} is truncated: {size:,} bytes of the {declared:,} its header "
                f"declares")
    return None


def _read_torchvision(info: DatasetInfo, root: Path, download: bool) -> _Raw:
    cls = _torchvision_class(info.name)
    if not download and missing_files(info.name, root):
        raise DatasetUnavailable(_unavailable_message(info, root, "its files are missing"),
                                 downloadable=True)
    try:
        if download:
            root.mkdir(parents=True, exist_ok=True)
        _unpack_gz(root / info.folder, info.files)
        if not download and "idx" in " ".join(info.files):  # MNIST's: a short file named
            for name in info.files:
                problem = idx_size_problem(root / info.folder / name)
                if problem is not None:
                    raise DatasetUnavailable(_unavailable_message(info, root, problem),
                                             downloadable=True)
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except DatasetError:
        raise
    except (OSError, RuntimeError, ValueError, EOFError, KeyError, IndexError) as exc:
        reason = (f"the download failed ({exc})" if download
                  else f"its files could not be read ({type(exc).__name__}: {exc})")
        raise DatasetUnavailable(_unavailable_message(info, root, reason),
                                 downloadable=not download) from None
    except Exception as exc:  # unpickling damaged CIFAR batches raises many kinds
        raise DatasetUnavailable(_unavailable_message(
            info, root, f"its files are damaged ({type(exc).__name__}: {exc})"),
            downloadable=True) from None

    def images(ds) -> torch.Tensor:
        data = ds.data
        if isinstance(data, np.ndarray):  # CIFAR: N×H×W×C
            return torch.from_numpy(np.ascontiguousarray(data.transpose(0, 3, 1, 2)))
        return data.unsqueeze(1)  # MNIST: N×H×W

    def labels(ds) -> torch.Tensor:
        return torch.as_tensor(ds.targets, dtype=torch.int64)

    classes = tuple(train.classes)
    if info.name == MNIST:  # torchvision says "0 - zero"; the digit is the class
        classes = tuple(c.split(" - ")[0] for c in classes)
    return _Raw(images(train), labels(train), images(test), labels(test), classes,
                str(root / info.folder))


def _load_folder(path: Path, input_shape: Sequence[int] | None,
                 normalization: Normalization | None) -> Dataset:
    shape = tuple(input_shape) if input_shape is not None else FOLDER_DEFAULT_SHAPE
    raw = _read_folder(path, shape)
    return _assemble(f"{FOLDER_PREFIX}{path}", raw, shape, source=str(path),
                     native=(raw.train_images.shape[1], FOLDER_THUMBNAIL, FOLDER_THUMBNAIL),
                     normalization=normalization)


def _read_folder(path: Path, shape: tuple[int, ...]) -> _Raw:
    """Read an ImageFolder layout: one sub-folder per class, or train/ and test/ of those.

    Images are decoded once here, at load time. Whatever cannot be used is skipped
    and counted, never fatal: a file that does not decode, an entry whose stat
    fails (no permission, a name too long, a link loop), a folder that cannot be
    listed, and a link that leaves the dataset folder or leads back to a folder
    containing it (which would give its images a second label). Each image is
    resized straight to the model's size (from the full-size picture, for quality)
    and to a thumbnail for the dataset view.
    """
    try:
        is_folder = path.is_dir()
    except OSError as exc:
        raise DatasetUnavailable(f"the image folder {path} cannot be read: "
                                 f"{exc.strerror or exc}") from None
    if not is_folder:
        raise DatasetUnavailable(f"the image folder {path} does not exist: choose a folder "
                                 f"with one sub-folder of images per class")
    scan = _FolderScan(path)
    top = scan.subfolders(scan.top)
    split_dirs = {name.lower(): folder for name, folder in top}
    test_dir = split_dirs.get("test") or split_dirs.get("val")
    if "train" in split_dirs and test_dir is not None:
        train_samples, classes = _scan_classes(split_dirs["train"], scan)
        test_samples, test_classes = _scan_classes(test_dir, scan)
        if test_classes != classes:
            raise DatasetError(f"{split_dirs['train'].path} and {test_dir.path} have different "
                               f"class folders: {', '.join(classes)} vs {', '.join(test_classes)}")
        samples = train_samples + test_samples
        is_test = [False] * len(train_samples) + [True] * len(test_samples)
    else:
        samples, classes = _scan_classes(scan.top, scan, top)
        is_test = None
    _check_memory(len(samples), shape, f"the image folder {path}")
    grey = shape[0] == 1
    pixels, thumbs, kept_labels, kept_test = [], [], [], []
    colour_files = 0
    for index, (file, label) in enumerate(samples):
        try:
            image, thumb, in_colour = _decode(file, shape, grey)
        except Exception:  # any decoder failure means "unreadable": skip, count, go on
            scan.skip(file.name)
            continue
        colour_files += grey and in_colour
        pixels.append(image)
        thumbs.append(thumb)
        kept_labels.append(label)
        kept_test.append(is_test[index] if is_test is not None else False)
    if not pixels:
        raise DatasetUnavailable(f"no readable images in {path} ({scan.skipped} files could "
                                 f"not be read): put images in {path}/<class name>/")
    images = torch.from_numpy(np.stack(pixels))
    originals = torch.from_numpy(np.stack(thumbs))
    labels = torch.tensor(kept_labels, dtype=torch.int64)
    if is_test is not None:
        test_mask = torch.tensor(kept_test)
    else:
        test_mask = _stratified_test_mask(labels.numpy())
    return _Raw(images[~test_mask], labels[~test_mask], images[test_mask], labels[test_mask],
                tuple(classes), str(path), scan.skipped, tuple(scan.examples),
                originals[~test_mask], originals[test_mask], colour_files)


@dataclass(frozen=True)
class _Folder:
    """A folder met while scanning: the path to open it by, and where it really is."""

    path: Path
    real: str
    ancestors: tuple[str, ...]  # real paths of the folders above it, up to the root


class _FolderScan:
    """Walks an image folder without trusting it: counts what it leaves out.

    os.scandir and DirEntry stat each entry once; any OSError on one entry skips
    that entry, not the load. Links are followed only where they stay inside the
    dataset folder and do not lead back to a folder they are in.
    """

    MAX_EXAMPLES = 5

    def __init__(self, path: Path) -> None:
        real = os.path.realpath(path)
        self.root = real
        self.top = _Folder(path, real, ())
        self.skipped = 0
        self.examples: list[str] = []

    def skip(self, name: str, why: str | None = None) -> None:
        self.skipped += 1
        if len(self.examples) < self.MAX_EXAMPLES:
            shown = name if len(name) <= 60 else name[:57] + "…"
            self.examples.append(shown if why is None else f"{shown} ({why})")

    def subfolders(self, folder: _Folder) -> list[tuple[str, _Folder]]:
        """(name, folder) of the folders directly in `folder`, sorted by name."""
        found = []
        for entry in self._entries(folder):
            child = self._follow(entry, folder)
            if isinstance(child, _Folder):
                found.append((entry.name, child))
        return found

    def images(self, folder: _Folder) -> list[Path]:
        """Every file with an image suffix under `folder`, at any depth, sorted."""
        files: list[Path] = []
        pending = [folder]
        while pending:  # a loop, not recursion: a folder can be nested thousands deep
            current = pending.pop()
            for entry in self._entries(current):
                child = self._follow(entry, current)
                if isinstance(child, _Folder):
                    pending.append(child)
                elif child is not None and child.suffix.lower() in IMAGE_SUFFIXES:
                    files.append(child)
        return sorted(files)

    def _entries(self, folder: _Folder) -> list[os.DirEntry]:
        try:
            with os.scandir(folder.path) as entries:
                return sorted(entries, key=lambda e: e.name)
        except OSError as exc:
            if folder is self.top:  # nothing to skip to: the dataset itself is unreadable
                raise DatasetUnavailable(f"the image folder {folder.path} cannot be read: "
                                         f"{exc.strerror or exc}") from None
            self.skip(folder.path.name, f"cannot be listed: {exc.strerror or exc}")
            return []

    def _follow(self, entry: os.DirEntry, parent: _Folder) -> _Folder | Path | None:
        """The entry as a folder to enter or a file to read; None if left out (and
        counted, where it could have held images)."""
        path = parent.path / entry.name
        image_name = Path(entry.name).suffix.lower() in IMAGE_SUFFIXES
        try:
            link = entry.is_symlink()
            is_dir = entry.is_dir()  # follows a link; may raise (EACCES, ELOOP, ENAMETOOLONG)
            is_file = not is_dir and entry.is_file()
        except OSError as exc:  # what it is cannot be known: left out like an unreadable file
            self.skip(entry.name, f"cannot be read: {exc.strerror or exc}")
            return None
        if not (is_dir or is_file):
            if link and image_name:
                self.skip(entry.name, "a link to nothing")
            return None  # a dangling link, a socket, a device: not an image
        real = os.path.realpath(path) if link else os.path.join(parent.real, entry.name)
        if link:
            if not _inside(self.root, real):
                if is_dir or image_name:
                    self.skip(entry.name, "links outside the dataset folder")
                return None
            if is_dir and (real == parent.real or real in parent.ancestors):
                self.skip(entry.name, "links back to a folder that contains it")
                return None
        if is_dir:
            return _Folder(path, real, parent.ancestors + (parent.real,))
        return path


def _inside(root: str, real: str) -> bool:
    try:
        return os.path.commonpath([root, real]) == root
    except ValueError:  # another drive (Windows)
        return False


def _scan_classes(folder: _Folder, scan: _FolderScan,
                  listed: list[tuple[str, _Folder]] | None = None
                  ) -> tuple[list[tuple[Path, int]], list[str]]:
    """The (image, label) pairs of `folder`'s class folders, and the class names.
    `listed` is its sub-folders if already listed (each entry is judged once)."""
    if listed is None:
        listed = scan.subfolders(folder)
    class_dirs = [(name, sub) for name, sub in listed if not name.startswith(".")]
    if not class_dirs:
        raise DatasetUnavailable(f"{folder.path} has no class sub-folders: put each class's "
                                 f"images in a folder of its own, e.g. {folder.path}/cat/1.png")
    samples: list[tuple[Path, int]] = []
    for label, (_, class_dir) in enumerate(class_dirs):
        samples.extend((file, label) for file in scan.images(class_dir))
    return samples, [name for name, _ in class_dirs]


def _decode(file: Path, shape: tuple[int, ...], grey: bool
            ) -> tuple[np.ndarray, np.ndarray, bool]:
    """(the image at the model's size, its thumbnail, whether the file is in colour)."""
    from PIL import Image

    with Image.open(file) as opened:
        opened.load()
        in_colour = opened.mode not in ("1", "L", "LA", "I", "I;16", "F")
        img = opened.convert("L" if grey else "RGB")
        _, h, w = shape
        model = np.asarray(img.resize((w, h), Image.Resampling.BILINEAR))
        thumb = np.asarray(img.resize((FOLDER_THUMBNAIL, FOLDER_THUMBNAIL),
                                      Image.Resampling.BILINEAR))
    if grey:
        return model[None], thumb[None], in_colour
    return model.transpose(2, 0, 1), thumb.transpose(2, 0, 1), in_colour


def _check_memory(n: int, shape: Sequence[int], what: str) -> None:
    needed = 4 * n * math.prod(shape)
    if needed > MAX_DATASET_BYTES:
        raise DatasetError(f"{what} at {format_shape(shape)} would need "
                           f"{needed / 1e9:.1f} GB of memory for its {n:,} images (at most "
                           f"{MAX_DATASET_BYTES / 1e9:.1f} GB): choose a smaller model "
                           f"input size")


def _stratified_test_mask(labels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(digits.stratified_test_mask(labels))


# ----------------------------------------------------------------------- transforms


def adapt_images(images: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """uint8 N×C0×H0×W0 → float32 N×C×H×W in [0, 1]: channels converted, resized.

    Grey becomes RGB by repetition, RGB becomes grey by ITU-R 601 luminance;
    resizing is bilinear with antialiasing so that shrinking does not alias.
    """
    c, h, w = shape
    x = images.float().div_(255.0)
    c0 = x.shape[1]
    if c0 != c:
        if c0 == 1 and c == 3:
            x = x.expand(-1, c, -1, -1)
        elif c0 == 3 and c == 1:
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            x = (x * weights).sum(dim=1, keepdim=True)
        else:
            raise DatasetError(f"the model expects {c}-channel images but these have {c0}: "
                               f"set the model's input channels to {c0}"
                               + (" or 1" if c0 == 3 else " or 3" if c0 == 1 else ""))
    if tuple(x.shape[-2:]) != (h, w):
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return x.contiguous()


def _assemble(name: str, raw: _Raw, shape: tuple[int, ...], source: str,
              native: tuple[int, int, int] | None = None,
              normalization: Normalization | None = None) -> Dataset:
    if len(shape) != 3 or not all(isinstance(s, int) and s > 0 for s in shape):
        raise DatasetError(f"the input shape must be three positive integers (C, H, W), "
                           f"got {tuple(shape)!r}")
    _check_memory(raw.train_images.shape[0] + raw.test_images.shape[0], shape,
                  f"the dataset {name}")
    _check_labels(raw)
    train01 = _adapt_chunked(raw.train_images, shape)
    test01 = _adapt_chunked(raw.test_images, shape)
    if normalization is None:
        if not len(train01):  # nothing to measure: a mean of no pixels is NaN
            raise _no_images(name, source, "train")
        normalization = _measure(train01)
    elif len(normalization.mean) != shape[0] or len(normalization.std) != shape[0]:
        raise DatasetError(f"the given normalisation has {len(normalization.mean)} channels "
                           f"but the images have {shape[0]}")
    train = Split(normalization.apply(train01), raw.train_labels,
                  raw.train_images if raw.train_originals is None else raw.train_originals)
    test = Split(normalization.apply(test01), raw.test_labels,
                 raw.test_images if raw.test_originals is None else raw.test_originals)
    if native is None:
        _, c, h, w = raw.train_images.shape  # N×C×H×W, as every reader stores them
        native = (int(c), int(h), int(w))
    # `shape` is a tuple of three ints: the check at the top narrowed it.
    return Dataset(name, train, test, tuple(raw.classes), normalization, shape,
                   native, source, raw.skipped, raw.skipped_examples, raw.colour_files)


def _check_labels(raw: _Raw) -> None:
    n = len(raw.classes)
    for images, labels in ((raw.train_images, raw.train_labels),
                           (raw.test_images, raw.test_labels)):
        if images.shape[0] != labels.shape[0]:
            raise DatasetUnavailable(f"{images.shape[0]} images but {labels.shape[0]} labels: "
                                     f"the files in {raw.source} are inconsistent")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n):
            raise DatasetUnavailable(f"labels run from {int(labels.min())} to "
                                     f"{int(labels.max())} but there are {n} classes: the "
                                     f"files in {raw.source} are inconsistent")


def _adapt_chunked(images: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    if images.shape[0] == 0:
        return torch.empty((0, *shape), dtype=torch.float32)
    return torch.cat([adapt_images(images[i:i + _CHUNK], shape)
                      for i in range(0, images.shape[0], _CHUNK)])


def _measure(images01: torch.Tensor) -> Normalization:
    """Per-channel mean/std of the training images, as most tutorials hard-code them."""
    flat = images01.transpose(0, 1).reshape(images01.shape[1], -1).double()
    mean = flat.mean(dim=1)
    std = flat.std(dim=1).clamp_min(1e-3)  # a constant channel must not divide by zero
    return Normalization(tuple(round(float(m), 6) for m in mean),
                         tuple(round(float(s), 6) for s in std))


# -------------------------------------------------------------------------- batches


def batches(split: Split, batch_size: int, generator: torch.Generator | None = None,
            shuffle: bool = True, drop_last: bool = False
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(images, labels) batches drawn by indexing the split's tensors where they live.

    The permutation comes from `generator`, so a seed fixes the order; indexing is
    one gather per batch — no per-sample Python.
    """
    n = len(split)
    device = split.images.device
    if shuffle:
        order = torch.randperm(n, generator=generator).to(device)
    else:
        order = torch.arange(n, device=device)
    stop = n - (n % batch_size) if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield split.images.index_select(0, idx), split.labels.index_select(0, idx)


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator
                 ) -> torch.Tensor:
    """Translate each image by up to `max_shift` pixels in x and y (edges repeated).

    The cheapest augmentation that helps small image sets, paid on every step of
    the default recipe, so it is one pad and one `index_select` for the whole batch:
    the padded batch is viewed (`as_strided`, no copy) as every window of an
    image's size that starts at any element, and each image's window is picked by
    its flat start. An advanced-indexing gather with four broadcast index tensors
    did the same work about ten times slower (issue 18).

    The offsets — (row, column) for each image, in that order, in [0, 2·max_shift]
    — are drawn from `generator` on the CPU, so the same generator state gives the
    same shifts on any device and in any process (distributed ranks draw the
    global batch's shifts alike). On CUDA they travel from pinned memory without
    blocking, so the step stays free of host synchronisations.
    """
    if max_shift <= 0 or images.shape[0] == 0:
        return images
    n, c, h, w = images.shape
    s = max_shift
    padded = F.pad(images, (s, s, s, s), mode="replicate").contiguous()
    rows, cols = h + 2 * s, w + 2 * s
    offsets = torch.randint(0, 2 * s + 1, (2, n), generator=generator)
    starts = torch.arange(n) * (c * rows * cols) + offsets[0] * cols + offsets[1]
    if images.device.type == "cuda":
        starts = starts.pin_memory().to(images.device, non_blocking=True)
    else:
        starts = starts.to(images.device)
    # The last window starts at the last image's largest offset and ends at the
    # padded batch's last element, so the view stays inside its storage.
    span = (n - 1) * c * rows * cols + 2 * s * cols + 2 * s + 1
    windows = padded.as_strided((span, c, h, w), (1, rows * cols, cols, 1))
    return windows.index_select(0, starts)


def batches_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last else math.ceil(n / batch_size)
