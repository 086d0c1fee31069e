"""The cursor readout's text: the image point under the cursor and what each
pane shows there, e.g. "x 123.4, y 56.7 · Bicubic 201 180 150 · LIIF 205 178 149".
No Qt."""

from __future__ import annotations

import math

SEPARATOR = " \u00b7 "


def coordinate_decimals(zoom: float) -> int:
    """Decimals of an image coordinate worth showing at `zoom` (screen pixels
    per image pixel): none at 1:1 or below, one from 2x, two from 20x, three at most."""
    if zoom < 2.0:
        return 0
    return min(3, 1 + math.floor(math.log10(zoom / 2.0)))


def format_point(x: float, y: float, zoom: float) -> str:
    d = coordinate_decimals(zoom)
    if d == 0:
        return f"x {math.floor(x)}, y {math.floor(y)}"
    return f"x {x:.{d}f}, y {y:.{d}f}"


def format_readout(point: tuple[float, float] | None, zoom: float,
                   values: list[tuple[str, tuple[int, int, int] | None]]) -> str:
    """The readout for `point` (image pixels; None: the cursor is off the
    image, so nothing is shown); `values`: each pane side's (name, RGB 0-255
    or None when it shows nothing there)."""
    if point is None:
        return ""
    parts = [format_point(point[0], point[1], zoom)]
    for name, rgb in values:
        parts.append(f"{name} {' '.join(str(v) for v in rgb)}" if rgb is not None else f"{name} \u2014")
    return SEPARATOR.join(parts)
