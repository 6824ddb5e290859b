"""File → Save checkpoint… and Open checkpoint… around training."""

from __future__ import annotations

import pickle

import pytest
from PySide6.QtGui import QAction

from netexplorer.core.checkpoints import load_checkpoint
from netexplorer.core.presets import get_preset
from netexplorer.ui.files.checkpoint_files import CheckpointFiles
from tests.ui.training_helpers import answer_dialogs, click, start, train, training_panel


def _files(window) -> CheckpointFiles:
    return window.checkpoint_files


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


def test_a_checkpoint_of_another_input_shape_is_evaluated_on_data_of_its_shape(
        window, qtbot, monkeypatch, tmp_path):
    """The current LeNet takes 1×32×32; the checkpoint's MLP takes 1×28×28. Its
    evaluation must wait for the digits reloaded at 28×28, not fail on the 32×32
    ones ("mat1 and mat2 shapes cannot be multiplied") and leave the old figure."""
    import torch

    from netexplorer.core.checkpoints import save_checkpoint
    from netexplorer.core.data import load_dataset
    from netexplorer.core.evaluation import evaluate
    from netexplorer.core.formatting import percent
    from netexplorer.core.specs import build_model

    training_panel(qtbot, window)
    evaluation = window.evaluation_panel
    spec = get_preset("mlp")
    torch.manual_seed(3)
    model = build_model(spec)
    digits28 = load_dataset("digits", input_shape=spec.input_shape)
    path = save_checkpoint(tmp_path / "mlp.ckpt", spec=spec, model=model, dataset=digits28)
    expected = evaluate(model, digits28.test, classes=digits28.classes)

    failures = []
    answer_dialogs(monkeypatch, open_path=str(path))
    with qtbot.waitSignal(_files(window).checkpointOpened, timeout=30_000):
        window.findChild(QAction, "openCheckpointAction").trigger()
    assert evaluation.busy  # asked for at once, waiting for data that fits
    evaluation._request.failed.connect(failures.append)
    with qtbot.waitSignal(window.session.evaluationReady, timeout=30_000) as ready:
        pass
    report = ready.args[0]
    assert failures == []
    assert window.data_view.dataset.input_shape == (1, 28, 28)
    assert report.count == len(digits28.test)
    assert report.accuracy == expected.accuracy
    assert evaluation.report is report and not evaluation.busy
    assert evaluation.accuracy_label.text() == f"Test accuracy: {percent(expected.accuracy)}"
    assert "opened checkpoint" in evaluation.detail_label.text()


def test_jobs_waiting_for_data_fail_when_the_data_cannot_be_loaded(window, qtbot):
    """If the data view cannot load data for the new input shape, what waited for it
    is told why instead of waiting for ever."""
    session = window.session
    window.model_panel.channels_spin.setValue(2)  # no dataset has two channels
    handle = session.evaluate()
    assert not handle.done  # the digits are still 1×32×32: it waits
    with qtbot.waitSignal(handle.failed, timeout=30_000) as failed:
        pass
    assert "input channels" in failed.args[0].message


def test_continuing_a_checkpoint_in_the_gui_resumes_it_as_the_cli_does(window, qtbot, monkeypatch,
                                                                       tmp_path):
    """One resume for both: the GUI's next run of an opened checkpoint carries on its
    optimizer state, schedule, data order and random generators exactly as
    `netexplorer train --resume` does, so the resumed epoch's figures are the same."""
    import json

    from netexplorer.cli import main

    monkeypatch.setenv("NETEXPLORER_THREADS", "1")  # the same reductions in both
    recipe = ["--augment-shift", "0", "--schedule", "none", "--device", "cpu"]
    first = tmp_path / "first.ckpt"
    assert main(["train", "--model", "lenet", "--dataset", "digits", "--epochs", "1",
                 "--save", str(first), *recipe]) == 0
    metrics = tmp_path / "resumed.json"
    assert main(["train", "--resume", str(first), "--epochs", "2", "--metrics-json",
                 str(metrics), *recipe]) == 0
    cli_epoch = json.loads(metrics.read_text())["epochs"][-1]

    training_panel(qtbot, window)
    with qtbot.waitSignal(window.checkpoint_files.checkpointOpened, timeout=30_000):
        window.checkpoint_files.open_checkpoint(first)
    run = train(qtbot, window, epochs=1)  # one more epoch: the second of the run
    gui_epoch = run.epochs[-1]
    assert gui_epoch.epoch == cli_epoch["epoch"] == 2
    for name in ("train_loss", "test_loss", "test_accuracy"):
        assert getattr(gui_epoch, name) == pytest.approx(cli_epoch[name], rel=1e-5), name


def test_a_plain_state_dict_opens_in_the_model_or_preset_it_fits(window, qtbot, monkeypatch,
                                                                 tmp_path):
    """The tutorial's `torch.save(net.state_dict(), PATH)`: weights without a model
    open in the current model when they fit it, else in the first preset they fit;
    a file that fits none is refused naming the first difference."""
    import torch

    from netexplorer.core.specs import build_model

    training_panel(qtbot, window)
    torch.manual_seed(3)
    lenet_weights = build_model(get_preset("lenet")).state_dict()
    path = tmp_path / "cifar_net.pth"
    torch.save(lenet_weights, path)
    window.model_panel.load_preset("mlp")  # the file is a LeNet's: the preset is found
    messages: list[str] = []
    _files(window).statusMessage.connect(lambda text, _ms: messages.append(text))
    shown = answer_dialogs(monkeypatch, open_path=str(path))
    with qtbot.waitSignal(_files(window).checkpointOpened, timeout=10_000) as opened:
        window.findChild(QAction, "openCheckpointAction").trigger()
    assert shown == []
    [checkpoint] = opened.args
    assert window.model_panel.spec == get_preset("lenet")
    assert checkpoint.trainer_state is None
    assert all(torch.equal(checkpoint.model_state[k], v) for k, v in lenet_weights.items())
    assert window.session.has_trained_model
    assert "as the model 'lenet'" in messages[-1]

    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(4, 3), "fc.bias": torch.zeros(4)}, other)
    shown = answer_dialogs(monkeypatch, open_path=str(other))
    with qtbot.waitSignal(_files(window).failed, timeout=10_000):
        window.findChild(QAction, "openCheckpointAction").trigger()
    ((kind, text),) = shown
    assert kind == "warning" and "does not fit the model 'lenet'" in text, text
    assert "presets" in text and "current model is unchanged" in text
    assert window.model_panel.spec == get_preset("lenet")
