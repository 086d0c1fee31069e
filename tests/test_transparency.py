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


@pytest.mark.parametrize(("suffix", "bits"), [(".png", 8), (".png", 16), (".tif", 16), (".webp", 8)])
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


# ---------------------------------------------------------------- panes


def test_the_checker_shows_through_transparency_only() -> None:
    from widgets.checkerboard import CHECKER_DARK, CHECKER_LIGHT, checker, show_transparency

    board = checker(4, 0, 16, 8, square=8)
    assert board[0, 0] == board[0, 3] == CHECKER_LIGHT and board[0, 4] == CHECKER_DARK
    assert board[0, 12] == CHECKER_LIGHT  # lattice columns 16..: the next square
    grey = np.full((8, 16, 3), 128, dtype=np.uint8)
    clear = np.zeros((8, 16), dtype=np.float32)
    clear[:, :8] = 1.0
    shown = show_transparency(grey, clear, 4, 0)
    assert set(np.unique(shown[:, :8])) == {CHECKER_DARK, CHECKER_LIGHT}
    np.testing.assert_array_equal(shown[:, 8:], grey[:, 8:])  # opaque: the method's colour as it was
    # Opaque images pass through the worker untouched (no work, the same tile).
    from app.transparency import TransparencyTiles

    tiles = TransparencyTiles()
    tiles.set_image("a", np.zeros((4, 4, 3), np.float32), None, lambda _: True)
    assert tiles.plane("a") is None


def half_transparent(w: int = 24, h: int = 16) -> np.ndarray:
    """uint8 RGBA: left half fully transparent, right half an opaque colour ramp."""
    out = rgba_gradient(w, h)
    out[..., 3] = 0
    out[:, w // 2:, 3] = 255
    return out


def test_panes_show_a_checkerboard_behind_transparent_areas(qtbot, tmp_path: Path) -> None:
    from inference.catalog import load_upscaler
    from inference.render import to_display
    from tests.gui_helpers import make_window, open_image, wait_done

    path = tmp_path / "half.png"
    Image.fromarray(half_transparent(), "RGBA").save(path)
    window = make_window(qtbot, tmp_path, ["bicubic"])
    assert open_image(qtbot, window, path)
    window.set_zoom(4.0)
    wait_done(qtbot, window)
    pane = window.slots()[0].pane
    shown, mask = pane.composed()
    lat = pane.lattice()
    up = load_upscaler("bicubic", "cpu")
    expected = to_display(up.decode_lattice(up.encode(window.model.image_rgb), lat))
    # Lattice columns whose centres are well inside each half (the alpha edge is at x = 12).
    x = (np.arange(lat.width) + lat.u0 + 0.5) / lat.zx
    clear, opaque = mask & (x < 9)[None, :], mask & (x > 15)[None, :]
    assert clear.sum() > 100 and opaque.sum() > 100
    # Both shades of the board, nothing else (the grey under them is 127 or 128 as the decode rounds).
    values = shown[clear].astype(int)
    assert (np.abs(values - 153) <= 1).any() and (np.abs(values - 204) <= 1).any()
    assert np.all((np.abs(values - 153) <= 1) | (np.abs(values - 204) <= 1))
    # Squares of 8 physical pixels, continuing across tiles.
    u, v = np.arange(lat.width) + int(lat.u0), np.arange(lat.height) + int(lat.v0)
    light = (v[:, None] // 8 + u[None, :] // 8) % 2 == 0
    assert np.all(np.abs(shown[clear & light].astype(int) - 204) <= 1)
    assert np.all(np.abs(shown[clear & ~light].astype(int) - 153) <= 1)
    np.testing.assert_array_equal(shown[opaque], expected[opaque])  # the method's colour
    # File > Export writes the method's RGB (no checker) with the alpha beside it.
    from inference.imageio import read_metadata
    from tests.gui_helpers import WAIT_MS

    out = tmp_path / "exported.png"
    with qtbot.waitSignal(window.exportDone, timeout=WAIT_MS) as done:
        assert window.export_actions.export_to(str(out), "bicubic", area="whole", mode="scale", scale=2.0,
                                               progress_dialog=False)
    assert done.args[0].ok, done.args[0].message
    written = np.asarray(Image.open(out))
    assert written.shape == (32, 48, 4)
    source = load_image(path)
    assert source.alpha is not None
    assert np.abs(written[..., 3] / 255.0 - bicubic_alpha(source.alpha, 48, 32)).max() <= 1 / 255 + 1e-6
    assert np.all(np.abs(written[:, :16, :3].astype(int) - 128) <= 1)  # grey under the transparency, as decoded
    assert read_metadata(out)["Alpha"] == "bicubic (the method upscales colour only)"


def test_the_picture_under_the_tiles_shows_the_same_board(qtbot) -> None:
    """Before a pane's tiles arrive it paints the image itself: premultiplied over the board."""
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QImage, QPainter

    from app.image_opener import PreparedSource
    from inference.render import to_display
    from widgets.image_source import checker_brush

    rgba = half_transparent(32, 16)
    pixels = rgba.astype(np.float32) / 255.0
    rgb = pixels[..., :3] * pixels[..., 3:] + ALPHA_BACKGROUND * (1 - pixels[..., 3:])
    source = PreparedSource(to_display(rgb), 0.5, rgba[..., 3].copy())
    assert source.transparent and source.level_count == 2
    canvas = QImage(32, 16, QImage.Format.Format_RGB32)
    painter = QPainter(canvas)
    painter.fillRect(QRectF(0, 0, 32, 16), checker_brush(4, 0))
    painter.drawImage(0, 0, source.level_for(1.0)[0])
    painter.end()
    shown = np.array([[canvas.pixelColor(x, y).red() for x in range(32)] for y in range(16)])
    u = np.arange(32) + 4
    light = (np.arange(16)[:, None] // 8 + u[None, :] // 8) % 2 == 0
    np.testing.assert_array_equal(shown[:, :16], np.where(light, 204, 153)[:, :16])
    np.testing.assert_array_equal(shown[:, 16:], to_display(rgb)[:, 16:, 0])  # opaque: as before


def test_viewer_export_to_jpeg_says_the_transparency_was_dropped(qtbot, tmp_path: Path) -> None:
    from inference.imageio import read_metadata
    from tests.gui_helpers import WAIT_MS, make_window, open_image

    path = tmp_path / "half.png"
    Image.fromarray(half_transparent(), "RGBA").save(path)
    window = make_window(qtbot, tmp_path, ["bicubic"])
    assert open_image(qtbot, window, path)
    out = tmp_path / "exported.jpg"
    with qtbot.waitSignal(window.exportDone, timeout=WAIT_MS) as done:
        assert window.export_actions.export_to(str(out), "bicubic", area="whole", mode="scale", scale=2.0,
                                               progress_dialog=False)
    assert done.args[0].ok and "transparency was dropped: JPEG cannot hold it" in done.args[0].message
    assert Image.open(out).mode == "RGB"
    assert read_metadata(out)["Alpha"].startswith("dropped: JPEG")
