"""Shared steps of the Training-tab tests: find the panel, wait until it can
train, click Train with given settings, wait for the run to end."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton

from netexplorer.core.train_config import TrainConfig
from netexplorer.ui.main_window import MainWindow
from netexplorer.ui.training.training_panel import TrainingPanel

# Short and exactly repeatable: no shifts, a constant rate, the CPU.
QUICK = dict(epochs=1, augment_shift=0, schedule="none", device="cpu")


def training_panel(qtbot, window: MainWindow) -> TrainingPanel:
    """The window's Training tab, once it may train (dataset and devices known)."""
    panel = window.training_panel
    qtbot.waitUntil(lambda: panel.ready_reason == "", timeout=60_000)
    return panel


def button(window: MainWindow, name: str) -> QToolButton:
    found = window.findChild(QToolButton, name)
    assert found is not None, name
    return found


def click(qtbot, window: MainWindow, name: str) -> None:
    widget = button(window, name)
    assert widget.isEnabled(), f"{name} is disabled: {widget.toolTip()}"
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def start(qtbot, window: MainWindow, **settings) -> None:
    """Show these settings in the form and click Train."""
    panel = training_panel(qtbot, window)
    panel.form.set_config(TrainConfig(**{**QUICK, **settings}))
    click(qtbot, window, "trainButton")


def train(qtbot, window: MainWindow, timeout: int = 60_000, **settings):
    """Train through the GUI until the run ends; returns its RunHistory."""
    session = window.session
    with qtbot.waitSignal(session.runFinished, timeout=timeout) as finished:
        start(qtbot, window, **settings)
    qtbot.waitUntil(lambda: session.state == "idle", timeout=5_000)
    return finished.args[0]


def answer_dialogs(monkeypatch, open_path: str = "", save_path: str = "") -> list[tuple[str, str]]:
    """File dialogs answer with these paths; message boxes are recorded, not shown."""
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (open_path, ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (save_path, ""))
    for kind in ("critical", "warning", "information"):
        monkeypatch.setattr(QMessageBox, kind,
                            lambda parent, title, text, *a, _k=kind, **kw: shown.append(
                                (_k, text)) or QMessageBox.StandardButton.Ok)
    return shown
