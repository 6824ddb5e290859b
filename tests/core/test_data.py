"""netexplorer.core.data: loading, adapting, batching and showing datasets.

Everything runs offline: the bundled digits come with scikit-learn, and MNIST,
Fashion-MNIST, CIFAR-10 and image folders are tiny files in the real formats
written by tests/fakes.py and read by the real torchvision / PIL readers.
"""

from __future__ import annotations

import math
import os
import pickle
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from netexplorer.core import data
from netexplorer.core.data import (
    Dataset,
    DatasetError,
    DatasetUnavailable,
    Normalization,
    Split,
    adapt_images,
    batches,
    batches_per_epoch,
    check_dataset_name,
    dataset_choices,
    default_data_root,
    image_grid,
    load_dataset,
    missing_files,
    require_images,
    skipped_summary,
)
from tests.fakes import (
    CIFAR10_CLASSES,
    CIFAR10_FILES,
    MNIST_FILES,
    bypass_cifar_integrity,
    write_cifar10,
    write_idx_images,
    write_idx_labels,
    write_image_folder,
    write_mnist,
)

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
DIGIT_CLASSES = tuple(str(i) for i in range(10))
LUMA = (0.299, 0.587, 0.114)

# name → (folder under the root, writer)
TORCHVISION = {
    "mnist": ("MNIST/raw", lambda root: write_mnist(root)),
    "fashion-mnist": ("FashionMNIST/raw", lambda root: write_mnist(root, "FashionMNIST")),
    "cifar10": ("cifar-10-batches-py", lambda root: write_cifar10(root)),
}
EXPECTED_FILES = {"mnist": MNIST_FILES, "fashion-mnist": MNIST_FILES, "cifar10": CIFAR10_FILES}


# ------------------------------------------------------------------------ fixtures


@pytest.fixture
def cifar_bypass(monkeypatch):
    """torchvision's CIFAR10 md5 checks accept the tiny files, in this test only."""
    bypass_cifar_integrity(monkeypatch)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


@pytest.fixture(scope="module")
def digits32() -> Dataset:
    return load_dataset("digits", input_shape=(1, 32, 32))


@pytest.fixture(scope="module")
def digits_rgb() -> Dataset:
    return load_dataset("digits", input_shape=(3, 32, 32))


def numbered_split(n: int) -> Split:
    """A split whose sample i has label i and every pixel equal to i, to track samples."""
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()
    labels = torch.arange(n, dtype=torch.int64)
    return Split(images, labels, torch.zeros((n, 1, 2, 2), dtype=torch.uint8))


def assert_unavailable_names(exc: DatasetUnavailable, folder: Path, files) -> None:
    message = str(exc)
    assert str(folder) in message
    for name in files:
        assert name in message


# -------------------------------------------------------------------------- digits


def test_digits_load_offline_with_a_stratified_split(digits):
    n_train, n_test = len(digits.train), len(digits.test)
    assert n_train + n_test == 1797
    assert n_test / 1797 == pytest.approx(data.TEST_FRACTION, abs=0.01)
    assert digits.classes == DIGIT_CLASSES
    assert digits.num_classes == 10
    train_counts = digits.train.class_counts(10)
    test_counts = digits.test.class_counts(10)
    assert (test_counts > 0).all()
    # stratified: each class's share of the test split is ~20 %
    share = test_counts / (train_counts + test_counts)
    assert np.allclose(share, data.TEST_FRACTION, atol=0.01)
    # train and test do not overlap: together they are exactly the 1,797 images
    from sklearn.datasets import load_digits

    reference = np.rint(load_digits().images * (255.0 / 16.0)).astype(np.uint8)
    both = torch.cat([digits.train.originals, digits.test.originals])[:, 0].numpy()
    key = lambda a: sorted(x.tobytes() for x in a)  # noqa: E731
    assert key(both) == key(reference)


def test_digits_default_shape_is_native(digits):
    assert digits.input_shape == digits.native_shape == (1, 8, 8)
    assert digits.train.images.shape == (len(digits.train), 1, 8, 8)
    assert digits.train.images.dtype == torch.float32
    assert digits.train.labels.dtype == torch.int64


def test_digits_resized_to_the_model_input(digits32):
    for split in (digits32.train, digits32.test):
        assert split.images.dtype == torch.float32
        assert split.images.shape == (len(split), 1, 32, 32)
        assert split.originals.dtype == torch.uint8
        assert split.originals.shape == (len(split), 1, 8, 8)
        assert split.labels.shape == (len(split),)
    assert digits32.native_shape == (1, 8, 8)
    assert digits32.input_shape == (1, 32, 32)


@pytest.mark.parametrize("fixture", ["digits", "digits32", "digits_rgb"])
def test_train_images_are_normalised_per_channel(fixture, request):
    ds = request.getfixturevalue(fixture)
    x = ds.train.images.double()
    channels = x.shape[1]
    flat = x.transpose(0, 1).reshape(channels, -1)
    assert len(ds.normalization.mean) == len(ds.normalization.std) == channels
    assert torch.allclose(flat.mean(dim=1), torch.zeros(channels, dtype=torch.float64),
                          atol=1e-3)
    assert torch.allclose(flat.std(dim=1), torch.ones(channels, dtype=torch.float64), atol=1e-3)


@pytest.mark.parametrize("which", ["train", "test"])
def test_invert_gives_back_the_unit_range_pixels(digits32, which):
    split = digits32.split(which)
    pixels = digits32.normalization.invert(split.images)
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
    expected = adapt_images(split.originals, digits32.input_shape)
    assert torch.allclose(pixels, expected, atol=1e-5)


def test_normalization_apply_and_invert_are_inverse():
    norm = Normalization((0.1, 0.5, 0.9), (0.2, 0.25, 0.3))
    x = torch.rand(4, 3, 5, 5)
    assert torch.allclose(norm.invert(norm.apply(x)), x, atol=1e-6)
    # the tutorial's (x - 0.5) / 0.5 and img / 2 + 0.5
    half = Normalization((0.5,), (0.5,))
    y = torch.rand(2, 1, 3, 3)
    assert torch.allclose(half.apply(y), (y - 0.5) / 0.5)
    assert torch.allclose(half.invert(y), y / 2 + 0.5)


def test_digits_split_is_deterministic(digits):
    again = load_dataset("digits")
    assert torch.equal(again.train.labels, digits.train.labels)
    assert torch.equal(again.test.labels, digits.test.labels)
    assert torch.equal(again.train.originals, digits.train.originals)
    assert again.normalization == digits.normalization


def test_dataset_split_by_name(digits):
    assert digits.split("train") is digits.train
    assert digits.split("test") is digits.test
    with pytest.raises(ValueError, match="'validation'"):
        digits.split("validation")


def test_split_to_device_keeps_originals(digits):
    moved = digits.train.to("cpu")
    assert moved.images.device.type == "cpu"
    assert moved.originals is digits.train.originals
    assert len(moved) == len(digits.train)


# ------------------------------------------------------------- channel conversion


def test_grey_to_rgb_repeats_the_channel(digits_rgb, digits32):
    x = digits_rgb.train.images
    assert x.shape == (len(digits_rgb.train), 3, 32, 32)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
    assert torch.allclose(x[:, :1], digits32.train.images, atol=1e-5)
    assert digits_rgb.normalization.mean == (digits32.normalization.mean[0],) * 3


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 32, 32)])
def test_rgb_to_grey_is_luminance(tmp_path, cifar_bypass, shape):
    write_cifar10(tmp_path)
    ds = load_dataset("cifar10", root=tmp_path, input_shape=shape)
    assert ds.train.images.shape == (50, *shape)
    assert ds.train.originals.shape == (50, 3, 32, 32)
    grey = ds.normalization.invert(ds.train.images)
    # resizing and luminance are both linear, so their order does not matter
    rgb = adapt_images(ds.train.originals, (3, *shape[1:]))
    luminance = sum(w * rgb[:, i:i + 1] for i, w in enumerate(LUMA))
    assert torch.allclose(grey, luminance, atol=1e-4)


def test_luminance_weights_on_pure_colours():
    colours = torch.zeros((3, 3, 2, 2), dtype=torch.uint8)
    for i in range(3):
        colours[i, i] = 255
    grey = adapt_images(colours, (1, 2, 2))
    assert grey.shape == (3, 1, 2, 2)
    assert torch.allclose(grey[:, 0, 0, 0], torch.tensor(LUMA), atol=1e-6)


@pytest.mark.parametrize("channels", [2, 4])
def test_impossible_channel_conversion_is_a_dataset_error(channels):
    with pytest.raises(DatasetError, match="input channels to 1") as info:
        load_dataset("digits", input_shape=(channels, 8, 8))
    assert not isinstance(info.value, DatasetUnavailable)
    assert f"expects {channels}-channel" in str(info.value)


def test_rgb_to_two_channels_names_the_channels_to_use():
    with pytest.raises(DatasetError, match=r"input channels to 3 or 1"):
        adapt_images(torch.zeros((1, 3, 4, 4), dtype=torch.uint8), (2, 4, 4))


@pytest.mark.parametrize("shape", [(1, 32), (0, 8, 8), (1, 8, -1), (1, 8.0, 8), (1, 2, 3, 4)])
def test_bad_input_shape_is_a_dataset_error(shape):
    with pytest.raises(DatasetError, match="input shape"):
        load_dataset("digits", input_shape=shape)


def test_adapt_images_resizes_and_scales():
    images = torch.full((2, 1, 8, 8), 255, dtype=torch.uint8)
    out = adapt_images(images, (1, 5, 3))
    assert out.dtype == torch.float32 and out.shape == (2, 1, 5, 3)
    assert torch.allclose(out, torch.ones_like(out))
    assert adapt_images(images, (1, 8, 8)).is_contiguous()


# ----------------------------------------------------------- torchvision datasets


@pytest.mark.parametrize("name, folder, classes", [
    ("mnist", "MNIST", DIGIT_CLASSES),
    ("fashion-mnist", "FashionMNIST", FASHION_CLASSES),
])
def test_mnist_format_loads_through_torchvision(tmp_path, name, folder, classes):
    written = write_mnist(tmp_path, folder, n_train=30, n_test=12)
    ds = load_dataset(name, root=tmp_path, input_shape=(1, 32, 32))
    assert ds.name == name
    assert ds.classes == classes
    assert ds.native_shape == (1, 28, 28)
    assert ds.input_shape == (1, 32, 32)
    assert ds.source == str(tmp_path / folder / "raw")
    for which in ("train", "test"):
        split = ds.split(which)
        assert len(split) == len(written[f"{which}_labels"])
        assert split.images.shape == (len(split), 1, 32, 32)
        assert split.images.dtype == torch.float32
        assert split.labels.tolist() == written[f"{which}_labels"].tolist()
        assert split.originals.dtype == torch.uint8
        assert np.array_equal(split.originals[:, 0].numpy(), written[f"{which}_images"])


def test_mnist_native_shape_by_default(tmp_path):
    write_mnist(tmp_path, n_train=20, n_test=10)
    ds = load_dataset("mnist", root=tmp_path)
    assert ds.input_shape == (1, 28, 28)
    assert ds.train.images.shape == (20, 1, 28, 28)


def test_cifar10_loads_through_torchvision(tmp_path, cifar_bypass):
    written = write_cifar10(tmp_path, n_per_batch=4, n_test=7)
    ds = load_dataset("cifar10", root=tmp_path)
    assert ds.classes == CIFAR10_CLASSES
    assert ds.native_shape == ds.input_shape == (3, 32, 32)
    assert ds.train.images.shape == (20, 3, 32, 32)
    assert ds.test.images.shape == (7, 3, 32, 32)
    assert ds.train.labels.tolist() == written["train_labels"].tolist()
    assert ds.test.labels.tolist() == written["test_labels"].tolist()
    # channels stay in R, G, B order: the uint8 originals are exactly what was written
    assert torch.equal(ds.train.originals, torch.from_numpy(written["train_images"]))
    assert torch.equal(ds.test.originals, torch.from_numpy(written["test_images"]))
    assert ds.source == str(tmp_path / "cifar-10-batches-py")


def test_cifar10_class_names_come_from_batches_meta(tmp_path, cifar_bypass):
    names = tuple(f"thing{i}" for i in range(10))
    write_cifar10(tmp_path, n_per_batch=2, classes=names)
    assert load_dataset("cifar10", root=tmp_path).classes == names


def test_tiny_cifar_fails_torchvision_md5_check_without_the_bypass(tmp_path):
    """Why the bypass exists: the real md5 check rejects the fake files, cleanly."""
    write_cifar10(tmp_path, n_per_batch=2)
    with pytest.raises(DatasetUnavailable, match="could not be read"):
        load_dataset("cifar10", root=tmp_path)


def test_fake_mnist_classes_are_distinguishable(tmp_path):
    """The fakes differ per class (a model could learn them): class means are apart."""
    written = write_mnist(tmp_path, n_train=100, n_test=10)
    images = written["train_images"].astype(float)
    means = np.stack([images[written["train_labels"] == c].mean(axis=0) for c in range(10)])
    gaps = [np.abs(means[a] - means[b]).max() for a in range(10) for b in range(a + 1, 10)]
    assert min(gaps) > 100


# --------------------------------------------------------- missing and damaged files


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_missing_dataset_names_folder_and_files(tmp_path, name):
    folder = tmp_path / TORCHVISION[name][0]
    assert missing_files(name, tmp_path) == list(EXPECTED_FILES[name])
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset(name, root=tmp_path)
    assert_unavailable_names(info.value, folder, EXPECTED_FILES[name])
    assert "missing" in str(info.value)
    assert "Download" in str(info.value)


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_missing_files_lists_only_what_is_missing(tmp_path, name):
    folder_name, write = TORCHVISION[name]
    write(tmp_path)
    assert missing_files(name, tmp_path) == []
    gone = EXPECTED_FILES[name][1]
    (tmp_path / folder_name / gone).unlink()
    assert missing_files(name, tmp_path) == [gone]
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset(name, root=tmp_path)
    listed = str(info.value).split(f"{tmp_path / folder_name} for ", 1)[1].split(". ", 1)[0]
    assert listed == gone


def test_missing_dataset_in_the_default_root():
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("mnist")
    assert_unavailable_names(info.value, default_data_root() / "MNIST" / "raw", MNIST_FILES)
    assert missing_files("mnist") == list(MNIST_FILES)


@pytest.fixture
def no_network(monkeypatch):
    """Every download torchvision tries fails at once, as it does offline."""
    import torchvision.datasets.utils as tv_utils

    calls = []

    def refuse(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tv_utils, "download_url", refuse)
    monkeypatch.setattr(tv_utils, "_urlretrieve", refuse)
    return calls


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_download_without_network_fails_cleanly(tmp_path, no_network, name):
    root = tmp_path / "new" / "root"
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset(name, root=root, download=True)
    message = str(info.value)
    assert "download failed" in message
    assert "no network" in message
    assert str(root / TORCHVISION[name][0]) in message
    assert no_network, "torchvision never tried to download"
    assert root.is_dir()


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_download_is_skipped_when_the_files_are_there(tmp_path, no_network, request, name):
    if name == "cifar10":
        request.getfixturevalue("cifar_bypass")
    TORCHVISION[name][1](tmp_path)
    ds = load_dataset(name, root=tmp_path, download=True)
    assert len(ds.train) > 0 and len(ds.test) > 0
    assert no_network == []


def _gzip_all(folder: Path, files) -> None:
    import gzip

    for name in files:
        path = folder / name
        path.with_name(name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()


def test_mnist_as_shipped_by_mirrors_gz_files(tmp_path):
    """Mirrors ship *.gz; missing_files counts them, so loading must read them too."""
    written = write_mnist(tmp_path, n_train=20, n_test=10)
    raw = tmp_path / "MNIST" / "raw"
    _gzip_all(raw, MNIST_FILES)
    assert missing_files("mnist", tmp_path) == []
    ds = load_dataset("mnist", root=tmp_path)
    assert ds.train.labels.tolist() == written["train_labels"].tolist()
    assert np.array_equal(ds.test.originals[:, 0].numpy(), written["test_images"])


def test_damaged_gz_file_is_unavailable(tmp_path):
    write_mnist(tmp_path, n_train=20, n_test=10)
    raw = tmp_path / "MNIST" / "raw"
    _gzip_all(raw, MNIST_FILES)
    packed = raw / "train-images-idx3-ubyte.gz"
    packed.write_bytes(packed.read_bytes()[:40])
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("mnist", root=tmp_path)
    assert str(raw) in str(info.value)
    assert not list(raw.glob("*.partial"))


@pytest.mark.parametrize("damage", [
    "truncated images", "header only", "three bytes", "empty images", "bad magic",
    "labels as images", "fewer labels", "label out of range",
])
def test_damaged_mnist_is_unavailable(tmp_path, damage):
    written = write_mnist(tmp_path, n_train=20, n_test=10)
    raw = tmp_path / "MNIST" / "raw"
    images = raw / "train-images-idx3-ubyte"
    labels = raw / "train-labels-idx1-ubyte"
    content = images.read_bytes()
    if damage == "truncated images":
        images.write_bytes(content[:len(content) // 2])
    elif damage == "header only":
        images.write_bytes(content[:16])
    elif damage == "three bytes":
        images.write_bytes(content[:3])
    elif damage == "empty images":
        images.write_bytes(b"")
    elif damage == "bad magic":
        images.write_bytes(b"\xde\xad\xbe\xef" + content[4:])
    elif damage == "labels as images":
        images.write_bytes(labels.read_bytes())
    elif damage == "fewer labels":
        write_idx_labels(labels, written["train_labels"][:15])
    elif damage == "label out of range":
        write_idx_labels(labels, np.full(20, 12))
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("mnist", root=tmp_path)
    assert str(tmp_path / "MNIST" / "raw") in str(info.value)
    if damage in ("truncated images", "header only", "three bytes", "empty images"):
        assert "train-images-idx3-ubyte is" in str(info.value)  # the short file, named
    if damage == "truncated images":
        assert "truncated" in str(info.value) and f"{len(content) // 2:,} bytes" in \
            str(info.value)


def test_idx_writer_round_trips_through_torchvision_reader(tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    images = np.random.default_rng(1).integers(0, 256, (3, 5, 7), dtype=np.uint8)
    write_idx_images(tmp_path / "i", images)
    write_idx_labels(tmp_path / "l", np.array([3, 1, 4]))
    assert np.array_equal(read_image_file(str(tmp_path / "i")).numpy(), images)
    assert read_label_file(str(tmp_path / "l")).tolist() == [3, 1, 4]
    assert (tmp_path / "i").read_bytes()[:4] == b"\x00\x00\x08\x03"  # 2051
    assert (tmp_path / "l").read_bytes()[:4] == b"\x00\x00\x08\x01"  # 2049


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x80\x04garbage, not a pickle\x00\xff" * 3)


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def _not_a_dict(path: Path) -> None:
    path.write_bytes(pickle.dumps([1, 2, 3]))


def _wrong_row_size(path: Path) -> None:
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}))


def _no_labels(path: Path) -> None:
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8)}))


def _meta_without_names(path: Path) -> None:
    path.write_bytes(pickle.dumps({"num_vis": 3072}))


def _labels_out_of_range(path: Path) -> None:
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}))


def _fewer_labels(path: Path) -> None:
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}))


@pytest.mark.parametrize("file, damage", [
    ("data_batch_3", _garbage), ("data_batch_3", _truncated), ("test_batch", _not_a_dict),
    ("data_batch_1", _wrong_row_size), ("data_batch_5", _no_labels),
    ("batches.meta", _meta_without_names), ("batches.meta", _garbage),
    ("test_batch", _labels_out_of_range), ("data_batch_2", _fewer_labels),
], ids=lambda v: v if isinstance(v, str) else v.__name__.strip("_"))
def test_damaged_cifar_is_unavailable(tmp_path, cifar_bypass, file, damage):
    write_cifar10(tmp_path, n_per_batch=3)
    damage(tmp_path / "cifar-10-batches-py" / file)
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("cifar10", root=tmp_path)
    assert str(tmp_path / "cifar-10-batches-py") in str(info.value)


# ----------------------------------------------------------------- image folders


def test_image_folder_skips_corrupt_files(tmp_path):
    written = write_image_folder(tmp_path / "pets", per_class=5, corrupt=1)
    ds = load_dataset(f"folder:{tmp_path / 'pets'}")
    assert ds.classes == ("cat", "dog")
    assert ds.skipped == 1
    assert written["corrupt"][0].name in ds.skipped_examples
    assert len(ds.train) + len(ds.test) == len(written["images"]) == 10
    assert sorted(ds.test.labels.tolist()) == [0, 1]  # stratified: both classes held out
    assert ds.input_shape == data.FOLDER_DEFAULT_SHAPE
    assert ds.train.images.shape == (len(ds.train), *data.FOLDER_DEFAULT_SHAPE)
    assert ds.train.originals.shape == (len(ds.train), 3, data.FOLDER_THUMBNAIL,
                                        data.FOLDER_THUMBNAIL)
    assert ds.train.originals.dtype == torch.uint8
    assert ds.native_shape == (3, data.FOLDER_THUMBNAIL, data.FOLDER_THUMBNAIL)
    assert ds.source == str(tmp_path / "pets")
    assert ds.name == f"folder:{tmp_path / 'pets'}"


def test_image_folder_counts_every_skip_but_keeps_a_few_names(tmp_path):
    write_image_folder(tmp_path, per_class=3, corrupt=7)
    ds = load_dataset(f"folder:{tmp_path}")
    assert ds.skipped == 7
    assert 0 < len(ds.skipped_examples) <= 7
    assert all(name.startswith("bad_") for name in ds.skipped_examples)


@pytest.mark.parametrize("classes", [("cat", "dog"), ("a", "b", "c")])
def test_image_folder_classes_are_sorted_sub_folders(tmp_path, classes):
    write_image_folder(tmp_path, classes=tuple(reversed(classes)), per_class=5, corrupt=0)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "notes.txt").write_text("not a class")
    ds = load_dataset(f"folder:{tmp_path}", input_shape=(3, 16, 16))
    assert ds.classes == tuple(sorted(classes))
    assert ds.skipped == 0
    counts = ds.train.class_counts(len(classes)) + ds.test.class_counts(len(classes))
    assert counts.tolist() == [5] * len(classes)


@pytest.mark.parametrize("test_name", ["test", "val", "Test"])
def test_image_folder_uses_its_train_and_test_folders(tmp_path, test_name):
    write_image_folder(tmp_path / "train", per_class=4, corrupt=0)
    write_image_folder(tmp_path / test_name, per_class=2, corrupt=1, seed=1)
    ds = load_dataset(f"folder:{tmp_path}", input_shape=(3, 8, 8))
    assert ds.classes == ("cat", "dog")
    assert len(ds.train) == 8
    assert len(ds.test) == 4
    assert ds.train.class_counts(2).tolist() == [4, 4]
    assert ds.test.class_counts(2).tolist() == [2, 2]
    assert ds.skipped == 1


def test_image_folder_train_and_test_with_different_classes(tmp_path):
    write_image_folder(tmp_path / "train", classes=("cat", "dog"), per_class=2, corrupt=0)
    write_image_folder(tmp_path / "test", classes=("cat", "cow"), per_class=2, corrupt=0)
    with pytest.raises(DatasetError, match="different class"):
        load_dataset(f"folder:{tmp_path}")


@pytest.mark.parametrize("mode, fmt", [("L", "png"), ("RGB", "png"), ("RGB", "jpg"),
                                       ("L", "jpg")])
def test_image_folder_for_a_one_channel_model(tmp_path, mode, fmt):
    write_image_folder(tmp_path, per_class=5, size=(24, 20), mode=mode, corrupt=0, fmt=fmt)
    ds = load_dataset(f"folder:{tmp_path}", input_shape=(1, 12, 10))
    assert ds.train.images.shape == (len(ds.train), 1, 12, 10)
    assert ds.train.originals.shape == (len(ds.train), 1, data.FOLDER_THUMBNAIL,
                                        data.FOLDER_THUMBNAIL)
    assert ds.native_shape == (1, data.FOLDER_THUMBNAIL, data.FOLDER_THUMBNAIL)
    assert len(ds.normalization.mean) == 1


def test_grey_image_folder_for_a_colour_model(tmp_path):
    write_image_folder(tmp_path, per_class=5, mode="L", corrupt=0)
    ds = load_dataset(f"folder:{tmp_path}", input_shape=(3, 16, 16))
    pixels = ds.normalization.invert(ds.train.images)
    assert torch.allclose(pixels[:, 0], pixels[:, 1], atol=1e-5)
    assert torch.allclose(pixels[:, 0], pixels[:, 2], atol=1e-5)


def test_image_folder_pixels_match_the_files(tmp_path):
    """A uniform image keeps its value through decoding, resizing and normalising."""
    from PIL import Image

    for name, value in (("dark", 30), ("light", 200)):
        (tmp_path / name).mkdir()
        for i in range(5):
            Image.new("RGB", (9, 7), (value, value, value)).save(tmp_path / name / f"{i}.png")
    ds = load_dataset(f"folder:{tmp_path}", input_shape=(3, 4, 4))
    for split in (ds.train, ds.test):
        pixels = ds.normalization.invert(split.images)
        for image, label in zip(pixels, split.labels):
            expected = (30, 200)[int(label)] / 255
            assert torch.allclose(image, torch.full_like(image, expected), atol=1e-4)


def test_missing_image_folder(tmp_path):
    path = tmp_path / "nowhere"
    with pytest.raises(DatasetUnavailable, match="does not exist") as info:
        load_dataset(f"folder:{path}")
    assert str(path) in str(info.value)


def test_image_folder_without_class_folders(tmp_path):
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "loose.png")
    with pytest.raises(DatasetUnavailable, match="no class sub-folders") as info:
        load_dataset(f"folder:{tmp_path}")
    assert str(tmp_path) in str(info.value)


def test_image_folder_with_only_unreadable_files(tmp_path):
    write_image_folder(tmp_path, per_class=0, corrupt=3)
    with pytest.raises(DatasetUnavailable, match="no readable images") as info:
        load_dataset(f"folder:{tmp_path}")
    assert str(tmp_path) in str(info.value)
    assert "3 files" in str(info.value)


def test_image_folder_path_with_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    write_image_folder(tmp_path / "imgs", per_class=3, corrupt=0)
    ds = load_dataset("folder:~/imgs", input_shape=(3, 8, 8))
    assert ds.source == str(tmp_path / "imgs")


def nest_beyond_path_max(folder: Path, image: Path) -> int:
    """Copy `image` into folders nested under `folder` until its path is longer than
    PATH_MAX (4,096 bytes on Linux), creating each level relative to the last (by
    dir_fd), as a deep extraction or a sync tool can. The kernel then refuses any
    stat or listing by path with ENAMETOOLONG: a real failure of the entry's stat
    that needs no permissions (chmod does not stop root, which runs these tests).
    Returns how many levels were made."""
    levels = 4200 // 201 + 1
    fd = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(levels):
            os.mkdir("d" * 200, dir_fd=fd)
            inner = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        out = os.open("deep.png", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        try:
            os.write(out, image.read_bytes())
        finally:
            os.close(out)
    finally:
        os.close(fd)
    return levels


@pytest.mark.skipif(not hasattr(os, "O_DIRECTORY") or os.name != "posix",
                    reason="needs POSIX dir_fd operations")
def test_an_entry_whose_stat_fails_is_skipped_and_counted(tmp_path):
    """Entries the system refuses to stat — a path longer than PATH_MAX (ENAMETOOLONG),
    a link that loops onto itself (ELOOP) and a link to nothing — are left out and
    counted like unreadable files; the load goes on (it ended in an OSError
    traceback, the same path a PermissionError took for a non-root user)."""
    written = write_image_folder(tmp_path / "pets", per_class=5, corrupt=0)
    pets = tmp_path / "pets"
    levels = nest_beyond_path_max(pets / "cat", written["images"][0])
    os.symlink("loop.png", pets / "dog" / "loop.png")
    os.symlink("missing.png", pets / "dog" / "gone.png")
    ds = load_dataset(f"folder:{pets}", input_shape=(3, 8, 8))
    assert len(ds.train) + len(ds.test) == 10
    assert ds.skipped == 3
    examples = "; ".join(ds.skipped_examples)
    assert "(cannot be listed: File name too long)" in examples
    assert "loop.png (cannot be read: Too many levels of symbolic links)" in examples
    assert "gone.png (a link to nothing)" in examples
    deep = Path(pets / "cat", *["d" * 200] * levels)
    with pytest.raises(DatasetUnavailable, match=r"^the image folder .* cannot be read: File "
                                                 r"name too long$"):
        load_dataset(f"folder:{deep}")  # the dataset folder itself


def test_a_class_folder_linking_to_the_root_gives_no_second_label(tmp_path):
    """`pets/all -> pets` would make a class 'all' holding every image again, each with
    a second label; links back into a folder that holds them are skipped and counted."""
    write_image_folder(tmp_path / "pets", per_class=5, corrupt=0)
    pets = tmp_path / "pets"
    os.symlink(pets, pets / "all")
    os.symlink("..", pets / "dog" / "up")  # an ancestor, from deeper down
    ds = load_dataset(f"folder:{pets}", input_shape=(3, 8, 8))
    assert ds.classes == ("cat", "dog")
    assert len(ds.train) + len(ds.test) == 10
    assert ds.skipped == 2
    assert ds.skipped_examples == ("all (links back to a folder that contains it)",
                                   "up (links back to a folder that contains it)")


def test_links_out_of_the_dataset_folder_are_not_followed(tmp_path):
    """A class folder, a sub-folder or an image that links outside the dataset folder
    is left out and counted; a link that stays inside is an ordinary entry."""
    write_image_folder(tmp_path / "pets", per_class=4, corrupt=0)
    written = write_image_folder(tmp_path / "elsewhere", classes=("fox",), per_class=3,
                                 corrupt=0)
    pets = tmp_path / "pets"
    os.symlink(tmp_path / "elsewhere" / "fox", pets / "fox")
    os.symlink(tmp_path / "elsewhere", pets / "cat" / "more")
    os.symlink(written["images"][0], pets / "dog" / "stolen.png")
    os.symlink(pets / "cat" / "0.png", pets / "dog" / "borrowed.png")
    (pets / "dog" / "notes.txt").symlink_to("/etc/hostname")  # not an image: ignored
    ds = load_dataset(f"folder:{pets}", input_shape=(3, 8, 8))
    assert ds.classes == ("cat", "dog")
    assert len(ds.train) + len(ds.test) == 9  # 4 + 4 and the inside link
    assert ds.skipped == 3
    assert set(ds.skipped_examples) == {
        "fox (links outside the dataset folder)", "more (links outside the dataset folder)",
        "stolen.png (links outside the dataset folder)"}


def test_a_dataset_folder_reached_through_a_link_is_scanned_as_itself(tmp_path):
    write_image_folder(tmp_path / "real", per_class=3, corrupt=0)
    os.symlink(tmp_path / "real", tmp_path / "alias")
    ds = load_dataset(f"folder:{tmp_path / 'alias'}", input_shape=(3, 8, 8))
    assert ds.skipped == 0 and len(ds.train) + len(ds.test) == 6


def test_the_skipped_summary_counts_and_names(tmp_path):
    write_image_folder(tmp_path, per_class=3, corrupt=7)
    ds = load_dataset(f"folder:{tmp_path}", input_shape=(3, 8, 8))
    line = skipped_summary(ds)
    assert line.startswith(f"7 file(s) of folder:{tmp_path} left out (unreadable, or links ")
    assert line.endswith(", …") and "bad_0.png" in line
    assert skipped_summary(load_dataset("digits")) is None


def test_a_folder_without_test_images_says_what_to_do(tmp_path):
    """One image per class leaves nothing to hold out: the test split is empty, and
    asking for it says so instead of measuring nothing as NaN %."""
    write_image_folder(tmp_path / "pets", per_class=1, corrupt=0)
    ds = load_dataset(f"folder:{tmp_path / 'pets'}", input_shape=(3, 8, 8))
    assert len(ds.test) == 0 and len(require_images(ds, "train")) == 2
    with pytest.raises(DatasetError) as caught:
        require_images(ds, "test")
    pets = tmp_path / "pets"
    assert str(caught.value) == (f"folder:{pets} has no test images: put images in "
                                 f"{pets}/test/<class>/ beside {pets}/train/<class>/, or give "
                                 f"each class folder at least 2 images (20 % of each class are "
                                 f"held out for testing)")


def test_a_folder_without_training_images_says_so(tmp_path):
    """train/ with empty class folders beside a filled test/: there is nothing to learn
    from or to measure the normalisation on (its mean would be NaN)."""
    for name in ("cat", "dog"):
        (tmp_path / "train" / name).mkdir(parents=True)
    write_image_folder(tmp_path / "test", per_class=2, corrupt=0)
    with pytest.raises(DatasetError, match=rf"^folder:{tmp_path} has no training images: put "
                                           rf"images in {tmp_path}/train/<class>/ beside "):
        load_dataset(f"folder:{tmp_path}", input_shape=(3, 8, 8))


# ------------------------------------------------------------------ dataset names


@pytest.mark.parametrize("name, words", [
    (5, "a dataset name is text, not int (5)"),
    (None, "a dataset name is text, not NoneType"),
    (["digits"], "a dataset name is text, not list"),
    ("folder:/", "'folder:/' is the whole file system (/)"),
    ("folder:/tmp/../", "'folder:/tmp/../' is the whole file system (/)"),
    ("folder:", "'folder:' names no folder"),
    ("folder:  ", "names no folder"),
    ("folder:/tmp/a\0b", "names no folder"),
    ("imagenet", "unknown dataset 'imagenet'"),
    ("", "unknown dataset ''"),
])
def test_bad_dataset_names_are_refused_before_anything_is_read(name, words):
    with pytest.raises(DatasetError) as caught:
        check_dataset_name(name)
    assert words in str(caught.value)
    with pytest.raises(DatasetError) as loading:  # the same check, where loading starts
        load_dataset(name)
    assert str(loading.value) == str(caught.value)


@pytest.mark.parametrize("name", ["digits", "mnist", "cifar10", "folder:~/pets",
                                  "folder:/nowhere/at/all", "folder:relative/path"])
def test_good_dataset_names_pass(name):
    assert check_dataset_name(name) == name


@pytest.mark.parametrize("mean, std, words", [
    ((0.5,), (0.0,), "the normalisation std of channel 0 is 0.0: it must be a positive finite"),
    ((0.5, 0.5), (0.2, -0.1), "std of channel 1 is -0.1"),
    ((0.5,), (math.nan,), "std of channel 0 is nan"),
    ((0.5,), (math.inf,), "std of channel 0 is inf"),
    ((math.nan,), (0.2,), "the normalisation mean of channel 0 is nan: it must be a finite"),
    ((0.5,), (), "one mean and one std per channel, got 1 mean(s) and 0 std(s)"),
    ((), (), "one mean and one std per channel"),
])
def test_a_normalisation_that_would_make_images_nan_is_refused(mean, std, words):
    with pytest.raises(DatasetError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Normalization(mean, std)


# ------------------------------------------------------------------------ batches


@pytest.mark.parametrize("n, batch_size", [(23, 5), (20, 5), (3, 8), (1, 1)])
def test_batches_cover_every_sample_once(n, batch_size):
    split = numbered_split(n)
    seen = []
    sizes = []
    for images, labels in batches(split, batch_size, torch.Generator().manual_seed(0)):
        assert torch.equal(images[:, 0, 0, 0].long(), labels)  # images stay with labels
        seen += labels.tolist()
        sizes.append(len(labels))
    assert sorted(seen) == list(range(n))
    assert len(sizes) == batches_per_epoch(n, batch_size)
    assert all(s == batch_size for s in sizes[:-1])
    assert sizes[-1] == (n % batch_size or batch_size)


@pytest.mark.parametrize("n, batch_size", [(23, 5), (20, 5), (3, 8)])
def test_drop_last_leaves_out_the_partial_batch(n, batch_size):
    split = numbered_split(n)
    sizes = [len(y) for _, y in batches(split, batch_size, torch.Generator().manual_seed(0),
                                        drop_last=True)]
    assert sizes == [batch_size] * (n // batch_size)
    assert len(sizes) == batches_per_epoch(n, batch_size, drop_last=True)


def _order(split: Split, seed: int, batch_size: int = 4) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    return [i for _, y in batches(split, batch_size, generator) for i in y.tolist()]


def test_batch_order_follows_the_seed():
    split = numbered_split(50)
    assert _order(split, 1) == _order(split, 1)
    assert _order(split, 1) != _order(split, 2)
    assert _order(split, 1) != list(range(50))


def test_consecutive_epochs_from_one_generator_differ():
    split = numbered_split(50)
    generator = torch.Generator().manual_seed(3)
    first = [i for _, y in batches(split, 7, generator) for i in y.tolist()]
    second = [i for _, y in batches(split, 7, generator) for i in y.tolist()]
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != second


def test_batches_without_shuffle_keep_the_order():
    split = numbered_split(10)
    labels = [y.tolist() for _, y in batches(split, 4, shuffle=False)]
    assert labels == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_batches_of_a_real_dataset(digits32):
    first_images, first_labels = next(batches(digits32.train, 64, torch.Generator()))
    assert first_images.shape == (64, 1, 32, 32)
    assert first_labels.dtype == torch.int64


@pytest.mark.parametrize("n, size, drop_last, expected", [
    (23, 5, False, 5), (23, 5, True, 4), (20, 5, False, 4), (20, 5, True, 4),
    (3, 8, False, 1), (3, 8, True, 0), (0, 4, False, 0),
])
def test_batches_per_epoch(n, size, drop_last, expected):
    assert batches_per_epoch(n, size, drop_last) == expected


# --------------------------------------------------------------------- image grids


def _cell(grid, i: int) -> np.ndarray:
    x, y, w, h = grid.cells[i]
    return grid.pixels[y:y + h, x:x + w]


def _as_display(images01: torch.Tensor) -> np.ndarray:
    """Expected uint8 H×W×3 of [0, 1] images, grey repeated to RGB."""
    x = images01.clamp(0, 1)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.permute(0, 2, 3, 1).mul(255).round().to(torch.uint8).numpy()


@pytest.mark.parametrize("n, columns, padding", [(10, 4, 2), (8, 8, 2), (5, 3, 0), (7, 10, 1),
                                                 (1, 8, 2)])
def test_grid_layout_and_cells(digits32, n, columns, padding):
    images = digits32.train.images[:n]
    grid = image_grid(images, normalization=digits32.normalization, columns=columns,
                      padding=padding)
    cols = min(columns, n)
    rows = -(-n // cols)
    assert grid.pixels.dtype == np.uint8
    assert grid.pixels.shape == (rows * (32 + padding) + padding,
                                 cols * (32 + padding) + padding, 3)
    assert grid.columns == cols
    assert len(grid.cells) == n
    expected = _as_display(digits32.normalization.invert(images))
    for i in range(n):
        assert grid.cells[i][2:] == (32, 32)
        assert np.array_equal(_cell(grid, i), expected[i])


def test_grid_denormalises_to_the_adapted_originals(digits32):
    images = digits32.test.images[:6]
    grid = image_grid(images, normalization=digits32.normalization)
    reference = _as_display(adapt_images(digits32.test.originals[:6], (1, 32, 32)))
    for i in range(6):
        assert np.abs(_cell(grid, i).astype(int) - reference[i].astype(int)).max() <= 1


def test_grid_of_colour_images(tmp_path, cifar_bypass):
    write_cifar10(tmp_path, n_per_batch=2)
    ds = load_dataset("cifar10", root=tmp_path)
    grid = image_grid(ds.train.images[:4], ds.train.labels[:4], ds.classes,
                      normalization=ds.normalization)
    originals = ds.train.originals[:4].permute(0, 2, 3, 1).numpy()
    for i in range(4):
        assert np.abs(_cell(grid, i).astype(int) - originals[i].astype(int)).max() <= 1
    assert grid.captions == tuple(ds.classes[int(y)] for y in ds.train.labels[:4])


def test_grid_scale_is_nearest_neighbour(digits):
    images = digits.train.originals[:5]
    plain = image_grid(images, columns=3)
    big = image_grid(images, columns=3, scale=2)
    for i in range(5):
        assert big.cells[i][2:] == (16, 16)
        assert plain.cells[i][2:] == (8, 8)
        cell = _cell(big, i)
        for dy in (0, 1):
            for dx in (0, 1):
                assert np.array_equal(cell[dy::2, dx::2], _cell(plain, i))


def test_grid_of_uint8_originals_is_exact(digits):
    originals = digits.train.originals[:9]
    grid = image_grid(originals, columns=3)
    for i in range(9):
        cell = _cell(grid, i)
        for channel in range(3):
            assert np.array_equal(cell[..., channel], originals[i, 0].numpy())


def test_grid_padding_uses_pad_value(digits):
    grid = image_grid(digits.train.originals[:4], columns=2, padding=3, pad_value=1.0)
    assert (grid.pixels[:3] == 255).all()
    assert (grid.pixels[:, :3] == 255).all()
    dark = image_grid(digits.train.originals[:4], columns=2, padding=3, pad_value=0.0)
    assert (dark.pixels[:3] == 0).all()


def test_grid_captions(digits):
    labels = digits.train.labels[:6]
    named = image_grid(digits.train.originals[:6], labels, ("zero", "one", "two", "three",
                                                             "four", "five", "six", "seven",
                                                             "eight", "nine"))
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    assert named.captions == tuple(words[int(y)] for y in labels)
    numbered = image_grid(digits.train.originals[:6], labels.tolist())
    assert numbered.captions == tuple(str(int(y)) for y in labels)
    assert image_grid(digits.train.originals[:6]).captions == ()


def test_grid_clamps_out_of_range_values():
    grid = image_grid(torch.tensor([[[[-3.0, 0.5], [2.0, 1.0]]]]).repeat(2, 1, 1, 1),
                      padding=0)
    assert grid.pixels[0, :2, 0].tolist() == [0, 128]
    assert grid.pixels[1, :2, 0].tolist() == [255, 255]


def test_grid_of_nothing():
    grid = image_grid(torch.empty((0, 1, 8, 8)), torch.empty(0, dtype=torch.int64),
                      DIGIT_CLASSES)
    assert grid.pixels.dtype == np.uint8
    assert grid.pixels.ndim == 3 and grid.pixels.shape[2] == 3
    assert grid.cells == () and grid.captions == ()
    assert image_grid(torch.empty((0, 3, 4, 4), dtype=torch.uint8)).cells == ()


def test_grid_does_not_change_its_input(digits32):
    images = digits32.train.images[:3].clone()
    image_grid(images, normalization=digits32.normalization, scale=2)
    assert torch.equal(images, digits32.train.images[:3])


# ------------------------------------------------------------ registry and roots


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(DatasetError) as info:
        load_dataset("imagenet")
    message = str(info.value)
    assert "'imagenet'" in message
    for name in ("digits", "mnist", "fashion-mnist", "cifar10", "folder:"):
        assert name in message
    assert not isinstance(info.value, DatasetUnavailable)


def test_dataset_choices():
    choices = {info.name: info for info in dataset_choices()}
    assert set(choices) == {"digits", "mnist", "fashion-mnist", "cifar10"}
    assert choices["digits"].bundled and choices["digits"].files == ()
    assert not any(choices[n].bundled for n in TORCHVISION)
    for name in TORCHVISION:
        assert choices[name].folder == TORCHVISION[name][0]
        assert choices[name].files == EXPECTED_FILES[name]
    assert choices["cifar10"].native_shape == (3, 32, 32)


def test_error_types_are_value_errors():
    assert issubclass(DatasetUnavailable, DatasetError)
    assert issubclass(DatasetError, ValueError)


def test_default_data_root_honours_netexplorer_data(tmp_path, monkeypatch):
    import os

    assert default_data_root() == Path(os.environ["NETEXPLORER_DATA"])
    monkeypatch.setenv("NETEXPLORER_DATA", str(tmp_path / "elsewhere"))
    assert default_data_root() == tmp_path / "elsewhere"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETEXPLORER_DATA", "~/d")
    assert default_data_root() == tmp_path / "d"


def test_default_data_root_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("NETEXPLORER_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_root() == tmp_path / "xdg" / "netexplorer" / "datasets"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_root() == tmp_path / ".local" / "share" / "netexplorer" / "datasets"


def test_torchvision_datasets_load_from_the_default_root():
    write_mnist(default_data_root(), n_train=10, n_test=10)
    assert len(load_dataset("mnist").train) == 10
