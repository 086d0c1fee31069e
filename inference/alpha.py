"""An input's transparency on an output lattice. The methods upscale colour
only (the RGB composited on neutral grey at load, inference/imageio/reading.py);
the alpha beside it is resampled by bicubic, the same kernel, antialiased when
shrinking, on the same lattice, for the panes' checkerboard and for exports
that keep it. No Qt.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .geometry import Lattice
from .interpolations.bicubic import BicubicUpscaler

# What an export records about its alpha channel ("Alpha" in its metadata).
ALPHA_KEY = "Alpha"
ALPHA_KEPT = "bicubic (the method upscales colour only)"


def alpha_dropped(fmt: str) -> str:
    """The record of an export whose format cannot hold the input's alpha."""
    return f"dropped: {fmt} cannot hold transparency (colour composited on 50% grey)"


class AlphaPlane:
    """The (h, w) alpha of an image, ready to be resampled onto lattices.

    It is kept as transparency (1 - alpha) in a three-channel copy for the
    bicubic decoder: outside the image the decoder gives 0, i.e. opaque, so
    lattice pixels beyond the image are left as the method drew them."""

    def __init__(self, alpha: np.ndarray) -> None:
        alpha = np.asarray(alpha, dtype=np.float32)
        if alpha.ndim != 2:
            raise ValueError(f"expected an (h, w) alpha, got shape {alpha.shape}")
        self.height, self.width = alpha.shape
        self._bicubic = BicubicUpscaler("cpu")
        clear = np.repeat((1.0 - np.clip(alpha, 0.0, 1.0))[..., None], 3, axis=2)
        self._features: Any = self._bicubic.encode(clear)

    def transparency(self, lattice: Lattice) -> np.ndarray:
        """(height, width) float32 of 1 - alpha on `lattice`, in [0, 1]."""
        return np.ascontiguousarray(self._bicubic.decode_lattice(self._features, lattice)[..., 0])

    def on_lattice(self, lattice: Lattice) -> np.ndarray:
        """(height, width) float32 alpha on `lattice`, in [0, 1]."""
        return 1.0 - self.transparency(lattice)
