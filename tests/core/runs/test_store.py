"""The run store: runs made, listed, found, renamed and deleted; their lineage; their
metrics read back as a RunHistory; damaged and foreign databases left as they were.

Every run here is a real one (the tiny digits model, a few epochs) recorded the way
the CLI and the GUI record it; the database is the real SQLite file."""

from __future__ import annotations

import copy
import shutil
import sqlite3
import threading
import zlib

import numpy as np
import pytest

from netexplorer.core.errors import StoreError
from netexplorer.core.inspection.distributions import CELLS, KINDS
from netexplorer.core.inspection.probe import HISTOGRAM_EVERY
from netexplorer.core.inspection.stats import STATS, Alert, LayerInfo, ProbeReport
from netexplorer.core.reports import EpochReport, SettingChange, StepReport
from netexplorer.core.runs import (
    COMPLETED,
    INTERRUPTED,
    RUNNING,
    STOPPED,
    RunStore,
    RunWriter,
    default_runs_dir,
    resolve_runs_dir,
)
from netexplorer.core.runs import store as store_module
from netexplorer.core.runs.store import DB_NAME, FAILED, fail_abandoned_run
from netexplorer.core.train_config import TrainConfig
from netexplorer.core.training import Trainer
from tests.core.runs.runkit import continued, live_histograms, record, tiny_run
from tests.core.trainkit import TINY, epochs_of, finished, steps_of, weights


def new_run(store: RunStore, **options) -> str:
    return store.create_run(TINY.to_json(indent=None), TrainConfig(lr=0.02, epochs=3),
                            model="tiny", dataset="digits", **options)


def rows_of(store: RunStore, run_id: str) -> dict[str, int]:
    db = sqlite3.connect(store.db_path)
    try:
        return {table: db.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?",
                                  (run_id,)).fetchone()[0]
                for table, column in (("runs", "id"), ("steps", "run"), ("epochs", "run"),
                                      ("probes", "run"), ("histograms", "run"),
                                      ("changes", "run"))}
    finally:
        db.close()


# ------------------------------------------------------------------ the folder


def test_the_default_folder_and_its_override(tmp_path, monkeypatch):
    monkeypatch.delenv("NETEXPLORER_RUNS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_runs_dir() == tmp_path / "data" / "netexplorer" / "runs"
    monkeypatch.setenv("NETEXPLORER_RUNS", str(tmp_path / "elsewhere"))
    assert default_runs_dir() == tmp_path / "elsewhere"
    assert resolve_runs_dir(None) == tmp_path / "elsewhere"
    assert resolve_runs_dir(tmp_path / "asked") == tmp_path / "asked"


def test_a_new_folder_gets_an_empty_store_in_wal_mode(tmp_path):
    with RunStore(tmp_path / "runs") as store:
        assert store.db_path == tmp_path / "runs" / DB_NAME
        assert store.notice is None and store.list_runs() == []
    db = sqlite3.connect(tmp_path / "runs" / DB_NAME)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert dict(db.execute("SELECT key, value FROM meta")) == {"format": "netexplorer-runs",
                                                               "version": "1"}
    db.close()


def test_a_folder_that_is_a_file_is_refused_in_words(tmp_path):
    (tmp_path / "runs").write_text("not a folder")
    with pytest.raises(StoreError, match="cannot use .*runs for runs"):
        RunStore(tmp_path / "runs")


def test_stores_opened_at_once_on_a_new_folder_all_use_the_same_database(tmp_path):
    """Four openers race on each of 10 new folders: none mistakes another's half-made
    store for a foreign one (which would put it in runs-1.sqlite beside)."""
    def open_store(folder, barrier, opened) -> None:
        barrier.wait()
        try:
            opened.append(RunStore(folder))
        except BaseException as exc:  # handed to the test thread
            opened.append(exc)

    for n in range(10):
        barrier = threading.Barrier(4)
        opened: list[RunStore | BaseException] = []
        threads = [threading.Thread(target=open_store, args=(tmp_path / f"runs{n}", barrier,
                                                               opened)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for store in opened:
            assert isinstance(store, RunStore), store
            assert store.db_path.name == DB_NAME and store.notice is None
            store.close()


# ------------------------------------------------------------------ runs


def test_create_list_and_read_a_run(tmp_path):
    with RunStore(tmp_path) as store:
        first = new_run(store)
        second = new_run(store, name="  second   try ", parent=first, first_step=46, epochs=2)
        assert first != second
        assert [r.id for r in store.list_runs()] == [second, first]  # newest first
        run = store.run(second)
        assert (run.name, run.parent, run.model, run.dataset) == ("  second   try ", first,
                                                                  "tiny", "digits")
        assert run.config == TrainConfig(lr=0.02, epochs=3)
        assert (run.first_step, run.steps, run.epochs) == (46, 46, 2)
        assert run.status == RUNNING and not run.finished  # just made: its writer comes
        assert run.test_accuracy is None and run.ended is None
        assert store.run(first).name == first  # unnamed: named after its id
        assert store.run_folder(first).is_dir()
        assert store.checkpoint_path(first) == store.run_folder(first) / "last.ckpt"
        assert store.checkpoint_path(first, "best").name == "best.ckpt"
        with pytest.raises(ValueError):
            store.checkpoint_path(first, "middle")
        assert not store.run(first).has_checkpoint  # none before its first epoch
        store.checkpoint_path(first).write_bytes(b"a checkpoint")
        assert store.run(first).has_checkpoint
        with pytest.raises(StoreError, match="there is no run 'nosuch'"):
            store.run("nosuch")


def test_a_run_whose_writer_is_gone_is_listed_as_interrupted(tmp_path):
    with RunStore(tmp_path) as store:
        run_id = new_run(store)
        writer = RunWriter(tmp_path, run_id)
        assert store.run(run_id).status == RUNNING  # its lock is held
        with pytest.raises(StoreError, match="being written by another process"):
            RunWriter(tmp_path, run_id)  # one writer per run
        writer.close()  # gone without an ending
        run = store.run(run_id)
        assert run.status == INTERRUPTED and run.finished
        assert "ended before the run did" in run.message
        finished_id = new_run(store)
        RunWriter(tmp_path, finished_id).finish(STOPPED, "stopped by request",
                                                test_accuracy=0.5)
        done = store.run(finished_id)
        assert (done.status, done.message, done.test_accuracy) == (STOPPED, "stopped by request",
                                                                   0.5)
        assert done.ended is not None


def test_an_abandoned_run_is_marked_failed_only_when_its_writer_is_gone(tmp_path):
    """What a torchrun rank that outlives rank 0 does: the lock says whether the
    writer is alive; only a run the database still says is running is marked."""
    with RunStore(tmp_path) as store:
        run_id = new_run(store)
        writer = RunWriter(tmp_path, run_id)
        assert not fail_abandoned_run(tmp_path, run_id, "rank 1: another rank is gone")
        assert store.run(run_id).status == RUNNING  # its writer holds the lock
        writer.close()  # killed: gone without an ending
        assert fail_abandoned_run(tmp_path, run_id, "rank 1: another rank is gone")
        run = store.run(run_id)
        assert (run.status, run.message) == (FAILED, "rank 1: another rank is gone")
        assert run.ended is not None
        assert not fail_abandoned_run(tmp_path, run_id, "rank 2: too")  # already ended
        assert store.run(run_id).message == "rank 1: another rank is gone"
        ended = new_run(store)
        RunWriter(tmp_path, ended).finish(COMPLETED)
        assert not fail_abandoned_run(tmp_path, ended, "rank 1: late")
        assert store.run(ended).status == COMPLETED


def test_find_by_id_unique_prefix_or_name(tmp_path):
    with RunStore(tmp_path) as store:
        a, b = new_run(store, name="baseline"), new_run(store, name="wide")
        assert store.find(a).id == a and store.find(b).id == b
        assert store.find(a[:-2]).id == a or a[:-2] == b[:-2]
        shared = next(i for i in range(len(a)) if a[i] != b[i])  # they differ from here
        assert store.find(a[:shared + 1]).id == a
        assert store.find("baseline").id == a and store.find(" wide ").id == b
        with pytest.raises(StoreError, match=r"names 2 runs .*give more of the id"):
            store.find(a[:shared])
        with pytest.raises(StoreError, match=r"there is no run 'nosuch' .*`netexplorer runs`"):
            store.find("nosuch")
        with pytest.raises(StoreError, match="name a run"):
            store.find("  ")
        for wildcard in ("%", "_", a[:4] + "%"):  # LIKE's wildcards are only characters
            with pytest.raises(StoreError, match="there is no run"):
                store.find(wildcard)
        new_run(store, name="baseline")
        with pytest.raises(StoreError, match="'baseline' names 2 runs"):
            store.find("baseline")


def test_rename(tmp_path):
    with RunStore(tmp_path) as store:
        run_id = new_run(store)
        store.rename(run_id, "  lr   0.02 \n run ")
        assert store.run(run_id).name == "lr 0.02 run"
        assert store.find("lr 0.02 run").id == run_id
        for bad in ("", "   ", "x" * 201):
            with pytest.raises(StoreError, match="1 to 200 characters"):
                store.rename(run_id, bad)
        with pytest.raises(StoreError, match="there is no run 'nosuch'"):
            store.rename("nosuch", "name")


def test_delete_removes_everything_and_is_refused_while_written(tmp_path, digits8):
    parent, recorder, _ = tiny_run(tmp_path, digits8, probe_every=5, epochs=1,
                                   on_report=change_lr_at(5, 0.05))
    run_id = recorder.run_id
    child, child_recorder, _ = continued(tmp_path, parent, run_id, digits8, epochs=2)
    with RunStore(tmp_path) as store:
        assert all(rows_of(store, run_id).values())  # a row in every table
        writing = new_run(store)
        writer = RunWriter(tmp_path, writing)
        with pytest.raises(StoreError, match="still training: stop it before deleting it"):
            store.delete(writing)
        writer.finish(COMPLETED)
        store.delete(writing)
        store.delete(run_id)
        assert set(rows_of(store, run_id).values()) == {0}
        assert not store.run_folder(run_id).exists()
        kept = store.run(child_recorder.run_id)
        assert kept.parent is None and kept.status == COMPLETED  # the child keeps its data
        assert store.checkpoint_path(kept.id).is_file()
        with pytest.raises(StoreError, match="there is no run"):
            store.delete(run_id)


def _probe_with(alert: Alert) -> ProbeReport:
    layers = (LayerInfo(0, "fc1", "linear", True, False), LayerInfo(1, "relu1", "relu", False,
                                                                    True))
    return ProbeReport(layers, np.array([alert.step]), np.zeros((1, len(STATS), 2)), (alert,))


DEAD = Alert("dead", "relu1", 4, "70 % of its units were never active", "lower the lr",
             severity="error", pause=True)


def test_the_doctors_alerts_are_kept_with_the_run_and_deleted_with_it(tmp_path):
    with RunStore(tmp_path) as store:
        run_id = new_run(store)
        writer = RunWriter(tmp_path, run_id, flush_every=0)
        step = StepReport(1, 5, 5, 10, 2.0, 2.0, 0.1, 100.0, 1.0, losses=(2.0,) * 5,
                          first_step=1, probe=_probe_with(DEAD))
        writer.add(step)
        assert store.alerts(run_id) == [DEAD]
        assert store.alerts(run_id, after=4) == [] and store.alerts(run_id, until=3) == []
        writer.finish(COMPLETED)
        store.delete(run_id)
        db = sqlite3.connect(store.db_path)
        try:
            assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0
        finally:
            db.close()


def test_a_store_made_before_the_added_tables_gains_them_when_opened(tmp_path, digits8):
    with RunStore(tmp_path) as store:
        run_id = new_run(store)
        path = store.db_path
    db = sqlite3.connect(path)
    db.execute("DROP TABLE alerts")  # as version 1 was first released
    db.execute("DROP TABLE histograms")
    db.commit()
    db.close()
    with RunStore(tmp_path) as store:
        assert {"alerts", "histograms"} <= tables_of(store)
        writer = RunWriter(tmp_path, run_id, flush_every=0)
        writer.add(StepReport(1, 5, 5, 10, 2.0, 2.0, 0.1, 100.0, 1.0, losses=(2.0,) * 5,
                              first_step=1, probe=_probe_with(DEAD)))
        writer.finish(COMPLETED)
        assert store.alerts(run_id) == [DEAD]
    # An old store's runs keep working, and so do the new runs written into it.
    _, recorder, reports = tiny_run(tmp_path, digits8, probe_every=5, epochs=1)
    with RunStore(tmp_path) as store:
        assert store.histograms(run_id) is None
        kept = store.histograms(recorder.run_id)
        assert kept is not None and np.array_equal(kept.steps, live_histograms(reports).steps)


def test_a_store_that_has_every_table_opens_while_another_process_writes(tmp_path,
                                                                           monkeypatch):
    """Opening a store that has every table writes nothing, so a window opens it
    mid-way through a CLI run's transaction instead of waiting for it; one that
    lacks an added table must wait to make it."""
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 300)
    with RunStore(tmp_path) as store:
        run_id = new_run(store)
        path = store.db_path
    writing = sqlite3.connect(path, isolation_level=None)
    try:
        writing.execute("BEGIN IMMEDIATE")  # the write lock, held
        with RunStore(tmp_path) as store:
            assert store.run(run_id).id == run_id
        writing.execute("DROP TABLE histograms")
        writing.execute("COMMIT")
        writing.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="is locked by another process"):
            RunStore(tmp_path)
    finally:
        writing.close()


def tables_of(store: RunStore) -> set[str]:
    db = sqlite3.connect(store.db_path)
    try:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        db.close()


def test_lineage_oldest_first(tmp_path):
    with RunStore(tmp_path) as store:
        a = new_run(store)
        b = new_run(store, parent=a, first_step=10, epochs=1)
        c = new_run(store, parent=b, first_step=20, epochs=2)
        assert [r.id for r in store.lineage(c)] == [a, b, c]
        assert [r.id for r in store.lineage(a)] == [a]
        for run_id in (a, b, c):
            RunWriter(tmp_path, run_id).finish(COMPLETED)
        store.delete(b)
        assert [r.id for r in store.lineage(c)] == [c]  # the chain starts after a gap


# ------------------------------------------------------------------ history


def change_lr_at(step: int, lr: float):
    def hook(trainer, report):
        if isinstance(report, StepReport) and report.step == step:
            trainer.control.set_learning_rate(lr)  # as a person types it mid-run
    return hook


def test_load_history_gives_every_step_epoch_and_change(tmp_path, digits8):
    trainer, recorder, reports = tiny_run(tmp_path, digits8, epochs=2, schedule="cosine",
                                          on_report=change_lr_at(10, 0.005))
    with RunStore(tmp_path) as store:
        run = store.load_history(recorder.run_id, number=3)
        summary = store.run(recorder.run_id)
    steps = trainer.position.step
    assert (run.number, run.store_id, run.name, run.parent_id, run.first_step) == (
        3, recorder.run_id, recorder.run_id, None, 0)
    assert (run.model_name, run.dataset_name, run.config) == ("tiny", "digits", trainer.config)
    assert list(run.steps.values) == list(range(1, steps + 1))
    assert list(run.losses.values) == pytest.approx(trainer.history["step_losses"], abs=0)
    # the learning rate of every step, the schedule's and the typed one
    assert list(run.lr_steps.values) == list(range(1, steps + 1))
    assert list(run.lrs.values) == pytest.approx(trainer.history["step_lrs"], abs=0)
    assert run.lrs.values[10] == pytest.approx(0.005)
    assert len(set(run.lrs.values[11:].round(12))) > 20  # cosine goes on from it
    # the running loss per report interval, as the live run drew it
    live = steps_of(reports)
    assert list(run.running_steps.values) == [r.step for r in live]
    assert list(run.running_losses.values) == pytest.approx([r.running_loss for r in live])
    assert run.epochs == epochs_of(reports)
    [change] = run.changes
    assert (change.step, change.name, change.new) == (11, "lr", 0.005)
    assert isinstance(change, SettingChange) and change.at > 0
    assert run.finished.status == COMPLETED == summary.status
    assert run.finished.step == steps and run.finished.epoch == 2
    assert run.finished.test_accuracy == summary.test_accuracy == pytest.approx(
        epochs_of(reports)[-1].test_accuracy)
    assert summary.best_accuracy == max(e.test_accuracy for e in epochs_of(reports))
    assert summary.changes == (change,)
    assert run.last_step.step == steps and run.last_step.epoch == 2
    assert run.last_step.batch == trainer.batches_per_epoch
    assert summary.elapsed == pytest.approx(finished(reports).elapsed)


def test_a_child_run_continues_its_parents_curve(tmp_path, digits8):
    """Parent: 2 epochs (with a change); child: epochs 3 and 4 resumed from where the
    parent stopped. The child's history is both runs' steps, one after the other, as
    one uninterrupted 4-epoch run makes them; without lineage, only its own."""
    parent, parent_rec, _ = tiny_run(tmp_path, digits8, epochs=2,
                                     on_report=change_lr_at(5, 0.05))
    child, child_rec, child_reports = continued(tmp_path, parent, parent_rec.run_id, digits8,
                                                epochs=4, name="more")
    per_epoch = parent.batches_per_epoch
    with RunStore(tmp_path) as store:
        summary = store.run(child_rec.run_id)
        assert (summary.parent, summary.first_step, summary.epochs, summary.steps) == (
            parent_rec.run_id, 2 * per_epoch, 4, 4 * per_epoch)
        whole = store.load_history(child_rec.run_id)
        own = store.load_history(child_rec.run_id, lineage=False)
    assert list(whole.steps.values) == list(range(1, 4 * per_epoch + 1))
    assert list(whole.losses.values) == pytest.approx(child.history["step_losses"], abs=0)
    assert list(whole.lrs.values) == pytest.approx(child.history["step_lrs"], abs=0)
    assert [e.epoch for e in whole.epochs] == [1, 2, 3, 4]
    assert [c.step for c in whole.changes] == [6]  # the parent's change
    assert (whole.store_id, whole.parent_id, whole.name) == (child_rec.run_id,
                                                             parent_rec.run_id, "more")
    assert whole.first_step == 2 * per_epoch and whole.finished.epoch == 4
    assert list(own.steps.values) == list(range(2 * per_epoch + 1, 4 * per_epoch + 1))
    assert [e.epoch for e in own.epochs] == [3, 4] and own.changes == []
    assert own.epochs == epochs_of(child_reports)


def test_a_child_of_an_earlier_point_leaves_the_parents_later_steps_out(tmp_path, digits8):
    """A run continued from its parent's epoch 1 of 3 (as from a best.ckpt, or the
    last checkpoint an interrupted run wrote) draws the parent's epoch 1, then its own
    — not the parent's epochs 2 and 3 as well."""
    saved = []

    def keep_epoch_one(trainer, report):
        if isinstance(report, EpochReport) and report.epoch == 1:
            saved.append(copy.deepcopy(trainer.state()) | {"model": weights(trainer.model)})

    parent, parent_rec, _ = tiny_run(tmp_path, digits8, epochs=3, on_report=keep_epoch_one)
    [state] = saved
    early = Trainer(TINY, digits8, parent.config.replace(epochs=2))
    early.model.load_state_dict(state.pop("model"))
    early.load_state(state)
    child = record(tmp_path, early, parent=parent_rec.run_id)[0].run_id
    per_epoch = parent.batches_per_epoch
    with RunStore(tmp_path) as store:
        assert store.run(child).first_step == per_epoch
        history = store.load_history(child)
    assert list(history.steps.values) == list(range(1, 2 * per_epoch + 1))
    assert [e.epoch for e in history.epochs] == [1, 2]
    assert list(history.losses.values) == pytest.approx(early.history["step_losses"], abs=0)
    assert history.losses.values[per_epoch:].tolist() != parent.history["step_losses"][
        per_epoch:2 * per_epoch]  # the child's epoch 2, not the parent's


def test_probe_history_holds_every_sampled_step(tmp_path, digits8):
    trainer, recorder, reports = tiny_run(tmp_path, digits8, probe_every=3, epochs=1)
    with RunStore(tmp_path) as store:
        layers, steps, stats = store.probe_history(recorder.run_id)
        empty_id = new_run(store)
        assert store.probe_history(empty_id)[0] == []
    sampled = [r.probe for r in steps_of(reports) if r.probe is not None and len(r.probe.steps)]
    assert [layer["name"] for layer in layers] == [info.name for info in sampled[0].layers]
    assert list(steps) == [int(s) for p in sampled for s in p.steps]
    assert list(steps) == list(range(0, trainer.position.step, 3))
    assert stats.shape == (len(steps), len(STATS), len(layers)) and stats.dtype == np.float32
    expected = np.concatenate([p.stats for p in sampled]).astype(np.float32)
    np.testing.assert_array_equal(stats, expected)


def test_the_probes_histograms_are_kept_as_the_live_run_had_them(tmp_path, digits8):
    """Sampled every 3 steps, the probe histograms every 2nd sample (HISTOGRAM_EVERY
    training steps apart at least): the store keeps those, at the probe's steps."""
    trainer, recorder, reports = tiny_run(tmp_path, digits8, probe_every=3, epochs=1)
    live = live_histograms(reports)
    with RunStore(tmp_path) as store:
        kept = store.histograms(recorder.run_id)
        layers, steps, _ = store.probe_history(recorder.run_id)
        assert store.histograms(new_run(store)) is None  # a run without any
        middle = int(live.steps[len(live.steps) // 2])
        early = store.histograms(recorder.run_id, until=middle)
        late = store.histograms(recorder.run_id, after=middle)
        db = sqlite3.connect(store.db_path)
        sizes = [row[0] for row in db.execute("SELECT length(counts) FROM histograms")]
        db.close()
    stride = -(-HISTOGRAM_EVERY // 3)
    assert live.steps.tolist() == list(range(0, trainer.position.step, 3 * stride))
    assert set(live.steps) <= set(steps)
    assert kept is not None and kept.counts.dtype == np.uint16 and kept.steps.dtype == np.int64
    assert kept.counts.shape == (len(live.steps), len(KINDS), len(layers), CELLS)
    assert np.array_equal(kept.steps, live.steps) and np.array_equal(kept.counts, live.counts)
    assert early is not None and late is not None
    assert np.array_equal(np.concatenate([early.steps, late.steps]), live.steps)
    assert early.steps[-1] == middle and late.steps[0] > middle
    raw = len(KINDS) * len(layers) * CELLS * 2
    assert max(sizes) < raw / 4  # zlib: a histogram's cells are mostly empty


def test_a_histogram_row_of_another_size_is_left_out(tmp_path, digits8):
    """A row that does not fit the run's layers (damaged, or of another model) is not
    read as if it did."""
    _, recorder, reports = tiny_run(tmp_path, digits8, probe_every=5, epochs=1)
    live = live_histograms(reports)
    with RunStore(tmp_path) as store:
        db = sqlite3.connect(store.db_path)
        db.execute("UPDATE histograms SET counts = ? WHERE step = ?",
                   (zlib.compress(b"\0" * 10), int(live.steps[0])))
        db.execute("UPDATE histograms SET counts = ? WHERE step = ?",
                   (b"not zlib", int(live.steps[1])))
        db.commit()
        db.close()
        kept = store.histograms(recorder.run_id)
    assert kept is not None and np.array_equal(kept.steps, live.steps[2:])
    assert np.array_equal(kept.counts, live.counts[2:])


def test_a_store_followed_while_its_run_trains(tmp_path, digits8):
    """A reader (the window following a CLI run) sees the run as running, with the
    epochs written so far, while the writer is still at work."""
    seen = []
    with RunStore(tmp_path) as reader:
        def look(trainer, report):
            if isinstance(report, StepReport) and report.batch == 5 and report.epoch == 2:
                run_id = reader.list_runs()[0].id
                seen.append((reader.run(run_id).status,
                             len(reader.load_history(run_id).epochs)))
        tiny_run(tmp_path, digits8, epochs=2, on_report=look)
        assert seen == [(RUNNING, 1)]
        assert reader.list_runs()[0].status == COMPLETED


# ------------------------------------------------------------------ bad files


def damaged_store(path, *_):
    """A real store whose first bytes (SQLite's magic header) were overwritten."""
    with RunStore(path.parent / "good") as good:
        new_run(good)
    data = bytearray((path.parent / "good" / DB_NAME).read_bytes())
    data[:16] = b"\x00garbage header!"
    path.write_bytes(bytes(data))


def foreign_database(path, *_):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (name TEXT, email TEXT)")
    db.execute("INSERT INTO users VALUES ('ada', 'ada@example.org')")
    db.commit()
    db.close()


def newer_store(path, *_):
    with RunStore(path.parent / "newer"):
        pass
    shutil.copy(path.parent / "newer" / DB_NAME, path)
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'version'")
    db.commit()
    db.close()


BAD_FILES = {
    "random-bytes": (lambda path: path.write_bytes(np.random.default_rng(0).bytes(8192)),
                     "file is not a database"),
    "damaged-header": (damaged_store, "file is not a database"),
    "foreign": (foreign_database, "it is another program's database"),
    "newer": (newer_store, "it was written by a newer netexplorer (format 99)"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_an_unusable_database_is_kept_and_a_fresh_store_opens_beside_it(kind, tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    build, reason = BAD_FILES[kind]
    build(folder / DB_NAME)
    before = (folder / DB_NAME).read_bytes()
    with RunStore(folder) as store:
        assert store.db_path == folder / "runs-1.sqlite"
        assert store.notice == (f"{DB_NAME} ({reason}) in {folder} cannot be used as a run "
                                f"store and is kept as it was; runs are stored in "
                                f"runs-1.sqlite beside it.")
        run_id = new_run(store)
    with RunStore(folder) as again:  # the next opening finds the same fresh store
        assert again.db_path.name == "runs-1.sqlite" and again.notice == store.notice
        assert [r.id for r in again.list_runs()] == [run_id]
    assert (folder / DB_NAME).read_bytes() == before
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(DB_NAME)) == [DB_NAME]


def test_a_store_damaged_inside_says_so_as_a_store_error(tmp_path, digits8):
    """The page of the steps table overwritten (a bad disk, a copy cut short): the
    store still opens and lists its runs; reading the damaged metrics is a
    StoreError that says what is wrong — never sqlite3's exception."""
    _, recorder, _ = tiny_run(tmp_path, digits8, epochs=1)
    path = tmp_path / DB_NAME
    with RunStore(tmp_path) as store:
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the file
        page_size = store._db.execute("PRAGMA page_size").fetchone()[0]
        [root] = store._db.execute("SELECT rootpage FROM sqlite_master "
                                   "WHERE name = 'steps'").fetchone()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page_size:root * page_size] = np.random.default_rng(1).bytes(page_size)
    path.write_bytes(bytes(data))
    with RunStore(tmp_path) as store:
        assert store.db_path == path and store.notice is None
        assert [r.id for r in store.list_runs()] == [recorder.run_id]
        with pytest.raises(StoreError, match=f"the run store {path} could not be read: "
                                             f"database disk image is malformed"):
            store.load_history(recorder.run_id)
