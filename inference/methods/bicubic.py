"""Bicubic interpolation through the same interface as the learned methods.

Pillow's convention (Keys cubic, a = -0.5; weights renormalised over the taps
inside the image; support widened by 1/z when shrinking, i.e. antialiased),
evaluated at the lattice's pixel centres, so a whole-image decode matches
`PIL.Image.resize(..., BICUBIC)` on float data and tiles are seamless.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..geometry import Lattice, Region
from ..upscaler import Upscaler, WeightsInfo, _inside_block, image_to_tensor, pick_device

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


class BicubicUpscaler(Upscaler):
    name = "bicubic"
    display = "Bicubic"

    def __init__(self, device: torch.device | str | None = None) -> None:
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.weights = WeightsInfo(trained=True, source="no weights (interpolation)")

    def encode(self, image: np.ndarray) -> torch.Tensor:
        return image_to_tensor(image)[0].to(self.device)

    def _band_matrix(self, centres: np.ndarray, zoom: float, size: int) -> tuple[torch.Tensor, int, int]:
        """Dense (n_out, hi - lo) weights over input pixels [lo, hi)."""
        index, weights = resample_taps(centres, zoom, size)
        lo, hi = int(index.min()), int(index.max()) + 1
        matrix = np.zeros((len(centres), hi - lo), dtype=np.float32)
        np.add.at(matrix, (np.arange(len(centres))[:, None], index - lo), weights)
        return torch.from_numpy(matrix).to(self.device), lo, hi

    @torch.no_grad()
    def decode_lattice(self, features: torch.Tensor, lattice: Lattice,
                       progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        _, h, w = features.shape
        out = np.zeros((lattice.height, lattice.width, 3), dtype=np.float32)
        inside = _inside_block(lattice, w, h)
        if inside is None:
            return out
        r0, r1, c0, c1 = inside
        # Separable: two dense matmuls with banded weight matrices (BLAS beats
        # gathering the K taps by an order of magnitude on the CPU).
        my, y_lo, y_hi = self._band_matrix(lattice.ys()[r0:r1], lattice.zy, h)
        mx, x_lo, x_hi = self._band_matrix(lattice.xs()[c0:c1], lattice.zx, w)
        src = features[:, y_lo:y_hi, x_lo:x_hi]
        (n_r, n_y), (n_c, n_x) = my.shape, mx.shape
        if n_r * n_y * n_x + n_r * n_x * n_c <= n_y * n_x * n_c + n_r * n_y * n_c:
            rgb = torch.matmul(torch.matmul(my, src), mx.t())
        else:
            rgb = torch.matmul(my, torch.matmul(src, mx.t()))
        rgb = rgb.clamp_(0, 1).permute(1, 2, 0)
        out[r0:r1, c0:c1] = rgb.cpu().numpy()
        if progress is not None:
            progress(1, 1)
        return out


def bicubic_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Whole-image resize to (width, height) with the same kernel."""
    up = BicubicUpscaler("cpu")
    h, w = image.shape[:2]
    return up.decode(up.encode(image), Region.whole(w, h), (width, height))

