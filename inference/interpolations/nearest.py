"""Nearest-neighbour interpolation through the same interface as every method:
each output pixel copies the input pixel its centre falls in, so at zoom n
every input pixel becomes an exact n x n block. For pixel-peeping: it shows
the input's own pixels, with no smoothing to hide or invent detail.

The lattice's pixel centres decide (x = (u0 + c + 1/2) / zx, pixel floor(x)),
so tiles are seamless and a crop equals the matching part of the whole image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from inference.geometry import Lattice
from inference.imageio.pixels import to_float
from inference.registry import register_interpolation
from inference.upscaler import Upscaler, blank_decode, pick_device
from inference.weights import WeightsInfo


@register_interpolation(order=1)
class NearestUpscaler(Upscaler):
    name = "nearest"
    display = "Nearest"
    paper = "Nearest-neighbour interpolation: each output pixel copies the input pixel under its centre"

    def __init__(self, device: torch.device | str | None = None) -> None:
        # The copy is index arithmetic on the CPU whatever the device: a GPU
        # would only add two transfers.
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.weights = WeightsInfo(trained=True, source="no weights (interpolation)")

    def encode(self, image: np.ndarray) -> np.ndarray:
        """(h, w, 3) float32 in [0, 1]."""
        arr = np.asarray(image)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"expected an (h, w, 3) RGB image, got shape {arr.shape}")
        return np.ascontiguousarray(to_float(arr))

    def decode_lattice(self, features: np.ndarray, lattice: Lattice,
                       progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        h, w = features.shape[:2]
        out, inside = blank_decode(lattice, w, h)
        if inside is not None:
            r0, c0, r1, c1 = inside.r0, inside.c0, inside.r1, inside.c1
            rows = np.clip(np.floor(lattice.ys()[r0:r1]).astype(np.int64), 0, h - 1)
            cols = np.clip(np.floor(lattice.xs()[c0:c1]).astype(np.int64), 0, w - 1)
            out[r0:r1, c0:c1] = np.clip(features[rows[:, None], cols[None, :]], 0.0, 1.0)
        if progress is not None:
            progress(1, 1)
        return out
