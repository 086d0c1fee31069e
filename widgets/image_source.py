"""The image every pane paints under its tiles (with halved copies for
zoomed-out views; premultiplied RGBA over a checkerboard when it has
transparency), and uint8 arrays as QImages."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QImage, QTransform

from widgets.checkerboard import CHECKER_DARK, CHECKER_LIGHT, CHECKER_SQUARE, premultiplied


def checker_brush(u0: float, v0: float) -> QBrush:
    """The checkerboard of widgets/checkerboard.py as a brush for a pane showing
    a lattice from (u0, v0) (physical pixels): its squares meet the tiles' ones."""
    board = QImage(2 * CHECKER_SQUARE, 2 * CHECKER_SQUARE, QImage.Format.Format_RGB32)
    board.fill(QColor(CHECKER_LIGHT, CHECKER_LIGHT, CHECKER_LIGHT))
    dark = QColor(CHECKER_DARK, CHECKER_DARK, CHECKER_DARK)
    for x, y in ((CHECKER_SQUARE, 0), (0, CHECKER_SQUARE)):
        for i in range(CHECKER_SQUARE * CHECKER_SQUARE):
            board.setPixelColor(x + i % CHECKER_SQUARE, y + i // CHECKER_SQUARE, dark)
    brush = QBrush(board)
    brush.setTransform(QTransform.fromTranslate(-u0, -v0))
    return brush


def to_qimage(rgb: np.ndarray, premultiplied_alpha: bool = False) -> QImage:
    """A QImage viewing a contiguous uint8 (h, w, 3) or (h, w, 4) array (kept
    alive by the caller); four channels are premultiplied when asked."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4) or not rgb.flags.c_contiguous:
        raise ValueError(f"expected a contiguous uint8 (h, w, 3|4) array, got {rgb.dtype} {rgb.shape}")
    h, w, c = rgb.shape
    fmt = QImage.Format.Format_RGB888 if c == 3 else QImage.Format.Format_RGBA8888
    if c == 4 and premultiplied_alpha:
        fmt = QImage.Format.Format_RGBA8888_Premultiplied
    return QImage(rgb.data, w, h, w * c, fmt)


class ImageSource:
    """The image every pane paints under its tiles, with a pyramid of halved
    copies so that a zoomed-out view never scales the full-size image.
    `alpha8` (uint8 (h, w), None when opaque): what is painted is then
    premultiplied RGBA (`painted`), over `checker_brush`; `array` stays the
    RGB composited on grey (what a readout reports)."""

    def __init__(self, rgb8: np.ndarray, alpha8: np.ndarray | None = None) -> None:
        self.array = np.ascontiguousarray(rgb8, dtype=np.uint8)
        self.height, self.width = self.array.shape[:2]
        self.transparent = alpha8 is not None
        self.painted = premultiplied(self.array, alpha8) if alpha8 is not None else self.array
        self._levels: list[QImage] = [to_qimage(self.painted, self.transparent)]

    def level_for(self, zoom: float) -> tuple[QImage, float]:
        """(image, its scale relative to the original) to draw at `zoom`."""
        level = 0
        while zoom <= 0.5 ** (level + 1) and min(self.width, self.height) * 0.5 ** (level + 1) >= 8:
            level += 1
        while len(self._levels) <= level:
            prev = self._levels[-1]
            self._levels.append(prev.scaled(max(1, prev.width() // 2), max(1, prev.height() // 2),
                                            Qt.AspectRatioMode.IgnoreAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))
        img = self._levels[level]
        return img, img.width() / self.width

    @property
    def level_count(self) -> int:
        """How many copies are made: the original and the halved ones so far."""
        return len(self._levels)

    def add_level(self, image: QImage) -> None:
        """The next halved copy, made elsewhere (a loading thread): half the last one's size."""
        last = self._levels[-1]
        if (image.width(), image.height()) != (max(1, last.width() // 2), max(1, last.height() // 2)):
            raise ValueError(f"a halved copy of {last.width()} x {last.height()} must be "
                             f"{max(1, last.width() // 2)} x {max(1, last.height() // 2)}, "
                             f"not {image.width()} x {image.height()}")
        self._levels.append(image)
