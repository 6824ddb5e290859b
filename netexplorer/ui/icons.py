"""Icons from resources/icons/, tinted to the palette.

Monochrome icons are drawn with stroke="currentColor"; Qt's SVG renderer does
not know currentColor, so the palette's text colour is substituted before
rendering. That keeps the icons legible on light and dark palettes alike.
Coloured icons (status, layer categories) carry their own colours.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from netexplorer.core.assets import read_text

_SIZES = (16, 20, 24, 32, 48)

# Layer categories (layers.CATEGORIES) and the icon that stands for each.
_CATEGORY_ICONS = {
    "Convolution": "layer-convolution",
    "Pooling": "layer-pooling",
    "Normalization": "layer-normalization",
    "Regularization": "layer-regularization",
    "Reshape": "layer-reshape",
    "Linear": "layer-linear",
    "Activation": "layer-activation",
    "Output": "layer-output",
}


def svg_text(name: str) -> str:
    """The SVG source of resources/icons/<name>.svg (via importlib.resources)."""
    return read_text("icons", f"{name}.svg")


def _text_colour() -> str:
    app = QGuiApplication.instance()
    palette = app.palette() if isinstance(app, QGuiApplication) else QPalette()
    return palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.WindowText).name()


@cache
def _render(name: str, colour: str) -> QIcon:
    source = svg_text(name).replace("currentColor", colour)
    renderer = QSvgRenderer(QByteArray(source.encode("utf-8")))
    if not renderer.isValid():
        raise ValueError(f"resources/icons/{name}.svg is not a valid SVG")
    result = QIcon()
    for size in _SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        result.addPixmap(pixmap)
    return result


def icon(name: str) -> QIcon:
    """The icon resources/icons/<name>.svg in the current palette's text colour."""
    return _render(name, _text_colour())


def category_icon(category: str) -> QIcon:
    """The icon for a layer category (layers.CATEGORIES); a neutral one if unknown."""
    return icon(_CATEGORY_ICONS.get(category, "model"))
