"""What a pane draws over the image, with Qt: the split divider, the
selection rectangle and the corner labels (a dark rounded box at the top
left for side "a", top right for "b", a dot in the state's colour, and the
lines `pane_label.layout` fits to the room the side has)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen

from inference.render.view import ViewState
from widgets import pane_label
from widgets.pane_label import PaneStatus

# The label's padding and state dot (logical pixels).
LABEL_PAD, LABEL_DOT = 6, 8

STATE_COLOURS = {
    "preview": QColor(150, 150, 150),
    "refining": QColor(70, 150, 255),
    "done": QColor(70, 200, 110),
    "untrained": QColor(255, 165, 40),
    "error": QColor(240, 70, 70),
    "": QColor(150, 150, 150),
}


def paint_divider(painter: QPainter, x: float, height: float) -> None:
    painter.setPen(QPen(QColor(255, 255, 255, 220), 2))
    painter.drawLine(QPointF(x, 0), QPointF(x, height))
    painter.setPen(QPen(QColor(0, 0, 0, 160), 1))
    painter.setBrush(QColor(255, 255, 255, 230))
    painter.drawEllipse(QPointF(x, height / 2), 7, 7)


def selection_rect(selection: tuple[float, float, float, float], view: ViewState, pane: tuple[int, int],
                   dpr: float) -> QRectF:
    """Where `selection` (x0, y0, x1, y1 in image units) lies in a pane of
    `pane` physical pixels showing `view`, in logical pixels."""
    x0, y0, x1, y1 = selection
    ax, ay = view.pane_point(x0, y0, *pane)
    bx, by = view.pane_point(x1, y1, *pane)
    return QRectF(QPointF(ax / dpr, ay / dpr), QPointF(bx / dpr, by / dpr)).normalized()


def paint_selection(painter: QPainter, rect: QRectF) -> None:
    painter.setBrush(QColor(80, 160, 255, 40))
    painter.setPen(QPen(QColor(80, 160, 255), 1.5, Qt.PenStyle.DashLine))
    painter.drawRect(rect)


def whole_text(status: PaneStatus) -> list[str]:
    """The label's whole text, line by line (what its tooltip shows)."""
    return [pane_label.SEPARATOR.join(status.head()), *status.notes, *status.metrics]


def label_room(width: float, divider_x: float | None, side: str) -> float:
    """The widest a side's label may be (logical pixels) in a pane `width`
    wide: its side of the divider (at `divider_x`, None when not split)."""
    room = width if divider_x is None else divider_x if side == "a" else width - divider_x
    return max(60.0, room - 12.0)


def label_font(base: QFont, room: float) -> QFont:
    """The label's font in `room` logical pixels: a narrow side gets a smaller
    font, so more of the label fits on a line."""
    font = QFont(base)
    scale = 0.9 if room >= 240 else 0.8
    font.setPointSizeF(max(7.0, font.pointSizeF() * scale))
    return font


def fitted_lines(status: PaneStatus, font: QFont, room: float) -> list[str]:
    """The label's lines as shown: wrapped to `room` (the box's widest, logical pixels)."""
    fm = QFontMetrics(font)
    text_room = room - 2 * LABEL_PAD - LABEL_DOT - 6
    return pane_label.layout(status.head(), [*status.notes, *status.metrics], fm.horizontalAdvance, text_room)


def label_box(lines: list[str], font: QFont, room: float, right_edge: float | None) -> QRectF:
    """The box around `lines` (logical pixels): at the top left, or against
    `right_edge` when given (side "b")."""
    fm = QFontMetrics(font)
    widths = [fm.horizontalAdvance(t) for t in lines]
    width = min(max(widths) + 2 * LABEL_PAD + LABEL_DOT + 6, room)
    height = fm.height() * len(lines) + 2 * LABEL_PAD
    x = 6 if right_edge is None else right_edge - width - 6
    return QRectF(x, 6, width, height)


def paint_label(painter: QPainter, state: str, lines: list[str], font: QFont, box: QRectF) -> None:
    painter.setFont(font)
    fm = QFontMetrics(font)
    pad, dot = LABEL_PAD, LABEL_DOT
    x, width = box.x(), box.width()
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0, 0, 0, 150))
    painter.drawRoundedRect(box, 5, 5)
    painter.setBrush(STATE_COLOURS.get(state, STATE_COLOURS[""]))
    painter.drawEllipse(QRectF(x + pad, 6 + pad + (fm.height() - dot) / 2, dot, dot))
    painter.setPen(QColor(240, 240, 240))
    tx = x + pad + dot + 6
    for i, text in enumerate(lines):
        shown = fm.elidedText(text, Qt.TextElideMode.ElideRight, int(width - (tx - x) - pad) + 1)
        painter.drawText(QPointF(tx, 6 + pad + fm.ascent() + i * fm.height()), shown)
