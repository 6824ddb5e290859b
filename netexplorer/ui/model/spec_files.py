"""File → New model, Open/Save model spec: the model panel's spec as a JSON file.

SpecFiles owns the four actions; the window puts them in its File menu, shows
statusMessage in its status bar and its file name (pathChanged) in its title. A
broken file is explained in the words of SpecError and the model is kept; a
failed save never truncates the file that was there (atomic writes).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from netexplorer.core.files import write_text_atomically
from netexplorer.core.specs import ModelSpec, SpecError, read_spec_file
from netexplorer.ui.model.model_panel import ModelPanel
from netexplorer.ui.settings import AppSettings
from netexplorer.ui.widgets.actions import dialog_parent, make_action

SPEC_FILTER = "Model specs (*.json);;All files (*)"


class SpecFiles(QObject):
    """New / Open / Save / Save as for the model panel's spec; `path` is the file the
    model came from or was last saved to (None for a new or remembered model)."""

    pathChanged = Signal()
    statusMessage = Signal(str, int)

    def __init__(self, model_panel: ModelPanel, settings: AppSettings,
                 dialog_parent: QWidget) -> None:
        super().__init__(dialog_parent)
        self._panel = model_panel
        self._settings = settings
        self.path: Path | None = None
        K = QKeySequence.StandardKey
        self.new_action = make_action(self, "&New model", "newModelAction", icon_name="new",
                                      shortcut=K.New, tip="start an empty model",
                                      slot=self._on_new)
        self.open_action = make_action(self, "&Open model spec…", "openSpecAction",
                                       icon_name="open", shortcut=K.Open,
                                       tip="open a model saved as JSON", slot=self._on_open)
        self.save_action = make_action(self, "&Save model spec…", "saveSpecAction",
                                       icon_name="save", shortcut=K.Save,
                                       tip="save the model as JSON", slot=self._on_save)
        self.save_as_action = make_action(self, "Save model spec &as…", "saveSpecAsAction",
                                          icon_name="save-as", shortcut=K.SaveAs,
                                          tip="save the model as JSON under a new name",
                                          slot=self._on_save_as)
        self.actions = (self.new_action, self.open_action, self.save_action,
                        self.save_as_action)

    # ------------------------------------------------------------------ commands

    def open_spec(self, path: str | os.PathLike | None = None) -> bool:
        """Open a model spec file; a broken one is explained and the model kept."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(dialog_parent(self), "Open model spec",
                                                  self._folder(), SPEC_FILTER)
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
        self._panel.set_spec(spec, f"Open {path.name}")
        self._panel.undo_stack.setClean()
        self._settings.spec_folder = str(path.parent)
        self._set_path(path)
        self.statusMessage.emit(f"Opened {path}", 5000)
        return True

    def save_spec(self, path: str | os.PathLike | None = None) -> bool:
        """Save to `path`, to the file the model came from, or ask where."""
        if path is not None:
            return self._write(Path(path))
        if self.path is None:
            return self.save_spec_as()
        return self._write(self.path)

    def save_spec_as(self) -> bool:
        suggested = str(Path(self._folder()) / f"{self._panel.spec.name}.json")
        chosen, _ = QFileDialog.getSaveFileName(dialog_parent(self), "Save model spec",
                                                suggested, SPEC_FILTER)
        if not chosen:
            return False
        path = Path(chosen)
        if not path.suffix:
            path = path.with_suffix(".json")
        return self._write(path)

    def new_model(self) -> None:
        """An empty model with the current input shape; the old one stays undoable."""
        spec = ModelSpec("untitled", self._panel.spec.input_shape, ())
        self._panel.set_spec(spec, "New model")
        self._panel.undo_stack.setClean()
        self._set_path(None)

    # ------------------------------------------------------------------ helpers

    def _write(self, path: Path) -> bool:
        try:  # a failed save never truncates the file that was there
            write_text_atomically(path, self._panel.spec.to_json() + "\n")
        except OSError as exc:
            QMessageBox.warning(dialog_parent(self), "Could not save the model",
                                f"The model could not be saved to {path}: "
                                f"{exc.strerror or exc}.\n\nChoose another folder with "
                                f"File → Save model spec as….")
            return False
        self._settings.spec_folder = str(path.parent)
        self._panel.undo_stack.setClean()
        self._set_path(path)
        self.statusMessage.emit(f"Saved to {path}", 5000)
        return True

    def _folder(self) -> str:
        folder = self._settings.spec_folder
        return folder if folder and Path(folder).is_dir() else str(Path.home())

    def _explain_open_failure(self, path: Path, reason: str) -> None:
        QMessageBox.critical(dialog_parent(self), "Could not open the model",
                             f"{path.name} could not be opened: {reason}.\n\n"
                             f"Your current model is unchanged.")

    def _set_path(self, path: Path | None) -> None:
        self.path = path
        self.pathChanged.emit()

    @Slot()
    def _on_new(self) -> None:
        self.new_model()

    @Slot()
    def _on_open(self) -> None:
        self.open_spec()

    @Slot()
    def _on_save(self) -> None:
        self.save_spec()

    @Slot()
    def _on_save_as(self) -> None:
        self.save_spec_as()
