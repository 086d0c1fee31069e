"""Separable resampling of a fixed-scale network's output onto any lattice.

The filter is bicubic (Keys, a = -0.5) under Pillow's convention for
`Image.resize(..., BICUBIC, box=...)`: output pixel centre c (in native output
pixels) weighs native pixels j by k((j + 1/2 - c) / f) with f = max(1, native /
zoom), so the kernel widens by native / zoom when shrinking (antialiased) and is
plain bicubic when enlarging; taps outside the image are dropped and the rest
renormalised. Weights depend only on absolute positions, so a block of the
lattice resamples to exactly the matching crop of the whole image; at zoom ==
native on integer lattice offsets the weights are exactly 1 and 0.
"""

from __future__ import annotations

import math

import numpy as np

from inference.downscale import shrinks

SUPPORT = 2.0  # the bicubic kernel's half-width, in (widened) input pixels
_A = -0.5


def cubic(t: np.ndarray) -> np.ndarray:
    t = np.abs(t)
    t2, t3 = t * t, t * t * t
    near = (_A + 2.0) * t3 - (_A + 3.0) * t2 + 1.0
    far = _A * t3 - 5.0 * _A * t2 + 8.0 * _A * t - 4.0 * _A
    return np.where(t < 1.0, near, np.where(t < 2.0, far, 0.0))


def tap_range(centre: float, scale: float, size: int) -> tuple[int, int]:
    """[first, last) native pixels output centre `centre` reads (Pillow's rule)."""
    support = SUPPORT * max(scale, 1.0)
    first = max(0, int(centre - support + 0.5))
    last = min(size, int(centre + support + 0.5))
    return first, last


def weights(centres: np.ndarray, scale: float, size: int) -> tuple[np.ndarray, int]:
    """(matrix, first): row i holds the weights of output centre `centres[i]`
    (native pixel units) over native pixels first .. first + matrix.shape[1] - 1.
    `scale` is native pixels per output pixel; `size` the native extent."""
    ranges = [tap_range(float(c), scale, size) for c in centres]
    first = min(r[0] for r in ranges)
    last = max(r[1] for r in ranges)
    matrix = np.zeros((len(centres), max(1, last - first)), dtype=np.float64)
    inverse = 1.0 / max(scale, 1.0)
    for i, (c, (a, b)) in enumerate(zip(centres, ranges)):
        j = np.arange(a, b, dtype=np.float64)
        k = cubic((j + 0.5 - c) * inverse)
        total = k.sum()
        matrix[i, a - first:b - first] = k / total if total != 0 else k
    return matrix, first


def native_span(centres: np.ndarray, scale: float, size: int) -> tuple[int, int]:
    """[first, last) native pixels any of `centres` reads."""
    lo = tap_range(float(centres.min()), scale, size)[0]
    hi = tap_range(float(centres.max()), scale, size)[1]
    return lo, max(hi, lo + 1)


def is_identity(zoom: float, offset: float, native: int) -> bool:
    """Whether the lattice samples the native output's own pixel centres."""
    return zoom == float(native) and math.isclose(offset, round(offset), abs_tol=0.0)


def resampled_label(display: str, scale: int | None, zoom: float) -> str:
    """`display` at its native scale, else saying the native output is resampled
    to `zoom`; at zoom <= 1 bicubic draws instead (inference.downscale's rule,
    which the pane's note says), so nothing is said of resampling there."""
    if scale is None or math.isclose(zoom, scale, rel_tol=1e-9) or shrinks(zoom):
        return display
    return f"{display}, resampled to x{zoom:.3g}"
