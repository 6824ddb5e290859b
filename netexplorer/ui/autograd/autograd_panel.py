"""The Autograd tab: the tutorial's first half, where a learner watches tensors
and autograd work before training a network with them.

Left, the lessons (lesson_view.py) above the console (console_view.py); right,
three views of what the console holds: every tensor (tensor_view.py), the
graph autograd built behind them (graph_view.py), and the current model's
graph — one forward pass and loss traced, grouped by layer; clicking a layer's
group selects that layer in the model panel (layerChosen), and the graph can be
exported as DOT or SVG.

Statements run on the console's own job thread (a JobQueue: each statement
matters, in order), never on the GUI thread, so a slow statement cannot freeze
the window; the evaluator stops one that runs past its time limit. The Console
itself is made on that thread and only ConsoleStates (plain records) come
back. The model graph is traced on a TaskRunner (only the newest request
counts), from the spec the window gives set_spec().
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from netexplorer.core.autograd.lessons import LESSONS, LessonStep, lesson
from netexplorer.ui.autograd.console_view import ConsoleView
from netexplorer.ui.autograd.graph_view import GraphView
from netexplorer.ui.autograd.lesson_view import (
    DONE,
    FAILED,
    FAILED_ON_PURPOSE,
    NOT_RUN,
    LessonView,
)
from netexplorer.ui.autograd.tensor_view import TensorListView
from netexplorer.ui.icons import icon
from netexplorer.ui.session.workers import JobQueue, TaskFailure, TaskHandle, TaskRunner
from netexplorer.ui.widgets.accessibility import hint_label, named

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.core.autograd.console import Console
    from netexplorer.core.autograd.graph import AutogradGraph
    from netexplorer.core.autograd.outputs import ConsoleState
    from netexplorer.core.specs import ModelSpec

_STATUS_MS = 5000


class ConsoleHost:
    """The Console, made on the console's job thread at its first job and used only
    there (torch loads with it, off the GUI thread)."""

    def __init__(self) -> None:
        self._console: Console | None = None

    def console(self) -> Console:
        if self._console is None:
            from netexplorer.core.autograd.console import Console

            self._console = Console()
        return self._console


def run_statement(host: ConsoleHost, code: str) -> ConsoleState:
    return host.console().run(code)


def run_step(host: ConsoleHost, step: LessonStep) -> ConsoleState:
    return host.console().run_step(step.code, step.needs_cuda, step.without_cuda)


def reset_console(host: ConsoleHost) -> ConsoleState:
    return host.console().reset()


def trace_spec(spec: ModelSpec) -> AutogradGraph:
    from netexplorer.core.autograd.model_graph import trace_model

    return trace_model(spec)


class _StepJob:
    """A lesson step in flight: which lesson and step it was, for its mark."""

    def __init__(self, lesson_key: str, index: int, step: LessonStep) -> None:
        self.lesson_key, self.index, self.step = lesson_key, index, step


class AutogradPanel(QWidget):
    """See the module doc. `last_state` is the newest ConsoleState shown."""

    statusMessage = Signal(str, int)
    layerChosen = Signal(object)  # the layer's index in the model, or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "autogradPanel", "Autograd")
        self._host = ConsoleHost()
        self._jobs = JobQueue("autograd console", self)
        self._tracer = TaskRunner("model graph", self)
        self._pending: list[TaskHandle] = []
        self._steps: dict[int, _StepJob] = {}  # id(handle) → the step it runs
        self._echoed: dict[int, str] = {}  # id(handle) → the statement to show
        self._spec: ModelSpec | None = None
        self._traced: ModelSpec | None = None
        self.last_state: ConsoleState | None = None
        self.model_graph: AutogradGraph | None = None
        self._build()
        first = LESSONS[0]
        self.lessons.show_lesson(first)
        self.console.note(f"{first.title}. {first.intro}")

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        self.lessons = LessonView()
        self.console = ConsoleView()
        self.busy_label = hint_label("", "consoleBusy")
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.lessons)
        console_box = QWidget()
        column = QVBoxLayout(console_box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.console, 1)
        column.addWidget(self.busy_label)
        left.addWidget(console_box)
        left.setStretchFactor(0, 2)
        left.setStretchFactor(1, 3)

        self.tensors = TensorListView()
        self.graph = GraphView("consoleGraph", "Autograd graph",
                               "No graph yet: make a tensor with requires_grad=True and "
                               "compute with it.")
        self.views = named(QTabWidget(), "autogradViews", "What the console holds")
        self.views.setDocumentMode(True)
        self.views.addTab(self.tensors, "Tensors")
        self.views.addTab(self.graph, "Graph")
        self.views.addTab(self._build_model_graph(), "Model graph")
        self.views.currentChanged.connect(self._on_view_changed)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.views)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([480, 720])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(split)

        self.lessons.lessonChosen.connect(self._on_lesson_chosen)
        self.lessons.stepChosen.connect(self.console.editor.set_statement)
        self.lessons.runStepRequested.connect(self.run_next_step)
        self.lessons.runLessonRequested.connect(self.run_rest_of_lesson)
        self.lessons.restartRequested.connect(self.restart_lesson)
        self.console.statementEntered.connect(self.run_statement)
        self._tracer.finished.connect(self._on_model_graph)
        self._tracer.failed.connect(self._on_model_graph_failed)

    def _build_model_graph(self) -> QWidget:
        page = QWidget()
        self.trace_button = named(QPushButton(icon("retry"), "Trace again"), "traceModelButton",
                                  "Trace the model",
                                  "build the model, run one random input and the loss "
                                  "through it, and draw what autograd recorded")
        self.trace_button.clicked.connect(self.trace_model)
        self.export_dot_button = named(QPushButton(icon("export"), "DOT…"), "exportDotButton",
                                       "Export DOT", "save the graph for Graphviz")
        self.export_svg_button = named(QPushButton(icon("export"), "SVG…"), "exportSvgButton",
                                       "Export SVG", "save the graph as an SVG picture")
        self.export_dot_button.clicked.connect(self._on_export_dot)
        self.export_svg_button.clicked.connect(self._on_export_svg)
        self.model_graph_label = named(QLabel("The model's graph is traced when this tab "
                                              "opens."), "modelGraphLabel", "Model graph")
        self.model_graph_label.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.model_graph_label, 1)
        for button in (self.trace_button, self.export_dot_button, self.export_svg_button):
            row.addWidget(button)
        self.model_graph_view = GraphView("modelGraph", "Model graph",
                                          "Open this tab with a valid model to see its graph.")
        self.model_graph_view.groupClicked.connect(self._on_group_clicked)
        column = QVBoxLayout(page)
        column.setContentsMargins(4, 4, 4, 4)
        column.addLayout(row)
        column.addWidget(self.model_graph_view, 1)
        self._set_export_enabled(False)
        return page

    # ------------------------------------------------------------------ the console

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def run_statement(self, code: str) -> TaskHandle:
        """Run a statement typed (or chosen) in the console."""
        return self._submit(run_statement, self._host, code, description=code, echo=True)

    def run_next_step(self) -> TaskHandle | None:
        """Run the lesson's next step; None at the lesson's end."""
        taken = self.lessons.take_next_step()
        if taken is None:
            return None
        index, step = taken
        handle = self._submit(run_step, self._host, step, description=step.code, echo=True)
        self._steps[id(handle)] = _StepJob(self.lessons.lesson.key, index, step)
        return handle

    def run_rest_of_lesson(self) -> list[TaskHandle]:
        """Queue every step not yet run, in order."""
        handles = []
        while (handle := self.run_next_step()) is not None:
            handles.append(handle)
        return handles

    def restart_lesson(self) -> TaskHandle:
        return self.start_lesson(self.lessons.lesson.key)

    def start_lesson(self, key: str) -> TaskHandle:
        """Show lesson `key` from its first step, with the console's names forgotten."""
        chosen = lesson(key)
        self.lessons.show_lesson(chosen)
        self.console.clear()
        self.console.note(f"{chosen.title}. {chosen.intro}")
        return self._submit(reset_console, self._host, description="reset")

    def _submit(self, function: Any, *args: Any, description: str, echo: bool = False
                ) -> TaskHandle:
        """Queue a console job; its statement (`description`, when `echo`) is shown
        with its outputs when it is done, so a queued lesson reads in order."""
        handle = self._jobs.submit(function, *args, description=description)
        if echo:
            self._echoed[id(handle)] = description
        handle.finished.connect(self._on_state)
        handle.failed.connect(self._on_job_failed)
        handle.settled.connect(self._on_settled)
        self._pending.append(handle)
        self._show_busy()
        return handle

    @Slot(object)
    def _on_state(self, state: ConsoleState) -> None:
        handle = self.sender()
        self.last_state = state
        code = self._echoed.pop(id(handle), None)
        if code is not None:
            self.console.echo(code)
        self.console.show_outputs(state.outputs)
        self.tensors.show_records(state.tensors)
        self.graph.show_graph(state.graph)
        job = self._steps.pop(id(handle), None)
        if job is not None and job.lesson_key == self.lessons.lesson.key:
            if any(o.kind == "note" for o in state.outputs) and job.step.needs_cuda:
                mark = NOT_RUN
            else:
                mark = DONE if state.ok else FAILED_ON_PURPOSE if job.step.fails else FAILED
            self.lessons.mark(job.index, mark)
        if state.elapsed_s > 1.0:
            self.statusMessage.emit(f"The statement took {state.elapsed_s:.1f} s", _STATUS_MS)

    @Slot(object)
    def _on_job_failed(self, failure: TaskFailure) -> None:
        handle = self.sender()
        self._steps.pop(id(handle), None)
        code = self._echoed.pop(id(handle), None)
        if code is not None:
            self.console.echo(code)
        self.console.note(f"the console could not run this: {failure.message}", "error")

    @Slot()
    def _on_settled(self) -> None:
        handle = self.sender()
        self._pending = [h for h in self._pending if h is not handle]
        self._show_busy()

    def _show_busy(self) -> None:
        count = len(self._pending)
        self.busy_label.setText("" if not count else
                                "Running…" if count == 1 else f"Running… ({count} waiting)")

    @Slot(str)
    def _on_lesson_chosen(self, key: str) -> None:
        self.start_lesson(key)

    # ------------------------------------------------------------------ the model graph

    def set_spec(self, spec: ModelSpec | None) -> None:
        """The model to trace (None while the model has an error); traced now if its
        tab is showing, else when it is opened."""
        self._spec = spec
        if self._model_graph_showing():
            self._trace_if_changed()

    def _model_graph_showing(self) -> bool:
        return self.isVisible() and self.views.currentIndex() == 2

    @Slot(int)
    def _on_view_changed(self, index: int) -> None:
        if index == 2:
            self._trace_if_changed()

    def _trace_if_changed(self) -> None:
        if self._spec is not None and self._spec != self._traced:
            self.trace_model()

    def trace_model(self) -> TaskHandle | None:
        """Trace the current model's forward pass and loss (None without a valid model)."""
        spec = self._spec
        if spec is None:
            self.model_graph_label.setText("The model has an error: fix it in the model "
                                           "panel to see its graph.")
            return None
        self._traced = spec
        self.model_graph_label.setText(f"Tracing {spec.name}…")
        return self._tracer.submit(trace_spec, spec, description=f"trace {spec.name}")

    @Slot(object)
    def _on_model_graph(self, graph: AutogradGraph) -> None:
        self.model_graph = graph
        self.model_graph_view.show_graph(graph)
        leaves = sum(n.is_leaf for n in graph.nodes)
        self.model_graph_label.setText(
            f"{graph.title}: {len(graph.nodes)} nodes, {leaves} of them parameters (blue), "
            f"in {len(graph.groups)} groups. Weights freshly initialised; click a layer to "
            f"select it in the model panel.")
        self._set_export_enabled(True)

    @Slot(object)
    def _on_model_graph_failed(self, failure: TaskFailure) -> None:
        self._traced = None
        self.model_graph_label.setText(f"The model could not be traced: {failure.message}")

    @Slot(str)
    def _on_group_clicked(self, name: str) -> None:
        group = self.model_graph.group(name) if self.model_graph is not None else None
        if group is not None and group.layer_index is not None:
            self.layerChosen.emit(group.layer_index)
            self.statusMessage.emit(f"Layer {name} selected in the model panel", _STATUS_MS)

    def _set_export_enabled(self, enabled: bool) -> None:
        for button in (self.export_dot_button, self.export_svg_button):
            button.setEnabled(enabled)

    @Slot()
    def _on_export_dot(self) -> None:
        self._export_with_dialog("dot")

    @Slot()
    def _on_export_svg(self) -> None:
        self._export_with_dialog("svg")

    def _export_with_dialog(self, kind: str) -> None:
        graph = self.model_graph
        if graph is None:
            return
        name = (self._traced.name if self._traced is not None else "model") + "-graph"
        filters = {"dot": "Graphviz DOT (*.dot *.gv)", "svg": "SVG picture (*.svg)"}
        path, _ = QFileDialog.getSaveFileName(self, f"Export the graph as {kind.upper()}",
                                              f"{name}.{kind}", filters[kind])
        if path:
            self.export_graph(path, kind)

    def export_graph(self, path: str, kind: str) -> bool:
        """Write the model graph to `path` as "dot" or "svg"; says how it went."""
        from netexplorer.core.autograd.writers import write_graph

        if self.model_graph is None:
            return False
        try:
            write_graph(path, self.model_graph, kind)
        except OSError as exc:
            self.statusMessage.emit(f"Could not write {path}: {exc.strerror or exc}",
                                    _STATUS_MS)
            return False
        self.statusMessage.emit(f"Graph written to {path}", _STATUS_MS)
        return True

    # ------------------------------------------------------------------ closing

    def shutdown(self) -> None:
        """Let the running statement end and stop both threads (the window closes)."""
        self._jobs.shutdown()
        self._tracer.shutdown()
