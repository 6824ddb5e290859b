"""The console: a transcript of statements and what each did, and a line to type
the next one.

The transcript reads like Python's prompt (`>>> y = x + 2`, then the value),
with in-place changes in violet (`✎ y: changed in place (version 0 → 1)`),
refusals in amber and errors in red, each said in a person's words. The editor
runs its statement on Enter (Shift+Enter starts a new line, for `while` and
`with` blocks); Up and Down walk the history.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QKeyEvent, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from netexplorer.core.autograd.outputs import (
    CHANGED,
    ERROR,
    NOTE,
    PRINTED,
    REFUSED,
    STOPPED,
    VALUE,
    Output,
)
from netexplorer.ui.icons import icon
from netexplorer.ui.widgets.accessibility import named

_STYLES = {
    VALUE: ("", "#111827"),
    PRINTED: ("", "#374151"),
    CHANGED: ("✎ ", "#6d28d9"),
    REFUSED: ("⛔ ", "#b45309"),
    STOPPED: ("⏱ ", "#b45309"),
    ERROR: ("✖ ", "#b91c1c"),
    NOTE: ("ℹ ", "#0f766e"),
}


def output_html(output: Output) -> str:
    """One output as transcript HTML (its first line bold for errors and refusals)."""
    mark, colour = _STYLES.get(output.kind, ("", "#111827"))
    lines = output.text.splitlines() or [""]
    if output.kind in (ERROR, REFUSED, STOPPED) and len(lines) > 1:
        body = (f"<b>{escape(lines[0])}</b><br><span style='color:#6b7280'>"
                f"{'<br>'.join(escape(line) for line in lines[1:])}</span>")
    else:
        body = "<br>".join(escape(line) for line in lines)
    return (f"<div style='color:{colour}; margin-left:12px; white-space:pre-wrap'>"
            f"{escape(mark)}{body}</div>")


def prompt_html(code: str) -> str:
    lines = code.splitlines() or [""]
    marks = [">>>"] + ["..."] * (len(lines) - 1)
    rows = "<br>".join(f"<span style='color:#2563eb'>{m}</span> {escape(line)}"
                       for m, line in zip(marks, lines))
    return f"<div style='margin-top:6px; white-space:pre-wrap'>{rows}</div>"


class StatementEditor(QPlainTextEdit):
    """The input line (see the module doc); submitted(text) on Enter."""

    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "statementEditor", "Statement",
              "a statement in Python syntax; Enter runs it, Shift+Enter adds a line, "
              "Up and Down walk the history")
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setPlaceholderText("x = torch.ones(2, 2, requires_grad=True)")
        self.setTabChangesFocus(True)
        self.setFixedHeight(self.fontMetrics().height() * 3 + 12)
        self.history: list[str] = []
        self._place = 0

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, shift = event.key(), event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not shift:
            self.submit()
            return
        cursor = self.textCursor()
        if key == Qt.Key.Key_Up and cursor.blockNumber() == 0 and self.history:
            self._walk(-1)
            return
        if key == Qt.Key.Key_Down and cursor.blockNumber() == self.blockCount() - 1 \
                and self.history:
            self._walk(1)
            return
        super().keyPressEvent(event)

    def submit(self) -> None:
        text = self.toPlainText().strip("\n")
        if not text.strip():
            return
        if not self.history or self.history[-1] != text:
            self.history.append(text)
        self._place = len(self.history)
        self.clear()
        self.submitted.emit(text)

    def set_statement(self, text: str) -> None:
        self.setPlainText(text)
        self.moveCursor(QTextCursor.MoveOperation.End)
        self.setFocus()

    def _walk(self, step: int) -> None:
        self._place = max(0, min(len(self.history), self._place + step))
        self.setPlainText(self.history[self._place] if self._place < len(self.history)
                          else "")
        self.moveCursor(QTextCursor.MoveOperation.End)


class ConsoleView(QWidget):
    """The transcript and the editor; statementEntered(text) when one is submitted."""

    statementEntered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "consoleView", "Console")
        self.transcript = named(QTextEdit(), "consoleTranscript", "Console transcript")
        self.transcript.setReadOnly(True)
        self.transcript.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.transcript.document().setDocumentMargin(8)
        self.editor = StatementEditor()
        self.run_button = named(QPushButton(icon("step"), "Run"), "runStatementButton",
                                "Run", "run the statement (Enter)")
        self.run_button.clicked.connect(self.editor.submit)
        self.editor.submitted.connect(self.statementEntered)
        row = QHBoxLayout()
        row.addWidget(self.editor, 1)
        row.addWidget(self.run_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.transcript, 1)
        layout.addLayout(row)

    def echo(self, code: str) -> None:
        """Show a statement that ran (before its outputs)."""
        self._append(prompt_html(code))

    def show_outputs(self, outputs: tuple[Output, ...]) -> None:
        for output in outputs:
            self._append(output_html(output))

    def note(self, text: str, kind: str = NOTE) -> None:
        self._append(output_html(Output("", kind, text)))

    def clear(self) -> None:
        self.transcript.clear()

    def text(self) -> str:
        return self.transcript.toPlainText()

    def _append(self, html: str) -> None:
        cursor = self.transcript.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertHtml(html)
        cursor.insertBlock()
        self.transcript.setTextCursor(cursor)
        self.transcript.ensureCursorVisible()
