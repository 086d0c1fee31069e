"""Image quality metrics with the conventions of the super-resolution papers.

Inputs are (H, W, 3) RGB arrays with values in [0, 1] (float; uint8 is
accepted and divided by 255). `shave` pixels are dropped at every border
before measuring, as the papers do (ceil(s) on the benchmark sets).

- `psnr_y`: PSNR of the luma of the *difference* image, exactly as the public
  LIIF evaluation computes it: Y(sr - hr) = (65.738 R + 129.057 G + 25.064 B) / 256
  on [0, 1] values (the offset 16 cancels in a difference), peak 1.
- `psnr_rgb`: PSNR over all three channels, peak 1 (the DIV2K convention).
- `ssim_y`: SSIM (Wang et al. 2004) of the luma images, with the MATLAB /
  BasicSR convention: Y = 16 + (65.738 R + 129.057 G + 25.064 B) / 256 * 255 on
  the [0, 255] scale (so Y lies in [16, 235]), not quantised; an 11x11 Gaussian
  window with sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255; the mean of the SSIM map
  over the positions where the whole window lies inside the (shaved) image.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .imageio.pixels import to_float, to_rgb8

# ITU-R BT.601 luma weights as the SR literature writes them (divided by 256).
Y_WEIGHTS = np.array([65.738, 129.057, 25.064], dtype=np.float64) / 256.0
Y_OFFSET = 16.0  # on the [0, 255] scale

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _as_float(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {arr.shape}")
    return to_float(arr, np.float64)


def _pair(sr: np.ndarray, hr: np.ndarray, shave: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_float(sr), _as_float(hr)
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {a.shape} vs {b.shape}")
    shave = int(shave)
    if shave < 0:
        raise ValueError(f"shave must be >= 0, got {shave}")
    if shave:
        if a.shape[0] <= 2 * shave or a.shape[1] <= 2 * shave:
            raise ValueError(f"image of {a.shape[1]}x{a.shape[0]} is too small to shave {shave} pixels per border")
        a = a[shave:-shave, shave:-shave]
        b = b[shave:-shave, shave:-shave]
    return a, b


def _psnr_from_mse(mse: float) -> float:
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def psnr_y(sr: np.ndarray, hr: np.ndarray, shave: int = 0) -> float:
    """PSNR (dB) of the luma of the difference, peak 1; inf for identical images."""
    a, b = _pair(sr, hr, shave)
    diff = (a - b) @ Y_WEIGHTS
    return _psnr_from_mse(float(np.mean(diff * diff)))


def psnr_rgb(sr: np.ndarray, hr: np.ndarray, shave: int = 0) -> float:
    """PSNR (dB) over R, G and B, peak 1."""
    a, b = _pair(sr, hr, shave)
    diff = a - b
    return _psnr_from_mse(float(np.mean(diff * diff)))


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """1-D normalised Gaussian; the 2-D window is its outer product."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def ssim_y(sr: np.ndarray, hr: np.ndarray, shave: int = 0) -> float:
    """Mean SSIM of the luma images on the [0, 255] scale (see module docstring)."""
    a, b = _pair(sr, hr, shave)
    ya = Y_OFFSET + 255.0 * (a @ Y_WEIGHTS)
    yb = Y_OFFSET + 255.0 * (b @ Y_WEIGHTS)
    return ssim_gray(ya, yb, data_range=255.0)


def ssim_gray(x: np.ndarray, y: np.ndarray, data_range: float = 255.0) -> float:
    """SSIM of two single-channel images (valid window positions only)."""
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"expected two 2-D images of one size, got {x.shape} and {y.shape}")
    if min(x.shape) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, "
                         f"got {x.shape[1]}x{x.shape[0]}")
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    g = gaussian_window()
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)

    def blur(t: np.ndarray) -> np.ndarray:
        # Separable Gaussian over 'valid' positions, as a sum of shifted
        # slices: exact, and much faster in float64 than a generic convolution.
        rows = t.shape[0] - SSIM_WINDOW + 1
        cols = t.shape[1] - SSIM_WINDOW + 1
        down = sum(g[k] * t[k:k + rows] for k in range(SSIM_WINDOW))
        return sum(g[k] * down[:, k:k + cols] for k in range(SSIM_WINDOW))

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x * mu_x
    var_y = blur(y * y) - mu_y * mu_y
    cov = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean())


def shave_for(scale: float) -> int:
    """Border pixels dropped on the benchmark sets: ceil(s)."""
    return math.ceil(scale - 1e-9)


# ---------------------------------------------------------------- the benchmark protocol's input pair

def lr_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """(h_lr, w_lr) = floor(H / s), floor(W / s) (tolerant of float noise in s)."""
    return math.floor(height / scale + 1e-9), math.floor(width / scale + 1e-9)


def make_pair(hr: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(cropped HR, LR), both uint8 (H, W, 3): the benchmark protocol's input pair."""
    hr8 = to_rgb8(hr)
    if not (math.isfinite(scale) and scale >= 1.0):
        raise ValueError(f"scale must be >= 1, got {scale}")
    h_lr, w_lr = lr_size(hr8.shape[0], hr8.shape[1], scale)
    if h_lr < 1 or w_lr < 1:
        raise ValueError(f"image of {hr8.shape[1]}x{hr8.shape[0]} is too small for x{scale:g}")
    h_hr, w_hr = round(h_lr * scale), round(w_lr * scale)
    crop = np.ascontiguousarray(hr8[:h_hr, :w_hr])
    lr = np.asarray(Image.fromarray(crop).resize((w_lr, h_lr), Image.Resampling.BICUBIC), dtype=np.uint8)
    return crop, lr
