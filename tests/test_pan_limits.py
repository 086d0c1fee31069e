"""Panning stops with part of the image still in view: dragging (or arrow
keys) far past any edge leaves the image's corner on screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.gui_helpers import make_window, open_image, write_png
from tests.tiny_methods import sample_image


def drag(pane, start: QPoint, end: QPoint, steps: int = 12) -> None:
    """A real left-button drag: press, moves, release."""
    def send(kind, pos, buttons):
        event = QMouseEvent(kind, QPointF(pos), QPointF(pane.mapToGlobal(pos)), Qt.MouseButton.LeftButton,
                            buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(pane, event)

    send(QMouseEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton)
    for i in range(1, steps + 1):
        p = start + (end - start) * i / steps
        send(QMouseEvent.Type.MouseMove, p, Qt.MouseButton.LeftButton)
    send(QMouseEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)


@pytest.mark.parametrize("zoom", [None, 6.0])  # fitted, and zoomed in
def test_dragging_far_past_every_edge_keeps_part_of_the_image_in_view(qtbot, tmp_path: Path, zoom) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic", "bicubic"])
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(30, 40)))
    if zoom:
        window.set_zoom(zoom)
    pane = window.slots()[0].pane
    h, w = window.model.image_rgb.shape[:2]
    centre = QPoint(pane.width() // 2, pane.height() // 2)
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1)):
        for _ in range(3):  # again and again, far beyond the pane's size
            drag(pane, centre, centre + QPoint(dx * pane.width(), dy * pane.height()))
        for slot in window.slots():
            region = window.model.view.visible_region(*slot.pane.physical_size(), w, h)
            assert region is not None, (dx, dy)
            x0, y0, x1, y1 = region
            # A real part of the image, not a sliver: at least a quarter of what fits on each axis.
            pw, ph = slot.pane.physical_size()
            assert (x1 - x0) * window.model.view.zoom >= min(w * window.model.view.zoom, pw) / 4 - 1
            assert (y1 - y0) * window.model.view.zoom >= min(h * window.model.view.zoom, ph) / 4 - 1


def test_arrow_keys_stop_at_the_edge(qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic"])
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(30, 40)))
    window.set_zoom(8.0)
    pane = window.slots()[0].pane
    for _ in range(40):
        qtbot.keyClick(pane, Qt.Key.Key_Right)
    h, w = window.model.image_rgb.shape[:2]
    assert window.model.view.visible_region(*pane.physical_size(), w, h) is not None
    stopped = window.model.view
    qtbot.keyClick(pane, Qt.Key.Key_Right)
    assert window.model.view == stopped  # at the limit, more presses do nothing
