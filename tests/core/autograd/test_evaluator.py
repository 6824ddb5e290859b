"""The console's evaluator: what the tutorial needs runs; everything else is refused
before it has any effect, with a sentence saying which construct."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netexplorer.core.autograd.evaluator import Evaluator, Stopped
from netexplorer.core.autograd.limits import MAX_ELEMENTS, Refused

# (statement, words the refusal must contain)
REFUSED = [
    ("__import__('os')", "__import__"),
    ("().__class__.__bases__", "__"),
    ("open('f')", "open"),
    ("getattr(x, 'y')", "getattr"),
    ("lambda: 0", "lambda"),
    ("[i for i in x]", "comprehension"),
    ("torch.ones(10**9)", "1,000,000,000 elements"),
    ("torch.save(x, 'f')", "save"),
    ("x.numpy().tofile('f')", "tofile"),
    ("import os", "import"),
    ("x._version", "version counter"),
    ("torch.load('f')", "load"),
    ("np.ones((10**5, 10**5))", "elements"),
    ("torch.ones(3000, 3000) @ torch.ones(3000, 3000)", "floating-point operations"),
    ("torch.ones(1, 10**5).repeat(1000, 1)", "elements"),
    ("10**10**10", "bits"),
    ("'a' * 10**9", "items"),
    ("f'{x}'", "f-strings"),
    ("torch = 1", "console's own names"),
    ("x.data_ptr()", "raw memory"),
    ("max(x)", "x.max()"),
    ("torch.no_grad()(torch.ones)", "not allowed"),
]


@pytest.fixture
def evaluator() -> Evaluator:
    ev = Evaluator()
    ev.run("x = torch.ones(3)")
    return ev


@pytest.mark.parametrize(("statement", "words"), REFUSED)
def test_refusals_say_what_and_change_nothing(evaluator, statement, words, tmp_path,
                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = dict(evaluator.names)
    version = evaluator.names["x"]._version
    with pytest.raises(Refused) as refusal:
        evaluator.run(statement)
    assert words in str(refusal.value)
    assert evaluator.names.keys() == before.keys()
    assert all(evaluator.names[n] is before[n] for n in before)
    assert evaluator.names["x"]._version == version
    assert list(tmp_path.iterdir()) == []  # no file 'f' was ever written


def test_a_refused_file_write_never_appears(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ev = Evaluator()
    ev.run("x = torch.ones(3)")
    for statement in ("torch.save(x, 'f')", "x.numpy().tofile('f')", "open('f', 'w')",
                      "np.save('f', x.numpy())"):
        with pytest.raises(Refused):
            ev.run(statement)
    assert not (tmp_path / "f").exists() and list(tmp_path.iterdir()) == []


def test_a_function_under_another_name_is_checked_the_same():
    ev = Evaluator()
    ev.run("f = torch.ones\nm = torch.ones(1, 10**5).repeat")
    for statement in ("f(10**9)", "m(1000, 1)"):
        with pytest.raises(Refused, match="elements"):
            ev.run(statement)
    assert set(ev.names) == {"f", "m"}


def test_the_tutorials_statements_run():
    ev = Evaluator()
    ev.run("x = torch.ones(2, 2, requires_grad=True)\ny = x + 2\nz = y * y * 3\n"
           "out = z.mean()\nout.backward()")
    assert torch.equal(ev.names["x"].grad, torch.full((2, 2), 4.5))
    [result] = ev.run("y.grad_fn")
    assert result.has_value and type(result.value).__name__ == "AddBackward0"
    [printed] = ev.run("with torch.no_grad():\n    print((x ** 2).requires_grad)")
    assert printed.printed == "False\n"


def test_a_failing_statement_binds_no_names():
    ev = Evaluator()
    ev.run("a = torch.ones(2)")
    with pytest.raises(RuntimeError):
        ev.run_statement(__import__("ast").parse("b = a + torch.ones(3)").body[0],
                         "b = a + torch.ones(3)")
    assert set(ev.names) == {"a"}


def test_a_loop_past_the_time_limit_is_stopped():
    ev = Evaluator(time_limit_s=0.2)
    with pytest.raises(Stopped, match="0.2 s"):
        ev.run("k = 0\nwhile k >= 0:\n    k = k + torch.ones(100).sum()")
    assert "k" not in ev.names or not isinstance(ev.names["k"], torch.Tensor)


def test_a_loop_past_its_passes_is_stopped():
    ev = Evaluator(time_limit_s=60)
    with pytest.raises(Stopped, match="passes"):
        ev.run("k = 0\nwhile True:\n    k += 1")


def test_sizes_at_the_limit_run_and_past_it_are_refused():
    ev = Evaluator()
    ev.run(f"a = torch.zeros({MAX_ELEMENTS})")
    assert ev.names["a"].numel() == MAX_ELEMENTS
    with pytest.raises(Refused):
        ev.run(f"b = torch.zeros({MAX_ELEMENTS + 1})")


def test_attributes_are_checked_by_the_objects_type():
    ev = Evaluator()
    ev.run("a = np.ones(3)")
    with pytest.raises(Refused, match="numpy array"):
        ev.run("a.view")  # a tensor method, not an array one
    ev.run("t = torch.ones(2)\nt.requires_grad = True\nt.grad = None")
    assert ev.names["t"].requires_grad
    assert isinstance(ev.names["a"], np.ndarray)
