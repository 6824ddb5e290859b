"""Screenshots of the real main window, offscreen, for looking at what we build.

    .venv/bin/python tools/screenshots.py OUT_DIR [--size 1280x800] [--dark]

Builds MainWindow with isolated settings, waits for the bundled dataset, and
saves one PNG per centre tab (plus the model panel with an invalid layer). Not
part of the test suite; a person (or a reviewer) opens the PNGs and looks.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def wait(app, condition, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.02)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", default="1280x800")
    parser.add_argument("--dark", action="store_true")
    parser.add_argument("--train-steps", type=int, default=0,
                        help="train this many epochs first when a Training tab exists")
    parser.add_argument("--train-epochs", type=int, default=0,
                        help="train this many epochs on the CPU (probe on) before grabbing, so "
                             "the Inspector and Evaluation tabs show a real run")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv)
    if args.dark:
        app.setStyle("Fusion")
        palette = QPalette()
        for role, colour in ((QPalette.ColorRole.Window, "#2b2b2b"),
                             (QPalette.ColorRole.WindowText, "#e6e6e6"),
                             (QPalette.ColorRole.Base, "#1e1e1e"),
                             (QPalette.ColorRole.AlternateBase, "#262626"),
                             (QPalette.ColorRole.Text, "#e6e6e6"),
                             (QPalette.ColorRole.Button, "#353535"),
                             (QPalette.ColorRole.ButtonText, "#e6e6e6"),
                             (QPalette.ColorRole.Highlight, "#3d6fb6"),
                             (QPalette.ColorRole.HighlightedText, "#ffffff"),
                             (QPalette.ColorRole.PlaceholderText, "#9a9a9a"),
                             (QPalette.ColorRole.Mid, "#5a5a5a"),
                             (QPalette.ColorRole.Dark, "#1a1a1a"),
                             (QPalette.ColorRole.Light, "#505050")):
            palette.setColor(role, QColor(colour))
        for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text,
                     QPalette.ColorRole.ButtonText):  # as a real dark theme greys them
            palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#777777"))
        app.setPalette(palette)
    from netexplorer.ui.main_window import MainWindow

    folder = tempfile.mkdtemp()
    settings = QSettings(str(Path(folder) / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.show()
    wait(app, lambda: window.data_view.dataset is not None)
    wait(app, lambda: False, 1.0)
    if args.train_epochs > 0:
        from netexplorer.core.training import TrainConfig

        finished = []
        window.session.runFinished.connect(finished.append)
        window.session.start(TrainConfig(device="cpu", epochs=args.train_epochs))
        wait(app, lambda: bool(finished), 600.0)
        wait(app, lambda: False, 2.0)  # the end-of-run evaluation and redraws
    suffix = "-dark" if args.dark else ""
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        wait(app, lambda: False, 0.5)
        name = window.tabs.tabText(index).lower().replace(" ", "-")
        window.grab().save(str(args.out / f"tab-{name}{suffix}.png"))
        print(args.out / f"tab-{name}{suffix}.png")
    window.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
