"""File → Export after a short run: checkpoint, ONNX, torch.export program, TorchScript
(legacy), Python module, metrics CSV — each written by a session job, each
reproducing the app's model."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import warnings

import pytest
import torch
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from tests.ui.debugging_helpers import model_outputs, train


def export_menu(window) -> QMenu:
    file_menu = window.menuBar().findChild(QMenu, "fileMenu")
    [menu] = [a.menu() for a in file_menu.actions() if a.menu() is not None
              and a.menu().objectName() == "exportMenu"]
    return menu


def action(window, name: str) -> QAction:
    found = window.findChild(QAction, name)
    assert found is not None, name
    return found


def export_to(qtbot, window, monkeypatch, name: str, path, written=None) -> None:
    """Choose the action, answer the save dialog with `path`, wait for the file
    (`written`, if the exporter adds a suffix)."""
    written = written or path
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *args, **kwargs: (str(path), "")))
    with qtbot.waitSignal(window.exporter.exported, timeout=30_000,
                          check_params_cb=lambda _what, p: p == str(written)):
        action(window, name).trigger()
    assert written.exists()
    assert str(written) in window.statusBar().currentMessage()


def test_export_menu_sits_in_the_file_menu_and_waits_for_a_model(window):
    menu = export_menu(window)
    names = [a.objectName() for a in menu.actions() if not a.isSeparator()]
    assert names == ["exportCheckpointAction", "exportOnnxAction", "exportProgramAction",
                     "exportTorchScriptAction", "exportPythonAction", "exportMetricsAction"]
    assert "(legacy)" in action(window, "exportTorchScriptAction").text()
    assert "deprecated" in action(window, "exportTorchScriptAction").statusTip()
    menu.aboutToShow.emit()
    assert not action(window, "exportTorchScriptAction").isEnabled()
    assert "train" in action(window, "exportTorchScriptAction").toolTip()
    assert action(window, "exportPythonAction").isEnabled()  # needs only the spec
    # A checkpoint needs only a valid model, as File → Save checkpoint does.
    assert action(window, "exportCheckpointAction").isEnabled()
    assert window.findChild(QAction, "saveCheckpointAction").isEnabled()
    assert not action(window, "exportMetricsAction").isEnabled()
    file_actions = window.menuBar().findChild(QMenu, "fileMenu").actions()
    assert file_actions[-1].objectName() == "quitAction"


def test_every_export_reproduces_the_trained_model(window, qtbot, monkeypatch, tmp_path):
    train(qtbot, window)
    export_menu(window).aboutToShow.emit()
    for name in ("exportCheckpointAction", "exportOnnxAction", "exportProgramAction",
                 "exportTorchScriptAction", "exportPythonAction", "exportMetricsAction"):
        assert action(window, name).isEnabled(), name
    x = window.data_view.dataset.test.images[:16]
    expected, state = model_outputs(qtbot, window, x)
    dataset = window.data_view.dataset

    # ONNX: onnxruntime gives the same outputs; the file names the dataset's classes.
    ort = pytest.importorskip("onnxruntime")
    export_to(qtbot, window, monkeypatch, "exportOnnxAction", tmp_path / "lenet",
              tmp_path / "lenet.onnx")
    session = ort.InferenceSession(str(tmp_path / "lenet.onnx"),
                                   providers=["CPUExecutionProvider"])
    [got] = session.run(None, {"images": x.numpy()})
    assert torch.allclose(torch.from_numpy(got), expected, rtol=0, atol=1e-4)
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == list(dataset.classes)
    assert json.loads(meta["mean"]) == list(dataset.normalization.mean)

    # The torch.export program.
    export_to(qtbot, window, monkeypatch, "exportProgramAction", tmp_path / "lenet.pt2")
    program = torch.export.load(str(tmp_path / "lenet.pt2")).module()
    with torch.no_grad():
        assert torch.allclose(program(x), expected, rtol=0, atol=1e-5)

    # TorchScript: loads without netexplorer and matches.
    export_to(qtbot, window, monkeypatch, "exportTorchScriptAction", tmp_path / "lenet.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated upstream
        scripted = torch.jit.load(str(tmp_path / "lenet.pt"))
    with torch.no_grad():
        assert torch.allclose(scripted(x), expected, rtol=0, atol=1e-6)

    # The Python module: the same outputs for the same weights, loaded with strict=True.
    path = tmp_path / "lenet_net.py"  # the suffix is added
    export_to(qtbot, window, monkeypatch, "exportPythonAction", tmp_path / "lenet_net", path)
    spec = importlib.util.spec_from_file_location("lenet_net", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.Lenet()
    net.load_state_dict(state, strict=True)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), expected)

    # A checkpoint, which the generated module reads too.
    export_to(qtbot, window, monkeypatch, "exportCheckpointAction", tmp_path / "lenet.ckpt")
    net.load_state_dict(module.load_checkpoint_weights(str(tmp_path / "lenet.ckpt")))
    with torch.no_grad():
        assert torch.equal(net(x), expected)

    # The run's metrics.
    export_to(qtbot, window, monkeypatch, "exportMetricsAction", tmp_path / "metrics.csv")
    rows = list(csv.reader(io.StringIO((tmp_path / "metrics.csv").read_text())))
    assert rows[0][:3] == ["step", "batch_loss", "learning_rate"]
    assert len(rows) - 1 == len(window.session.current_run.steps)
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("name", ["exportPythonAction", "exportCheckpointAction"])
def test_a_failed_export_says_what_to_do(window, qtbot, monkeypatch, tmp_path, name):
    if name == "exportCheckpointAction":
        train(qtbot, window)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = blocker / "model.out"  # no folder can be made here
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *args, **kwargs: (str(target), "")))
    shown = []
    monkeypatch.setattr(QMessageBox, "warning",
                        staticmethod(lambda parent, title, text, *a: shown.append(text)))
    export_menu(window).aboutToShow.emit()
    with qtbot.waitSignal(window.exporter.exportFailed, timeout=30_000):
        action(window, name).trigger()
    assert len(shown) == 1
    assert "could not be exported" in shown[0] and "another folder" in shown[0]
    assert not target.exists()


def test_a_cancelled_dialog_exports_nothing(window, qtbot, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *args, **kwargs: ("", "")))
    assert window.exporter.export_python() is None
