"""`netexplorer export`: a checkpoint, or a stored run by its id, written in every
format; each file reproduces the checkpoint's model (ONNX in onnxruntime), is
written with the person's umask, and a file that cannot be written or a format
that cannot be told is one line and exit 1.

Commands run in this process (tests/test_cli.py's run_main)."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import stat
import warnings

import numpy as np
import pytest
import torch

from netexplorer.core.checkpoints import load_checkpoint
from netexplorer.core.export import CARD_FILE, FORMATS
from netexplorer.core.files import current_umask
from tests.test_cli import run_main
from tests.test_cli_runs import RUN_ID


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One epoch of the MLP on the bundled digits, saved and stored."""
    folder = tmp_path_factory.mktemp("export")
    ckpt, runs = folder / "mlp.ckpt", folder / "runs"
    code, out, err = run_main("train", "--model", "mlp", "--epochs", 1, "--device", "cpu",
                              "--save", ckpt, "--runs-dir", runs)
    assert code == 0, err
    checkpoint = load_checkpoint(ckpt)
    x = torch.randn(5, *checkpoint.spec.input_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = checkpoint.build_model().eval()(x)
    return {"folder": folder, "ckpt": ckpt, "runs": runs, "x": x, "expected": expected,
            "run_id": re.search(rf"^Run ({RUN_ID})\b", out, re.M).group(1)}


def outputs_of(fmt: str, path, x: torch.Tensor) -> np.ndarray:
    """What the exported file computes for x, read as someone without netexplorer would."""
    if fmt == "onnx":
        ort = pytest.importorskip("onnxruntime")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {"images": x.numpy()})[0]
    if fmt == "pt2":
        module = torch.export.load(str(path)).module()
    elif fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # deprecated upstream
            module = torch.jit.load(str(path))
    else:
        spec = importlib.util.spec_from_file_location("exported_mlp", path)
        generated = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(generated)
        module = generated.Mlp()
        module.load_state_dict(generated.load_checkpoint_weights(str(path.parent / "mlp.ckpt")))
        module.eval()
    with torch.no_grad():
        return module(x).numpy()


@pytest.mark.parametrize("fmt", ["onnx", "pt2", "torchscript", "python"])
def test_every_model_format_reproduces_the_checkpoint(trained, fmt):
    path = trained["folder"] / f"mlp{FORMATS[fmt].suffix}"
    code, out, err = run_main("export", trained["ckpt"], "--format", fmt, "--out", path)
    assert code == 0, err
    assert out.startswith(f"Exported mlp ({trained['ckpt']}) as {FORMATS[fmt].title}")
    assert str(path) in out
    assert ("legacy" in err) == (fmt == "torchscript")
    np.testing.assert_allclose(outputs_of(fmt, path, trained["x"]),
                               trained["expected"].numpy(), rtol=0, atol=1e-4)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~current_umask()


def test_a_stored_run_is_exported_by_its_id_and_the_format_told_by_the_suffix(trained):
    path = trained["folder"] / "from-run.pt2"
    code, out, err = run_main("export", trained["run_id"], "--runs-dir", trained["runs"],
                              "--out", path)
    assert code == 0, err
    assert f"(run {trained['run_id']}, last.ckpt) as torch.export program" in out
    extra = {CARD_FILE: ""}
    torch.export.load(str(path), extra_files=extra)
    card = json.loads(extra[CARD_FILE])
    assert card["dataset"] == "digits" and json.loads(card["classes"])[:2] == ["0", "1"]


def test_metrics_csv_has_a_row_per_step(trained):
    path = trained["folder"] / "metrics.csv"
    code, _, err = run_main("export", trained["ckpt"], "--format", "csv", "--out", path)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0][:3] == ["step", "batch_loss", "learning_rate"]
    steps = len(load_checkpoint(trained["ckpt"]).history["step_losses"])
    assert len(rows) - 1 == steps > 0
    assert rows[-1][3] == "1"  # the epoch that ended on the last step


def test_a_plain_state_dict_has_no_metrics_but_exports_as_onnx(trained, tmp_path):
    weights = tmp_path / "net.pth"
    torch.save(load_checkpoint(trained["ckpt"]).model_state, weights)
    code, _, err = run_main("export", weights, "--model", "mlp", "--out", tmp_path / "m.csv")
    assert code == 1
    assert err.strip() == ("netexplorer: error: the checkpoint holds no training history "
                           "(weights only): there are no metrics to write")
    code, out, err = run_main("export", weights, "--model", "mlp", "--out",
                              tmp_path / "m.onnx")
    assert code == 0, err
    assert "as ONNX at opset 20" in out


@pytest.mark.parametrize("name, message", [
    ("model.bin", "cannot tell the format from 'model.bin': give --format "
                  "onnx|pt2|torchscript|python|csv"),
    ("blocker/model.onnx", "choose another folder"),
])
def test_what_cannot_be_written_is_one_line(trained, tmp_path, name, message):
    (tmp_path / "blocker").write_text("a file, not a folder")
    code, out, err = run_main("export", trained["ckpt"], "--out", tmp_path / name)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err
