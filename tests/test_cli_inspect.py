"""`netexplorer inspect`: the tutorial's hook printout (every layer's input and
output size, output norm and gradient norm) after a few probed training steps,
the doctor's alerts, and bad arguments ending in one line and a non-zero exit.

The output is read through pytest's capsys: run_inspection must look up
sys.stdout when it runs, not when netexplorer.cli.run was imported.
"""

from __future__ import annotations

import re

import pytest
import torch

from netexplorer.cli import EXIT_FAILED, main
from netexplorer.core.presets import get_preset


@pytest.fixture
def inspect(capsys):
    """main(['inspect', …]) in this process: exit code, stdout, stderr."""
    threads = torch.get_num_threads()  # the command applies the thread policy

    def run(*argv) -> tuple[int, str, str]:
        try:
            code = main(["inspect", *map(str, argv)])
        finally:
            torch.set_num_threads(threads)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def table_rows(stdout: str) -> dict[str, str]:
    """The probe table's rows by layer name (between the rule and the alerts)."""
    lines = stdout.splitlines()
    rule = next(i for i, line in enumerate(lines) if line and set(line) == {"─"})
    rows = {}
    for line in lines[rule + 1:]:
        if not line.strip() or line.startswith(("Alerts:", "No alerts")):
            break
        rows[line.split()[0]] = line
    return rows


def test_inspect_prints_the_tutorials_sizes(inspect):
    code, out, err = inspect("--model", "mnist-cnn", "--dataset", "digits", "--steps", 2)
    assert code == 0, err
    lines = out.splitlines()
    assert re.match(r"mnist-cnn on digits: 2 training step\(s\) of 1 image\(s\), lr 0\.05",
                    lines[0])
    header = lines[1]
    for title in ("layer", "input size", "output size", "output norm", "grad norm",
                  "weight norm", "update"):
        assert title in header
    rows = table_rows(out)
    assert list(rows) == [spec.name for spec in get_preset("mnist-cnn").layers]
    conv2 = rows["conv2"].split()
    assert conv2[:4] == ["conv2", "conv2d", "1×10×12×12", "1×20×8×8"]
    assert rows["conv1"].split()[2:4] == ["1×1×28×28", "1×10×24×24"]
    assert rows["fc2"].split()[3] == "1×10"
    assert "–" not in " ".join(conv2[4:6])  # output norm and grad norm were measured
    assert "No alerts: every layer looks healthy." in out or "Alerts:" in out


def test_inspect_names_vanishing_gradients(inspect):
    code, out, err = inspect("--model", "deep-sigmoid", "--steps", 40, "--batch-size", 16)
    assert code == 0, err
    assert "Alerts:" in out and "No alerts" not in out
    vanishing = [line for line in out.splitlines() if "vanish" in line]
    assert len(vanishing) == 1
    assert re.match(r"^  \[step \d+\] fc1: its gradients are .* times those of the last "
                    r"layer 'out'", vanishing[0])
    assert table_rows(out)["fc1"].split()[2:4] == ["16×784", "16×64"]


@pytest.mark.parametrize("argv, message", [
    (["--steps", 0], "--steps, --batch-size and --every must be at least 1"),
    (["--batch-size", 0], "--steps, --batch-size and --every must be at least 1"),
    (["--every", -1], "--steps, --batch-size and --every must be at least 1"),
    (["--model", "nope"], "there is no preset 'nope'"),
    (["--lr", 0], "learning rate must be above 0"),
    (["--dataset", "nope"], "unknown dataset 'nope'"),
])
def test_bad_arguments_end_in_one_line(inspect, argv, message):
    code, out, err = inspect(*argv)
    assert code == EXIT_FAILED
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("netexplorer: error: ") and message in err
