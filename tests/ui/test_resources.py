"""Icons and the style sheet load through netexplorer.core.assets (importlib.resources),
so they work from an installed wheel as well as from the source tree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netexplorer.core.assets import read_text, resource
from netexplorer.core.layers import CATEGORIES

UI_SOURCES = Path(__file__).resolve().parents[2] / "netexplorer" / "ui"


def shipped_icons() -> list[str]:
    return sorted(e.name[:-4] for e in resource("icons").iterdir() if e.name.endswith(".svg"))


@pytest.mark.parametrize("name", shipped_icons())
def test_every_icon_renders(qapp, name):
    from netexplorer.ui.icons import icon

    rendered = icon(name)
    assert not rendered.isNull()
    image = rendered.pixmap(24, 24).toImage()
    assert any(image.pixelColor(x, y).alpha() for x in range(24) for y in range(24)), name


def test_every_icon_the_code_asks_for_is_shipped():
    asked = set()
    for source in UI_SOURCES.rglob("*.py"):
        asked |= set(re.findall(r'\bicon\("([a-z-]+)"\)', source.read_text()))
    assert asked and asked <= set(shipped_icons())


def test_each_layer_category_has_its_own_icon(qapp):
    from netexplorer.ui.icons import _CATEGORY_ICONS

    assert set(_CATEGORY_ICONS) == set(CATEGORIES)
    assert set(_CATEGORY_ICONS.values()) <= set(shipped_icons())


def test_monochrome_icons_follow_the_palette(qapp):
    from PySide6.QtGui import QColor, QPalette

    from netexplorer.ui import icons

    original = qapp.palette()
    try:
        for colour in ("#000000", "#ffffff"):
            palette = QPalette(original)
            palette.setColor(QPalette.ColorRole.WindowText, QColor(colour))
            qapp.setPalette(palette)
            image = icons.icon("add").pixmap(24, 24).toImage()
            assert image.pixelColor(12, 12).name() == colour
    finally:
        qapp.setPalette(original)


def test_style_sheet_loads_and_the_window_uses_it(qtbot, settings):
    from netexplorer.ui.main_window import MainWindow

    text = read_text("styles", "netexplorer.qss")
    assert "#specErrorFrame" in text
    window = MainWindow(settings=settings)
    qtbot.addWidget(window, before_close_func=lambda w: w.shutdown())
    assert window.styleSheet() == text
    assert not window.windowIcon().isNull()
