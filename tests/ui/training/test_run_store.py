"""Runs that outlive the window: recorded in the run store while they train,
listed again when the window reopens, continued as child runs, renamed, deleted
and compared from the runs list — and a model that cannot be edited mid-run."""

from __future__ import annotations

import sqlite3

import pytest
from PySide6.QtWidgets import QDialog, QInputDialog, QMessageBox, QTableWidget

from netexplorer.core.runs import RunStore, resolve_runs_dir
from netexplorer.core.runs.store import RunWriter
from netexplorer.ui.main_window import MainWindow
from tests.ui.conftest import wait_for_data
from tests.ui.training_helpers import start, train, training_panel


def reopen(qtbot, settings) -> MainWindow:
    """A new window on the same settings and runs folder, as a person reopens the app;
    returns once its stored runs are listed."""
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.session.storedRunsListed, timeout=30_000):
        win.show()
    wait_for_data(qtbot, win)
    return win


def store_of(window: MainWindow) -> RunStore:
    return RunStore(window.session.library.folder)


def test_a_run_is_recorded_while_it_trains(window, qtbot):
    run = train(qtbot, window, epochs=2)
    assert run.store_id
    with store_of(window) as store:
        [stored] = store.list_runs()
        history = store.load_history(run.store_id)
        assert (stored.id, stored.status, stored.epochs) == (run.store_id, "completed", 2)
        assert stored.test_accuracy == pytest.approx(run.final_accuracy)
        assert len(history.losses) == len(run.losses) and len(history.lrs) == len(run.losses)
        assert store.checkpoint_path(run.store_id, "last").is_file()
        assert store.checkpoint_path(run.store_id, "best").is_file()


def test_reopening_the_window_lists_the_runs_and_brings_the_model_back(window, qtbot,
                                                                       settings):
    first = train(qtbot, window, epochs=1)
    window.close()
    again = reopen(qtbot, settings)
    panel = training_panel(qtbot, again)
    [listed] = again.session.runs
    assert listed.store_id == first.store_id and listed.status == "completed"
    assert panel.runs_list.topLevelItemCount() == 1
    assert panel.runs_list.topLevelItem(0).text(3).startswith(f"{100 * first.final_accuracy:.1f}")
    qtbot.waitUntil(lambda: again.session.has_trained_model, timeout=30_000)  # restored
    # Its curves are read when it is looked at (restoring it showed it already).
    panel.show_runs([listed.number])
    qtbot.waitUntil(lambda: not listed.needs_loading, timeout=30_000)
    assert list(listed.losses.values) == pytest.approx(list(first.losses.values))
    # Train continues it exactly, as a child: numbered after it, drawn after it.
    child = train(qtbot, again, epochs=1)
    assert child.parent_id == first.store_id and child.first_step == len(first.losses)
    assert child.epochs[0].epoch == 2 and child.steps.values[0] == len(first.losses) + 1
    assert panel.runs_list.selected_numbers() == [listed.number, child.number]
    with store_of(again) as store:
        assert store.run(child.store_id).parent == first.store_id
        assert [r.id for r in store.lineage(child.store_id)] == [first.store_id,
                                                                  child.store_id]


def test_reopening_restores_the_newest_run_that_has_weights(window, qtbot, settings):
    """A stored run without a checkpoint (ended before its first epoch was written,
    or its files removed) is skipped, not announced as a failure."""
    first = train(qtbot, window, epochs=1)
    window.close()
    with store_of(window) as store:
        stored = store.run(first.store_id)
        bare = store.create_run(stored.spec_json, stored.config, model=stored.model,
                                dataset=stored.dataset)
    writer = RunWriter(window.session.library.folder, bare)
    writer.finish("stopped", "stopped before its first epoch")
    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    opened: list = []
    again.session.runOpened.connect(opened.append)
    again.show()
    panel = training_panel(qtbot, again)
    qtbot.waitUntil(lambda: bool(opened), timeout=30_000)
    assert [run.store_id for run in opened] == [first.store_id]
    assert not panel.banner.isVisible()
    newest = again.session.runs[-1]
    assert newest.store_id == bare and not newest.stored.has_checkpoint
    menu = panel.runs_list.context_menu(newest)
    [action] = [a for a in menu.actions() if a.objectName() == "openRunAction"]
    assert not action.isEnabled() and "no checkpoint" in action.toolTip()


def test_runs_are_renamed_deleted_and_compared_from_the_list(window, qtbot, monkeypatch):
    panel = training_panel(qtbot, window)
    first = train(qtbot, window, lr=0.05)
    second = train(qtbot, window, lr=0.02, batch_size=128)
    runs_list = panel.runs_list

    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("baseline", True))
    with qtbot.waitSignal(window.session.runChanged, timeout=10_000,
                          check_params_cb=lambda run: run.name == "baseline"):
        _trigger(runs_list, first, "renameRunAction")
    assert runs_list.topLevelItem(0).text(0) == f"{first.number} · baseline"

    runs_list.select_runs([first.number, second.number])
    dialog = _trigger(runs_list, second, "compareRunsAction")
    table = dialog.findChild(QTableWidget, "runsDiffTable")
    rows = {table.item(r, 0).text(): (table.item(r, 1).text(), table.item(r, 2).text())
            for r in range(table.rowCount())}
    assert rows["lr"] == ("0.05", "0.02") and rows["batch_size"] == ("64", "128")
    assert "epochs" not in rows  # only what differs
    dialog.reject()

    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(window.session.runRemoved, timeout=10_000):
        _trigger(runs_list, first, "deleteRunAction")
    assert "cannot be undone" in asked[0]
    assert runs_list.topLevelItemCount() == 1
    with store_of(window) as store:
        assert [r.id for r in store.list_runs()] == [second.store_id]
        assert not store.run_folder(first.store_id).exists()
        assert store.run(second.store_id).parent is None  # its parent is gone


def _trigger(runs_list, run, name: str):
    """Trigger one entry of a run's context menu; a dialog it opened is returned."""
    menu = runs_list.context_menu(run)
    [action] = [a for a in menu.actions() if a.objectName() == name]
    assert action.isEnabled(), name
    before = set(runs_list.findChildren(QDialog))
    action.trigger()
    opened = [d for d in runs_list.findChildren(QDialog) if d not in before]
    return opened[-1] if opened else None


def test_the_model_cannot_be_edited_while_it_trains(window, qtbot):
    panel = window.model_panel
    before = panel.spec
    with qtbot.waitSignal(window.session.runFinished, timeout=60_000):
        start(qtbot, window, epochs=50)
        qtbot.waitUntil(lambda: window.session.state == "running", timeout=30_000)
        assert panel.locked and panel.lock_frame.isVisibleTo(window)
        assert not panel.preset_combo.isEnabled() and not window.undo_action.isEnabled()
        panel.load_preset("mlp")  # refused: the run keeps its model
        panel.remove_layer(0)
        assert panel.spec == before
        window.session.stop()
    assert not panel.locked and panel.preset_combo.isEnabled()
    assert window.session.has_trained_model
    panel.load_preset("mlp")
    assert panel.spec.name == "mlp"


def test_a_learning_rate_changed_mid_run_is_listed_with_the_run(window, qtbot):
    panel = training_panel(qtbot, window)
    session = window.session
    with qtbot.waitSignal(session.runFinished, timeout=60_000) as finished:
        start(qtbot, window, epochs=50)
        qtbot.waitUntil(lambda: session.current_run.last_step is not None, timeout=30_000)
        panel.form.lr_spin.setValue(0.005)
        qtbot.waitUntil(lambda: bool(session.current_run.changes), timeout=30_000)
        session.stop()
    run = finished.args[0]
    [change] = run.changes
    assert change.new == pytest.approx(0.005)
    assert "lr → 0.005 at step" in panel.runs_list.topLevelItem(0).text(2)
    with store_of(window) as store:
        assert [c.new for c in store.run(run.store_id).changes] == [pytest.approx(0.005)]


def test_a_damaged_store_is_kept_and_a_fresh_one_used_beside_it(qtbot, settings, tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    damaged = folder / "runs.sqlite"
    damaged.write_bytes(b"this is not a database" * 100)
    settings.setValue("runs/folder", str(folder))
    win = reopen(qtbot, settings)
    panel = training_panel(qtbot, win)
    assert "runs.sqlite" in panel.banner.text and "kept" in panel.banner.text
    run = train(qtbot, win)
    assert damaged.read_bytes() == b"this is not a database" * 100
    db = sqlite3.connect(folder / "runs-1.sqlite")
    assert db.execute("SELECT id FROM runs").fetchall() == [(run.store_id,)]
    db.close()


def test_the_runs_folder_can_be_changed(window, qtbot, tmp_path):
    first = train(qtbot, window)
    elsewhere = tmp_path / "elsewhere"
    window.set_runs_folder(str(elsewhere))
    assert window.settings.runs_dir == str(elsewhere)
    assert window.session.library.folder == resolve_runs_dir(str(elsewhere))
    second = train(qtbot, window)
    with RunStore(elsewhere) as store:
        assert [r.id for r in store.list_runs()] == [second.store_id]
    assert first in window.session.runs  # this window's own runs stay listed
