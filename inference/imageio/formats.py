"""What the image files are: the formats read (by content, through an
allow-list of decoders) and written (by extension), the limits, the two
errors, and the guard every Pillow call runs under."""

from __future__ import annotations

import contextlib
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator

from PIL import Image

from inference.errors import first_line

# Largest image accepted (width x height). 200 MP is a 16k x 12k scan; its
# float32 RGB copy alone takes 2.4 GB.
MAX_PIXELS = 200_000_000

SOFTWARE = "Implicit Zoom"

# Background for transparent pixels: neutral grey, so neither a white nor a
# black fringe is invented around transparent edges.
ALPHA_BACKGROUND = 0.5

# extension -> (format, bit depths supported, largest side in pixels)
FORMATS: dict[str, tuple[str, tuple[int, ...], int]] = {
    ".png": ("PNG", (8, 16), 2**31 - 1),
    ".tif": ("TIFF", (8, 16), 2**31 - 1),
    ".tiff": ("TIFF", (8, 16), 2**31 - 1),
    ".webp": ("WEBP", (8,), 16383),
    ".jpg": ("JPEG", (8,), 65535),
    ".jpeg": ("JPEG", (8,), 65535),
}

# The decoders an image file is read with, chosen by content: the formats the
# README promises. Pillow's other plugins stay out on purpose: its EPS plugin
# hands the file to Ghostscript (an interpreter, whatever the file's name), and
# the rarer ones are neither documented nor tested here.
READ_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")
READ_FORMATS_TEXT = "PNG, JPEG, WebP, TIFF, BMP or GIF"

# Pillow's global pixel limit is swapped out, and its warnings recorded, while
# a header is read (our own check replaces the limit); the lock keeps two loads
# from interleaving those global changes.
_PILLOW_LIMIT_LOCK = threading.RLock()


class ImageLoadError(ValueError):
    """An image that cannot be loaded; the message names the file and the problem."""


class ImageSaveError(ValueError):
    """An image that cannot be saved; nothing was written and an existing file is untouched."""



def megapixels(pixels: int) -> str:
    mp = pixels / 1e6
    return f"{mp:.0f}" if mp >= 10 else f"{mp:.3g}"


@contextlib.contextmanager
def own_pixel_limit(notes: list[str] | None = None) -> Iterator[None]:
    """Pillow's decompression-bomb check off: `load_image` checks the header
    size itself, with its own limit and message, before decoding. Pillow's
    warnings (corrupt EXIF, odd chunks) become notes instead of stray lines on
    stderr around a successful load."""
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved
            for warning in caught:
                if notes is not None and not issubclass(warning.category, Image.DecompressionBombWarning):
                    text = f"the decoder warned: {str(warning.message).strip().splitlines()[0].rstrip('.')}"
                    if text not in notes:
                        notes.append(text)


def first_sentence(error: BaseException) -> str:
    text = first_line(error)
    return text.rstrip(".")


DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError,
                  KeyError, TypeError, AttributeError, ZeroDivisionError, RuntimeError)
