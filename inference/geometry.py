"""Viewport geometry: how output pixels map onto the continuous image.

Image space: LR pixel (i, j) covers [j, j+1) x [i, i+1), so the image spans
[0, w] x [0, h]. At zoom z (output pixels per LR pixel) output pixel (u, v) of
the whole upscaled image has its centre at ((u + 1/2) / z, (v + 1/2) / z).
Every pane, tile, export and evaluation samples this one lattice, which is what
makes tiles seamless and panning pixel-exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Zoom factors are canonicalised to this many significant digits so that a
# crop described by a (float) region lands on exactly the lattice of the full
# decode it was cut from, bit for bit.
_ZOOM_DIGITS = 12
# A lattice offset this close to an integer is snapped to it.
_SNAP = 1e-6


@dataclass(frozen=True)
class Region:
    """A rectangle of the continuous image, in LR pixel units (may be fractional
    and may extend outside the image)."""

    x: float
    y: float
    w: float
    h: float

    def __post_init__(self) -> None:
        for name in ("x", "y", "w", "h"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"region {name} must be finite, got {getattr(self, name)}")
        if self.w <= 0 or self.h <= 0:
            raise ValueError(f"region must have a positive size, got {self.w} x {self.h}")

    @classmethod
    def whole(cls, width: int, height: int) -> Region:
        return cls(0.0, 0.0, float(width), float(height))


def canonical_zoom(z: float) -> float:
    if not math.isfinite(z) or z <= 0:
        raise ValueError(f"zoom must be a positive finite number, got {z}")
    return float(f"{z:.{_ZOOM_DIGITS}g}")


def _snap(value: float) -> float:
    nearest = round(value)
    return float(nearest) if abs(value - nearest) < _SNAP else value


@dataclass(frozen=True)
class Lattice:
    """A block of output pixels on the lattice of zoom (zx, zy).

    Output pixel (row r, col c) has its centre at image point
    x = (u0 + c + 1/2) / zx, y = (v0 + r + 1/2) / zy.  u0, v0 are integers for
    every lattice built by the viewer; a region that does not fall on a lattice
    gives fractional offsets, which work just as well.
    """

    zx: float
    zy: float
    u0: float
    v0: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"output size must be positive, got {self.width} x {self.height}")
        if not (math.isfinite(self.zx) and math.isfinite(self.zy)) or self.zx <= 0 or self.zy <= 0:
            raise ValueError(f"zoom must be positive and finite, got {self.zx}, {self.zy}")

    @classmethod
    def from_region(cls, region: Region, out_width: int, out_height: int) -> Lattice:
        zx = canonical_zoom(out_width / region.w)
        zy = canonical_zoom(out_height / region.h)
        return cls(zx, zy, _snap(region.x * zx), _snap(region.y * zy), int(out_width), int(out_height))

    @classmethod
    def full_image(cls, width: int, height: int, scale: float) -> Lattice:
        """The whole image upscaled by `scale` (sizes rounded, so zx and zy may
        differ slightly from `scale`)."""
        out_w, out_h = output_size(width, height, scale)
        return cls.from_region(Region.whole(width, height), out_w, out_h)

    @property
    def region(self) -> Region:
        return Region(self.u0 / self.zx, self.v0 / self.zy, self.width / self.zx, self.height / self.zy)

    def crop(self, col: int, row: int, width: int, height: int) -> Lattice:
        """The sub-block starting at (col, row) of this one: same lattice."""
        return Lattice(self.zx, self.zy, self.u0 + col, self.v0 + row, width, height)

    def xs(self) -> np.ndarray:
        """x centres of the columns, float64, image units."""
        return (self.u0 + np.arange(self.width, dtype=np.float64) + 0.5) / self.zx

    def ys(self) -> np.ndarray:
        return (self.v0 + np.arange(self.height, dtype=np.float64) + 0.5) / self.zy

    def cell(self) -> tuple[float, float]:
        """(cell_y, cell_x): the size of one output pixel in LR pixels."""
        return 1.0 / self.zy, 1.0 / self.zx

    def inside_mask(self, image_width: int, image_height: int) -> tuple[np.ndarray, np.ndarray]:
        """Which rows and columns have centres inside the image."""
        xs, ys = self.xs(), self.ys()
        return (ys >= 0) & (ys < image_height), (xs >= 0) & (xs < image_width)


def output_size(width: int, height: int, scale: float) -> tuple[int, int]:
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a positive finite number, got {scale}")
    return max(1, round(width * scale)), max(1, round(height * scale))


def pane_lattice(cx: float, cy: float, zoom: float, width: int, height: int) -> Lattice:
    """The lattice block a pane of `width` x `height` pixels shows when centred
    on image point (cx, cy) at `zoom`: first index round(c*z - size/2)."""
    z = canonical_zoom(zoom)
    u0 = round(cx * z - width / 2)
    v0 = round(cy * z - height / 2)
    return Lattice(z, z, float(u0), float(v0), width, height)


def image_extent(zoom: float, image_w: int, image_h: int) -> tuple[int, int]:
    """(columns, rows): how many lattice points at `zoom` have centres inside
    the image; they are the indices 0 .. n-1 along each axis."""
    z = canonical_zoom(zoom)

    def count(size: int) -> int:
        n = max(0, math.ceil(size * z - 0.5))
        # Guard the float boundary so the count agrees with Lattice.inside_mask.
        while n > 0 and (n - 1 + 0.5) / z >= size:
            n -= 1
        while (n + 0.5) / z < size:
            n += 1
        return n

    return count(image_w), count(image_h)


def clip(lattice: Lattice, image_w: int, image_h: int, within: Lattice | None = None) -> Lattice | None:
    """The sub-block of `lattice` whose pixel centres lie inside the image (and,
    given `within`, a block of the same lattice, inside that block too); None
    when no pixel is left. The one clip: tiles, panes, exports, and every
    decoder's "decode only what is inside" use it. The result is a crop, so
    its pixels are those of the whole block."""
    rows, cols = lattice.inside_mask(image_w, image_h)
    if within is not None:
        du, dv = within.u0 - lattice.u0, within.v0 - lattice.v0
        index_c = np.arange(lattice.width)
        index_r = np.arange(lattice.height)
        cols = cols & (index_c >= du) & (index_c < du + within.width)
        rows = rows & (index_r >= dv) & (index_r < dv + within.height)
    if not rows.any() or not cols.any():
        return None
    c = np.flatnonzero(cols)
    r = np.flatnonzero(rows)
    return lattice.crop(int(c[0]), int(r[0]), int(c[-1]) + 1 - int(c[0]), int(r[-1]) + 1 - int(r[0]))


def offset_in(block: Lattice, lattice: Lattice) -> tuple[int, int]:
    """(column, row) of a sub-block (from `clip` or `Lattice.crop`) inside `lattice`."""
    return round(block.u0 - lattice.u0), round(block.v0 - lattice.v0)


def rect_lattice(x0: float, y0: float, x1: float, y1: float, zoom: float, image_w: int, image_h: int
                 ) -> Lattice | None:
    """The block of the lattice at `zoom` whose pixel centres fall in the
    rectangle [x0, x1) x [y0, y1) of the image (and inside it): the pixels a
    pane shows there."""
    z = canonical_zoom(zoom)
    u0, v0 = math.ceil(x0 * z - 0.5), math.ceil(y0 * z - 0.5)
    u1, v1 = math.ceil(x1 * z - 0.5), math.ceil(y1 * z - 0.5)
    if u1 <= u0 or v1 <= v0:
        return None
    return clip(Lattice(z, z, float(u0), float(v0), u1 - u0, v1 - v0), image_w, image_h)
