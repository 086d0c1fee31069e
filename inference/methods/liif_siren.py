"""LIIF + SIREN (Jiang): LIIF with the decoder's ReLUs replaced by sine
activations, sin(w0 (W x + b)), w0 = 30 ("SIREN-30"; 15 is the variant).

Everything else is LIIF: 3x3 unfolding, local ensemble, cell decoding, input
[z (576), rel_coord (2), rel_cell (2)] = 580.

Depth: the paper gives "the same number of hidden layers (5) and the same
hidden size (256)" for its ReLU baseline and SIREN. Its ReLU baseline is
LIIF's decoder (its numbers are LIIF's), which has 5 linear layers, i.e. 4
hidden layers of 256; so "5" counts linear layers, and the default here is
the LIIF layout [256] * 4. Pass hidden=[256] * 5 for the other reading.

Initialisation (SIREN): first layer weights U(-1/n, 1/n), every later layer
(the linear output included, as in SIREN) U(-sqrt(6/n)/w0, sqrt(6/n)/w0),
n = fan-in; biases keep PyTorch's default, as SIREN does.

Exact speed-ups: the first layer's latent part w0 (W0[:, :576] z + b0) is
computed once per LR pixel; w0 is folded into each layer's weights and bias
(sin(w0 (W x + b)) = sin((w0 W) x + w0 b)), so no pass multiplies by it, and
each sine runs in place on its layer's output when no gradient is needed.

Precision: sin(w0 x) multiplies any rounding of x by w0 = 30. The first
layer's argument, w0 (W0 [z, rel, cell] + b0), can be large, so it stays fp32
(weights, per-LR-pixel map, coordinate columns, sine) at every precision.
The later layers take sines, bounded by 1, whose bf16 rounding is no worse
than a ReLU layer's: at a reduced precision (`cast_for_inference`) they run
in it, their outputs and sines too. `bench --precision-check` measures the
whole.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from inference.registry import register

from .base import FeatureWindow, ImplicitSR, add_product, local_ensemble, project, unfold3x3


class SirenMLP(nn.Module):
    """Linear layers with sin(omega0 * x) between them and a linear output."""

    # Linear layers whose weights the method reads directly; see MLP.layers.
    layers: Any

    def __init__(self, in_dim: int, hidden: list[int], out_dim: int, omega0: float) -> None:
        super().__init__()
        self.omega0 = omega0
        dims = [in_dim, *hidden, out_dim]
        linears = [nn.Linear(a, b) for a, b in itertools.pairwise(dims)]
        self.layers = nn.ModuleList(linears)
        with torch.no_grad():
            for i, layer in enumerate(linears):
                n = layer.in_features
                bound = 1.0 / n if i == 0 else math.sqrt(6.0 / n) / omega0
                layer.weight.uniform_(-bound, bound)

    def hidden_from(self, first_preactivation: torch.Tensor) -> torch.Tensor:
        """The rest of the network, given the first layer's output W0 x + b0."""
        return self.hidden_from_scaled(self.omega0 * first_preactivation)

    def hidden_from_scaled(self, scaled_first: torch.Tensor) -> torch.Tensor:
        """The rest of the network, given omega0 (W0 x + b0)."""
        lead = scaled_first.shape[:-1]
        h = torch.sin(scaled_first.reshape(-1, scaled_first.shape[-1]))
        for layer in self.layers[1:-1]:
            # omega0 (W h + b) in one addmm (alpha, beta): no separate pass over
            # the activation to scale it, forward or backward.
            h = torch.sin(torch.addmm(layer.bias, h, layer.weight.t(), beta=self.omega0, alpha=self.omega0))
        return self.layers[-1](h).reshape(*lead, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden_from(self.layers[0](x))


class LIIFSiren(ImplicitSR):
    method_name = "liif-siren"

    def __init__(self, encoder_spec: dict[str, Any] | None = None, hidden: list[int] | None = None,
                 omega0: float = 30.0, local_ensemble: bool = True, cell_decode: bool = True) -> None:
        super().__init__(encoder_spec)
        self.hidden = list(hidden or [256, 256, 256, 256])
        self.omega0 = omega0
        self.local_ensemble = local_ensemble
        self.cell_decode = cell_decode
        self.latent_dim = self.encoder.out_dim * 9
        self.imnet = SirenMLP(self.latent_dim + 2 + (2 if cell_decode else 0), self.hidden, 3, omega0)

    def cast_for_inference(self, decoder: torch.dtype, encoder: torch.dtype) -> ImplicitSR:
        """The first layer stays fp32 whatever is asked (see Precision above)."""
        super().cast_for_inference(decoder, encoder)
        self.imnet.layers[0].float()
        return self

    def _position(self, rel: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        return torch.cat((rel, 2.0 * cell), -1) if self.cell_decode else rel

    def prepare(self, feat: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.autocast(feat.device.type, enabled=False):
            h0 = project(unfold3x3(feat.float()), self.imnet.layers[0], 0, self.latent_dim, bias=True)
            return {"h0": h0 * self.omega0}

    def query(self, window: FeatureWindow, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        w0 = self.omega0
        layers = self.imnet.layers
        w_pos = layers[0].weight[:, self.latent_dim:] * w0
        hidden_dtype = layers[1].weight.dtype
        # sin in place where autograd does not need its input (decoding, not training).
        sine = torch.sin if torch.is_grad_enabled() else torch.Tensor.sin_
        hidden = [(layer.weight.float().mul(w0).to(hidden_dtype), layer.bias.float().mul(w0).to(hidden_dtype))
                  for layer in layers[1:-1]]

        def member(iy: torch.Tensor, ix: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
            h0 = window.gather("h0", iy, ix).float()
            pos = self._position(rel, cell.float())
            h = sine(add_product(h0.flatten(0, -2), pos.flatten(0, -2), w_pos.t())).to(hidden_dtype)
            for weight, bias in hidden:
                h = sine(torch.addmm(bias, h, weight.t()))
            return F.linear(h, layers[-1].weight, layers[-1].bias).float().view(*h0.shape[:-1], -1)

        with torch.autocast(coord.device.type, enabled=False):
            return local_ensemble(coord, window.image_h, window.image_w, member, self.local_ensemble)

    def query_plain(self, feat: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Reference computation: the whole 580-d input through the whole
        SIREN. Used to test `query`."""
        window = FeatureWindow.whole({"z": unfold3x3(torch.nn.functional.pad(feat, [1] * 4))})

        def member(iy: torch.Tensor, ix: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
            return self.imnet(torch.cat((window.gather("z", iy, ix), self._position(rel, cell)), -1))

        return local_ensemble(coord, window.image_h, window.image_w, member, self.local_ensemble)


@register("liif-siren", display="LIIF-SIREN", paper="Jiang: Super-Resolution With Local Implicit Image Function "
          "and SIREN", bf16="all")
def build_liif_siren(**args: Any) -> LIIFSiren:
    return LIIFSiren(**args)
