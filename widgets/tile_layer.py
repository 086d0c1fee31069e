"""The tiles of one side of a pane, without Qt: which it holds, which it
shows at a zoom and in what order, where each lands, and which go when the
side is over its memory budget.

`widgets.image_pane.ImagePane` keeps one `SideTiles` per side and only
paints what this says; tests drive it without a window. Rectangles are
`Box` tuples (x, y, width, height) in the pane's physical pixels. A tile's
`image` is whatever the painter draws it from (a QImage for the pane); this
module never looks at it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from inference.geometry import Lattice, image_extent

# Memory a pane side may hold in tiles; previews of older views go first.
MAX_TILE_BYTES_PER_SIDE = 64 << 20

Box = tuple[float, float, float, float]  # x, y, width, height
TileKey = tuple[float, int, int, str]  # zoom, u0, v0, phase
ImageT = TypeVar("ImageT")


@dataclass
class TileEntry(Generic[ImageT]):
    zx: float
    zy: float
    u0: int
    v0: int
    phase: str
    array: np.ndarray
    image: ImageT
    generation: int = 0
    view_zoom: float = 0.0  # the zoom of the view it was made for (a coarse tile's differs from zx)

    @property
    def width(self) -> int:
        return int(self.array.shape[1])

    @property
    def height(self) -> int:
        return int(self.array.shape[0])


def intersects(a: Box, b: Box) -> bool:
    """Whether two boxes share some area (as QRectF.intersects: an empty box meets nothing)."""
    ax0, ax1 = sorted((a[0], a[0] + a[2]))
    ay0, ay1 = sorted((a[1], a[1] + a[3]))
    bx0, bx1 = sorted((b[0], b[0] + b[2]))
    by0, by1 = sorted((b[1], b[1] + b[3]))
    if ax0 == ax1 or ay0 == ay1 or bx0 == bx1 or by0 == by1:
        return False
    return ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1


def tile_target(lat: Lattice, tile: TileEntry[ImageT], image_size: tuple[int, int] | None) -> Box:
    """Where a tile lands in the pane showing `lat`: 1:1 on the view's lattice,
    scaled when it belongs to another zoom (a coarse pass). `image_size`: the
    image's (width, height), None when the pane has no image."""
    fx, fy = lat.zx / tile.zx, lat.zy / tile.zy
    x0, y0 = tile.u0 * fx - lat.u0, tile.v0 * fy - lat.v0
    x1, y1 = x0 + tile.width * fx, y0 + tile.height * fy
    if (fx != 1.0 or fy != 1.0) and image_size is not None:
        # A lattice's last column (row) has its centre inside the image but
        # may end up to half its pixel short of the image's edge: scaled up
        # (a x4 coarse pass), that left a 2 px strip of the layer under it.
        # Stretched to the edge, the scaled tile covers the image as the view's own tiles do.
        w, h = image_size
        cols, rows = image_extent(tile.zx, w, h)
        if tile.u0 + tile.width >= cols:
            x1 = max(x1, w * lat.zx - lat.u0)
        if tile.v0 + tile.height >= rows:
            y1 = max(y1, h * lat.zy - lat.v0)
    return x0, y0, x1 - x0, y1 - y0


def in_view(tile: TileEntry[ImageT], lat: Lattice) -> bool:
    """A full tile of `lat`'s zoom that overlaps it (the pane shows it now)."""
    return (tile.phase == "full" and tile.zx == lat.zx and tile.u0 < lat.u0 + lat.width
            and tile.u0 + tile.width > lat.u0 and tile.v0 < lat.v0 + lat.height and tile.v0 + tile.height > lat.v0)


@dataclass
class SideTiles(Generic[ImageT]):
    """The tiles of one side (the whole pane, or half of a split one)."""

    tiles: dict[TileKey, TileEntry[ImageT]] = field(default_factory=dict)
    # Bytes held in `tiles`, kept up to date: summing a side's hundreds of
    # tiles on every arrival cost ~0.4 ms a tile on the GUI thread.
    nbytes: int = 0
    overlay: TileEntry[ImageT] | None = None
    generation: int = 0
    coarse_zoom: float | None = None

    def clear(self) -> None:
        self.tiles.clear()
        self.nbytes = 0
        self.overlay = None

    def put(self, entry: TileEntry[ImageT]) -> None:
        """Hold `entry`, replacing a tile of the same zoom, place and phase."""
        key = (float(entry.zx), int(entry.u0), int(entry.v0), entry.phase)
        old = self.tiles.pop(key, None)
        if old is not None:
            self.nbytes -= old.array.nbytes
        self.tiles[key] = entry
        self.nbytes += entry.array.nbytes

    def trim(self, lat: Lattice, pane_size: tuple[int, int], image_size: tuple[int, int] | None,
             budget: int = MAX_TILE_BYTES_PER_SIDE) -> bool:
        """Drop tiles beyond `budget` bytes; True when one the pane (`pane_size`
        physical pixels, showing `lat`) showed went."""
        if self.nbytes <= budget:
            return False
        # Oldest previews of other generations first, then the oldest of
        # anything; never the current view's own tiles (a view larger than the
        # budget would otherwise show holes while its label says done). Oldest
        # first, stopping once within budget: at the budget this runs on every
        # arrival, and scanning all of a side's ~1300 tiles each time took 10 ms.
        pane: Box = (0.0, 0.0, float(pane_size[0]), float(pane_size[1]))
        shown = False
        for other_generations_only in (True, False):
            for key in list(self.tiles):
                if self.nbytes <= budget or len(self.tiles) <= 1:
                    return shown
                tile = self.tiles[key]
                if (other_generations_only and tile.generation == self.generation) or in_view(tile, lat):
                    continue
                self.nbytes -= self.tiles.pop(key).array.nbytes
                shown = shown or intersects(tile_target(lat, tile, image_size), pane)
        return shown

    def finish(self, zoom: float) -> None:
        """Every tile of the view at `zoom` has arrived: drop the previews."""
        self.tiles = {k: t for k, t in self.tiles.items() if t.zx == zoom and t.phase == "full"}
        self.nbytes = sum(t.array.nbytes for t in self.tiles.values())

    def paint_order(self, zoom: float) -> list[TileEntry[ImageT]]:
        """The tiles shown at `zoom`, bottom to top: its bicubic preview, coarse
        passes made for it (older requests' under the newest one's), its full
        tiles. Tiles of other zooms are left out: scaled, an old result passed
        for a preview of this view, and old layers of several zooms (after a
        resize, a closed pane) showed as a patchwork."""

        def rank(t: TileEntry[ImageT]) -> int:
            if t.zx == zoom:
                return {"full": 4, "preview": 1}.get(t.phase, 0)
            if t.phase == "coarse" and t.view_zoom == zoom:
                return 3 if t.generation == self.generation else 2
            return 0

        ranked = [(rank(t), t) for t in self.tiles.values()]
        return [t for r, t in sorted(ranked, key=lambda rt: rt[0]) if r > 0]

    def composed(self, lat: Lattice) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 image, coverage mask) of what the full-resolution tiles at
        `lat`'s zoom show of it: what a user sees once decoding is done."""
        out = np.zeros((lat.height, lat.width, 3), dtype=np.uint8)
        mask = np.zeros((lat.height, lat.width), dtype=bool)
        for t in self.tiles.values():
            if t.phase != "full" or t.zx != lat.zx:
                continue
            c0, r0 = t.u0 - int(lat.u0), t.v0 - int(lat.v0)
            a0, b0 = max(0, c0), max(0, r0)
            a1, b1 = min(lat.width, c0 + t.width), min(lat.height, r0 + t.height)
            if a1 > a0 and b1 > b0:
                out[b0:b1, a0:a1] = t.array[b0 - r0:b1 - r0, a0 - c0:a1 - c0]
                mask[b0:b1, a0:a1] = True
        return out, mask

    def pixel_at(self, lat: Lattice, px: float, py: float, image: np.ndarray | None) -> tuple[int, int, int] | None:
        """The RGB (0-255) this side shows at physical pane point (px, py) of
        `lat`: the topmost tile there, else `image` (the uint8 picture under
        the tiles, one pixel per image pixel); None outside the image."""
        size = (int(image.shape[1]), int(image.shape[0])) if image is not None else None
        for tile in reversed(self.paint_order(lat.zx)):
            x, y, w, h = tile_target(lat, tile, size)
            if w > 0 and h > 0 and x <= px < x + w and y <= py < y + h:
                col = min(tile.width - 1, int((px - x) / w * tile.width))
                row = min(tile.height - 1, int((py - y) / h * tile.height))
                r, g, b = (int(v) for v in tile.array[row, col, :3])
                return r, g, b
        return source_pixel(image, (lat.u0 + px) / lat.zx, (lat.v0 + py) / lat.zy)


def source_pixel(image: np.ndarray | None, x: float, y: float) -> tuple[int, int, int] | None:
    """The RGB of `image` (uint8, h x w x 3+) at image point (x, y); None outside it."""
    if image is None or not (0 <= x < image.shape[1] and 0 <= y < image.shape[0]):
        return None
    r, g, b = (int(v) for v in image[int(y), int(x), :3])
    return r, g, b


def source_window(lat: Lattice, width: int, height: int) -> tuple[float, float, float, float] | None:
    """The part of a `width` x `height` image that `lat` shows, in image pixels
    (x0, y0, x1, y1), a pixel of margin for smoothing; None when none."""
    z = lat.zx
    x0 = max(0.0, math.floor(lat.u0 / z) - 1)
    y0 = max(0.0, math.floor(lat.v0 / z) - 1)
    x1 = min(float(width), math.ceil((lat.u0 + lat.width) / z) + 1)
    y1 = min(float(height), math.ceil((lat.v0 + lat.height) / z) + 1)
    return None if x1 <= x0 or y1 <= y0 else (x0, y0, x1, y1)


def clamp_selection(start: tuple[float, float], end: tuple[float, float], width: int,
                    height: int) -> tuple[float, float, float, float] | None:
    """The rectangle dragged from `start` to `end` (image points) kept inside a
    `width` x `height` image, as (x0, y0, x1, y1); None when nothing is left."""
    a0, a1 = sorted((min(max(start[0], 0.0), width), min(max(end[0], 0.0), width)))
    b0, b1 = sorted((min(max(start[1], 0.0), height), min(max(end[1], 0.0), height)))
    if a1 - a0 <= 0 or b1 - b0 <= 0:
        return None
    return a0, b0, a1, b1
