"""The Data tab: image grid, paging, filters, facts, and datasets that are missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QLabel

from netexplorer.core.errors import DatasetUnavailable
from netexplorer.ui.main_window import MainWindow
from tests.fakes import write_image_folder, write_mnist


def choose(view, name: str) -> None:
    """Pick a dataset in the chooser the way a person does."""
    combo = view.dataset_combo
    index = combo.findData(name)
    assert index >= 0, name
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def wait_idle(qtbot, view, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: not view.busy, timeout=timeout)


def test_grid_shows_a_page_of_labelled_images(window):
    view = window.data_view
    dataset = view.dataset
    assert view.grid.image_count() == 32
    assert set(view.grid.captions()) <= set(dataset.classes)
    view.set_page_size(16)
    assert view.grid.image_count() == 16
    assert view.findChild(QLabel, "pageLabel").text().startswith("Page 1 of 90")
    view.next_button.click()
    assert view.page == 1 and view.prev_button.isEnabled()
    view.prev_button.click()
    assert view.page == 0 and not view.prev_button.isEnabled()
    assert view.grid.accessibleDescription().startswith("16 images")


def test_last_page_holds_the_rest(window):
    view = window.data_view
    total = len(view.dataset.train)
    for _ in range(view.page_count - 1):
        view.next_button.click()
    assert view.grid.image_count() == total - (view.page_count - 1) * view.page_size
    assert not view.next_button.isEnabled()


def test_class_filter_split_and_shuffle(window):
    view = window.data_view
    view.class_combo.setCurrentIndex(view.class_combo.findText("3"))
    assert set(view.grid.captions()) == {"3"}
    view.split_combo.setCurrentIndex(view.split_combo.findData("test"))
    test_threes = int((view.dataset.test.labels == 3).sum())
    assert view.page_label.text().endswith(f"{test_threes:,} images")
    assert set(view.grid.captions()) == {"3"}
    assert sum(view.facts.chart.counts()) == len(view.dataset.test)  # the chart follows
    view.shuffle_button.click()
    assert view.grid.image_count() == min(32, test_threes)
    assert set(view.grid.captions()) == {"3"}


def test_originals_are_shown_crisp_and_model_images_at_model_size(window):
    view = window.data_view
    assert view.grid.cell_size().width() == 32 * 3  # 1×32×32 model input, 3× enlarged
    view.originals_check.setChecked(True)
    assert view.grid.cell_size().width() == 8 * 8  # stored 8×8 digits, 8× nearest-neighbour
    assert "Stored images" in view.grid_caption.text()


def test_facts_describe_the_dataset(window):
    view = window.data_view
    dataset = view.dataset
    facts = view.facts
    assert facts.value("train") == f"{len(dataset.train):,}"
    assert facts.value("test") == f"{len(dataset.test):,}"
    assert facts.value("classes") == "10"
    assert facts.value("native") == "8×8 grey"
    assert facts.value("input").startswith("1×32×32")
    assert facts.value("normalization").startswith("mean ")
    assert "scikit-learn" in facts.value("source")
    chart = facts.chart
    assert chart.objectName() == "classCountsChart"
    assert sum(chart.counts()) == len(dataset.train) and len(chart.counts()) == 10


def test_controls_have_names(window):
    for name in ("datasetCombo", "imageGrid", "dataFolderEdit", "downloadButton", "splitCombo",
                 "classFilterCombo", "nextPageButton", "prevPageButton", "shuffleButton",
                 "originalsCheck", "datasetFacts", "classCountsChart", "pageSizeCombo"):
        widget = window.findChild(object, name)
        assert widget is not None, name
        assert widget.accessibleName(), name


def test_missing_mnist_is_explained_and_digits_kept(window, qtbot):
    view = window.data_view
    choose(view, "mnist")
    wait_idle(qtbot, view)
    assert view.dataset_name == "digits"
    assert view.dataset_combo.currentData() == "digits"
    assert view.message_frame.isVisible()
    text = view.message_label.text()
    folder = str(Path(os.environ["NETEXPLORER_DATA"]) / "MNIST" / "raw")
    assert "MNIST" in text and folder in text and "train-images-idx3-ubyte" in text
    assert "--download" not in text  # a command-line flag means nothing here
    assert view.download_button.isEnabled() and view.download_button.text() == "Download MNIST"
    assert view.retry_button.isVisible()
    assert view.grid.image_count() == 32  # still showing digits
    assert "digits" in window.state_label.text().lower()


def test_download_runs_in_the_background_and_failure_is_explained(window, qtbot, monkeypatch):
    from netexplorer.core import data

    calls = []

    def offline(name, root=None, input_shape=None, download=False):
        calls.append((name, download))
        raise DatasetUnavailable(f"{name} is not available: the download failed (offline)")

    view = window.data_view
    choose(view, "mnist")
    wait_idle(qtbot, view)
    monkeypatch.setattr(data, "load_dataset", offline)
    view.download_button.click()
    wait_idle(qtbot, view)
    assert calls == [("mnist", True)]
    assert "download failed" in view.message_label.text()
    assert view.dataset_name == "digits"


def test_mnist_found_after_pointing_at_its_folder(window, qtbot, tmp_path):
    view = window.data_view
    choose(view, "mnist")
    wait_idle(qtbot, view)
    elsewhere = tmp_path / "elsewhere"
    write_mnist(elsewhere, n_train=40, n_test=20)
    view.folder_edit.setText(str(elsewhere))
    view.folder_edit.editingFinished.emit()  # retries what was missing
    wait_idle(qtbot, view)
    assert view.dataset_name == "mnist", (view.message_label.text(), view._failed)
    assert not view.message_frame.isVisible()
    assert view.facts.value("train") == "40"
    assert view.grid.image_count() == 32
    assert window.settings.data_root == str(elsewhere)


def test_model_input_change_reloads_the_dataset(window, qtbot):
    with qtbot.waitSignal(window.data_view.datasetLoaded, timeout=30_000):
        window.model_panel.height_spin.setValue(28)
    assert window.data_view.dataset.input_shape == (1, 28, 32)
    assert window.data_view.grid.cell_size().height() == 28 * 3


def test_impossible_channel_count_is_explained(window, qtbot):
    view = window.data_view
    with qtbot.waitSignal(view._runner.failed, timeout=30_000):
        window.model_panel.channels_spin.setValue(2)
    assert "input channels" in view.message_label.text()
    assert view.dataset.input_shape == (1, 32, 32)  # the previous load stays


def test_image_folder_with_a_broken_file(window, qtbot, tmp_path, monkeypatch):
    folder = tmp_path / "pets"
    write_image_folder(folder, classes=("cat", "dog"), per_class=6, corrupt=1)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    view = window.data_view
    choose(view, "\x00choose-folder")
    wait_idle(qtbot, view)
    assert view.dataset_name == f"folder:{folder}", (view.message_label.text(), view._failed)
    assert view.dataset_combo.currentText() == "Folder: pets"
    assert set(view.grid.captions()) <= {"cat", "dog"}
    assert view.facts.value("skipped").startswith("1 file(s) left out")


def test_colour_images_read_in_grey_are_said_so_and_3_channels_offered(window, qtbot,
                                                                         tmp_path, monkeypatch):
    """LeNet takes 1 channel: a folder of colour photos is read in grey. The window
    says so, and one click gives the model 3 input channels and reloads in colour."""
    folder = tmp_path / "pets"
    write_image_folder(folder, classes=("cat", "dog"), per_class=6, corrupt=0)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    view = window.data_view
    choose(view, "\x00choose-folder")
    wait_idle(qtbot, view)
    assert view.dataset.colour_files == 12 and view.dataset.input_shape[0] == 1
    assert view.colour_frame.isVisibleTo(window)
    assert "All images in this folder are in colour" in view.colour_label.text()
    assert "read from colour files" in view.facts.value("native")
    view.colour_button.click()
    assert window.model_panel.spec.input_shape[0] == 3
    qtbot.waitUntil(lambda: view.dataset is not None and view.dataset.input_shape[0] == 3
                    and not view.busy, timeout=30_000)
    assert view.dataset.colour_files == 0 and not view.colour_frame.isVisibleTo(window)
    assert window.model_panel.is_valid  # conv1's in_channels follows the input


def test_grey_images_need_no_word(window, qtbot, tmp_path, monkeypatch):
    folder = tmp_path / "scans"
    write_image_folder(folder, classes=("a", "b"), per_class=4, corrupt=0, mode="L")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    view = window.data_view
    choose(view, "\x00choose-folder")
    wait_idle(qtbot, view)
    assert view.dataset.colour_files == 0 and not view.colour_frame.isVisibleTo(window)


def test_cancelled_folder_choice_keeps_the_dataset(window, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: "")
    view = window.data_view
    choose(view, "\x00choose-folder")
    assert not view.busy
    assert view.dataset_combo.currentData() == "digits"


def test_a_remembered_missing_dataset_falls_back_to_digits(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("data/dataset", "cifar10")
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.data_view.dataset is not None and not win.data_view.busy,
                    timeout=60_000)
    assert win.data_view.dataset_name == "digits"
    assert "CIFAR-10" in win.data_view.message_label.text()
    assert "instead" in win.data_view.message_label.text()
    assert win.data_view.download_button.text() == "Download CIFAR-10"


@pytest.mark.parametrize("size", [8, 28, 32, 64, 200])
def test_display_scale_keeps_images_crisp(size):
    from netexplorer.ui.widgets.image_grid import display_scale

    scale = display_scale(size, size)
    assert isinstance(scale, int) and 1 <= scale <= 8
    assert size * scale >= min(size, 64)


def test_an_input_too_large_for_memory_is_refused_not_attempted(window, qtbot):
    view = window.data_view
    panel = window.model_panel
    with qtbot.waitSignal(view._runner.failed, timeout=30_000):
        panel.set_input_shape((3, 2048, 2048))
    assert "GB of memory" in view.message_label.text()
    assert "smaller model input size" in view.message_label.text()
    assert view.dataset.input_shape == (1, 32, 32)


def test_a_new_data_folder_never_leaves_data_from_the_old_one_shown(window, qtbot, tmp_path):
    """MNIST is shown from folder A; CIFAR-10 is chosen and is not there. Pointing the
    data folder at B retries CIFAR-10 there (not there either); what is shown must
    then be read from B — B's own MNIST — never A's MNIST under B's name."""
    view = window.data_view
    a, b = tmp_path / "a", tmp_path / "b"
    write_mnist(a, n_train=40, n_test=20)
    write_mnist(b, n_train=30, n_test=10)
    view.folder_edit.setText(str(a))
    view.folder_edit.editingFinished.emit()
    choose(view, "mnist")
    wait_idle(qtbot, view)
    assert view.dataset_name == "mnist" and view.facts.value("train") == "40"
    choose(view, "cifar10")
    wait_idle(qtbot, view)
    assert view.dataset_name == "mnist" and "CIFAR-10" in view.message_label.text()

    with qtbot.waitSignal(view.datasetLoaded, timeout=60_000,
                          check_params_cb=lambda d: d.name == "mnist"):
        view.folder_edit.setText(str(b))
        view.folder_edit.editingFinished.emit()
    wait_idle(qtbot, view)
    assert view.facts.value("train") == "30"  # B's MNIST
    assert str(b) in view.dataset.source
    text = view.message_label.text()
    assert view.message_frame.isVisible() and "CIFAR-10" in text and str(b) in text
    assert view.retry_button.isVisible()  # CIFAR-10 is what was asked for


def test_a_new_data_folder_without_the_shown_dataset_falls_back_to_digits(window, qtbot,
                                                                          tmp_path):
    view = window.data_view
    a, b = tmp_path / "a", tmp_path / "empty"
    write_mnist(a, n_train=40, n_test=20)
    b.mkdir()
    view.folder_edit.setText(str(a))
    view.folder_edit.editingFinished.emit()
    choose(view, "mnist")
    wait_idle(qtbot, view)
    choose(view, "cifar10")
    wait_idle(qtbot, view)
    with qtbot.waitSignal(view.datasetLoaded, timeout=60_000,
                          check_params_cb=lambda d: d.name == "digits"):
        view.folder_edit.setText(str(b))
        view.folder_edit.editingFinished.emit()
    wait_idle(qtbot, view)
    assert view.dataset_name == "digits"
    assert "CIFAR-10" in view.message_label.text() and "digits" in view.message_label.text()


def test_the_digits_show_before_torch_has_loaded_them(qtbot, settings):
    """The first look needs no torch: the shipped digits' first page is drawn at once
    (stored images, not clickable), and the model's view of the same images
    replaces it when the load ends."""
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    view = win.data_view
    view.start()  # what the window does after its first paint
    assert view.dataset is None and view.busy
    assert view.grid.image_count() == 32
    preview = view.grid.captions()
    assert "follows once the dataset has loaded" in view.grid_caption.text()
    assert "1×8×8" in view.grid_caption.text()
    assert view.grid.source(0) is None  # a trace needs the loaded dataset
    qtbot.waitUntil(lambda: view.dataset is not None and not view.busy, timeout=60_000)
    assert view.grid.captions() == preview  # the same images, as the model sees them
    assert view.grid_caption.text().startswith("As the model sees them")
