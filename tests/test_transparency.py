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


# ---------------------------------------------------------------- exports


def bicubic_alpha(alpha: np.ndarray, width: int, height: int) -> np.ndarray:
    """The reference: alpha as a grey image through the bicubic method."""
    from inference.interpolations.bicubic import bicubic_resize

    return bicubic_resize(np.repeat(alpha[..., None], 3, axis=2), width, height)[..., 0]


@pytest.mark.parametrize("suffix,bits", [(".png", 8), (".png", 16), (".tif", 16), (".webp", 8)])
def test_cli_export_keeps_the_alpha_upscaled_by_bicubic(rgba_png: Path, tmp_path: Path, suffix: str,
                                                        bits: int) -> None:
    from inference.imageio import read_metadata
    from tests.test_cli import cli

    out = tmp_path / f"x2{suffix}"
    assert cli("upscale", str(rgba_png), "-o", str(out), "--method", "bicubic", "--scale", "2",
               "--bits", str(bits), "--quiet") == 0
    loaded, source = load_image(out), load_image(rgba_png)
    assert loaded.bit_depth == bits and (loaded.width, loaded.height) == (2 * source.width, 2 * source.height)
    assert loaded.alpha is not None
    expected = bicubic_alpha(source.alpha, loaded.width, loaded.height)
    assert np.abs(loaded.alpha - expected).max() <= (1 / 255 if bits == 8 else 1 / 65535) + 1e-6
    # The colour is the method's RGB as before (composited on grey), stored beside the alpha.
    from inference.interpolations.bicubic import bicubic_resize

    a = loaded.alpha[..., None]
    colour = (loaded.rgb - ALPHA_BACKGROUND * (1 - a)) / np.maximum(a, 1e-6)
    opaque = loaded.alpha > 0.5
    np.testing.assert_allclose(colour[opaque], bicubic_resize(source.rgb, loaded.width, loaded.height)[opaque],
                               atol=2 / 255 / 0.5)
    assert read_metadata(out)["Alpha"] == "bicubic (the method upscales colour only)"


def test_jpeg_export_drops_the_alpha_and_says_so(rgba_png: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    from inference.imageio import read_metadata
    from tests.test_cli import cli

    out = tmp_path / "x2.jpg"
    assert cli("upscale", str(rgba_png), "-o", str(out), "--method", "bicubic", "--scale", "2") == 0
    assert Image.open(out).mode == "RGB"
    assert read_metadata(out)["Alpha"].startswith("dropped: JPEG cannot hold transparency")
    assert "alpha channel is dropped" in capsys.readouterr().err


def test_opaque_exports_record_nothing_about_alpha(tmp_path: Path) -> None:
    from inference.imageio import read_metadata
    from tests.test_cli import cli

    Image.fromarray(rgba_gradient()[..., :3]).save(tmp_path / "rgb.png")
    out = tmp_path / "x2.png"
    assert cli("upscale", str(tmp_path / "rgb.png"), "-o", str(out), "--method", "bicubic", "--scale", "2",
               "--quiet") == 0
    assert Image.open(out).mode == "RGB" and "Alpha" not in read_metadata(out)


def test_batch_keeps_the_alpha(rgba_png: Path, tmp_path: Path) -> None:
    from inference.batch import plan_batch, run_batch
    from inference.catalog import load_upscaler

    items = plan_batch([rgba_png], tmp_path, "bicubic", 2.0, suffix=".png")
    report = run_batch(items, load_upscaler("bicubic", "cpu"), scale=2.0, size=None, bits=8)
    assert len(report.written) == 1
    assert load_image(report.written[0]).alpha is not None
