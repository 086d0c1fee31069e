"""The pane's tile layer without Qt (widgets.tile_layer): which tiles a side
keeps, shows and drops, in what order, and where each lands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from inference.geometry import Lattice
from inference.render.view import ViewState
from widgets.tile_layer import SideTiles, TileEntry, in_view, intersects, tile_target


def tile(zoom: float, u0: int, v0: int, phase: str = "full", size: int = 4, generation: int = 0,
         view_zoom: float | None = None, value: int = 0) -> TileEntry[None]:
    array = np.full((size, size, 3), value, np.uint8)
    return TileEntry(zoom, zoom, u0, v0, phase, array, None, generation,
                     zoom if view_zoom is None else view_zoom)


def test_the_layer_never_imports_qt() -> None:
    code = "import sys, widgets.tile_layer; print(sorted(m for m in sys.modules if m.startswith('PySide6')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.stdout.strip() == "[]"


def test_a_tile_of_the_same_place_replaces_the_old_one_and_the_bytes_follow() -> None:
    side: SideTiles[None] = SideTiles()
    side.put(tile(2.0, 0, 0, value=1))
    side.put(tile(2.0, 0, 0, value=2))
    side.put(tile(2.0, 4, 0, phase="preview"))
    assert len(side.tiles) == 2 and side.nbytes == 2 * 4 * 4 * 3
    side.clear()
    assert not side.tiles and side.nbytes == 0 and side.overlay is None


def test_paint_order_is_preview_then_older_then_newer_coarse_then_full_and_leaves_other_zooms_out() -> None:
    side: SideTiles[None] = SideTiles(generation=5)
    full, preview = tile(2.0, 0, 0), tile(2.0, 4, 0, phase="preview")
    old_coarse = tile(0.5, 0, 0, phase="coarse", generation=4, view_zoom=2.0)
    new_coarse = tile(0.5, 4, 0, phase="coarse", generation=5, view_zoom=2.0)
    other_zoom = tile(3.0, 0, 0)
    for t in (full, other_zoom, new_coarse, preview, old_coarse):
        side.put(t)
    assert side.paint_order(2.0) == [preview, old_coarse, new_coarse, full]


def test_finishing_a_view_keeps_only_its_full_tiles() -> None:
    side: SideTiles[None] = SideTiles()
    for t in (tile(2.0, 0, 0), tile(2.0, 4, 0, phase="preview"), tile(3.0, 0, 0)):
        side.put(t)
    side.finish(2.0)
    assert list(side.tiles) == [(2.0, 0, 0, "full")] and side.nbytes == 4 * 4 * 3


def test_a_tile_lands_one_to_one_on_its_lattice_and_scaled_on_another() -> None:
    lat = Lattice(2.0, 2.0, 10, 20, 40, 30)
    assert tile_target(lat, tile(2.0, 12, 24), (100, 100)) == (2.0, 4.0, 4.0, 4.0)
    # A coarse tile at half the zoom covers twice the pixels.
    assert tile_target(lat, tile(1.0, 6, 12), (100, 100)) == (2.0, 4.0, 8.0, 8.0)


def test_a_scaled_tile_at_the_image_edge_is_stretched_to_the_edge() -> None:
    # An image 11 px wide at zoom 0.3 has 3 lattice columns (centres inside it);
    # scaled to zoom 1 the last one ends at 10 px, short of the image's edge at 11.
    lat = Lattice(1.0, 1.0, 0, 0, 20, 20)
    coarse = TileEntry(0.3, 0.3, 0, 0, "coarse", np.zeros((3, 3, 3), np.uint8), None)
    x, y, w, h = tile_target(lat, coarse, (11, 11))
    assert (x, y) == (0.0, 0.0) and w == 11.0 and h == 11.0
    _, _, w_free, _ = tile_target(lat, coarse, None)
    assert abs(w_free - 10.0) < 1e-9


def test_boxes_meet_only_with_some_area_in_common() -> None:
    assert intersects((0, 0, 10, 10), (5, 5, 10, 10))
    assert not intersects((0, 0, 10, 10), (10, 0, 5, 5))  # touching edges
    assert not intersects((0, 0, 0, 10), (0, 0, 10, 10))  # an empty box
    assert intersects((10, 10, -10, -10), (2, 2, 2, 2))  # negative sizes count from the other corner


def test_trimming_drops_other_generations_first_and_never_the_views_own_tiles() -> None:
    view = ViewState(8.0, 8.0, 1.0)
    lat = view.lattice(16, 16)
    side: SideTiles[None] = SideTiles(generation=2)
    shown = [tile(1.0, u, v, generation=2) for u in (0, 4, 8, 12) for v in (0, 4, 8, 12)]
    old = [tile(1.0, 100 + 4 * i, 0, generation=1) for i in range(4)]
    for t in old + shown:
        side.put(t)
    assert all(in_view(t, lat) for t in shown) and not any(in_view(t, lat) for t in old)
    budget = len(shown) * 4 * 4 * 3
    assert not side.trim(lat, (16, 16), (200, 200), budget)  # the dropped ones were off the pane
    assert side.nbytes == budget and all(t in side.tiles.values() for t in shown)
    # Over budget with only the view's own tiles: they all stay.
    assert not side.trim(lat, (16, 16), (200, 200), budget // 2)
    assert len(side.tiles) == len(shown)


def test_trimming_says_when_a_tile_on_screen_went() -> None:
    lat = ViewState(8.0, 8.0, 1.0).lattice(16, 16)
    side: SideTiles[None] = SideTiles(generation=3)
    preview = tile(1.0, 0, 0, phase="preview", generation=2)
    side.put(preview)
    side.put(tile(1.0, 4, 0, generation=3))
    assert side.trim(lat, (16, 16), (200, 200), 4 * 4 * 3)
    assert preview not in side.tiles.values()


def test_composed_shows_the_full_tiles_of_the_zoom_and_where_they_cover() -> None:
    lat = Lattice(1.0, 1.0, 0, 0, 8, 4)
    side: SideTiles[None] = SideTiles()
    side.put(tile(1.0, 0, 0, value=7))
    side.put(tile(1.0, 4, 0, phase="preview", value=9))
    image, mask = side.composed(lat)
    assert image.shape == (4, 8, 3) and (image[:, :4] == 7).all() and (image[:, 4:] == 0).all()
    assert mask[:, :4].all() and not mask[:, 4:].any()
