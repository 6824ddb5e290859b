"""Every lesson reproduces the tutorial's values when its steps run in order."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from netexplorer.core.autograd.console import CHANGED, ERROR, NOTE, Console
from netexplorer.core.autograd.lessons import LESSONS, lesson


def run_lesson(key: str, console: Console | None = None) -> tuple[Console, list]:
    console = console or Console()
    console.reset()
    states = [console.run_step(s.code, s.needs_cuda, s.without_cuda)
              for s in lesson(key).steps]
    return console, states


@pytest.mark.parametrize("key", [item.key for item in LESSONS])
def test_every_step_does_what_its_lesson_says(key):
    _, states = run_lesson(key)
    for step, state in zip(lesson(key).steps, states):
        assert state.ok != step.fails, (step.code, state.outputs)


def test_autograd_gives_4_5_everywhere():
    console, states = run_lesson("autograd")
    x = console.names["x"]
    assert torch.equal(x.grad, torch.full((2, 2), 4.5))
    assert type(console.names["y"].grad_fn).__name__ == "AddBackward0"
    leaf = next(n for n in states[6].graph.nodes if n.label == "x")
    assert leaf.is_leaf and leaf.grad is not None and np.allclose(leaf.grad.values, 4.5)


def test_the_vector_jacobian_gradient_is_two_to_the_doublings_times_v():
    console, _ = run_lesson("vjp")
    x, y = console.names["x"], console.names["y"]
    ratio = (y / x).detach()
    k = math.log2(float(ratio[0]))
    assert k == int(k) and k >= 1 and torch.allclose(ratio, ratio[0].expand(3))
    assert float(y.detach().norm()) >= 1000 > float(y.detach().norm()) / 2
    expected = 2 ** int(k) * torch.tensor([0.1, 1.0, 0.0001])
    assert torch.allclose(x.grad, expected)


def test_the_numpy_view_changes_with_the_tensor():
    console, states = run_lesson("numpy")
    a, b, c, d = (console.names[n] for n in "abcd")
    assert np.array_equal(b, np.full(5, 2.0)) and torch.equal(a, torch.full((5,), 2.0))
    assert np.array_equal(c, np.full(5, 2.0)) and torch.equal(d, torch.full((5,), 2.0,
                                                                           dtype=torch.float64))
    add_step = states[2]  # a.add_(1)
    changed = {o.text.split(":")[0] for o in add_step.outputs if o.kind == CHANGED}
    assert changed == {"a", "b"}
    through_numpy = states[6]  # np.add(c, 1, out=c)
    assert {o.text.split(":")[0] for o in through_numpy.outputs if o.kind == CHANGED} \
        == {"c", "d"}
    record = {r.name: r for r in add_step.tensors}
    assert record["b"].shares_memory_with == ("a",) and record["a"].version == 1


def test_in_place_addition_raises_the_version_counter():
    console, states = run_lesson("operations")
    versions = [{r.name: r.version for r in s.tensors}.get("y") for s in states]
    add_in_place = next(i for i, s in enumerate(lesson("operations").steps)
                        if s.code == "y.add_(x)")
    assert versions[add_in_place - 1] == 0 and versions[add_in_place] == 1
    assert any("version 0 → 1" in o.text for o in states[add_in_place].outputs)


def test_the_three_errors_are_said_in_a_persons_words():
    _, states = run_lesson("errors")
    errors = [o.text for s in states for o in s.outputs if o.kind == ERROR]
    assert len(errors) == 3
    assert "retain_graph=True" in errors[0]
    assert "vector" in errors[1] and "torch.ones_like(y)" in errors[1]
    assert "changed in place" in errors[2] and "(y)" in errors[2] and "version 0" in errors[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_without_cuda_the_lesson_says_what_would_happen():
    _, states = run_lesson("cuda")
    steps = lesson("cuda").steps
    for step, state in zip(steps, states):
        if step.needs_cuda:
            [note] = state.outputs
            assert note.kind == NOTE and step.without_cuda in note.text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_the_tensors_move_there_and_back():
    console, states = run_lesson("cuda")
    assert all(s.ok for s in states)
    assert console.names["z"].device.type == "cuda"
    records = {r.name: r for r in states[-1].tensors}
    assert records["x"].device.startswith("cuda") and records["y"].device.startswith("cuda")
    back = states[-1].outputs[-1].text
    assert "torch.float64" in back and "cuda" not in back
