"""A-LIIF (Li, Dai, Li, Zou, Xia): adaptive local implicit image function.

LIIF's input [z (576), rel_coord (2), rel_cell (2)] = 580, 3x3 unfolding,
local ensemble and cell decoding. Per query (and ensemble member):

- an expansion network, MLP 580 -> 256 x 4 -> K (ReLU; the paper's "5-layer
  256-neuron MLP"), gives K = 10 scores, L2-normalised over K as in the
  public code (the paper's text says normalised to sum 1; the released
  model, whose numbers are published, divides by the L2 norm);
- K basis MLPs, each 580 -> 16 -> 16 -> 16 -> 16 -> 3 with ReLU, are combined
  with those scores.

Mixing: by default the scores mix the basis MLPs' *weights and biases*, layer
by layer, so each query is decoded by its own MLP with layer l equal to
sum_k c_k (W_k^l, b_k^l), ReLU after the mix. This is what the public code
does (so it is what produced the published PSNR), and it fits Eq. 2, whose
ReLU sits outside the score-weighted sum. `mixing="outputs"` instead runs the
K MLPs separately and mixes their RGB outputs (a plain reading of "a weighted
linear combination of K MLPs"); it is kept for comparison.

Initialisation: PyTorch's nn.Linear default for every layer of every basis
MLP (each basis is initialised like its own 16-wide MLP).

Exact speed-up: the latent columns of the expansion network's first layer
(256 channels) and of the K basis MLPs' first layers (K x 16 = 160 channels)
are computed once per LR pixel, biases included. Mixing is linear in the
scores, so mixing the projected first layers equals projecting the mixed one.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from inference.registry import register

from .base import MLP, FeatureWindow, ImplicitSR, add_product, local_ensemble, project, relu_, run_layers, unfold3x3

MIXINGS = ("weights", "outputs")


class ALIIF(ImplicitSR):
    method_name = "a-liif"

    def __init__(self, encoder_spec: dict[str, Any] | None = None, expansion_hidden: list[int] | None = None,
                 bases: int = 10, basis_hidden: list[int] | None = None, mixing: str = "weights",
                 local_ensemble: bool = True, cell_decode: bool = True) -> None:
        super().__init__(encoder_spec)
        if mixing not in MIXINGS:
            raise ValueError(f"mixing must be one of {MIXINGS}, got {mixing!r}")
        self.expansion_hidden = list(expansion_hidden or [256, 256, 256, 256])
        self.bases = bases
        self.basis_hidden = list(basis_hidden or [16, 16, 16, 16])
        self.mixing = mixing
        self.local_ensemble = local_ensemble
        self.cell_decode = cell_decode
        self.latent_dim = self.encoder.out_dim * 9
        in_dim = self.latent_dim + 2 + (2 if cell_decode else 0)
        self.expansion = MLP(in_dim, self.expansion_hidden, bases)
        # First layers of all K bases stacked: rows [k * h0, (k + 1) * h0) are basis k.
        self.basis_first = nn.Linear(in_dim, bases * self.basis_hidden[0])
        dims = [*self.basis_hidden, 3]
        self.basis_weights = nn.ParameterList(
            nn.Parameter(torch.empty(bases, b, a)) for a, b in itertools.pairwise(dims))
        self.basis_biases = nn.ParameterList(nn.Parameter(torch.empty(bases, b)) for b in dims[1:])
        with torch.no_grad():
            for w, b in zip(self.basis_weights, self.basis_biases):
                bound = 1.0 / math.sqrt(w.shape[-1])  # nn.Linear's default range
                w.uniform_(-bound, bound)
                b.uniform_(-bound, bound)

    def _position(self, rel: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        return torch.cat((rel, 2.0 * cell), -1) if self.cell_decode else rel

    def scores(self, expansion_first: torch.Tensor) -> torch.Tensor:
        """Unit-L2-norm scores (..., K) from the expansion network's first
        layer output (before its ReLU; overwritten when decoding)."""
        hidden = torch.relu(expansion_first) if torch.is_grad_enabled() else relu_(expansion_first)
        return F.normalize(run_layers(self.expansion.layers[2:], hidden), dim=-1)

    def mix_bases(self, scores: torch.Tensor, basis_first: torch.Tensor) -> torch.Tensor:
        """RGB (..., 3) from the K basis MLPs, given the scores (..., K) and
        their stacked first-layer outputs (..., K * h0)."""
        lead = scores.shape[:-1]
        if self.mixing == "weights":
            return self._mix_weights(scores.reshape(-1, self.bases),
                                     basis_first.reshape(-1, self.bases, self.basis_hidden[0])).reshape(*lead, 3)
        c = scores.reshape(-1, self.bases, 1)
        h = torch.relu(basis_first.reshape(-1, self.bases, self.basis_hidden[0])).transpose(0, 1)  # (K, N, h0)
        last = len(self.basis_weights)
        for i, (w, b) in enumerate(zip(self.basis_weights, self.basis_biases)):
            h = torch.bmm(h, w.transpose(1, 2)) + b.unsqueeze(1)
            if i + 1 < last:
                h = torch.relu(h)
        return (c * h.transpose(0, 1)).sum(1).reshape(*lead, 3)

    def _mix_weights(self, c: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        """Weight mixing for scores c (N, K) and first-layer outputs pre (N, K, h0).

        Layer l of a query's MLP applied to h is sum_k c_k (W_k h + b_k)
        = (c (x) h) @ [W_1^T; ...; W_K^T] + c @ B: the outer product of the
        scores and the input, then one matrix multiply, instead of K outputs
        weighted and summed along a strided axis. It runs in fp32 whatever
        the decoder's precision: these are 16-wide layers, where bf16 saves
        no time on a CPU (its elementwise kernels are slower than fp32's) and
        would add rounding to every mix."""
        with torch.autocast(c.device.type, enabled=False):
            c = c.float()
            h = (c.unsqueeze(-1) * pre.float()).sum(1).relu_()
            last = len(self.basis_weights)
            for i, (w, b) in enumerate(zip(self.basis_weights, self.basis_biases)):
                k, out, inp = w.shape
                stacked = w.float().transpose(1, 2).reshape(k * inp, out)
                h = torch.addmm(c @ b.float(), (c.unsqueeze(-1) * h.unsqueeze(1)).flatten(1), stacked)
                if i + 1 < last:
                    h = h.relu_()
            return h

    def warm_start_from_liif(self, liif: dict[str, torch.Tensor]) -> list[str]:
        """The expansion network is LIIF's MLP up to its last hidden layer (same
        580 -> 256 x 4 input and widths): copy those four layers; the score
        layer and the bases start fresh."""
        own = self.state_dict()
        taken = {}
        for i in (0, 2, 4, 6):
            for part in ("weight", "bias"):
                src, dst = f"imnet.layers.{i}.{part}", f"expansion.layers.{i}.{part}"
                if src in liif and liif[src].shape == own[dst].shape:
                    taken[dst] = liif[src]
        self.load_state_dict(taken, strict=False)
        return sorted(taken)

    def prepare(self, feat: torch.Tensor) -> dict[str, torch.Tensor]:
        z = unfold3x3(feat)
        return {"e0": project(z, self.expansion.layers[0], 0, self.latent_dim, bias=True),
                "b0": project(z, self.basis_first, 0, self.latent_dim, bias=True)}

    def query(self, window: FeatureWindow, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        w_pos_e = self.expansion.layers[0].weight[:, self.latent_dim:]
        w_pos_b = self.basis_first.weight[:, self.latent_dim:]

        def member(iy: torch.Tensor, ix: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
            pos = self._position(rel, cell).flatten(0, -2)
            e0 = window.gather("e0", iy, ix)
            # The prepared rows plus the coordinate columns in one pass each (as LIIF).
            c = self.scores(add_product(e0.flatten(0, -2), pos, w_pos_e.t()).view(*e0.shape[:-1], -1))
            b = add_product(window.gather("b0", iy, ix).flatten(0, -2), pos, w_pos_b.t())
            return self.mix_bases(c, b).view(*e0.shape[:-1], 3)

        return local_ensemble(coord, window.image_h, window.image_w, member, self.local_ensemble)

    def query_plain(self, feat: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Reference computation: scores from the whole expansion network, then
        (for weight mixing) one explicitly mixed MLP per query, or (for output
        mixing) the K MLPs run one by one. Used to test `query`."""
        window = FeatureWindow.whole({"z": unfold3x3(F.pad(feat, [1] * 4))})
        h0 = self.basis_hidden[0]
        first_w = self.basis_first.weight.view(self.bases, h0, -1)
        first_b = self.basis_first.bias.view(self.bases, h0)
        layer_w = [first_w, *self.basis_weights]
        layer_b = [first_b, *self.basis_biases]

        def member(iy: torch.Tensor, ix: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
            x = torch.cat((window.gather("z", iy, ix), self._position(rel, cell)), -1)
            c = F.normalize(self.expansion(x), dim=-1)
            lead = x.shape[:-1]
            x, c = x.reshape(-1, x.shape[-1]), c.reshape(-1, self.bases)
            if self.mixing == "weights":
                h = x
                for i, (w, b) in enumerate(zip(layer_w, layer_b)):
                    w_q = torch.einsum("nk,koi->noi", c, w)  # each query's own layer
                    b_q = c @ b
                    h = torch.einsum("noi,ni->no", w_q, h) + b_q
                    if i + 1 < len(layer_w):
                        h = torch.relu(h)
                return h.reshape(*lead, 3)
            rgb: Any = 0  # a tensor after the first term
            for k in range(self.bases):
                h = x
                for i, (w, b) in enumerate(zip(layer_w, layer_b)):
                    h = F.linear(h, w[k], b[k])
                    if i + 1 < len(layer_w):
                        h = torch.relu(h)
                rgb = rgb + c[:, k:k + 1] * h
            return rgb.reshape(*lead, 3)

        return local_ensemble(coord, window.image_h, window.image_w, member, self.local_ensemble)


@register("a-liif", display="A-LIIF", paper="Li, Dai, Li, Zou, Xia: Adaptive Local Implicit Image Function for "
          "Arbitrary-Scale Super-Resolution", bf16="decoder")
def build_aliif(**args: Any) -> ALIIF:
    return ALIIF(**args)
