"""The main window: model panel docked left, tabs in the centre, menus, status.

MainWindow() builds the whole application window with its defaults; tests and
tools construct it that way. Later panels join with one call: add_tab() for a
centre tab, add_dock() for a dock (it gets its View-menu toggle there too).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Slot, qVersion
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QTabWidget, QWidget,
)

from netexplorer import __version__
from netexplorer.core.assets import read_text
from netexplorer.core.files import write_text_atomically
from netexplorer.core.presets import DEFAULT_PRESET, get_preset
from netexplorer.core.specs import ModelSpec, SpecError, read_spec_file
from netexplorer.ui.widgets.accessibility import named
from netexplorer.ui.data.data_view import DataView, dataset_title
from netexplorer.ui.session.environment import Environment, probe_environment
from netexplorer.ui.icons import icon
from netexplorer.ui.model.model_panel import ModelPanel
from netexplorer.ui.widgets.plots import RedrawClock
from netexplorer.ui.settings import AppSettings
from netexplorer.ui.session.training_session import TrainingSession
from netexplorer.ui.training.training_panel import install_training
from netexplorer.ui.visual_debugging import install_visual_debugging
from netexplorer.ui.session.workers import TaskFailure, TaskRunner

APP_TITLE = "netexplorer"
SPEC_FILTER = "Model specs (*.json);;All files (*)"
CHECKPOINTS_LATER = "available once training exists"
# Without a paint (a window built but never shown) the first load still starts.
_UNSHOWN_START_MS = 500
_DEFAULT_SIZE = (1280, 800)
_DOCK_WIDTH = 430


class MainWindow(QMainWindow):
    """netexplorer's window; `model_panel` and `data_view` are its two parts so far."""

    def __init__(self, settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._painted = False  # set before anything that sends the window events
        self.setObjectName("mainWindow")
        self.setWindowIcon(icon("netexplorer"))
        self.setStyleSheet(read_text("styles", "netexplorer.qss"))
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks
                            | QMainWindow.DockOption.AllowTabbedDocks)
        self.settings = AppSettings(settings)
        self._spec_path: Path | None = None
        self._environment: Environment | None = None
        self._shut_down = False

        spec = self._remembered_spec()
        self.model_panel = ModelPanel(spec)
        self.data_view = DataView(self.settings, spec.input_shape)

        self.tabs = named(QTabWidget(), "mainTabs", "Views")
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.add_tab(self.data_view, "Data", icon("data"))

        self.model_dock = QDockWidget("Model", self)
        self.model_dock.setObjectName("modelDock")
        self.model_dock.setWidget(self.model_panel)
        self.model_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                                    | QDockWidget.DockWidgetFeature.DockWidgetClosable
                                    | QDockWidget.DockWidgetFeature.DockWidgetFloatable)

        self._create_actions()
        self._create_menus()
        self._create_status_bar()
        self.add_dock(self.model_dock, Qt.DockWidgetArea.LeftDockWidgetArea)

        stack = self.model_panel.undo_stack
        stack.cleanChanged.connect(self._on_clean_changed)
        self.model_panel.specChanged.connect(self._on_spec_changed)
        self.model_panel.validityChanged.connect(self._on_validity_changed)
        self.data_view.datasetLoaded.connect(self._on_dataset_loaded)
        self.data_view.busyChanged.connect(self._on_data_busy_changed)

        self._env_runner = TaskRunner("environment probe", self)
        self._env_runner.finished.connect(self._on_environment)
        self._env_runner.failed.connect(self._on_environment_failed)
        # The first dataset load (which imports torch) waits for the first paint,
        # so that the window appears before the import competes for the GIL.
        self._startup_timer = QTimer(self)
        self._startup_timer.setObjectName("startupTimer")
        self._startup_timer.setSingleShot(True)
        self._startup_timer.timeout.connect(self._on_startup_timer)
        self._startup_timer.start(_UNSHOWN_START_MS)
        self.installEventFilter(self)  # the first paint starts the first load at once

        # The model being trained and its runs, shared by every panel below; one
        # redraw timer for every live plot.
        self.session = TrainingSession(self)
        self.redraw_clock = RedrawClock(self)
        self.model_panel.specChanged.connect(self._on_spec_for_session)
        self._on_spec_for_session(self.model_panel.spec)
        self.data_view.datasetLoaded.connect(self._on_dataset_for_session)
        self.data_view.loadFailed.connect(self._on_data_failed_for_session)

        # Later panels install themselves here, one call each (tab, menus, status).
        install_training(self)
        install_visual_debugging(self)

        self._restore_layout()
        self._update_title()
        self._update_state()

    # ------------------------------------------------------------------ extension points

    def add_tab(self, widget: QWidget, title: str, tab_icon: QIcon | None = None) -> int:
        """Add a centre tab (Training, Inspector, Evaluation come this way)."""
        if tab_icon is None:
            return self.tabs.addTab(widget, title)
        return self.tabs.addTab(widget, tab_icon, title)

    def add_dock(self, dock: QDockWidget, area: Qt.DockWidgetArea) -> None:
        """Add a dock and its show/hide toggle in the View menu."""
        self.addDockWidget(area, dock)
        toggle = dock.toggleViewAction()
        toggle.setObjectName(f"toggle{dock.objectName()[:1].upper()}{dock.objectName()[1:]}"
                             "Action")
        toggle.setText(f"{dock.windowTitle()} panel")
        toggle.setStatusTip(f"show or hide the {dock.windowTitle().lower()} panel")
        self.view_menu.addAction(toggle)

    # ------------------------------------------------------------------ actions and menus

    def _action(self, text: str, object_name: str, icon_name: str | None = None,
                shortcut: QKeySequence.StandardKey | None = None, tip: str = "",
                slot=None) -> QAction:  # noqa: ANN001 - a bound method
        act = QAction(text, self)
        act.setObjectName(object_name)
        if icon_name:
            act.setIcon(icon(icon_name))
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setToolTip(tip)
            act.setStatusTip(tip)
        if slot is not None:
            act.triggered.connect(slot)
        return act

    def _create_actions(self) -> None:
        K = QKeySequence.StandardKey
        self.new_action = self._action("&New model", "newModelAction", "new", K.New,
                                       "start an empty model", self._on_new)
        self.open_spec_action = self._action("&Open model spec…", "openSpecAction", "open",
                                             K.Open, "open a model saved as JSON",
                                             self._on_open_spec)
        self.save_spec_action = self._action("&Save model spec…", "saveSpecAction", "save",
                                             K.Save, "save the model as JSON",
                                             self._on_save_spec)
        self.save_spec_as_action = self._action("Save model spec &as…", "saveSpecAsAction",
                                                "save-as", K.SaveAs,
                                                "save the model as JSON under a new name",
                                                self._on_save_spec_as)
        self.open_checkpoint_action = self._action("Open &checkpoint…", "openCheckpointAction",
                                                   "checkpoint", tip=CHECKPOINTS_LATER)
        self.save_checkpoint_action = self._action("Save c&heckpoint…", "saveCheckpointAction",
                                                   "checkpoint", tip=CHECKPOINTS_LATER)
        for act in (self.open_checkpoint_action, self.save_checkpoint_action):
            act.setEnabled(False)
        self.quit_action = self._action("&Quit", "quitAction", "quit", K.Quit,
                                        "close netexplorer", self.close)
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        stack = self.model_panel.undo_stack
        self.undo_action = stack.createUndoAction(self, "&Undo")
        self.undo_action.setObjectName("undoAction")
        self.undo_action.setShortcut(QKeySequence(K.Undo))
        self.undo_action.setIcon(icon("undo"))
        self.redo_action = stack.createRedoAction(self, "&Redo")
        self.redo_action.setObjectName("redoAction")
        self.redo_action.setShortcut(QKeySequence(K.Redo))
        self.redo_action.setIcon(icon("redo"))

        self.about_action = self._action("&About netexplorer", "aboutAction", "about",
                                         tip="versions of netexplorer, PyTorch and Qt",
                                         slot=self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

    def _create_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.setObjectName("fileMenu")
        file_menu.setToolTipsVisible(True)  # says why the checkpoint entries are disabled
        file_menu.addActions([self.new_action, self.open_spec_action, self.save_spec_action,
                              self.save_spec_as_action])
        file_menu.addSeparator()
        file_menu.addActions([self.open_checkpoint_action, self.save_checkpoint_action])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.setObjectName("editMenu")
        edit_menu.addActions([self.undo_action, self.redo_action])
        self.view_menu = bar.addMenu("&View")
        self.view_menu.setObjectName("viewMenu")
        help_menu = bar.addMenu("&Help")
        help_menu.setObjectName("helpMenu")
        help_menu.addAction(self.about_action)

    def _create_status_bar(self) -> None:
        status = self.statusBar()
        status.setObjectName("statusBar")
        self.state_label = named(QLabel(), "stateLabel", "State")
        self.device_label = named(QLabel("Device: …"), "deviceLabel", "Device",
                                  "where models run")
        self.threads_label = named(QLabel("CPU threads: …"), "threadsLabel", "CPU threads",
                                   "CPU threads PyTorch uses while the window is open (one core "
                                   "is left to the window; NETEXPLORER_THREADS overrides)")
        status.addWidget(self.state_label, 1)
        status.addPermanentWidget(self.device_label)
        status.addPermanentWidget(self.threads_label)

    # ------------------------------------------------------------------ startup and shutdown

    def _remembered_spec(self) -> ModelSpec:
        text = self.settings.spec_json
        if text:
            try:
                return ModelSpec.from_json(text, check_shapes=False)
            except SpecError:
                pass  # a stale or damaged entry: start from the default instead
        return get_preset(DEFAULT_PRESET)

    def _restore_layout(self) -> None:
        geometry = self.settings.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(*_DEFAULT_SIZE)
        state = self.settings.window_state
        if state is None or not self.restoreState(state):
            self.resizeDocks([self.model_dock], [_DOCK_WIDTH], Qt.Orientation.Horizontal)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Watches the window's own events until its first paint, then stops: an
        # event() override would run Python (holding the GIL) for every event of the
        # window for its whole life, including the repaints of everything in it,
        # which the training thread would wait for.
        if watched is self and event.type() == QEvent.Type.Paint and not self._painted:
            self._painted = True
            self.removeEventFilter(self)
            if self._startup_timer.isActive():
                self._startup_timer.start(0)
        return False

    @Slot()
    def _on_startup_timer(self) -> None:
        if self._shut_down:
            return
        self.data_view.start()
        self._env_runner.submit(probe_environment)

    def shutdown(self) -> None:
        """Stop timers and wait for worker threads; remember the session. Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        self._startup_timer.stop()
        self.redraw_clock.stop()
        self.session.shutdown()
        self.settings.geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.spec_json = self.model_panel.spec.to_json(indent=None)
        self.data_view.shutdown()
        self._env_runner.shutdown()
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        # The model is kept in the settings, so closing never loses it: no prompt.
        self.shutdown()
        event.accept()

    # ------------------------------------------------------------------ files

    def _spec_folder(self) -> str:
        folder = self.settings.spec_folder
        return folder if folder and Path(folder).is_dir() else str(Path.home())

    def open_spec(self, path: str | os.PathLike | None = None) -> bool:
        """Open a model spec file; a broken one is explained and the model kept."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open model spec", self._spec_folder(),
                                                  SPEC_FILTER)
            if not path:
                return False
        path = Path(path)
        try:
            spec = read_spec_file(path, check_shapes=False)
        except OSError as exc:
            self._explain_open_failure(path, f"it could not be read ({exc.strerror or exc})")
            return False
        except SpecError as exc:
            self._explain_open_failure(path, str(exc))
            return False
        self.model_panel.set_spec(spec, f"Open {path.name}")
        self.model_panel.undo_stack.setClean()
        self._spec_path = path
        self.settings.spec_folder = str(path.parent)
        self._update_title()
        self.statusBar().showMessage(f"Opened {path}", 5000)
        return True

    def _explain_open_failure(self, path: Path, reason: str) -> None:
        QMessageBox.critical(self, "Could not open the model",
                             f"{path.name} could not be opened: {reason}.\n\n"
                             f"Your current model is unchanged.")

    def save_spec(self, path: str | os.PathLike | None = None) -> bool:
        """Save to `path`, to the file the model came from, or ask where."""
        if path is None and self._spec_path is None:
            return self.save_spec_as()
        return self._write_spec(Path(path) if path is not None else self._spec_path)

    def save_spec_as(self) -> bool:
        suggested = str(Path(self._spec_folder()) / f"{self.model_panel.spec.name}.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save model spec", suggested, SPEC_FILTER)
        if not path:
            return False
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".json")
        return self._write_spec(path)

    def _write_spec(self, path: Path) -> bool:
        try:  # a failed save never truncates the file that was there
            write_text_atomically(path, self.model_panel.spec.to_json() + "\n")
        except OSError as exc:
            QMessageBox.warning(self, "Could not save the model",
                                f"The model could not be saved to {path}: "
                                f"{exc.strerror or exc}.\n\nChoose another folder with "
                                f"File → Save model spec as….")
            return False
        self._spec_path = path
        self.settings.spec_folder = str(path.parent)
        self.model_panel.undo_stack.setClean()
        self._update_title()
        self.statusBar().showMessage(f"Saved to {path}", 5000)
        return True

    def new_model(self) -> None:
        """An empty model with the current input shape; the old one stays undoable."""
        spec = ModelSpec("untitled", self.model_panel.spec.input_shape, ())
        self.model_panel.set_spec(spec, "New model")
        self.model_panel.undo_stack.setClean()
        self._spec_path = None
        self._update_title()

    # ------------------------------------------------------------------ about

    def show_about(self) -> None:
        env = self._environment
        rows = [("netexplorer", __version__),
                ("PyTorch", env.torch_version if env else "still loading"),
                ("Qt", f"{qVersion()} (PySide6 {pyside_version})"),
                ("Python", platform.python_version()),
                ("Device", env.device if env else "still loading")]
        table = "".join(f"<tr><td>{k}</td><td>&nbsp;{v}</td></tr>" for k, v in rows)
        QMessageBox.about(self, "About netexplorer",
                          "<h3>netexplorer</h3><p>Build, train and visually debug small "
                          f"PyTorch networks.</p><table>{table}</table>")

    # ------------------------------------------------------------------ reactions

    @Slot()
    def _on_new(self) -> None:
        self.new_model()

    @Slot()
    def _on_open_spec(self) -> None:
        self.open_spec()

    @Slot()
    def _on_save_spec(self) -> None:
        self.save_spec()

    @Slot()
    def _on_save_spec_as(self) -> None:
        self.save_spec_as()

    @Slot(bool)
    def _on_clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)

    @Slot(object)
    def _on_spec_changed(self, spec: ModelSpec) -> None:
        self.data_view.set_input_shape(spec.input_shape)
        self.settings.spec_json = spec.to_json(indent=None)
        self._update_title()
        self._update_state()

    @Slot(object)
    def _on_spec_for_session(self, spec: ModelSpec) -> None:
        if self.model_panel.is_valid:  # an invalid stack never reaches training
            self.session.set_spec(spec)

    @Slot(object)
    def _on_dataset_for_session(self, dataset: object) -> None:
        self.session.set_dataset(dataset)

    @Slot(str)
    def _on_data_failed_for_session(self, reason: str) -> None:
        self.session.data_unavailable(reason)

    @Slot(bool)
    def _on_validity_changed(self, _valid: bool) -> None:
        self._update_state()

    @Slot(object)
    def _on_dataset_loaded(self, _dataset: object) -> None:
        self._update_state()

    @Slot(bool)
    def _on_data_busy_changed(self, _busy: bool) -> None:
        self._update_state()

    @Slot(object)
    def _on_environment(self, env: Environment) -> None:
        self._environment = env
        self.device_label.setText(f"Device: {env.device}")
        self.threads_label.setText(f"CPU threads: {env.threads}")

    @Slot(object)
    def _on_environment_failed(self, failure: TaskFailure) -> None:
        self.device_label.setText("Device: unavailable")
        self.device_label.setToolTip(f"PyTorch could not be loaded: {failure.message}")
        self.threads_label.setText("CPU threads: —")

    def _update_title(self) -> None:
        shown = self._spec_path.name if self._spec_path else self.model_panel.spec.name
        self.setWindowTitle(f"{shown}[*] — {APP_TITLE}")

    def _update_state(self) -> None:
        """One line on what the app is doing and whether it is ready to train."""
        parts = []
        if self.data_view.busy and self.data_view.loading_title:
            parts.append(f"Loading {self.data_view.loading_title}…")
        panel = self.model_panel
        if panel.is_valid:
            parts.append(f"Model {panel.spec.name}: {panel.summary.total_params:,} parameters")
        else:
            parts.append("The model has an error: see the model panel")
        dataset = self.data_view.dataset
        if dataset is not None:
            parts.append(f"Data: {dataset_title(dataset.name)}, "
                         f"{len(dataset.train):,} training images")
        self.state_label.setText(" · ".join(parts))
