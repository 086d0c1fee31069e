"""LIIF (Chen, Liu, Wang, CVPR 2021): local implicit image function.

3x3 feature unfolding, local ensemble over the four nearest latents, cell
decoding, and a 580 -> 256x4 -> 3 ReLU MLP on [z, rel_coord, rel_cell].

Exact speed-up: the first layer's latent part W0[:, :576] z + b0 is computed
once per LR pixel (`prepare`); a query only adds the 4 coordinate/cell columns.
"""

from __future__ import annotations

from typing import Any

import torch

from inference.registry import register

from .base import MLP, FeatureWindow, ImplicitSR, add_product, local_ensemble, project, relu_, run_layers, unfold3x3


class LIIF(ImplicitSR):
    method_name = "liif"

    def __init__(self, encoder_spec: dict[str, Any] | None = None, hidden: list[int] | None = None,
                 local_ensemble: bool = True, cell_decode: bool = True) -> None:
        super().__init__(encoder_spec)
        self.hidden = list(hidden or [256, 256, 256, 256])
        self.local_ensemble = local_ensemble
        self.cell_decode = cell_decode
        self.latent_dim = self.encoder.out_dim * 9
        self.imnet = MLP(self.latent_dim + 2 + (2 if cell_decode else 0), self.hidden, 3)

    def prepare(self, feat: torch.Tensor) -> dict[str, torch.Tensor]:
        first = self.imnet.layers[0]
        return {"h0": project(unfold3x3(feat), first, 0, self.latent_dim, bias=True)}

    def query(self, window: FeatureWindow, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        layers = self.imnet.layers
        w_pos = layers[0].weight[:, self.latent_dim:]

        def member(iy: torch.Tensor, ix: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
            pos = torch.cat((rel, 2.0 * cell), -1) if self.cell_decode else rel
            h0 = window.gather("h0", iy, ix)
            # One pass: the prepared rows plus the coordinate columns, then ReLU in place.
            h = relu_(add_product(h0.flatten(0, -2), pos.flatten(0, -2), w_pos.t()))
            return run_layers(layers[2:], h.view(*h0.shape))

        return local_ensemble(coord, window.image_h, window.image_w, member, self.local_ensemble)

    def query_plain(self, feat: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Reference computation without the per-pixel projection: the whole
        580-d input through the whole MLP. Used to test `query`."""
        window = FeatureWindow.whole({"z": unfold3x3(torch.nn.functional.pad(feat, [1] * 4))})

        def member(iy: torch.Tensor, ix: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
            parts = [window.gather("z", iy, ix), rel] + ([2.0 * cell] if self.cell_decode else [])
            return self.imnet(torch.cat(parts, -1))

        return local_ensemble(coord, window.image_h, window.image_w, member, self.local_ensemble)


NAME = "liif"


@register(NAME, display="LIIF", paper="Chen, Liu, Wang: Learning Continuous Image Representation with Local "
          "Implicit Image Function (CVPR 2021)", bf16="all")
def build_liif(**args: Any) -> LIIF:
    return LIIF(**args)
