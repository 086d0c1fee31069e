"""`nearest`: the input's own pixels, for pixel-peeping."""

from __future__ import annotations

import numpy as np
import pytest

from inference import catalog
from inference.geometry import Lattice, Region
from tests.tiny_methods import sample_image


def test_nearest_is_a_method_beside_bicubic() -> None:
    assert "nearest" in catalog.all_methods()
    assert catalog.is_interpolation("nearest") and not catalog.is_interpolation("liif")
    up = catalog.load_upscaler("nearest", "cpu")
    assert up.weights.trained and catalog.display_name("nearest") == "Nearest"


@pytest.mark.parametrize("zoom", [1, 2, 3, 7])
def test_integer_zoom_replicates_every_pixel_exactly(zoom: int) -> None:
    image = sample_image(11, 13)
    up = catalog.load_upscaler("nearest", "cpu")
    out = up.upscale(image, zoom)
    np.testing.assert_array_equal(out, np.repeat(np.repeat(image, zoom, 0), zoom, 1))


def test_fractional_zoom_copies_the_pixel_under_each_centre() -> None:
    image = sample_image(9, 10)
    up = catalog.load_upscaler("nearest", "cpu")
    feats = up.encode(image)
    lattice = Lattice.from_region(Region(2.3, 1.6, 5.0, 4.0), 37, 29)
    out = up.decode_lattice(feats, lattice)
    rows, cols = np.floor(lattice.ys()).astype(int), np.floor(lattice.xs()).astype(int)
    np.testing.assert_array_equal(out, image[rows][:, cols])
    # Only values of the input appear: nothing is blended.
    assert set(map(tuple, out.reshape(-1, 3))) <= set(map(tuple, image.reshape(-1, 3)))


def test_eight_bit_input_gives_the_same_pixels_as_float() -> None:
    image8 = (sample_image(6, 7) * 255).round().astype(np.uint8)
    up = catalog.load_upscaler("nearest", "cpu")
    out = up.upscale(image8, 4)
    np.testing.assert_array_equal(out, np.repeat(np.repeat(image8, 4, 0), 4, 1).astype(np.float32) / 255.0)
