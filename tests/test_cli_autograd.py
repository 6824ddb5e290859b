"""`netexplorer autograd` and `netexplorer graph`, headless."""

from __future__ import annotations

import pytest

from netexplorer.cli.main import main


def test_autograd_prints_each_statement_like_the_tutorial(capsys):
    code = main(["autograd", "x = torch.ones(2, 2, requires_grad=True)", "y = x + 2",
                 "z = y * y * 3", "out = z.mean()", "out.backward()", "x.grad", "--tensors"])
    out = capsys.readouterr().out
    assert code == 0
    assert ">>> x.grad\ntensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])" in out
    assert "grad_fn" in out and "AddBackward0" in out and "MeanBackward0" in out


def test_a_refused_statement_says_why_and_fails(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["autograd", "x = torch.ones(3)", "torch.save(x, 'f')"])
    out = capsys.readouterr().out
    assert code == 1
    assert "\nrefused: save is not allowed: the console never writes files" in out
    assert "refused: refused" not in out
    assert list(tmp_path.iterdir()) == []


def test_a_lesson_runs_with_its_failures_on_purpose(capsys):
    assert main(["autograd", "--lesson", "errors"]) == 0
    out = capsys.readouterr().out
    assert out.count("error: ") == 3 and "retain_graph=True" in out


def test_a_multi_line_statement_reads_like_the_prompt(capsys):
    assert main(["autograd", "y = torch.ones(1)\nwhile y.sum() < 10:\n    y = y * 2",
                 "y"]) == 0
    out = capsys.readouterr().out
    assert "... while y.sum() < 10:" in out and "tensor([16.])" in out


def test_autograd_without_statements_is_a_usage_error(capsys):
    assert main(["autograd"]) == 1
    assert "--lesson" in capsys.readouterr().err


def test_graph_prints_the_nodes_grouped_by_layer_and_writes_dot(capsys, tmp_path):
    dot = tmp_path / "lenet.dot"
    svg = tmp_path / "lenet.svg"
    assert main(["graph", "--model", "lenet", "--dot", str(dot), "--svg", str(svg)]) == 0
    out = capsys.readouterr().out
    assert "conv1 (layer 1)\n  ConvolutionBackward0" in out
    assert "conv1.weight" in out and "loss\n  NllLossBackward0" in out
    assert dot.read_text().startswith('digraph "lenet') and svg.read_text().startswith("<svg")


@pytest.mark.parametrize("args", [["graph", "--model", "nonesuch"],
                                  ["graph", "--model", "lenet", "--loss", "hinge"]])
def test_graph_refuses_what_it_cannot_trace_in_one_line(capsys, args):
    assert main(args) == 1
    assert capsys.readouterr().err.startswith("netexplorer: error:")
