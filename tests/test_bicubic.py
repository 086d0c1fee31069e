"""Bicubic is Pillow's float bicubic on every lattice, whole or cropped, enlarging
or shrinking hard (the viewer's fit view of a big photo), and stays seamless."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inference.geometry import Lattice, Region
from inference.interpolations.bicubic import BicubicUpscaler, bicubic_resize


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.3 * np.sin(xx[..., None] * np.array([0.31, 0.17, 0.7]) + yy[..., None] * np.array([0.2, 0.45, 0.6]))
    return np.clip(base + 0.15 * rng.standard_normal((h, w, 3)), 0, 1).astype(np.float32)


def pillow_float(image: np.ndarray, size: tuple[int, int], box: tuple[float, float, float, float] | None = None
                 ) -> np.ndarray:
    """Pillow's BICUBIC on each channel as a 32-bit float image ('F')."""
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c]), mode="F")
                         .resize(size, Image.Resampling.BICUBIC, box=box)) for c in range(3)]
    return np.clip(np.stack(planes, -1), 0, 1)


@pytest.mark.parametrize("out_size", [(131, 97), (25, 19), (9, 400), (61, 45)])
def test_whole_image_equals_pillow(out_size: tuple[int, int]) -> None:
    image = textured(45, 61)
    np.testing.assert_allclose(bicubic_resize(image, *out_size), pillow_float(image, out_size), atol=2e-6, rtol=0)


def test_strong_shrink_equals_pillow() -> None:
    """A fit view of a large image: about 1/8, every output block reading ~35 taps."""
    image = textured(310, 410, seed=2)
    np.testing.assert_allclose(bicubic_resize(image, 50, 38), pillow_float(image, (50, 38)), atol=2e-6, rtol=0)


@pytest.mark.parametrize(("zoom", "width", "height"), [(0.123, 20, 18), (2.0, 70, 55), (7.3, 70, 55)])
def test_any_lattice_block_equals_pillow_with_that_box(zoom: float, width: int, height: int) -> None:
    """A block of the lattice at `zoom` is Pillow's resize of the matching box."""
    image = textured(200, 240, seed=1)
    lattice = Lattice(zoom, zoom, float(round(37 * zoom)), float(round(21 * zoom)), width, height)
    up = BicubicUpscaler("cpu")
    out = up.decode_lattice(up.encode(image), lattice)
    r = lattice.region
    box = (r.x, r.y, r.x + r.w, r.y + r.h)
    np.testing.assert_allclose(out, pillow_float(image, (lattice.width, lattice.height), box), atol=2e-6, rtol=0)


def test_tiles_of_a_shrunk_view_join_without_seams() -> None:
    image = textured(300, 260, seed=3)
    up = BicubicUpscaler("cpu")
    feats = up.encode(image)
    whole = Lattice.from_region(Region.whole(260, 300), 41, 47)
    full = up.decode_lattice(feats, whole)
    out = np.zeros_like(full)
    for r0 in range(0, whole.height, 16):
        for c0 in range(0, whole.width, 13):
            block = whole.crop(c0, r0, min(13, whole.width - c0), min(16, whole.height - r0))
            out[r0:r0 + block.height, c0:c0 + block.width] = up.decode_lattice(feats, block)
    np.testing.assert_allclose(out, full, atol=1e-6, rtol=0)


class CountingBicubic(BicubicUpscaler):
    def __init__(self) -> None:
        super().__init__("cpu")
        self.calls = 0

    def decode_lattice(self, features, lattice, progress=None):  # type: ignore[override]
        self.calls += 1
        return super().decode_lattice(features, lattice, progress)


def render_pane(zoom: float) -> tuple[list, CountingBicubic, np.ndarray, Lattice]:
    from inference.render import Renderer, RenderRequest, ViewState
    from tests.render_helpers import assemble

    up = CountingBicubic()
    renderer = Renderer(lambda name: up, tile=16)
    image = textured(40, 50, seed=4)
    renderer.set_image("img", image)
    lattice = ViewState(25.0, 20.0, zoom).lattice(70, 50)
    renderer.submit(RenderRequest(renderer.generations.issue("p"), "p", "bicubic", lattice, "img"))
    tiles = []
    while (tile := renderer.next_result()) is not None:
        tiles.append(tile)
    return tiles, up, assemble(tiles, lattice), lattice


def test_an_enlarged_bicubic_pane_is_decoded_in_one_call_and_reported_tile_by_tile() -> None:
    from inference.render import to_display

    tiles, up, shown, lattice = render_pane(2.5)
    assert len(tiles) > 10 and up.calls == 1  # the per-tile overhead is paid once
    assert not any(t.from_cache for t in tiles) and len({(t.u0, t.v0) for t in tiles}) == len(tiles)
    assert tiles[-1].final and all(t.seconds >= 0 for t in tiles)
    direct = to_display(up.decode(up.encode(textured(40, 50, seed=4)), lattice.region, (lattice.width, lattice.height)))
    inside = shown.any(-1)
    assert inside.mean() > 0.5
    np.testing.assert_array_equal(shown[inside], direct[inside])


def test_a_shrunk_bicubic_pane_goes_tile_by_tile() -> None:
    tiles, up, _, _ = render_pane(0.6)
    assert up.calls == len(tiles) > 1  # the first tile is not held back by the others
