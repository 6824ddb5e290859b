"""File → Open checkpoint… and Save checkpoint…: the window's side of
core.checkpoints. CheckpointFiles owns the two actions; the window puts them in
its File menu and shows statusMessage in its status bar.

Saving is a session job, so it runs where the model may be touched (between
batches while training, on the job thread otherwise) and saves a consistent
state. Opening reads the file on a worker thread (torch.load of a large file
takes a while) and hands the Checkpoint to the session, whose specLoaded puts the
spec in the model panel. A damaged, foreign or hostile file is refused with
CheckpointError's words and the current model is kept.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from netexplorer.ui.session.training_session import TrainingSession
from netexplorer.ui.session.workers import TaskFailure, TaskHandle, TaskRunner
from netexplorer.ui.settings import AppSettings
from netexplorer.ui.widgets.actions import dialog_parent, make_action

if TYPE_CHECKING:  # pragma: no cover - torch comes with core.checkpoints
    from netexplorer.core.checkpoints import Checkpoint
    from netexplorer.core.specs import ModelSpec

CHECKPOINT_FILTER = ("netexplorer checkpoints (*.ckpt);;PyTorch state_dicts (*.pth *.pt);;"
                     "All files (*)")
SUFFIX = ".ckpt"
_CLOSING_WAIT_MS = 500
OPEN_TIP = ("open a checkpoint (a saved model with its weights and training history) or a "
            "PyTorch state_dict (.pth) whose names and shapes fit the model or a preset")
OPEN_WHILE_TRAINING = "stop training to open a checkpoint"
SAVE_TIP = ("save a checkpoint: the model, its weights and training state, to resume or "
            "evaluate later")
SAVE_NO_MODEL = "fix the model first: a checkpoint needs a valid model"


def read_checkpoint(path: str, current: ModelSpec | None = None) -> Checkpoint:
    """Runs on the loader thread. A plain state_dict (the PyTorch tutorial's
    `torch.save(net.state_dict(), PATH)`) holds no model: it opens in the current
    model if its names and shapes fit, else in the first preset they fit."""
    from netexplorer.core.checkpoints import (
        PlainStateDict,
        load_checkpoint,
        load_weights_into_fitting,
    )
    from netexplorer.core.presets import get_preset, preset_names

    try:
        return load_checkpoint(path)
    except PlainStateDict:
        specs = [current] if current is not None else []
        specs += [get_preset(name) for name in preset_names()
                  if current is None or name != current.name]
        return load_weights_into_fitting(path, specs)


class CheckpointFiles(QObject):
    """The Open/Save checkpoint actions and what they do; checkpointOpened(Checkpoint)
    follows a successful open, checkpointSaved(str) a save, statusMessage(text, ms)
    says what is happening ("" clears it)."""

    checkpointOpened = Signal(object)
    checkpointSaved = Signal(str)
    failed = Signal(str)  # the message the person was shown
    statusMessage = Signal(str, int)

    def __init__(self, session: TrainingSession, settings: AppSettings,
                 dialog_parent: QWidget) -> None:
        super().__init__(dialog_parent)
        self.setObjectName("checkpointFiles")
        self._session = session
        self._settings = settings
        self.open_action = make_action(self, "Open &checkpoint…", "openCheckpointAction",
                                       icon_name="checkpoint", tip=OPEN_TIP)
        self.save_action = make_action(self, "Save c&heckpoint…", "saveCheckpointAction",
                                       icon_name="checkpoint", tip=SAVE_TIP)
        # Saves under way → their paths; keyed by TaskHandle, found again by sender(),
        # which Qt types as a plain QObject.
        self._saves: dict[QObject, str] = {}
        self._loading: str | None = None
        self._loader = TaskRunner("checkpoint loader", self)
        self._loader.finished.connect(self._on_loaded)
        self._loader.failed.connect(self._on_load_failed)
        self.open_action.triggered.connect(self._on_open_triggered)
        self.save_action.triggered.connect(self._on_save_triggered)
        session.stateChanged.connect(self.refresh)
        session.modelReplaced.connect(self.refresh)
        session.closing.connect(self._on_closing)
        self.refresh()

    @property
    def busy(self) -> bool:
        return self._loading is not None or bool(self._saves)

    # ------------------------------------------------------------------ open

    def open_checkpoint(self, path: str | os.PathLike | None = None) -> bool:
        """Start reading a checkpoint (asks for the file without `path`); False if
        nothing was started."""
        if self._session.active:
            self._explain("Could not open the checkpoint", OPEN_WHILE_TRAINING + ".")
            return False
        if path is None:
            path, _ = QFileDialog.getOpenFileName(dialog_parent(self), "Open checkpoint",
                                                  self._folder(), CHECKPOINT_FILTER)
            if not path:
                return False
        self._loading = str(path)
        self.open_action.setEnabled(False)
        self.statusMessage.emit(f"Opening {Path(path).name}…", 0)
        self._loader.submit(read_checkpoint, str(path), self._session.spec)
        return True

    @Slot(object)
    def _on_loaded(self, checkpoint: Checkpoint) -> None:
        path, self._loading = self._loading, None
        self.refresh()
        try:
            self._session.load_checkpoint(checkpoint)
        except (RuntimeError, ValueError) as exc:  # a run started meanwhile; unusable weights
            self._explain("Could not open the checkpoint", f"{exc}.\n\nYour current model is "
                                                           f"unchanged.")
            return
        self._settings.checkpoint_folder = str(Path(path).parent) if path else None
        if checkpoint.trainer_state is None:  # weights only: say which model took them
            self.statusMessage.emit(f"Opened the weights in {path} as the model "
                                    f"'{checkpoint.spec.name}' (no training history)", 8000)
        else:
            self.statusMessage.emit(f"Opened {path}", 5000)
        self.checkpointOpened.emit(checkpoint)

    @Slot(object)
    def _on_load_failed(self, failure: TaskFailure) -> None:
        path, self._loading = self._loading, None
        self.refresh()
        self.statusMessage.emit("", 0)
        message = failure.message.rstrip(".")
        name = Path(path).name if path else ""
        if name and not message.startswith(name):
            message = f"{name}: {message}"
        self._explain("Could not open the checkpoint",
                      f"{message}.\n\nYour current model is unchanged.")

    # ------------------------------------------------------------------ save

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> TaskHandle | None:
        """Save the current model (asks where without `path`); the job's handle, or
        None if nothing was started."""
        if self._session.spec is None:
            self._explain("Could not save a checkpoint", SAVE_NO_MODEL + ".")
            return None
        if path is None:
            suggested = str(Path(self._folder()) / f"{self._session.spec.name}{SUFFIX}")
            path, _ = QFileDialog.getSaveFileName(dialog_parent(self), "Save checkpoint", suggested,
                                                  CHECKPOINT_FILTER)
            if not path:
                return None
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(SUFFIX)
        handle = self._session.save_checkpoint(str(path))
        self._saves[handle] = str(path)
        handle.finished.connect(self._on_saved)
        handle.failed.connect(self._on_save_failed)
        self.statusMessage.emit(f"Saving {path.name}…", 0)
        return handle

    @Slot(object)
    def _on_saved(self, value: Any) -> None:
        path = self._saves.pop(self.sender(), None)
        if path is None:
            return
        self._settings.checkpoint_folder = str(Path(path).parent)
        self.statusMessage.emit(f"Saved checkpoint to {value}", 5000)
        self.checkpointSaved.emit(str(value))

    @Slot(object)
    def _on_save_failed(self, failure: TaskFailure) -> None:
        path = self._saves.pop(self.sender(), None)
        if path is None:
            return
        self.statusMessage.emit("", 0)
        self._explain("Could not save the checkpoint",
                      f"{failure.message.rstrip('.')}.\n\nChoose another folder with "
                      f"File → Save checkpoint….")

    # ------------------------------------------------------------------ helpers

    def _folder(self) -> str:
        folder = self._settings.checkpoint_folder or self._settings.spec_folder
        return folder if folder and Path(folder).is_dir() else str(Path.home())

    def _explain(self, title: str, text: str) -> None:
        self.failed.emit(text)
        QMessageBox.warning(dialog_parent(self), title, text)

    @Slot()
    def refresh(self, *_args: Any) -> None:
        """Enable what can be done now (the window calls it when the model changes)."""
        can_open = not self._session.active and self._loading is None
        self.open_action.setEnabled(can_open)
        self.open_action.setToolTip(OPEN_TIP if not self._session.active else
                                     OPEN_WHILE_TRAINING)
        has_model = self._session.spec is not None
        self.save_action.setEnabled(has_model)
        self.save_action.setToolTip(SAVE_TIP if has_model else SAVE_NO_MODEL)
        for action in (self.open_action, self.save_action):
            action.setStatusTip(action.toolTip())

    @Slot()
    def _on_open_triggered(self) -> None:
        self.open_checkpoint()

    @Slot()
    def _on_save_triggered(self) -> None:
        self.save_checkpoint()

    @Slot()
    def _on_closing(self) -> None:
        # A file still being read is left to finish on its own (the thread keeper
        # holds it): closing the window does not wait for it.
        self._loader.shutdown(_CLOSING_WAIT_MS)
