"""The Data tab: choose a dataset, see it as the model will, learn its facts.

Loading happens on a worker thread (netexplorer.ui.session.workers), because reading a
dataset imports torch and transforms thousands of images; the window stays
responsive and shows a busy indicator meanwhile. A dataset that cannot be
loaded is explained — which files, which folder, how to get them — and the
view keeps the dataset it had.

This module imports netexplorer.core.data (and so torch) only inside
functions: the window must paint before torch has finished importing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from netexplorer.core import catalog
from netexplorer.core.errors import DatasetError
from netexplorer.core.formatting import format_shape
from netexplorer.ui.data.dataset_facts import DatasetFacts
from netexplorer.ui.icons import icon
from netexplorer.ui.session.workers import TaskFailure, TaskRunner
from netexplorer.ui.settings import AppSettings
from netexplorer.ui.widgets.accessibility import hint_label, named, notice_frame
from netexplorer.ui.widgets.image_grid import ImageGridView, display_scale

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.core.data import Dataset

DEFAULT_DATASET = catalog.DIGITS  # bundled with scikit-learn: always there
FOLDER_PREFIX = catalog.FOLDER_PREFIX
_CHOOSE_FOLDER = "\x00choose-folder"  # the "Image folder…" entry of the chooser
PAGE_SIZES = (16, 32, 64, 128)
DEFAULT_PAGE_SIZE = 32
# Typing "28" into the model's height passes through "2": wait for the person
# to pause before reloading the dataset for a new input shape.
RELOAD_DELAY_MS = 400


@dataclass(frozen=True)
class LoadRequest:
    """One dataset load, as plain data handed to the worker thread."""

    name: str
    root: str | None
    input_shape: tuple[int, int, int]
    download: bool = False


def load_for_view(request: LoadRequest) -> Dataset:
    """Runs on the worker thread: load the dataset (this imports torch).

    Grids are drawn with numpy (core.grids), so nothing else needs warming.
    """
    from netexplorer.core import data

    return data.load_dataset(request.name, request.root, request.input_shape,
                             download=request.download)


def dataset_title(name: str) -> str:
    """How a person knows the dataset: the chooser's words, or the folder's name."""
    if name.startswith(FOLDER_PREFIX):
        return f"image folder {Path(name[len(FOLDER_PREFIX):]).name or name}"
    info = catalog.DATASETS.get(name)
    return info.title if info else name


def _is_downloadable(name: str | None) -> bool:
    if not name or name.startswith(FOLDER_PREFIX):
        return False
    info = catalog.DATASETS.get(name)
    return info is not None and not info.bundled


class DataView(QWidget):
    """Dataset chooser, image grid and facts; `dataset` is what the model trains on."""

    datasetLoaded = Signal(object)  # the new Dataset
    imageChosen = Signal(str, int)  # a click on an image: its split and index
    loadFailed = Signal(str)  # why; sent only when no other load follows it
    busyChanged = Signal(bool)
    colourInputRequested = Signal()  # "use 3 input channels" for colour images read in grey

    def __init__(self, settings: AppSettings, input_shape: tuple[int, int, int],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "dataView", "Data")
        self._settings = settings
        c, h, w = input_shape
        self._input_shape = (c, h, w)  # a copy, whatever sequence the caller keeps
        self._dataset: Dataset | None = None
        self._shown: LoadRequest | None = None  # the request `_dataset` came from
        self._loading: LoadRequest | None = None  # the newest request in flight
        self._failed: LoadRequest | None = None  # the last request that failed
        self._loading_chosen = False
        self._order: Any = None  # numpy indices of the shown split, filtered, maybe shuffled
        self._page = 0
        self._started = False

        self._runner = TaskRunner("dataset loader", self)
        self._runner.finished.connect(self._on_loaded)
        self._runner.failed.connect(self._on_load_failed)
        self._runner.busyChanged.connect(self._on_busy_changed)
        self._reload_timer = QTimer(self)
        self._reload_timer.setObjectName("datasetReloadTimer")
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(RELOAD_DELAY_MS)
        self._reload_timer.timeout.connect(self._on_reload_timer)
        self._build()
        self._refresh_busy()
        self._show_nothing("Loading the dataset…")

    # ------------------------------------------------------------------ interface

    @property
    def dataset(self) -> Dataset | None:
        return self._dataset

    @property
    def dataset_name(self) -> str | None:
        return self._dataset.name if self._dataset is not None else None

    @property
    def busy(self) -> bool:
        return self._runner.busy

    @property
    def loading_title(self) -> str | None:
        return dataset_title(self._loading.name) if self._loading is not None else None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self._input_shape

    @property
    def started(self) -> bool:
        """Whether a first load has been asked for (by start() or a request)."""
        return self._started

    def start(self) -> None:
        """Load the remembered dataset (or digits): the first load, once the window shows."""
        if self._started:
            return
        self._started = True
        self.request_dataset(self._settings.dataset or DEFAULT_DATASET)

    def request_dataset(self, name: str, download: bool = False, *,
                        chosen: bool = True) -> None:
        """Load `name` for the current input shape in the background.

        `chosen` is False for reloads the person did not ask for (a new input
        shape, the fallback to digits): their success does not dismiss an
        explanation of why the chosen dataset failed.
        """
        self._started = True
        self._reload_timer.stop()
        if self._dataset is None and name == catalog.DIGITS:
            self._show_digits_preview()
        self._loading = LoadRequest(name, self._data_root(), self._input_shape, download)
        self._loading_chosen = chosen
        self._runner.submit(load_for_view, self._loading)
        self._refresh_busy()

    def set_input_shape(self, shape: tuple[int, int, int]) -> None:
        """The model's input changed: reload (after a pause) so the grid shows what it sees."""
        c, h, w = shape
        shape = (int(c), int(h), int(w))
        if shape == self._input_shape:
            return
        self._input_shape = shape
        if self._started:
            self._reload_timer.start()

    def set_page_size(self, size: int) -> None:
        index = self.page_size_combo.findData(int(size))
        if index < 0:
            self.page_size_combo.addItem(str(int(size)), int(size))
            index = self.page_size_combo.count() - 1
        self.page_size_combo.setCurrentIndex(index)

    @property
    def page_size(self) -> int:
        return int(self.page_size_combo.currentData() or DEFAULT_PAGE_SIZE)

    @property
    def page(self) -> int:
        return self._page

    @property
    def page_count(self) -> int:
        if self._order is None or not len(self._order):
            return 1
        return -(-len(self._order) // self.page_size)

    def shutdown(self) -> None:
        """Stop timers and the loader thread: called when the window closes."""
        self._reload_timer.stop()
        self._runner.shutdown()

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)

        chooser = QHBoxLayout()
        self.dataset_combo = named(QComboBox(), "datasetCombo", "Dataset",
                                   "the data the model learns from")
        self.dataset_combo.setPlaceholderText("Loading datasets…")
        self.dataset_combo.setEnabled(False)
        self.dataset_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.dataset_combo.activated.connect(self._on_dataset_activated)
        label = QLabel("&Dataset")
        label.setBuddy(self.dataset_combo)
        chooser.addWidget(label)
        chooser.addWidget(self.dataset_combo)
        chooser.addSpacing(12)
        self.busy_bar = named(QProgressBar(), "loadingIndicator", "Loading")
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setMaximumHeight(self.fontMetrics().height())
        self.busy_label = named(QLabel(), "loadingLabel", "Loading status")
        chooser.addWidget(self.busy_bar)
        chooser.addWidget(self.busy_label)
        chooser.addStretch(1)
        layout.addLayout(chooser)

        folder_row = QHBoxLayout()
        self.folder_edit = named(QLineEdit(), "dataFolderEdit", "Data folder",
                                 "where MNIST, Fashion-MNIST and CIFAR-10 are read from "
                                 "and downloaded to")
        self.folder_edit.editingFinished.connect(self._on_folder_edited)
        folder_label = QLabel("Data &folder")
        folder_label.setBuddy(self.folder_edit)
        self.browse_button = named(QToolButton(), "browseDataFolderButton", "Choose data folder",
                                   "choose the folder datasets are read from")
        self.browse_button.setIcon(icon("folder"))
        self.browse_button.clicked.connect(self._on_browse_clicked)
        self.download_button = named(QPushButton("Download"), "downloadButton",
                                     "Download dataset")
        self.download_button.setIcon(icon("download"))
        self.download_button.clicked.connect(self._on_download_clicked)
        folder_row.addWidget(folder_label)
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.browse_button)
        folder_row.addWidget(self.download_button)
        layout.addLayout(folder_row)

        layout.addWidget(self._build_message())
        layout.addWidget(self._build_colour_notice())

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("dataSplitter")
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_grid_area())
        facts_scroll = QScrollArea()
        facts_scroll.setObjectName("datasetFactsScroll")
        facts_scroll.setWidgetResizable(True)
        facts_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.facts = DatasetFacts()
        facts_scroll.setWidget(self.facts)
        # As narrow as its content allows beside a vertical scroll bar (the window
        # must fit a 1024-pixel screen with the model panel docked beside it).
        facts_scroll.setMinimumWidth(self.facts.minimumSizeHint().width() + facts_scroll.style(
        ).pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent))
        splitter.addWidget(facts_scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([700, 300])
        layout.addWidget(splitter, 1)
        self._refresh_download_button()

    def _build_message(self) -> QFrame:
        frame, self.message_label, row = notice_frame("datasetMessage", "warning",
                                                      "datasetMessageLabel", "Dataset problem")
        buttons = QVBoxLayout()
        self.retry_button = named(QPushButton("Retry"), "retryButton", "Retry loading",
                                  "try loading the dataset again, e.g. after putting its "
                                  "files in place")
        self.retry_button.setIcon(icon("retry"))
        self.retry_button.clicked.connect(self._on_retry_clicked)
        self.dismiss_button = named(QPushButton("Dismiss"), "dismissMessageButton",
                                    "Dismiss message")
        self.dismiss_button.clicked.connect(self._on_dismiss_clicked)
        buttons.addWidget(self.retry_button)
        buttons.addWidget(self.dismiss_button)
        buttons.addStretch(1)
        row.addLayout(buttons)
        frame.setVisible(False)
        self.message_frame = frame
        return frame

    def _build_colour_notice(self) -> QFrame:
        frame, self.colour_label, row = notice_frame("colourNotice", "about",
                                                     "colourNoticeLabel", "Images in grey")
        self.colour_button = named(QPushButton("Use 3 input channels"), "colourInputButton",
                                   "Use 3 input channels",
                                   "set the model's input to 3 channels (RGB): the images "
                                   "are read in colour, and the first layer takes them")
        self.colour_button.clicked.connect(self.colourInputRequested)
        row.addWidget(self.colour_button, 0, Qt.AlignmentFlag.AlignTop)
        frame.setVisible(False)
        self.colour_frame = frame
        return frame

    def _show_colour_notice(self, dataset: Dataset) -> None:
        """Colour files read in grey because the model takes one channel: said plainly
        (the facts pane's "grey" alone looked like the files' own colour)."""
        count = dataset.colour_files
        self.colour_frame.setVisible(count > 0)
        if count:
            total = len(dataset.train) + len(dataset.test)
            some = "All" if count >= total else f"{count:,} of the {total:,}"
            self.colour_label.setText(
                f"{some} images in this folder are in colour, but the model takes 1 input "
                f"channel, so they are read in grey (the luminance of each pixel). Give the "
                f"model 3 input channels to train on the colours.")

    def _build_grid_area(self) -> QWidget:
        area = QWidget()
        layout = QVBoxLayout(area)
        layout.setContentsMargins(0, 0, 0, 0)

        controls = QHBoxLayout()
        self.split_combo = named(QComboBox(), "splitCombo", "Split",
                                 "training images (learned from) or test images (held out)")
        self.split_combo.addItem("Training", "train")
        self.split_combo.addItem("Test", "test")
        self.split_combo.currentIndexChanged.connect(self._on_split_changed)
        self.class_combo = named(QComboBox(), "classFilterCombo", "Class filter",
                                 "show only the images of one class")
        self.class_combo.addItem("All classes", -1)
        self.class_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.class_combo.currentIndexChanged.connect(self._on_class_changed)
        self.shuffle_button = named(QPushButton("Shuffle"), "shuffleButton", "Shuffle",
                                    "show the images in a new random order")
        self.shuffle_button.setIcon(icon("shuffle"))
        self.shuffle_button.clicked.connect(self._on_shuffle_clicked)
        self.originals_check = named(QCheckBox("Originals"), "originalsCheck",
                                     "Show originals",
                                     "show the images as stored, instead of resized and "
                                     "normalised as the model sees them")
        self.originals_check.toggled.connect(self._on_originals_toggled)
        for text, widget in (("&Split", self.split_combo), ("&Class", self.class_combo)):
            label = QLabel(text)
            label.setBuddy(widget)
            controls.addWidget(label)
            controls.addWidget(widget)
            controls.addSpacing(8)
        controls.addWidget(self.shuffle_button)
        controls.addWidget(self.originals_check)
        controls.addStretch(1)
        layout.addLayout(controls)

        self.grid = ImageGridView()
        self.grid.set_clickable(True)
        self.grid.imageChosen.connect(self.imageChosen)
        self.grid_scroll = QScrollArea()
        self.grid_scroll.setObjectName("imageGridScroll")
        self.grid_scroll.setWidgetResizable(True)
        self.grid_scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.grid_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.grid_scroll.setWidget(self.grid)
        layout.addWidget(self.grid_scroll, 1)
        self.grid_caption = hint_label("", "gridCaption")
        layout.addWidget(self.grid_caption)

        pager = QHBoxLayout()
        self.prev_button = named(QPushButton("Previous"), "prevPageButton", "Previous page")
        self.prev_button.setIcon(icon("previous"))
        self.prev_button.clicked.connect(self._on_prev_clicked)
        self.page_label = named(QLabel(), "pageLabel", "Page")
        self.page_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.page_label.setWordWrap(True)  # two lines rather than a wider window
        self.next_button = named(QPushButton("Next"), "nextPageButton", "Next page")
        self.next_button.setIcon(icon("next"))
        self.next_button.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
        self.next_button.clicked.connect(self._on_next_clicked)
        self.page_size_combo = named(QComboBox(), "pageSizeCombo", "Images per page")
        for size in PAGE_SIZES:
            self.page_size_combo.addItem(str(size), size)
        self.page_size_combo.setCurrentIndex(PAGE_SIZES.index(DEFAULT_PAGE_SIZE))
        self.page_size_combo.currentIndexChanged.connect(self._on_page_size_changed)
        pager.addWidget(self.prev_button)
        pager.addWidget(self.page_label, 1)
        pager.addWidget(self.next_button)
        pager.addSpacing(12)
        per_page = QLabel("Per &page")
        per_page.setBuddy(self.page_size_combo)
        pager.addWidget(per_page)
        pager.addWidget(self.page_size_combo)
        layout.addLayout(pager)
        return area

    # ------------------------------------------------------------------ loading

    def _data_root(self) -> str | None:
        text = self.folder_edit.text().strip()
        return text or None

    def _ensure_choices(self) -> None:
        """Fill the chooser from the catalog (no torch needed) once."""
        if self.dataset_combo.count():
            return
        self.dataset_combo.blockSignals(True)
        for info in catalog.dataset_choices():
            self.dataset_combo.addItem(info.title, info.name)
            self.dataset_combo.setItemData(self.dataset_combo.count() - 1,
                                           f"{info.title} — {info.source}",
                                           Qt.ItemDataRole.ToolTipRole)
        self.dataset_combo.addItem(icon("folder"), "Image folder…", _CHOOSE_FOLDER)
        self.dataset_combo.setItemData(self.dataset_combo.count() - 1,
                                       "a folder with one sub-folder of images per class",
                                       Qt.ItemDataRole.ToolTipRole)
        self.dataset_combo.blockSignals(False)
        self.dataset_combo.setEnabled(True)
        default_root = str(catalog.default_data_root())
        self.folder_edit.setPlaceholderText(default_root)
        if not self.folder_edit.text():
            self.folder_edit.setText(self._settings.data_root or default_root)

    def _select_in_combo(self, name: str | None) -> None:
        combo = self.dataset_combo
        combo.blockSignals(True)
        if name is None:
            combo.setCurrentIndex(-1)
        else:
            index = combo.findData(name)
            if index < 0 and name.startswith(FOLDER_PREFIX):
                path = name[len(FOLDER_PREFIX):]
                index = max(combo.count() - 1, 0)  # before "Image folder…"
                combo.insertItem(index, icon("folder"), f"Folder: {Path(path).name or path}",
                                 name)
                combo.setItemData(index, path, Qt.ItemDataRole.ToolTipRole)
            combo.setCurrentIndex(index)
        combo.blockSignals(False)

    @Slot(object)
    def _on_loaded(self, dataset: Dataset) -> None:
        self._shown, self._loading = self._loading, None
        self._ensure_choices()
        self._dataset = dataset
        self._settings.dataset = dataset.name
        if self._loading_chosen or (self._failed is not None
                                    and self._failed.name == dataset.name):
            self._failed = None
            self.message_frame.setVisible(False)
        self._select_in_combo(dataset.name)
        self._reset_class_filter()
        self._rebuild_order(shuffle=False)
        self.facts.show_dataset(dataset, dataset_title(dataset.name), self._split_name())
        self._show_colour_notice(dataset)
        self._refresh_download_button()
        self.datasetLoaded.emit(dataset)

    @Slot(object)
    def _on_load_failed(self, failure: TaskFailure) -> None:
        request, self._loading = self._loading, None
        chosen = self._loading_chosen
        self._ensure_choices()
        error = failure.error
        title = dataset_title(request.name) if request else "the dataset"
        if isinstance(error, DatasetError):
            message = failure.message
        elif isinstance(error, MemoryError):
            message = (f"There is not enough memory to load {title} at "
                       f"{format_shape(self._input_shape)}: choose a smaller model "
                       f"input size.")
        else:
            message = (f"Loading {title} failed unexpectedly ({type(error).__name__}: "
                       f"{failure.message}). The previous dataset is still in use.")
        if chosen or self._failed is None:
            self._failed = request
        follow_up = self._follow_up(request)
        if follow_up is not None:
            name, why = follow_up
            message += f" {why}"
            self.request_dataset(name, chosen=False)
        elif self._dataset is None:
            self._show_nothing("No dataset could be loaded.")
        if chosen or not self.message_frame.isVisible():
            self._show_message(message)
        else:  # a reload that followed the person's choice: add to what they were told
            self._show_message(f"{self.message_label.text()} {message}")
        self._select_in_combo(self.dataset_name)
        self._refresh_download_button()
        if self._loading is None:
            self.loadFailed.emit(message)

    def _follow_up(self, failed: LoadRequest | None) -> tuple[str, str] | None:
        """After a failed load, what to load so that the dataset shown is one read
        from the current data folder (or the bundled digits), with the words why.

        A dataset read from another folder than the one now named is reread from
        the new folder; if that fails too (or nothing is shown), the digits follow.
        """
        digits = (DEFAULT_DATASET, f"Showing {dataset_title(DEFAULT_DATASET)} instead.")
        if failed is None or failed.name == DEFAULT_DATASET:
            return None
        shown, root = self._shown, self._data_root()
        if self._dataset is None or shown is None:
            return digits
        if _is_downloadable(shown.name) and shown.root != root:
            if failed.name == shown.name and failed.root == root:
                return digits  # the shown dataset is not in the new folder either
            return shown.name, (f"{dataset_title(shown.name)} was read from another folder: "
                                f"reading it from {root or 'the data folder'}.")
        return None

    @Slot(bool)
    def _on_busy_changed(self, busy: bool) -> None:
        self._refresh_busy()
        self.busyChanged.emit(busy)

    def _refresh_busy(self) -> None:
        busy = self._runner.busy and self._loading is not None
        self.busy_bar.setVisible(busy)
        self.busy_label.setText(f"Loading {self.loading_title}…" if busy else "")

    @Slot()
    def _on_reload_timer(self) -> None:
        if self._loading is not None:  # still loading what was chosen: load it at this shape
            self.request_dataset(self._loading.name, self._loading.download,
                                 chosen=self._loading_chosen)
        elif self.dataset_name is not None:
            self.request_dataset(self.dataset_name, chosen=False)

    def _show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setAccessibleDescription(text)
        self.retry_button.setVisible(self._failed is not None)
        self.message_frame.setVisible(True)

    def _refresh_download_button(self) -> None:
        target = self._download_target()
        self.download_button.setEnabled(target is not None)
        if target is None:
            self.download_button.setText("Download")
            self.download_button.setToolTip("MNIST, Fashion-MNIST and CIFAR-10 can be "
                                            "downloaded into the data folder")
        else:
            self.download_button.setText(f"Download {dataset_title(target).split(' (')[0]}")
            self.download_button.setToolTip(f"download {dataset_title(target)} into "
                                            f"{self._data_root() or 'the data folder'}")

    def _download_target(self) -> str | None:
        if self.dataset_combo.count() == 0:
            return None  # core.data not imported yet
        if self._failed is not None and _is_downloadable(self._failed.name):
            return self._failed.name
        return self.dataset_name if _is_downloadable(self.dataset_name) else None

    # ------------------------------------------------------------------ reactions

    @Slot(int)
    def _on_dataset_activated(self, index: int) -> None:
        name = self.dataset_combo.itemData(index)
        if name == _CHOOSE_FOLDER:
            start = str(Path.home())
            path = QFileDialog.getExistingDirectory(self, "Choose an image folder", start)
            if path:
                self.request_dataset(f"{FOLDER_PREFIX}{path}")
            else:
                self._select_in_combo(self.dataset_name)
            return
        if name and (name != self.dataset_name or self._failed is not None):
            self.request_dataset(name)

    @Slot()
    def _on_folder_edited(self) -> None:
        root = self._data_root()
        default = self.folder_edit.placeholderText()
        if root == self._settings.data_root or (root == default and not self._settings.data_root):
            return
        self._settings.data_root = None if root == default else root
        self._refresh_download_button()
        # What was missing may be in the new folder; what was loaded may differ there.
        loaded = self.dataset_name
        if self._failed is not None and _is_downloadable(self._failed.name):
            self.request_dataset(self._failed.name)
        elif loaded is not None and _is_downloadable(loaded):
            self.request_dataset(loaded)

    @Slot()
    def _on_browse_clicked(self) -> None:
        start = self._data_root() or str(Path.home())
        path = QFileDialog.getExistingDirectory(self, "Choose the data folder", start)
        if path:
            self.folder_edit.setText(path)
            self._on_folder_edited()

    @Slot()
    def _on_download_clicked(self) -> None:
        target = self._download_target()
        if target is not None:
            self.request_dataset(target, download=True)

    @Slot()
    def _on_retry_clicked(self) -> None:
        if self._failed is not None:
            self.request_dataset(self._failed.name, self._failed.download)

    @Slot()
    def _on_dismiss_clicked(self) -> None:
        self.message_frame.setVisible(False)

    # ------------------------------------------------------------------ the grid

    def _split_name(self) -> str:
        return str(self.split_combo.currentData() or "train")

    def _reset_class_filter(self) -> None:
        combo = self.class_combo
        previous = combo.currentText()
        combo.blockSignals(True)
        combo.clear()
        combo.addItem("All classes", -1)
        if self._dataset is not None:
            for i, name in enumerate(self._dataset.classes):
                combo.addItem(name, i)
        index = combo.findText(previous)
        combo.setCurrentIndex(index if index >= 0 else 0)
        combo.blockSignals(False)

    def _rebuild_order(self, shuffle: bool) -> None:
        import numpy as np

        if self._dataset is None:
            return
        labels = self._dataset.split(self._split_name()).labels.numpy()
        wanted = int(self.class_combo.currentData())
        order = np.flatnonzero(labels == wanted) if wanted >= 0 else np.arange(len(labels))
        if shuffle:
            order = np.random.default_rng().permutation(order)
        self._order = order
        self._page = 0
        self._render_page()

    def _show_digits_preview(self) -> None:
        """The first page of the bundled digits as stored, before torch has loaded.

        The load that follows imports torch, which takes seconds; the shipped array
        file is read and drawn with numpy in milliseconds (core.digits, core.grids),
        so the person sees the data at once and the model's view replaces it. Not
        clickable: an image's trace needs the loaded dataset.
        """
        from netexplorer.core import digits
        from netexplorer.core.grids import image_grid

        try:
            arrays = digits.read_digits()
        except DatasetError:
            return  # the load that follows says what is wrong
        split = self._split_name()
        in_test = arrays.test_mask()
        chosen = (in_test if split == "test" else ~in_test).nonzero()[0][:self.page_size]
        images, labels = arrays.images[chosen], arrays.labels[chosen]
        scale = display_scale(digits.SIDE, digits.SIDE)
        grid = image_grid(images, labels, digits.CLASSES, columns=len(chosen), padding=1,
                          scale=scale)
        self.grid.show_grid(grid, [f"{digits.CLASSES[int(label)]} — {split} image #{i:,}"
                                   for i, label in enumerate(labels)])
        self.grid_caption.setText(f"Stored images ({format_shape(images.shape[1:])}), shown "
                                  f"{scale}× enlarged — the model's view follows once the "
                                  f"dataset has loaded")

    def _show_nothing(self, message: str) -> None:
        self.grid.show_message(message)
        self.page_label.setText("")
        self.grid_caption.setText("")
        for widget in (self.prev_button, self.next_button, self.shuffle_button):
            widget.setEnabled(False)

    def _render_page(self) -> None:
        dataset = self._dataset
        if dataset is None or self._order is None:
            return
        import torch

        from netexplorer.core.data import image_grid

        total = len(self._order)
        self._page = max(0, min(self._page, self.page_count - 1))
        start = self._page * self.page_size
        indices = self._order[start:start + self.page_size]
        self.prev_button.setEnabled(self._page > 0)
        self.next_button.setEnabled(self._page < self.page_count - 1)
        self.shuffle_button.setEnabled(total > 1)
        if not len(indices):
            self.grid.show_message("No images of this class in this split.")
            self.page_label.setText("0 images")
            return
        split = dataset.split(self._split_name())
        index = torch.from_numpy(indices)
        originals = self.originals_check.isChecked()
        images = (split.originals if originals else split.images).index_select(0, index)
        labels = split.labels.index_select(0, index)
        grid = image_grid(images, labels, dataset.classes,
                          normalization=None if originals else dataset.normalization,
                          columns=len(indices), padding=1,
                          scale=display_scale(images.shape[-2], images.shape[-1]))
        tooltips = [f"{dataset.classes[int(label)]} — {self._split_name()} image #{int(i):,}"
                    for i, label in zip(indices, labels)]
        self.grid.show_grid(grid, tooltips, sources=(self._split_name(), indices))
        self.grid_scroll.verticalScrollBar().setValue(0)
        self.page_label.setText(f"Page {self._page + 1:,} of {self.page_count:,} · "
                                f"{total:,} images")
        shape = format_shape(images.shape[1:])
        self.grid_caption.setText(
            f"Stored images ({shape}), shown {display_scale(*images.shape[-2:])}× enlarged"
            if originals else
            f"As the model sees them: {shape}, normalisation undone for display, shown "
            f"{display_scale(*images.shape[-2:])}× enlarged")

    @Slot(int)
    def _on_split_changed(self, _index: int) -> None:
        if self._dataset is not None:
            self.facts.show_dataset(self._dataset, dataset_title(self._dataset.name),
                                    self._split_name())
        self._rebuild_order(shuffle=False)

    @Slot(int)
    def _on_class_changed(self, _index: int) -> None:
        self._rebuild_order(shuffle=False)

    @Slot()
    def _on_shuffle_clicked(self) -> None:
        self._rebuild_order(shuffle=True)

    @Slot(bool)
    def _on_originals_toggled(self, _checked: bool) -> None:
        self._render_page()

    @Slot()
    def _on_prev_clicked(self) -> None:
        self._page -= 1
        self._render_page()

    @Slot()
    def _on_next_clicked(self) -> None:
        self._page += 1
        self._render_page()

    @Slot(int)
    def _on_page_size_changed(self, _index: int) -> None:
        self._page = 0
        self._render_page()
