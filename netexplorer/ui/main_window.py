"""The main window, and the one place where the application is put together.

MainWindow builds everything top-down, each part given what it needs and nothing
more (napari's Window does the same with its viewer and docks):

- the shared state: the settings, the TrainingSession (the model being trained
  and its runs) and the RedrawClock every live view draws on;
- the panels a person sees — the model panel docked left; the Data, Training,
  Inspector and Evaluation tabs, the Explain window a click on an image opens —
  each knowing only the session, the clock and the settings, never the window;
- the file commands (SpecFiles, CheckpointFiles, Exporter), which own their
  actions;
- the menus, declared here in full, and the status bar;
- the connections between panels, all in _connect_panels().

MainWindow() builds the whole window with its defaults; tests and tools
construct it that way. See docs/ARCHITECTURE.md for the picture.

The first paint comes before most of the window is built. What it shows is
built at once: the menus, the toolbar with the training controls, the model
panel, the Data tab and the status bar. The Training, Inspector, Evaluation and
Autograd tabs hold empty pages until the turn of the event loop after the first
paint (after the digits have been drawn), when their panels are built and take
their places; the Explain window is built when an image is first clicked. Those
panels draw with pyqtgraph, whose import and plots cost more than the rest of
the window together (0.35 s and 0.25 s here). Reading one of them — a test's
window.training_panel, a click on its tab — builds them all at once, so nothing
ever sees a missing panel.
"""

from __future__ import annotations

import platform
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QEvent, QObject, QSettings, QSize, Qt, QTimer, Slot, qVersion
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from netexplorer import __version__
from netexplorer.core.assets import read_text
from netexplorer.core.presets import DEFAULT_PRESET, get_preset
from netexplorer.core.runs.folders import resolve_runs_dir
from netexplorer.core.specs import ModelSpec, SpecError
from netexplorer.ui.data.data_view import DataView, dataset_title
from netexplorer.ui.files.checkpoint_files import CheckpointFiles
from netexplorer.ui.files.export import Exporter
from netexplorer.ui.icons import icon
from netexplorer.ui.model.model_panel import ModelPanel
from netexplorer.ui.model.spec_files import SpecFiles
from netexplorer.ui.session.environment import Environment, probe_environment
from netexplorer.ui.session.training_session import TrainingSession
from netexplorer.ui.session.workers import TaskFailure, TaskRunner
from netexplorer.ui.settings import AppSettings
from netexplorer.ui.training.training_controls import TrainingControls, training_status_label
from netexplorer.ui.widgets.accessibility import named
from netexplorer.ui.widgets.actions import make_action
from netexplorer.ui.widgets.redraw_clock import RedrawClock
from netexplorer.ui.widgets.result_banner import ResultBanner

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.ui.autograd.autograd_panel import AutogradPanel
    from netexplorer.ui.evaluation.evaluation_panel import EvaluationPanel
    from netexplorer.ui.explain.explain_window import ExplainWindow
    from netexplorer.ui.inspector.inspector_panel import InspectorPanel
    from netexplorer.ui.training.training_panel import TrainingPanel

APP_TITLE = "netexplorer"
# Without a paint (a window built but never shown) the first load still starts.
_UNSHOWN_START_MS = 500
_DEFAULT_SIZE = (1280, 800)
FIRST_RUN_HINT = ("New here? Pick a model on the left (a preset, or your own layers), look at "
                  "the data in the Data tab, then press Train (F5): the loss and accuracy draw "
                  "live, and the Inspector shows every layer while it trains.")
_DOCK_WIDTH = 430
# The tabs whose panels are built after the first paint: object name, title, icon.
_LATE_TABS = (("trainingPage", "Training", "training"), ("inspectorPage", "Inspector", "inspect"),
              ("evaluationPage", "Evaluation", "evaluate"), ("autogradPage", "Autograd",
                                                            "autograd"))


@dataclass(frozen=True)
class _LatePanels:
    """The tabs' panels built after the first paint (see the module doc)."""

    training: TrainingPanel
    inspector: InspectorPanel
    evaluation: EvaluationPanel
    autograd: AutogradPanel


class MainWindow(QMainWindow):
    """netexplorer's window: see the module doc for how it is put together."""

    def __init__(self, settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._painted = False  # set before anything that sends the window events
        self._shut_down = False
        self._environment: Environment | None = None
        self._panels: _LatePanels | None = None
        self._explain_window: ExplainWindow | None = None
        self._late_pages: list[QWidget] = []  # where the late panels go, until built
        # The late panels' builder while it is under way (it holds the window: made
        # at its first step, dropped when done or at shutdown, so no cycle outlives it).
        self._late_builder: Generator[None, None, None] | None = None
        self._opened = False
        self.setObjectName("mainWindow")
        self.setWindowIcon(icon("netexplorer"))
        self.setStyleSheet(read_text("styles", "netexplorer.qss"))
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks
                            | QMainWindow.DockOption.AllowTabbedDocks)

        # The shared state.
        self.settings = AppSettings(settings)
        self.session = TrainingSession(self)
        self.session.set_runs_folder(resolve_runs_dir(self.settings.runs_dir))
        # The inspector's setting, which it shows once it is built (after the first paint).
        self.session.probe_every = self.settings.probe_every()
        self.redraw_clock = RedrawClock(self)

        # The panels.
        spec = self._remembered_spec()
        self.model_panel = ModelPanel(spec)
        self.data_view = DataView(self.settings, spec.input_shape)
        # The training panel's controls and status label, shown before the panel is
        # built: the toolbar and status bar are in the first paint.
        self.training_controls = TrainingControls()
        self.training_status_label = training_status_label()

        # The file commands.
        self.spec_files = SpecFiles(self.model_panel, self.settings, self)
        self.checkpoint_files = CheckpointFiles(self.session, self.settings, self)
        self.exporter = Exporter(self.session, self.settings, self)

        self.tabs = named(QTabWidget(), "mainTabs", "Views")
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        # The first-run hint sits above the data, where the window opens (the tab
        # whose least height leaves it room at 1024×640).
        self.first_run_hint = ResultBanner(object_name="firstRunHint")
        data_page = QWidget()
        column = QVBoxLayout(data_page)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        hint_row = QVBoxLayout()
        hint_row.setContentsMargins(8, 8, 8, 0)  # the data view keeps its own margins
        hint_row.addWidget(self.first_run_hint)
        column.addLayout(hint_row)
        column.addWidget(self.data_view, 1)
        self.add_tab(data_page, "Data", icon("data"))
        for object_name, title, icon_name in _LATE_TABS:
            page = named(QWidget(), object_name, title)
            self._late_pages.append(page)
            self.add_tab(page, title, icon(icon_name))
        self.model_dock = QDockWidget("Model", self)
        self.model_dock.setObjectName("modelDock")
        self.model_dock.setWidget(self.model_panel)
        self.model_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                                    | QDockWidget.DockWidgetFeature.DockWidgetClosable
                                    | QDockWidget.DockWidgetFeature.DockWidgetFloatable)

        self._create_actions()
        self._create_toolbar()
        self._create_menus()
        self._create_status_bar()
        self.add_dock(self.model_dock, Qt.DockWidgetArea.LeftDockWidgetArea)

        # Background work of the window itself: the environment for the status bar,
        # and the first dataset load, which imports torch and so waits for the first
        # paint (the window appears before the import competes for the GIL).
        self._env_runner = TaskRunner("environment probe", self)
        self._startup_timer = QTimer(self)
        self._startup_timer.setObjectName("startupTimer")
        self._startup_timer.setSingleShot(True)
        self._startup_timer.start(_UNSHOWN_START_MS)
        self.installEventFilter(self)  # the first paint starts the first load at once

        self._connect_panels()
        if not self.settings.first_run_hint_seen:
            self.first_run_hint.show_result("hint", FIRST_RUN_HINT)
        self._on_spec_for_session(self.model_panel.spec)
        self._restore_layout()
        self._update_title()
        self._update_state()
        self._refresh_readiness()

    # ------------------------------------------------------------------ building

    def add_tab(self, widget: QWidget, title: str, tab_icon: QIcon | None = None) -> int:
        """Add a centre tab."""
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

    def _create_actions(self) -> None:
        """The window's own actions; the others belong to what they command."""
        K = QKeySequence.StandardKey
        self.runs_folder_action = make_action(
            self, "R&uns folder…", "runsFolderAction", icon_name="folder",
            tip="where every run is kept (metrics, checkpoints, TensorBoard files)",
            slot=self._on_choose_runs_folder)
        self.follow_run_action = make_action(
            self, "Fo&llow run…", "followRunAction",
            tip="show a run another process is writing (netexplorer train, a torchrun job), "
                "live and read-only", slot=self._on_follow_run)
        self.quit_action = make_action(self, "&Quit", "quitAction", icon_name="quit",
                                       shortcut=K.Quit, tip="close netexplorer",
                                       slot=self.close)
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
        self.about_action = make_action(self, "&About netexplorer", "aboutAction",
                                        icon_name="about",
                                        tip="versions of netexplorer, PyTorch and Qt",
                                        slot=self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

    def _create_toolbar(self) -> None:
        """Train / Pause / Step / Stop, reset weights and the run's progress, seen from
        every tab (the Training tab's own row, moved up here)."""
        self.training_toolbar = QToolBar("Training", self)
        self.training_toolbar.setObjectName("trainingToolBar")
        self.training_toolbar.setMovable(False)
        self.training_toolbar.addWidget(self.training_controls)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.training_toolbar)

    def _create_menus(self) -> None:
        """Every menu of the window, in full."""
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.file_menu.setObjectName("fileMenu")
        self.file_menu.setToolTipsVisible(True)  # says why disabled entries are disabled
        self.file_menu.addActions(list(self.spec_files.actions))
        self.file_menu.addSeparator()
        self.file_menu.addActions([self.checkpoint_files.open_action,
                                   self.checkpoint_files.save_action])
        self.file_menu.addSeparator()
        self.export_menu = self.file_menu.addMenu(icon("export"), "E&xport")
        self.export_menu.setObjectName("exportMenu")
        self.export_menu.setToolTipsVisible(True)
        self.export_menu.addActions(list(self.exporter.model_actions))
        self.export_menu.addSeparator()
        self.export_menu.addActions(list(self.exporter.metrics_actions))
        self.export_menu.aboutToShow.connect(self.exporter.refresh)
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.runs_folder_action)
        self.file_menu.addAction(self.follow_run_action)
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.quit_action)

        self.edit_menu = bar.addMenu("&Edit")
        self.edit_menu.setObjectName("editMenu")
        self.edit_menu.addActions([self.undo_action, self.redo_action])

        self.view_menu = bar.addMenu("&View")  # add_dock adds each dock's toggle
        self.view_menu.setObjectName("viewMenu")
        toolbar_toggle = self.training_toolbar.toggleViewAction()
        toolbar_toggle.setObjectName("toggleTrainingToolBarAction")
        toolbar_toggle.setText("Training toolbar")
        self.view_menu.addAction(toolbar_toggle)

        # The training commands with their shortcuts: they work whichever tab shows.
        self.training_menu = bar.addMenu("&Training")
        self.training_menu.setObjectName("trainingMenu")
        self.training_menu.addActions(list(self.training_controls.actions_in_order))

        self.help_menu = bar.addMenu("&Help")
        self.help_menu.setObjectName("helpMenu")
        self.help_menu.addAction(self.about_action)

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
        status.addPermanentWidget(self.training_status_label)
        status.addPermanentWidget(self.device_label)
        status.addPermanentWidget(self.threads_label)

    def _connect_panels(self) -> None:
        """Every connection between the parts of the window, in one place."""
        model, data, session = self.model_panel, self.data_view, self.session
        # The model panel's spec: the title, the data's input shape, the session.
        model.undo_stack.cleanChanged.connect(self._on_clean_changed)
        model.specChanged.connect(self._on_spec_for_session)
        model.specChanged.connect(self._on_spec_changed)
        model.validityChanged.connect(self._on_validity_changed)
        # The data view's dataset: the session, the inspector's feature maps, readiness.
        data.datasetLoaded.connect(self._on_dataset_loaded)
        data.loadFailed.connect(self._on_data_failed)
        data.busyChanged.connect(self._on_data_busy_changed)
        data.colourInputRequested.connect(self._on_colour_input_requested)
        # The session: a checkpoint's spec goes to the model panel, which cannot be
        # edited while a run trains; stored runs listed may bring the last model back.
        session.specLoaded.connect(model.set_spec)
        session.stateChanged.connect(self._on_training_state)
        session.storedRunsListed.connect(self._on_stored_runs_listed)
        # Train from any tab brings the Training tab forward (unless the Inspector
        # shows); the first run ends the first-run hint.
        self.training_controls.train_action.triggered.connect(self._on_train_triggered)
        session.runStarted.connect(self._on_first_run)
        self.first_run_hint.dismissed.connect(self.settings.set_first_run_hint_seen)
        # Files: what was opened sets the form and the data; messages go to the bar.
        self.checkpoint_files.checkpointOpened.connect(self._on_checkpoint_opened)
        self.spec_files.pathChanged.connect(self._update_title)
        for source in (self.spec_files, self.checkpoint_files, self.exporter):
            source.statusMessage.connect(self._on_status_message)
        # A click on an image anywhere opens its trace (the late panels' galleries
        # are connected in _connect_late_panels).
        data.imageChosen.connect(self._on_image_chosen)
        # A click on a tab whose panel is not built yet builds it (see the module doc).
        self.tabs.currentChanged.connect(self._on_tab_changed)
        # The window's own background work.
        self._env_runner.finished.connect(self._on_environment)
        self._env_runner.failed.connect(self._on_environment_failed)
        self._startup_timer.timeout.connect(self._on_startup_timer)

    def _connect_late_panels(self, panels: _LatePanels) -> None:
        """The connections of the panels built after the first paint."""
        model = self.model_panel
        for source in (panels.training, panels.autograd):
            source.statusMessage.connect(self._on_status_message)
        # The inspector: the layer a person picks, its setting, and a NaN found.
        panels.inspector.layerChosen.connect(model.select_layer)
        panels.inspector.probeSettingChanged.connect(self._on_probe_setting_changed)
        panels.inspector.nonFiniteFound.connect(self._on_nonfinite)
        # The autograd lab: the model's graph, and the layer a person clicks in it.
        panels.autograd.layerChosen.connect(model.select_layer)
        for gallery_owner in (panels.evaluation, panels.inspector):
            gallery_owner.imageChosen.connect(self._on_image_chosen)

    # ------------------------------------------------------------------ the late panels

    @property
    def opened(self) -> bool:
        """Whether the steps after the first paint have all run: the digits asked
        for, every panel in its tab, the stored runs listed (or their listing failed).
        A listing asked for after this one reads the store after it: the startup's,
        still under way, would otherwise answer first with an older folder."""
        return self._opened

    @property
    def training_panel(self) -> TrainingPanel:
        return self._late_panels().training

    @property
    def inspector_panel(self) -> InspectorPanel:
        return self._late_panels().inspector

    @property
    def evaluation_panel(self) -> EvaluationPanel:
        return self._late_panels().evaluation

    @property
    def autograd_panel(self) -> AutogradPanel:
        return self._late_panels().autograd

    @property
    def explain_window(self) -> ExplainWindow:
        """The window a click on an image opens, built at the first click."""
        if self._explain_window is None:
            from netexplorer.ui.explain.explain_window import ExplainWindow

            self._explain_window = ExplainWindow(self.session, self)
        return self._explain_window

    def _late_panels(self) -> _LatePanels:
        """The late panels, the parts not built yet built now."""
        while self._build_late_part():
            pass
        assert self._panels is not None
        return self._panels

    def _build_late_part(self) -> bool:
        """Build the next part of the late panels; False once they are all built."""
        if self._panels is not None:
            return False
        if self._late_builder is None:
            self._late_builder = self._late_panel_parts()
        if next(self._late_builder, True) is True:  # True: that was the last part
            self._late_builder = None
            return False
        return True

    def _late_panel_parts(self) -> Generator[None, None, None]:
        """Build the pyqtgraph panels one part per turn of the event loop (at startup,
        while torch loads on the loader's thread: the window answers between parts),
        put them in their tabs and tell them what the window already knows: the spec,
        the dataset, what stands in the way of training."""
        import pyqtgraph  # noqa: F401  (the largest part, 0.33 s here)

        yield
        from netexplorer.ui.autograd.autograd_panel import AutogradPanel
        from netexplorer.ui.evaluation.evaluation_panel import EvaluationPanel
        from netexplorer.ui.inspector.inspector_panel import InspectorPanel
        from netexplorer.ui.training.training_panel import TrainingPanel

        yield
        training = self._kept_hidden(TrainingPanel(
            self.session, self.redraw_clock, self.settings, controls=self.training_controls,
            status_label=self.training_status_label))
        yield
        inspector = self._kept_hidden(InspectorPanel(self.session, self.redraw_clock))
        inspector.set_probe_every(self.settings.probe_every())
        yield
        evaluation = self._kept_hidden(EvaluationPanel(self.session))
        yield
        panels = _LatePanels(training, inspector, evaluation, AutogradPanel())
        self._panels = panels  # before the tabs change: what they send may read a panel
        self._swap_in(panels)
        self._connect_late_panels(panels)
        valid = self.model_panel.is_valid
        panels.autograd.set_spec(self.model_panel.spec if valid else None)
        dataset = self.data_view.dataset
        if dataset is not None:
            panels.inspector.feature_view.set_dataset(dataset)
            panels.training.discover_devices()
        self._refresh_readiness()

    def _kept_hidden(self, panel: QWidget) -> Any:
        """A panel built before its tab takes it: the window's child, hidden (so that a
        window shown meanwhile does not show it), until _swap_in."""
        panel.setParent(self)
        panel.hide()
        return panel

    def _swap_in(self, panels: _LatePanels) -> None:
        """Each late panel takes its empty page's place, keeping the tab that shows."""
        tabs = self.tabs
        current = tabs.currentIndex()
        tabs.blockSignals(True)  # the swap changes no tab a person chose
        try:
            for page, panel in zip(self._late_pages, (panels.training, panels.inspector,
                                                       panels.evaluation, panels.autograd),
                                   strict=True):
                index = tabs.indexOf(page)
                tab_icon, title = tabs.tabIcon(index), tabs.tabText(index)
                tabs.removeTab(index)
                tabs.insertTab(index, panel, tab_icon, title)
                page.deleteLater()
            tabs.setCurrentIndex(current)
        finally:
            tabs.blockSignals(False)
        self._late_pages = []

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
            self.resize(_first_size(self.screen().availableGeometry().size()))
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
        """After the first paint, one step per turn of the event loop: the digits
        (and the dataset's load, which imports torch on its thread); then the late
        panels, a part at a time; then the stored runs, whose listing they show."""
        if self._shut_down:
            return
        if not self.data_view.started:
            self.data_view.start()
            self._env_runner.submit(probe_environment)
        elif not self._build_late_part():
            listing = self.session.list_stored_runs()
            if listing is None:  # no runs folder
                self._opened = True
            else:
                listing.settled.connect(self._on_startup_listing_settled)
            return
        self._startup_timer.start(0)

    @Slot()
    def _on_startup_listing_settled(self) -> None:
        self._opened = True

    def shutdown(self) -> None:
        """Stop timers and wait for worker threads; remember the session. Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        self._startup_timer.stop()
        if self._late_builder is not None:
            self._late_builder.close()  # a window closed while its panels were built
            self._late_builder = None
        self.redraw_clock.stop()
        self.session.shutdown()
        self.settings.geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.spec_json = self.model_panel.spec.to_json(indent=None)
        self.data_view.shutdown()
        if self._panels is not None:
            self._panels.autograd.shutdown()
        self._env_runner.shutdown()
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        # The model is kept in the settings, so closing never loses it: no prompt.
        self.shutdown()
        event.accept()

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

    @Slot(bool)
    def _on_clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)

    @Slot(object)
    def _on_spec_changed(self, spec: ModelSpec) -> None:
        self.data_view.set_input_shape(spec.input_shape)
        self.settings.spec_json = spec.to_json(indent=None)
        self._update_title()
        self._update_state()
        self._refresh_readiness()

    @Slot(object)
    def _on_spec_for_session(self, spec: ModelSpec) -> None:
        valid = self.model_panel.is_valid  # an invalid stack never reaches training
        if valid:
            self.session.set_spec(spec)
        if self._panels is not None:  # else it is given the spec when it is built
            self._panels.autograd.set_spec(spec if valid else None)

    @Slot(bool)
    def _on_validity_changed(self, _valid: bool) -> None:
        self._update_state()
        self._refresh_readiness()

    @Slot(object)
    def _on_dataset_loaded(self, dataset: Any) -> None:
        self.session.set_dataset(dataset)
        self.model_panel.set_classes(dataset.num_classes, dataset_title(dataset.name))
        self._update_state()
        self._refresh_readiness()
        if self._panels is not None:  # else they are given the dataset when built
            self._panels.inspector.feature_view.set_dataset(dataset)
            # torch is loaded by now: the device list comes quickly
            self._panels.training.discover_devices()

    @Slot(str)
    def _on_data_failed(self, reason: str) -> None:
        self.session.data_unavailable(reason)

    @Slot(bool)
    def _on_data_busy_changed(self, _busy: bool) -> None:
        self._update_state()
        self._refresh_readiness()

    @Slot(object)
    def _on_checkpoint_opened(self, checkpoint: Any) -> None:
        if checkpoint.config is not None:
            self.training_panel.form.set_config(checkpoint.config)
        wanted = checkpoint.dataset_name
        if wanted and wanted != self.data_view.dataset_name:
            self.data_view.request_dataset(wanted, chosen=False)

    @Slot(str)
    def _on_training_state(self, state: str) -> None:
        training = self.session.active
        self.model_panel.set_locked(
            "A run is training this model: stop it to edit the model. Every layer can "
            "still be looked at." if training else "")
        stack = self.model_panel.undo_stack  # undo would edit the model too
        self.undo_action.setEnabled(not training and stack.canUndo())
        self.redo_action.setEnabled(not training and stack.canRedo())

    @Slot(list)
    def _on_stored_runs_listed(self, runs: list) -> None:
        """Opening the window brings back the model it had: the newest stored run of
        the model in the panel, if nothing was trained here yet."""
        session = self.session
        if session.has_trained_model or session.active or not runs:
            return
        spec = self.model_panel.spec
        for run in reversed(runs):  # newest first
            if run.stored is not None and run.stored.has_checkpoint and run.stored.spec_json \
                    and run.status not in ("running", "failed") \
                    and _same_spec(run.stored.spec_json, spec):
                session.open_stored_run(run)
                self.statusBar().showMessage(f"Restoring the weights of run {run.number} "
                                             f"({run.name})…", 5000)
                return

    @Slot(str, int)
    def _on_image_chosen(self, split: str, index: int) -> None:
        self.explain_window.explain(split, index)

    @Slot(int)
    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) in self._late_pages:
            self._late_panels()  # its panel takes the page's place, and shows

    @Slot()
    def _on_colour_input_requested(self) -> None:
        _, height, width = self.model_panel.spec.input_shape
        self.model_panel.set_input_shape((3, height, width))  # the data reloads in colour

    @Slot()
    def _on_train_triggered(self) -> None:
        if self.tabs.currentWidget() not in (self.training_panel, self.inspector_panel):
            self.tabs.setCurrentWidget(self.training_panel)

    @Slot(object)
    def _on_first_run(self, _run: Any) -> None:
        if self.first_run_hint.isVisibleTo(self):
            self.first_run_hint.clear()
        if not self.settings.first_run_hint_seen:
            self.settings.set_first_run_hint_seen()

    @Slot()
    def _on_follow_run(self) -> None:
        self.tabs.setCurrentWidget(self.training_panel)  # where its plots are
        self.training_panel.ask_follow_run()

    @Slot()
    def _on_choose_runs_folder(self) -> None:
        current = str(self.session.library.folder or resolve_runs_dir(None))
        folder = QFileDialog.getExistingDirectory(self, "Choose the runs folder", current)
        if folder:
            self.set_runs_folder(folder)

    def set_runs_folder(self, folder: str) -> None:
        """Keep runs in `folder` from now on (remembered); its runs are listed."""
        self.settings.runs_dir = folder
        self.session.switch_runs_folder(resolve_runs_dir(folder))
        self.statusBar().showMessage(f"Runs are kept in {folder}", 5000)

    @Slot(str, int)
    def _on_status_message(self, text: str, timeout_ms: int) -> None:
        if text:
            self.statusBar().showMessage(text, timeout_ms)
        else:
            self.statusBar().clearMessage()

    @Slot(object)
    def _on_probe_setting_changed(self, every: int | None) -> None:
        self.settings.set_probe_every(every)

    @Slot()
    def _on_nonfinite(self) -> None:
        self.tabs.setCurrentWidget(self.inspector_panel)

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

    # ------------------------------------------------------------------ what the window shows

    @Slot()
    def _update_title(self) -> None:
        path = self.spec_files.path
        shown = path.name if path else self.model_panel.spec.name
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

    def _refresh_readiness(self) -> None:
        """Tell the training panel and the checkpoint commands what can be done now."""
        blocker = self._training_blocker()
        if self._panels is not None:
            self._panels.training.set_blocker(blocker)
        else:  # the controls show in the first paint, before their panel is built
            self.training_controls.show_state(self.session.state,
                                              blocker or "the window is still opening")
        self.checkpoint_files.refresh()

    def _training_blocker(self) -> str:
        """Why the window cannot train now, in words for the Train button's tooltip."""
        if not self.model_panel.is_valid:
            return "the model has an error: fix it in the model panel first"
        if self.model_panel.error is not None:
            return "the model's outputs do not match the dataset's classes: fix it in the " \
                   "model panel first"
        if self.data_view.busy:
            return "the dataset is still loading"
        dataset = self.data_view.dataset
        if dataset is None:
            return "no dataset is loaded: choose one in the Data tab"
        if tuple(dataset.input_shape) != tuple(self.model_panel.spec.input_shape):
            return "the dataset is being prepared for the model's new input shape"
        return ""


def _same_spec(spec_json: str, spec: ModelSpec) -> bool:
    try:
        return ModelSpec.from_json(spec_json, check_shapes=False) == spec
    except SpecError:
        return False


def _first_size(available: QSize) -> QSize:
    """The window's size on first open: the default, fitted to the screen's free
    area (a 1024×768 laptop gets all of it, less a margin for the window frame)."""
    width, height = _DEFAULT_SIZE
    margin = 40
    return QSize(max(1, min(width, available.width() - margin)),
                 max(1, min(height, available.height() - margin)))
