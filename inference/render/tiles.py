"""Tile planning: which tiles of the shared lattice a pane's view touches,
their keys, and their display pixels.

A tile is the block [tile_u*T, (tile_u+1)*T) x [tile_v*T, (tile_v+1)*T) of
the lattice at zoom z (inference/geometry.py), clipped to the lattice points
whose centres lie inside the image, so panes, tiles, exports and evaluation
all ask for the same points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inference.geometry import Lattice, canonical_zoom, clip
from inference.imageio.pixels import quantise

DEFAULT_TILE = 256
CPU_TILE = 128


@dataclass(frozen=True)
class TileId:
    """One tile of one method's decode of one image at one zoom."""

    method: str
    weights: str
    image: str
    zoom: float
    tile_u: int
    tile_v: int


@dataclass(frozen=True)
class TileKey:
    """What identifies a decoded tile: the same key is the same pixels."""

    tile: TileId
    # The decoded block (u0, v0, width, height) in lattice indices: the whole
    # tile, or the part of it a pane showed. A cached block answers every
    # request for a block it contains.
    block: tuple[int, int, int, int] = (0, 0, 0, 0)

    def contains(self, other: TileKey) -> bool:
        (a, b, w, h), (c, d, x, y) = self.block, other.block
        return a <= c and b <= d and c + x <= a + w and d + y <= b + h


def tile_lattice(zoom: float, tile_u: int, tile_v: int, tile: int, image_w: int, image_h: int) -> Lattice | None:
    """Tile (tile_u, tile_v) of the lattice at `zoom`, clipped to the image; None outside."""
    if tile_u < 0 or tile_v < 0:
        return None
    z = canonical_zoom(zoom)
    return clip(Lattice(z, z, float(tile_u * tile), float(tile_v * tile), tile, tile), image_w, image_h)


def block_of(lattice: Lattice) -> tuple[int, int, int, int]:
    """(u0, v0, width, height) of a block on an integer-offset lattice: a TileKey's `block`."""
    return int(lattice.u0), int(lattice.v0), lattice.width, lattice.height


def union_block(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The smallest block (u0, v0, width, height) holding blocks `a` and `b`."""
    u0, v0 = min(a[0], b[0]), min(a[1], b[1])
    u1, v1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return u0, v0, u1 - u0, v1 - v0


def around(outer: tuple[int, int, int, int], inner: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
    """The blocks (u0, v0, width, height) of `outer` outside `inner` (a block
    inside it): the bands above and below it, then left and right of it."""
    u0, v0, w, h = outer
    a, b, cw, ch = inner
    parts = [(u0, v0, w, b - v0), (u0, b + ch, w, v0 + h - b - ch),
             (u0, b, a - u0, ch), (a + cw, b, u0 + w - a - cw, ch)]
    return [p for p in parts if p[2] > 0 and p[3] > 0]


def plan_tiles(lattice: Lattice, tile: int, image_w: int, image_h: int) -> list[tuple[int, int]]:
    """The tiles (tile_u, tile_v) of lattice zoom that a pane's lattice block
    touches inside the image, nearest the block's centre first."""
    if lattice.zx != lattice.zy:
        raise ValueError("panes use square lattices (zx == zy)")
    inside = clip(lattice, image_w, image_h)
    if inside is None:
        return []
    u0, v0, width, height = block_of(inside)
    tiles = [(tu, tv) for tv in range(v0 // tile, (v0 + height - 1) // tile + 1)
             for tu in range(u0 // tile, (u0 + width - 1) // tile + 1)]
    mid_u, mid_v = lattice.u0 + lattice.width / 2, lattice.v0 + lattice.height / 2

    def distance(t: tuple[int, int]) -> float:
        return ((t[0] + 0.5) * tile - mid_u) ** 2 + ((t[1] + 0.5) * tile - mid_v) ** 2

    return sorted(tiles, key=distance)


def covering_lattice(lattice: Lattice, zoom: float) -> Lattice:
    """The block of the lattice at `zoom` covering the same image rectangle as
    `lattice` (rounded outwards): what a coarse pass decodes."""
    z = canonical_zoom(zoom)
    region = lattice.region
    u0 = math.floor(region.x * z)
    v0 = math.floor(region.y * z)
    u1 = math.ceil((region.x + region.w) * z)
    v1 = math.ceil((region.y + region.h) * z)
    return Lattice(z, z, float(u0), float(v0), max(1, u1 - u0), max(1, v1 - v0))


def to_display(rgb: np.ndarray) -> np.ndarray:
    """float [0, 1] (h, w, 3) -> contiguous uint8 for the screen, rounded by
    the rule saved files use (imageio.pixels.quantise): an export that copies
    these tiles writes the bytes a fresh decode would."""
    return np.ascontiguousarray(quantise(rgb, 8))
