"""Bicubic interpolation through the same interface as the learned methods.

Pillow's convention (Keys cubic, a = -0.5; weights renormalised over the taps
inside the image; support widened by 1/z when shrinking, i.e. antialiased),
evaluated at the lattice's pixel centres, so a whole-image decode matches
`PIL.Image.resize(..., BICUBIC)` on float data and tiles are seamless.

Speed: each axis is a banded matrix applied as a few dense blocks, each block
over only the input lines its outputs read (see `AxisBands`), so shrinking a
large image costs about (taps + block / zoom) multiply-adds per output instead
of a whole row of the input.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from inference.geometry import Lattice, Region
from inference.registry import register_interpolation
from inference.upscaler import Upscaler, blank_decode, image_to_tensor, pick_device
from inference.weights import WeightsInfo

A = -0.5


def cubic(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    near = ((A + 2) * x - (A + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * A
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def resample_taps(centres: np.ndarray, zoom: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """For output pixels centred at `centres` (image units) at `zoom` output
    pixels per input pixel: input indices (n_out, K) and their weights (n_out, K),
    K taps each (4 when enlarging, more when shrinking); unused taps weigh 0."""
    scale = max(1.0, 1.0 / zoom)  # > 1 when shrinking: widen the kernel
    support = 2.0 * scale
    lo = np.maximum(np.floor(centres - support + 0.5).astype(np.int64), 0)
    hi = np.minimum(np.floor(centres + support + 0.5).astype(np.int64), size)
    taps = int(np.ceil(2 * support)) + 1
    index = lo[:, None] + np.arange(taps)[None, :]
    weights = np.where(index < hi[:, None], cubic((index + 0.5 - centres[:, None]) / scale), 0.0)
    total = weights.sum(1, keepdims=True)
    weights /= np.where(total == 0, 1.0, total)
    return np.minimum(index, size - 1), weights


# Output lines per dense block: about BLOCK_INPUT_SPAN input lines per block,
# so a block's weights stay close to the taps it needs (a whole-axis dense
# matrix costs n_in multiply-adds per output, most of them with zeros) while
# each matmul is still big enough for BLAS.
BLOCK_INPUT_SPAN = 64
MIN_BLOCK, MAX_BLOCK = 16, 256
# Byte budget of the cache of per-axis block weights (tiles of one row or
# column of the tile grid share theirs).
BANDS_CACHE_BYTES = 32 << 20


def block_size(zoom: float, count: int) -> int:
    """Output lines per block: a power of two near zoom * BLOCK_INPUT_SPAN."""
    ideal = 2 ** round(math.log2(max(1.0, zoom * BLOCK_INPUT_SPAN)))
    return int(min(max(ideal, MIN_BLOCK), MAX_BLOCK, max(MIN_BLOCK, count)))


@dataclass(frozen=True)
class AxisBands:
    """One axis of the separable resample as dense blocks: output lines
    [i * block, (i + 1) * block) read input lines [lo[i], hi[i]) with weights
    matrices[i, :, :hi[i] - lo[i]] (zero-padded to the widest block)."""

    lo: np.ndarray
    hi: np.ndarray
    matrices: torch.Tensor  # (blocks, block, span) float32
    count: int

    @property
    def block(self) -> int:
        return int(self.matrices.shape[1])

    @property
    def nbytes(self) -> int:
        return self.matrices.numel() * self.matrices.element_size()

    def shifted(self, offset: int) -> AxisBands:
        return AxisBands(self.lo - offset, self.hi - offset, self.matrices, self.count)

    def _blocks(self) -> list[tuple[int, int, int, int, torch.Tensor]]:
        block = self.block
        return [(i * block, min(self.count, (i + 1) * block), lo, hi, self.matrices[i])
                for i, (lo, hi) in enumerate(zip(self.lo.tolist(), self.hi.tolist()))]

    def apply_rows(self, src: torch.Tensor) -> torch.Tensor:
        """(n_in, m) -> (count, m): each output line (row) a weighted sum of input rows."""
        out = src.new_empty(self.count, src.shape[1])
        for b0, b1, lo, hi, weights in self._blocks():
            torch.matmul(weights[:b1 - b0, :hi - lo], src[lo:hi], out=out[b0:b1])
        return out

    def apply_columns(self, src: torch.Tensor) -> torch.Tensor:
        """(m, n_in) -> (m, count): the same along columns."""
        out = src.new_empty(src.shape[0], self.count)
        for b0, b1, lo, hi, weights in self._blocks():
            out[:, b0:b1] = torch.matmul(src[:, lo:hi], weights[:b1 - b0, :hi - lo].t())
        return out


def axis_bands(zoom: float, origin: float, first: int, count: int, size: int, block: int,
               device: torch.device | str = "cpu") -> AxisBands:
    """Blocks for lattice lines first .. first + count - 1 of an axis with
    offset `origin` at `zoom` over `size` input pixels (centres computed as
    Lattice.xs() does, so a crop matches the whole bit for bit)."""
    centres = (origin + np.arange(first, first + count, dtype=np.float64) + 0.5) / zoom
    index, weights = resample_taps(centres, zoom, size)
    # Taps past the image were clamped onto its last pixel with weight zero:
    # only taps that weigh anything define a block's input range.
    valid = weights != 0
    lo_line = np.where(valid, index, size).min(1)
    hi_line = np.where(valid, index, -1).max(1) + 1
    n_blocks = -(-count // block)
    pad = n_blocks * block - count
    lo = np.pad(lo_line, (0, pad), mode="edge").reshape(n_blocks, block).min(1)
    hi = np.pad(hi_line, (0, pad), mode="edge").reshape(n_blocks, block).max(1)
    span = int((hi - lo).max())
    matrices = np.zeros((n_blocks, block, span), dtype=np.float32)
    line = np.broadcast_to(np.arange(count)[:, None], index.shape)[valid]
    which = line // block
    matrices[which, line % block, index[valid] - lo[which]] = weights[valid]
    return AxisBands(lo, hi, torch.from_numpy(matrices).to(device), count)


class _BandsCache:
    """Recently used AxisBands within a byte budget (shared by threads)."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._items: OrderedDict[tuple, AxisBands] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, *key: Any) -> AxisBands:
        with self._lock:
            bands = self._items.get(key)
            if bands is not None:
                self._items.move_to_end(key)
                return bands
        bands = axis_bands(*key)
        with self._lock:
            if key not in self._items and bands.nbytes <= self.budget_bytes:
                self._items[key] = bands
                self._bytes += bands.nbytes
                while self._bytes > self.budget_bytes:
                    _, old = self._items.popitem(last=False)
                    self._bytes -= old.nbytes
        return bands

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


_BANDS = _BandsCache(BANDS_CACHE_BYTES)


def clear_caches() -> None:
    """Forget cached block weights (benchmarks of a first visit use this)."""
    _BANDS.clear()


@register_interpolation(order=0)
class BicubicUpscaler(Upscaler):
    name = "bicubic"
    display = "Bicubic"
    paper = "Keys: Cubic Convolution Interpolation for Digital Image Processing (IEEE TASSP 1981)"

    def __init__(self, device: torch.device | str | None = None) -> None:
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.weights = WeightsInfo(trained=True, source="no weights (interpolation)")

    def encode(self, image: np.ndarray) -> torch.Tensor:
        """(3, h, w) float32; its memory is laid out (h, w, 3), which the decode relies on for speed."""
        return image_to_tensor(image)[0].to(self.device)

    @torch.no_grad()
    def decode_lattice(self, features: torch.Tensor, lattice: Lattice,
                       progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        _, h, w = features.shape
        out, inside = blank_decode(lattice, w, h)
        if inside is None:
            return out
        r0, c0, r1, c1 = inside.r0, inside.c0, inside.r1, inside.c1
        n_rows, n_cols = r1 - r0, c1 - c0
        dev = str(features.device)
        rows = _BANDS.get(lattice.zy, lattice.v0, r0, n_rows, h, block_size(lattice.zy, n_rows), dev)
        cols = _BANDS.get(lattice.zx, lattice.u0, c0, n_cols, w, block_size(lattice.zx, n_cols), dev)
        # Separable, as banded matmuls: rows first on the (h, w, 3) image seen
        # as (h, w * 3) (input rows are contiguous), then columns on the
        # intermediate laid out (rows, 3, w) so that the final (rows, cols, 3)
        # copy moves whole short runs (much cheaper than a transposed copy).
        x_lo, x_hi = int(cols.lo.min()), int(cols.hi.max())
        src = features.permute(1, 2, 0)[:, x_lo:x_hi].reshape(h, -1)
        tmp = rows.apply_rows(src).view(n_rows, x_hi - x_lo, 3).transpose(1, 2).reshape(n_rows * 3, x_hi - x_lo)
        rgb = cols.shifted(x_lo).apply_columns(tmp).clamp_(0, 1).cpu().view(n_rows, 3, n_cols)
        torch.from_numpy(out)[r0:r1, c0:c1].copy_(rgb.transpose(1, 2))
        if progress is not None:
            progress(1, 1)
        return out


def bicubic_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Whole-image resize to (width, height) with the same kernel."""
    up = BicubicUpscaler("cpu")
    h, w = image.shape[:2]
    return up.decode(up.encode(image), Region.whole(w, h), (width, height))

