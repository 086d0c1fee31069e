"""The error map's colour scale: a bar from "no error" to the error at which
the map saturates, with that range in its label. It draws the colours it is
given (the ones the error map itself uses), over the pane background."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget


class _Bar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colours: np.ndarray = np.zeros((2, 4), np.uint8)
        self.background = QColor(200, 200, 203)
        self.setFixedSize(QSize(120, 12))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        painter.fillRect(rect, self.background)
        gradient = QLinearGradient(rect.topLeft(), rect.topRight())
        n = len(self.colours)
        for i, (r, g, b, a) in enumerate(self.colours.tolist()):
            gradient.setColorAt(i / max(1, n - 1), QColor(r, g, b, a))
        painter.fillRect(rect, gradient)
        painter.setPen(QPen(self.palette().color(self.foregroundRole()), 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect)
        painter.end()


class ErrorLegend(QWidget):
    """'|Y error|  0 [bar] ≥ 0.12 (31/255)'. `set_scale` gives the colours and the range."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Error map |\u0394Y|:")
        self.low = QLabel("0")
        self.bar = _Bar(self)
        self.high = QLabel("")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(4)
        for w in (self.title, self.low, self.bar, self.high):
            layout.addWidget(w)
        self.setToolTip("Error map colours: transparent where a pane matches the ground truth, "
                        "through yellow to red where the luma error reaches the top of the range")

    def set_scale(self, colours: np.ndarray, full: float, background: QColor | None = None) -> None:
        """`colours`: (n, 4) RGBA uint8 from no error to `full` (fraction of the full
        intensity range; errors above it show as the last colour)."""
        self.bar.colours = np.asarray(colours, np.uint8)
        if background is not None:
            self.bar.background = background
        self.high.setText(f"\u2265 {full:g} ({full * 255:.0f}/255)")
        self.bar.update()

    def text(self) -> str:
        return " ".join(w.text() for w in (self.title, self.low, self.high))
