"""The main window as `netexplorer` opens it: layout, menus, status, settings."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMessageBox, QWidget

from netexplorer.core.presets import get_preset
from netexplorer.ui.main_window import MainWindow
from tests.ui.conftest import wait_for_data


def test_opens_with_lenet_and_digits(window):
    assert window.model_panel.spec == get_preset("lenet")
    assert window.data_view.dataset_name == "digits"
    assert window.data_view.dataset.input_shape == (1, 32, 32)
    assert window.data_view.grid.image_count() == window.data_view.page_size
    assert window.findChild(QWidget, "modelPanel") is window.model_panel
    assert window.findChild(QWidget, "imageGrid") is window.data_view.grid
    assert window.windowTitle() == "lenet[*] — netexplorer"
    assert not window.isWindowModified()


def test_layout_has_the_model_dock_and_only_real_tabs(window):
    dock = window.findChild(QDockWidget, "modelDock")
    assert dock.widget() is window.model_panel
    assert window.dockWidgetArea(dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles[:2] == ["Data", "Training"]  # then Inspector and Evaluation (issue 7)
    index = window.add_tab(QLabel("later"), "Training")
    assert window.tabs.tabText(index) == "Training"


def test_the_window_fits_a_small_screen(window, qtbot):
    """A 1024×768 laptop: the window's least width is under 1,000 px, it opens
    fitted to the screen's free area, and at 1024×640 it is that size (no part of
    it pushed off-screen)."""
    from PySide6.QtCore import QSize

    from netexplorer.ui.main_window import _first_size

    wait_for_data(qtbot, window)
    assert window.minimumSizeHint().width() <= 1000
    assert _first_size(QSize(1024, 738)) == QSize(984, 698)
    assert _first_size(QSize(2560, 1400)) == QSize(1280, 800)
    window.resize(1024, 640)
    qtbot.waitUntil(lambda: window.size() == QSize(1024, 640), timeout=5_000)
    dock = window.findChild(QDockWidget, "modelDock")
    assert dock.geometry().right() < window.centralWidget().geometry().left()
    assert window.centralWidget().geometry().right() < 1024


def test_status_bar_shows_device_threads_and_state(window, qtbot):
    qtbot.waitUntil(lambda: "…" not in window.device_label.text(), timeout=30_000)
    assert window.device_label.text() in ("Device: CPU",) or "CUDA" in window.device_label.text()
    assert window.threads_label.text().startswith("CPU threads: ")
    assert int(window.threads_label.text().split(": ")[1]) >= 1
    state = window.state_label.text()
    assert "61,706 parameters" in state and "digits" in state.lower()
    window.model_panel.remove_layer(6)
    assert "error" in window.state_label.text()


def test_menus_use_standard_shortcuts(window):
    K = QKeySequence.StandardKey
    expected = {"newModelAction": K.New, "openSpecAction": K.Open, "saveSpecAction": K.Save,
                "saveSpecAsAction": K.SaveAs, "quitAction": K.Quit, "undoAction": K.Undo,
                "redoAction": K.Redo}
    for name, key in expected.items():
        action = window.findChild(QAction, name)
        assert action is not None, name
        assert action.shortcut() == QKeySequence(key), name
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus[:3] == ["File", "Edit", "View"] and menus[-1] == "Help"
    toggle = window.findChild(QAction, "toggleModelDockAction")
    assert toggle is not None and toggle in window.view_menu.actions()
    toggle.trigger()
    assert window.model_dock.isHidden()
    toggle.trigger()
    assert not window.model_dock.isHidden()


def test_checkpoint_actions_are_enabled_with_a_model(window):
    for name in ("openCheckpointAction", "saveCheckpointAction"):
        action = window.findChild(QAction, name)
        assert action.isEnabled(), name
        assert "checkpoint" in action.toolTip(), name


def test_edits_mark_the_window_modified_and_undo_clears_it(window):
    window.model_panel.add_layer("relu")
    assert window.isWindowModified()
    window.findChild(QAction, "undoAction").trigger()
    assert not window.isWindowModified()
    window.findChild(QAction, "redoAction").trigger()
    assert window.isWindowModified()


def test_new_model_is_empty_and_undoable(window):
    window.findChild(QAction, "newModelAction").trigger()
    assert window.model_panel.spec.layers == ()
    assert window.model_panel.spec.input_shape == (1, 32, 32)
    assert not window.model_panel.is_valid
    assert window.windowTitle().startswith("untitled")
    window.model_panel.undo_stack.undo()
    assert window.model_panel.spec == get_preset("lenet")


def test_about_names_the_versions(window, monkeypatch, qtbot):
    shown = []
    monkeypatch.setattr(QMessageBox, "about", lambda parent, title, text: shown.append(text))
    qtbot.waitUntil(lambda: window._environment is not None, timeout=30_000)
    window.findChild(QAction, "aboutAction").trigger()
    import torch
    from PySide6.QtCore import qVersion

    from netexplorer import __version__

    (text,) = shown
    assert __version__ in text and torch.__version__ in text and qVersion() in text
    assert "CPU" in text or "CUDA" in text


def test_settings_remember_model_dataset_and_geometry(qtbot, tmp_path):
    path = str(tmp_path / "remember.ini")
    first = MainWindow(settings=QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    first.show()
    wait_for_data(qtbot, first)
    first.model_panel.load_preset("mlp")
    first.resize(1000, 650)
    first.close()
    assert first.data_view.busy is False

    second = MainWindow(settings=QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    assert second.model_panel.spec == get_preset("mlp")
    # The offscreen screen is 800 px wide, so Qt fits the restored width to it.
    assert second.height() == 650
    second.show()
    wait_for_data(qtbot, second)
    assert second.data_view.dataset_name == "digits"
    assert second.data_view.dataset.input_shape == (1, 28, 28)


def test_damaged_settings_fall_back_to_lenet(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "bad.ini"), QSettings.Format.IniFormat)
    settings.setValue("model/spec", "{not json")
    settings.setValue("window/geometry", "garbage")
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    assert win.model_panel.spec == get_preset("lenet")


def test_unshown_window_still_loads_and_closes_cleanly(qtbot, settings):
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    wait_for_data(qtbot, win)  # no paint: the fallback timer starts the load
    assert win.data_view.dataset_name == "digits"


def test_closing_while_loading_waits_for_the_loader(qtbot, settings):
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    # The first load starts once the window has painted; its start is a signal (the
    # load itself may be over by the time the test looks).
    with qtbot.waitSignal(win.data_view.busyChanged, timeout=10_000,
                          check_params_cb=lambda busy: busy is True):
        win.show()
    win.close()  # must not abort with "QThread: Destroyed while thread is still running"
    assert win.data_view._runner._thread is None  # shut down: quit and waited for


def test_app_main_runs_the_window(monkeypatch, qapp, qtbot):
    import shiboken6
    from PySide6.QtWidgets import QApplication

    from netexplorer.ui import app as app_module

    shown = []

    def run_event_loop(self=None) -> int:
        """Instead of the event loop: note the window shown (a real loop ends when
        it is closed; main() closes and deletes it after the loop either way)."""
        windows = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow)
                   and w.isVisible()]
        shown.extend(windows)
        return 0

    monkeypatch.setattr(QApplication, "exec", run_event_loop)
    assert app_module.main([]) == 0
    assert len(shown) == 1
    assert not shiboken6.isValid(shown[0])  # closed and deleted when the loop ended
    assert qapp.applicationName() == "netexplorer"
    assert qapp.organizationName() == "netexplorer"
    assert not qapp.windowIcon().isNull()


FIRST_PAINT_SCRIPT = """
import sys
from PySide6.QtCore import QEvent, QObject, QSettings
from PySide6.QtWidgets import QApplication

app = QApplication([])
from netexplorer.ui.main_window import MainWindow

HEAVY = ("torch", "sklearn", "torchvision", "netexplorer.core.data", "pyqtgraph", "numpy",
         "sqlite3")
PANELS = ["trainingPanel", "inspectorPanel", "evaluationPanel", "autogradPanel"]
seen = {}


def late_tabs():
    return [window.tabs.widget(i).objectName() for i in range(1, window.tabs.count())]


class Paints(QObject):
    # What was imported when the window's first paint arrived: the dataset load
    # (which imports torch on its thread) and the pyqtgraph panels come after it.
    # And what the tabs held when the digits were first drawn.
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint:
            if watched is window and "paint" not in seen:
                seen["paint"] = sorted(m for m in HEAVY if m in sys.modules)
            grid = window.data_view.grid
            if watched is grid and grid.image_count() and "digits" not in seen:
                seen["digits"] = late_tabs()
        return False


window = MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat))
spy = Paints()
app.installEventFilter(spy)
window.resize(1000, 700)
window.show()
while "digits" not in seen or late_tabs() != PANELS:
    app.processEvents()
print(seen["paint"])
print(seen["digits"])
print(window.training_panel.controls is window.training_controls,
      window.tabs.currentIndex(), [window.tabs.tabText(i) for i in range(window.tabs.count())])
window.shutdown()
"""


def test_the_first_paint_waits_for_neither_torch_nor_the_plots(tmp_path):
    """The first paint must not wait for torch (~2.5 s here), which loads in the
    background, started by that paint, nor for pyqtgraph and the panels that draw
    with it (~0.6 s here), built once the digits are drawn, nor for numpy and
    SQLite (~0.1 s), which the digits' grid and the runs list need after it. What was imported is
    read at the first paint event itself; the tabs' contents when the grid first
    draws the digits. Then every tab gets its panel, the Data tab still showing."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", FIRST_PAINT_SCRIPT, str(tmp_path / "s.ini")],
                         capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    at_paint, at_digits, built = out.stdout.strip().splitlines()[-3:]
    assert at_paint == "[]"
    assert at_digits == str(["trainingPage", "inspectorPage", "evaluationPage", "autogradPage"])
    assert built == ("True 0 ['Data', 'Training', 'Inspector', 'Evaluation', 'Autograd']")


def test_a_tab_clicked_before_its_panel_is_built_shows_the_panel(qtbot, settings):
    """The late panels are built at the first use of any of them: here a click on
    the Inspector tab of a window not shown yet, before its startup timer ran."""
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    assert window.tabs.widget(2).objectName() == "inspectorPage"
    window.tabs.setCurrentIndex(2)
    assert window.tabs.currentWidget() is window.inspector_panel
    assert [window.tabs.widget(i) for i in range(1, 5)] == [
        window.training_panel, window.inspector_panel, window.evaluation_panel,
        window.autograd_panel]
    window.close()


def test_late_panels_are_told_what_the_window_knew_before_them(qtbot, settings):
    """What changed before the late panels were built reaches them when they are:
    an invalid model (the Train button already said why it is disabled, and the
    autograd lab draws no graph for it) and the remembered sampling interval."""
    settings.setValue("inspector/probe_every", 7)
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    assert window.session.probe_every == 7  # the session has it before the inspector
    panel = window.model_panel
    panel.set_param([layer.name for layer in panel.spec.layers].index("fc1"),
                     "in_features", 3)
    assert not panel.is_valid
    train = window.training_controls.train_action
    assert not train.isEnabled() and "model has an error" in train.toolTip()
    assert window.inspector_panel.every_spin.value() == 7
    assert window.autograd_panel.trace_model() is None  # no graph for a broken model
    assert "model has an error" in window.training_panel.ready_reason
    window.close()


def test_training_commands_are_seen_from_every_tab_and_train_shows_its_tab(window, qtbot):
    """First use: Train / Pause / Step / Stop sit in a toolbar above every tab; Train
    (F5) from the Data tab brings the Training tab forward; a first-run hint says
    what to do until it is dismissed or a run starts, and is not shown again."""
    from tests.ui.training_helpers import train

    train_button = window.findChild(QWidget, "trainButton")
    toolbar = window.findChild(QWidget, "trainingToolBar")
    assert toolbar.isAncestorOf(train_button)
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        assert train_button.isVisibleTo(window)
    window.tabs.setCurrentWidget(window.data_view.parentWidget())
    hint = window.first_run_hint
    assert hint.isVisibleTo(window) and "press Train (F5)" in hint.text
    train(qtbot, window)
    assert window.tabs.currentWidget() is window.training_panel
    assert not hint.isVisibleTo(window) and window.settings.first_run_hint_seen


def test_a_dismissed_first_run_hint_stays_dismissed(qtbot, settings):
    first = MainWindow(settings=settings)
    qtbot.addWidget(first)
    first.show()
    wait_for_data(qtbot, first)
    assert first.first_run_hint.isVisibleTo(first)
    first.first_run_hint.close_button.click()
    assert not first.first_run_hint.isVisibleTo(first)
    first.close()
    assert first.data_view.busy is False
    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    again.show()
    wait_for_data(qtbot, again)
    assert not again.first_run_hint.isVisibleTo(again)


def test_the_window_is_opened_once_its_stored_runs_are_listed(qtbot, settings, monkeypatch):
    """`opened` waits for the startup's listing of the runs folder: a listing asked
    for after it must not be answered by that older one (it was, when the store's
    modules were first imported on the job thread and a busy core slowed it)."""
    import threading

    from netexplorer.core.runs import RunStore
    from netexplorer.core.train_config import TrainConfig
    from netexplorer.ui.session import run_library

    asked, release = threading.Event(), threading.Event()
    listing = run_library.list_job

    def held_back(folder):
        asked.set()
        release.wait(30)
        return listing(folder)

    monkeypatch.setattr(run_library, "list_job", held_back)
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    with RunStore(window.session.library.folder) as store:
        run_id = store.create_run("{}", TrainConfig(), model="lenet", dataset="digits")
    window.show()
    try:
        qtbot.waitUntil(asked.is_set, timeout=60_000)  # the startup's last step ran
        assert window.tabs.widget(4).objectName() == "autogradPanel"
        assert not window.opened
    finally:
        release.set()
    wait_for_data(qtbot, window)
    assert [run.store_id for run in window.session.runs] == [run_id]
