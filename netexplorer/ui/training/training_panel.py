"""The Training tab: settings, Train/Pause/Step/Stop, progress, live plots and the
runs of this session — a thin Qt layer over the TrainingSession.

Everything that trains lives in the session (training_session.py) and its
worker thread; this panel only asks it to start, pause, step, resume, stop or
change the learning rate, and shows what it reports. Reports mark views dirty;
the window's RedrawClock redraws them at most 30 times a second, so however
fast training goes, the window does a bounded amount of drawing.

The window puts the panel in a tab, its actions in a Training menu and its
status_label in the status bar, and tells it (set_blocker) what stands in the way
of training — an invalid model, no dataset — so that Train stays disabled with
the reason in its tooltip.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QInputDialog, QLabel, QSplitter, QVBoxLayout, QWidget

from netexplorer.ui.session.training_session import IDLE, TrainingSession
from netexplorer.ui.session.workers import TaskFailure, TaskRunner
from netexplorer.ui.settings import AppSettings
from netexplorer.ui.training.config_form import TrainConfigForm, config_from_settings
from netexplorer.ui.training.runs_list import RunsList
from netexplorer.ui.training.training_controls import TrainingControls, training_status_label
from netexplorer.ui.training.training_plots import TrainingPlots
from netexplorer.ui.training.training_text import (
    progress,
    result_summary,
    status_line,
    verdicts,
)
from netexplorer.ui.widgets.accessibility import named
from netexplorer.ui.widgets.redraw_clock import RedrawClock
from netexplorer.ui.widgets.result_banner import ResultBanner

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.core.runs import RunHistory

# How much a new interval's images/s moves the shown rate (an exponential mean:
# steady enough to read, quick enough to follow a change of load).
RATE_SMOOTHING = 0.3
LOOKING_FOR_DEVICES = "looking for the CPU and CUDA devices…"
NOTHING_TRAINED = "no trained weights for this model yet: the next run starts from fresh ones"
# How long a closing window waits for device discovery (a first torch import).
_DISCOVERY_SHUTDOWN_MS = 500
_RESULT_KINDS = {"completed": "ok", "stopped": "ok", "checkpoint": "ok", "diverged": "warning",
                 "failed": "error"}


def discover_devices() -> list[Any]:
    """Runs on a worker thread: the device list, and the first optimizer's import.

    Building the first optimizer of a process imports torch's compiler stack
    (about 2 s here); doing it now, in the background, means a click on Train
    starts training at once instead.
    """
    import torch

    from netexplorer.core.devices import available_devices

    devices = available_devices()
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    return devices


class TrainingPanel(QWidget):
    """The Training tab. `form`, `plots`, `runs_list`, `banner` are its parts;
    `controls` (Train / Pause / Step / Stop, reset weights, progress) and
    `status_label` are meant for the window — its toolbar, seen from every tab, and
    its status bar — and statusMessage(text, ms) for its message area. The window
    may make those two itself and hand them over: it shows them in its first paint,
    before it builds this panel (whose plots import pyqtgraph)."""

    statusMessage = Signal(str, int)

    def __init__(self, session: TrainingSession, clock: RedrawClock,
                 settings: AppSettings | None = None, parent: QWidget | None = None, *,
                 controls: TrainingControls | None = None,
                 status_label: QLabel | None = None) -> None:
        super().__init__(parent)
        named(self, "trainingPanel", "Training")
        self._session = session
        self._settings = settings
        self._blocker = "no dataset loaded yet"
        self._rate: float | None = None
        self._failure: TaskFailure | None = None
        self._discovery: TaskRunner | None = None

        self.controls = controls if controls is not None else TrainingControls()
        self.form = TrainConfigForm()
        self.banner = ResultBanner()
        self.plots = TrainingPlots(clock)
        self.runs_list = RunsList()
        self.status_label = status_label if status_label is not None \
            else training_status_label()
        self._build()

        if settings is not None:
            self.form.set_config(config_from_settings(settings.training_config))
        self._progress_view = clock.register(self.controls, self._redraw_progress)
        self._status_view = clock.register(self.status_label, self._redraw_status)
        self._clock = clock

        c = self.controls
        c.train_action.triggered.connect(self._on_train)
        c.pause_action.triggered.connect(self._on_pause)
        c.step_action.triggered.connect(self._on_step)
        c.stop_action.triggered.connect(self._on_stop)
        self.form.configChanged.connect(self._on_config_changed)
        self.form.learningRateEdited.connect(self._on_learning_rate_edited)
        self.runs_list.runsSelected.connect(self._on_runs_selected)
        self.runs_list.openRequested.connect(self._on_open_requested)
        self.runs_list.renameRequested.connect(self._on_rename_requested)
        self.runs_list.deleteRequested.connect(self._on_delete_requested)
        session.storedRunsListed.connect(self._on_stored_runs_listed)
        session.runChanged.connect(self._on_run_changed)
        session.runQuiet.connect(self._on_run_quiet)
        session.followEnded.connect(self._on_follow_ended)
        session.runRemoved.connect(self._on_run_removed)
        session.runOpened.connect(self._on_run_opened)
        session.storeProblem.connect(self._on_store_problem)
        session.stateChanged.connect(self._on_state_changed)
        session.runStarted.connect(self._on_run_started)
        session.reportsReady.connect(self._on_reports)
        session.runFinished.connect(self._on_run_finished)
        session.trainingFailed.connect(self._on_training_failed)
        session.modelReplaced.connect(self._refresh_controls)
        session.closing.connect(self._on_closing)
        self._refresh_controls()

    # ------------------------------------------------------------------ interface

    @property
    def ready_reason(self) -> str:
        """Why Train is disabled now ("" when it is not)."""
        if self._blocker:
            return self._blocker
        if not self.form.devices_known:
            return LOOKING_FOR_DEVICES
        return self.form.problem()

    def set_blocker(self, reason: str) -> None:
        """What the window says stands in the way of training ("" for nothing):
        an invalid model, no dataset, a dataset still loading."""
        if reason != self._blocker:
            self._blocker = reason
            self._refresh_controls()

    def start_training(self) -> bool:
        """Start a run with the form's settings; False (and the reason shown) if not."""
        reason = self.ready_reason
        if reason:
            self.banner.show_result("warning", f"Cannot train yet: {reason}.")
            return False
        config = self.form.config()
        try:
            self._session.start(config, reset=self.controls.reset_check.isChecked())
        except (RuntimeError, ValueError) as exc:  # a run already going; a bad setting
            self.banner.show_result("error", f"Cannot train: {exc}.")
            return False
        self.controls.reset_check.setChecked(False)  # one run only: the next continues
        if self._settings is not None:
            self._settings.training_config = config.to_dict()
        return True

    def discover_devices(self) -> None:
        """Fill the device list in the background (once; torch must be loadable)."""
        if self._discovery is not None or self.form.devices_known:
            return
        self._discovery = TaskRunner("device discovery", self)
        self._discovery.finished.connect(self._on_devices)
        self._discovery.failed.connect(self._on_devices_failed)
        self._discovery.submit(discover_devices)

    def show_runs(self, numbers: list[int]) -> None:
        """Select these runs in the list (their curves are overlaid)."""
        self.runs_list.select_runs(numbers)

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 6)
        layout.setSpacing(6)
        layout.addWidget(self.form)
        layout.addWidget(self.banner)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("trainingSplitter")
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.plots)
        splitter.addWidget(self.runs_list)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([400, 120])
        self.runs_list.setMinimumHeight(70)
        layout.addWidget(splitter, 1)

    # ------------------------------------------------------------------ drawing

    def _redraw_progress(self) -> None:
        run = self._session.current_run
        if run is None:
            self.controls.show_progress(0, 1, "")
            return
        shown = progress(run)
        self.controls.show_progress(shown.done, shown.total, shown.text)
        self.runs_list.update_run(run)

    def _redraw_status(self) -> None:
        self.status_label.setText(status_line(self._session.state, self._session.current_run,
                                              self._rate))

    def _mark_dirty(self) -> None:
        self._clock.mark_dirty(self._progress_view)
        self._clock.mark_dirty(self._status_view)

    def _refresh_controls(self) -> None:
        state = self._session.state
        self.controls.show_state(state, self.ready_reason)
        self.form.set_locked(state != IDLE)
        reset = self.controls.reset_check
        trained = self._session.has_trained_model
        reset.setEnabled(state == IDLE and trained)
        reset.setToolTip(reset.accessibleDescription() if trained else NOTHING_TRAINED)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._mark_dirty()
        self.discover_devices()

    # ------------------------------------------------------------------ person's actions

    @Slot()
    def _on_train(self) -> None:
        self.start_training()

    @Slot()
    def _on_pause(self) -> None:
        if self._session.state == "paused":
            self._session.resume()
        else:
            self._session.pause()

    @Slot()
    def _on_step(self) -> None:
        self._session.step()

    @Slot()
    def _on_stop(self) -> None:
        self._session.stop()

    @Slot(object)
    def _on_config_changed(self, config: Any) -> None:
        self._refresh_controls()
        if self._settings is not None and self._session.state == IDLE:
            self._settings.training_config = config.to_dict()

    @Slot(float)
    def _on_learning_rate_edited(self, lr: float) -> None:
        if not self._session.active:
            return
        try:
            self._session.set_learning_rate(lr)
        except ValueError as exc:
            self.banner.show_result("warning", f"The learning rate was not changed: {exc}.")
            return
        self.statusMessage.emit(f"Learning rate {lr:g} from the next batch", 5000)

    @Slot(list)
    def _on_runs_selected(self, numbers: list[int]) -> None:
        by_number = {run.number: run for run in self._session.runs}
        runs = [by_number[n] for n in numbers if n in by_number]
        for run in runs:
            if run.needs_loading and run.stored is not None and run.stored.status == "running":
                self._session.follow_run(run)  # another process writes it: followed live
            elif run.needs_loading:  # a stored run: its steps are read now, drawn when in
                self._session.load_run_history(run)
        self.plots.set_runs(runs)

    def follow(self, run: RunHistory) -> bool:
        """Show a run another process is writing (a CLI run, a torchrun job's rank
        0, another window's) and keep it up to date, read-only. False if it is not
        being written."""
        if self._session.follow_run(run) is None:
            return False
        self.show_runs([run.number])
        self.banner.show_result("ok", f"Following {_run_title(run)} as it trains "
                                      f"(read-only).")
        return True

    def runs_being_written(self) -> list[RunHistory]:
        """The stored runs whose writer is at work now, newest first."""
        return [run for run in reversed(self._session.runs)
                if run.store_id is not None and run.finished is None
                and not (run is self._session.current_run and self._session.active)]

    def ask_follow_run(self) -> None:
        """File → Follow run…: the runs folder listed again, then a choice among the
        runs being written in it."""
        handle = self._session.list_stored_runs()
        if handle is None:
            self.banner.show_result("warning", "No runs folder is set: choose one with "
                                               "File → Runs folder….")
            return
        handle.finished.connect(self._choose_run_to_follow)

    @Slot(object)
    def _choose_run_to_follow(self, _listing: Any) -> None:
        runs = self.runs_being_written()
        if not runs:
            self.banner.show_result(
                "warning", "No run in this runs folder is being written now: start one "
                           "with `netexplorer train --runs-dir FOLDER` (or under torchrun), "
                           "or choose the folder it writes to with File → Runs folder….")
            return
        titles = [f"{_run_title(run)} · {run.model_name} on {run.dataset_name}"
                  for run in runs]
        chosen, ok = QInputDialog.getItem(self, "Follow run", "Runs being written:", titles,
                                          0, False)
        if ok:
            self.follow(runs[titles.index(chosen)])

    @Slot(object)
    def _on_open_requested(self, run: RunHistory) -> None:
        try:
            self._session.open_stored_run(run)
        except RuntimeError as exc:
            self.banner.show_result("warning", f"The weights were not opened: {exc}.")

    @Slot(object, str)
    def _on_rename_requested(self, run: RunHistory, name: str) -> None:
        self._session.rename_run(run, name)

    @Slot(object)
    def _on_delete_requested(self, run: RunHistory) -> None:
        try:
            self._session.delete_run(run)
        except RuntimeError as exc:
            self.banner.show_result("warning", f"The run was not deleted: {exc}.")

    # ------------------------------------------------------------------ session's news

    @Slot(str)
    def _on_state_changed(self, _state: str) -> None:
        self._refresh_controls()
        self._mark_dirty()

    @Slot(object)
    def _on_run_started(self, run: RunHistory) -> None:
        self._rate = None
        self._failure = None
        self.banner.clear()
        self.runs_list.add_run(run)
        self.show_runs(self._lineage_numbers(run))
        self._mark_dirty()

    def _lineage_numbers(self, run: RunHistory) -> list[int]:
        """The run and the runs it continues step for step (their curves come before
        its own); a run that only took its parent's weights starts a curve of its own."""
        by_id = {r.store_id: r for r in self._session.runs if r.store_id}
        numbers, seen = [run.number], {run.store_id}
        parent = by_id.get(run.parent_id) if run.parent_id and run.first_step else None
        while parent is not None and parent.store_id not in seen:
            numbers.insert(0, parent.number)
            seen.add(parent.store_id)
            parent = (by_id.get(parent.parent_id) if parent.parent_id and parent.first_step
                      else None)
        return numbers

    @Slot(list)
    def _on_stored_runs_listed(self, runs: list) -> None:
        for run in runs:
            self.runs_list.add_run(run)

    @Slot(object)
    def _on_run_changed(self, run: RunHistory) -> None:
        self.runs_list.update_run(run)
        if run in self.plots.runs:
            self.plots.refresh_frames()
            self.plots.mark_dirty()
        if run is self._session.current_run:  # a followed run's progress moves on too
            self._mark_dirty()

    @Slot(object, float)
    def _on_run_quiet(self, run: RunHistory, since: float) -> None:
        when = time.strftime("%H:%M:%S", time.localtime(since))
        self.banner.show_result("warning", f"{_run_title(run).capitalize()}: no new data "
                                           f"since {when} — its writer may be stalled or gone.")

    @Slot(object)
    def _on_follow_ended(self, run: RunHistory) -> None:
        finished = run.finished
        why = f": {finished.message}" if finished and finished.message else ""
        self.banner.show_result("ok" if run.status == "completed" else "warning",
                                f"{_run_title(run).capitalize()} {run.status}{why}.")

    @Slot(object)
    def _on_run_removed(self, run: RunHistory) -> None:
        self.runs_list.remove_run(run)

    @Slot(object)
    def _on_run_opened(self, run: RunHistory) -> None:
        self._refresh_controls()
        self.show_runs(self._lineage_numbers(run))
        self.banner.show_result("ok", f"Opened the weights of run {run.number}"
                                      f"{f' ({run.name})' if run.name else ''}: Train "
                                      f"continues it.")

    @Slot(str)
    def _on_store_problem(self, message: str) -> None:
        self.banner.show_result("warning", message)

    @Slot(object)
    def _on_reports(self, reports: list) -> None:
        for report in reports:
            rate = getattr(report, "images_per_second", None)
            if rate is not None and getattr(report, "losses", None):
                self._rate = rate if self._rate is None else \
                    self._rate + RATE_SMOOTHING * (rate - self._rate)
        if self._session.current_run in self.plots.runs:
            self.plots.mark_dirty()
        self._mark_dirty()

    @Slot(object)
    def _on_training_failed(self, failure: TaskFailure) -> None:
        self._failure = failure

    @Slot(object)
    def _on_run_finished(self, run: RunHistory) -> None:
        self.runs_list.update_run(run)
        self.plots.mark_dirty()
        self._mark_dirty()
        self._refresh_controls()
        status = run.finished.status if run.finished is not None else "failed"
        details = self._failure.details if self._failure is not None else ""
        if not details and status == "diverged" and run.finished is not None:
            details = run.finished.message  # the whole story: what was kept and why
        text = result_summary(run) or f"Run {run.number} ended"
        found = verdicts(run)
        kind = found[0].severity if found else _RESULT_KINDS.get(status, "warning")
        self.banner.show_result(kind, text, details)

    @Slot(object)
    def _on_devices(self, devices: list) -> None:
        self.form.set_devices(devices)
        self._end_discovery()

    @Slot(object)
    def _on_devices_failed(self, failure: TaskFailure) -> None:
        from types import SimpleNamespace

        self.form.set_devices([SimpleNamespace(name="cpu", label="CPU", available=True,
                                               reason="")])
        self.banner.show_result("warning", f"Could not look for GPUs ({failure.message}); "
                                           f"training runs on the CPU.", failure.details)
        self._end_discovery()

    def _end_discovery(self) -> None:
        if self._discovery is not None:
            self._discovery.shutdown(_DISCOVERY_SHUTDOWN_MS)
        self._refresh_controls()

    @Slot()
    def _on_closing(self) -> None:
        if self._discovery is not None:
            self._discovery.shutdown(_DISCOVERY_SHUTDOWN_MS)


def _run_title(run: RunHistory) -> str:
    return f"run {run.number}" + (f" ({run.name})" if run.name else "")
