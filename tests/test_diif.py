"""DIIF: grouping and dynamic slicing as in the paper, coarse work shrinking
with the scale, the exact speed-ups, seamless tiles through groups and slices,
and a differentiable training path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inference import registry
from inference.geometry import Lattice, Region
from inference.methods.base import FeatureWindow
from inference.methods.diif import DIIF, slice_interval
from inference.upscaler import ImplicitUpscaler
from inference.weights import WeightsInfo

TINY = {"encoder_spec": {"name": "edsr-baseline", "args": {"n_resblocks": 1, "n_feats": 8}}, "hidden": 32}


def tiny_diif() -> DIIF:
    torch.manual_seed(0)
    return registry.build("diif", **TINY).eval()


def whole_window(model: DIIF, lr: torch.Tensor) -> tuple[torch.Tensor, FeatureWindow]:
    feat = model.encode_normalised(lr)
    h, w = lr.shape[-2:]
    return feat, FeatureWindow(model.prepare(F.pad(feat, [model.feature_halo] * 4)), 0, 0, h, w)


def image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.3 * np.sin(xx[..., None] * np.array([0.3, 0.5, 0.7]) + yy[..., None] * np.array([0.4, 0.2, 0.6]))
    return np.clip(base + 0.1 * rng.standard_normal((h, w, 3)), 0, 1).astype(np.float32)


class CoarseCounter:
    """Counts rows through the coarse stage's second layer (every coarse evaluation passes it)."""

    def __init__(self, model: DIIF) -> None:
        self.rows = 0
        self.handle = model.coarse[2].register_forward_hook(self._hook)

    def _hook(self, module: torch.nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        self.rows += args[0].shape[-2]


# -- grouping and slicing ------------------------------------------------------

@pytest.mark.parametrize("scale", [4.0, 3.7, 12.3])
def test_groups_are_nearest_latent_and_slices_follow_eq4(scale: float) -> None:
    h, w = 6, 7
    lattice = Lattice.full_image(w, h, scale)
    model = tiny_diif()
    plan = model.plan(lattice, h, w)
    u = plan.interval
    assert u == slice_interval(lattice.zx, lattice.zy) == max(1, math.floor(math.sqrt(lattice.zx * lattice.zy) + 0.5))
    # Each pixel is grouped with the latent (LR pixel) its centre falls in.
    ys, xs = lattice.ys(), lattice.xs()
    gy = np.floor(ys)[:, None].repeat(lattice.width, 1).ravel()
    gx = np.floor(xs)[None, :].repeat(lattice.height, 0).ravel()
    assert np.array_equal(plan.group_y.numpy(), gy) and np.array_equal(plan.group_x.numpy(), gx)
    rows = np.arange(lattice.height)[:, None].repeat(lattice.width, 1).ravel()
    cols = np.arange(lattice.width)[None, :].repeat(lattice.height, 0).ravel()
    sizes = set()
    for i in range(h):
        for j in range(w):
            members = np.flatnonzero((gy == i) & (gx == j))
            g = len(members)
            sizes.add(g)
            assert (plan.group_size[members] == g).all()
            # Row-major order inside the group: left to right, then top to bottom.
            order = np.lexsort((cols[members], rows[members]))
            assert plan.index_in_group[members][order].tolist() == list(range(g))
            # K = ceil(g / u) slices of u pixels, the last one shorter.
            k = plan.slice_index[members].numpy()
            counts = np.bincount(k)
            assert len(counts) == math.ceil(g / u)
            assert (counts[:-1] == u).all() and counts[-1] == g - (len(counts) - 1) * u
            # One slice key per slice of this group, not shared with other groups.
            assert len(torch.unique(plan.slice_key[members])) == len(counts)
    if scale == 4.0:
        assert sizes == {16} and u == 4
    else:
        # Non-integer scales give groups of floor(s) or ceil(s) lines a side.
        lo, hi = math.floor(scale), math.ceil(scale)
        assert sizes <= {lo * lo, lo * hi, hi * hi} and len(sizes) > 1
    assert len(torch.unique(plan.slice_key)) == sum(math.ceil(g / u) for g in [
        int(((gy == i) & (gx == j)).sum()) for i in range(h) for j in range(w)])


def test_first_and_last_pixel_of_each_slice() -> None:
    h, w = 4, 5
    lattice = Lattice.full_image(w, h, 3.7)
    plan = tiny_diif().plan(lattice, h, w)
    centres = plan.centre.numpy()
    first, last = plan.ends()
    for key in torch.unique(plan.slice_key):
        members = np.flatnonzero((plan.slice_key == key).numpy())
        order = members[np.argsort(plan.index_in_group[members].numpy())]
        assert np.array_equal(first[members].numpy(), np.repeat(centres[order[:1]], len(members), 0))
        assert np.array_equal(last[members].numpy(), np.repeat(centres[order[-1:]], len(members), 0))


def test_coarse_evaluations_per_pixel_shrink_like_one_over_scale() -> None:
    h, w = 5, 6
    model = tiny_diif()
    counter = CoarseCounter(model)
    per_pixel = {}
    with torch.no_grad():
        _, window = whole_window(model, torch.rand(1, 3, h, w) * 2 - 1)
        for scale in (2.0, 4.0, 8.0, 16.0, 3.7, 12.3):
            lattice = Lattice.full_image(w, h, scale)
            counter.rows = 0
            model.decode_window(window, lattice)
            plan = model.plan(lattice, h, w)
            # Four vertices per slice, each slice evaluated once.
            assert counter.rows == 4 * len(torch.unique(plan.slice_key))
            per_pixel[scale] = counter.rows / (lattice.width * lattice.height)
    for s in (2.0, 4.0, 8.0, 16.0):
        assert per_pixel[s] == pytest.approx(4 / s)  # s x s groups, s slices of s pixels each
    for s in (3.7, 12.3):
        assert 4 / s * 0.8 < per_pixel[s] < 4 / s * 1.35
    assert per_pixel[2.0] > per_pixel[3.7] > per_pixel[4.0] > per_pixel[8.0] > per_pixel[12.3] > per_pixel[16.0]


# -- exact speed-up --------------------------------------------------------------

@pytest.mark.parametrize("scale", [3.7, 12.3, 0.7, 2.3, 3.2])
def test_fast_lattice_path_equals_plain_computation(scale: float) -> None:
    model = tiny_diif()
    h, w = 7, 8
    lr = torch.rand(2, 3, h, w) * 2 - 1
    lattice = Lattice.full_image(w, h, scale)
    with torch.no_grad():
        feat, window = whole_window(model, lr)
        fast = model.decode_window(window, lattice)
        plain = model.decode_window_plain(feat, lattice)
    assert fast.shape == (2, 3, lattice.height, lattice.width)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)


def test_point_query_is_a_one_pixel_slice_of_the_lattice_path() -> None:
    """At u = 1 (scale < 1.5) every slice is one pixel, so the point path and
    the lattice path must agree."""
    model = tiny_diif()
    h, w = 6, 7
    lattice = Lattice.full_image(w, h, 1.3)
    with torch.no_grad():
        _, window = whole_window(model, torch.rand(1, 3, h, w) * 2 - 1)
        grid_y, grid_x = torch.meshgrid(torch.from_numpy(lattice.ys()), torch.from_numpy(lattice.xs()), indexing="ij")
        coord = torch.stack((grid_y, grid_x), -1).reshape(1, -1, 2).float()
        points = model.query(window, coord, torch.full_like(coord, 1 / 1.3))
        decoded = model.decode_window(window, lattice)
    torch.testing.assert_close(points.transpose(1, 2).reshape_as(decoded), decoded, atol=1e-5, rtol=1e-5)


# -- seamless tiles ----------------------------------------------------------------

@pytest.mark.parametrize(("scale", "size"), [(3.7, (13, 11)), (12.3, (6, 7))])
def test_blocks_cutting_groups_and_slices_equal_crops_of_whole_decode(scale: float, size: tuple[int, int]) -> None:
    h, w = size
    model = tiny_diif()
    whole = Lattice.full_image(w, h, scale)
    plan = model.plan(whole, h, w)
    index = plan.index_in_group.reshape(whole.height, whole.width).numpy()
    gy = plan.group_y.reshape(whole.height, whole.width).numpy()
    gx = plan.group_x.reshape(whole.height, whole.width).numpy()
    with torch.no_grad():
        _, window = whole_window(model, torch.from_numpy(image(h, w)).permute(2, 0, 1)[None] * 2 - 1)
        full = model.decode_window(window, whole)[0]
        # Blocks starting inside a group (not on its first row / column) and
        # inside a slice, of odd sizes.
        starts = [(r, c) for r in range(1, whole.height - 8) for c in range(1, whole.width - 8)
                  if gy[r - 1, c] == gy[r, c] and gx[r, c - 1] == gx[r, c] and index[r, c] % plan.interval]
        rng = np.random.default_rng(0)
        for pick in rng.choice(len(starts), 6, replace=False):
            r0, c0 = starts[pick]
            bw, bh = int(rng.integers(3, whole.width - c0)), int(rng.integers(3, whole.height - r0))
            block = model.decode_window(window, whole.crop(c0, r0, bw, bh))[0]
            torch.testing.assert_close(block, full[:, r0:r0 + bh, c0:c0 + bw], atol=1e-5, rtol=0)


@pytest.mark.parametrize(("scale", "size"), [(3.7, (13, 11)), (12.3, (6, 7))])
def test_viewer_bands_and_strips_are_seamless(scale: float, size: tuple[int, int]) -> None:
    """Through the upscaler with a tiny chunk: every block is decoded as
    one-row strips of 23 pixels, on windowed features."""
    h, w = size
    feats_image = image(h, w, seed=2)
    whole_up = ImplicitUpscaler(tiny_diif(), WeightsInfo(trained=False), "cpu")
    strips_up = ImplicitUpscaler(tiny_diif(), WeightsInfo(trained=False), "cpu", chunk=23)
    whole = Lattice.full_image(w, h, scale)
    full = whole_up.decode_lattice(whole_up.encode(feats_image), whole)
    striped = strips_up.decode_lattice(strips_up.encode(feats_image), whole)
    np.testing.assert_allclose(striped, full, atol=1e-5, rtol=0)
    feats = strips_up.encode(feats_image)
    for c0, r0, cw, ch in ((5, 7, 31, 17), (whole.width - 40, 2, 40, 9), (13, whole.height - 12, 27, 12)):
        region = Region(c0 / whole.zx, r0 / whole.zy, cw / whole.zx, ch / whole.zy)
        crop = strips_up.decode(feats, region, (cw, ch))
        np.testing.assert_allclose(crop, full[r0:r0 + ch, c0:c0 + cw], atol=1e-5, rtol=0)


# -- training path -----------------------------------------------------------------

def test_forward_lattice_is_differentiable_and_matches_the_viewer_path() -> None:
    model = tiny_diif().train()
    lr = torch.rand(2, 3, 8, 8) * 2 - 1
    lattice = Lattice.full_image(8, 8, 3.0)
    out = model.forward_lattice(lr, lattice)
    assert out.shape == (2, 3, 24, 24)
    out.abs().mean().backward()
    for name in ("encoder.head.0.weight", "coarse.0.weight", "coarse.2.weight",
                 "fine.layers.0.weight", "fine.layers.4.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    # The coarse stage learns from the slice coordinates as well as the latent.
    assert model.coarse[0].weight.grad[:, model.latent_dim:].abs().sum() > 0
    with torch.no_grad():
        _, window = whole_window(model, lr)
        torch.testing.assert_close(out.detach(), model.decode_window(window, lattice))


def test_forward_lattice_with_one_lattice_per_image() -> None:
    model = tiny_diif()
    lr = torch.rand(2, 3, 8, 8) * 2 - 1
    lattices = [Lattice.full_image(8, 8, 2.5), Lattice(3.0, 3.0, 0.0, 0.0, 20, 20)]
    with torch.no_grad():
        out = model.forward_lattice(lr, lattices)
        each = [model.forward_lattice(lr[i:i + 1], lat) for i, lat in enumerate(lattices)]
    torch.testing.assert_close(out, torch.cat(each))
    with pytest.raises(ValueError, match="1 lattices for a batch of 2"):
        model.forward_lattice(lr, [lattices[0]])


def test_generic_point_forward_runs() -> None:
    model = tiny_diif()
    lr = torch.rand(2, 3, 6, 6) * 2 - 1
    coord = torch.rand(2, 50, 2) * 6
    out = model(lr, coord, torch.full_like(coord, 0.25))
    assert out.shape == (2, 50, 3) and torch.isfinite(out).all()
