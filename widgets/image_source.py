"""The image every pane paints under its tiles (with halved copies for
zoomed-out views), and uint8 arrays as QImages."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage


def to_qimage(rgb: np.ndarray) -> QImage:
    """A QImage viewing a contiguous uint8 (h, w, 3) or (h, w, 4) array (kept alive by the caller)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4) or not rgb.flags.c_contiguous:
        raise ValueError(f"expected a contiguous uint8 (h, w, 3|4) array, got {rgb.dtype} {rgb.shape}")
    h, w, c = rgb.shape
    fmt = QImage.Format.Format_RGB888 if c == 3 else QImage.Format.Format_RGBA8888
    return QImage(rgb.data, w, h, w * c, fmt)


class ImageSource:
    """The image every pane paints under its tiles, with a pyramid of halved
    copies so that a zoomed-out view never scales the full-size image."""

    def __init__(self, rgb8: np.ndarray) -> None:
        self.array = np.ascontiguousarray(rgb8, dtype=np.uint8)
        self.height, self.width = self.array.shape[:2]
        self._levels: list[QImage] = [to_qimage(self.array)]

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
