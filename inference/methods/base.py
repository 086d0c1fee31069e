"""What every implicit method shares: an encoder, a per-LR-pixel preparation of
its features, and a decoder that answers point queries on a feature window.

Coordinates here are in image units (LR pixel (i, j) covers [j, j+1) x [i, i+1))
and ordered (y, x) like the public LIIF code, so that its checkpoints load.
In LIIF's normalised units one LR pixel is 2 wide: rel_coord = 2 * (q - centre),
rel_cell = 2 * cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inference.archs import Encoder, build_encoder
from inference.geometry import Lattice

# LIIF's shift so that a query on a latent boundary picks a consistent side,
# converted from normalised units (1e-6) to LR pixels by the caller.
ENSEMBLE_EPS = 1e-6
# The four (dy, dx) shifts of the local ensemble, in LR pixels.
ENSEMBLE_SHIFTS = ((-0.5, -0.5), (-0.5, 0.5), (0.5, -0.5), (0.5, 0.5))


@dataclass
class FeatureWindow:
    """Per-LR-pixel tensors of a method over the LR rectangle
    [y0, y0 + h) x [x0, x0 + w) of an image of image_h x image_w pixels."""

    tensors: dict[str, torch.Tensor]  # each (B, C, h, w)
    y0: int
    x0: int
    image_h: int
    image_w: int

    @property
    def height(self) -> int:
        return next(iter(self.tensors.values())).shape[-2]

    @property
    def width(self) -> int:
        return next(iter(self.tensors.values())).shape[-1]

    def gather(self, name: str, iy: torch.Tensor, ix: torch.Tensor) -> torch.Tensor:
        """Rows of tensor `name` at image pixels (iy, ix), each (B, N) -> (B, N, C)."""
        t = self.tensors[name]
        b, c, h, w = t.shape
        flat = t.permute(0, 2, 3, 1).reshape(b, h * w, c)
        idx = (iy - self.y0) * w + (ix - self.x0)
        if b > 1:
            # Rows of one (B * h * w, C) table: index_select copies whole rows
            # and its backward is one index_add_, where torch.gather with an
            # expanded index and its scatter_add_ backward cost ~20x / ~7x as
            # much on the CPU (measured: a third of a LIIF training step).
            idx = idx + torch.arange(b, device=idx.device).mul_(h * w).view(b, *([1] * (idx.dim() - 1)))
        return flat.reshape(b * h * w, c).index_select(0, idx.reshape(-1)).view(b, -1, c)

    @classmethod
    def whole(cls, tensors: dict[str, torch.Tensor]) -> FeatureWindow:
        t = next(iter(tensors.values()))
        return cls(tensors, 0, 0, t.shape[-2], t.shape[-1])


def unfold3x3(feat_with_halo: torch.Tensor) -> torch.Tensor:
    """3x3 neighbourhood of every pixel, channel-major (c * 9 + k) like the
    public LIIF code. Input carries a 1-pixel halo (true neighbours or zeros)."""
    b, c, h, w = feat_with_halo.shape
    if feat_with_halo.requires_grad:
        return F.unfold(feat_with_halo, 3).view(b, c * 9, h - 2, w - 2)
    # Without a graph (inference, or a frozen encoder in training): gathered
    # straight from channels-last features into channels-last memory, one
    # copy, so that `project` multiplies pixel rows without transposing the
    # 9C-wide map first (each call did; IPE-LIIF and DIINN call it 4 times).
    # Same values as F.unfold.
    x = feat_with_halo.contiguous(memory_format=torch.channels_last)
    sb, sc, sh, sw = x.stride()
    taps = x.as_strided((b, h - 2, w - 2, 3, 3, c), (sb, sh, sw, sh, sw, sc)).reshape(b, h - 2, w - 2, 9, c)
    rows = taps.transpose(-1, -2).reshape(b, h - 2, w - 2, c * 9)  # channel-major: c * 9 + k
    return rows.permute(0, 3, 1, 2)


# Reduced-precision matrix multiplies on the CPU go to oneDNN, which builds
# (and keeps) a kernel for every new row count: ~4 ms and ~1 MB each,
# measured with torch 2.13, and the memory stays (3,000 row counts: +3.7 GB
# RSS). A viewer that decodes blocks of every size at every zoom would grow
# without end, so inference pads row counts to a small set of sizes.
# At least 128 rows: below ~112 oneDNN picks kernels that round some rows
# differently, and a pixel decoded in a small block would not match the same
# pixel decoded in a large one (a seam between tiles).
GEMM_MIN_ROWS = 128


def gemm_rows(n: int) -> int:
    """The padded row count for n rows: four sizes per octave (at most 25%
    more rows, 53 sizes up to a million), at least GEMM_MIN_ROWS. Whole
    blocks of the viewer's tiles (32 x 128 = 4096) are sizes already: only
    partial blocks and feature windows (~2% of a decode's work) pay."""
    if n <= GEMM_MIN_ROWS:
        return GEMM_MIN_ROWS
    step = 1 << (n.bit_length() - 3)
    return -(-n // step) * step


def pad_rows(x: torch.Tensor) -> torch.Tensor:
    """x with zero rows (dim -2) added up to gemm_rows: what a multiply whose
    rows are padded is given; the caller drops the extra rows after."""
    n = x.shape[-2]
    return x if gemm_rows(n) == n else F.pad(x, (0, 0, 0, gemm_rows(n) - n))


def pads_gemm_rows(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether multiplies in `dtype` on `device` pad their rows (see gemm_rows):
    inference in bf16/fp16 on the CPU. fp32 goes to MKL, which keeps nothing
    per shape, and training's shapes are fixed."""
    reduced = dtype in (torch.bfloat16, torch.float16) or torch.is_autocast_enabled("cpu")
    return device.type == "cpu" and reduced and not torch.is_grad_enabled()


def project(x: torch.Tensor, layer: nn.Linear, start: int, stop: int, bias: bool) -> torch.Tensor:
    """Apply the columns [start, stop) of a linear layer's weight to a per-pixel
    map (B, stop-start, h, w) -> (B, out, h, w): the part of a decoder layer that
    depends only on the latent, computed once per LR pixel instead of per query.
    The result is channels-last in memory (a pixel's channels contiguous), so
    that `FeatureWindow.gather` copies whole rows instead of strided values."""
    b, _, h, w = x.shape
    rows = x.flatten(2).transpose(1, 2)
    n = h * w
    if pads_gemm_rows(x.device, layer.weight.dtype):
        rows = pad_rows(rows)
    out = F.linear(rows, layer.weight[:, start:stop], layer.bias if bias else None)[:, :n]
    return out.reshape(b, h, w, -1).permute(0, 3, 1, 2)


def nearest_latent(coord: torch.Tensor, image_h: int, image_w: int, dy: float = 0.0, dx: float = 0.0
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The latent nearest to coord shifted by (dy, dx) LR pixels (clamped inside
    the image, as LIIF does). Returns (iy, ix, rel) with rel = 2 * (coord - centre),
    i.e. LIIF's rel_coord, in (y, x) order."""
    y = coord[..., 0] + dy + ENSEMBLE_EPS * image_h / 2
    x = coord[..., 1] + dx + ENSEMBLE_EPS * image_w / 2
    iy = torch.floor(y).long().clamp_(0, image_h - 1)
    ix = torch.floor(x).long().clamp_(0, image_w - 1)
    rel_y = 2.0 * (coord[..., 0] - (iy.to(coord.dtype) + 0.5))
    rel_x = 2.0 * (coord[..., 1] - (ix.to(coord.dtype) + 0.5))
    # Coordinates may come in float64 (large images: a float32 image position
    # is only good to ~5e-4 px at 8000 px); the relative part is small, so
    # float32 keeps it exact enough for every decoder.
    return iy, ix, torch.stack((rel_y, rel_x), -1).float()


def ensemble_weights(rels: list[torch.Tensor]) -> list[torch.Tensor]:
    """LIIF's local-ensemble weights: each prediction weighted by the area of the
    diagonally opposite corner's rectangle, normalised."""
    areas = [torch.abs(r[..., 0] * r[..., 1]) + 1e-9 for r in rels]
    total = areas[0] + areas[1] + areas[2] + areas[3]
    return [areas[3] / total, areas[2] / total, areas[1] / total, areas[0] / total]


def local_ensemble(coord: torch.Tensor, image_h: int, image_w: int,
                   member: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
                   enabled: bool = True) -> torch.Tensor:
    """LIIF's local ensemble around a method's per-latent prediction.

    `member(iy, ix, rel)` predicts from the latent at image pixel (iy, ix) for
    queries at LIIF relative coordinate `rel`; it runs once per latent of the
    four around `coord` and the results are blended by `ensemble_weights`.
    With `enabled=False` only the latent the query falls in is used.
    """
    if not enabled:
        iy, ix, rel = nearest_latent(coord, image_h, image_w)
        return member(iy, ix, rel)
    preds, rels = [], []
    for dy, dx in ENSEMBLE_SHIFTS:
        iy, ix, rel = nearest_latent(coord, image_h, image_w, dy, dx)
        preds.append(member(iy, ix, rel))
        rels.append(rel)
    weights = ensemble_weights(rels)
    blended = preds[0] * weights[0].unsqueeze(-1)
    for pred, weight in zip(preds[1:], weights[1:]):
        blended = blended + pred * weight.unsqueeze(-1)
    return blended


class ImplicitSR(nn.Module):
    """Base of every implicit method: `encoder` + per-pixel `prepare` + `query`.

    Subclasses set `method_name`, build their decoder in __init__, and
    implement `prepare` and `query` (or `decode_window` when, like DIIF, their
    outputs depend on the lattice and not on single points).
    """

    method_name: ClassVar[str] = ""
    # Pixels of true neighbours (or zeros outside the image) that `prepare`
    # needs around the window it prepares: 1 for a 3x3 unfold.
    feature_halo: ClassVar[int] = 1
    # How far, in LR pixels, a query may reach beyond the latent it falls in.
    query_reach: ClassVar[int] = 1

    def __init__(self, encoder_spec: dict[str, Any] | None = None) -> None:
        super().__init__()
        spec = dict(encoder_spec or {"name": "edsr-baseline", "args": {}})
        self.encoder_spec = spec
        self.encoder: Encoder = build_encoder(spec["name"], **spec.get("args", {}))

    @property
    def receptive_radius(self) -> int:
        return int(self.encoder.receptive_radius)

    def cast_for_inference(self, decoder: torch.dtype, encoder: torch.dtype) -> ImplicitSR:
        """Store the encoder's weights in `encoder` and everything else (the
        decoder) in `decoder`, in place: a half-precision decode then runs on
        half-precision weights and per-LR-pixel maps with no cast per call.
        A method whose decoder must stay fp32 overrides this."""
        for name, child in self.named_children():
            child.to(encoder if name == "encoder" else decoder)
        if encoder != torch.float32:
            # Reduced-precision convolutions are fast channels-last (see ImplicitUpscaler.encode).
            self.encoder.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # not in torch's stubs
        for param in self.parameters(recurse=False):
            param.data = param.data.to(decoder)
        return self

    @property
    def decoder_dtype(self) -> torch.dtype:
        """The dtype the decoder's weights are stored in (see `cast_for_inference`)."""
        return next((p.dtype for n, p in self.named_parameters() if not n.startswith("encoder.")), torch.float32)

    def encode_normalised(self, lr: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) in [-1, 1] -> (B, C, h, w) latent features."""
        return self.encoder(lr)

    def prepare(self, feat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-LR-pixel tensors for `query`, from features carrying a halo of
        `feature_halo` pixels; the results have the halo removed."""
        raise NotImplementedError

    def query(self, window: FeatureWindow, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """RGB (normalised to [-1, 1]) at points coord (B, N, 2), (y, x), image
        units, each covering cell (B, N, 2) LR pixels."""
        raise NotImplementedError

    def decode_window(self, window: FeatureWindow, lattice: Lattice) -> torch.Tensor:
        """RGB (normalised) of every pixel of a lattice block whose centres lie
        inside the image: (B, 3, H, W). The value at a pixel must depend only on
        the lattice and the pixel's index, never on the block's extent: that is
        what makes tiles seamless."""
        device = next(iter(window.tensors.values())).device
        # float64 positions: see nearest_latent.
        ys = torch.from_numpy(lattice.ys()).to(device)
        xs = torch.from_numpy(lattice.xs()).to(device)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        coord = torch.stack((grid_y, grid_x), -1).reshape(1, -1, 2)
        cell_y, cell_x = lattice.cell()
        cell = torch.tensor([cell_y, cell_x], dtype=torch.float32, device=device)
        n = coord.shape[1]
        if pads_gemm_rows(device, self.decoder_dtype):
            # Repeats of the last query (valid, inside the window), dropped after.
            coord = torch.cat((coord, coord[:, -1:].expand(-1, gemm_rows(n) - n, -1)), 1)
        cell = cell.expand(coord.shape)
        batch = next(iter(window.tensors.values())).shape[0]
        if batch > 1:
            coord, cell = coord.expand(batch, -1, -1), cell.expand(batch, -1, -1)
        out = self.query(window, coord, cell)[:, :n]
        return out.transpose(1, 2).reshape(batch, 3, lattice.height, lattice.width)

    def forward(self, lr: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Training path: encode a batch and answer point queries on it."""
        return self.query_features(self.encode_normalised(lr), coord, cell)

    def query_features(self, feat: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """The decoder alone on encoder features (B, C, h, w): what trains when
        the encoder is frozen and run once per batch without gradients."""
        prepared = self.prepare(F.pad(feat, [self.feature_halo] * 4))
        return self.query(FeatureWindow.whole(prepared), coord, cell)

    def warm_start_from_liif(self, liif: dict[str, torch.Tensor]) -> list[str]:
        """Copy the parts of a trained LIIF decoder (its `imnet.*` tensors) whose
        role and shape match a layer of this decoder; returns the names set.
        The default copies nothing: only methods whose paper builds on LIIF's
        MLP say which layers correspond."""
        return []

    def lattice_window(self, lattice: Lattice, image_h: int, image_w: int) -> tuple[int, int, int, int]:
        """The LR rectangle (y0, y1, x0, x1) whose prepared features a lattice
        block needs, clipped to the image."""
        ys, xs = lattice.ys(), lattice.xs()
        r = self.query_reach
        y0 = max(0, int(np.floor(ys[0])) - r)
        y1 = min(image_h, int(np.floor(ys[-1])) + r + 1)
        x0 = max(0, int(np.floor(xs[0])) - r)
        x1 = min(image_w, int(np.floor(xs[-1])) + r + 1)
        return y0, y1, x0, x1


def _relu_on_sign_bits(x: torch.Tensor) -> bool:
    # bf16's ReLU kernels convert to fp32 and back; on the integer view a
    # ReLU is a clamp at 0 (the sign bit makes a bf16 negative an int16
    # negative): 4x faster in place, 25% into another tensor, the same values
    # (a negative zero becomes +0; a negative NaN would become 0).
    return x.dtype == torch.bfloat16 and x.device.type == "cpu" and not torch.is_grad_enabled()


def relu_(x: torch.Tensor) -> torch.Tensor:
    """x.relu_(), fast in bf16 on the CPU (see _relu_on_sign_bits)."""
    if _relu_on_sign_bits(x):
        x.view(torch.int16).clamp_min_(0)
        return x
    return x.relu_()


def relu_into(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """relu(x) written into `out` (a view of a larger input, say)."""
    if _relu_on_sign_bits(x) and out.dtype == x.dtype:
        torch.clamp_min(x.view(torch.int16), 0, out=out.view(torch.int16))
        return out
    return torch.clamp_min(x, 0, out=out)


def add_product(base: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """base + a @ b, for a `base` that nothing else holds (a fresh gather of
    prepared rows). Without gradients the product is added into `base` in
    place: no copy of it into a new output, a fifth of the multiply's time
    for a 4096 x 256 bf16 result (same values)."""
    if torch.is_grad_enabled() or base.dtype != b.dtype:
        return torch.addmm(base, a, b)
    # `a` in the multiply's precision, as autocast would cast it for addmm.
    return base.addmm_(a.to(b.dtype), b)


def _fused_linear_relu_available() -> bool:
    try:
        return bool(torch.backends.mkldnn.is_available()) and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    except (AttributeError, RuntimeError):
        return False


_FUSED_LINEAR_RELU = _fused_linear_relu_available()


def linear_relu(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """relu(layer(x)). On the CPU in bf16 it is one oneDNN call with the ReLU
    fused into the matrix multiply: a separate ReLU pass over a bf16 result
    costs about half as much again as the multiply (same values either way)."""
    weight = layer.weight
    if (_FUSED_LINEAR_RELU and x.dtype == torch.bfloat16 and weight.dtype == torch.bfloat16
            and x.device.type == "cpu" and not torch.is_grad_enabled()):
        return torch.ops.mkldnn._linear_pointwise(x, weight, layer.bias, "relu", [], "")
    if x.dim() == 2:
        # In place: the linear's backward does not need its output, and a
        # fresh ReLU result costs one more activation-sized buffer. Only on 2-D
        # rows: on a batched (3-D) output the result is a view, and autograd's
        # in-place-on-view bookkeeping costs more than it saves.
        return layer(x).relu_()
    return torch.relu(layer(x))


def run_layers(layers: nn.Sequential | list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """A Sequential of Linear and ReLU layers applied to x, each Linear
    followed by a ReLU as one `linear_relu`."""
    mods = list(layers)
    # As 2-D rows: one matrix multiply per layer and in-place ReLUs (see linear_relu).
    lead = x.shape[:-1]
    x = x.reshape(-1, x.shape[-1])
    i = 0
    while i < len(mods):
        mod = mods[i]
        if isinstance(mod, nn.Linear) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.ReLU):
            x = linear_relu(x, mod)
            i += 2
        else:
            x = mod(x)
            i += 1
    return x.reshape(*lead, x.shape[-1])


class MLP(nn.Module):
    """Linear layers with ReLU between them, as `layers` (a Sequential) so that
    LIIF's `imnet.layers.{0,2,4,6,8}` keys load unchanged."""

    # The methods read its Linear layers' weights directly (layers[0].weight);
    # Sequential's indexing is typed as returning any Module, hence Any.
    layers: Any

    def __init__(self, in_dim: int, hidden: list[int], out_dim: int) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        last = in_dim
        for width in hidden:
            mods += [nn.Linear(last, width), nn.ReLU(inplace=True)]
            last = width
        mods.append(nn.Linear(last, out_dim))
        self.layers = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_layers(self.layers, x)
