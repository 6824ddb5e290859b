"""File → Save checkpoint… and Open checkpoint… around training."""

from __future__ import annotations

import pickle

from PySide6.QtGui import QAction

from netexplorer.core.checkpoints import load_checkpoint
from netexplorer.core.presets import get_preset
from netexplorer.ui.checkpoint_files import CheckpointFiles
from tests.ui.training_helpers import answer_dialogs, click, start, train, training_panel


def _files(window) -> CheckpointFiles:
    return window.findChild(CheckpointFiles)


def test_save_then_open_restores_model_settings_and_history(window, qtbot, monkeypatch, tmp_path):
    panel = training_panel(qtbot, window)
    run = train(qtbot, window, epochs=2, lr=0.02)
    shown = answer_dialogs(monkeypatch, save_path=str(tmp_path / "digits-net"))
    with qtbot.waitSignal(_files(window).checkpointSaved, timeout=10_000) as saved:
        window.findChild(QAction, "saveCheckpointAction").trigger()
    path = tmp_path / "digits-net.ckpt"  # the suffix is added
    assert saved.args == [str(path)] and path.is_file()
    assert load_checkpoint(path).epochs_done == 2

    window.model_panel.load_preset("mlp")  # another model, other settings
    panel.form.lr_spin.setValue(0.5)
    answer_dialogs(monkeypatch, open_path=str(path))
    with qtbot.waitSignal(_files(window).checkpointOpened, timeout=10_000):
        window.findChild(QAction, "openCheckpointAction").trigger()
    assert shown == []
    assert window.model_panel.spec == get_preset("lenet")
    assert panel.form.config().lr == 0.02
    opened = window.session.current_run
    assert opened.number == 2 and opened.status == "checkpoint"
    assert list(opened.losses.values) == list(run.losses.values)
    assert opened.final_accuracy == run.final_accuracy
    assert panel.runs_list.topLevelItemCount() == 2
    assert window.session.has_trained_model
    # Training again continues the opened weights.
    qtbot.waitUntil(lambda: panel.ready_reason == "", timeout=30_000)
    again = train(qtbot, window, lr=0.02)
    assert again.losses.values[0] < run.losses.values[0] - 0.5


def test_damaged_files_and_failed_saves_are_explained_and_the_model_kept(window, qtbot, monkeypatch,
                                                                 tmp_path):
    training_panel(qtbot, window)
    damaged = tmp_path / "damaged.ckpt"
    damaged.write_bytes(b"PK\x03\x04 not really a checkpoint")
    hostile = tmp_path / "hostile.ckpt"
    hostile.write_bytes(pickle.dumps(print, protocol=2))  # a global: code, not data
    before = window.model_panel.spec
    for path, words in ((damaged, "not a readable checkpoint"), (hostile, "was refused")):
        shown = answer_dialogs(monkeypatch, open_path=str(path))
        with qtbot.waitSignal(_files(window).failed, timeout=10_000):
            window.findChild(QAction, "openCheckpointAction").trigger()
        ((kind, text),) = shown
        assert kind == "warning" and path.name in text and words in text, text
        assert "current model is unchanged" in text
    assert window.model_panel.spec == before
    assert window.session.runs == []

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    shown = answer_dialogs(monkeypatch, save_path=str(blocker / "net.ckpt"))
    with qtbot.waitSignal(_files(window).failed, timeout=10_000):
        window.findChild(QAction, "saveCheckpointAction").trigger()
    ((kind, text),) = shown
    assert kind == "warning" and "cannot save to" in text and "Choose another folder" in text


def test_open_waits_for_training_to_stop_and_save_works_while_paused(window, qtbot, monkeypatch,
                                                                     tmp_path):
    session = window.session
    start(qtbot, window, epochs=50)
    qtbot.waitUntil(lambda: session.current_run.last_step is not None, timeout=30_000)
    click(qtbot, window, "pauseButton")
    qtbot.waitUntil(lambda: session.state == "paused", timeout=10_000)
    open_action = window.findChild(QAction, "openCheckpointAction")
    assert not open_action.isEnabled() and "stop training" in open_action.toolTip()

    answer_dialogs(monkeypatch, save_path=str(tmp_path / "paused.ckpt"))
    with qtbot.waitSignal(_files(window).checkpointSaved, timeout=10_000):
        window.findChild(QAction, "saveCheckpointAction").trigger()
    saved = load_checkpoint(tmp_path / "paused.ckpt")
    assert saved.trainer_state["position"]["step"] == session.current_run.last_step.step

    with qtbot.waitSignal(session.runFinished, timeout=10_000):
        click(qtbot, window, "stopButton")
    assert open_action.isEnabled()
