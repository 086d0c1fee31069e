"""DIINN (Nguyen & Beksi): dual interactive implicit neural network, the
paper's final model (f) of Table 5.

3x3 feature unfolding, then the *nearest* latent only (no local ensemble):
each query is decoded from the LR pixel it falls in. Positional input
p = [local coordinate of the query w.r.t. that pixel's centre, in the
pixel's [-1, 1] frame (LIIF's rel_coord, (y, x)), 1/s].

Decoder of N layers, 256 wide (Eq. 2-5), a ReLU modulation branch on the
content z and a sine synthesis branch on position:

    m_0 = ReLU(W_0 z + b_0)             s_0 = m_0 * sin(W'_0 p + b'_0)
    m_i = ReLU(W_i [s_(i-1), z] + b_i)  s_i = m_i * sin(W'_i s_(i-1) + b'_i)

then a linear layer from s_(N-1) to RGB. PyTorch's default initialisation
(as the public code). No initialising layer on p ("IP: No" in Table 5).

1/s: the paper attaches one channel, 1/upscale ratio. `cell` is an output
pixel's size in LR pixels, i.e. 1/s per axis; for an anisotropic lattice the
mean of the two axes is used (exact for the usual isotropic zoom).

Exact speed-up: the z columns of every modulation layer (bias included) are
computed once per LR pixel in `prepare` (N maps of 256 channels).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from inference.registry import register

from .base import FeatureWindow, ImplicitSR, add_product, nearest_latent, project, relu_, unfold3x3


class DIINN(ImplicitSR):
    method_name = "diinn"
    # Linear layers whose weights are read directly; see MLP.layers.
    modulation: Any

    def __init__(self, encoder_spec: dict[str, Any] | None = None, width: int = 256, depth: int = 4) -> None:
        super().__init__(encoder_spec)
        self.width = width
        self.depth = depth
        self.latent_dim = self.encoder.out_dim * 9
        # Modulation layer i > 0 sees [s_(i-1), z] in that column order.
        self.modulation = nn.ModuleList(
            nn.Linear((0 if i == 0 else width) + self.latent_dim, width) for i in range(depth))
        self.synthesis = nn.ModuleList(nn.Linear(3 if i == 0 else width, width) for i in range(depth))
        self.out = nn.Linear(width, 3)

    @staticmethod
    def positional_input(rel: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """p = [local y, local x, 1/s] with 1/s the mean cell size in LR pixels."""
        return torch.cat((rel, cell.mean(-1, keepdim=True)), -1)

    def warm_start_from_liif(self, liif: dict[str, torch.Tensor]) -> list[str]:
        """The first modulation layer reads the unfolded latent like LIIF's first
        layer's latent columns: copy those (and the bias). The rest differ in
        role (products with the sine branch) and start fresh."""
        w, b = liif.get("imnet.layers.0.weight"), liif.get("imnet.layers.0.bias")
        first = self.modulation[0]
        if w is None or b is None or w.shape[0] != first.weight.shape[0] or w.shape[1] < self.latent_dim:
            return []
        with torch.no_grad():
            first.weight.copy_(w[:, :self.latent_dim])
            first.bias.copy_(b)
        return ["modulation.0.weight", "modulation.0.bias"]

    def prepare(self, feat: torch.Tensor) -> dict[str, torch.Tensor]:
        z = unfold3x3(feat)
        out = {}
        for i, layer in enumerate(self.modulation):
            start = 0 if i == 0 else self.width
            out[f"m{i}"] = project(z, layer, start, start + self.latent_dim, bias=True)
        return out

    def query(self, window: FeatureWindow, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        iy, ix, rel = nearest_latent(coord, window.image_h, window.image_w)
        lead = rel.shape[:-1]
        p = self.positional_input(rel, cell).reshape(-1, 3)
        s = torch.relu(window.gather("m0", iy, ix).reshape(p.shape[0], -1)) * torch.sin(self.synthesis[0](p))
        for i in range(1, self.depth):
            w_s = self.modulation[i].weight[:, :self.width]
            m = relu_(add_product(window.gather(f"m{i}", iy, ix).reshape(p.shape[0], -1), s, w_s.t()))
            s = m * torch.sin(self.synthesis[i](s))
        return self.out(s).view(*lead, 3)

    def query_plain(self, feat: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Reference computation: Eq. 2-5 on the gathered latent. Used to test `query`."""
        window = FeatureWindow.whole({"z": unfold3x3(torch.nn.functional.pad(feat, [1] * 4))})
        iy, ix, rel = nearest_latent(coord, window.image_h, window.image_w)
        z = window.gather("z", iy, ix)
        p = self.positional_input(rel, cell)
        s = torch.relu(self.modulation[0](z)) * torch.sin(self.synthesis[0](p))
        for i in range(1, self.depth):
            m = torch.relu(self.modulation[i](torch.cat((s, z), -1)))
            s = m * torch.sin(self.synthesis[i](s))
        return self.out(s)


@register("diinn", display="DIINN", paper="Nguyen, Beksi: Single Image Super-Resolution via a Dual Interactive "
          "Implicit Neural Network", bf16="all")
def build_diinn(**args: Any) -> DIINN:
    return DIINN(**args)
