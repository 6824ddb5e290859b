"""The application: what `netexplorer` (no arguments) and `make run` start."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QApplication

from netexplorer import __version__
from netexplorer.ui.session.garbage import COLLECTOR_NAME, GuiThreadGarbageCollector
from netexplorer.ui.settings import APPLICATION, ORGANIZATION


def create_application(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication, named so that QSettings and the desktop know the app."""
    from netexplorer.ui.icons import icon

    existing = QApplication.instance()
    if existing is None:
        app = QApplication(list(argv) if argv is not None else sys.argv)
    elif isinstance(existing, QApplication):
        app = existing
    else:  # a QCoreApplication or QGuiApplication cannot show widgets
        raise RuntimeError(f"a {type(existing).__name__} already runs in this process; "
                           f"the window needs a QApplication")
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("netexplorer")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("netexplorer")
    app.setWindowIcon(icon("netexplorer"))
    collect_garbage_on_the_gui_thread(app)
    return app


def collect_garbage_on_the_gui_thread(app: QApplication) -> GuiThreadGarbageCollector:
    """The app's one GuiThreadGarbageCollector (made if missing), started: cycles
    of Qt objects must never be freed on the training thread (see garbage.py)."""
    collector = app.findChild(GuiThreadGarbageCollector, COLLECTOR_NAME)
    if collector is None:
        collector = GuiThreadGarbageCollector(app)
    collector.start()
    return collector


def main(argv: Sequence[str] | None = None) -> int:
    """Open the main window and run until it is closed."""
    app = create_application(argv)
    from netexplorer.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    code = app.exec()
    window.close()  # shuts down (idempotently) if it was still open when the loop ended
    # Deleted here, by Qt, while the QApplication still exists: left to Python, the
    # window would be freed at interpreter exit, after PySide has destroyed the
    # application, and its widgets' destructors would reach a deleted one.
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return int(code)
