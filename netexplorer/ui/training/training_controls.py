"""Train, Pause/Resume, Step, Stop, "Reset weights" and the progress bar.

The buttons are driven by QActions, so the same commands (and their keyboard
shortcuts) sit in the Training menu; show_state() enables only what makes sense
in each session state. The shortcuts follow debuggers: F5 runs, F6 pauses and
resumes, F10 steps one batch, Shift+F5 stops.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from netexplorer.ui.icons import icon
from netexplorer.ui.session.training_session import IDLE, PAUSED, RUNNING, STARTING, STOPPING
from netexplorer.ui.widgets.accessibility import named
from netexplorer.ui.widgets.actions import make_action

TRAIN_KEY = "F5"
PAUSE_KEY = "F6"
STEP_KEY = "F10"
STOP_KEY = "Shift+F5"


def _action(parent: QWidget, text: str, object_name: str, icon_name: str, key: str,
            tip: str) -> QAction:
    """As make_action, with the shortcut named in the tooltip."""
    act = make_action(parent, text, object_name, icon_name=icon_name, shortcut=key, tip=tip)
    shown = QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)
    act.setToolTip(f"{tip} ({shown})")
    return act


class TrainingControls(QWidget):
    """The row above the settings; the panel connects the actions' triggered."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.train_action = _action(self, "Train", "trainAction", "train", TRAIN_KEY,
                                    "train the model with these settings")
        self.pause_action = _action(self, "Pause", "pauseAction", "pause", PAUSE_KEY,
                                    "pause after the current batch; resume to go on")
        self.step_action = _action(self, "Step", "stepAction", "step", STEP_KEY,
                                   "while paused, train one batch and pause again")
        self.stop_action = _action(self, "Stop", "stopAction", "stop", STOP_KEY,
                                   "end the run after the current batch; the model keeps "
                                   "its weights")
        self._train_tip = self.train_action.toolTip()

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        self.buttons: dict[str, QToolButton] = {}
        for name, action in (("trainButton", self.train_action),
                             ("pauseButton", self.pause_action),
                             ("stepButton", self.step_action), ("stopButton", self.stop_action)):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setMinimumWidth(76)
            named(button, name, action.text())
            row.addWidget(button)
            self.buttons[name] = button

        self.reset_check = named(QCheckBox("Reset &weights"), "resetWeightsCheck",
                                 "Reset weights", "start the next run from fresh weights "
                                 "(seeded) instead of continuing the trained model; applies "
                                 "to one run")
        row.addSpacing(8)
        row.addWidget(self.reset_check)
        row.addSpacing(8)

        self.progress = named(QProgressBar(), "trainingProgress", "Training progress")
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.progress.setMinimumWidth(150)  # the window fits 1,000 px; full text in the tip
        self.progress.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        row.addWidget(self.progress, 1)
        self.show_state(IDLE, ready="")

    @property
    def actions_in_order(self) -> tuple[QAction, ...]:
        return (self.train_action, self.pause_action, self.step_action, self.stop_action)

    def show_state(self, state: str, ready: str) -> None:
        """Enable what means something now. `ready` is "" when a run may start, else
        why not (the Train button's tooltip says it)."""
        idle = state == IDLE
        self.train_action.setEnabled(idle and not ready)
        self.train_action.setToolTip(self._train_tip if idle and not ready else
                                     ready if idle else "a run is under way")
        paused = state == PAUSED
        self.pause_action.setEnabled(state in (STARTING, RUNNING, PAUSED))
        self.pause_action.setText("Resume" if paused else "Pause")
        self.pause_action.setIcon(icon("train" if paused else "pause"))
        key = QKeySequence(PAUSE_KEY).toString(QKeySequence.SequenceFormat.NativeText)
        self.pause_action.setToolTip(f"go on training ({key})" if paused else
                                     f"pause after the current batch ({key})")
        self.step_action.setEnabled(paused)
        self.stop_action.setEnabled(state in (STARTING, RUNNING, PAUSED))
        self.reset_check.setEnabled(idle)
        if state == STOPPING:
            self.stop_action.setEnabled(False)

    def show_progress(self, done: int, total: int, text: str) -> None:
        """The bar and its text. QProgressBar.setValue repaints at once, inside this
        Python call, holding the GIL (~1 ms, styled); with updates off for the
        change, the bar is painted by the event loop instead, in C++."""
        total = max(total, 1)
        bar = self.progress
        bar.setUpdatesEnabled(False)
        try:
            if bar.maximum() != total:
                bar.setRange(0, total)
            bar.setValue(min(done, total))
            bar.setFormat(text)
            bar.setToolTip(text)
        finally:
            bar.setUpdatesEnabled(True)  # schedules one repaint


def training_status_label() -> QLabel:
    """The status bar's word on the run (the training panel keeps it up to date)."""
    return named(QLabel(), "trainingStateLabel", "Training state")
