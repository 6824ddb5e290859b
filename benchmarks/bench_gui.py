"""The training GUI against the bare loop: throughput, event-loop latency, plot redraw.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_gui.py [--runs 5] [--epochs 4]

In one process, with the real main window (offscreen, 1280×800, Training tab
showing so that its plots redraw), LeNet trains on the bundled digits:

1. images per second of a run started with the Train button, against
   benchmarks/common.bare_loop with the same model, batch, optimizer and thread
   policy (augment_shift 0 and schedule 'none', as bench_training.py does). The
   verdicts come from runs with the bare loop's steps interleaved on the app's
   own training thread, as many as the engine's after each of its reports
   (Interleaver): a run's ratio is the median over its rounds of bare time / app
   time per step, the figure the median over runs. Runs timed one after another
   are printed beside them, without a verdict: a run is timed on the training
   thread itself, from the trainer being built to its FinishedReport, by wall
   clock and by process CPU time (which also counts the GUI thread's drawing),
   alternating app/bare; the bare loop alone swings by up to 35 % between them.
   The app is measured as shipped (the inspector samples layer statistics every
   10 steps) and with the inspector's sampling off, which isolates this issue's
   training thread, signals and plots. Targets (issue 18), by wall time: ≥ 0.97
   as shipped, ≥ 0.98 with the inspector off. A third variant trains with the
   Inspector tab showing (its table and plots redrawing; no target). For each,
   the GUI thread's CPU per second of training is printed: the time it holds the
   GIL against the training thread, steadier than the ratios on a shared machine.
   Runs are recorded into a temporary runs folder.
2. event-loop latency during those app runs: a 10 ms precise QTimer records how
   late each tick fires, from the click on Train until the FinishedReport reaches
   the window (what panels then do with the final evaluation is not counted, but
   is shown separately). Target: p99 ≤ 16 ms, max ≤ 50 ms.
3. a loss plot holding 100,000 points: time to hand it the arrays and repaint it,
   and to repaint after a pan. Target ≤ 16 ms.

Figures are medians over the runs; the machine is shared, so both clocks are
printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import Clock, Timing, bare_loop, bare_steps, comparable_config, median, verdict

# Issue 18: the app with the inspector sampling (as shipped) and with it off.
TARGET_RATIOS = {"app": 0.97, "app, inspector off": 0.98}
# The Inspector tab showing while the run trains (its table and plots redraw): no
# target in the issue; printed so that what it costs stays in sight.
INSPECTOR_TAB = "app, Inspector tab"
TARGET_P99_MS = 16.0
TARGET_MAX_MS = 50.0
TARGET_REDRAW_MS = 16.0
TICK_MS = 10


def _app():
    from PySide6.QtWidgets import QApplication

    from netexplorer.ui.app import create_application

    return QApplication.instance() or create_application([])


def wait(app, condition, timeout: float = 120.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.005)
    return False


class RunTimer:
    """Times a run on the training thread: from the worker's `started` (trainer
    built) to the report batch holding the FinishedReport. Connected directly, so
    the GUI thread's event loop adds nothing to the figure.

    `thread_cpu` is the training thread's own CPU time over the same span; the wall
    time beyond it is time the thread could not run — mostly waiting for the GIL
    while the GUI thread paints (PySide keeps the GIL inside Qt's C++ calls), or
    other processes' load. The split tells an engine cost (more training-thread
    CPU) from contention with the GUI (more waiting)."""

    def __init__(self) -> None:
        from PySide6.QtCore import QObject, Slot

        from netexplorer.core.training import FinishedReport

        timer = self

        class Probe(QObject):
            @Slot(object)
            def on_started(self, _trainer) -> None:
                timer.clock = Clock()
                timer.thread0 = time.thread_time()

            @Slot(object)
            def on_reports(self, reports) -> None:
                if any(isinstance(r, FinishedReport) for r in reports):
                    timer.timing = timer.clock.stop()
                    timer.thread_cpu = time.thread_time() - timer.thread0

        self.clock: Clock | None = None
        self.timing: Timing | None = None
        self.thread0 = 0.0
        self.thread_cpu = float("nan")  # seconds of the training thread's CPU in the run
        self.probe = Probe()

    def attach(self, worker) -> None:
        from PySide6.QtCore import Qt

        worker.started.connect(self.probe.on_started, Qt.ConnectionType.DirectConnection)
        worker.reportsReady.connect(self.probe.on_reports, Qt.ConnectionType.DirectConnection)


class LatencyMeter:
    """A 10 ms precise timer; lateness of each tick past its due time, in ms."""

    def __init__(self) -> None:
        from PySide6.QtCore import QObject, Qt, QTimer, Slot

        meter = self

        class Ticker(QObject):
            @Slot()
            def on_tick(self) -> None:
                now = time.perf_counter()
                if meter.last is not None:
                    late = max(0.0, (now - meter.last) * 1000 - TICK_MS)
                    (meter.late if meter.recording else meter.after).append(late)
                meter.last = now

            @Slot(object)
            def on_reports(self, reports) -> None:
                meter.stop_at_finish(reports)

        self.late: list[float] = []  # during training
        self.after: list[float] = []  # from the FinishedReport to the end of the run
        self.last: float | None = None
        self.recording = False
        self.ticker = Ticker()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.ticker.on_tick)

    def start(self) -> None:
        self.last = None
        self.recording = True
        self.timer.start()

    def stop_at_finish(self, reports) -> None:
        """Training ends with the FinishedReport: what panels do with the final
        evaluation after it is not "during training"."""
        from netexplorer.core.training import FinishedReport

        if any(isinstance(r, FinishedReport) for r in reports):
            self.recording = False

    def stop(self) -> None:
        self.recording = False
        self.timer.stop()


class Interleaver:
    """Bare steps laid between the app's own, on its training thread, in one run.

    Runs timed one after another cannot show a 2 % difference here: the bare loop's
    speed alone swings by up to 35 % from run to run on this shared machine. So, as
    bench_training interleaves in one thread, this wraps the running Trainer's
    steps() (through the worker's `started`, connected directly: on the training
    thread, before the first step) and, as each StepReport comes out of the engine,
    runs as many steps of the bare loop (common.bare_steps, its own model of the
    same spec, same batch) before handing the report on. A round is an app block
    (the engine's steps, the worker's recording and emitting of the report before
    them) and the bare block after it; both meet the same machine load.

    The window's work for a report lands in the app block that follows its emit,
    as it does in a real run, provided the GUI thread has finished with it before
    the next bare block starts (a report is emitted at most every 33 ms; drawing
    it takes a few ms). `gui_share` checks that: the GUI thread's CPU per second
    of each kind of block, read on its thread's CPU clock. A bare block meeting
    the window's drawing would make the ratio read too high; the two shares say
    how far that is from true."""

    def __init__(self, spec, dataset, config, gui_clock: int) -> None:
        from PySide6.QtCore import QObject, Slot

        interleaver = self

        class Hook(QObject):
            @Slot(object, str)
            def on_started(self, trainer, _run_id) -> None:
                interleaver.wrap(trainer)

        self.spec, self.dataset, self.config = spec, dataset, config
        self.gui_clock = gui_clock
        self.rounds: list[tuple[Timing, Timing]] = []  # per step: (app, bare)
        self.gui: dict[str, float] = {"app": 0.0, "bare": 0.0}
        self.spans: dict[str, float] = {"app": 0.0, "bare": 0.0}
        self.hook = Hook()

    def attach(self, worker) -> None:
        from PySide6.QtCore import Qt

        worker.started.connect(self.hook.on_started, Qt.ConnectionType.DirectConnection)

    def _mark(self) -> tuple[float, float, float]:
        return (time.perf_counter(), time.thread_time(), time.clock_gettime(self.gui_clock))

    def _add(self, kind: str, begun: tuple[float, float, float],
             ended: tuple[float, float, float]) -> Timing:
        self.gui[kind] += ended[2] - begun[2]
        self.spans[kind] += ended[0] - begun[0]
        return Timing(ended[0] - begun[0], ended[1] - begun[1])

    def wrap(self, trainer) -> None:
        from netexplorer.core.training import StepReport

        engine = trainer.steps
        config = self.config
        bare = bare_steps(self.spec, self.dataset, epochs=10**6,
                          batch_size=config.batch_size, lr=config.lr,
                          momentum=config.momentum, every=1)
        seen = next(bare)  # its model and optimizer made before the run's first step

        def interleaved():
            nonlocal seen
            done = 0
            mark = self._mark()
            for report in engine():
                if isinstance(report, StepReport) and report.step > done:
                    steps, done = report.step - done, report.step
                    app = self._add("app", mark, began := self._mark())
                    taken = 0
                    while taken < steps:  # an epoch's test yields too, with `seen` unchanged
                        now_seen = next(bare)
                        taken += now_seen != seen
                        seen = now_seen
                    mark = self._mark()
                    bare_block = self._add("bare", began, mark)
                    self.rounds.append((Timing(app.wall / steps, app.cpu / steps),
                                        Timing(bare_block.wall / steps,
                                               bare_block.cpu / steps)))
                yield report
                # what the worker does with a report (recording, emitting) and the
                # engine's next steps are the next app block's

        trainer.steps = interleaved

    def ratios(self) -> dict[str, float]:
        """Median over the rounds of bare time / app time per step, by wall clock and
        by the training thread's CPU."""
        return {clock: median([getattr(bare, clock) / getattr(app, clock)
                               for app, bare in self.rounds])
                for clock in ("wall", "cpu")}

    def gui_share(self) -> dict[str, float]:
        return {kind: self.gui[kind] / self.spans[kind] if self.spans[kind] else 0.0
                for kind in self.gui}


def app_run(app, window, panel, config, timer: RunTimer, meter: LatencyMeter,
            interleaver: Interleaver | None = None) -> tuple[Timing, int]:
    from PySide6.QtCore import QEventLoop, QTimer

    session = window.session
    panel.form.set_config(config)
    panel.controls.reset_check.setChecked(session.has_trained_model)
    loop = QEventLoop()  # the real event loop, as app.exec() runs it: no polling
    session.runFinished.connect(loop.quit)
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(loop.quit)
    guard.start(300_000)
    session.reportsReady.connect(meter.ticker.on_reports)
    meter.start()
    panel.controls.train_action.trigger()
    timer.timing = None
    timer.attach(session._thread.worker)  # the trainer is still being built: nothing missed
    if interleaver is not None:
        interleaver.attach(session._thread.worker)
    run = session.current_run
    loop.exec()
    meter.stop()
    guard.stop()
    session.runFinished.disconnect(loop.quit)
    session.reportsReady.disconnect(meter.ticker.on_reports)
    if run.finished is None:
        raise SystemExit("the app run did not finish")
    if timer.timing is None:
        raise SystemExit("the run was not timed (did the worker start before the timer?)")
    if run.finished.status != "completed":
        raise SystemExit(f"the app run ended {run.finished.status}: {run.finished.message}")
    per_epoch = run.last_step.batches_per_epoch
    images = min(len(window.data_view.dataset.train), per_epoch * config.batch_size)
    return timer.timing, images * config.epochs


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def redraw_figures(app, repeats: int = 15) -> dict[str, float]:
    """Time handing 100,000 points to a loss plot and repainting it (1280×800 window
    share), then a pan (which re-clips and re-downsamples) and repaint."""
    import numpy as np

    from netexplorer.core.runs import RunHistory
    from netexplorer.core.training import StepReport, TrainConfig
    from netexplorer.ui.training.training_plots import TrainingPlots
    from netexplorer.ui.widgets.redraw_clock import RedrawClock

    clock = RedrawClock()
    plots = TrainingPlots(clock)
    plots.resize(840, 420)
    plots.show()
    rng = np.random.default_rng(0)
    n = 100_000
    losses = np.exp(-np.linspace(0, 4, n)) * 2 + rng.random(n) * 0.3
    run = RunHistory(1, TrainConfig(epochs=100), "lenet", "digits")
    every = 10
    for start in range(0, n, every):
        chunk = tuple(float(v) for v in losses[start:start + every])
        run.add(StepReport(1 + start // 1000, start + every, 0, 1000, chunk[-1],
                           sum(chunk) / every, 0.05, 1000.0, 1.0, chunk, start + 1))
    plots.set_runs([run])
    wait(app, lambda: False, 0.3)
    viewport = plots.loss_plot.viewport()
    pacer = plots.pacer_of(plots.loss_plot)
    curves = {1: plots.curves_of(1)}
    full, pan = [], []
    for _ in range(repeats):
        pacer.forget(1)  # new arrays, as a live run hands over
        began = time.perf_counter()
        pacer.update([run], curves, began)
        viewport.repaint()
        full.append((time.perf_counter() - began) * 1000)
    view = plots.loss_plot.getPlotItem().getViewBox()
    for i in range(repeats):
        began = time.perf_counter()
        view.setXRange(i, 40 + i, padding=0)
        viewport.repaint()
        pan.append((time.perf_counter() - began) * 1000)
    plots.close()
    clock.stop()
    return {"redraw": median(full), "redraw_max": max(full), "pan": median(pan),
            "pan_max": max(pan), "points": len(run.losses)}


def show(window, variant: str, shipped_every: int | None) -> None:
    """The window as the variant trains: the inspector sampling or not, which tab."""
    window.session.probe_every = None if variant == "app, inspector off" else shipped_every
    window.tabs.setCurrentWidget(window.inspector_panel if variant == INSPECTOR_TAB
                                 else window.training_panel)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per throughput run")
    args = parser.parse_args()
    # The runs it records go to a folder of its own, not the person's runs folder.
    os.environ["NETEXPLORER_RUNS"] = tempfile.mkdtemp(prefix="bench-gui-runs-")

    app = _app()
    from PySide6.QtCore import QSettings

    from netexplorer.core.devices import apply_cpu_policy
    from netexplorer.ui.main_window import MainWindow

    settings = QSettings(str(Path(tempfile.mkdtemp()) / "bench.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.resize(1280, 800)
    window.show()
    panel = window.training_panel
    window.tabs.setCurrentWidget(panel)
    if not wait(app, lambda: panel.ready_reason == ""):
        raise SystemExit(f"the window never became ready to train: {panel.ready_reason}")
    threads = apply_cpu_policy(interactive=True)  # what the training thread applies
    spec = window.model_panel.spec
    dataset = window.data_view.dataset
    config = comparable_config(args.epochs)
    print(f"LeNet on digits, batch {config.batch_size}, SGD lr {config.lr} momentum "
          f"{config.momentum}, {threads} intra-op thread(s), {args.runs} runs of "
          f"{args.epochs} epochs; window 1280×800 offscreen, Training tab showing")

    timer, meter = RunTimer(), LatencyMeter()
    shipped_every = window.session.probe_every
    names = ("app", "app, inspector off", INSPECTOR_TAB, "bare")
    apps = names[:3]
    rates = {name: {"wall": [], "cpu": []} for name in names}
    latency = {name: [] for name in apps}
    training_thread = {name: {"cpu": [], "waiting": [], "gui": []} for name in apps}
    after_run: list[float] = []
    app_run(app, window, panel, config.replace(epochs=1), timer, meter)  # warm up
    meter.late.clear()
    for _ in range(args.runs):
        for name in names:
            if name == "bare":
                timing, images = bare_loop(spec, dataset, epochs=args.epochs,
                                           batch_size=config.batch_size, lr=config.lr,
                                           momentum=config.momentum)
            else:
                show(window, name, shipped_every)
                meter.late.clear()
                meter.after.clear()
                gui0 = time.thread_time()
                timing, images = app_run(app, window, panel, config, timer, meter)
                training_thread[name]["gui"].append((time.thread_time() - gui0) / timing.wall)
                latency[name].append((percentile(meter.late, 99), max(meter.late, default=0)))
                training_thread[name]["cpu"].append(timer.thread_cpu)
                training_thread[name]["waiting"].append(timing.wall - timer.thread_cpu)
                after_run.append(max(meter.after, default=0))
            rates[name]["wall"].append(images / timing.wall)
            rates[name]["cpu"].append(images / timing.cpu)
    # The verdicts: the same variants with bare steps interleaved on their training
    # thread (Interleaver), one run each per round, as many rounds.
    gui_clock = time.pthread_getcpuclockid(threading.get_ident())
    interleaved = {name: {"wall": [], "cpu": []} for name in apps}
    gui_shares = {name: {"app": [], "bare": []} for name in apps}
    for _ in range(args.runs):
        for name in apps:
            show(window, name, shipped_every)
            interleaver = Interleaver(spec, dataset, config, gui_clock)
            app_run(app, window, panel, config, timer, meter, interleaver)
            for clock, ratio in interleaver.ratios().items():
                interleaved[name][clock].append(ratio)
            for kind, share in interleaver.gui_share().items():
                gui_shares[name][kind].append(share)
    window.session.probe_every = shipped_every
    window.tabs.setCurrentWidget(panel)

    print("\n1. throughput against the bare loop, interleaved on the training thread "
          "(median over runs of each run's\n   median over its rounds of bare time / app "
          "time per step; see Interleaver)")
    for name in apps:
        target = TARGET_RATIOS.get(name)
        for clock in ("wall", "cpu"):
            ratio = median(interleaved[name][clock])
            aim = f"target ≥ {target}  {verdict(ratio, target)}" if target and \
                clock == "wall" else "(no target)"
            print(f"   {name:<19} {clock:>4}: ratio {ratio:.3f}   {aim}   runs "
                  f"{[round(r, 3) for r in interleaved[name][clock]]}")
    print("   the GUI thread's CPU per second of app blocks / of bare blocks (a bare block "
          "meeting the window's\n   drawing would read the ratio too high):")
    for name in apps:
        print(f"     {name:<19} {median(gui_shares[name]['app']):.3f} / "
              f"{median(gui_shares[name]['bare']):.3f} s/s")
    print("\n   runs timed one after another (images/s, median of runs; no verdict: the "
          "bare loop alone swings by\n   up to 35 % from run to run here)")
    for name in apps:
        for clock in ("wall", "cpu"):
            a, b = median(rates[name][clock]), median(rates["bare"][clock])
            print(f"   {name:<19} {clock:>4}: {a:8,.0f} vs bare {b:8,.0f}  ratio {a / b:.3f}")
    for name in names:
        print(f"   runs ({name}, wall img/s): {[round(r) for r in rates[name]['wall']]}")
    print("   (process CPU time includes the GUI thread's drawing; wall time is what a "
          "person waits)")
    for name in apps:
        cpu, waiting = training_thread[name]["cpu"], training_thread[name]["waiting"]
        print(f"   training thread ({name}): CPU {median(cpu):.3f} s, not running "
              f"{median(waiting):.3f} s (GIL held by the GUI thread, or other load)")
    print("   the GUI thread's CPU per second of training (its redraws and report handling, "
          "which hold the GIL\n   the training thread needs between its torch ops; a "
          "steadier figure than the ratios on a shared machine):")
    for name in apps:
        print(f"     {name:<19} {median(training_thread[name]['gui']):.3f} s/s")

    print(f"\n2. event-loop lateness of a {TICK_MS} ms timer during training "
          "(median over runs of each run's p99 / max)")
    for name in apps:
        p99 = median([p for p, _ in latency[name]])
        worst = median([m for _, m in latency[name]])
        print(f"   {name:<19} p99 {p99:5.1f} ms (target ≤ {TARGET_P99_MS:.0f}: "
              f"{verdict(p99, TARGET_P99_MS, higher_is_better=False)}), max {worst:5.1f} ms "
              f"(target ≤ {TARGET_MAX_MS:.0f}: {verdict(worst, TARGET_MAX_MS, False)}); "
              f"worst run max {max(m for _, m in latency[name]):.1f} ms")

    print(f"   after the FinishedReport (panels showing the final evaluation): max "
          f"{median(after_run):.1f} ms (median over runs; not part of the target)")

    figures = redraw_figures(app)
    print(f"\n3. loss plot with {figures['points']:,} points, median of 15 "
          f"(target ≤ {TARGET_REDRAW_MS:.0f} ms)")
    print(f"   new arrays + repaint: {figures['redraw']:5.1f} ms (max {figures['redraw_max']:.1f})"
          f"  {verdict(figures['redraw'], TARGET_REDRAW_MS, False)}")
    print(f"   pan + repaint:        {figures['pan']:5.1f} ms (max {figures['pan_max']:.1f})"
          f"  {verdict(figures['pan'], TARGET_REDRAW_MS, False)}")
    window.close()
    app.processEvents()


if __name__ == "__main__":
    main()
