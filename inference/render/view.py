"""What every pane shows (centre and zoom) and the zoom range the viewer
offers: the part of rendering that widgets import. No torch, no Qt."""

from __future__ import annotations

import math
from dataclasses import dataclass

from inference.geometry import Lattice, pane_lattice

# Zoom range the viewer offers; below 1 the models have nothing to add.
MIN_ZOOM = 1.0 / 64.0
MAX_ZOOM = 128.0
# Zooms are kept to this many significant digits so that the same slider
# position, typed factor or wheel step lands on the same tile keys.
ZOOM_DIGITS = 4


def snap_zoom(zoom: float) -> float:
    """`zoom` clamped to the viewer's range and rounded to ZOOM_DIGITS significant digits."""
    if not math.isfinite(zoom) or zoom <= 0:
        raise ValueError(f"zoom must be a positive finite number, got {zoom}")
    zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
    return float(f"{zoom:.{ZOOM_DIGITS}g}")


@dataclass(frozen=True)
class ViewState:
    """What every pane shows: centre (cx, cy) in image units (LR pixels) and
    zoom = output pixels per LR pixel, in physical screen pixels."""

    cx: float
    cy: float
    zoom: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cx) and math.isfinite(self.cy)):
            raise ValueError(f"view centre must be finite, got ({self.cx}, {self.cy})")
        object.__setattr__(self, "zoom", snap_zoom(self.zoom))

    @classmethod
    def fit(cls, image_w: int, image_h: int, pane_w: int, pane_h: int) -> ViewState:
        """The whole image centred, as large as fits the pane."""
        return cls(image_w / 2.0, image_h / 2.0, fit_zoom(image_w, image_h, pane_w, pane_h))

    def lattice(self, pane_w: int, pane_h: int) -> Lattice:
        """The lattice block a pane of pane_w x pane_h physical pixels shows."""
        return pane_lattice(self.cx, self.cy, self.zoom, max(1, int(pane_w)), max(1, int(pane_h)))

    def image_point(self, px: float, py: float, pane_w: int, pane_h: int) -> tuple[float, float]:
        """Image point at pane position (px, py) (physical pixels from the pane's
        top-left corner; pixel c spans [c, c+1))."""
        lat = self.lattice(pane_w, pane_h)
        return (lat.u0 + px) / lat.zx, (lat.v0 + py) / lat.zy

    def pane_point(self, x: float, y: float, pane_w: int, pane_h: int) -> tuple[float, float]:
        """Inverse of `image_point`."""
        lat = self.lattice(pane_w, pane_h)
        return x * lat.zx - lat.u0, y * lat.zy - lat.v0

    def panned(self, dx: float, dy: float) -> ViewState:
        """Moved so that the content slides by (dx, dy) physical pixels."""
        return ViewState(self.cx - dx / self.zoom, self.cy - dy / self.zoom, self.zoom)

    def zoomed_about(self, zoom: float, px: float, py: float, pane_w: int, pane_h: int) -> ViewState:
        """At `zoom`, keeping the image point under pane position (px, py) there."""
        x, y = self.image_point(px, py, pane_w, pane_h)
        new_zoom = snap_zoom(zoom)
        return ViewState(x - (px - pane_w / 2.0) / new_zoom, y - (py - pane_h / 2.0) / new_zoom, new_zoom)

    def with_zoom(self, zoom: float) -> ViewState:
        return ViewState(self.cx, self.cy, zoom)

    def clamped(self, image_w: int, image_h: int) -> ViewState:
        """Centre kept inside the image, so the image never leaves the pane."""
        cx = min(max(self.cx, 0.0), float(image_w))
        cy = min(max(self.cy, 0.0), float(image_h))
        return self if (cx, cy) == (self.cx, self.cy) else ViewState(cx, cy, self.zoom)

    def visible_region(self, pane_w: int, pane_h: int, image_w: int, image_h: int
                       ) -> tuple[float, float, float, float] | None:
        """(x0, y0, x1, y1): the part of the image a pane shows, in image units,
        or None when the pane shows none of it."""
        lat = self.lattice(pane_w, pane_h)
        x0, y0 = max(0.0, lat.u0 / lat.zx), max(0.0, lat.v0 / lat.zy)
        x1 = min(float(image_w), (lat.u0 + lat.width) / lat.zx)
        y1 = min(float(image_h), (lat.v0 + lat.height) / lat.zy)
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1, y1


def fit_zoom(image_w: int, image_h: int, pane_w: int, pane_h: int) -> float:
    """The largest zoom at which the whole image fits the pane."""
    if image_w <= 0 or image_h <= 0:
        raise ValueError("image must have a positive size")
    return snap_zoom(min(max(1, pane_w) / image_w, max(1, pane_h) / image_h) * 0.999)

