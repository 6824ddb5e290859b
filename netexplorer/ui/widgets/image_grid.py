"""A page of dataset images with each one's class name under it.

The pixels come from core.grids.image_grid (make_grid's layout in numpy, already
de-normalised and enlarged by an integer factor with nearest-neighbour), so
the view only cuts that picture into its cells and flows them to the width it
has, captions underneath. Drawing never smooths: small images stay crisp.

A grid of dataset images knows where each came from (its split and index); made
clickable, a click on one says which (imageChosen) — the way every gallery of the
window opens an image's trace.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QHelpEvent, QImage, QMouseEvent, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from netexplorer.ui.widgets.accessibility import named

if TYPE_CHECKING:  # the grid is drawn (with numpy) after the window's first paint
    from netexplorer.core.grids import ImageGrid

# Images are enlarged to about this many pixels on their longer side…
TARGET_CELL = 72
# …by a whole factor (nearest-neighbour), at most this much.
MAX_SCALE = 8
_SPACING = 10
_MARGIN = 8


def display_scale(height: int, width: int) -> int:
    """The integer enlargement that shows an image at roughly TARGET_CELL pixels.

    8×8 digits get 8×, 28×28 MNIST 3×, 32×32 CIFAR 3×; anything TARGET_CELL or
    larger is shown as it is.
    """
    side = max(int(height), int(width), 1)
    return max(1, min(MAX_SCALE, math.ceil(TARGET_CELL / side)))


def qimage_from_rgb(pixels) -> QImage:
    """A QImage that owns a copy of uint8 H×W×3 RGB pixels."""
    h, w = int(pixels.shape[0]), int(pixels.shape[1])
    data = pixels.tobytes()
    return QImage(data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


CLICK_HINT = "click to see how the model decides"


class ImageGridView(QWidget):
    """Shows an ImageGrid; the number of columns follows the width.

    imageChosen(split, index) follows a click on an image whose source is known,
    once the view is made clickable (set_clickable)."""

    imageChosen = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "imageGrid", "Dataset images")
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self._pixmap: QPixmap | None = None
        self._cells: tuple[tuple[int, int, int, int], ...] = ()
        self._captions: tuple[str, ...] = ()
        self._tooltips: tuple[str, ...] = ()
        self._message = ""
        self._split = ""
        self._sources: tuple[int, ...] = ()  # each cell's index in the split, if known
        self._clickable = False

    # -- content
    def show_grid(self, grid: ImageGrid, tooltips: Sequence[str] = (),
                  sources: tuple[str, Iterable[int]] | None = None) -> None:
        """Show `grid`; `sources` (split, indices) says where its images come from."""
        self._pixmap = QPixmap.fromImage(qimage_from_rgb(grid.pixels)) if grid.cells else None
        self._cells = tuple(grid.cells)
        self._captions = tuple(grid.captions)
        self._tooltips = tuple(tooltips)
        self._split, indices = sources if sources is not None else ("", ())
        self._sources = tuple(int(i) for i in indices)[:len(self._cells)]
        self._refresh_cursor()
        self._message = "" if grid.cells else "No images to show."
        self.setAccessibleDescription(f"{len(self._cells)} images: " + ", ".join(self._captions))
        self._relayout()
        self.update()

    def show_message(self, text: str) -> None:
        """Replace the images with a sentence (loading, nothing to show)."""
        self._pixmap = None
        self._cells, self._captions, self._tooltips = (), (), ()
        self._split, self._sources = "", ()
        self._refresh_cursor()
        self._message = text
        self.setAccessibleDescription(text)
        self._relayout()
        self.update()

    def set_clickable(self, clickable: bool) -> None:
        """Whether a click on an image sends imageChosen (the hand cursor says so)."""
        self._clickable = clickable
        self._refresh_cursor()

    def image_count(self) -> int:
        return len(self._cells)

    def source(self, cell: int) -> tuple[str, int] | None:
        """The split and index of the image in `cell`, if known."""
        if 0 <= cell < len(self._sources):
            return self._split, self._sources[cell]
        return None

    def cell_center(self, cell: int) -> QPoint:
        """Where the image in `cell` is drawn, at the current width (for clicks)."""
        return self._cell_rects()[cell][0].center()

    def _chooses(self) -> bool:
        return self._clickable and bool(self._sources)

    def _refresh_cursor(self) -> None:
        if self._chooses():
            self.setCursor(Qt.CursorShape.PointingHandCursor)
        else:
            self.unsetCursor()

    def captions(self) -> tuple[str, ...]:
        return self._captions

    def cell_size(self) -> QSize:
        """The on-screen size of one image (without its caption)."""
        if not self._cells:
            return QSize()
        return QSize(self._cells[0][2], self._cells[0][3])

    # -- layout
    def _caption_height(self) -> int:
        return self.fontMetrics().height() + 4

    def _pitch(self) -> tuple[int, int]:
        """Horizontal and vertical distance between neighbouring cells."""
        cell = self.cell_size()
        min_caption = self.fontMetrics().horizontalAdvance("0000000")
        return (max(cell.width(), min_caption) + _SPACING,
                cell.height() + self._caption_height() + _SPACING)

    def _columns(self, width: int) -> int:
        pitch_x, _ = self._pitch()
        return max(1, min(len(self._cells), (width - 2 * _MARGIN + _SPACING) // pitch_x))

    def _cell_rects(self) -> list[tuple[QRect, QRect]]:
        """(image rectangle, caption rectangle) of each cell at the current width."""
        if not self._cells:
            return []
        columns = self._columns(self.width())
        pitch_x, pitch_y = self._pitch()
        cell = self.cell_size()
        used = columns * pitch_x - _SPACING
        left = max(_MARGIN, (self.width() - used) // 2)
        rects = []
        for i in range(len(self._cells)):
            col, row = i % columns, i // columns
            x = left + col * pitch_x
            y = _MARGIN + row * pitch_y
            image = QRect(x + (pitch_x - _SPACING - cell.width()) // 2, y, cell.width(),
                          cell.height())
            caption = QRect(x, y + cell.height() + 2, pitch_x - _SPACING, self._caption_height())
            rects.append((image, caption))
        return rects

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        if not self._cells:
            return 3 * self.fontMetrics().height() + 2 * _MARGIN
        rows = math.ceil(len(self._cells) / self._columns(width))
        _, pitch_y = self._pitch()
        return 2 * _MARGIN + rows * pitch_y - _SPACING

    def sizeHint(self) -> QSize:
        if not self._cells:
            return QSize(320, self.heightForWidth(320))
        pitch_x, _ = self._pitch()
        width = 2 * _MARGIN + min(len(self._cells), 8) * pitch_x - _SPACING
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:
        pitch_x, _ = self._pitch()
        return QSize(pitch_x + 2 * _MARGIN, 0)

    def resizeEvent(self, event) -> None:
        # A scroll area sizes its widget once; asking again keeps height-for-width right.
        needed = self.heightForWidth(self.width())
        if self.minimumHeight() != needed:
            self.setMinimumHeight(needed)
        super().resizeEvent(event)

    def _relayout(self) -> None:
        self.setMinimumHeight(self.heightForWidth(max(self.width(), 1)))
        self.updateGeometry()

    # -- painting
    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        palette = self.palette()
        if self._message and not self._cells:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect().adjusted(_MARGIN, _MARGIN, -_MARGIN, -_MARGIN),
                             int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
                             self._message)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        metrics = self.fontMetrics()
        text_colour = palette.color(QPalette.ColorRole.WindowText)
        frame = palette.color(QPalette.ColorRole.Mid)  # edges of dark images on dark palettes
        for i, (image, caption) in enumerate(self._cell_rects()):
            x, y, w, h = self._cells[i]
            if self._pixmap is not None:
                painter.drawPixmap(image, self._pixmap, QRect(x, y, w, h))
            painter.setPen(frame)
            painter.drawRect(image.adjusted(-1, -1, 0, 0))
            painter.setPen(text_colour)
            if i < len(self._captions):
                text = metrics.elidedText(self._captions[i], Qt.TextElideMode.ElideRight,
                                          caption.width())
                painter.drawText(caption, int(Qt.AlignmentFlag.AlignHCenter
                                              | Qt.AlignmentFlag.AlignTop), text)

    def cell_at(self, point: QPoint) -> int | None:
        for i, (image, caption) in enumerate(self._cell_rects()):
            if image.united(caption).contains(point):
                return i
        return None

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._chooses():
            cell = self.cell_at(event.position().toPoint())
            source = self.source(cell) if cell is not None else None
            if source is not None:
                self.imageChosen.emit(*source)
                event.accept()
                return
        super().mouseReleaseEvent(event)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            index = self.cell_at(event.pos())
            if index is not None and index < len(self._tooltips):
                tip = self._tooltips[index]
                if self._chooses() and self.source(index) is not None:
                    tip = f"{tip}\n{CLICK_HINT}"
                QToolTip.showText(event.globalPos(), tip, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)
