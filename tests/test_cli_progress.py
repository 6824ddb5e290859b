"""`train`'s progress: one self-overwriting line with the loss and images/s on a
terminal, nothing extra when the output is a pipe or a file (CI logs)."""

from __future__ import annotations

import io

from netexplorer.cli.run import ProgressLine, progress_text
from netexplorer.core.reports import StepReport


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _report(step: int) -> StepReport:
    return StepReport(1, step, step, 23, 1.25, 1.5, 0.05, 4321.0, step * 0.01)


def test_a_terminal_gets_a_bar_with_loss_speed_and_eta_overwritten_in_place():
    stream = _Terminal()
    line = ProgressLine(stream)
    line.show(progress_text(_report(10), 100, 10, 2.0))
    line.show(progress_text(_report(20), 100, 20, 4.0))
    line.clear()
    text = stream.getvalue()
    assert text.count("\r") == 4 and "\n" not in text  # two shown, one cleared
    assert "[####" in text and " 20.0%" in text and "loss 1.500" in text
    assert "4,321 img/s" in text and "ETA" in text


def test_a_pipe_gets_no_progress_line():
    stream = io.StringIO()
    line = ProgressLine(stream)
    line.show(progress_text(_report(10), 100, 10, 2.0))
    line.clear()
    assert stream.getvalue() == ""


def test_evaluate_shows_its_progress_on_a_terminal(tmp_path, monkeypatch):
    """`netexplorer evaluate` on a terminal: the images evaluated so far, in place."""
    import sys

    from netexplorer.cli.main import main

    assert main(["train", "--model", "mlp", "--dataset", "digits", "--epochs", "1",
                 "--save", str(tmp_path / "m.ckpt"), "--no-store"]) in (0, 3)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["evaluate", str(tmp_path / "m.ckpt")]) == 0
    text = terminal.getvalue()
    assert "evaluating [" in text and "359/359 images" in text and "img/s" in text
