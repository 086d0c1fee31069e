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


def resample_matrix(centres: np.ndarray, zoom: float, size: int) -> tuple[np.ndarray, int, int]:
    """Weights (n_out, i1 - i0) over input pixels [i0, i1) for output pixels
    centred at `centres` (image units) when the output has `zoom` pixels per
    input pixel."""
    scale = max(1.0, 1.0 / zoom)  # > 1 when shrinking: widen the kernel
    support = 2.0 * scale
    lo = np.maximum(np.floor(centres - support + 0.5).astype(np.int64), 0)
    hi = np.minimum(np.floor(centres + support + 0.5).astype(np.int64), size)
    i0, i1 = int(lo.min()), int(hi.max())
    taps = np.arange(i0, i1, dtype=np.float64)
    weights = cubic((taps[None, :] + 0.5 - centres[:, None]) / scale)
    inside = (taps[None, :] >= lo[:, None]) & (taps[None, :] < hi[:, None])
    weights = np.where(inside, weights, 0.0)
    total = weights.sum(1, keepdims=True)
    weights /= np.where(total == 0, 1.0, total)
    return weights, i0, i1


class BicubicUpscaler(Upscaler):
    name = "bicubic"
    display = "Bicubic"

    def __init__(self, device: torch.device | str | None = None) -> None:
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.weights = WeightsInfo(trained=True, source="no weights (interpolation)")

    def encode(self, image: np.ndarray) -> torch.Tensor:
        return image_to_tensor(image)[0].to(self.device)

    @torch.no_grad()
    def decode_lattice(self, features: torch.Tensor, lattice: Lattice,
                       progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        _, h, w = features.shape
        out = np.zeros((lattice.height, lattice.width, 3), dtype=np.float32)
        inside = _inside_block(lattice, w, h)
        if inside is None:
            return out
        r0, r1, c0, c1 = inside
        wy, y0, y1 = resample_matrix(lattice.ys()[r0:r1], lattice.zy, h)
        wx, x0, x1 = resample_matrix(lattice.xs()[c0:c1], lattice.zx, w)
        src = features[:, y0:y1, x0:x1]
        my = torch.from_numpy(wy).to(self.device, torch.float32)
        mx = torch.from_numpy(wx).to(self.device, torch.float32)
        rgb = torch.einsum("ry,cyx,kx->rkc", my, src, mx).clamp_(0, 1)
        out[r0:r1, c0:c1] = rgb.cpu().numpy()
        if progress is not None:
            progress(1, 1)
        return out


def bicubic_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Whole-image resize to (width, height) with the same kernel."""
    up = BicubicUpscaler("cpu")
    h, w = image.shape[:2]
    return up.decode(up.encode(image), Region.whole(w, h), (width, height))

