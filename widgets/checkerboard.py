"""The checkerboard a pane shows behind an image's transparent areas, without
Qt or torch.

The methods decode the RGB composited on neutral grey (`ALPHA_BACKGROUND`,
0.5) at load; where the image had transparency a pane shows, instead of that
grey, light and dark squares fixed in screen pixels (CHECKER_SQUARE physical
pixels a side, whatever the zoom):

    shown = rgb + (checker - 0.5) * (1 - alpha)

with `alpha` resampled onto the tile's lattice (the render side does that, by
bicubic: inference/alpha.py). Where alpha is 1 the method's colour is shown
unchanged; where it is 0 the checker itself.
"""

from __future__ import annotations

import numpy as np

CHECKER_SQUARE = 8  # physical pixels a side
CHECKER_LIGHT = 204  # 8-bit shades
CHECKER_DARK = 153
# What the RGB was composited on at load (inference.imageio.ALPHA_BACKGROUND,
# 0.5) as a tile holds it (rounded half to even): a wholly transparent pixel
# then shows the shades exactly.
GREY = 128


def checker(u0: int, v0: int, width: int, height: int, square: int = CHECKER_SQUARE) -> np.ndarray:
    """(height, width) float32 8-bit shades of the checkerboard over lattice pixels
    [u0, u0 + width) x [v0, v0 + height): anchored to the lattice, so tiles
    side by side continue one board."""
    cols = (np.arange(u0, u0 + width) // square) % 2
    rows = (np.arange(v0, v0 + height) // square) % 2
    light = (rows[:, None] + cols[None, :]) % 2 == 0
    return np.where(light, np.float32(CHECKER_LIGHT), np.float32(CHECKER_DARK)).astype(np.float32)


def premultiplied(rgb8: np.ndarray, alpha8: np.ndarray) -> np.ndarray:
    """uint8 (h, w, 4) premultiplied RGBA that, painted over the checker, shows
    what `show_transparency` does: `rgb8` (composited on grey) less the grey
    the transparency let through, and the alpha."""
    a = alpha8.astype(np.float32)[..., None]
    colour = rgb8[..., :3].astype(np.float32) - np.float32(GREY) * (np.float32(255.0) - a) / np.float32(255.0)
    out = np.empty((*rgb8.shape[:2], 4), dtype=np.uint8)
    out[..., :3] = np.clip(np.rint(colour), 0, a)  # premultiplied: never above the alpha
    out[..., 3] = alpha8
    return out


def show_transparency(rgb8: np.ndarray, transparency: np.ndarray, u0: int, v0: int,
                      square: int = CHECKER_SQUARE) -> np.ndarray:
    """A new uint8 (h, w, 3) tile: `rgb8` (composited on grey) with the checker
    showing through `transparency` (1 - alpha, (h, w) in [0, 1]) at lattice
    offset (u0, v0). Rounded half to even, as every tile is."""
    h, w = rgb8.shape[:2]
    if transparency.shape != (h, w):
        raise ValueError(f"transparency {transparency.shape} does not match the tile's {(h, w)}")
    shift = (checker(u0, v0, w, h, square) - np.float32(GREY)) * np.clip(transparency, 0.0, 1.0)
    shown = rgb8[..., :3].astype(np.float32) + shift[..., None]
    return np.clip(np.rint(shown), 0, 255).astype(np.uint8)
