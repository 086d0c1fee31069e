"""Every method through the one interface: seamless tiles, exact speed-ups,
honest reporting of untrained weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inference import registry
from inference.catalog import all_methods, load_upscaler
from inference.geometry import Lattice, Region
from inference.methods.base import FeatureWindow

ALL = all_methods()
IMPLICIT = registry.method_names()


def random_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Smooth plus noise, so features vary at every scale.
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.3 * np.sin(xx[..., None] * np.array([0.3, 0.5, 0.7]) + yy[..., None] * np.array([0.4, 0.2, 0.6]))
    return np.clip(base + 0.1 * rng.standard_normal((h, w, 3)), 0, 1).astype(np.float32)


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize(("scale", "size"), [(3.7, (13, 17)), (12.3, (7, 9))])
@pytest.mark.parametrize(("precision", "atol"), [("fp32", 1e-5), ("auto", 1.0 / 255 / 2)])
def test_rectangle_equals_crop_of_whole_image(method: str, scale: float, size: tuple[int, int], precision: str,
                                              atol: float) -> None:
    """Exact in fp32; at the default (bf16 where the CPU has it, whose kernels
    round differently for different row counts) within half a grey level."""
    h, w = size
    up = load_upscaler(method, "cpu", precision=precision)
    feats = up.encode(random_image(h, w))
    whole = Lattice.full_image(w, h, scale)
    full = up.decode_lattice(feats, whole)
    assert full.shape == (whole.height, whole.width, 3)
    rng = np.random.default_rng(1)
    for _ in range(4):
        cw, ch = int(rng.integers(5, whole.width // 2)), int(rng.integers(5, whole.height // 2))
        c0, r0 = int(rng.integers(0, whole.width - cw)), int(rng.integers(0, whole.height - ch))
        region = Region(c0 / whole.zx, r0 / whole.zy, cw / whole.zx, ch / whole.zy)
        crop = up.decode(feats, region, (cw, ch))
        np.testing.assert_allclose(crop, full[r0:r0 + ch, c0:c0 + cw], atol=atol, rtol=0)


@pytest.mark.parametrize("method", ALL)
def test_region_partly_outside_is_background_there(method: str) -> None:
    h, w = 10, 12
    up = load_upscaler(method, "cpu")
    feats = up.encode(random_image(h, w))
    scale = 3.7
    whole = Lattice.full_image(w, h, scale)
    full = up.decode_lattice(feats, whole)
    # A block hanging 8 output pixels over the top-left corner.
    block = whole.crop(-8, -8, 30, 30)
    out = up.decode_lattice(feats, block)
    assert np.all(out[:8] == 0) and np.all(out[:, :8] == 0)
    np.testing.assert_allclose(out[8:, 8:], full[:22, :22], atol=1e-5, rtol=0)


@pytest.mark.parametrize("method", [m for m in IMPLICIT if hasattr(registry.build(m), "query_plain")])
def test_per_pixel_precomputation_matches_plain_decoder(method: str) -> None:
    model = registry.build(method).eval()
    h, w = 9, 11
    lr = torch.rand(1, 3, h, w) * 2 - 1
    coord = torch.rand(1, 400, 2) * torch.tensor([float(h), float(w)])
    cell = torch.rand(1, 400, 2) * 0.5 + 0.05
    with torch.no_grad():
        feat = model.encode_normalised(lr)
        fast = model.query(FeatureWindow.whole(model.prepare(F.pad(feat, [model.feature_halo] * 4))), coord, cell)
        plain = model.query_plain(feat, coord, cell)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", IMPLICIT)
def test_method_without_weights_is_reported_untrained(method: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import inference.registry as registry

    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    up = load_upscaler(method, "cpu")
    assert up.weights.trained is False
    assert "untrained" in up.weights.summary


@pytest.mark.parametrize("method", IMPLICIT)
def test_encoder_tiles_match_one_pass(method: str) -> None:
    """A large image is encoded in tiles; with the receptive-field margin the
    result equals the one-pass encoding (fp32 summation order aside)."""
    h, w = 40, 45
    image = random_image(h, w, seed=3)
    one = load_upscaler(method, "cpu")
    tiled = load_upscaler(method, "cpu", feature_tile=16, one_pass_pixels=1)
    fa, fb = one.encode(image), tiled.encode(image)
    assert not fb.one_pass
    a = fa.window(0, h, 0, w, halo=2)
    b = fb.window(0, h, 0, w, halo=2)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    lattice = Lattice.full_image(w, h, 2.5).crop(20, 30, 50, 40)
    np.testing.assert_allclose(one.decode_lattice(fa, lattice), tiled.decode_lattice(fb, lattice), atol=1e-4)


def test_bf16_relu_on_sign_bits_equals_relu() -> None:
    from inference.methods.base import relu_, relu_into

    values = torch.tensor([-3.5, -1e-30, -0.0, 0.0, 1e-30, 2.25, float("inf"), -float("inf")]).repeat(64, 1)
    x = (values * torch.linspace(0.5, 2.0, 64)[:, None]).bfloat16()
    expected = torch.relu(x)
    with torch.no_grad():
        out = torch.full((64, 12), 7.0, dtype=torch.bfloat16)
        relu_into(x, out[:, 2:10])
        assert torch.equal(out[:, 2:10], expected) and (out[:, :2] == 7).all() and (out[:, 10:] == 7).all()
        y = x.clone()
        assert relu_(y) is y and torch.equal(y, expected)
        assert not torch.signbit(y).any()  # a negative zero comes out +0
