"""PSNR / SSIM against values worked out by hand and an independent SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference.metrics import gaussian_window, psnr_rgb, psnr_y, shave_for, ssim_y


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.3 * np.sin(xx[..., None] * np.array([0.3, 0.5, 0.7]) + yy[..., None] * np.array([0.4, 0.2, 0.6]))
    return np.clip(base + 0.05 * rng.standard_normal((h, w, 3)), 0.1, 0.9)


def test_psnr_y_of_a_constant_difference() -> None:
    hr = smooth_image(12, 14)
    sr = hr + 0.02  # every channel 0.02 brighter
    # Y of the difference: 0.02 * (65.738 + 129.057 + 25.064) / 256 = 0.02 * 0.858824...
    y = 0.02 * 219.859 / 256
    assert psnr_y(sr, hr) == pytest.approx(-20 * math.log10(y), abs=1e-9)
    assert psnr_y(sr, hr) == pytest.approx(35.3013, abs=1e-3)


def test_psnr_y_weights_the_channels_by_luma() -> None:
    hr = smooth_image(10, 10)
    only_red, only_green = hr.copy(), hr.copy()
    only_red[..., 0] += 0.1
    only_green[..., 1] += 0.1
    assert psnr_y(only_red, hr) == pytest.approx(-20 * math.log10(0.1 * 65.738 / 256), abs=1e-9)
    assert psnr_y(only_green, hr) == pytest.approx(-20 * math.log10(0.1 * 129.057 / 256), abs=1e-9)


def test_psnr_rgb_of_a_constant_difference() -> None:
    hr = smooth_image(9, 11)
    assert psnr_rgb(hr - 0.1, hr) == pytest.approx(20.0, abs=1e-9)
    assert math.isinf(psnr_rgb(hr, hr)) and math.isinf(psnr_y(hr, hr))


def test_shave_drops_exactly_the_border() -> None:
    hr = smooth_image(20, 24)
    sr = hr.copy()
    s = 3
    ring = np.ones(hr.shape[:2], bool)
    ring[s:-s, s:-s] = False
    sr[ring] = 1.0 - sr[ring]  # large errors only in a ring of width 3
    sr[10, 12] += 0.05         # and one small error inside
    inner = 0.05 * 219.859 / 256
    n_inner = (20 - 2 * s) * (24 - 2 * s)
    assert psnr_y(sr, hr, shave=s) == pytest.approx(-10 * math.log10(inner ** 2 / n_inner), abs=1e-9)
    assert psnr_y(sr, hr, shave=s - 1) < psnr_y(sr, hr, shave=s) - 10


def test_uint8_input_is_read_as_eighths_of_255() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert psnr_y(a, b, 2) == pytest.approx(psnr_y(a / 255.0, b / 255.0, 2), abs=1e-12)
    assert ssim_y(a, b) == pytest.approx(ssim_y(a / 255.0, b / 255.0), abs=1e-12)


def test_size_mismatch_and_oversized_shave_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in size"):
        psnr_y(np.zeros((10, 10, 3)), np.zeros((10, 11, 3)))
    with pytest.raises(ValueError, match="too small"):
        psnr_y(np.zeros((10, 10, 3)), np.zeros((10, 10, 3)), shave=5)


def test_shave_is_ceil_of_the_scale() -> None:
    assert [shave_for(s) for s in (2, 3, 4, 2.5, 3.0000001, 12)] == [2, 3, 4, 3, 4, 12]


def test_ssim_of_identical_images_is_one() -> None:
    img = smooth_image(24, 30)
    assert ssim_y(img, img) == pytest.approx(1.0, abs=1e-12)
    assert ssim_y(img, img, shave=4) == pytest.approx(1.0, abs=1e-12)


def ssim_by_loops(x: np.ndarray, y: np.ndarray) -> float:
    """Straight from Wang et al. (2004): for every position of an 11x11 window
    wholly inside the image, Gaussian-weighted means, variances and covariance."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    r = np.arange(11) - 5.0
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            a, b = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            ma, mb = (g * a).sum(), (g * b).sum()
            va, vb = (g * (a - ma) ** 2).sum(), (g * (b - mb) ** 2).sum()
            cov = (g * (a - ma) * (b - mb)).sum()
            values.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2)))
    return float(np.mean(values))


def test_ssim_matches_a_loop_implementation() -> None:
    hr = smooth_image(17, 19, seed=1)
    rng = np.random.default_rng(2)
    sr = np.clip(hr + 0.08 * rng.standard_normal(hr.shape), 0, 1)

    def y255(img: np.ndarray) -> np.ndarray:
        return 16 + (65.738 * img[..., 0] + 129.057 * img[..., 1] + 25.064 * img[..., 2]) / 256 * 255

    expected = ssim_by_loops(y255(sr[1:-1, 1:-1]), y255(hr[1:-1, 1:-1]))
    assert ssim_y(sr, hr, shave=1) == pytest.approx(expected, abs=1e-10)
    assert 0.2 < expected < 0.99  # a real, imperfect case


def test_ssim_falls_as_noise_grows() -> None:
    hr = smooth_image(32, 32)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(hr.shape)
    scores = [ssim_y(np.clip(hr + k * noise, 0, 1), hr) for k in (0.01, 0.05, 0.2)]
    assert scores[0] > scores[1] > scores[2]


def test_gaussian_window_is_normalised_and_symmetric() -> None:
    g = gaussian_window()
    assert g.shape == (11,) and g.sum() == pytest.approx(1.0) and np.allclose(g, g[::-1])
    assert g[5] / g[4] == pytest.approx(math.exp(1 / (2 * 1.5 ** 2)))
