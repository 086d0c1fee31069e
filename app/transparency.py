"""The render worker's part in showing transparency: which image a pane's
tiles are of, and each tile with the checkerboard showing through the image's
alpha (resampled by bicubic onto the tile's lattice, widgets/checkerboard.py)
before it goes to the GUI. Opaque images pass through untouched. No Qt: the
worker calls it on its own thread.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import Any

import numpy as np

from inference.alpha import AlphaPlane
from inference.geometry import Lattice
from widgets.checkerboard import show_transparency


def alpha_for(alpha: np.ndarray | None, rgb: np.ndarray) -> np.ndarray | None:
    """`alpha` when it belongs to `rgb` (same height and width), else None: the
    LR a reference mode shows is not the opened image, and has no alpha."""
    if alpha is None or np.shape(alpha) != tuple(np.shape(rgb)[:2]):
        return None
    return alpha


class TransparencyTiles:
    """Alpha planes by image id, the image each target last asked for, and the checkerboard on tiles."""

    def __init__(self) -> None:
        self._alpha: dict[str, np.ndarray] = {}
        self._planes: dict[str, Any] = {}
        self._image_of: dict[Hashable, str] = {}

    def set_image(self, image_id: str, rgb: np.ndarray, alpha: np.ndarray | None,
                  keep: Callable[[str], bool]) -> None:
        """Remember `image_id`'s alpha (none when opaque); forget images `keep` says are gone."""
        for gone in [i for i in self._alpha if i != image_id and not keep(i)]:
            self._alpha.pop(gone)
            self._planes.pop(gone, None)
        self._planes.pop(image_id, None)
        alpha = alpha_for(alpha, rgb)
        if alpha is None:
            self._alpha.pop(image_id, None)
        else:
            self._alpha[image_id] = alpha

    def requested(self, target: Hashable, image_id: str) -> None:
        self._image_of[target] = image_id

    def plane(self, image_id: str) -> Any:
        """The `AlphaPlane` of `image_id`, None when it is opaque (made once)."""
        alpha = self._alpha.get(image_id)
        if alpha is None:
            return None
        if image_id not in self._planes:
            self._planes[image_id] = AlphaPlane(alpha)
        return self._planes[image_id]

    def shown(self, tile: Any) -> Any:
        """`tile` (a RenderedTile) as the pane shows it: a new tile with the
        checkerboard where its image is transparent; the same one otherwise
        (the renderer's cache keeps the method's pixels either way)."""
        if tile.rgb is None:
            return tile
        plane = self.plane(self._image_of.get(tile.target, ""))
        if plane is None:
            return tile
        h, w = tile.rgb.shape[:2]
        clear = plane.transparency(Lattice(tile.zoom, tile.zoom, float(tile.u0), float(tile.v0), w, h))
        if not clear.any():
            return tile
        return replace(tile, rgb=show_transparency(tile.rgb, clear, tile.u0, tile.v0))
