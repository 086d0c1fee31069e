"""What every encoder declares besides its forward pass."""

from __future__ import annotations

from torch import nn


class Encoder(nn.Module):
    """(B, 3, h, w) images in [-1, 1] -> (B, out_dim, h, w) features.

    `receptive_radius`: pixels of context each side that one output feature
    depends on, so that a tile encoded with this margin equals the one-pass
    result."""

    out_dim: int
    receptive_radius: int
