"""Rendering, by job: `view` (what every pane shows, and the zoom range: the
only part widgets import), `tiles` (tile planning on the shared lattice of
inference/geometry.py), `caches` (tiles and features, typed keys), `threads`
(torch threads fitted to the load) and `scheduler` (the `Renderer`). No torch,
no Qt.

The names below are the package's public API, for the application's code;
inside `inference` import from the module that defines a name.
"""

from inference.downscale import DOWNSCALE_METHOD, DOWNSCALE_NOTE
from inference.geometry import clip as clip_to_image
from inference.geometry import image_extent, rect_lattice

from .caches import FeatureCache, FeatureKey, LRUCache, TileCache, feature_key, nbytes_of, weights_id
from .scheduler import (
    COARSE_FACTOR,
    CachedTiles,
    GenerationCounter,
    Phase,
    RenderedTile,
    Renderer,
    RenderRequest,
)
from .threads import others_running, threads_for_load
from .tiles import CPU_TILE, DEFAULT_TILE, TileKey, block_of, covering_lattice, plan_tiles, tile_lattice, to_display
from .view import MAX_ZOOM, MIN_ZOOM, ZOOM_DIGITS, ViewState, fit_zoom, snap_zoom

__all__ = [
    "COARSE_FACTOR",
    "CPU_TILE",
    "DEFAULT_TILE",
    "DOWNSCALE_METHOD",
    "DOWNSCALE_NOTE",
    "MAX_ZOOM",
    "MIN_ZOOM",
    "ZOOM_DIGITS",
    "CachedTiles",
    "FeatureCache",
    "FeatureKey",
    "GenerationCounter",
    "LRUCache",
    "Phase",
    "RenderRequest",
    "RenderedTile",
    "Renderer",
    "TileCache",
    "TileKey",
    "ViewState",
    "block_of",
    "clip_to_image",
    "covering_lattice",
    "feature_key",
    "fit_zoom",
    "image_extent",
    "nbytes_of",
    "others_running",
    "plan_tiles",
    "rect_lattice",
    "snap_zoom",
    "threads_for_load",
    "tile_lattice",
    "to_display",
    "weights_id",
]
