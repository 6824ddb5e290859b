"""The lessons: pick one, read what it is about, step through its statements.

Each step shows its code and a note on what to look at; the next step to run is
marked ▶, steps already run ✓ (✖ when one failed, ⚠ for those that fail on
purpose, — for CUDA steps that could not run here). Clicking a step puts its code in the console's
editor to change and run; "Run step" runs the next one, "Run lesson" the rest.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from netexplorer.core.autograd.lessons import LESSONS, Lesson, LessonStep
from netexplorer.ui.icons import icon
from netexplorer.ui.widgets.accessibility import hint_label, named

PENDING, NEXT, DONE, FAILED, FAILED_ON_PURPOSE, NOT_RUN = "", "▶", "✓", "✖", "⚠", "—"


class LessonView(QWidget):
    """See the module doc. lessonChosen(key) when another lesson is picked;
    stepChosen(code) when a step is clicked; runStepRequested() and
    runLessonRequested() for the two buttons."""

    lessonChosen = Signal(str)
    stepChosen = Signal(str)
    runStepRequested = Signal()
    runLessonRequested = Signal()
    restartRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "lessonView", "Lessons")
        self.lesson: Lesson = LESSONS[0]
        self.next_step = 0
        self.picker = named(QComboBox(), "lessonPicker", "Lesson",
                            "the tutorial's first half, in its order")
        for item in LESSONS:
            self.picker.addItem(item.title, item.key)
        self.picker.currentIndexChanged.connect(self._on_picked)
        self.intro = hint_label("", "lessonIntro")
        self.steps = named(QListWidget(), "lessonSteps", "Lesson steps",
                           "click a step to put it in the console, to change and run")
        self.steps.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.steps.setWordWrap(True)
        self.steps.setAlternatingRowColors(True)
        self.steps.itemClicked.connect(self._on_step_clicked)
        self.run_step_button = named(QPushButton(icon("next"), "Run step"), "runStepButton",
                                     "Run step", "run the lesson's next step (F10)")
        self.run_step_button.setShortcut("F10")
        self.run_lesson_button = named(QPushButton(icon("train"), "Run lesson"),
                                       "runLessonButton", "Run lesson",
                                       "run the rest of the lesson's steps")
        self.restart_button = named(QPushButton(icon("retry"), "Start over"),
                                    "restartLessonButton", "Start over",
                                    "forget every name and start the lesson from its first "
                                    "step")
        self.run_step_button.clicked.connect(self.runStepRequested)
        self.run_lesson_button.clicked.connect(self.runLessonRequested)
        self.restart_button.clicked.connect(self.restartRequested)
        buttons = QHBoxLayout()
        for button in (self.run_step_button, self.run_lesson_button, self.restart_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.picker)
        layout.addWidget(self.intro)
        layout.addWidget(self.steps, 1)
        layout.addLayout(buttons)
        self.show_lesson(self.lesson)

    def show_lesson(self, lesson: Lesson) -> None:
        """Show `lesson` from its first step (the console is reset by the panel)."""
        self.lesson = lesson
        self.next_step = 0
        self.picker.blockSignals(True)
        self.picker.setCurrentIndex(self.picker.findData(lesson.key))
        self.picker.blockSignals(False)
        self.intro.setText(lesson.intro)
        self.steps.clear()
        for step in lesson.steps:
            item = QListWidgetItem()
            item.setToolTip(step.note or step.code)
            self.steps.addItem(item)
        self._refresh_marks({})

    def take_next_step(self) -> tuple[int, LessonStep] | None:
        """The next step to run (marked as taken), or None at the lesson's end."""
        if self.next_step >= len(self.lesson.steps):
            return None
        index = self.next_step
        self.next_step += 1
        self._refresh_marks({})
        return index, self.lesson.steps[index]

    def mark(self, index: int, outcome: str) -> None:
        """Mark step `index` with how it went (DONE, FAILED_ON_PURPOSE, NOT_RUN)."""
        self._refresh_marks({index: outcome})

    def _refresh_marks(self, marks: dict[int, str]) -> None:
        for i, step in enumerate(self.lesson.steps):
            item = self.steps.item(i)
            mark = marks.get(i, item.data(Qt.ItemDataRole.UserRole) or PENDING)
            if i == self.next_step and mark == PENDING:
                shown = NEXT
            else:
                shown = mark
            item.setData(Qt.ItemDataRole.UserRole, mark)
            note = f"\n    # {step.note}" if step.note else ""
            code = step.code.replace("\n", "\n    ")
            item.setText(f"{shown or ' '} {code}{note}")
        self.run_step_button.setEnabled(self.next_step < len(self.lesson.steps))
        self.run_lesson_button.setEnabled(self.next_step < len(self.lesson.steps))

    def step_mark(self, index: int) -> str:
        return self.steps.item(index).data(Qt.ItemDataRole.UserRole) or PENDING

    @Slot(int)
    def _on_picked(self, index: int) -> None:
        key = self.picker.itemData(index)
        if key:
            self.lessonChosen.emit(key)

    @Slot(QListWidgetItem)
    def _on_step_clicked(self, item: QListWidgetItem) -> None:
        self.stepChosen.emit(self.lesson.steps[self.steps.row(item)].code)
