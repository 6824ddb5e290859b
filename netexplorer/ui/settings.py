"""What the window remembers between sessions, read defensively.

A settings file can be stale, hand-edited or written by another version; a bad
value there is ignored (the default is used) rather than stopping the app.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "netexplorer"
APPLICATION = "netexplorer"

_GEOMETRY = "window/geometry"
_STATE = "window/state"
_SPEC = "model/spec"
_SPEC_FOLDER = "model/folder"
_DATASET = "data/dataset"
_DATA_ROOT = "data/root"
_TRAINING_CONFIG = "training/config"
_CHECKPOINT_FOLDER = "training/checkpointFolder"
_PROBE_EVERY = "inspector/probe_every"  # steps, or "off"
_RUNS_DIR = "runs/folder"
_FIRST_RUN_HINT = "hints/firstRun"

# The inspector's sampling interval in steps: its default, and the most it accepts.
DEFAULT_PROBE_EVERY = 10
MAX_PROBE_EVERY = 100_000


def open_settings() -> QSettings:
    """The user's settings file (an INI file, so it is the same on every platform).

    Tests redirect it with QSettings.setPath or pass their own QSettings to the
    window; nothing here hard-codes a location.
    """
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                     ORGANIZATION, APPLICATION)


class AppSettings:
    """Typed access to the few values netexplorer keeps."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self.qsettings = settings if settings is not None else open_settings()

    def _text(self, key: str) -> str | None:
        value = self.qsettings.value(key)
        return value if isinstance(value, str) and value else None

    def _bytes(self, key: str) -> QByteArray | None:
        value = self.qsettings.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def _set(self, key: str, value: object | None) -> None:
        if value is None or value == "":
            self.qsettings.remove(key)
        else:
            self.qsettings.setValue(key, value)

    # -- window
    @property
    def geometry(self) -> QByteArray | None:
        return self._bytes(_GEOMETRY)

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self._set(_GEOMETRY, value)

    @property
    def window_state(self) -> QByteArray | None:
        """Dock and toolbar layout, as QMainWindow.saveState gives it."""
        return self._bytes(_STATE)

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self._set(_STATE, value)

    # -- model
    @property
    def spec_json(self) -> str | None:
        """The last model as ModelSpec JSON, so a closed window never loses it."""
        return self._text(_SPEC)

    @spec_json.setter
    def spec_json(self, value: str | None) -> None:
        self._set(_SPEC, value)

    @property
    def spec_folder(self) -> str | None:
        """Where the last model spec was opened from or saved to."""
        return self._text(_SPEC_FOLDER)

    @spec_folder.setter
    def spec_folder(self, value: str | None) -> None:
        self._set(_SPEC_FOLDER, value)

    # -- data
    @property
    def dataset(self) -> str | None:
        """The last dataset loaded successfully (a name or folder:PATH)."""
        return self._text(_DATASET)

    @dataset.setter
    def dataset(self, value: str | None) -> None:
        self._set(_DATASET, value)

    @property
    def data_root(self) -> str | None:
        """The folder torchvision datasets are read from; None means the default."""
        return self._text(_DATA_ROOT)

    @data_root.setter
    def data_root(self, value: str | None) -> None:
        self._set(_DATA_ROOT, value)

    # -- training
    @property
    def training_config(self) -> dict[str, Any] | None:
        """The last training settings (TrainConfig.to_dict()); unreadable JSON is None.
        Values are checked field by field where they are used."""
        text = self._text(_TRAINING_CONFIG)
        if text is None:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @training_config.setter
    def training_config(self, value: dict[str, Any] | None) -> None:
        self._set(_TRAINING_CONFIG, json.dumps(value, sort_keys=True) if value else None)

    @property
    def checkpoint_folder(self) -> str | None:
        """Where the last checkpoint was opened from or saved to."""
        return self._text(_CHECKPOINT_FOLDER)

    @checkpoint_folder.setter
    def checkpoint_folder(self, value: str | None) -> None:
        self._set(_CHECKPOINT_FOLDER, value)

    # -- runs
    @property
    def runs_dir(self) -> str | None:
        """The runs folder chosen in the window (None: $NETEXPLORER_RUNS or the
        default)."""
        return self._text(_RUNS_DIR)

    @runs_dir.setter
    def runs_dir(self, value: str | None) -> None:
        self._set(_RUNS_DIR, value)

    # -- first use
    @property
    def first_run_hint_seen(self) -> bool:
        """The first-run hint was dismissed, or a run was started: it is not shown again."""
        return self._text(_FIRST_RUN_HINT) == "seen"

    def set_first_run_hint_seen(self) -> None:
        self._set(_FIRST_RUN_HINT, "seen")

    # -- inspector
    def probe_every(self) -> int | None:
        """The saved sampling interval: a whole number of steps from 1 to
        MAX_PROBE_EVERY, None for "off", or (missing or damaged) DEFAULT_PROBE_EVERY."""
        value = self.qsettings.value(_PROBE_EVERY)
        if value == "off":
            return None
        try:
            every = int(str(value))
        except ValueError:
            return DEFAULT_PROBE_EVERY
        return every if 1 <= every <= MAX_PROBE_EVERY else DEFAULT_PROBE_EVERY

    def set_probe_every(self, every: int | None) -> None:
        self.qsettings.setValue(_PROBE_EVERY, "off" if every is None else int(every))

    def sync(self) -> None:
        self.qsettings.sync()
