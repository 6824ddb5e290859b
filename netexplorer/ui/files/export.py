"""File → Export: the trained model as a checkpoint, as TorchScript or as a
standalone Python module, and the run's metrics as CSV.

Every export is a session job (the model is only touched where training
allows it, and the GUI never waits on the disk); files are written atomically
by core.export and core.checkpoints. The outcome shows in the status bar, a
failure in a message that says what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from netexplorer.core.export import CSV_FILTER, PYTHON_FILTER, TORCHSCRIPT_FILTER
from netexplorer.ui.icons import icon

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.ui.main_window import MainWindow
    from netexplorer.ui.session.training_session import ModelContext
    from netexplorer.ui.session.workers import TaskFailure, TaskHandle

CHECKPOINT_FILTER = "netexplorer checkpoints (*.ckpt);;All files (*)"
_FOLDER_KEY = "export/folder"


# --------------------------------------------------------------------------- jobs
# They run on the training or job thread and return the path written.

def torchscript_job(context: ModelContext, path: str) -> str:
    from netexplorer.core.export import save_torchscript

    return str(save_torchscript(context.model, path))


def python_job(context: ModelContext, path: str) -> str:
    from netexplorer.core.export import write_python

    return str(write_python(path, context.spec))


def text_job(_context: ModelContext, path: str, text: str) -> str:
    from netexplorer.core.export import write_text

    return str(write_text(path, text))


class Exporter(QObject):
    """The Export submenu's actions and what happens when they are chosen.

    exported(what, path) follows a file written, exportFailed(what, message) an
    export that could not be (after the person was told)."""

    exported = Signal(str, str)
    exportFailed = Signal(str, str)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._session = window.session
        self._pending: dict[TaskHandle, str] = {}  # exports under way → what each writes
        self.menu = QMenu("E&xport", window)
        self.menu.setObjectName("exportMenu")
        self.menu.setIcon(icon("export"))
        self.menu.setToolTipsVisible(True)
        self.checkpoint_action = self._action(
            "Model as &checkpoint…", "exportCheckpointAction",
            "weights, spec, training state and history: reopen it in netexplorer",
            self._on_export_checkpoint)
        self.torchscript_action = self._action(
            "Model as &TorchScript…", "exportTorchScriptAction",
            "a self-contained file torch.jit.load reads, without netexplorer",
            self._on_export_torchscript)
        self.python_action = self._action(
            "Model as &Python module…", "exportPythonAction",
            "a .py file defining the network as an nn.Module; loads the checkpoint's weights",
            self._on_export_python)
        self.menu.addSeparator()
        self.csv_action = self._action(
            "Run &metrics as CSV…", "exportMetricsAction",
            "every step's loss and learning rate, and each epoch's accuracy",
            self._on_export_csv)
        self.menu.aboutToShow.connect(self._refresh)
        for signal in (self._session.runStarted, self._session.runFinished,
                       self._session.specLoaded):
            signal.connect(self._on_session_changed)
        self._session.modelReplaced.connect(self._refresh)
        self._refresh()

    def _action(self, text: str, object_name: str, tip: str,
                slot: Callable[[], None]) -> QAction:
        action = QAction(text, self.menu)
        action.setObjectName(object_name)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.menu.addAction(action)
        return action

    def install(self, file_menu: QMenu) -> None:
        """Put the submenu into the File menu, before its last group (Quit)."""
        separators = [a for a in file_menu.actions() if a.isSeparator()]
        if not separators:
            file_menu.addSeparator()
            file_menu.addMenu(self.menu)
            return
        last = separators[-1]
        file_menu.insertSeparator(last)
        file_menu.insertMenu(last, self.menu)

    # ------------------------------------------------------------------ enabling

    @Slot()
    def _refresh(self) -> None:
        session = self._session
        has_model = session.has_trained_model
        why_model = "" if has_model else " — train the model or open a checkpoint first"
        has_spec = session.spec is not None
        run = session.current_run
        has_metrics = run is not None and len(run.steps) > 0
        for action, enabled, reason in (
                (self.checkpoint_action, has_model, why_model),
                (self.torchscript_action, has_model, why_model),
                (self.python_action, has_spec, " — the model has an error: fix it first"),
                (self.csv_action, has_metrics, " — train first: there are no metrics yet")):
            action.setEnabled(enabled)
            base = action.statusTip()
            action.setToolTip(base if enabled else base + reason)

    @Slot(object)
    def _on_session_changed(self, *_args: Any) -> None:
        self._refresh()

    # ------------------------------------------------------------------ choosing files

    def _ask(self, title: str, name: str, suffix: str, file_filter: str) -> str | None:
        settings = self._window.settings.qsettings
        folder = settings.value(_FOLDER_KEY)
        if not isinstance(folder, str) or not Path(folder).is_dir():
            folder = str(Path.home())
        path, _ = QFileDialog.getSaveFileName(self._window, title, str(Path(folder) / name),
                                              file_filter)
        if not path:
            return None
        chosen = Path(path)
        if not chosen.suffix:
            chosen = chosen.with_suffix(suffix)
        settings.setValue(_FOLDER_KEY, str(chosen.parent))
        return str(chosen)

    def _base_name(self) -> str:
        spec = self._session.spec
        name = spec.name if spec is not None else "model"
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "model"

    def export_checkpoint(self, path: str | None = None) -> TaskHandle | None:
        path = path or self._ask("Export the model as a checkpoint", f"{self._base_name()}.ckpt",
                                 ".ckpt", CHECKPOINT_FILTER)
        if path is None:
            return None
        return self._track(self._session.save_checkpoint(path), "checkpoint", path)

    def export_torchscript(self, path: str | None = None) -> TaskHandle | None:
        path = path or self._ask("Export the model as TorchScript", f"{self._base_name()}.pt",
                                 ".pt", TORCHSCRIPT_FILTER)
        if path is None:
            return None
        return self._track(self._session.submit(torchscript_job, path), "TorchScript model", path)

    def export_python(self, path: str | None = None) -> TaskHandle | None:
        name = self._base_name().replace("-", "_")
        path = path or self._ask("Export the model as a Python module", f"{name}.py", ".py",
                                 PYTHON_FILTER)
        if path is None:
            return None
        return self._track(self._session.submit(python_job, path), "Python module", path)

    def export_csv(self, path: str | None = None) -> TaskHandle | None:
        run = self._session.current_run
        if run is None:
            return None
        path = path or self._ask("Export the run's metrics as CSV",
                                 f"{self._base_name()}-run{run.number}.csv", ".csv", CSV_FILTER)
        if path is None:
            return None
        # The history belongs to the GUI thread: its text is made here, written there.
        return self._track(self._session.submit(text_job, path, run.to_csv()), "metrics",
                           path)

    def _track(self, handle: TaskHandle, what: str, path: str) -> TaskHandle:
        self._pending[handle] = what
        handle.finished.connect(self._on_exported)
        handle.failed.connect(self._on_export_failed)
        self._window.statusBar().showMessage(f"Exporting the {what} to {path}…")
        return handle

    # ------------------------------------------------------------------ reactions

    @Slot()
    def _on_export_checkpoint(self) -> None:
        self.export_checkpoint()

    @Slot()
    def _on_export_torchscript(self) -> None:
        self.export_torchscript()

    @Slot()
    def _on_export_python(self) -> None:
        self.export_python()

    @Slot()
    def _on_export_csv(self) -> None:
        self.export_csv()

    @Slot(object)
    def _on_exported(self, result: Any) -> None:
        what = self._pending.pop(self.sender(), None)
        if what is not None:
            self._window.statusBar().showMessage(f"Exported the {what} to {result}", 8000)
            self.exported.emit(what, str(result))

    @Slot(object)
    def _on_export_failed(self, failure: TaskFailure) -> None:
        what = self._pending.pop(self.sender(), None)
        if what is None:
            return
        self._window.statusBar().clearMessage()
        QMessageBox.warning(self._window, "Export failed",
                            f"The {what} could not be exported: {failure.message}.\n\n"
                            f"Choose another folder or file name with File → Export, and check "
                            f"that there is free space.")
        self.exportFailed.emit(what, failure.message)


def install_export_menu(window: MainWindow) -> Exporter:
    exporter = Exporter(window)
    exporter.install(window.menuBar().findChild(QMenu, "fileMenu"))
    return exporter
