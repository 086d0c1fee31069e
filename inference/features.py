"""Encoder features of one image, computed once and kept within a memory budget.

A small image is encoded in one pass. A large one is encoded lazily in tiles of
`tile` LR pixels, each with a margin of the encoder's receptive radius, so a
tile equals the one-pass result (up to floating-point summation order), and
only the tiles a view needs are ever computed. Tiles live in an LRU cache with
a byte budget, in the encoder's precision (bf16 or fp16 halve their memory).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn.functional as F

# Images up to this many LR pixels are encoded in one pass.
ONE_PASS_PIXELS = 1024 * 1024
DEFAULT_TILE = 256


class FeatureMap:
    def __init__(
        self,
        encode: Callable[[torch.Tensor], torch.Tensor],
        image: torch.Tensor,
        receptive_radius: int,
        *,
        tile: int = DEFAULT_TILE,
        one_pass_pixels: int = ONE_PASS_PIXELS,
        budget_bytes: int = 1 << 30,
        storage_dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        window_dtype: torch.dtype = torch.float32,
    ) -> None:
        """`image`: (1, 3, h, w), any device and memory layout; `encode` gets
        crops of it and returns features on `device` (default: the image's).
        The image is referenced, not copied: it must not change while these
        features are in use (tiles are encoded from it lazily). `window`
        returns `window_dtype` (the decoder's), whatever they are stored in."""
        self._encode = encode
        self.image = image
        self._device = torch.device(device) if device is not None else image.device
        self.height, self.width = int(image.shape[-2]), int(image.shape[-1])
        self.margin = int(receptive_radius)
        self.tile = int(tile)
        self.budget_bytes = int(budget_bytes)
        self.storage_dtype = storage_dtype
        self.window_dtype = window_dtype
        self._tiles: OrderedDict[tuple[int, int], torch.Tensor] = OrderedDict()
        self._bytes = 0
        self.tiles_encoded = 0
        self.one_pass = self.height * self.width <= one_pass_pixels
        self._whole: torch.Tensor | None = None
        if self.one_pass:
            with torch.no_grad():
                self._whole = self._encode(image).to(storage_dtype)

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def cached_bytes(self) -> int:
        whole = self._whole  # set exactly when one_pass
        return self._bytes if whole is None else whole.numel() * whole.element_size()

    def _tile(self, ty: int, tx: int) -> torch.Tensor:
        key = (ty, tx)
        if key in self._tiles:
            self._tiles.move_to_end(key)
            return self._tiles[key]
        t, m = self.tile, self.margin
        y0, x0 = ty * t, tx * t
        y1, x1 = min(self.height, y0 + t), min(self.width, x0 + t)
        py0, px0 = max(0, y0 - m), max(0, x0 - m)
        py1, px1 = min(self.height, y1 + m), min(self.width, x1 + m)
        with torch.no_grad():
            feat = self._encode(self.image[:, :, py0:py1, px0:px1])
        feat = feat[:, :, y0 - py0:y1 - py0, x0 - px0:x1 - px0].to(self.storage_dtype).contiguous()
        self.tiles_encoded += 1
        size = feat.numel() * feat.element_size()
        while self._tiles and self._bytes + size > self.budget_bytes:
            _, old = self._tiles.popitem(last=False)
            self._bytes -= old.numel() * old.element_size()
        self._tiles[key] = feat
        self._bytes += size
        return feat

    def window(self, y0: int, y1: int, x0: int, x1: int, halo: int = 0,
               dtype: torch.dtype | None = None) -> torch.Tensor:
        """Features of LR rows [y0 - halo, y1 + halo) and columns [x0 - halo, x1 + halo),
        zero outside the image (the encoder's own padding convention), in `dtype`
        (default `window_dtype`)."""
        ya, yb, xa, xb = y0 - halo, y1 + halo, x0 - halo, x1 + halo
        cy0, cy1 = max(0, ya), min(self.height, yb)
        cx0, cx1 = max(0, xa), min(self.width, xb)
        if self._whole is not None:  # one_pass
            inner = self._whole[:, :, cy0:cy1, cx0:cx1]
        else:
            t = self.tile
            rows = []
            for ty in range(cy0 // t, (cy1 - 1) // t + 1):
                cols = []
                for tx in range(cx0 // t, (cx1 - 1) // t + 1):
                    feat = self._tile(ty, tx)
                    sy0, sx0 = ty * t, tx * t
                    cols.append(feat[:, :, max(cy0, sy0) - sy0:min(cy1, sy0 + t) - sy0,
                                     max(cx0, sx0) - sx0:min(cx1, sx0 + t) - sx0])
                rows.append(torch.cat(cols, -1))
            inner = torch.cat(rows, -2)
        inner = inner.to(dtype or self.window_dtype)
        pad = [cx0 - xa, xb - cx1, cy0 - ya, yb - cy1]
        return F.pad(inner, pad) if any(pad) else inner
