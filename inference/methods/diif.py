"""DIIF (He & Jin): dynamic implicit image function.

Output pixels are decoded a *slice* at a time instead of one by one:

* Coordinate grouping (Eq. 2, 3). Every output pixel belongs to the group of
  the LR latent nearest to it, i.e. of the LR pixel (i, j) its centre falls in
  ([j, j+1) x [i, i+1) in image units); about s x s pixels per group, ordered
  row-major (left to right, then top to bottom) inside the group.
* Linear-order dynamic slicing (Eq. 4-6, n = 1). A group of g pixels is cut
  into K = ceil(g / u) consecutive runs of u pixels in that order; the last run
  is shorter (the paper's "surplus outputs are dropped").
* C2F-MLP (Eq. 8, 9). Coarse stage: 2 hidden layers x 256 (ReLU) on
  [z_t, x_first - v_t, x_last - v_t] -> slice hidden vector H (256-d). Fine
  stage: 2 hidden layers x 256 (ReLU) + linear 3 on [H_i, x_i - v*] -> RGB.
* Slice ensemble (Eq. 10-12). The coarse stage runs for the four vertices v_t
  of the group's LR pixel (its corners); the vertex latent z_t is the
  concatenation of the 4x4 features around the corner (64 x 16 = 1024-d,
  channel-major c * 16 + ky * 4 + kx like LIIF's unfold; zeros outside the
  image). H_i is the mix of the four H_t weighted by the area between x_i and
  the diagonally opposite vertex (LIIF's ensemble rule). The four H_t are
  computed once per slice and shared by all its pixels: the coarse stage costs
  about 4 / s evaluations per output pixel instead of LIIF's 4 full MLPs.

Choices the paper leaves open (made here, deliberately):

* Slice interval u = max(1, floor(n * s + 1/2)) with s = sqrt(zx * zy), the
  lattice's zoom (the scale for an isotropic lattice); i.e. s rounded half up.
* No cell input anywhere: Eq. 8 and 9 list none, and the scale reaches the
  decoder through the slice's extent x_last - x_first. This gives 462,083
  decoder parameters and 1,682,499 with EDSR-baseline, the paper's 1.683M
  total (Table 1); its "474K w/o encoder" must count something else.
* Coordinates relative to a latent are in LIIF's units (one LR pixel = 2),
  (y, x) order; the fine stage's x_i - v* is relative to the centre of the
  group's latent, the coarse stage's to each vertex.
* Outside-image lattice pixels (the viewer never asks for them) are put in the
  nearest edge group at its nearest in-group position.

Seamless tiles: groups, the row-major index inside a group, slices and their
first and last pixels are computed from the global lattice only (integer
lattice indices and the zoom, float64, the same arithmetic for every block), so
a block equals the matching crop of a whole-image decode whatever its extent.
For lattices with fractional offsets (not built by the viewer) the global index
is taken as floor(u0) + column, with the fractional part added back in float64.

`decode_window` is the real DIIF (used by the viewer and by `forward_lattice`
for training). `query` answers arbitrary points by treating each point as its
own one-pixel slice (x_first = x_last = x_i); it exists for generic code, it is
not how DIIF decodes an image.

Exact speed-ups, checked against `decode_window_plain` / `query_plain`: the
coarse first layer's latent part (1024 -> 256, with bias) is applied once per
vertex in `prepare` as a 4x4 convolution, and the fine first layer's H part is
applied once per slice and vertex (it is linear, so it commutes with the
ensemble mix) instead of once per pixel (when a slice has at least 4 pixels;
shorter slices mix H first, which is fewer rows).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inference.geometry import Lattice
from inference.registry import register

from .base import (
    MLP,
    FeatureWindow,
    ImplicitSR,
    ensemble_weights,
    gemm_rows,
    pad_rows,
    pads_gemm_rows,
    relu_,
    run_layers,
)

# (dy, dx) of the four vertices of an LR pixel (i, j) relative to its top-left
# corner (i, j): top-left, top-right, bottom-left, bottom-right. This order
# pairs with `ensemble_weights`, which weights entry t by the area of entry 3 - t.
VERTEX_OFFSETS = ((0, 0), (0, 1), (1, 0), (1, 1))


# ----------------------------------------------------------------------------
# Lattice geometry: groups and slices, from the global lattice only.

def _centres_np(index: np.ndarray, frac: float, zoom: float) -> np.ndarray:
    return ((index + frac) + 0.5) / zoom


def _centres_t(index: torch.Tensor, frac: float, zoom: float) -> torch.Tensor:
    # Same operations, same order, as `_centres_np` (and as Lattice.xs() when
    # frac == 0), so every path agrees bit for bit.
    return ((index.to(torch.float64) + frac) + 0.5) / zoom


def _group_start(group: np.ndarray, frac: float, zoom: float) -> np.ndarray:
    """Global index of the first lattice line whose centre lies at or past
    `group` (image units): the first line of that group."""
    start = np.ceil(group * zoom - frac - 0.5).astype(np.int64)
    # The estimate is off by at most a line through rounding; settle it with
    # the very test that defines membership (floor of the centre).
    for _ in range(8):
        lower = np.floor(_centres_np(start - 1, frac, zoom)) >= group
        higher = np.floor(_centres_np(start, frac, zoom)) < group
        if not lower.any() and not higher.any():
            break
        start = start - lower + higher
    return start


@dataclass(frozen=True)
class _AxisGroups:
    frac: float
    zoom: float
    group: np.ndarray   # latent row / column each line is grouped with
    start: np.ndarray   # global index of the group's first line
    length: np.ndarray  # lines in the group (cut by the image border)
    offset: np.ndarray  # line index - start, inside [0, length)
    index: np.ndarray   # global index of each line


def _axis_groups(zoom: float, origin: float, count: int, latents: int) -> _AxisGroups:
    base = math.floor(origin)
    frac = float(origin - base)
    index = base + np.arange(count, dtype=np.int64)
    centre = _centres_np(index, frac, zoom)
    group = np.clip(np.floor(centre), 0, latents - 1).astype(np.int64)
    start = _group_start(group, frac, zoom)
    length = np.maximum(_group_start(group + 1, frac, zoom) - start, 1)
    offset = np.clip(index - start, 0, length - 1)
    return _AxisGroups(frac, zoom, group, start, length, offset, index)


@dataclass(frozen=True)
class _Lines:
    """One axis of a lattice block, per line (row or column), on the device."""

    group: torch.Tensor   # (L,) long
    start: torch.Tensor   # (L,) long, global index of the group's first line
    length: torch.Tensor  # (L,) long
    offset: torch.Tensor  # (L,) long
    centre: torch.Tensor  # (L,) float64, image units
    frac: float
    zoom: float

    @classmethod
    def build(cls, axis: _AxisGroups, device: torch.device | str) -> _Lines:
        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(a).to(device)

        return cls(tensor(axis.group), tensor(axis.start), tensor(axis.length), tensor(axis.offset),
                   _centres_t(tensor(axis.index), axis.frac, axis.zoom), axis.frac, axis.zoom)

    def centre_of(self, index: torch.Tensor) -> torch.Tensor:
        return _centres_t(index, self.frac, self.zoom)

    def relative(self, shift: float) -> torch.Tensor:
        """2 * (centre - (group + shift)) as float32: LIIF units."""
        return (2.0 * (self.centre - (self.group.to(torch.float64) + shift))).float()


class LatticeSlices:
    """Group and slice of every pixel of a lattice block. Per-pixel values are
    flat (N = height * width, row-major over the block) and computed from
    per-line ones (the grouping is separable)."""

    def __init__(self, rows: _Lines, cols: _Lines, interval: int) -> None:
        self.rows, self.cols, self.interval = rows, cols, int(interval)
        self.height, self.width = rows.group.shape[0], cols.group.shape[0]
        # Slice keys local to the groups this block touches (dense, so that
        # `compact` needs no sort); every block tells the same slices apart.
        self._stride = int(rows.length.max()) * int(cols.length.max()) // self.interval + 1
        self._gy0, self._gx0 = int(rows.group.min()), int(cols.group.min())
        self._groups_x = int(cols.group.max()) - self._gx0 + 1
        self.key_range = (int(rows.group.max()) - self._gy0 + 1) * self._groups_x * self._stride

    @property
    def group_y(self) -> torch.Tensor:
        return self.rows.group[:, None].expand(self.height, self.width).reshape(-1)

    @property
    def group_x(self) -> torch.Tensor:
        return self.cols.group[None, :].expand(self.height, self.width).reshape(-1)

    @property
    def group_size(self) -> torch.Tensor:
        return (self.rows.length[:, None] * self.cols.length[None, :]).reshape(-1)

    @functools.cached_property
    def index_in_group(self) -> torch.Tensor:
        """Row-major position of each pixel in its group (from the global lattice)."""
        return (self.rows.offset[:, None] * self.cols.length[None, :] + self.cols.offset[None, :]).reshape(-1)

    @functools.cached_property
    def slice_index(self) -> torch.Tensor:
        return torch.div(self.index_in_group, self.interval, rounding_mode="floor")

    @functools.cached_property
    def slice_key(self) -> torch.Tensor:
        """Equal for two pixels iff same group and slice; in [0, key_range)."""
        group = (self.rows.group - self._gy0)[:, None] * self._groups_x + (self.cols.group - self._gx0)[None, :]
        return group.reshape(-1) * self._stride + self.slice_index

    @property
    def centre(self) -> torch.Tensor:
        """(N, 2) float64 (y, x) pixel centres, image units."""
        y, x = torch.broadcast_tensors(self.rows.centre[:, None], self.cols.centre[None, :])
        return torch.stack((y, x), -1).reshape(-1, 2)

    def ends(self, pixels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Centres (float64 (M, 2), (y, x)) of the first and last pixel of the
        slices of the given pixels (flat indices; default all)."""
        if pixels is None:
            pixels = torch.arange(self.height * self.width, device=self.rows.group.device)
        row = torch.div(pixels, self.width, rounding_mode="floor")
        col = torch.remainder(pixels, self.width)
        r_start, c_start, c_len = self.rows.start[row], self.cols.start[col], self.cols.length[col]
        size = self.rows.length[row] * c_len
        first = self.slice_index[pixels] * self.interval
        last = torch.minimum(first + (self.interval - 1), size - 1)

        def centre(pos: torch.Tensor) -> torch.Tensor:
            y = self.rows.centre_of(r_start + torch.div(pos, c_len, rounding_mode="floor"))
            x = self.cols.centre_of(c_start + torch.remainder(pos, c_len))
            return torch.stack((y, x), -1)

        return centre(first), centre(last)

    def pixel_terms(self) -> torch.Tensor:
        """(N, 7) float32 per pixel: the four slice-ensemble weights (vertex
        order VERTEX_OFFSETS; LIIF's diagonal-area rule, as `ensemble_weights`),
        x_i - v* (y, x, LIIF units) and 1."""
        near_y, far_y = self.rows.relative(0.0).abs(), self.rows.relative(1.0).abs()
        near_x, far_x = self.cols.relative(0.0).abs(), self.cols.relative(1.0).abs()
        # Area of the rectangle between the pixel and vertex t, as ensemble_weights.
        areas = [a[:, None] * b[None, :] + 1e-9 for a, b in
                 ((near_y, near_x), (near_y, far_x), (far_y, near_x), (far_y, far_x))]
        total = areas[0] + areas[1] + areas[2] + areas[3]
        shape = (self.height, self.width)
        rel_y = self.rows.relative(0.5)[:, None].expand(shape)
        rel_x = self.cols.relative(0.5)[None, :].expand(shape)
        terms = [areas[3] / total, areas[2] / total, areas[1] / total, areas[0] / total,
                 rel_y, rel_x, torch.ones_like(total)]
        return torch.stack(terms, -1).reshape(-1, 7)

    def compact(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(inverse (N,), representative (S,)): the slices present, numbered
        0..S-1, and one pixel of each (any one: they share everything)."""
        key = self.slice_key
        n = key.shape[0]
        if self.key_range <= 4 * n + 1024:
            # Dense keys: a presence map and a running count, no sort.
            present = torch.zeros(self.key_range, dtype=torch.bool, device=key.device)
            present.index_fill_(0, key, True)
            inverse = (torch.cumsum(present, 0) - 1).index_select(0, key)
            count = int(present.sum())
        else:
            keys, inverse = torch.unique(key, return_inverse=True)
            count = keys.shape[0]
        rep = torch.empty(count, dtype=torch.long, device=key.device)
        rep.scatter_(0, inverse, torch.arange(n, device=key.device))
        return inverse, rep


def slice_interval(zx: float, zy: float, multiple: int = 1) -> int:
    """u = n * s rounded half up, at least 1 (s = sqrt(zx * zy))."""
    return max(1, math.floor(multiple * math.sqrt(zx * zy) + 0.5))


def plan_lattice(lattice: Lattice, image_h: int, image_w: int, interval: int,
                 device: torch.device | str = "cpu") -> LatticeSlices:
    """Groups and slices of a lattice block, a function of the global lattice
    (never of the block's extent)."""
    rows = _Lines.build(_axis_groups(lattice.zy, lattice.v0, lattice.height, image_h), device)
    cols = _Lines.build(_axis_groups(lattice.zx, lattice.u0, lattice.width, image_w), device)
    return LatticeSlices(rows, cols, interval)


def _vertex_position(first: torch.Tensor, last: torch.Tensor, gy: torch.Tensor, gx: torch.Tensor,
                     dy: int, dx: int) -> torch.Tensor:
    """[x_first - v_t, x_last - v_t] in LIIF units, float32, for vertex (gy + dy, gx + dx)."""
    vertex = torch.stack((gy + dy, gx + dx), -1).to(first.dtype)
    return torch.cat((2.0 * (first - vertex), 2.0 * (last - vertex)), -1).float()


def _pixel_terms(centre: torch.Tensor, gy: torch.Tensor, gx: torch.Tensor
                 ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """x_i - v* (LIIF units, float32) and the four slice-ensemble weights."""
    base = torch.stack((gy, gx), -1).to(centre.dtype)
    rel = (2.0 * (centre - (base + 0.5))).float()
    corners = [(2.0 * (centre - (base + centre.new_tensor([dy, dx])))).float() for dy, dx in VERTEX_OFFSETS]
    return rel, ensemble_weights(corners)


def _take(tensor: torch.Tensor, y0: int, x0: int, iy: torch.Tensor, ix: torch.Tensor) -> torch.Tensor:
    """Rows of a (B, C, h, w) map at positions (iy, ix) (1-d, shared by the
    batch, absolute indices for a map starting at (y0, x0)) -> (B, M, C)."""
    b, c, h, w = tensor.shape
    return tensor.reshape(b, c, h * w).index_select(2, (iy - y0) * w + (ix - x0)).transpose(1, 2)


class DIIF(ImplicitSR):
    method_name = "diif"
    # A Sequential whose first Linear's weights are read directly; see MLP.layers.
    coarse: Any
    # 4x4 vertex latents: a vertex (corner a) reads LR rows a - 2 .. a + 1.
    feature_halo = 2
    # A pixel in LR pixel i needs vertices i and i + 1; one spare row keeps
    # the clamped edge cases inside the window too.
    query_reach = 1

    def __init__(self, encoder_spec: dict[str, Any] | None = None, hidden: int = 256,
                 slice_multiple: int = 1) -> None:
        super().__init__(encoder_spec)
        self.hidden_dim = int(hidden)
        self.slice_multiple = int(slice_multiple)
        self.latent_dim = self.encoder.out_dim * 16
        self.coarse = nn.Sequential(nn.Linear(self.latent_dim + 4, hidden), nn.ReLU(inplace=True),
                                    nn.Linear(hidden, hidden), nn.ReLU(inplace=True))
        self.fine = MLP(hidden + 2, [hidden, hidden], 3)

    # -- per-vertex preparation ------------------------------------------------

    def prepare(self, feat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Projected vertex latents W_z z_t + b for every corner of the window:
        (B, 256, h + 1, w + 1), corner (a, b) at [a - y0, b - x0]. "vertex_tl"
        (the top-left corner of each LR pixel, a view) comes first so that the
        window reports the LR pixel grid as its size."""
        first = self.coarse[0]
        weight = first.weight[:, :self.latent_dim].reshape(self.hidden_dim, -1, 4, 4)
        if pads_gemm_rows(feat.device, weight.dtype):
            # In fp32 under a reduced-precision decode on the CPU: a bf16
            # convolution keeps a oneDNN kernel for every window size it meets
            # (see base.gemm_rows), and this is a small part of a decode.
            feat = feat.float()
        with torch.autocast(feat.device.type, enabled=False):
            # Channels-last in, channels-last out: the decoder gathers whole vertex rows.
            vertex = F.conv2d(feat.contiguous(memory_format=torch.channels_last), weight.to(feat.dtype),
                              first.bias.to(feat.dtype))
        return {"vertex_tl": vertex[..., :-1, :-1], "vertex": vertex}

    def vertex_latents(self, feat: torch.Tensor) -> torch.Tensor:
        """The 1024-d vertex latents themselves (plain path): (B, C*16, h+1, w+1)
        from unpadded features (B, C, h, w)."""
        b, c, h, w = feat.shape
        return F.unfold(F.pad(feat, [2] * 4), 4).view(b, c * 16, h + 1, w + 1)

    def _coarse_from_projection(self, projected: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """The coarse stage given its first layer's latent part (with bias)."""
        w_pos = self.coarse[0].weight[:, self.latent_dim:]
        return run_layers(self.coarse[2:], torch.relu(projected + position @ w_pos.t()))

    def _coarse_from_rows(self, projected: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """Same as `_coarse_from_projection` for `projected` (B, M, 256), a fresh
        gather that may be overwritten, and one `position` (M, 4) for the batch."""
        w_pos = self.coarse[0].weight[:, self.latent_dim:].to(projected.dtype)
        batch = projected.shape[0]
        projected.baddbmm_(position.expand(batch, -1, -1), w_pos.t().expand(batch, -1, -1))
        return run_layers(self.coarse[2:], torch.relu_(projected))

    # -- the lattice path (real DIIF) ------------------------------------------

    def plan(self, lattice: Lattice, image_h: int, image_w: int, device: torch.device | str = "cpu"
             ) -> LatticeSlices:
        return plan_lattice(lattice, image_h, image_w,
                            slice_interval(lattice.zx, lattice.zy, self.slice_multiple), device)

    def decode_window(self, window: FeatureWindow, lattice: Lattice) -> torch.Tensor:
        vertex = window.tensors["vertex"]
        batch, channels, vh, vw = vertex.shape
        plan = self.plan(lattice, window.image_h, window.image_w, vertex.device)
        u = plan.interval
        # One coarse evaluation per slice present here and vertex, slice-major
        # (row 4 * slice + vertex).
        inverse, rep = plan.compact()
        count = rep.shape[0]
        pads = pads_gemm_rows(vertex.device, self.decoder_dtype)
        if pads:
            # Reduced precision on the CPU: a padded number of slices (repeats
            # of the last one, dropped by the final gather), so that every
            # multiply below has one of few shapes (see base.gemm_rows).
            rep = torch.cat((rep, rep[-1:].expand(gemm_rows(count) - count)))
            count = rep.shape[0]
        sy, sx = plan.group_y[rep], plan.group_x[rep]
        s_first, s_last = plan.ends(rep)
        where = torch.stack([(sy + dy - window.y0) * vw + (sx + dx - window.x0) for dy, dx in VERTEX_OFFSETS], 1)
        rows = vertex.permute(0, 2, 3, 1).reshape(batch, vh * vw, channels)
        projected = rows.index_select(1, where.reshape(-1))
        position = torch.stack([_vertex_position(s_first, s_last, sy, sx, dy, dx) for dy, dx in VERTEX_OFFSETS], 1)
        hidden = self._coarse_from_rows(projected, position.reshape(-1, 4).to(projected.dtype))
        # Pixels are laid out u to a slice (padded), each with its terms
        # [w_0..w_3, rel_y, rel_x, 1].
        first = self.fine.layers[0]
        w_hidden = first.weight[:, :self.hidden_dim]
        shared = torch.cat((first.weight[:, self.hidden_dim:].t(), first.bias[None]), 0).to(hidden.dtype)
        slot = inverse * u + torch.remainder(plan.index_in_group, u)
        padded = vertex.new_zeros(count * u, 7, dtype=torch.float32).index_copy_(0, slot, plan.pixel_terms())
        terms = padded.view(count, u, 7).to(hidden.dtype)
        hidden = hidden.reshape(batch, count, 4, -1)
        if u >= 4:
            # The fine stage's first layer is linear in H: apply its H columns
            # once per slice and vertex (4 rows per slice instead of u); per
            # pixel only the mix remains, one small product per slice:
            # [w_0..w_3, rel_y, rel_x, 1] @ [P_0..P_3, W_rel, bias].
            per_slice = torch.cat((hidden @ w_hidden.t().to(hidden.dtype), shared.expand(batch, count, 3, -1)), 2)
            pre = torch.matmul(terms, per_slice)  # (B, S, u, 256)
        else:
            # Fewer pixels than vertices in a slice: mix H per pixel first
            # (same value, fewer rows through the 256 x 256 layer).
            mixed = torch.matmul(terms[..., :4], hidden).reshape(batch, count * u, -1)  # (B, S u, 256)
            rel_terms = terms[..., 4:].reshape(count * u, 3)
            if pads:
                mixed, rel_terms = pad_rows(mixed), pad_rows(rel_terms)
            pre = torch.matmul(mixed, w_hidden.t().to(mixed.dtype)) + torch.matmul(rel_terms, shared)
        fine_rows = relu_(pre.reshape(batch, -1, pre.shape[-1]))
        out = run_layers(self.fine.layers[2:], pad_rows(fine_rows) if pads else fine_rows)
        out = out.index_select(1, slot)
        return out.transpose(1, 2).reshape(batch, 3, lattice.height, lattice.width)

    def decode_window_plain(self, feat: torch.Tensor, lattice: Lattice) -> torch.Tensor:
        """Reference for `decode_window` on a whole image (features (B, C, h, w)):
        every pixel recomputes its slice's coarse stage from the full 1028-d
        input, mixes H and runs the whole fine MLP. Used by tests."""
        b, _, h, w = feat.shape
        z = self.vertex_latents(feat)
        plan = self.plan(lattice, h, w, feat.device)
        gy, gx = plan.group_y, plan.group_x
        terms = plan.pixel_terms()
        first, last = plan.ends()
        mixed: Any = 0  # a tensor after the first term
        for t, (dy, dx) in enumerate(VERTEX_OFFSETS):
            position = _vertex_position(first, last, gy, gx, dy, dx).expand(b, -1, -1)
            hidden = self.coarse(torch.cat((_take(z, 0, 0, gy + dy, gx + dx), position), -1))
            mixed = mixed + terms[:, t, None] * hidden
        out = self.fine(torch.cat((mixed, terms[:, 4:6].expand(b, -1, -1)), -1))
        return out.transpose(1, 2).reshape(b, 3, lattice.height, lattice.width)

    def forward_lattice(self, lr: torch.Tensor, lattices: Lattice | Sequence[Lattice]) -> torch.Tensor:
        """Training path: encode lr (B, 3, h, w) in [-1, 1] and decode a whole
        lattice per image (one shared, or one each of equal size) with the same
        `decode_window` as the viewer -> (B, 3, H, W), differentiable."""
        return self.decode_lattice_features(self.encode_normalised(lr), lattices)

    def decode_lattice_features(self, feat: torch.Tensor, lattices: Lattice | Sequence[Lattice]) -> torch.Tensor:
        """`forward_lattice` on encoder features (the frozen-encoder training path)."""
        b, _, h, w = feat.shape
        prepared = self.prepare(F.pad(feat, [self.feature_halo] * 4))
        if isinstance(lattices, Lattice):
            return self.decode_window(FeatureWindow(prepared, 0, 0, h, w), lattices)
        lattices = list(lattices)
        if len(lattices) != b:
            raise ValueError(f"{len(lattices)} lattices for a batch of {b}")
        if all(lat == lattices[0] for lat in lattices):
            return self.decode_window(FeatureWindow(prepared, 0, 0, h, w), lattices[0])
        if len({(lat.height, lat.width) for lat in lattices}) != 1:
            raise ValueError("lattices of one batch must have the same output size")
        windows = [FeatureWindow({k: v[i:i + 1] for k, v in prepared.items()}, 0, 0, h, w) for i in range(b)]
        return torch.cat([self.decode_window(win, lat) for win, lat in zip(windows, lattices)], 0)

    # -- the point path (one-pixel slices) -------------------------------------

    def _point_geometry(self, coord: torch.Tensor, image_h: int, image_w: int
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        gy = torch.floor(coord[..., 0]).long().clamp_(0, image_h - 1)
        gx = torch.floor(coord[..., 1]).long().clamp_(0, image_w - 1)
        rel, weights = _pixel_terms(coord, gy, gx)
        positions = [_vertex_position(coord, coord, gy, gx, dy, dx).to(coord.dtype) for dy, dx in VERTEX_OFFSETS]
        return gy, gx, rel.to(coord.dtype), weights, positions

    def query(self, window: FeatureWindow, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Arbitrary points, each its own one-pixel slice (x_first = x_last = x_i).
        `cell` is unused: DIIF has no cell input."""
        gy, gx, rel, weights, positions = self._point_geometry(coord, window.image_h, window.image_w)
        mixed: Any = 0  # a tensor after the first term
        for (dy, dx), weight, position in zip(VERTEX_OFFSETS, weights, positions):
            projected = window.gather("vertex", gy + dy, gx + dx)
            mixed = mixed + weight.unsqueeze(-1) * self._coarse_from_projection(projected, position)
        return self.fine(torch.cat((mixed, rel), -1))

    def query_plain(self, feat: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Reference for `query`: the full 1028-d coarse input per point."""
        h, w = feat.shape[-2:]
        window = FeatureWindow({"z": self.vertex_latents(feat)}, 0, 0, h, w)
        gy, gx, rel, weights, positions = self._point_geometry(coord, h, w)
        mixed: Any = 0  # a tensor after the first term
        for (dy, dx), weight, position in zip(VERTEX_OFFSETS, weights, positions):
            latent = window.gather("z", gy + dy, gx + dx)
            mixed = mixed + weight.unsqueeze(-1) * self.coarse(torch.cat((latent, position), -1))
        return self.fine(torch.cat((mixed, rel), -1))


@register("diif", display="DIIF",
          paper="He, Jin: Dynamic Implicit Image Function for Efficient Arbitrary-Scale Image Representation (2022)",
          bf16="decoder")
def build_diif(**args: Any) -> DIIF:
    return DIIF(**args)
