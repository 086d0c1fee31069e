"""The readout under the cursor: the image point (input pixels, fractional at
high zoom) and the RGB each pane shows there, in the status bar; Z toggles a
loupe. The mapping and the pixel lookup are tested without Qt, then in a window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtWidgets import QApplication

from app.model.readout import coordinate_decimals, format_readout
from inference.geometry import Lattice
from tests.gui_helpers import make_window, open_image, wait_done, write_png
from tests.tiny_methods import sample_image
from widgets.tile_layer import SideTiles, TileEntry, clamp_selection, source_pixel


def entry(zoom: float, u0: int, v0: int, array: np.ndarray, phase: str = "full",
          view_zoom: float | None = None) -> TileEntry[None]:
    return TileEntry(zoom, zoom, u0, v0, phase, array, None, 0, zoom if view_zoom is None else view_zoom)


def test_the_pixel_under_a_point_is_the_topmost_tiles_else_the_image() -> None:
    image = np.zeros((10, 10, 3), np.uint8)
    image[3, 2] = (7, 8, 9)
    lat = Lattice(4.0, 4.0, 0, 0, 40, 40)  # zoom 4, the whole image
    side: SideTiles[None] = SideTiles()
    # No tile yet: the image itself, pixel (2, 3) spans pane pixels x 8..11, y 12..15.
    assert side.pixel_at(lat, 9.5, 13.0, image) == (7, 8, 9)
    assert side.pixel_at(lat, 45.0, 13.0, image) is None  # off the image
    full = np.zeros((8, 8, 3), np.uint8)
    full[5, 6] = (200, 100, 50)
    side.put(entry(4.0, 0, 0, full))
    assert side.pixel_at(lat, 6.2, 5.9, image) == (200, 100, 50)  # the full tile's own pixel
    # A coarse pass at zoom 2 made for this view, scaled x2: each of its pixels covers 2 x 2 pane pixels.
    coarse = np.full((20, 20, 3), 33, np.uint8)
    coarse[10, 12] = (1, 2, 3)
    side.put(entry(2.0, 0, 0, coarse, "coarse", view_zoom=4.0))
    assert side.pixel_at(lat, 25.0, 21.0, image) == (1, 2, 3)
    assert side.pixel_at(lat, 6.2, 5.9, image) == (200, 100, 50)  # the full tile stays on top


def test_source_pixel_and_selection_clamp() -> None:
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert source_pixel(image, 2.9, 1.0) == tuple(int(v) for v in image[1, 2])
    assert source_pixel(image, 3.0, 0.0) is None and source_pixel(None, 0, 0) is None
    assert clamp_selection((-1.0, 1.0), (2.0, -5.0), 3, 2) == (0.0, 0.0, 2.0, 1.0)
    assert clamp_selection((1.0, 1.0), (1.0, 2.0), 3, 2) is None


def test_readout_text_has_the_point_at_the_zooms_precision_and_each_panes_rgb() -> None:
    assert coordinate_decimals(1.0) == 0 and coordinate_decimals(4.0) == 1 and coordinate_decimals(64.0) == 2
    assert (format_readout((123.44, 56.72), 4.0, [("Bicubic", (201, 180, 150)), ("LIIF", (205, 178, 149))])
            == "x 123.4, y 56.7 \u00b7 Bicubic 201 180 150 \u00b7 LIIF 205 178 149")
    assert format_readout((12.9, 5.2), 0.5, [("LIIF", None)]) == "x 12, y 5 \u00b7 LIIF \u2014"
    assert format_readout(None, 4.0, [("LIIF", (1, 2, 3))]) == ""


def test_moving_over_a_pane_shows_the_point_and_each_panes_rgb_and_leaving_clears_it(qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(20, 24)))
    window.set_zoom(8.0)
    wait_done(qtbot, window)
    pane = window.slots()[0].pane
    pos = QPoint(pane.width() // 2 + 3, pane.height() // 2 + 5)
    qtbot.mouseMove(pane, pos)
    text = window.grid.readout.text()
    x, y = window.model.view.image_point(pos.x(), pos.y(), *pane.physical_size())
    assert text.startswith(f"x {x:.1f}, y {y:.1f} \u00b7 ")
    # Each pane's RGB is what its full tiles show there (the composed pixels at that point).
    for slot in window.slots():
        px, py = window.model.view.pane_point(x, y, *slot.pane.physical_size())
        shown, mask = slot.pane.composed()
        lat = slot.pane.lattice()
        col, row = int(px + lat.u0) - int(lat.u0), int(py + lat.v0) - int(lat.v0)
        assert mask[row, col]
        rgb = " ".join(str(int(v)) for v in shown[row, col])
        assert f"{slot.pane.status().method} {rgb}" in text
    QApplication.sendEvent(pane, QEvent(QEvent.Type.Leave))
    assert window.grid.readout.text() == ""
    assert window.grid.readout.label.isVisible()


def test_z_shows_a_loupe_beside_the_cursor(qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic"])
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(20, 24)))
    wait_done(qtbot, window)
    pane = window.slots()[0].pane
    assert not pane.loupe.isVisible()
    centre = QPoint(pane.width() // 2, pane.height() // 2)
    qtbot.mouseMove(pane, centre)
    qtbot.keyClick(pane, Qt.Key.Key_Z)
    qtbot.mouseMove(pane, centre + QPoint(10, 4))
    assert pane.loupe.isVisible() and not pane.loupe.image().isNull()
    assert not pane.loupe.geometry().contains(centre + QPoint(10, 4))  # beside the cursor, never under it
    assert "Z loupe" in pane.whatsThis()
    qtbot.keyClick(pane, Qt.Key.Key_Z)
    assert not pane.loupe.isVisible()


def test_pane_keys_propose_views_and_list_the_loupe() -> None:
    from inference.render.view import ViewState
    from widgets.pane_keys import PAN_FRACTION, PANE_KEYS, ZOOM_STEP, view_for_key

    view = ViewState(50.0, 40.0, 2.0)
    fit = ViewState(10.0, 10.0, 0.5)
    assert view_for_key(Qt.Key.Key_Plus, view, (400, 300), fit).zoom == pytest.approx(2.0 * ZOOM_STEP, rel=1e-3)
    assert view_for_key(Qt.Key.Key_0, view, (400, 300), fit) == fit
    assert view_for_key(Qt.Key.Key_1, view, (400, 300), fit).zoom == 1.0
    assert view_for_key(Qt.Key.Key_Left, view, (400, 300), fit) == view.panned(400 * PAN_FRACTION, 0)
    assert view_for_key(Qt.Key.Key_Z, view, (400, 300), fit) is None
    assert "Z loupe" in PANE_KEYS
