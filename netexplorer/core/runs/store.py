"""The run store: every run, from the GUI or the CLI, kept on disk while it trains.

A runs folder (default ~/.local/share/netexplorer/runs; $NETEXPLORER_RUNS or
--runs-dir, and the GUI's setting, override it) holds:

    runs.sqlite            the index and the metrics (SQLite in WAL mode): one row
                           per run, per step (loss, learning rate, images/s), per
                           epoch, per sampled probe step, per histogrammed
                           probe step (its distributions), per doctor's alert,
                           per setting changed
    <run id>/              one folder per run — TensorBoard reads each as a run:
        events.out.tfevents.*  scalars, histograms, hyper-parameters
        last.ckpt best.ckpt    checkpoints, written atomically
        writer.lock            held (flock) by the process writing the run

Why SQLite: it is in the standard library and is MLflow's default local store;
WAL lets a writer and any number of readers (a window following a run) work at
once; every write is a transaction, so two writers — two windows, or the app and
a CLI run — never corrupt each other, and a writer killed mid-run leaves every
committed row intact. A run whose writer is gone (its lock is free) while the
database still says "running" is shown as interrupted.

A database file that cannot be used — damaged, or another program's — is never
changed or deleted: the store opens the next free `runs-N.sqlite` beside it and
says so in `notice`.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import socket
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netexplorer.core.errors import StoreError
from netexplorer.core.inspection.distributions import CELLS, KINDS, Histograms
from netexplorer.core.inspection.stats import Alert
from netexplorer.core.reports import (
    EpochReport,
    FinishedReport,
    PausedReport,
    Report,
    SettingChange,
    StepReport,
    probe_of,
)
from netexplorer.core.runs.folders import resolve_runs_dir
from netexplorer.core.runs.history import RunHistory
from netexplorer.core.train_config import TrainConfig

try:  # POSIX: a run's writer holds a lock the kernel drops when the process dies
    import fcntl
except ImportError:  # pragma: no cover - Windows: interruption is judged by age
    fcntl = None  # type: ignore[assignment]

DB_NAME = "runs.sqlite"
FORMAT = "netexplorer-runs"
SCHEMA_VERSION = 1
LOCK_NAME = "writer.lock"
# Where no lock can tell (another host's writer on a shared folder, no flock), a
# "running" run that has not been written to for this long is shown as interrupted.
STALE_AFTER_S = 120.0
BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for another's transaction
LOCK_WAIT_S = 0.25  # how long a new writer waits for a reader's glance at its lock

# What a run's status can be. "running" in the database is shown as "interrupted"
# once its writer is gone.
RUNNING, COMPLETED, STOPPED, DIVERGED, FAILED, INTERRUPTED = (
    "running", "completed", "stopped", "diverged", "failed", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent TEXT,
    model TEXT NOT NULL,
    dataset TEXT NOT NULL,
    spec TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    ended REAL,
    first_step INTEGER NOT NULL DEFAULT 0,
    steps INTEGER NOT NULL DEFAULT 0,
    epochs INTEGER NOT NULL DEFAULT 0,
    test_accuracy REAL,
    best_accuracy REAL,
    elapsed REAL NOT NULL DEFAULT 0,
    layers TEXT,
    writer TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS steps (
    run TEXT NOT NULL, step INTEGER NOT NULL, epoch INTEGER NOT NULL,
    loss REAL, lr REAL, images_per_second REAL, elapsed REAL,
    PRIMARY KEY (run, step)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS epochs (
    run TEXT NOT NULL, epoch INTEGER NOT NULL, report TEXT NOT NULL,
    PRIMARY KEY (run, epoch)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS probes (
    run TEXT NOT NULL, step INTEGER NOT NULL, stats BLOB NOT NULL,
    PRIMARY KEY (run, step)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    run TEXT NOT NULL, step INTEGER NOT NULL, name TEXT NOT NULL,
    old REAL, new REAL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS changes_of_run ON changes (run, step);
"""
# Tables added after version 1 was released, by name: a version-1 store gains the
# ones it lacks when it is next opened (_add_missing_tables). The version stays 1,
# so an older netexplorer still opens the store (it reads only the tables it knows).
_ADDED_TABLES: tuple[tuple[str, str], ...] = (
    # The doctor's alerts, at the sampled step each was raised on.
    ("alerts", """CREATE TABLE IF NOT EXISTS alerts (
    run TEXT NOT NULL, step INTEGER NOT NULL, kind TEXT NOT NULL, layer TEXT NOT NULL,
    alert TEXT NOT NULL, PRIMARY KEY (run, step, kind, layer)) WITHOUT ROWID"""),
    # The distributions of a histogrammed sampled step (numbered as in probes): its
    # uint16 counts, kinds × layers × CELLS, zlib-compressed — mostly empty bins.
    ("histograms", """CREATE TABLE IF NOT EXISTS histograms (
    run TEXT NOT NULL, step INTEGER NOT NULL, counts BLOB NOT NULL,
    PRIMARY KEY (run, step)) WITHOUT ROWID"""),
)
# Every table that holds a run's rows (by its `run` column), for deleting a run.
_RUN_TABLES = ("steps", "epochs", "probes", "changes", *(name for name, _ in _ADDED_TABLES))
# zlib's fastest level: a step's counts are mostly zeros, which any level squeezes
# ~14-fold (a LeNet step's 17.7 KB to ~1.2 KB), and the writer compresses on the
# training thread.
_HISTOGRAM_COMPRESSION = 1


@dataclass(frozen=True)
class RunSummary:
    """One run as the runs list shows it: no per-step data."""

    id: str
    name: str
    parent: str | None
    model: str
    dataset: str
    spec_json: str
    config: TrainConfig
    status: str
    message: str
    created: float
    updated: float
    ended: float | None
    first_step: int  # global steps before this run (a continued run starts after them)
    steps: int  # global steps completed
    epochs: int  # epochs completed, the parent's included
    test_accuracy: float | None
    best_accuracy: float | None
    elapsed: float
    changes: tuple[SettingChange, ...] = ()
    has_checkpoint: bool = False  # last.ckpt was written (after the first epoch)

    @property
    def finished(self) -> bool:
        return self.status not in (RUNNING,)


def new_run_id(now: float | None = None) -> str:
    """Sortable and unique across writers: the time, then 6 random hex digits."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now or time.time()))
    return f"{stamp}-{secrets.token_hex(3)}"


class RunStore:
    """The runs of one runs folder. Each instance has its own SQLite connection;
    use one instance per thread (the GUI thread reads, a training thread writes
    through a RunWriter)."""

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = resolve_runs_dir(folder)
        self.notice: str | None = None  # what a person should know about the folder
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot use {self.folder} for runs: "
                             f"{exc.strerror or exc}") from None
        if not self.folder.is_dir():
            raise StoreError(f"cannot use {self.folder} for runs: it is not a folder")
        if not os.access(self.folder, os.W_OK | os.X_OK):
            # SQLite in WAL mode writes beside the database even to read it
            raise StoreError(f"cannot use {self.folder} for runs: it is not writable")
        self.db_path, self._db = self._open_usable()

    # ------------------------------------------------------------------ opening

    def _open_usable(self) -> tuple[Path, sqlite3.Connection]:
        """The first database in the folder that is ours (or new): runs.sqlite, or
        runs-1.sqlite … beside one that is damaged or foreign, which is left as it is."""
        refused: list[str] = []
        for n in range(100):
            path = self.folder / (DB_NAME if n == 0 else f"runs-{n}.sqlite")
            try:
                db = _connect(path)
                _prepare(db)
            except sqlite3.OperationalError as exc:
                if _busy(exc):  # in use, not unusable: never a reason to go beside it
                    raise StoreError(f"the run store {path} is locked by another process "
                                     f"for over {BUSY_TIMEOUT_MS // 1000} s: try again") from None
                refused.append(f"{path.name} ({_reason(exc)})")
                continue
            except (sqlite3.DatabaseError, StoreError) as exc:
                refused.append(f"{path.name} ({_reason(exc)})")
                continue
            if refused:
                self.notice = (f"{'; '.join(refused)} in {self.folder} cannot be used as a "
                               f"run store and is kept as it was; runs are stored in "
                               f"{path.name} beside it.")
            return path, db
        raise StoreError(f"no usable run store in {self.folder}: {'; '.join(refused[:3])}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._db:
                yield self._db
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the run store {self.db_path} could not be written: "
                             f"{_reason(exc)}") from None

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        """The rows of a read; a database damaged after it was opened (a bad disk, a
        copy cut short) is a StoreError that says so, not sqlite3's exception."""
        try:
            return self._db.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the run store {self.db_path} could not be read: "
                             f"{_reason(exc)} (move the file away to start a fresh "
                             f"store)") from None

    # ------------------------------------------------------------------ runs

    def run_folder(self, run_id: str) -> Path:
        return self.folder / run_id

    def checkpoint_path(self, run_id: str, which: str = "last") -> Path:
        """last.ckpt (the weights the run ended with) or best.ckpt (its best epoch)."""
        if which not in ("last", "best"):
            raise ValueError(f"which must be 'last' or 'best', not {which!r}")
        return self.run_folder(run_id) / f"{which}.ckpt"

    def create_run(self, spec_json: str, config: TrainConfig, *, model: str, dataset: str,
                   name: str | None = None, parent: str | None = None,
                   first_step: int = 0, epochs: int = 0) -> str:
        """A new run, status running, with its folder; returns its id. A continued
        run names its parent and starts at the parent's step and epoch."""
        now = time.time()
        for _ in range(5):  # an id taken by another writer this very second: draw again
            run_id = new_run_id(now)
            try:
                self.run_folder(run_id).mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise StoreError(f"cannot make a folder for the run in {self.folder}: "
                                 f"{exc.strerror or exc}") from None
            break
        else:  # pragma: no cover - five collisions of 24 random bits
            raise StoreError("could not find a free run id")
        with self._transaction() as db:
            db.execute(
                "INSERT INTO runs (id, name, parent, model, dataset, spec, config, status, "
                "created, updated, first_step, steps, epochs, writer) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, name or run_id, parent, model, dataset, spec_json,
                 json.dumps(config.to_dict(), sort_keys=True), RUNNING, now, now, first_step,
                 first_step, epochs, _writer_name()))
        return run_id

    def list_runs(self) -> list[RunSummary]:
        """Every run, newest first; a run whose writer is gone shows as interrupted."""
        rows = self._query(f"SELECT {_SUMMARY_COLUMNS} FROM runs "
                           f"ORDER BY created DESC, id DESC")
        changes = self._changes_by_run()
        return [self._summary(row, changes.get(row[0], ())) for row in rows]

    def run(self, run_id: str) -> RunSummary:
        rows = self._query(f"SELECT {_SUMMARY_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise StoreError(f"there is no run {run_id!r} in {self.folder}")
        return self._summary(rows[0], self._changes_by_run(run_id).get(run_id, ()))

    def find(self, text: str) -> RunSummary:
        """The run whose id is `text` or starts with it, or whose name is `text` —
        what a person types after `--resume` or `evaluate`."""
        text = text.strip()
        if not text:
            raise StoreError("name a run by its id, the start of its id, or its name")
        rows = self._query(
            f"SELECT {_SUMMARY_COLUMNS} FROM runs WHERE id = ? OR id LIKE ? ESCAPE '\\' "
            f"OR name = ? ORDER BY created DESC",
            (text, _like_prefix(text), text))
        exact = [row for row in rows if row[0] == text]
        rows = exact or rows
        if not rows:
            raise StoreError(f"there is no run {text!r} in {self.folder} "
                             f"(`netexplorer runs` lists them)")
        if len(rows) > 1:
            shown = ", ".join(row[0] for row in rows[:4])
            raise StoreError(f"{text!r} names {len(rows)} runs ({shown}…): give more of the id")
        return self._summary(rows[0], self._changes_by_run(rows[0][0]).get(rows[0][0], ()))

    def rename(self, run_id: str, name: str) -> None:
        name = " ".join(name.split())
        if not name or len(name) > 200:
            raise StoreError("a run's name is 1 to 200 characters")
        with self._transaction() as db:
            if db.execute("UPDATE runs SET name = ? WHERE id = ?", (name, run_id)).rowcount == 0:
                raise StoreError(f"there is no run {run_id!r} in {self.folder}")

    def delete(self, run_id: str) -> None:
        """Remove the run, its metrics and its folder (checkpoints, event files).
        A run that is being written is refused; its children keep their data and
        forget their parent."""
        summary = self.run(run_id)
        if summary.status == RUNNING:
            raise StoreError(f"run {run_id} is still training: stop it before deleting it")
        folder = self.run_folder(run_id)
        # Held while deleting: a writer that starts on this run now is refused.
        lock = _hold_lock(folder) if (folder / LOCK_NAME).exists() else None
        try:
            with self._transaction() as db:
                for table in _RUN_TABLES:
                    db.execute(f"DELETE FROM {table} WHERE run = ?", (run_id,))
                db.execute("UPDATE runs SET parent = NULL WHERE parent = ?", (run_id,))
                db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            if lock is not None:
                _release_lock(lock)

    def lineage(self, run_id: str) -> list[RunSummary]:
        """The run's ancestors and the run, oldest first."""
        chain: list[RunSummary] = []
        seen: set[str] = set()
        current: str | None = run_id
        while current is not None and current not in seen:
            seen.add(current)
            try:
                summary = self.run(current)
            except StoreError:
                break  # an ancestor was deleted: the lineage starts after it
            chain.append(summary)
            current = summary.parent
        return chain[::-1]

    # ------------------------------------------------------------------ history

    def load_history(self, run_id: str, number: int = 0, *, lineage: bool = True
                     ) -> RunHistory:
        """The run as a RunHistory: every step's loss and learning rate, the running
        mean per reporting interval, the epochs, the changes, how it ended. With
        `lineage`, a continued run includes its ancestors' steps and epochs before
        its own, so its curves continue theirs."""
        summary = self.run(run_id)
        chain = self.lineage(run_id) if lineage else [summary]
        # Each ancestor counts up to the step its child started from: a run continued
        # from an earlier checkpoint (its best epoch, or the last one an interrupted
        # run wrote) leaves the parent's later steps out of the child's curve.
        limits = [child.first_step for child in chain[1:]] + [None]
        run = RunHistory(number, summary.config, summary.model, summary.dataset,
                         started_at=summary.created)
        run.store_id = summary.id
        run.name = summary.name
        run.parent_id = summary.parent
        run.first_step = summary.first_step
        rows: list[tuple] = []
        epoch_rows: list[EpochReport] = []
        for member, limit in zip(chain, limits):
            bound = "" if limit is None else " AND step <= ?"
            extra = () if limit is None else (limit,)
            rows += self._query(f"SELECT step, loss, lr, elapsed FROM steps WHERE run = ?{bound} "
                                f"ORDER BY step", (member.id, *extra))
            epoch_rows += [e for e in (_epoch_from_json(r[0]) for r in self._query(
                "SELECT report FROM epochs WHERE run = ? ORDER BY epoch", (member.id,)))
                if limit is None or e.step <= limit]
            run.changes.extend(c for c in member.changes if limit is None or c.step <= limit)
        steps = np.array([r[:3] for r in rows], dtype=np.float64).reshape(-1, 3)
        if len(steps):
            run.steps.extend(steps[:, 0])
            run.losses.extend(steps[:, 1])
            run.lr_steps.extend(steps[:, 0])
            run.lrs.extend(steps[:, 2])
            # The running loss per report, as the live run drew it: a report's steps
            # share its `elapsed` (intervals end early at an epoch's end, a pause, a stop).
            elapsed = np.array([np.nan if r[3] is None else r[3] for r in rows])
            ends = np.flatnonzero(np.append(elapsed[1:] != elapsed[:-1], True)) + 1
            starts = np.concatenate(([0], ends[:-1]))
            run.running_steps.extend(steps[ends - 1, 0])
            run.running_losses.extend([float(np.nanmean(steps[a:b, 1])) if np.isfinite(
                steps[a:b, 1]).any() else math.nan for a, b in zip(starts, ends)])
        for epoch in epoch_rows:
            run.add(epoch)
        found = self._query("SELECT step, epoch, loss, lr, images_per_second, elapsed FROM "
                            "steps WHERE run = ? ORDER BY step DESC LIMIT 1", (run_id,))
        last = found[0] if found else None
        if last is not None:
            per_epoch = (round(run.epochs[-1].step / run.epochs[-1].epoch)
                         if run.epochs and run.epochs[-1].epoch else 0)
            batch = int(last[0]) - per_epoch * (int(last[1]) - 1) if per_epoch else 0
            run.last_step = StepReport(int(last[1]), int(last[0]), batch, per_epoch,
                                       _num(last[2]), _num(last[2]), _num(last[3]),
                                       _num(last[4]), _num(last[5]))
        if summary.status != RUNNING:
            run.finished = FinishedReport(summary.status, summary.message, summary.epochs,
                                          summary.steps, summary.elapsed,
                                          test_accuracy=summary.test_accuracy)
        return run

    def probe_history(self, run_id: str, after: int = -1
                      ) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
        """(layers as dicts, steps, stats steps × statistics × layers) of the probe's
        sampled steps after step `after` (all of them by default)."""
        layers = self._probe_layers(run_id)
        records = self._query("SELECT step, stats FROM probes WHERE run = ? AND step > ? "
                              "ORDER BY step", (run_id, after))
        steps = np.array([r[0] for r in records], dtype=np.int64)
        if not records or not layers:
            return layers, steps, np.zeros((0, 0, len(layers)), dtype=np.float32)
        stats = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in records])
        return layers, steps, stats.reshape(len(records), -1, len(layers))

    def alerts(self, run_id: str, after: int = -1, until: int | None = None) -> list[Alert]:
        """The doctor's alerts of the run raised on sampled steps after `after` (up to
        `until`), in the order of their steps."""
        bound, extra = _until(until)
        rows = self._query(f"SELECT alert FROM alerts WHERE run = ? AND step > ?{bound} "
                           f"ORDER BY step", (run_id, after, *extra))
        return [Alert(**json.loads(row[0])) for row in rows]

    def histograms(self, run_id: str, after: int = -1, until: int | None = None
                   ) -> Histograms | None:
        """The distributions of the run's histogrammed steps after `after` (up to
        `until`), oldest first; None when there are none. A row whose size is not
        that of the run's layers (as probe_history reads them) is left out."""
        layers = len(self._probe_layers(run_id))
        if not layers:
            return None
        bound, extra = _until(until)
        rows = self._query(f"SELECT step, counts FROM histograms WHERE run = ? AND step > ?"
                           f"{bound} ORDER BY step", (run_id, after, *extra))
        shape = (len(KINDS), layers, CELLS)
        size = int(np.prod(shape)) * np.dtype(np.uint16).itemsize
        steps, counts = [], []
        for step, blob in rows:
            raw = _decompressed(blob)
            if raw is not None and len(raw) == size:
                steps.append(step)
                counts.append(np.frombuffer(raw, dtype=np.uint16).reshape(shape))
        if not steps:
            return None
        return Histograms(np.array(steps, dtype=np.int64), np.stack(counts))

    # ------------------------------------------------------------------ helpers

    def _probe_layers(self, run_id: str) -> list[dict[str, Any]]:
        """The probe's layers of the run, as the writer stored them (none yet: [])."""
        found = self._query("SELECT layers FROM runs WHERE id = ?", (run_id,))
        return json.loads(found[0][0]) if found and found[0][0] else []

    def _summary(self, row: tuple, changes: Iterable[SettingChange]) -> RunSummary:
        (run_id, name, parent, model, dataset, spec, config, status, message, created,
         updated, ended, first_step, steps, epochs, test_accuracy, best, elapsed) = row
        if status == RUNNING and not _writer_alive(self.run_folder(run_id), updated):
            status = INTERRUPTED
            message = message or "the process writing it ended before the run did"
        return RunSummary(run_id, name, parent, model, dataset, spec,
                          TrainConfig.from_dict(json.loads(config)), status, message, created,
                          updated, ended, first_step, steps, epochs, test_accuracy, best,
                          elapsed, tuple(changes),
                          self.checkpoint_path(run_id, "last").is_file())

    def _changes_by_run(self, run_id: str | None = None) -> dict[str, list[SettingChange]]:
        query = "SELECT run, step, name, old, new, at FROM changes"
        rows = self._query(query + " WHERE run = ? ORDER BY step" if run_id else
                           query + " ORDER BY run, step", (run_id,) if run_id else ())
        found: dict[str, list[SettingChange]] = {}
        for run, step, name, old, new, at in rows:
            found.setdefault(run, []).append(SettingChange(step, name, old, new, at))
        return found


_SUMMARY_COLUMNS = ("id, name, parent, model, dataset, spec, config, status, message, "
                    "created, updated, ended, first_step, steps, epochs, test_accuracy, "
                    "best_accuracy, elapsed")


class RunWriter:
    """The one writer of a run: holds its lock, takes reports, writes them in a
    transaction at most every `flush_every` seconds (and at epochs and the end).

    Made and used on one thread (the training thread, or the CLI's); it has its
    own connection to the database. A process killed mid-run loses at most the
    last `flush_every` seconds of metrics.
    """

    def __init__(self, folder: str | os.PathLike, run_id: str, *,
                 flush_every: float = 1.0) -> None:
        self._store = RunStore(folder)
        self.run_id = run_id
        self._flush_every = flush_every
        self._lock = _hold_lock(self._store.run_folder(run_id))
        self._steps: list[tuple] = []
        self._epochs: list[tuple] = []
        self._probes: list[tuple] = []
        self._alerts: list[tuple] = []
        self._histograms: list[tuple] = []
        self._changes: list[tuple] = []
        self._layers: tuple | None = None  # the probe's LayerInfos last written
        self._progress: dict[str, Any] = {}
        self._last_flush = time.monotonic()
        self._closed = False

    @property
    def store(self) -> RunStore:
        return self._store

    def add(self, report: Report) -> None:
        """Take one report; flush if it is time (epochs and the end always flush)."""
        if isinstance(report, StepReport):
            lrs = report.lrs or (report.lr,) * len(report.losses)
            first = report.first_step
            for i, loss in enumerate(report.losses):
                self._steps.append((self.run_id, first + i, report.epoch, _db_num(loss),
                                    _db_num(lrs[i] if i < len(lrs) else report.lr),
                                    _db_num(report.images_per_second), report.elapsed))
            self._changes.extend((self.run_id, c.step, c.name, c.old, c.new, c.at)
                                 for c in report.changes)
            self._add_probe(probe_of(report))
            self._progress.update(steps=report.step, elapsed=report.elapsed)
            if time.monotonic() - self._last_flush >= self._flush_every:
                self.flush()
        elif isinstance(report, PausedReport | FinishedReport):
            # Sampled steps a probe still held when the run paused or stopped.
            if self._add_probe(probe_of(report)) and isinstance(report, PausedReport):
                self.flush()  # (a finished run's writer flushes in finish)
        elif isinstance(report, EpochReport):
            self._epochs.append((self.run_id, report.epoch, json.dumps(_epoch_to_dict(report))))
            self._progress.update(epochs=report.epoch, steps=report.step,
                                  test_accuracy=_db_num(report.test_accuracy),
                                  elapsed=report.elapsed)
            best = self._progress.get("best_accuracy")
            if math.isfinite(report.test_accuracy) and (best is None or
                                                        report.test_accuracy > best):
                self._progress["best_accuracy"] = report.test_accuracy
            self.flush()

    def _add_probe(self, probe: Any) -> bool:
        """Rows for a probe's statistics, alerts and distributions; whether it had any."""
        if probe is None or not len(probe.steps):
            return False
        if probe.layers != self._layers:  # a model's layers change rarely:
            self._layers = probe.layers  # asdict and JSON cost ~2 ms a report
            self._progress["layers"] = json.dumps([asdict(i) for i in probe.layers])
        stats = np.asarray(probe.stats, dtype=np.float32)
        self._probes.extend((self.run_id, int(step), stats[i].tobytes())
                            for i, step in enumerate(probe.steps))
        self._alerts.extend((self.run_id, a.step, a.kind, a.layer,
                             json.dumps(asdict(a))) for a in probe.alerts)
        if probe.histograms is not None and len(probe.histograms.steps):
            counts = np.ascontiguousarray(probe.histograms.counts, dtype=np.uint16)
            self._histograms.extend(
                (self.run_id, int(step),
                 zlib.compress(counts[i].tobytes(), _HISTOGRAM_COMPRESSION))
                for i, step in enumerate(probe.histograms.steps))
        return True

    def flush(self) -> None:
        """Write what has come since the last flush, in one transaction."""
        if self._closed:
            return
        with self._store._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?, ?)",
                           self._steps)
            db.executemany("INSERT OR REPLACE INTO epochs VALUES (?, ?, ?)", self._epochs)
            db.executemany("INSERT OR REPLACE INTO probes VALUES (?, ?, ?)", self._probes)
            db.executemany("INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?, ?)", self._alerts)
            db.executemany("INSERT OR REPLACE INTO histograms VALUES (?, ?, ?)",
                           self._histograms)
            db.executemany("INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?)", self._changes)
            self._update(db, self._progress)
        self._steps, self._epochs, self._probes, self._changes = [], [], [], []
        self._alerts, self._histograms = [], []
        self._progress = {}
        self._last_flush = time.monotonic()

    def finish(self, status: str, message: str = "", *,
               test_accuracy: float | None = None) -> None:
        """Write what is left and how the run ended; the lock is released."""
        if self._closed:
            return
        if test_accuracy is not None and math.isfinite(test_accuracy):
            self._progress["test_accuracy"] = test_accuracy
        self._progress.update(status=status, message=message, ended=time.time())
        self.flush()
        self.close()

    def close(self) -> None:
        """Stop writing (the run stays "running", so it shows as interrupted if it
        was not finished)."""
        if self._closed:
            return
        self._closed = True
        _release_lock(self._lock)
        self._store.close()

    def _update(self, db: sqlite3.Connection, values: dict[str, Any]) -> None:
        columns = {**values, "updated": time.time()}
        assignments = ", ".join(f"{name} = ?" for name in columns)
        db.execute(f"UPDATE runs SET {assignments} WHERE id = ?",
                   (*columns.values(), self.run_id))



def fail_abandoned_run(folder: str | os.PathLike, run_id: str, message: str) -> bool:
    """Mark a run failed when its writer is gone without ending it, as a torchrun
    rank does that outlives rank 0 (the job's one writer): otherwise a job whose
    rank 0 was killed would show as interrupted, as if it had merely been stopped.

    The run's lock decides: held, its writer is alive and ends the run itself (no
    wait beyond LOCK_WAIT_S); free, the run is taken over and marked failed if the
    database still says running. Returns whether this call marked it."""
    try:
        writer = RunWriter(folder, run_id)
    except StoreError:
        return False
    try:
        found = writer.store._query("SELECT status FROM runs WHERE id = ?", (run_id,))
        if not found or found[0][0] != RUNNING:
            return False
        writer.finish(FAILED, message)
        return True
    finally:
        writer.close()

# ---------------------------------------------------------------------- internals


def _connect(path: Path) -> sqlite3.Connection:
    # check_same_thread=False: a store made on one thread may be handed to another;
    # one thread uses it at a time. IMMEDIATE: a transaction takes the write lock
    # when it begins (waiting up to the busy timeout for another writer's), so two
    # writers never meet halfway through one.
    return sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
                           isolation_level="IMMEDIATE")


def _prepare(db: sqlite3.Connection) -> None:
    """Check that the database is ours (or empty) — reading only, so a file that is
    not is left byte for byte as it was — then WAL mode, and the tables made in one
    transaction that checks again: two processes opening a new folder at once
    never see each other's half-made store as another program's."""
    try:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        ours = _ownership(db) == "ours"
        _use_wal(db)
        db.execute("PRAGMA synchronous=NORMAL")  # WAL: a kill loses nothing committed
        if ours:
            _add_missing_tables(db)
            return
        # Explicitly: sqlite3 opens no transaction of its own before CREATE TABLE.
        db.execute("BEGIN IMMEDIATE")  # one creator at a time
        try:
            if _ownership(db) == "empty":
                for statement in [*_SCHEMA.split(";"), *(sql for _, sql in _ADDED_TABLES)]:
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))
                db.execute("INSERT OR IGNORE INTO meta VALUES ('version', ?)",
                           (str(SCHEMA_VERSION),))
            db.commit()
        except BaseException:
            db.rollback()
            raise
    except BaseException:
        db.close()
        raise


def _add_missing_tables(db: sqlite3.Connection) -> None:
    """A store made before some of _ADDED_TABLES gains them (each looked for first,
    so that opening a store that has them all writes nothing)."""
    present = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    missing = [sql for name, sql in _ADDED_TABLES if name not in present]
    for sql in missing:
        db.execute(sql)
    if missing:
        db.commit()


def _use_wal(db: sqlite3.Connection) -> None:
    """WAL mode. Switching a new database to it takes an exclusive lock for which
    SQLite does not wait when another connection is opening it at the same moment
    ("database is locked" at once): tried again for up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.002)


def _busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _ownership(db: sqlite3.Connection) -> str:
    """"empty", "ours", or StoreError for another program's or a newer version's."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        return "empty"
    if "meta" not in tables:
        raise StoreError("it is another program's database")
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("format") != FORMAT:
        raise StoreError("it is another program's database")
    try:
        version = int(meta.get("version", 0))
    except ValueError:
        raise StoreError("its format version is unreadable") from None
    if version > SCHEMA_VERSION:
        raise StoreError(f"it was written by a newer netexplorer (format {version})")
    missing = {"runs", "steps", "epochs", "probes", "changes"} - tables
    if missing:
        raise StoreError(f"its tables {', '.join(sorted(missing))} are missing")
    return "ours"


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _writer_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _hold_lock(folder: Path, wait: float = LOCK_WAIT_S) -> Any:
    """The run's lock, held exclusively. A reader judging whether the run's writer
    is alive holds it shared for a moment, so it is tried for up to `wait` seconds;
    a writer that holds it keeps it and the run is refused."""
    try:
        handle = open(folder / LOCK_NAME, "a+b")  # held open for the run's life
    except OSError as exc:
        raise StoreError(f"cannot lock run {folder.name}: {exc.strerror or exc}") from None
    if fcntl is not None:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    handle.close()
                    raise StoreError(f"run {folder.name} is being written by another "
                                     f"process") from None
                time.sleep(0.005)
    return handle


def _release_lock(handle: Any) -> None:
    try:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


def _writer_alive(folder: Path, updated: float) -> bool:
    """Whether a process still holds the run's lock (or, where no lock can tell,
    wrote to it recently)."""
    lock = folder / LOCK_NAME
    if fcntl is None or not lock.exists():
        return time.time() - updated < STALE_AFTER_S
    try:
        with open(lock, "a+b") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return True  # held: its writer is alive
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return False
    except OSError:
        return time.time() - updated < STALE_AFTER_S


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _db_num(value: float) -> float | None:
    """SQLite stores NaN as NULL anyway; infinities are kept as they are."""
    value = float(value)
    return None if math.isnan(value) else value


def _num(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _until(step: int | None) -> tuple[str, tuple[int, ...]]:
    """The SQL bound and its parameter for rows up to `step` (none: no bound)."""
    return ("", ()) if step is None else (" AND step <= ?", (step,))


def _decompressed(blob: bytes) -> bytes | None:
    """A histogram row's counts, or None for a row that is not zlib data (damaged)."""
    try:
        return zlib.decompress(blob)
    except zlib.error:
        return None


def _epoch_to_dict(report: EpochReport) -> dict[str, Any]:
    data = asdict(report)
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in data.items()}


def _epoch_from_json(text: str) -> EpochReport:
    data: dict[str, Any] = json.loads(text)
    values: dict[str, Any] = {k: (_num(v) if v is None else v) for k, v in data.items()}
    values["per_class_accuracy"] = tuple(_num(v) for v in data.get("per_class_accuracy", ()))
    return EpochReport(**values)
