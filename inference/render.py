"""The render worker's pure logic: view state, tile planning, generations,
caches, and a `Renderer` that turns pane requests into decoded tiles.

Nothing here knows about Qt or threads beyond a lock: the Qt worker
(app/render_worker.py) calls `Renderer.submit` when a pane asks for a view and
`Renderer.next_result` one tile at a time, so that new requests, the stop flag
and stale generations are looked at between tiles.

Every tile samples the shared viewport lattice (see inference/geometry.py): a
tile is the block [tile_u*T, (tile_u+1)*T) x [tile_v*T, (tile_v+1)*T) of the
lattice at zoom z, clipped to the lattice points whose centres lie inside the
image, so panes, tiles, exports and evaluation all ask for the same points.
A request decodes of each tile only the block it shows (the first view of a
pane costs its own pixels, not the 1.5-2x of whole tiles); a tile seen again
with more of it visible (a pan) is decoded whole, so panning stays cached.
This module imports neither torch nor Qt (widgets/ uses its view maths).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Callable, Generic, Hashable, Iterator, TypeVar

import numpy as np

from .downscale import DOWNSCALE_METHOD, shown_method
from .geometry import Lattice, canonical_zoom, pane_lattice

DEFAULT_TILE = 256
CPU_TILE = 128
# Zoom range the viewer offers; below 1 the models have nothing to add.
MIN_ZOOM = 1.0 / 64.0
MAX_ZOOM = 128.0
# Zooms are kept to this many significant digits so that the same slider
# position, typed factor or wheel step lands on the same tile keys.
ZOOM_DIGITS = 4
# The coarse pass decodes at zoom / factor and is scaled up for display. The
# factor is COARSE_FACTOR until the method's speed on this device is known;
# then it is picked so that the coarse pass takes about COARSE_TARGET_S (a slow
# method on a CPU gets a coarser first pass, a fast one a finer one), in steps
# of sqrt(2) so that nearby views share coarse tiles; and a method that decodes
# the whole pane within COARSE_SKIP_S (a GPU) gets no coarse pass at all.
COARSE_FACTOR = 4.0
COARSE_TARGET_S = 0.7
COARSE_SKIP_S = 0.25
COARSE_FACTOR_RANGE = (2.0, 16.0)
# Decodes smaller than this say more about per-call overhead than throughput.
RATE_MIN_POINTS = 4096


class Phase(str, Enum):
    """A tile's pass, in the order they arrive: the bicubic preview, the coarse
    model pass at a lower zoom, the full decode. A str, equal to its value, so
    code that compares with "full" (widgets, tests, JSON) reads it unchanged."""

    PREVIEW = "preview"
    COARSE = "coarse"
    FULL = "full"

    def __str__(self) -> str:
        return str(self.value)

def snap_zoom(zoom: float) -> float:
    """`zoom` clamped to the viewer's range and rounded to ZOOM_DIGITS significant digits."""
    if not math.isfinite(zoom) or zoom <= 0:
        raise ValueError(f"zoom must be a positive finite number, got {zoom}")
    zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
    return float(f"{zoom:.{ZOOM_DIGITS}g}")


# ------------------------------------------------------------- CPU threads


def threads_for_load(configured: int, cpus: int, others_running: int | None) -> int:
    """Torch threads for the next tile: the configured count, but no more than
    the cores that other runnable processes leave free, and at least one.
    With a core taken by another process, a second thread stalls every
    parallel operation until the scheduler gives it a turn: on 2 busy cores
    a bf16 LIIF tile took 1.3 s with 2 threads and 0.06 s with 1."""
    if others_running is None:
        return configured
    return max(1, min(configured, cpus - max(0, others_running)))


def others_running() -> int | None:
    """Threads of other processes running or waiting for a CPU right now
    (Linux: /proc/stat's procs_running less this process's own); None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            total = next(int(line.split()[1]) for line in stat if line.startswith("procs_running"))
        own = 0
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/stat") as handle:
                    own += handle.read().rpartition(")")[2].split()[0] == "R"
            except OSError:
                continue
        return max(0, total - own)
    except (OSError, StopIteration, ValueError, IndexError):
        return None


# ---------------------------------------------------------------- view state


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
    def fit(cls, image_w: int, image_h: int, pane_w: int, pane_h: int) -> "ViewState":
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

    def panned(self, dx: float, dy: float) -> "ViewState":
        """Moved so that the content slides by (dx, dy) physical pixels."""
        return ViewState(self.cx - dx / self.zoom, self.cy - dy / self.zoom, self.zoom)

    def zoomed_about(self, zoom: float, px: float, py: float, pane_w: int, pane_h: int) -> "ViewState":
        """At `zoom`, keeping the image point under pane position (px, py) there."""
        x, y = self.image_point(px, py, pane_w, pane_h)
        new_zoom = snap_zoom(zoom)
        return ViewState(x - (px - pane_w / 2.0) / new_zoom, y - (py - pane_h / 2.0) / new_zoom, new_zoom)

    def with_zoom(self, zoom: float) -> "ViewState":
        return ViewState(self.cx, self.cy, zoom)

    def clamped(self, image_w: int, image_h: int) -> "ViewState":
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


# ------------------------------------------------------------ tile planning


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


@dataclass(frozen=True)
class TileKey:
    """What identifies a decoded tile: the same key is the same pixels."""

    method: str
    weights: str
    image: str
    zoom: float
    tile_u: int
    tile_v: int
    # The decoded block (u0, v0, width, height) in lattice indices: the whole
    # tile, or the part of it a pane showed. A cached block answers every
    # request for a block it contains.
    block: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def tile_id(self) -> tuple[str, str, str, float, int, int]:
        return self.method, self.weights, self.image, self.zoom, self.tile_u, self.tile_v

    def contains(self, other: "TileKey") -> bool:
        (a, b, w, h), (c, d, x, y) = self.block, other.block
        return a <= c and b <= d and c + x <= a + w and d + y <= b + h


def tile_lattice(zoom: float, tile_u: int, tile_v: int, tile: int, image_w: int, image_h: int) -> Lattice | None:
    """Tile (tile_u, tile_v) of the lattice at `zoom`, clipped to the image; None outside."""
    z = canonical_zoom(zoom)
    cols, rows = image_extent(z, image_w, image_h)
    u0, v0 = tile_u * tile, tile_v * tile
    u1, v1 = min(u0 + tile, cols), min(v0 + tile, rows)
    if tile_u < 0 or tile_v < 0 or u1 <= u0 or v1 <= v0:
        return None
    return Lattice(z, z, float(u0), float(v0), u1 - u0, v1 - v0)


def block_bounds(lattice: Lattice, image_w: int, image_h: int) -> tuple[int, int, int, int] | None:
    """(u0, v0, u1, v1): the lattice indices a (square) block covers inside
    the image, rounded outwards; None when it covers none."""
    cols, rows = image_extent(lattice.zx, image_w, image_h)
    u0, v0 = max(0, math.floor(lattice.u0)), max(0, math.floor(lattice.v0))
    u1 = min(cols, math.ceil(lattice.u0 + lattice.width))
    v1 = min(rows, math.ceil(lattice.v0 + lattice.height))
    if u1 <= u0 or v1 <= v0:
        return None
    return u0, v0, u1, v1


def block_of(lattice: Lattice) -> tuple[int, int, int, int]:
    """(u0, v0, width, height) of a block on an integer-offset lattice: a TileKey's `block`."""
    return int(lattice.u0), int(lattice.v0), lattice.width, lattice.height


def clip_lattice(lattice: Lattice, bounds: tuple[int, int, int, int]) -> Lattice | None:
    """The part of a block on an integer-offset lattice inside bounds (u0, v0, u1, v1)."""
    u0, v0 = max(int(lattice.u0), bounds[0]), max(int(lattice.v0), bounds[1])
    u1 = min(int(lattice.u0) + lattice.width, bounds[2])
    v1 = min(int(lattice.v0) + lattice.height, bounds[3])
    if u1 <= u0 or v1 <= v0:
        return None
    return Lattice(lattice.zx, lattice.zy, float(u0), float(v0), u1 - u0, v1 - v0)


def plan_tiles(lattice: Lattice, tile: int, image_w: int, image_h: int) -> list[tuple[int, int]]:
    """The tiles (tile_u, tile_v) of lattice zoom that a pane's lattice block
    touches inside the image, nearest the block's centre first."""
    if lattice.zx != lattice.zy:
        raise ValueError("panes use square lattices (zx == zy)")
    bounds = block_bounds(lattice, image_w, image_h)
    if bounds is None:
        return []
    u0, v0, u1, v1 = bounds
    tiles = [(tu, tv) for tv in range(v0 // tile, (v1 - 1) // tile + 1)
             for tu in range(u0 // tile, (u1 - 1) // tile + 1)]
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


# --------------------------------------------------------------- generations


class GenerationCounter:
    """Monotonic request numbers. Each channel (a pane, or a side of a split
    pane) remembers the newest number issued to it; anything older is stale.
    Issued on the GUI thread, read on the worker's: guarded by a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self._latest: dict[Hashable, int] = {}

    def issue(self, channel: Hashable = None) -> int:
        with self._lock:
            self._next += 1
            self._latest[channel] = self._next
            return self._next

    def latest(self, channel: Hashable = None) -> int:
        with self._lock:
            return self._latest.get(channel, 0)

    def is_stale(self, generation: int, channel: Hashable = None) -> bool:
        with self._lock:
            return generation < self._latest.get(channel, 0)

    def retire(self, channel: Hashable = None) -> None:
        """Make everything issued to `channel` so far stale (e.g. a pane closed)."""
        with self._lock:
            self._next += 1
            self._latest[channel] = self._next


# -------------------------------------------------------------------- caches


def nbytes_of(value: Any) -> int:
    """Memory held by an array, a tensor, a FeatureMap (duck-typed: no torch here)."""
    if value is None:
        return 0
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if hasattr(value, "cached_bytes"):
        return int(value.cached_bytes)
    if hasattr(value, "numel") and hasattr(value, "element_size"):
        return int(value.numel() * value.element_size())
    if isinstance(value, (tuple, list)):
        return sum(nbytes_of(v) for v in value)
    if isinstance(value, dict):
        return sum(nbytes_of(v) for v in value.values())
    return 0


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """Least-recently-used cache with a byte budget. The newest entry is
    always kept, even when it alone exceeds the budget."""

    def __init__(self, budget_bytes: int, size_of: Callable[[Any], int] = nbytes_of) -> None:
        self.budget_bytes = int(budget_bytes)
        self._size_of = size_of
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: K, value: V) -> None:
        if key in self._items:
            self._bytes -= self._items.pop(key)[1]
        size = self._size_of(value)
        self._items[key] = (value, size)
        self._bytes += size
        self._evict()

    def refresh_size(self, key: K) -> None:
        """Re-measure an entry that grows in place (a lazily encoded FeatureMap)."""
        if key in self._items:
            value, old = self._items[key]
            size = self._size_of(value)
            self._items[key] = (value, size)
            self._bytes += size - old
            self._evict()

    def _evict(self) -> None:
        while self._bytes > self.budget_bytes and len(self._items) > 1:
            _, (_, size) = self._items.popitem(last=False)
            self._bytes -= size

    def keys(self) -> list[K]:
        return list(self._items)

    def pop(self, key: K) -> V | None:
        item = self._items.pop(key, None)
        if item is None:
            return None
        self._bytes -= item[1]
        return item[0]

    def discard(self, predicate: Callable[[K], bool]) -> None:
        for key in [k for k in self._items if predicate(k)]:
            self._bytes -= self._items.pop(key)[1]

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0


# The feature cache's key: (image id, method, weights name).
FeatureKey = tuple[str, str, str]


class TileCache(LRUCache[TileKey, np.ndarray]):
    """Decoded display tiles (uint8 RGB) keyed by TileKey."""


class FeatureCache(LRUCache[FeatureKey, Any]):
    """Encoder features per (image, method, weights), within a memory budget."""


# ---------------------------------------------------------------- rendering


def to_display(rgb: np.ndarray) -> np.ndarray:
    """float [0, 1] (h, w, 3) -> contiguous uint8 for the screen."""
    return np.ascontiguousarray((np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


def weights_id(upscaler: Any) -> str:
    weights = upscaler.weights
    return f"{'trained' if weights.trained else 'untrained'}:{weights.source}"


@dataclass(frozen=True)
class RenderRequest:
    """One pane (or one side of a split pane: `target`) asking for `method` on
    the lattice block it shows, as of `generation`."""

    generation: int
    target: Hashable
    method: str
    lattice: Lattice
    image_id: str
    progressive: bool = True


@dataclass
class RenderedTile:
    """A decoded tile for a target, or (rgb None, error set) a failure.

    (u0, v0) are lattice indices at `zoom`: the tile covers image points
    [u0 / zoom, (u0 + width) / zoom) x ...; a pane at another zoom scales it."""

    target: Hashable
    generation: int
    method: str
    phase: Phase
    zoom: float
    u0: int
    v0: int
    rgb: np.ndarray | None
    seconds: float = 0.0
    from_cache: bool = False
    remaining: int = 0
    note: str = ""
    untrained: bool = False
    error: str | None = None
    # Full-resolution tiles of this request still to come (its progress).
    full_remaining: int = 0
    # The zoom of the view the request was for: a coarse tile (at a lower zoom)
    # previews that view only; a pane never shows it under another zoom.
    view_zoom: float = 0.0

    @property
    def final(self) -> bool:
        """True when this is the last tile of its request."""
        return self.remaining == 0


@dataclass
class _Job:
    request: RenderRequest
    phase: Phase
    method: str
    key: TileKey
    lattice: Lattice
    rank: int
    order: tuple[int, int]
    note: str = ""
    error: str | None = None


@dataclass
class _Image:
    rgb: np.ndarray
    width: int = field(init=False)
    height: int = field(init=False)

    def __post_init__(self) -> None:
        self.height, self.width = self.rgb.shape[:2]


class Renderer:
    """Decodes tiles for pane requests through the one upscaler interface.

    `get_upscaler(name)` returns a ready Upscaler (the worker loads them once).
    Tiles come out one per `next_result()` call, previews before coarse before
    full, panes interleaved; a request superseded by a newer generation for
    its target is dropped before its next tile starts.
    """

    def __init__(self, get_upscaler: Callable[[str], Any], *, tile: int = DEFAULT_TILE,
                 tile_budget_bytes: int = 512 << 20, feature_budget_bytes: int = 2 << 30,
                 generations: GenerationCounter | None = None, coarse_factor: float = COARSE_FACTOR,
                 adaptive_coarse: bool = True) -> None:
        self.get_upscaler = get_upscaler
        self.tile = int(tile)
        self.tiles = TileCache(tile_budget_bytes)
        self.features = FeatureCache(feature_budget_bytes)
        self.generations = generations or GenerationCounter()
        self.coarse_factor = float(coarse_factor)
        self.adaptive_coarse = adaptive_coarse
        # Measured decode throughput per method on this device (lattice points
        # per second, a running mean): what the coarse pass is sized by.
        self.rates: dict[str, float] = {}
        self._images: dict[str, _Image] = {}
        self._jobs: list[_Job] = []
        self._submitted = 0
        self.decoded_tiles = 0
        # Tiles decoded together with a neighbour (see _decode_together), kept
        # in the tile cache until their own job reports them: key -> seconds.
        self._batched: dict[TileKey, float] = {}
        # Cached blocks by tile (TileKey.tile_id): the candidates that may
        # contain a requested block. Entries the cache evicted are pruned lazily.
        self._blocks: dict[tuple, list[TileKey]] = {}

    # -- images -------------------------------------------------------------

    def set_image(self, image_id: str, rgb: np.ndarray) -> None:
        """Make `image_id` the image; the previous ones are forgotten with their
        cached tiles and features."""
        rgb = np.asarray(rgb, dtype=np.float32)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an (h, w, 3) image, got {rgb.shape}")
        drop = [i for i in self._images if i != image_id]
        for old in drop:
            del self._images[old]
        if drop:
            gone = set(drop)
            self.tiles.discard(lambda k: k.image in gone)
            self.features.discard(lambda k: k[0] in gone)
            self._jobs = [j for j in self._jobs if j.request.image_id not in gone]
            self._batched = {k: v for k, v in self._batched.items() if k.image not in gone}
        self._images[image_id] = _Image(rgb)

    def image(self, image_id: str) -> np.ndarray:
        return self._images[image_id].rgb

    def has_image(self, image_id: str) -> bool:
        return image_id in self._images

    # -- decoding (also used by export and metrics) ---------------------------

    def encoded(self, method: str, image_id: str) -> tuple[Any, Any]:
        """(upscaler, features of the image), features from the cache."""
        upscaler = self.get_upscaler(method)
        key = (image_id, method, weights_id(upscaler))
        feats = self.features.get(key)
        if feats is None:
            feats = upscaler.encode(self._images[image_id].rgb)
            self.features.put(key, feats)
        return upscaler, feats

    def cached_tiles(self, method: str, image_id: str) -> "CachedTiles":
        """`method`'s decoded tiles of an image, for an export to reuse."""
        return CachedTiles(self, method, image_id)

    def decode(self, method: str, image_id: str, lattice: Lattice) -> np.ndarray:
        """float32 (H, W, 3) of `method` on any lattice block of the image."""
        upscaler, feats = self.encoded(method, image_id)
        out = upscaler.decode_lattice(feats, lattice)
        self.features.refresh_size((image_id, method, weights_id(upscaler)))
        return out

    # -- requests -----------------------------------------------------------

    def effective_method(self, method: str, zoom: float) -> tuple[str, str]:
        """(method actually shown, note): at zoom <= 1 the antialiased bicubic."""
        return shown_method(method, zoom)

    # -- the tile cache: blocks, and blocks that contain them ----------------

    def _holder(self, key: TileKey) -> TileKey | None:
        """The cached block that answers `key`: itself, or one containing it."""
        if key in self.tiles:
            return key
        for k in self._blocks.get(key.tile_id, ()):
            if k in self.tiles and k.contains(key):
                return k
        return None

    def _has(self, key: TileKey) -> bool:
        return self._holder(key) is not None

    def _seen(self, key: TileKey) -> bool:
        """True when some block of this tile is cached (the user has seen part of it)."""
        return any(k in self.tiles for k in self._blocks.get(key.tile_id, ()))

    def _cached(self, key: TileKey) -> np.ndarray | None:
        holder = self._holder(key)
        if holder is None:
            self.tiles.misses += 1
            return None
        rgb = self.tiles.get(holder)
        if rgb is None or holder == key:
            return rgb
        c, r = key.block[0] - holder.block[0], key.block[1] - holder.block[1]
        return np.ascontiguousarray(rgb[r:r + key.block[3], c:c + key.block[2]])

    def _store(self, key: TileKey, rgb: np.ndarray) -> None:
        """Cache a decoded block; cached blocks of the same tile that it
        contains are dropped (same pixels)."""
        tid = key.tile_id
        others: list[TileKey] = []
        for k in self._blocks.get(tid, ()):
            if k == key or k not in self.tiles:
                continue
            if key.contains(k):
                self.tiles.pop(k)
            else:
                others.append(k)
        self.tiles.put(key, rgb)
        self._blocks[tid] = others + [key]
        if len(self._blocks) > 2 * len(self.tiles) + 1024:  # tiles evicted since: rebuild the index
            index: dict[tuple, list[TileKey]] = {}
            for k in self.tiles.keys():
                index.setdefault(k.tile_id, []).append(k)
            self._blocks = index

    def _planned(self, method: str, image_id: str, zoom: float, tiles: list[tuple[int, int]],
                 bounds: tuple[int, int, int, int] | None, img: "_Image") -> list[tuple[TileKey, Lattice]]:
        """(key, block) per tile: the part of the tile inside `bounds` (what the
        pane shows), or the whole tile when part of it was seen before."""
        wid = weights_id(self.get_upscaler(method))
        out: list[tuple[TileKey, Lattice]] = []
        for tu, tv in tiles:
            whole = tile_lattice(zoom, tu, tv, self.tile, img.width, img.height)
            if whole is None:
                continue
            part = clip_lattice(whole, bounds) if bounds is not None else whole
            if part is None:
                continue
            key = TileKey(method, wid, image_id, zoom, tu, tv, block_of(part))
            if part != whole and not self._has(key) and self._seen(key):
                part = whole  # panning across this tile: decode it once, whole
                key = replace(key, block=block_of(whole))
            out.append((key, part))
        return out

    def plan(self, request: RenderRequest) -> list[_Job]:
        """The jobs (tiles by phase) that answer a request."""
        img = self._images.get(request.image_id)
        if img is None:
            return []
        seq = self._submitted
        lat = request.lattice
        zoom = lat.zx
        method, note = self.effective_method(request.method, zoom)
        full_tiles = plan_tiles(lat, self.tile, img.width, img.height)
        full_bounds = block_bounds(lat, img.width, img.height)
        full_blocks = self._planned(method, request.image_id, zoom, full_tiles, full_bounds, img)
        jobs: list[_Job] = []

        def add(phase: Phase, blocks: list[tuple[TileKey, Lattice]], rank: int, job_note: str) -> None:
            for i, (key, block) in enumerate(blocks):
                cached = self._has(key)
                jobs.append(_Job(request, phase, key.method, key, block, 0 if cached else rank, (i, seq), job_note))

        missing = [b for k, b in full_blocks if not self._has(k)]
        if request.progressive and missing and method != DOWNSCALE_METHOD:
            factor = self.coarse_factor_for(method, sum(b.width * b.height for b in missing))
            coarse_zoom = canonical_zoom(snap_zoom(zoom / factor)) if factor else 0.0
            coarse_blocks: list[tuple[TileKey, Lattice]] = []
            if coarse_zoom > 1.0:
                coarse_lat = covering_lattice(lat, coarse_zoom)
                coarse_tiles = plan_tiles(coarse_lat, self.tile, img.width, img.height)
                coarse_bounds = block_bounds(coarse_lat, img.width, img.height)
                coarse_blocks = self._planned(method, request.image_id, coarse_zoom, coarse_tiles, coarse_bounds, img)
            if not coarse_blocks or not all(self._has(k) for k, _ in coarse_blocks):
                preview = self._planned(DOWNSCALE_METHOD, request.image_id, zoom, full_tiles, full_bounds, img)
                add(Phase.PREVIEW, preview, 1, "bicubic preview")
            add(Phase.COARSE, coarse_blocks, 2, f"coarse pass at {coarse_zoom:g}\u00d7")
        add(Phase.FULL, full_blocks, 3, note)
        return jobs

    def coarse_factor_for(self, method: str, points: int) -> float | None:
        """By how much the coarse pass shrinks a full pass of `points` lattice
        points of `method`; None when the full pass is quick enough alone."""
        rate = self.rates.get(method)
        if not self.adaptive_coarse or rate is None:
            return self.coarse_factor
        seconds = points / rate
        if seconds <= COARSE_SKIP_S:
            return None
        factor = math.sqrt(seconds / COARSE_TARGET_S)
        factor = 2.0 ** (math.ceil(2.0 * math.log2(max(factor, 1.0))) / 2.0)
        return min(COARSE_FACTOR_RANGE[1], max(COARSE_FACTOR_RANGE[0], factor))

    def _record_rate(self, method: str, points: int, seconds: float) -> None:
        if points < RATE_MIN_POINTS or seconds <= 0:
            return
        rate = points / seconds
        old = self.rates.get(method)
        self.rates[method] = rate if old is None else 0.5 * (old + rate)

    def submit(self, request: RenderRequest) -> int:
        """Queue a request, replacing older pending work of the same target.
        Returns the number of tiles queued for it."""
        self._jobs = [j for j in self._jobs if j.request.target != request.target]
        if self.generations.is_stale(request.generation, request.target):
            return 0
        self._submitted += 1
        try:
            jobs = self.plan(request)
        except Exception as error:  # an upscaler that cannot be built: report it as a tile failure
            self._jobs.append(_Job(request, Phase.FULL, request.method,
                                   TileKey(request.method, "", request.image_id, request.lattice.zx, 0, 0),
                                   request.lattice, 0, (0, self._submitted), error=f"{type(error).__name__}: {error}"))
            return 1
        self._jobs.extend(jobs)
        return len(jobs)

    def forget_method(self, method: str) -> None:
        """`method`'s upscaler is being replaced (new weights): drop its cached
        features and tiles, and pending work that would decode with it. Tile
        keys name weights by file name only, so two files of the same name
        would otherwise share tiles."""
        self.features.discard(lambda k: k[1] == method)
        self.tiles.discard(lambda k: k.method == method)
        self._jobs = [j for j in self._jobs if j.method != method and j.request.method != method]

    def cancel(self, target: Hashable) -> None:
        self._jobs = [j for j in self._jobs if j.request.target != target]

    def pending(self) -> int:
        self._drop_stale()
        return len(self._jobs)

    def _drop_stale(self) -> None:
        requests = {id(j.request): j.request for j in self._jobs}
        stale = {key for key, r in requests.items() if self.generations.is_stale(r.generation, r.target)}
        if stale:
            self._jobs = [j for j in self._jobs if id(j.request) not in stale]

    def next_result(self) -> RenderedTile | None:
        """Run the most urgent pending job; None when there is nothing to do."""
        self._drop_stale()
        if not self._jobs:
            return None
        job = min(self._jobs, key=self._priority)
        self._jobs.remove(job)
        return self._run(job)

    def _priority(self, job: _Job) -> tuple[int, tuple[int, int]]:
        """Tiles already in the cache first (another pane may have decoded them
        since this job was planned), then cheap bicubic, coarse, full."""
        if job.error is None and self._has(job.key):
            return 0, job.order
        if job.method == DOWNSCALE_METHOD:
            return min(job.rank, 1), job.order
        return job.rank, job.order

    def _remaining(self, request: RenderRequest) -> int:
        return sum(1 for j in self._jobs if j.request is request)

    def _remaining_full(self, request: RenderRequest) -> int:
        return sum(1 for j in self._jobs if j.request is request and j.phase is Phase.FULL)

    def _run(self, job: _Job) -> RenderedTile:
        req = job.request
        key = job.key
        base: dict[str, Any] = dict(target=req.target, generation=req.generation, method=job.method,
                                    phase=job.phase, zoom=key.zoom, u0=int(job.lattice.u0), v0=int(job.lattice.v0),
                                    note=job.note, view_zoom=req.lattice.zx, full_remaining=self._remaining_full(req))
        if job.error is not None:
            self._jobs = [j for j in self._jobs if j.request is not req]
            return RenderedTile(rgb=None, error=job.error, remaining=0, **base)
        try:
            upscaler = self.get_upscaler(job.method)
            untrained = not upscaler.weights.trained
            cached = self._cached(key)
            if cached is not None:
                batched = self._batched.pop(key, None)
                if batched is not None:
                    self.decoded_tiles += 1
                    return RenderedTile(rgb=cached, seconds=batched, remaining=self._remaining(req),
                                        untrained=untrained, **base)
                return RenderedTile(rgb=cached, from_cache=True, remaining=self._remaining(req),
                                    untrained=untrained, **base)
            start = time.perf_counter()
            rgb = self._decode_together(job)
            if rgb is None:
                rgb = to_display(self.decode(job.method, req.image_id, job.lattice))
                self._record_rate(job.method, job.lattice.width * job.lattice.height, time.perf_counter() - start)
            seconds = self._batched.pop(key, time.perf_counter() - start)
        except Exception as error:
            # One failing method must not take the viewer down: report it and
            # drop the rest of this request.
            self._jobs = [j for j in self._jobs if j.request is not req]
            return RenderedTile(rgb=None, error=f"{type(error).__name__}: {error}", remaining=0, **base)
        self._store(key, rgb)
        self.decoded_tiles += 1
        return RenderedTile(rgb=rgb, seconds=seconds, remaining=self._remaining(req), untrained=untrained, **base)

    def _decode_together(self, job: _Job) -> np.ndarray | None:
        """Enlarging bicubic costs less than its per-call overhead per tile:
        decode this request's pending bicubic tiles at this zoom as one block
        (same lattice, same pixels) and hand the neighbours to their own jobs
        through the tile cache. None when not worth it (shrinking costs per
        input pixel and goes tile by tile, so the first tile shows at once)."""
        if job.method != DOWNSCALE_METHOD or job.key.zoom <= 1.0:
            return None
        group = [job] + [j for j in self._jobs if j.request is job.request and j.method == job.method
                         and j.phase == job.phase and j.key.zoom == job.key.zoom and j.error is None
                         and not self._has(j.key)]
        u0, v0 = min(int(j.lattice.u0) for j in group), min(int(j.lattice.v0) for j in group)
        u1 = max(int(j.lattice.u0) + j.lattice.width for j in group)
        v1 = max(int(j.lattice.v0) + j.lattice.height for j in group)
        if len(group) < 2 or (u1 - u0) * (v1 - v0) > 2 * sum(j.lattice.width * j.lattice.height for j in group):
            return None
        start = time.perf_counter()
        zoom = job.lattice.zx
        rgb = self.decode(job.method, job.request.image_id, Lattice(zoom, zoom, float(u0), float(v0), u1 - u0, v1 - v0))
        share = (time.perf_counter() - start) / len(group)
        if len(self._batched) > 4096:  # left over by superseded requests
            self._batched.clear()
        for j in group[1:]:
            c, r = int(j.lattice.u0) - u0, int(j.lattice.v0) - v0
            self._store(j.key, to_display(rgb[r:r + j.lattice.height, c:c + j.lattice.width]))
            self._batched[j.key] = share
        self._batched[job.key] = share
        c, r = int(job.lattice.u0) - u0, int(job.lattice.v0) - v0
        return to_display(rgb[r:r + job.lattice.height, c:c + job.lattice.width])

    def render(self, request: RenderRequest, should_stop: Callable[[], bool] | None = None) -> Iterator[RenderedTile]:
        """All tiles of one request, in order; stops early (before the next
        tile) when the request goes stale or `should_stop()` says so."""
        self.submit(request)
        while True:
            if should_stop is not None and should_stop():
                self.cancel(request.target)
                return
            if self.generations.is_stale(request.generation, request.target):
                self.cancel(request.target)
                return
            if not any(j.request is request for j in self._jobs):
                return
            job = min((j for j in self._jobs if j.request is request), key=self._priority)
            self._jobs.remove(job)
            yield self._run(job)


class CachedTiles:
    """One method's tiles of one image in a Renderer's cache, as an export's
    `TileSource` (inference/export.py): an export on the panes' lattice copies
    the tiles they decoded and decodes only the rest, which it leaves in the
    cache for the panes. Counts what it reused and what it had to decode."""

    def __init__(self, renderer: "Renderer", method: str, image_id: str) -> None:
        self.renderer, self.method, self.image_id = renderer, method, image_id
        self.tile = renderer.tile
        self.weights = weights_id(renderer.get_upscaler(method))
        self.reused = 0
        self.decoded = 0

    def aligned(self, lattice: Lattice) -> bool:
        z = lattice.zx
        return (lattice.zy == z and canonical_zoom(z) == z and float(lattice.u0).is_integer()
                and float(lattice.v0).is_integer() and lattice.u0 >= 0 and lattice.v0 >= 0)

    def _key(self, block: Lattice) -> TileKey:
        u0, v0 = int(block.u0), int(block.v0)
        return TileKey(self.method, self.weights, self.image_id, block.zx, u0 // self.tile, v0 // self.tile,
                       block_of(block))

    def cached(self, block: Lattice) -> np.ndarray | None:
        rgb = self.renderer._cached(self._key(block))
        if rgb is not None:
            self.reused += 1
        return rgb

    def store(self, block: Lattice, rgb: np.ndarray) -> None:
        self.decoded += 1
        self.renderer._store(self._key(block), to_display(rgb))


def assemble(tiles: list[RenderedTile], lattice: Lattice, phase: Phase = Phase.FULL) -> np.ndarray:
    """The uint8 image a pane shows for `lattice` from tiles at its zoom
    (zeros where no tile covers it): what tests and screenshots compare."""
    out = np.zeros((lattice.height, lattice.width, 3), dtype=np.uint8)
    for t in tiles:
        if t.rgb is None or t.phase != phase or t.zoom != lattice.zx:
            continue
        h, w = t.rgb.shape[:2]
        c0, r0 = t.u0 - int(lattice.u0), t.v0 - int(lattice.v0)
        a0, b0 = max(0, c0), max(0, r0)
        a1, b1 = min(lattice.width, c0 + w), min(lattice.height, r0 + h)
        if a1 > a0 and b1 > b0:
            out[b0:b1, a0:a1] = t.rgb[b0 - r0:b1 - r0, a0 - c0:a1 - c0]
    return out


def clip_to_image(lattice: Lattice, image_w: int, image_h: int) -> Lattice | None:
    """The part of a block (on a viewer lattice: integer offsets) whose pixel
    centres lie inside the image; None when there is none."""
    if lattice.zx != lattice.zy:
        raise ValueError("clip_to_image expects a square lattice")
    cols, rows = image_extent(lattice.zx, image_w, image_h)
    u0, v0 = max(0, int(lattice.u0)), max(0, int(lattice.v0))
    u1 = min(cols, int(lattice.u0) + lattice.width)
    v1 = min(rows, int(lattice.v0) + lattice.height)
    if u1 <= u0 or v1 <= v0:
        return None
    return Lattice(lattice.zx, lattice.zy, float(u0), float(v0), u1 - u0, v1 - v0)


def rect_lattice(x0: float, y0: float, x1: float, y1: float, zoom: float, image_w: int, image_h: int) -> Lattice | None:
    """The block of the lattice at `zoom` whose pixel centres fall in the
    rectangle [x0, x1) x [y0, y1) of the image: the pixels a pane shows there."""
    z = canonical_zoom(zoom)
    cols, rows = image_extent(z, image_w, image_h)
    u0 = max(0, math.ceil(x0 * z - 0.5))
    v0 = max(0, math.ceil(y0 * z - 0.5))
    u1 = min(cols, math.ceil(x1 * z - 0.5))
    v1 = min(rows, math.ceil(y1 * z - 0.5))
    if u1 <= u0 or v1 <= v0:
        return None
    return Lattice(z, z, float(u0), float(v0), u1 - u0, v1 - v0)
