"""The loupe: a small magnified view of the pane around the cursor, drawn
beside it (Z in a pane toggles it). Pixel-exact (no smoothing), with the
cursor's pixel framed."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

# Logical pixels of the pane the loupe shows across, and how much it magnifies them.
LOUPE_SPAN = 21
LOUPE_FACTOR = 6
# Logical pixels between the cursor and the loupe's nearest corner.
LOUPE_GAP = 24


def loupe_geometry(cursor: tuple[float, float], pane: tuple[int, int], size: int = LOUPE_SPAN * LOUPE_FACTOR,
                   gap: int = LOUPE_GAP) -> tuple[int, int]:
    """The loupe's top-left corner (logical pixels) in a pane of size `pane`:
    below right of `cursor`, flipped to the other side where it would leave the pane."""
    x, y = cursor
    w, h = pane
    left = x + gap if x + gap + size <= w else x - gap - size
    top = y + gap if y + gap + size <= h else y - gap - size
    return int(max(0, left)), int(max(0, top))


class Loupe(QWidget):
    """A child of the pane that shows `LOUPE_SPAN` logical pixels around the cursor magnified."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        size = LOUPE_SPAN * LOUPE_FACTOR
        self.setFixedSize(size, size)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self._image = QImage()
        self.enabled = False
        self.hide()

    def follow(self, cursor: QPointF, grab: Callable[[QRect], QImage]) -> None:
        """Show the pane around `cursor` (logical); `grab(rect)` is the pane's
        image of `rect` (without labels)."""
        parent = self.parentWidget()
        assert parent is not None  # made as a pane's child
        half = LOUPE_SPAN // 2
        rect = QRect(int(cursor.x()) - half, int(cursor.y()) - half, LOUPE_SPAN, LOUPE_SPAN)
        self.move(*loupe_geometry((cursor.x(), cursor.y()), (parent.width(), parent.height())))
        # Never grab the loupe itself: it stays LOUPE_GAP away from the cursor.
        self._image = grab(rect)
        self.show()
        self.update()

    def image(self) -> QImage:
        return self._image

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(0, 0, 0))
        if not self._image.isNull():
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(QRectF(self.rect()), self._image)
        cell = self.width() / LOUPE_SPAN
        centre = QRectF((LOUPE_SPAN // 2) * cell, (LOUPE_SPAN // 2) * cell, cell, cell)
        painter.setPen(QPen(QColor(255, 255, 255), 1))
        painter.drawRect(centre)
        painter.setPen(QPen(QColor(0, 0, 0), 1))
        painter.drawRect(centre.adjusted(-1, -1, 1, 1))
        painter.setPen(QPen(QColor(230, 230, 230), 2))
        painter.drawRect(QRectF(self.rect()).adjusted(1, 1, -1, -1))
        painter.end()
