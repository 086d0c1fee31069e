"""RDN encoder (Zhang et al. 2018), configuration B, without upsampler.

Module names follow the public LIIF `rdn-liif.pth` checkpoint.
"""

from __future__ import annotations

import torch
from torch import nn

from .encoder import Encoder


class DenseConv(nn.Module):
    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, growth, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, self.conv(x)), 1)


class ResidualDenseBlock(nn.Module):
    def __init__(self, g0: int, growth: int, n_convs: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(*[DenseConv(g0 + i * growth, growth) for i in range(n_convs)])
        self.LFF = nn.Conv2d(g0 + n_convs * growth, g0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LFF(self.convs(x)) + x


class RDN(Encoder):
    def __init__(self, g0: int = 64, n_blocks: int = 16, n_convs: int = 8, growth: int = 64,
                 in_channels: int = 3) -> None:
        super().__init__()
        self.SFENet1 = nn.Conv2d(in_channels, g0, 3, padding=1)
        self.SFENet2 = nn.Conv2d(g0, g0, 3, padding=1)
        self.RDBs = nn.ModuleList([ResidualDenseBlock(g0, growth, n_convs) for _ in range(n_blocks)])
        self.GFF = nn.Sequential(nn.Conv2d(n_blocks * g0, g0, 1), nn.Conv2d(g0, g0, 3, padding=1))
        self.out_dim = g0
        self.receptive_radius = 2 + n_blocks * n_convs + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.SFENet1(x)
        x = self.SFENet2(f1)
        outs = []
        for block in self.RDBs:
            x = block(x)
            outs.append(x)
        return self.GFF(torch.cat(outs, 1)) + f1
