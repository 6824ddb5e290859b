"""Closing the window while it trains ends the run and the process cleanly: no
"QThread: Destroyed while thread is still running", no hang.

How long closing takes is a figure for benchmarks/bench_close.py; the bounds here
are generous on purpose and catch only a hang (a loaded CI machine can take
seconds to stop a thread that is importing torch's compiler stack)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from PySide6.QtCore import QThread

from tests.ui.training_helpers import click, start

ROOT = Path(__file__).resolve().parents[2]
# Only a hang takes this long.
HANG_S = 60

# The real application object and window; once training has reported its first
# batches the window is closed as a person would, and app.exec() must return and
# the interpreter exit.
SCRIPT = textwrap.dedent("""
    import sys, time
    from PySide6.QtCore import QSettings, QTimer
    from netexplorer.ui.app import create_application
    app = create_application([])
    from netexplorer.core.train_config import TrainConfig
    from netexplorer.ui.main_window import MainWindow
    from netexplorer.ui.training.training_panel import TrainingPanel

    window = MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat))
    window.show()
    panel = window.training_panel
    session = window.session

    started = []  # this script's own run (stored runs of earlier ones may be listed)

    def poll():
        if panel.ready_reason:
            return
        if not started:
            panel.form.set_config(TrainConfig(epochs=200, device="cpu"))
            panel.controls.train_action.trigger()
            started.append(session.current_run)
            return
        report = session.current_run.last_step
        if session.state == "running" and report is not None:
            timer.stop()
            print(f"closing at {time.time():.3f}", flush=True)
            window.close()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(20)
    code = app.exec()
    print(f"event loop ended with {code}", flush=True)
    sys.exit(code)
""")


def run_and_close(settings_file: Path, timeout: float = 120) -> tuple[str, str, float]:
    """Run SCRIPT (train, then close the window mid-run); its output and the seconds
    from the close to the process's end. Also used by benchmarks/bench_close.py."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, str(settings_file)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:  # pragma: no cover - the failure this test is for
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"the app did not exit:\n{out}\n{err}") from None
    ended = time.time()
    assert process.returncode == 0, err
    closing = [line for line in out.splitlines() if line.startswith("closing at ")]
    assert closing, out + err
    return out, err, ended - float(closing[0].split()[-1])


def test_closing_the_window_during_training_ends_the_process_cleanly(tmp_path):
    out, err, took = run_and_close(tmp_path / "s.ini")
    assert "Destroyed while thread" not in err
    assert "event loop ended with 0" in out
    assert took < HANG_S, f"closing took {took:.1f} s: a hang"


def test_closing_while_paused_ends_the_training_thread(window, qtbot):
    session = window.session
    start(qtbot, window, epochs=50)
    qtbot.waitUntil(lambda: session.current_run.last_step is not None, timeout=30_000)
    click(qtbot, window, "pauseButton")
    qtbot.waitUntil(lambda: session.state == "paused", timeout=10_000)
    thread = session._thread.qthread
    window.close()
    assert isinstance(thread, QThread)
    assert thread.wait(HANG_S * 1000), "the training thread did not end"


def test_closing_while_the_run_starts_ends_the_training_thread(window, qtbot):
    session = window.session
    start(qtbot, window, epochs=50)
    assert session.state == "starting"
    thread = session._thread.qthread
    window.close()
    assert thread.wait(HANG_S * 1000), "the training thread did not end"
