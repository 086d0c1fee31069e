"""Pixels between integer samples and float: the one conversion of an image
to float in [0, 1] (`to_float`) and the one rounding rule from float back to
8 or 16 bits (`quantise`), used by saved files, the screen's tiles and the
evaluation's 8-bit data alike."""

from __future__ import annotations

import numpy as np

from .formats import ImageSaveError


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """uint8 as is; uint16 and float [0, 1] rounded to 8 bits (the LR is made on 8-bit data)."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return np.round(arr.astype(np.float64) / 257.0).astype(np.uint8)
    return np.round(np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def quantise(rgb: np.ndarray, bits: int, band: int = 512) -> np.ndarray:
    """(h, w, 3) float -> uint8 / uint16, rounded; NaN -> 0. Banded to bound
    the temporary float copies."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageSaveError(f"expected an (h, w, 3) RGB image, got shape {rgb.shape}")
    top = 255.0 if bits == 8 else 65535.0
    out = np.empty(rgb.shape, dtype=np.uint8 if bits == 8 else np.uint16)
    for r in range(0, rgb.shape[0], band):
        part = np.nan_to_num(rgb[r:r + band].astype(np.float32), nan=0.0)
        out[r:r + band] = np.clip(np.rint(part * top), 0, top)
    return out
