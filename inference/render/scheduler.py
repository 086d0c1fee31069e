"""The scheduler: a `Renderer` that turns pane requests into decoded tiles,
previews before coarse passes before full decodes, stale work dropped.

Nothing here knows about Qt or threads beyond a lock: the Qt worker
(app/render_worker.py) calls `Renderer.submit` when a pane asks for a view and
`Renderer.next_result` one tile at a time, so that new requests, the stop flag
and stale generations are looked at between tiles.

A request decodes of each tile only the block it shows (the first view of a
pane costs its own pixels, not the 1.5-2x of whole tiles); a tile seen again
with more of it visible (a pan, a wider pane) becomes one block holding both
views, so panning stays cached: the part already cached is copied and only
the rest is decoded.
This module imports neither torch nor Qt.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import numpy as np

from inference.downscale import DOWNSCALE_METHOD, shown_method
from inference.geometry import Lattice, canonical_zoom, clip
from inference.registry import is_interpolation

from .caches import FeatureCache, TileCache, feature_key, weights_id
from .tiles import (
    DEFAULT_TILE,
    TileId,
    TileKey,
    around,
    block_of,
    covering_lattice,
    plan_tiles,
    tile_lattice,
    to_display,
    union_block,
)
from .view import snap_zoom

# The coarse pass decodes at zoom / factor and is scaled up for display. The
# factor is COARSE_FACTOR until the method's speed on this device is known;
# then it is picked so that the coarse pass takes about COARSE_TARGET_S (a slow
# method on a CPU gets a coarser first pass, a fast one a finer one), in steps
# of sqrt(2) so that nearby views share coarse tiles; and a method that decodes
# the whole pane within COARSE_SKIP_S gets no coarse pass at all: the pane is
# then sharp within the 1.5 s the product aims at, and a coarse pass (at least
# a quarter of the full pass's points) would only delay that. Measured on 2
# quiet CPU threads, 960x540 at x4: a coarse pass at x2 brought DIIF's sharp
# pane from 0.68 to 1.11 s and DIINN's from 0.86 to 1.25 s.
COARSE_FACTOR = 4.0
COARSE_TARGET_S = 0.7
COARSE_SKIP_S = 1.5
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
    Tiles come out one per `next_result()` call: cached tiles first, then the
    whole full pass of every side showing an instant method (an interpolation:
    `instant(name)`, default the registry's `is_interpolation`; a pane of it
    costs milliseconds, so it never waits behind a model), then the models'
    previews, coarse and full passes, panes interleaved. Instant methods get
    no preview or coarse pass. A request superseded by a newer generation for
    its target is dropped before its next tile starts.
    """

    def __init__(self, get_upscaler: Callable[[str], Any], *, tile: int = DEFAULT_TILE,
                 tile_budget_bytes: int = 512 << 20, feature_budget_bytes: int = 2 << 30,
                 generations: GenerationCounter | None = None, coarse_factor: float = COARSE_FACTOR,
                 adaptive_coarse: bool = True, instant: Callable[[str], bool] | None = None) -> None:
        self.get_upscaler = get_upscaler
        self.instant = instant or _is_instant
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
            self.tiles.forget_images(gone)
            self.features.forget_images(gone)
            self._jobs = [j for j in self._jobs if j.request.image_id not in gone]
            self._batched = {k: v for k, v in self._batched.items() if k.tile.image not in gone}
        self._images[image_id] = _Image(rgb)

    def image(self, image_id: str) -> np.ndarray:
        return self._images[image_id].rgb

    def has_image(self, image_id: str) -> bool:
        return image_id in self._images

    # -- decoding (also used by export and metrics) ---------------------------

    def encoded(self, method: str, image_id: str) -> tuple[Any, Any]:
        """(upscaler, features of the image), features from the cache."""
        upscaler = self.get_upscaler(method)
        key = feature_key(image_id, method, upscaler)
        feats = self.features.get(key)
        if feats is None:
            feats = upscaler.encode(self._images[image_id].rgb)
            self.features.put(key, feats)
        return upscaler, feats

    def cached_tiles(self, method: str, image_id: str) -> CachedTiles:
        """`method`'s decoded tiles of an image, for an export to reuse."""
        return CachedTiles(self, method, image_id)

    def decode(self, method: str, image_id: str, lattice: Lattice) -> np.ndarray:
        """float32 (H, W, 3) of `method` on any lattice block of the image."""
        upscaler, feats = self.encoded(method, image_id)
        out = upscaler.decode_lattice(feats, lattice)
        self.features.refresh_size(feature_key(image_id, method, upscaler))
        return out

    # -- requests -----------------------------------------------------------

    def effective_method(self, method: str, zoom: float) -> tuple[str, str]:
        """(method actually shown, note): at zoom <= 1 the antialiased bicubic."""
        return shown_method(method, zoom)

    def _planned(self, method: str, image_id: str, zoom: float, tiles: list[tuple[int, int]],
                 shown: Lattice | None, img: _Image) -> list[tuple[TileKey, Lattice]]:
        """(key, block) per tile: the part of the tile inside `shown` (what the
        pane shows), grown to take in the tile's cached block when part of it
        was seen before."""
        wid = weights_id(self.get_upscaler(method))
        out: list[tuple[TileKey, Lattice]] = []
        for tu, tv in tiles:
            whole = tile_lattice(zoom, tu, tv, self.tile, img.width, img.height)
            if whole is None:
                continue
            part = clip(whole, img.width, img.height, within=shown) if shown is not None else whole
            if part is None:
                continue
            key = TileKey(TileId(method, wid, image_id, zoom, tu, tv), block_of(part))
            had = self.tiles.largest_of(key.tile) if part != whole and not self.tiles.answers(key) else None
            if had is not None:
                # Panning across this tile, or the pane grew: one block holding
                # what was cached and what is shown now; only the rest is decoded.
                u0, v0, w, h = union_block(key.block, had.block)
                part = Lattice(whole.zx, whole.zy, float(u0), float(v0), w, h)
                key = replace(key, block=(u0, v0, w, h))
            out.append((key, part))
        return out

    def _to_decode(self, key: TileKey, block: Lattice) -> list[Lattice]:
        """What a decode of `block` (tile block `key`) will decode: all of it,
        or the parts around its tile's cached block (`_decode_around_cached`)."""
        inner = self.tiles.largest_within(key)
        if inner is None:
            return [block]
        return [Lattice(block.zx, block.zy, float(u), float(v), w, h) for u, v, w, h in around(key.block, inner.block)]

    def _planned_over(self, method: str, image_id: str, zoom: float, tiles: list[tuple[int, int]],
                      blocks: list[Lattice], img: _Image) -> list[tuple[TileKey, Lattice]]:
        """`_planned` at `zoom` for only the part of each tile that covers
        `blocks` (lattice blocks at another zoom): a coarse pass of the area
        a resized pane gained, not of all of it."""
        out: list[tuple[TileKey, Lattice]] = []
        covers = [covering_lattice(b, zoom) for b in blocks]
        for tu, tv in tiles:
            whole = tile_lattice(zoom, tu, tv, self.tile, img.width, img.height)
            parts = [p for c in covers if whole is not None and (p := clip(whole, img.width, img.height, within=c))]
            if whole is None or not parts:
                continue
            u0, v0, w, h = block_of(parts[0])
            for p in parts[1:]:
                u0, v0, w, h = union_block((u0, v0, w, h), block_of(p))
            out += self._planned(method, image_id, zoom, [(tu, tv)],
                                 Lattice(whole.zx, whole.zy, float(u0), float(v0), w, h), img)
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
        full_shown = clip(lat, img.width, img.height)
        full_blocks = self._planned(method, request.image_id, zoom, full_tiles, full_shown, img)
        jobs: list[_Job] = []

        def add(phase: Phase, blocks: list[tuple[TileKey, Lattice]], rank: int, job_note: str) -> None:
            for i, (key, block) in enumerate(blocks):
                cached = self.tiles.answers(key)
                jobs.append(_Job(request, phase, key.tile.method, key, block, 0 if cached else rank, (i, seq),
                                 job_note))

        missing = [(k, b) for k, b in full_blocks if not self.tiles.answers(k)]
        if request.progressive and missing and method != DOWNSCALE_METHOD and not self.instant(method):
            # Previews and coarse tiles only where full tiles are missing: a
            # resized pane keeps what it has and previews the area it gained.
            everything = len(missing) == len(full_blocks)
            gained = [piece for k, b in missing for piece in self._to_decode(k, b)]
            factor = self.coarse_factor_for(method, sum(b.width * b.height for b in gained))
            coarse_zoom = canonical_zoom(snap_zoom(zoom / factor)) if factor else 0.0
            coarse_blocks: list[tuple[TileKey, Lattice]] = []
            if coarse_zoom > 1.0:
                coarse_lat = covering_lattice(lat, coarse_zoom)
                coarse_tiles = plan_tiles(coarse_lat, self.tile, img.width, img.height)
                coarse_shown = clip(coarse_lat, img.width, img.height)
                if everything:
                    coarse_blocks = self._planned(method, request.image_id, coarse_zoom, coarse_tiles, coarse_shown,
                                                  img)
                else:
                    coarse_blocks = self._planned_over(method, request.image_id, coarse_zoom, coarse_tiles, gained,
                                                       img)
            if not coarse_blocks or not all(self.tiles.answers(k) for k, _ in coarse_blocks):
                preview_tiles = [(k.tile.tile_u, k.tile.tile_v) for k, _ in missing]
                preview = self._planned(DOWNSCALE_METHOD, request.image_id, zoom, preview_tiles, full_shown, img)
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
        except Exception as error:  # noqa: BLE001 - an upscaler that cannot be built: a tile failure
            self._jobs.append(_Job(request, Phase.FULL, request.method,
                                   TileKey(TileId(request.method, "", request.image_id, request.lattice.zx, 0, 0)),
                                   request.lattice, 0, (0, self._submitted), error=f"{type(error).__name__}: {error}"))
            return 1
        self._jobs.extend(jobs)
        return len(jobs)

    def forget_method(self, method: str) -> None:
        """`method`'s upscaler is being replaced (new weights): drop its cached
        features and tiles, and pending work that would decode with it. Tile
        keys name weights by file name only, so two files of the same name
        would otherwise share tiles."""
        self.features.forget_method(method)
        self.tiles.forget_method(method)
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
        since this job was planned), then the full tiles of instant methods
        (every interpolation pane is done before a model decodes anything),
        then the models' bicubic previews, coarse, full."""
        if job.error is None and self.tiles.answers(job.key):
            return 0, job.order
        if job.phase is Phase.FULL and self.instant(job.method):
            return 1, job.order
        return job.rank + 1, job.order

    def _remaining(self, request: RenderRequest) -> int:
        return sum(1 for j in self._jobs if j.request is request)

    def _remaining_full(self, request: RenderRequest) -> int:
        return sum(1 for j in self._jobs if j.request is request and j.phase is Phase.FULL)

    def _run(self, job: _Job) -> RenderedTile:
        req = job.request
        key = job.key
        base: dict[str, Any] = {
            "target": req.target, "generation": req.generation, "method": job.method, "phase": job.phase,
            "zoom": key.tile.zoom, "u0": int(job.lattice.u0), "v0": int(job.lattice.v0), "note": job.note,
            "view_zoom": req.lattice.zx, "full_remaining": self._remaining_full(req)}
        if job.error is not None:
            self._jobs = [j for j in self._jobs if j.request is not req]
            return RenderedTile(rgb=None, error=job.error, remaining=0, **base)
        try:
            upscaler = self.get_upscaler(job.method)
            untrained = not upscaler.weights.trained
            cached = self.tiles.block(key)
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
                rgb = self._decode_around_cached(job)
            if rgb is None:
                rgb = to_display(self.decode(job.method, req.image_id, job.lattice))
                self._record_rate(job.method, job.lattice.width * job.lattice.height, time.perf_counter() - start)
            seconds = self._batched.pop(key, time.perf_counter() - start)
        except Exception as error:  # noqa: BLE001 - see below
            # One failing method must not take the viewer down: report it and
            # drop the rest of this request.
            self._jobs = [j for j in self._jobs if j.request is not req]
            return RenderedTile(rgb=None, error=f"{type(error).__name__}: {error}", remaining=0, **base)
        self.tiles.store(key, rgb)
        self.decoded_tiles += 1
        return RenderedTile(rgb=rgb, seconds=seconds, remaining=self._remaining(req), untrained=untrained, **base)

    def _decode_around_cached(self, job: _Job) -> np.ndarray | None:
        """A block of a tile part of which is cached (a pane widened, or panned
        onto a tile it had seen part of): copy that part and decode only the
        rest, in at most four blocks of the same lattice (same pixels). None
        when nothing of it is cached."""
        inner = self.tiles.largest_within(job.key)
        cached = self.tiles.get(inner) if inner is not None else None
        if inner is None or cached is None:
            return None
        u0, v0, w, h = job.key.block
        out = np.empty((h, w, 3), dtype=np.uint8)
        a, b, cw, ch = inner.block
        out[b - v0:b - v0 + ch, a - u0:a - u0 + cw] = cached
        start, points = time.perf_counter(), 0
        for pu, pv, pw, ph in around(job.key.block, inner.block):
            part = Lattice(job.lattice.zx, job.lattice.zy, float(pu), float(pv), pw, ph)
            out[pv - v0:pv - v0 + ph, pu - u0:pu - u0 + pw] = to_display(
                self.decode(job.method, job.request.image_id, part))
            points += pw * ph
        self._record_rate(job.method, points, time.perf_counter() - start)
        return out

    def _decode_together(self, job: _Job) -> np.ndarray | None:
        """Enlarging bicubic costs less than its per-call overhead per tile:
        decode this request's pending bicubic tiles at this zoom as one block
        (same lattice, same pixels) and hand the neighbours to their own jobs
        through the tile cache. None when not worth it (shrinking costs per
        input pixel and goes tile by tile, so the first tile shows at once)."""
        if job.method != DOWNSCALE_METHOD or job.key.tile.zoom <= 1.0:
            return None
        group = [job] + [j for j in self._jobs if j.request is job.request and j.method == job.method
                         and j.phase == job.phase and j.key.tile.zoom == job.key.tile.zoom and j.error is None
                         and not self.tiles.answers(j.key)]
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
            self.tiles.store(j.key, to_display(rgb[r:r + j.lattice.height, c:c + j.lattice.width]))
            self._batched[j.key] = share
        self._batched[job.key] = share
        c, r = int(job.lattice.u0) - u0, int(job.lattice.v0) - v0
        return to_display(rgb[r:r + job.lattice.height, c:c + job.lattice.width])


def _is_instant(method: str) -> bool:
    """A method whose whole pane costs milliseconds: an interpolation (the
    registry's; bicubic, which also draws every method at zoom <= 1, always)."""
    return method == DOWNSCALE_METHOD or is_interpolation(method)


class CachedTiles:
    """One method's tiles of one image in a Renderer's cache, as an export's
    `TileSource` (inference/export.py): an export on the panes' lattice copies
    the tiles they decoded and decodes only the rest, which it leaves in the
    cache for the panes. Counts what it reused and what it had to decode."""

    def __init__(self, renderer: Renderer, method: str, image_id: str) -> None:
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
        return TileKey(TileId(self.method, self.weights, self.image_id, block.zx, u0 // self.tile, v0 // self.tile),
                       block_of(block))

    def cached(self, block: Lattice) -> np.ndarray | None:
        rgb = self.renderer.tiles.block(self._key(block))
        if rgb is not None:
            self.reused += 1
        return rgb

    def store(self, block: Lattice, rgb: np.ndarray) -> None:
        self.decoded += 1
        self.renderer.tiles.store(self._key(block), to_display(rgb))
