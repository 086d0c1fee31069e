"""EDSR-baseline encoder (Lim et al. 2017) without upsampler or mean shift.

Module names follow the public LIIF checkpoints (head.0, body.{0..15}.body.{0,2},
body.16) so their state dicts load without renaming.
"""

from __future__ import annotations

import torch
from torch import nn

from .encoder import Encoder


def _conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class ResBlock(nn.Module):
    def __init__(self, features: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv3(features, features), nn.ReLU(inplace=True), _conv3(features, features))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # res_scale 1 (EDSR-baseline's): skip a pass over the activation that changes nothing.
        body = self.body(x)
        return x + (body if self.res_scale == 1 else body * self.res_scale)


class EDSRBaseline(Encoder):
    def __init__(self, n_resblocks: int = 16, n_feats: int = 64, res_scale: float = 1.0, in_channels: int = 3) -> None:
        super().__init__()
        self.head = nn.Sequential(_conv3(in_channels, n_feats))
        blocks: list[nn.Module] = [ResBlock(n_feats, res_scale) for _ in range(n_resblocks)]
        blocks.append(_conv3(n_feats, n_feats))
        self.body = nn.Sequential(*blocks)
        self.out_dim = n_feats
        # Every 3x3 conv widens the receptive field by one pixel each side; a
        # tile encoded with this much margin equals the one-pass result.
        self.receptive_radius = 2 * n_resblocks + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.head(x)
        return self.body(head) + head
