"""The Autograd tab: statements run off the GUI thread and come back as records;
lessons step in order; the model's graph is traced, and clicking a layer's group
selects that layer in the model panel."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QPointF, Qt

from netexplorer.core.autograd.lessons import lesson
from netexplorer.core.presets import get_preset
from netexplorer.ui.autograd import autograd_panel as panel_module
from netexplorer.ui.autograd.autograd_panel import AutogradPanel
from netexplorer.ui.autograd.lesson_view import DONE, FAILED_ON_PURPOSE


@pytest.fixture
def panel(qtbot):
    widget = AutogradPanel()
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.show()
    yield widget
    widget.shutdown()


def wait_done(qtbot, panel, handles, timeout=60_000):
    for handle in handles:
        if not handle.done:
            with qtbot.waitSignal(handle.settled, timeout=timeout):
                pass
    assert not panel.busy


def test_a_statement_runs_on_the_console_thread_and_shows_its_tensor(qtbot, panel,
                                                                     monkeypatch):
    threads = []
    real = panel_module.run_statement

    def spy(host, code):
        threads.append(threading.current_thread())
        return real(host, code)

    monkeypatch.setattr(panel_module, "run_statement", spy)
    handle = panel.run_statement("x = torch.ones(2, 2, requires_grad=True)")
    wait_done(qtbot, panel, [handle])
    assert threads and threads[0] is not threading.main_thread()
    card = panel.tensors.card("x")
    assert card is not None and card.record.requires_grad and card.record.version == 0
    assert [n.label for n in panel.graph.graph.nodes] == ["x"]
    assert ">>> x = torch.ones(2, 2, requires_grad=True)" in panel.console.text()


def test_a_lesson_runs_in_order_and_marks_its_steps(qtbot, panel):
    wait_done(qtbot, panel, [panel.start_lesson("errors")])
    handles = panel.run_rest_of_lesson()
    wait_done(qtbot, panel, handles)
    steps = lesson("errors").steps
    for i, step in enumerate(steps):
        assert panel.lessons.step_mark(i) == (FAILED_ON_PURPOSE if step.fails else DONE)
    text = panel.console.text()
    # prompts and outputs alternate in the order the steps ran
    assert text.index(">>> y.add_(1)") < text.index("changed in place (version 0 → 1)") \
        < text.index(">>> z.sum().backward()")
    assert "retain_graph=True" in text and "vector" in text
    assert not panel.lessons.run_step_button.isEnabled()


def test_a_refusal_is_shown_and_leaves_the_names(qtbot, panel, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    handles = [panel.run_statement("x = torch.ones(3)"),
               panel.run_statement("x.numpy().tofile('f')")]
    wait_done(qtbot, panel, handles)
    assert "refused: tofile is not allowed" in panel.console.text()
    assert [c.record.name for c in panel.tensors.cards] == ["x"]
    assert list(tmp_path.iterdir()) == []


def test_the_autograd_lesson_draws_the_graph_with_gradients(qtbot, panel):
    wait_done(qtbot, panel, [panel.start_lesson("autograd")])
    wait_done(qtbot, panel, [panel.run_next_step() for _ in range(7)])
    graph = panel.graph.graph
    leaf = next(n for n in graph.nodes if n.label == "x")
    assert leaf.grad is not None and (leaf.grad.values == 4.5).all()
    assert {n.op for n in graph.nodes} >= {"AddBackward0", "MulBackward0", "MeanBackward0"}
    assert set(panel.graph.node_items) == {n.key for n in graph.nodes}
    x_card = panel.tensors.card("x")
    assert x_card is not None and x_card.record.grad is not None


def test_clicking_a_layer_in_the_model_graph_selects_it_in_the_model_panel(qtbot, window,
                                                                            tmp_path):
    window.model_panel.set_spec(get_preset("lenet"))
    lab = window.autograd_panel
    window.tabs.setCurrentWidget(lab)
    with qtbot.waitSignal(lab._tracer.finished, timeout=60_000):
        lab.views.setCurrentIndex(2)
    assert lab.model_graph is not None and lab.model_graph.group("conv2") is not None
    view = lab.model_graph_view
    assert set(view.group_items) == {g.name for g in lab.model_graph.groups}
    box = view.drawn.group_boxes["conv2"]
    view.centerOn(box.x + 4, box.y + box.height / 2)
    inside = view.mapFromScene(QPointF(box.x + 4, box.y + box.height / 2))
    with qtbot.waitSignal(lab.layerChosen, check_params_cb=lambda i: i == 3):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=inside)
    assert window.model_panel.selected_index == 3
    assert lab.export_graph(str(tmp_path / "lenet.dot"), "dot")
    assert (tmp_path / "lenet.dot").read_text().startswith('digraph "lenet')
