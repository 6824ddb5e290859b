"""Closing the window while it trains ends the run and the process cleanly and
quickly: no "QThread: Destroyed while thread is still running", no hang."""

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
CLOSE_LIMIT_S = 2.0

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
    from netexplorer.ui.training_panel import TrainingPanel

    window = MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat))
    window.show()
    panel = window.findChild(TrainingPanel)
    session = window.session

    def poll():
        if panel.ready_reason:
            return
        if not session.runs:
            panel.form.set_config(TrainConfig(epochs=200, device="cpu"))
            panel.controls.train_action.trigger()
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


def test_closing_the_window_during_training_exits_within_two_seconds(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "s.ini")],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # pragma: no cover - the failure this test is for
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"the app did not exit:\n{out}\n{err}") from None
    ended = time.time()
    assert process.returncode == 0, err
    assert "Destroyed while thread" not in err
    closing = [line for line in out.splitlines() if line.startswith("closing at ")]
    assert closing, out + err
    took = ended - float(closing[0].split()[-1])
    assert took < CLOSE_LIMIT_S, f"closing took {took:.2f} s"


def test_closing_while_paused_ends_the_training_thread(window, qtbot):
    session = window.session
    start(qtbot, window, epochs=50)
    qtbot.waitUntil(lambda: session.current_run.last_step is not None, timeout=30_000)
    click(qtbot, window, "pauseButton")
    qtbot.waitUntil(lambda: session.state == "paused", timeout=10_000)
    thread = session._thread.thread
    began = time.monotonic()
    window.close()
    assert time.monotonic() - began < CLOSE_LIMIT_S
    assert isinstance(thread, QThread) and thread.isFinished()


def test_closing_while_the_run_starts_ends_the_training_thread(window, qtbot):
    session = window.session
    start(qtbot, window, epochs=50)
    assert session.state == "starting"
    thread = session._thread.thread
    began = time.monotonic()
    window.close()
    assert time.monotonic() - began < CLOSE_LIMIT_S
    assert thread.isFinished()
