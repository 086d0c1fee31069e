"""Colour profiles on 16-bit RGB: LittleCMS (through Pillow) converts only
8-bit images, so a 16-bit image with a matrix/TRC profile (Adobe RGB,
ProPhoto, Display P3 ...) is converted here, in floating point, the same way:
each channel through its tone curve to linear light, the profile's colorants
to the PCS (XYZ, D50), sRGB's colorants back, clipped to sRGB's gamut, then
sRGB's tone curve. The profile is read from its tag table alone; a profile
of another kind (lookup tables) is `None`, and the caller says it was not
applied."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import ImageCms

Curve = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class MatrixProfile:
    colorants: np.ndarray  # (3, 3): columns are the red, green and blue XYZ (D50)
    curves: tuple[Curve, Curve, Curve]  # encoded value in [0, 1] -> linear light


def _s15(data: bytes, at: int, count: int) -> list[float]:
    return [v / 65536.0 for v in struct.unpack_from(f">{count}i", data, at)]


def _curve(data: bytes) -> Curve:
    kind = data[:4]
    if kind == b"curv":
        (count,) = struct.unpack_from(">I", data, 8)
        if count == 0:
            return lambda x: x
        if count == 1:
            gamma = struct.unpack_from(">H", data, 12)[0] / 256.0
            return lambda x: np.power(x, gamma)
        if 12 + 2 * count > len(data):
            raise ValueError("curve table runs past its tag")
        table = np.frombuffer(data, ">u2", count, 12).astype(np.float64) / 65535.0
        grid = np.linspace(0.0, 1.0, count)
        return lambda x: np.interp(x, grid, table).astype(x.dtype)
    if kind == b"para":
        (function,) = struct.unpack_from(">H", data, 8)
        sizes = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}
        if function not in sizes:
            raise ValueError(f"unknown parametric curve type {function}")
        p = _s15(data, 12, sizes[function]) + [0.0] * 7
        g, a, b, c, d, e, f = p[:7]
        if function == 0:
            return lambda x: np.power(x, g)
        if function == 1:
            return lambda x: np.where(x >= -b / a, np.power(np.maximum(a * x + b, 0), g), 0).astype(x.dtype)
        if function == 2:
            return lambda x: np.where(x >= -b / a, np.power(np.maximum(a * x + b, 0), g) + c, c).astype(x.dtype)
        if function == 3:
            return lambda x: np.where(x >= d, np.power(np.maximum(a * x + b, 0), g), c * x).astype(x.dtype)
        return lambda x: np.where(x >= d, np.power(np.maximum(a * x + b, 0), g) + e, c * x + f).astype(x.dtype)
    raise ValueError(f"unknown curve type {kind!r}")


def matrix_profile(icc: bytes) -> MatrixProfile | None:
    """The colorants and tone curves of an RGB matrix/TRC profile, or None
    for any other profile (or a damaged one)."""
    try:
        if len(icc) < 132 or icc[16:20] != b"RGB " or icc[20:24] != b"XYZ ":
            return None
        (count,) = struct.unpack_from(">I", icc, 128)
        tags: dict[bytes, bytes] = {}
        for i in range(min(count, 1000)):
            sig, offset, size = struct.unpack_from(">4sII", icc, 132 + 12 * i)
            if offset + size > len(icc):
                return None
            tags[sig] = icc[offset:offset + size]
        needed = (b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC")
        if not all(t in tags for t in needed) or any(t in tags for t in (b"A2B0", b"A2B1")):
            return None
        columns = []
        for sig in needed[:3]:
            tag = tags[sig]
            if tag[:4] != b"XYZ " or len(tag) < 20:
                return None
            columns.append(_s15(tag, 8, 3))
        colorants = np.array(columns, dtype=np.float64).T
        if not np.isfinite(colorants).all() or abs(np.linalg.det(colorants)) < 1e-6:
            return None
        curves = (_curve(tags[b"rTRC"]), _curve(tags[b"gTRC"]), _curve(tags[b"bTRC"]))
        return MatrixProfile(colorants, curves)
    except (struct.error, ValueError, ZeroDivisionError, np.linalg.LinAlgError):
        return None


_SRGB: MatrixProfile | None = None


def _srgb() -> MatrixProfile:
    """sRGB's colorants as LittleCMS builds them (the 8-bit conversion's target)."""
    global _SRGB
    if _SRGB is None:
        profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        _SRGB = matrix_profile(profile.tobytes())
        if _SRGB is None:  # pragma: no cover - LittleCMS's sRGB is a matrix/TRC profile
            raise ValueError("LittleCMS's sRGB profile is not a matrix/TRC profile")
    return _SRGB


def _srgb_encode(linear: np.ndarray) -> np.ndarray:
    return np.where(linear <= 0.0031308, 12.92 * linear,
                    1.055 * np.power(np.maximum(linear, 0.0031308), 1 / 2.4) - 0.055).astype(linear.dtype)


def convert16_to_srgb(samples: np.ndarray, profile: MatrixProfile, band: int = 256) -> np.ndarray:
    """(h, w, 3 or 4) uint16 samples in `profile`'s colours -> the same in
    sRGB (alpha kept), computed in float in bands of rows."""
    matrix = (np.linalg.inv(_srgb().colorants) @ profile.colorants).astype(np.float32)
    out = np.empty_like(samples)
    for r in range(0, samples.shape[0], band):
        part = samples[r:r + band, :, :3].astype(np.float32) / np.float32(65535)
        for c in range(3):
            part[..., c] = profile.curves[c](part[..., c])
        linear = np.clip(part @ matrix.T, 0.0, 1.0)
        out[r:r + band, :, :3] = np.round(_srgb_encode(linear) * 65535).astype(np.uint16)
        if samples.shape[2] == 4:
            out[r:r + band, :, 3] = samples[r:r + band, :, 3]
    return out


def profile_description(icc: bytes) -> str | None:
    """The profile's own description (LittleCMS reads it), or None when unreadable."""

    try:
        return str(ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))).strip()
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError):
        return None
