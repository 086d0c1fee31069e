"""The renderer's caches: decoded display tiles (with the index of the blocks
cached per tile) and encoder features, each an LRU within a byte budget, keyed
by typed keys; and the upscalers themselves, built once each."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from .tiles import TileId, TileKey


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


@dataclass(frozen=True)
class FeatureKey:
    """One image's encoder features: under one method's weights, or shared by
    every method with the same encoder (`method` empty, `weights` naming the
    encoder; see `feature_key`)."""

    image: str
    method: str
    weights: str


def feature_key(image: str, method: str, upscaler: Any) -> FeatureKey:
    """Where `method`'s features of an image are cached: under its encoder's
    identity where the upscaler has one (learned methods share one encoder),
    else under the method and its weights."""
    shared = upscaler.features_identity() if hasattr(upscaler, "features_identity") else None
    if shared is not None:
        return FeatureKey(image, "", f"encoder {shared}")
    return FeatureKey(image, method, weights_id(upscaler))


class TileCache(LRUCache[TileKey, np.ndarray]):
    """Decoded display tiles (uint8 RGB) keyed by TileKey: a block of a tile,
    which answers a request for itself or for any block it contains. An index
    by tile (`TileKey.tile`) lists the cached blocks that may contain a
    requested one; entries the cache evicted are pruned lazily."""

    def __init__(self, budget_bytes: int, size_of: Callable[[Any], int] = nbytes_of) -> None:
        super().__init__(budget_bytes, size_of)
        self._blocks: dict[TileId, list[TileKey]] = {}

    def holder(self, key: TileKey) -> TileKey | None:
        """The cached block that answers `key`: itself, or one containing it."""
        if key in self:
            return key
        for k in self._blocks.get(key.tile, ()):
            if k in self and k.contains(key):
                return k
        return None

    def answers(self, key: TileKey) -> bool:
        return self.holder(key) is not None

    def largest_within(self, key: TileKey) -> TileKey | None:
        """The largest cached block of `key`'s tile inside `key`'s block: what a
        decode of `key` can copy instead of decoding again (None: nothing)."""
        inside = [k for k in self._blocks.get(key.tile, ()) if k in self and key.contains(k) and k != key]
        return max(inside, key=lambda k: k.block[2] * k.block[3], default=None)

    def largest_of(self, tile: TileId) -> TileKey | None:
        """The largest cached block of `tile` (None: none of it is cached)."""
        cached = [k for k in self._blocks.get(tile, ()) if k in self]
        return max(cached, key=lambda k: k.block[2] * k.block[3], default=None)

    def seen(self, key: TileKey) -> bool:
        """True when some block of this tile is cached (the user has seen part of it)."""
        return any(k in self for k in self._blocks.get(key.tile, ()))

    def block(self, key: TileKey) -> np.ndarray | None:
        """The pixels of `key`, cut from the cached block that answers it (a miss: None)."""
        holder = self.holder(key)
        if holder is None:
            self.misses += 1
            return None
        rgb = self.get(holder)
        if rgb is None or holder == key:
            return rgb
        c, r = key.block[0] - holder.block[0], key.block[1] - holder.block[1]
        return np.ascontiguousarray(rgb[r:r + key.block[3], c:c + key.block[2]])

    def store(self, key: TileKey, rgb: np.ndarray) -> None:
        """Cache a decoded block; cached blocks of the same tile that it
        contains are dropped (same pixels)."""
        tid = key.tile
        others: list[TileKey] = []
        for k in self._blocks.get(tid, ()):
            if k == key or k not in self:
                continue
            if key.contains(k):
                self.pop(k)
            else:
                others.append(k)
        self.put(key, rgb)
        self._blocks[tid] = [*others, key]
        if len(self._blocks) > 2 * len(self) + 1024:  # tiles evicted since: rebuild the index
            index: dict[TileId, list[TileKey]] = {}
            for k in self.keys():
                index.setdefault(k.tile, []).append(k)
            self._blocks = index

    def clear(self) -> None:
        super().clear()
        self._blocks.clear()

    def forget_method(self, method: str) -> None:
        self.discard(lambda key: key.tile.method == method)

    def forget_images(self, images: set[str]) -> None:
        self.discard(lambda key: key.tile.image in images)


class FeatureCache(LRUCache[FeatureKey, Any]):
    """Encoder features per (image, encoder) or (image, method, weights), within a memory budget."""

    def forget_method(self, method: str) -> None:
        # Shared features (no method) stay: a method's new weights get their own key.
        self.discard(lambda key: key.method == method)

    def forget_images(self, images: set[str]) -> None:
        self.discard(lambda key: key.image in images)


def weights_id(upscaler: Any) -> str:
    """What names an upscaler's weights in cache keys."""
    weights = upscaler.weights
    return f"{'trained' if weights.trained else 'untrained'}:{weights.source}"


class UpscalerCache:
    """Upscalers built once each, by method name: what a Renderer's
    `get_upscaler` is (the render worker's and the bench's). `on_load(name,
    upscaler)` hears of each one built or put in."""

    def __init__(self, build: Callable[[str], Any],
                 on_load: Callable[[str, Any], None] | None = None) -> None:
        self._build = build
        self._on_load = on_load
        self._loaded: dict[str, Any] = {}

    def __call__(self, name: str) -> Any:
        if name not in self._loaded:
            self.put(name, self._build(name))
        return self._loaded[name]

    def __getitem__(self, name: str) -> Any:
        """The upscaler built for `name` (KeyError if none is yet)."""
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self._loaded

    def put(self, name: str, upscaler: Any) -> None:
        """Use `upscaler` for `name` from now on (new weights)."""
        self._loaded[name] = upscaler
        if self._on_load is not None:
            self._on_load(name, upscaler)

    def forget(self, name: str) -> None:
        """Build `name` afresh when next asked for."""
        self._loaded.pop(name, None)
