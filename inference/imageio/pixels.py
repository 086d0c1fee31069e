"""Pixels between integer samples and float: the one conversion of an image
to float in [0, 1] (`to_float`) and the one rounding rule from float back to
8 or 16 bits (`quantise`). Saved files, the screen's tiles (and so exports
that reuse them) and the evaluation's 8-bit data all round here.

The rule: NaN -> 0, clipped to [0, 1], times 255 (or 65535) in float32,
rounded half to even (`np.rint`). It is the rule every saved file was
already written with, so no file changes; unlike half up it has no bias.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_float(image: Any, dtype: Any = np.float32) -> np.ndarray:
    """An image as float in [0, 1]: uint8 / 255, uint16 / 65535, float as
    given (cast to `dtype`, float32 unless asked otherwise)."""
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        return arr.astype(dtype) / dtype(255.0)
    if arr.dtype == np.uint16:
        return arr.astype(dtype) / dtype(65535.0)
    return arr.astype(dtype, copy=False)


def quantise(rgb: Any, bits: int = 8, band: int = 512) -> np.ndarray:
    """Float in [0, 1] -> uint8 (bits 8) or uint16 (bits 16), any shape, by the
    one rule above. Done in bands of rows to bound the temporary copies."""
    rgb = np.asarray(rgb)
    top = 255.0 if bits == 8 else 65535.0
    out = np.empty(rgb.shape, dtype=np.uint8 if bits == 8 else np.uint16)
    for r in range(0, rgb.shape[0], band):
        part = np.nan_to_num(rgb[r:r + band].astype(np.float32), nan=0.0)
        out[r:r + band] = np.clip(np.rint(part * top), 0, top)
    return out


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: uint8 as is; uint16 and float [0, 1] rounded by the one
    rule (the LR is made on 8-bit data). Grey (H, W) is spread to three channels."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    return quantise(to_float(arr), 8)
