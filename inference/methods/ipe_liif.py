"""IPE-LIIF (Liu, Guo, Zhang): LIIF with the query's coordinate and cell
replaced by the integrated positional encoding (IPE) of the query pixel.

IPE averages the positional encoding over the query pixel's area. For a pixel
with centre c and radius r (half the edge), per axis and per frequency
w = 2^k, k = 0 .. L-1 (paper Eq. 4-6):

    E[sin(w x)] = sin(w c) sinc(w r),   E[cos(w x)] = cos(w c) sinc(w r),

with sinc(u) = sin(u) / u. The frequencies are plain powers of two with no
factor pi (the paper's Eq. 3 writes sin(x), ..., sin(2^(L-1) x)). Eq. 6 as
printed pulls the 1/(w r) of the sinc out as prefactors; it is the same
quantity as Eq. 4-5, which is what is computed here. As r -> 0 (large
scales) sinc -> 1 and IPE becomes plain PE.

Frame (paper Sec. 4.2): the centre is LIIF's rel_coord, the query relative to
the latent in that LR pixel's [-1, 1] frame (one LR pixel is 2 wide), and the
radius is (1/s, 1/s) in the same frame. An output pixel covers `cell` LR
pixels (cell = 1/s), i.e. 2 * cell units, so r = cell per axis; an
anisotropic lattice gets its own radius on each axis.

Decoder: input [z (576), IPE (4L = 40)], 4 hidden layers x 256, ReLU, with
the input concatenated to the input of every hidden layer after the first
(layer i > 0 sees [h_(i-1), z, IPE]); no cell input; LIIF's local ensemble.

Exact speed-up: the latent columns of every hidden layer (bias included) are
computed once per LR pixel in `prepare` (4 maps of 256 channels); a query
only adds the IPE columns and the previous hidden state.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from inference.registry import register

from .base import FeatureWindow, ImplicitSR, add_product, local_ensemble, project, relu_, relu_into, unfold3x3


def integrated_positional_encoding(centre: torch.Tensor, radius: torch.Tensor, frequencies: int) -> torch.Tensor:
    """IPE of axis-aligned boxes: centre, radius (..., A) -> (..., 2 * A * frequencies),
    laid out as [sin terms, cos terms], each frequency-major then axis."""
    omega = 2.0 ** torch.arange(frequencies, dtype=centre.dtype, device=centre.device)
    wc = (centre.unsqueeze(-1) * omega).transpose(-1, -2).flatten(-2)  # (..., L * A)
    if radius.dim() >= 2 and radius.stride(-2) == 0:
        # One radius for every query (a lattice's cell, expanded): its damping
        # once, broadcast (sinc is the dearest term per query otherwise).
        radius = radius[..., :1, :]
    wr = (radius.unsqueeze(-1) * omega).transpose(-1, -2).flatten(-2)
    # torch.sinc is sin(pi x) / (pi x); dividing by pi gives sin(u) / u, and 1 at u = 0.
    damping = torch.sinc(wr / torch.pi)
    return torch.cat((torch.sin(wc), torch.cos(wc)), -1) * torch.cat((damping, damping), -1)


def relu_beside(h: torch.Tensor, enc: torch.Tensor, inputs: dict[int, torch.Tensor]) -> torch.Tensor:
    """[relu(h), enc], the input of a hidden layer after the first. Without
    gradients the ReLU writes straight into that input: one pass over h
    instead of a ReLU and a concatenation. With the multiplies on AMX such
    passes are most of a decode (measured: 9% faster at 960x540 x4, the
    same bits). `inputs` keeps one such input per width for a member's
    layers, its IPE part written once: each layer has read it before the
    next layer's ReLU overwrites its h part."""
    if torch.is_grad_enabled():
        return torch.cat((h.relu(), enc), -1)
    width = h.shape[-1]
    x = inputs.get(width)
    if x is None:
        x = inputs[width] = torch.empty(h.shape[0], width + enc.shape[-1], dtype=h.dtype, device=h.device)
        x[:, width:] = enc
    relu_into(h, x[:, :width])
    return x


class IPELIIF(ImplicitSR):
    method_name = "ipe-liif"
    # Linear layers whose weights are read directly; see MLP.layers.
    layers: Any

    def __init__(self, encoder_spec: dict[str, Any] | None = None, hidden: list[int] | None = None,
                 frequencies: int = 10, local_ensemble: bool = True) -> None:
        super().__init__(encoder_spec)
        self.hidden = list(hidden or [256, 256, 256, 256])
        self.frequencies = frequencies
        self.local_ensemble = local_ensemble
        self.latent_dim = self.encoder.out_dim * 9
        self.encoding_dim = 4 * frequencies
        in_dim = self.latent_dim + self.encoding_dim
        # Column layout: layer 0 [z, IPE]; layer i > 0 [h_(i-1), z, IPE].
        widths = [0, *self.hidden[:-1]]
        self.layers = nn.ModuleList(nn.Linear(prev + in_dim, width) for prev, width in zip(widths, self.hidden))
        self.out = nn.Linear(self.hidden[-1], 3)

    def encode_query(self, rel: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """IPE of the query pixel: centre rel (LIIF frame), radius = cell (= 1/s)."""
        return integrated_positional_encoding(rel, cell, self.frequencies)

    def warm_start_from_liif(self, liif: dict[str, torch.Tensor]) -> list[str]:
        """LIIF's MLP maps onto this one where the roles match: layer 0's latent
        columns (and bias) from LIIF's first layer, layer i's hidden columns
        from LIIF's hidden layer i, the output layer from LIIF's. The input-skip
        columns of layers i > 0 start at zero, so the warm-started decoder
        begins as LIIF's MLP with IPE in place of (coordinate, cell)."""
        src = {k: v for k, v in liif.items() if k.startswith("imnet.layers.")}
        if src.get("imnet.layers.0.weight") is None or src["imnet.layers.0.weight"].shape[1] < self.latent_dim:
            return []
        taken: list[str] = []
        with torch.no_grad():
            first = self.layers[0]
            if src["imnet.layers.0.weight"].shape[0] == first.weight.shape[0]:
                first.weight[:, :self.latent_dim] = src["imnet.layers.0.weight"][:, :self.latent_dim]
                first.bias.copy_(src["imnet.layers.0.bias"])
                taken += ["layers.0.weight", "layers.0.bias"]
            for i in range(1, len(self.layers)):
                w, b = src.get(f"imnet.layers.{2 * i}.weight"), src.get(f"imnet.layers.{2 * i}.bias")
                layer = self.layers[i]
                if w is None or b is None or tuple(w.shape) != (layer.weight.shape[0], self.hidden[i - 1]):
                    continue
                layer.weight.zero_()
                layer.weight[:, :self.hidden[i - 1]] = w
                layer.bias.copy_(b)
                taken += [f"layers.{i}.weight", f"layers.{i}.bias"]
            last = f"imnet.layers.{2 * len(self.layers)}"
            w, b = src.get(f"{last}.weight"), src.get(f"{last}.bias")
            if w is not None and b is not None and w.shape == self.out.weight.shape:
                self.out.weight.copy_(w)
                self.out.bias.copy_(b)
                taken += ["out.weight", "out.bias"]
        return taken

    def prepare(self, feat: torch.Tensor) -> dict[str, torch.Tensor]:
        z = unfold3x3(feat)
        out = {}
        for i, layer in enumerate(self.layers):
            start = 0 if i == 0 else self.hidden[i - 1]
            out[f"h{i}"] = project(z, layer, start, start + self.latent_dim, bias=True)
        return out

    def query(self, window: FeatureWindow, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        enc_cols = [layer.weight[:, -self.encoding_dim:] for layer in self.layers]
        # Layer i > 0: the h and IPE columns in one matrix, for one fused
        # multiply-add onto the prepared latent part.
        rest = [torch.cat((layer.weight[:, :self.hidden[i]], enc_cols[i + 1]), 1).t()
                for i, layer in enumerate(self.layers[1:])]

        def member(iy: torch.Tensor, ix: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
            lead = rel.shape[:-1]
            h0 = window.gather("h0", iy, ix)
            # In the prepared maps' precision, so that the inputs below need no cast.
            enc = self.encode_query(rel, cell).reshape(-1, self.encoding_dim).to(h0.dtype)
            n = enc.shape[0]
            h = add_product(h0.reshape(n, -1), enc, enc_cols[0].t())
            inputs: dict[int, torch.Tensor] = {}
            for i, weight in enumerate(rest, start=1):
                h = add_product(window.gather(f"h{i}", iy, ix).reshape(n, -1), relu_beside(h, enc, inputs), weight)
            return self.out(relu_(h)).view(*lead, 3)

        return local_ensemble(coord, window.image_h, window.image_w, member, self.local_ensemble)

    def query_plain(self, feat: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Reference computation: the concatenated input through every layer
        as the paper writes it. Used to test `query`."""
        window = FeatureWindow.whole({"z": unfold3x3(torch.nn.functional.pad(feat, [1] * 4))})

        def member(iy: torch.Tensor, ix: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
            x = torch.cat((window.gather("z", iy, ix), self.encode_query(rel, cell)), -1)
            h = torch.relu(self.layers[0](x))
            for layer in self.layers[1:]:
                h = torch.relu(layer(torch.cat((h, x), -1)))
            return self.out(h)

        return local_ensemble(coord, window.image_h, window.image_w, member, self.local_ensemble)


@register("ipe-liif", display="IPE-LIIF", paper="Liu, Guo, Zhang: Enhancing Multi-Scale Implicit Learning in Image "
          "Super-Resolution with Integrated Positional Encoding", bf16="decoder")
def build_ipe_liif(**args: Any) -> IPELIIF:
    return IPELIIF(**args)
