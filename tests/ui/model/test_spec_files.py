"""Saving and opening model specs: round trips, mid-edit files, broken files."""

from __future__ import annotations

import json

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMessageBox

from netexplorer.core.presets import get_preset
from netexplorer.core.specs import ModelSpec


@pytest.fixture
def dialogs(monkeypatch):
    """Answers for the file dialogs and a record of message boxes: nothing blocks."""
    answers = {"open": "", "save": ""}
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *args, **kwargs: (answers["open"], ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (answers["save"], ""))
    for kind in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind,
                            lambda parent, title, text, *a, _k=kind, **kw: shown.append(
                                (_k, text)) or QMessageBox.StandardButton.Ok)
    answers["shown"] = shown
    return answers


def test_save_and_open_round_trip(window, dialogs, tmp_path):
    panel = window.model_panel
    panel.load_preset("mnist-cnn")
    panel.add_layer("relu")
    assert window.isWindowModified()
    target = tmp_path / "mine"
    dialogs["save"] = str(target)
    window.findChild(QAction, "saveSpecAction").trigger()
    saved = tmp_path / "mine.json"  # the suffix is added
    assert saved.is_file()
    assert ModelSpec.from_json(saved.read_text()) == panel.spec
    assert not window.isWindowModified()
    assert window.windowTitle() == "mine.json[*] — netexplorer"
    expected = panel.spec

    panel.load_preset("lenet")
    dialogs["open"] = str(saved)
    window.findChild(QAction, "openSpecAction").trigger()
    assert panel.spec == expected
    assert not window.isWindowModified()
    assert dialogs["shown"] == []
    panel.undo_stack.undo()  # opening is undoable too
    assert panel.spec == get_preset("lenet")


def test_save_goes_back_to_the_same_file(window, dialogs, tmp_path):
    path = tmp_path / "net.json"
    assert window.spec_files.save_spec(path)
    window.model_panel.rename_model("renamed")
    dialogs["save"] = ""  # a second dialog would cancel: Save must not ask again
    window.findChild(QAction, "saveSpecAction").trigger()
    assert json.loads(path.read_text())["name"] == "renamed"


def test_a_mid_edit_stack_reopens_with_its_error(window, dialogs, tmp_path):
    panel = window.model_panel
    panel.remove_layer(6)  # fc1 now lacks its flatten
    path = tmp_path / "broken-shapes.json"
    assert window.spec_files.save_spec(path)
    panel.load_preset("mlp")
    assert window.spec_files.open_spec(path)
    assert panel.summary.error is not None and panel.summary.error.index == 6
    assert panel.error_frame.isVisible() and panel.fix_button.isVisible()


@pytest.mark.parametrize("content, words", [
    (b"{not json", "not valid JSON"),
    (json.dumps({"format": "netexplorer-model", "version": 1, "name": "x",
                 "input_shape": [1, 8, 8],
                 "layers": [{"name": "a", "kind": "conv9d"}]}).encode(), "unknown kind"),
    (b"\xff\xfe\x00garbage", "UTF-8"),
    (b" " * (2 * 2**20), "a model spec is at most"),  # read only up to the limit
])
def test_a_broken_file_is_explained_and_the_model_kept(window, dialogs, tmp_path, content, words):
    panel = window.model_panel
    panel.add_layer("relu")
    before = panel.spec
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    dialogs["open"] = str(path)
    window.findChild(QAction, "openSpecAction").trigger()
    assert panel.spec == before
    ((kind, text),) = dialogs["shown"]
    assert kind == "critical"
    assert "broken.json" in text and words in text and "unchanged" in text
    assert window.isWindowModified()


def test_a_missing_file_is_explained(window, dialogs, tmp_path):
    assert not window.spec_files.open_spec(tmp_path / "nowhere.json")
    ((kind, text),) = dialogs["shown"]
    assert "could not be read" in text


def test_saving_into_a_missing_folder_is_explained(window, dialogs, tmp_path):
    assert not window.spec_files.save_spec(tmp_path / "no" / "such" / "folder" / "x.json")
    ((kind, text),) = dialogs["shown"]
    assert kind == "warning" and "Save model spec as" in text
    assert not (tmp_path / "no").exists()  # nothing created on the way


def test_cancelled_dialogs_change_nothing(window, dialogs):
    before = window.model_panel.spec
    window.findChild(QAction, "openSpecAction").trigger()
    window.findChild(QAction, "saveSpecAsAction").trigger()
    assert window.model_panel.spec == before
    assert dialogs["shown"] == []
