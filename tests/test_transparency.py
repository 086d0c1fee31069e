"""Transparency (issue 21 item 16): the alpha kept at load beside the
composited RGB, the checkerboard the panes show behind it, and exports that
keep it where the format can."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference.imageio import ALPHA_BACKGROUND, load_image


def rgba_gradient(w: int = 48, h: int = 32) -> np.ndarray:
    """uint8 RGBA: colours varying across, alpha from 0 (left) to 255 (right)."""
    out = np.zeros((h, w, 4), dtype=np.uint8)
    out[..., 0] = 200
    out[..., 1] = (np.arange(w) * 5 % 256)[None, :]
    out[..., 2] = (np.arange(h) * 7 % 256)[:, None]
    out[..., 3] = np.round(np.linspace(0, 255, w)).astype(np.uint8)[None, :]
    return out


@pytest.fixture
def rgba_png(tmp_path: Path) -> Path:
    path = tmp_path / "gradient.png"
    Image.fromarray(rgba_gradient(), "RGBA").save(path)
    return path


def test_alpha_is_kept_beside_the_composited_rgb(rgba_png: Path) -> None:
    pixels = rgba_gradient().astype(np.float32) / 255.0
    loaded = load_image(rgba_png)
    assert loaded.alpha is not None and loaded.alpha.dtype == np.float32
    assert loaded.alpha.shape == (loaded.height, loaded.width)
    np.testing.assert_allclose(loaded.alpha, pixels[..., 3], atol=1e-6)
    # The RGB the methods decode is as before: composited on neutral grey.
    a = pixels[..., 3:]
    np.testing.assert_allclose(loaded.rgb, pixels[..., :3] * a + ALPHA_BACKGROUND * (1 - a), atol=1e-6)


def test_opaque_images_have_no_alpha(tmp_path: Path) -> None:
    rgba = rgba_gradient()
    Image.fromarray(rgba[..., :3]).save(tmp_path / "rgb.png")
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    assert load_image(tmp_path / "rgb.png").alpha is None
    assert load_image(tmp_path / "opaque.png").alpha is None
