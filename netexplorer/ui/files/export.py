"""File → Export: the trained model as a checkpoint, as ONNX, as a torch.export
program, as TorchScript (legacy) or as a standalone Python module, and the run's
metrics as CSV.

Every export is a session job (the model is only touched where training
allows it, and the GUI never waits on the disk); files are written atomically
by core.export and core.checkpoints. The outcome shows in the status bar, a
failure in a message that says what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from netexplorer.core.export import CSV_FILTER, FORMATS, PYTHON_FILTER
from netexplorer.core.graph_export import ONNX_OPSET
from netexplorer.ui.settings import AppSettings
from netexplorer.ui.widgets.actions import dialog_parent, make_action

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.ui.session.training_session import ModelContext, TrainingSession
    from netexplorer.ui.session.workers import TaskFailure, TaskHandle

CHECKPOINT_FILTER = "netexplorer checkpoints (*.ckpt);;All files (*)"
_FOLDER_KEY = "export/folder"


# --------------------------------------------------------------------------- jobs
# They run on the training or job thread and return the path written.

def torchscript_job(context: ModelContext, path: str) -> str:
    from netexplorer.core.export import ModelCard, save_torchscript

    card = ModelCard.of_dataset(context.spec, context.dataset)
    return str(save_torchscript(context.model, path, card))


def onnx_job(context: ModelContext, path: str) -> str:
    from netexplorer.core.export import ModelCard
    from netexplorer.core.graph_export import save_onnx

    return str(save_onnx(context.model, path, ModelCard.of_dataset(context.spec,
                                                                   context.dataset)))


def exported_program_job(context: ModelContext, path: str) -> str:
    from netexplorer.core.export import ModelCard
    from netexplorer.core.graph_export import save_exported_program

    return str(save_exported_program(context.model, path,
                                     ModelCard.of_dataset(context.spec, context.dataset)))


def python_job(context: ModelContext, path: str) -> str:
    from netexplorer.core.export import write_python

    return str(write_python(path, context.spec))


def text_job(_context: ModelContext, path: str, text: str) -> str:
    from netexplorer.core.export import write_text

    return str(write_text(path, text))


class Exporter(QObject):
    """The Export actions and what happens when they are chosen: the window lists
    `model_actions` and `metrics_actions` in its File → Export menu and calls
    refresh() when the menu is about to show.

    exported(what, path) follows a file written, exportFailed(what, message) an
    export that could not be (after the person was told); statusMessage(text, ms)
    says what is happening ("" clears it)."""

    exported = Signal(str, str)
    exportFailed = Signal(str, str)
    statusMessage = Signal(str, int)

    def __init__(self, session: TrainingSession, settings: AppSettings,
                 dialog_parent: QWidget) -> None:
        super().__init__(dialog_parent)
        self._session = session
        self._settings = settings
        # Exports under way → what each writes; keyed by TaskHandle, found again by
        # sender(), which Qt types as a plain QObject.
        self._pending: dict[QObject, str] = {}
        self.checkpoint_action = make_action(
            self, "Model as &checkpoint…", "exportCheckpointAction",
            tip="weights, spec, training state and history: reopen it in netexplorer",
            slot=self._on_export_checkpoint)
        self.onnx_action = make_action(
            self, "Model as &ONNX…", "exportOnnxAction",
            tip=f"one plain .onnx file (opset {ONNX_OPSET}, any batch size) that Netron, "
                "onnxruntime "
                "and other runtimes open; says its input's normalisation and classes",
            slot=self._on_export_onnx)
        self.exported_program_action = make_action(
            self, "Model as torch.&export program…", "exportProgramAction",
            tip="a .pt2 file torch.export.load reads (any batch size), without netexplorer: "
                "PyTorch's successor to TorchScript",
            slot=self._on_export_program)
        self.torchscript_action = make_action(
            self, "Model as &TorchScript (legacy)…", "exportTorchScriptAction",
            tip="a file torch.jit.load reads, without netexplorer; TorchScript is deprecated "
                "in PyTorch: prefer the torch.export program",
            slot=self._on_export_torchscript)
        self.python_action = make_action(
            self, "Model as &Python module…", "exportPythonAction",
            tip="a .py file defining the network as an nn.Module; loads the checkpoint's "
                "weights",
            slot=self._on_export_python)
        self.csv_action = make_action(
            self, "Run &metrics as CSV…", "exportMetricsAction",
            tip="every step's loss and learning rate, and each epoch's accuracy",
            slot=self._on_export_csv)
        self.model_actions = (self.checkpoint_action, self.onnx_action,
                              self.exported_program_action, self.torchscript_action,
                              self.python_action)
        self.metrics_actions = (self.csv_action,)
        for signal in (session.runStarted, session.runFinished, session.specLoaded):
            signal.connect(self._on_session_changed)
        session.modelReplaced.connect(self.refresh)
        self.refresh()

    # ------------------------------------------------------------------ enabling

    @Slot()
    def refresh(self) -> None:
        """Enable what can be exported now, and say why the rest cannot."""
        session = self._session
        has_model = session.has_trained_model
        why_model = "" if has_model else " — train the model or open a checkpoint first"
        has_spec = session.spec is not None
        run = session.current_run
        has_metrics = run is not None and len(run.steps) > 0
        for action, enabled, reason in (
                # As File → Save checkpoint (the same job): a model's weights, trained
                # or not, with whatever training state it has.
                (self.checkpoint_action, has_spec, " — fix the model first: a checkpoint "
                                                   "needs a valid model"),
                (self.onnx_action, has_model, why_model),
                (self.exported_program_action, has_model, why_model),
                (self.torchscript_action, has_model, why_model),
                (self.python_action, has_spec, " — the model has an error: fix it first"),
                (self.csv_action, has_metrics, " — train first: there are no metrics yet")):
            action.setEnabled(enabled)
            base = action.statusTip()
            action.setToolTip(base if enabled else base + reason)

    @Slot(object)
    def _on_session_changed(self, *_args: Any) -> None:
        self.refresh()

    # ------------------------------------------------------------------ choosing files

    def _ask(self, title: str, name: str, suffix: str, file_filter: str) -> str | None:
        settings = self._settings.qsettings
        folder = settings.value(_FOLDER_KEY)
        if not isinstance(folder, str) or not Path(folder).is_dir():
            folder = str(Path.home())
        path, _ = QFileDialog.getSaveFileName(dialog_parent(self), title, str(Path(folder) / name),
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

    def export_onnx(self, path: str | None = None) -> TaskHandle | None:
        return self._export_model("onnx", onnx_job, "ONNX model", path)

    def export_program(self, path: str | None = None) -> TaskHandle | None:
        return self._export_model("pt2", exported_program_job, "torch.export program", path)

    def export_torchscript(self, path: str | None = None) -> TaskHandle | None:
        return self._export_model("torchscript", torchscript_job, "TorchScript model", path)

    def _export_model(self, format_name: str, job: Any, what: str,
                      path: str | None) -> TaskHandle | None:
        fmt = FORMATS[format_name]
        path = path or self._ask(f"Export the model as {fmt.title}",
                                 f"{self._base_name()}{fmt.suffix}", fmt.suffix, fmt.file_filter)
        if path is None:
            return None
        return self._track(self._session.submit(job, path), what, path)

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
        self.statusMessage.emit(f"Exporting the {what} to {path}…", 0)
        return handle

    # ------------------------------------------------------------------ reactions

    @Slot()
    def _on_export_checkpoint(self) -> None:
        self.export_checkpoint()

    @Slot()
    def _on_export_onnx(self) -> None:
        self.export_onnx()

    @Slot()
    def _on_export_program(self) -> None:
        self.export_program()

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
            self.statusMessage.emit(f"Exported the {what} to {result}", 8000)
            self.exported.emit(what, str(result))

    @Slot(object)
    def _on_export_failed(self, failure: TaskFailure) -> None:
        what = self._pending.pop(self.sender(), None)
        if what is None:
            return
        self.statusMessage.emit("", 0)
        QMessageBox.warning(dialog_parent(self), "Export failed",
                            f"The {what} could not be exported: {failure.message}.\n\n"
                            f"Choose another folder or file name with File → Export, and check "
                            f"that there is free space.")
        self.exportFailed.emit(what, failure.message)
