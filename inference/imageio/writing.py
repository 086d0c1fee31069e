"""Saving images: every check that can be made before the work
(`check_output`), then quantising (the one rounding rule, `pixels`), encoding
and writing atomically (`atomic`). Raises ImageSaveError; nothing is left
behind on failure and an existing file is untouched."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, PngImagePlugin

from inference.files import writing_problem

from .atomic import atomic_file
from .encoders import write_png, write_tiff
from .formats import FORMATS, ImageSaveError, first_sentence
from .metadata import check_metadata, xmp_packet
from .pixels import quantise

# The output formats that hold an alpha channel (JPEG does not).
ALPHA_FORMATS = ("PNG", "TIFF", "WEBP")


def output_format(path: str | Path) -> str:
    """'PNG', 'TIFF', 'WEBP' or 'JPEG' from the extension; ImageSaveError otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise ImageSaveError(f"{path}: unknown output format {suffix or '(no extension)'!r}; use one of {known}")
    return FORMATS[suffix][0]


def holds_alpha(path: str | Path) -> bool:
    """Whether the format `path` names can hold transparency."""
    return output_format(path) in ALPHA_FORMATS


def check_output(path: str | Path, width: int, height: int, bits: int = 8) -> None:
    """Everything about writing a `width` x `height` image at `path` that can be
    checked before the work is done: format, bit depth, size limits, folder."""
    path = Path(path)
    fmt = output_format(path)
    depths, max_side = FORMATS[path.suffix.lower()][1:]
    if bits not in (8, 16):
        raise ImageSaveError(f"{path}: bit depth must be 8 or 16, not {bits}")
    if bits not in depths:
        raise ImageSaveError(f"{path}: {fmt} cannot hold {bits}-bit images; use .png or .tif for 16-bit output")
    if width <= 0 or height <= 0:
        raise ImageSaveError(f"{path}: cannot save an image of {width} x {height} pixels")
    if max(width, height) > max_side:
        raise ImageSaveError(f"{path}: {fmt} images can be at most {max_side} pixels a side, "
                             f"this one is {width} x {height}")
    problem = writing_problem(path)
    if problem:
        raise ImageSaveError(f"{path}: {problem}")


def save_image(path: str | Path, rgb: np.ndarray, *, bits: int = 8, metadata: dict[str, str] | None = None) -> Path:
    """Write (h, w, 3) float RGB in [0, 1] to `path` (format from the extension)
    atomically; (h, w, 4) is RGB and straight alpha, for the formats that
    hold it (`holds_alpha`). Raises ImageSaveError; on any failure, interrupt included, the
    temporary file is removed and an existing file of that name is untouched."""
    path = Path(path)
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise ImageSaveError(f"{path}: expected an (h, w, 3) RGB or (h, w, 4) RGBA image, got shape {rgb.shape}")
    check_output(path, rgb.shape[1], rgb.shape[0], bits)
    if not _all_finite(rgb):
        raise ImageSaveError(f"{path}: the image holds non-finite values (NaN or infinity), as a damaged model "
                             "gives; nothing was written")
    fmt = output_format(path)
    if rgb.shape[2] == 4 and fmt not in ALPHA_FORMATS:
        raise ImageSaveError(f"{path}: {fmt} cannot hold an alpha channel")
    meta = check_metadata(metadata)
    pixels = quantise(rgb, bits)
    try:
        with atomic_file(path) as handle:
            _write_encoded(handle, pixels, fmt, meta)
    except ImageSaveError:
        raise
    except OSError as error:
        raise ImageSaveError(f"{path}: could not be written ({error.strerror or first_sentence(error)}); "
                             "nothing was changed") from None
    return path


def _all_finite(rgb: np.ndarray, band: int = 256) -> bool:
    """Whether every value is finite, checked in bands of rows (no whole-image temporary)."""
    if not np.issubdtype(rgb.dtype, np.floating):
        return True
    return all(np.isfinite(rgb[r:r + band]).all() for r in range(0, rgb.shape[0], band))


def _write_encoded(handle: BinaryIO, pixels: np.ndarray, fmt: str, meta: dict[str, str]) -> None:
    mode = "RGBA" if pixels.shape[2] == 4 else "RGB"
    if fmt == "PNG":
        if pixels.dtype == np.uint16:
            write_png(handle, pixels, meta)
        else:
            info = PngImagePlugin.PngInfo()
            for key, value in meta.items():
                info.add_itxt(key, value)
            Image.fromarray(pixels, mode).save(handle, format="PNG", pnginfo=info, compress_level=6)
    elif fmt == "TIFF":
        write_tiff(handle, pixels, meta)
    elif fmt == "WEBP":
        Image.fromarray(pixels, mode).save(handle, format="WEBP", lossless=True, quality=80, method=4,
                                            exact=True, xmp=xmp_packet(meta) if meta else None)
    elif fmt == "JPEG":
        Image.fromarray(pixels, "RGB").save(handle, format="JPEG", quality=95, subsampling=0,
                                            xmp=xmp_packet(meta) if meta else None)
    else:  # pragma: no cover - output_format() admits only the above
        raise ImageSaveError(f"cannot write {fmt}")
