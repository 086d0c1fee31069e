"""Decoding a lattice block piece by piece, asking between pieces whether to
go on: the one piecewise decode of the exporter, the CLI's upscale and the
reference scorer.

Every piece is a crop of the same lattice, so the pixels are those of one
whole decode; the pieces only bound the decoder's working memory and give
places to stop and to report progress.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from .geometry import Lattice
from .imageio.pixels import to_float

TILE = 512  # output pixels a side per decode call: bounds the decoder's working memory


class Cancelled(Exception):
    """A decode given up between pieces: the user cancelled, the worker is
    stopping, or the result is no longer wanted. Nothing was written."""

    def __init__(self, message: str = "cancelled; nothing was written") -> None:
        super().__init__(message)


class TileSource(Protocol):
    """Tiles a viewer already decoded (inference/render/scheduler.py's
    `CachedTiles`): what an export reuses instead of decoding again."""

    tile: int

    def aligned(self, lattice: Lattice) -> bool:
        """True when `lattice` lies on the viewer's lattice (same zoom, whole-pixel offsets)."""

    def cached(self, block: Lattice) -> np.ndarray | None:
        """uint8 (h, w, 3) pixels of a block inside one tile, or None when not decoded yet."""

    def store(self, block: Lattice, rgb: np.ndarray) -> None:
        """Keep a freshly decoded block (float [0, 1]) for the panes."""


def pieces(lattice: Lattice, height: int, width: int, grid: int | None = None) -> list[tuple[int, int, int, int]]:
    """(row, col, h, w) pieces of a block: `height` x `width` rectangles from
    its corner, or (grid given) its intersections with the viewer's tiles of
    `grid` lattice points, which start at lattice index 0."""
    if grid is None:
        return [(r, c, min(height, lattice.height - r), min(width, lattice.width - c))
                for r in range(0, lattice.height, height) for c in range(0, lattice.width, width)]
    u0, v0 = int(lattice.u0), int(lattice.v0)

    def cuts(start: int, count: int) -> list[tuple[int, int]]:
        edges = [start, *list(range((start // grid + 1) * grid, start + count, grid)), start + count]
        return [(a - start, b - a) for a, b in itertools.pairwise(edges)]

    return [(r, c, h, w) for r, h in cuts(v0, lattice.height) for c, w in cuts(u0, lattice.width)]


def decode_piecewise(upscaler: Any, features: Any, lattice: Lattice, *, tile: int | None = None,
                     band_pixels: int | None = None, progress: Callable[[int, int], None] | None = None,
                     cancel: Callable[[], bool] | None = None, reuse: TileSource | None = None) -> np.ndarray:
    """float32 (h, w, 3): the lattice block decoded in `tile` x `tile` pieces
    (or, given `band_pixels`, in bands of whole rows of about that many
    pixels); `cancel()` is asked before each piece and after the last, and
    raises Cancelled. `progress(done, total)` counts pieces. With `reuse` and
    a block on the viewer's lattice, the pieces are the viewer's tiles: those
    the panes already decoded are copied (as shown: 8-bit), only the rest
    decoded."""
    out = np.empty((lattice.height, lattice.width, 3), dtype=np.float32)
    source = reuse if reuse is not None and reuse.aligned(lattice) else None
    if source is not None:
        blocks = pieces(lattice, source.tile, source.tile, source.tile)
    elif band_pixels is not None:
        blocks = pieces(lattice, max(1, band_pixels // lattice.width), lattice.width)
    else:
        side = int(tile or TILE)
        blocks = pieces(lattice, side, side)
    if progress is not None:
        progress(0, len(blocks))
    for done, (r, c, h, w) in enumerate(blocks, 1):
        if cancel is not None and cancel():
            raise Cancelled()
        block = lattice.crop(c, r, w, h)
        shown = source.cached(block) if source is not None else None
        if shown is not None:
            out[r:r + h, c:c + w] = to_float(shown)
        else:
            out[r:r + h, c:c + w] = upscaler.decode_lattice(features, block)
            if source is not None:
                source.store(block, out[r:r + h, c:c + w])
        if progress is not None:
            progress(done, len(blocks))
    if cancel is not None and cancel():
        raise Cancelled()
    return out
