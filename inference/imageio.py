"""Reading and writing images, Qt-free.

    loaded = load_image("photo.jpg")        # LoadedImage: (h, w, 3) float32 in [0, 1] + notes
    save_image("out.png", rgb, bits=16, metadata={"Method": "LIIF"})
    read_metadata("out.png")                # -> {"Method": "LIIF"}

Loading never shows a traceback: every failure is an `ImageLoadError` whose
message names the file and the problem. Pixels are checked against
`MAX_PIXELS` from the header, before anything is decoded.

Saving is atomic: the image is written to a temporary file in the same folder,
flushed to disk, then renamed over the target, so an interrupted or failed save
never leaves a half-written file and never harms an existing one.

Pillow reads 16-bit RGB(A) PNG and TIFF as 8-bit; `_decode_rgb16` recovers the
full precision by running Pillow's own decoder twice (high bytes, then low
bytes). Pillow cannot write 16-bit RGB at all, so 16-bit PNG and all TIFF are
written by the small encoders at the end of this module.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import struct
import sys
import tempfile
import threading
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, TypeVar
from xml.etree import ElementTree

import numpy as np
from PIL import Image, ImageFile, PngImagePlugin, UnidentifiedImageError

from .files import NAME_MAX, reading_problem, writing_problem

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

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,78}$")
_XMP_NS = "https://implicit-zoom.invalid/ns/1.0/"
_RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
# Pillow's global pixel limit is swapped out, and its warnings recorded, while
# a header is read (our own check replaces the limit); the lock keeps two loads
# from interleaving those global changes.
_PILLOW_LIMIT_LOCK = threading.RLock()


_T = TypeVar("_T")


class ImageLoadError(ValueError):
    """An image that cannot be loaded; the message names the file and the problem."""


class ImageSaveError(ValueError):
    """An image that cannot be saved; nothing was written and an existing file is untouched."""


@dataclass
class LoadedImage:
    rgb: np.ndarray  # (h, w, 3) float32 in [0, 1]
    path: str
    bit_depth: int  # 8 or 16
    notes: list[str] = field(default_factory=list)  # things the user should be told
    box: tuple[int, int, int, int] | None = None  # (x0, y0, x1, y1) of the image held; None: all of it

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


# ---------------------------------------------------------------- loading


def _megapixels(pixels: int) -> str:
    mp = pixels / 1e6
    return f"{mp:.0f}" if mp >= 10 else f"{mp:.3g}"


@contextlib.contextmanager
def _own_pixel_limit(notes: list[str] | None = None) -> Iterator[None]:
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


def _first_sentence(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text.rstrip(".")


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError,
                  KeyError, TypeError, AttributeError, ZeroDivisionError, RuntimeError)


def _swap16(rawmode: str | None) -> str | None:
    """The raw mode that picks the other byte of each 16-bit sample."""
    if rawmode is None:
        return None
    if rawmode.endswith(";16B"):
        return rawmode[:-1] + "L"
    if rawmode.endswith(";16L"):
        return rawmode[:-1] + "B"
    if rawmode.endswith(";16N"):
        return rawmode[:-1] + ("B" if sys.byteorder == "little" else "L")
    return None


def _tile_rawmode(args: object) -> str | None:
    if isinstance(args, str):
        return args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return None


def _is_rgb16(im: ImageFile.ImageFile) -> bool:
    if im.mode not in ("RGB", "RGBA") or not im.tile:
        return False
    modes = {_tile_rawmode(tile.args) for tile in im.tile}
    return len(modes) == 1 and all(m is not None and _swap16(m) is not None for m in modes)


def _with_rawmode(args: object, rawmode: str | None) -> object:
    return rawmode if isinstance(args, str) else (rawmode, *args[1:])  # type: ignore[index]


def _decode_rgb16(path: Path, frame_tile: list) -> np.ndarray:
    """(h, w, c) uint16 of a 16-bit RGB(A) image that Pillow would truncate to
    8 bits: decode once as usual (the high byte of each sample) and once with
    the byte order swapped (the low byte), then combine."""
    planes = []
    for swap in (False, True):
        with Image.open(path, formats=READ_FORMATS) as im:
            im.tile = [tile._replace(args=_with_rawmode(
                tile.args, _swap16(_tile_rawmode(tile.args)) if swap else _tile_rawmode(tile.args)))
                for tile in frame_tile]
            im.load()
            planes.append(np.asarray(im))
    high, low = planes
    return (high.astype(np.uint16) << 8) | low.astype(np.uint16)


_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"),
               (b"II*\0", "TIFF"), (b"MM\0*", "TIFF"), (b"BM", "BMP"))

# Formats that are not read, recognised by their first bytes so that a refusal
# can say what the file really is.
_FOREIGN_SIGNATURES = (
    (b"\xc5\xd0\xd3\xc6", "EPS (Encapsulated PostScript)"), (b"%!PS-Adobe-3.0 EPSF", "EPS (Encapsulated PostScript)"),
    (b"%!", "PostScript"), (b"\x04%!", "PostScript"), (b"%PDF", "PDF"),
    (b"8BPS", "Photoshop (PSD)"), (b"gimp xcf", "GIMP (XCF)"), (b"qoif", "QOI"), (b"DDS ", "DirectDraw surface"),
    (b"\0\0\0\x0cjP  ", "JPEG 2000"), (b"\xffO\xffQ", "JPEG 2000"), (b"\x00\x00\x01\x00", "Windows icon (ICO)"),
    (b"\x76\x2f\x31\x01", "OpenEXR"), (b"#?RADIANCE", "Radiance HDR"), (b"SIMPLE  =", "FITS"),
    (b"\x89HDF", "HDF5"), (b"PK\x03\x04", "a ZIP archive"), (b"\x7fELF", "an executable program"),
    (b"#!", "a script"), (b"MZ", "a Windows program"),
)


def identify_foreign(head: bytes) -> str | None:
    """What a file that no allowed decoder reads holds, from its first bytes:
    'PostScript', 'PPM', ... or None when unknown. Only bytes are compared:
    nothing is decoded."""
    for magic, kind in _FOREIGN_SIGNATURES:
        if head.startswith(magic):
            return kind
    if len(head) >= 3 and head[:1] == b"P" and head[1:2] in b"123456" and head[2:3].isspace():
        return "PPM / PGM / PBM (Netpbm)"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "AVIF" if brand in (b"avif", b"avis") else "HEIF / HEIC" if brand in (
            b"heic", b"heix", b"mif1", b"msf1", b"hevc") else "an ISO media file (video or HEIF)"
    text = head.lstrip().lower()
    if text.startswith((b"<?xml", b"<svg")) and b"svg" in head.lower():
        return "SVG"
    if text.startswith((b"<!doctype html", b"<html")):
        return "HTML"
    if text.startswith(b"<?xml"):
        return "XML"
    return None


def _unidentified(path: Path, name: str, detail: str | None = None) -> str:
    """Why no allowed decoder opened the file: a known signature with a broken
    header, a format that is not read here (named), or not an image at all."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError:
        head = b""
    kind = next((fmt for magic, fmt in _SIGNATURES if head.startswith(magic)), None)
    if kind is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "WebP"
    why = f" ({detail})" if detail else ""
    if kind is not None:
        return f"{name}: looks like a {kind} file but its header is corrupt or truncated{why}"
    foreign = identify_foreign(head)
    if foreign is not None:
        return (f"{name}: holds {foreign}, not an image format read here ({READ_FORMATS_TEXT}); "
                f"refused without opening it")
    if detail:
        return f"{name}: corrupt or unsupported image header{why}"
    return f"{name}: not an image file (this app reads {READ_FORMATS_TEXT})"


def _describe_size(w: int, h: int) -> str:
    return f"{w} x {h} pixels ({_megapixels(w * h)} megapixels)"


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, read without decoding its pixels."""

    width: int  # upright, after EXIF orientation
    height: int
    format: str


def _guarded(path: Path, work: Callable[[Path, str], _T]) -> _T:
    """`work(path, name)`, with every failure turned into one ImageLoadError naming the file."""
    name = str(path)
    try:
        return work(path, name)
    except ImageLoadError:
        raise
    except MemoryError:
        raise ImageLoadError(f"{name}: not enough memory to load this image") from None
    except RecursionError:
        raise ImageLoadError(f"{name}: could not be read as an image (its structure is nested too deeply)") from None
    except Exception as error:  # a decoder failure not foreseen below: still one clear sentence
        raise ImageLoadError(f"{name}: could not be read as an image ({_first_sentence(error)})") from None


def read_header(path: str | Path, max_pixels: int = MAX_PIXELS) -> ImageHeader:
    """The size and format of the image at `path` from its header alone (no
    pixel is decoded), after the same checks as `load_image`: lets a caller
    refuse impossible work before paying for the decode. Raises ImageLoadError."""

    def work(path: Path, name: str) -> ImageHeader:
        im, _ = _open(path, name, max_pixels)
        with im:
            w, h = im.size
            fmt = (im.format or "").upper()
            # Pillow decodes a whole PNG to look for an eXIf chunk it has not
            # met yet; the chunk list says whether there is one at all.
            if fmt == "PNG" and "exif" not in im.info and not _png_has_chunk(path, b"eXIf"):
                orientation = 1
            else:
                orientation = _orientation(im, [])
        return ImageHeader(h, w, fmt) if orientation >= 5 else ImageHeader(w, h, fmt)

    return _guarded(Path(path), work)


def load_rgb8(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB (grayscale is replicated to three
    channels), read by the app's own reader: a damaged, truncated or huge file
    raises ImageLoadError naming it instead of being measured."""
    return to_rgb8(load_image(path).rgb)


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


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS,
               box: tuple[int, int, int, int] | None = None) -> LoadedImage:
    """The image at `path` as (h, w, 3) float32 RGB in [0, 1], with notes on
    anything done to it. Raises ImageLoadError (never anything else) with a
    message that names the file.

    `box` = (x0, y0, x1, y1) in the upright image's pixels keeps only that
    part (clipped to the image): the file is still decoded whole (none of the
    formats read here can be decoded in part through Pillow), but only the kept
    part is converted to float, so memory stays near the decoded 8- or 16-bit
    data instead of four times it."""
    return _guarded(Path(path), lambda p, name: _load(p, name, max_pixels, box))


def _open(path: Path, name: str, max_pixels: int) -> tuple[ImageFile.ImageFile, list[str]]:
    """The opened (not yet decoded) image, after checking the file and the
    header's size; notes from opening (warnings Pillow gave) come with it."""
    problem = reading_problem(path)
    if problem:
        raise ImageLoadError(f"{name}: {problem}")
    try:
        size = os.stat(path).st_size
    except OSError as error:
        raise ImageLoadError(f"{name}: cannot be read ({error.strerror or error})") from None
    if size == 0:
        raise ImageLoadError(f"{name}: the file is empty (0 bytes)")
    notes: list[str] = []
    with _own_pixel_limit(notes):
        try:
            im = Image.open(path, formats=READ_FORMATS)
        except UnidentifiedImageError:
            raise ImageLoadError(_unidentified(path, name)) from None
        except PermissionError:
            raise ImageLoadError(f"{name}: permission denied") from None
        except Image.DecompressionBombError as error:
            raise ImageLoadError(f"{name}: refused as too large ({_first_sentence(error)})") from None
        except _DECODE_ERRORS as error:
            raise ImageLoadError(_unidentified(path, name, _first_sentence(error))) from None
    w, h = im.size
    if w <= 0 or h <= 0:
        im.close()
        raise ImageLoadError(f"{name}: the image has zero size ({w} x {h} pixels)")
    # Checked from the header, before any pixel is decoded.
    if w * h > max_pixels:
        im.close()
        raise ImageLoadError(f"{name}: {_describe_size(w, h)} is over the limit of "
                             f"{_megapixels(max_pixels)} megapixels; refused (it could exhaust memory)")
    return im, notes


def _orientation(im: Image.Image, notes: list[str]) -> int:
    """EXIF orientation 1..8 (1 when absent or unreadable; corrupt EXIF is a note, not a warning on stderr)."""
    try:
        with _own_pixel_limit(notes):
            return int(im.getexif().get(0x0112, 1) or 1)
    except _DECODE_ERRORS:
        return 1


def _load(path: Path, name: str, max_pixels: int, box: tuple[int, int, int, int] | None) -> LoadedImage:
    # Never pad a truncated image with zeros, whoever turned this on.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    opened, notes = _open(path, name, max_pixels)
    im: Image.Image = opened  # becomes the cropped or converted copy below
    with im:
        w, h = im.size
        fmt = (im.format or "").upper()
        suffix = path.suffix.lower()
        expected = FORMATS.get(suffix, ("",))[0]
        if fmt and expected and fmt != expected and not (fmt == "MPO" and expected == "JPEG"):
            notes.append(f"the file holds {fmt} data although its name ends in {suffix}")
        try:
            frames = int(getattr(im, "n_frames", 1) or 1)
            if frames > 1:
                im.seek(0)
                kind = "page" if fmt == "TIFF" else "frame"
                notes.append(f"first {kind} of {frames}")
        except _DECODE_ERRORS:
            pass
        # A PNG that declares more pixels than its data holds: refused before
        # decoding when the data could not hold them even at zlib's best
        # ratio, else after, when the last row came out blank.
        layout = _png_layout(path) if fmt == "PNG" else None
        if layout is not None and layout.compressed * _ZLIB_MAX_RATIO < layout.expected:
            _refuse_short_png(path, name, layout)
        rgb16_tile = list(opened.tile) if _is_rgb16(opened) else None
        try:
            im.load()
        except Image.DecompressionBombError as error:
            raise ImageLoadError(f"{name}: refused as too large ({_first_sentence(error)})") from None
        except _DECODE_ERRORS as error:
            reason = _first_sentence(error)
            if "truncat" in reason.lower():
                raise ImageLoadError(
                    f"{name}: the image data is truncated (the file ends before the image does)") from None
            raise ImageLoadError(f"{name}: the image data is corrupt ({reason})") from None
        if layout is not None and (layout.interlaced or _last_row_blank(im)):
            _refuse_short_png(path, name, layout)
        orientation = _orientation(im, notes)
        kept = raw_box = None
        if box is not None:
            upright = (h, w) if orientation >= 5 else (w, h)
            kept = _clip_box(box, *upright)
            raw_box = _raw_box(kept, orientation, w, h)
            if w * h > 16_000_000:
                notes.append(f"decoded whole ({_megapixels(w * h)} megapixels) to read a region of it: "
                             f"{fmt or 'this format'} cannot be read in part")
            if rgb16_tile is None:
                im = im.crop(raw_box)  # only this part is ever copied or converted
                raw_box = None
        if im.info.get("icc_profile") and im.mode != "CMYK" and rgb16_tile is None:
            im = _to_srgb(im, notes)
        samples, top, bit_depth = _samples(im, path, rgb16_tile, notes)
        # Pillow's decoded copy goes now (leaving `with` only closes the
        # file), before the float image is made beside the samples.
        im.close()
        opened.close()
    if raw_box is not None:
        x0, y0, x1, y1 = raw_box
        samples = samples[y0:y1, x0:x1]
    if orientation in range(2, 9):
        samples = _orient(samples, orientation)
        rotated = orientation >= 5 or orientation == 3
        notes.append("EXIF orientation applied" + (" (rotated)" if rotated else " (flipped)"))
    rgb = _to_float_rgb(samples, top, notes)
    if bit_depth == 16:
        notes.append("16-bit")
    return LoadedImage(rgb, name, bit_depth, notes, kept)


def _raw_box(box: tuple[int, int, int, int], orientation: int, width: int, height: int
             ) -> tuple[int, int, int, int]:
    """The box in the stored (not yet EXIF-oriented) image of width x height
    that holds `box` of the upright image."""

    def stored(u: int, v: int) -> tuple[int, int]:  # upright pixel (u, v) -> stored (x, y)
        return {1: (u, v), 2: (width - 1 - u, v), 3: (width - 1 - u, height - 1 - v), 4: (u, height - 1 - v),
                5: (v, u), 6: (v, height - 1 - u), 7: (width - 1 - v, height - 1 - u),
                8: (width - 1 - v, u)}.get(orientation, (u, v))

    x0, y0, x1, y1 = box
    (ax, ay), (bx, by) = stored(x0, y0), stored(x1 - 1, y1 - 1)
    return min(ax, bx), min(ay, by), max(ax, bx) + 1, max(ay, by) + 1


def _refuse_short_png(path: Path, name: str, layout: _PngLayout) -> None:
    short = _png_shortfall(path, layout)
    if short:
        raise ImageLoadError(f"{name}: the image data is truncated ({short}); "
                             "refused rather than filled with invented pixels")


def _clip_box(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(v) for v in box)
    x0, y0 = min(max(0, x0), width - 1), min(max(0, y0), height - 1)
    return x0, y0, max(x0 + 1, min(x1, width)), max(y0 + 1, min(y1, height))


# PNG colour type -> samples per pixel.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7 passes: (x0, y0, dx, dy).
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_raw_size(width: int, height: int, depth: int, colour: int, interlaced: bool) -> tuple[int, int]:
    """(bytes of filtered scanlines the header promises, bytes per full row)."""
    bits = depth * _PNG_CHANNELS.get(colour, 4)

    def rows(w: int, h: int) -> int:
        return h * ((w * bits + 7) // 8 + 1) if w and h else 0

    row = (width * bits + 7) // 8 + 1
    if not interlaced:
        return rows(width, height), row
    return sum(rows(max(0, (width - x0 + dx - 1) // dx), max(0, (height - y0 + dy - 1) // dy))
               for x0, y0, dx, dy in _ADAM7), row


# Most output one zlib input byte can give (deflate's best case is about 1032:1).
_ZLIB_MAX_RATIO = 1100


@dataclass(frozen=True)
class _PngLayout:
    expected: int  # bytes of filtered scanlines the header promises
    row: int  # bytes per full row (non-interlaced)
    compressed: int  # bytes in the run of IDAT chunks
    interlaced: bool


def _png_chunks(handle: BinaryIO) -> Iterator[tuple[bytes, int]]:
    """(type, data length) of each chunk of a PNG opened past its signature, up
    to IEND or the end of the file. While the caller looks at a chunk the file
    stands at its data, which is skipped, not read, unless the caller reads it."""
    while True:
        head = handle.read(8)
        if len(head) < 8:
            return
        length, kind = struct.unpack(">I4s", head)
        start = handle.tell()
        yield kind, length
        if kind == b"IEND":
            return
        handle.seek(start + length + 4)  # the data, then the CRC


def _png_layout(path: Path) -> _PngLayout | None:
    """What a PNG's header promises and how much compressed data follows, from
    the chunk headers alone (the data is skipped, not read)."""
    with open(path, "rb") as handle:
        if handle.read(8) != b"\x89PNG\r\n\x1a\n":
            return None
        header: tuple[int, int] | None = None
        interlaced = False
        compressed = 0
        seen_idat = False
        for kind, length in _png_chunks(handle):
            if kind == b"IHDR" and length >= 13 and header is None:
                width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", handle.read(13))
                interlaced = interlace == 1
                header = _png_raw_size(width, height, depth, colour, interlaced)
            elif kind == b"IDAT":
                seen_idat = True
                compressed += length
            elif seen_idat or kind == b"IEND":
                break  # the image data is one run of IDAT chunks
    if header is None:
        return None
    return _PngLayout(header[0], header[1], compressed, interlaced)


def _png_has_chunk(path: Path, wanted: bytes) -> bool:
    """Whether a PNG holds a chunk of this type (chunk headers only are read)."""
    with open(path, "rb") as handle:
        handle.seek(8)
        return any(kind == wanted for kind, _ in _png_chunks(handle))


def _png_shortfall(path: Path, layout: _PngLayout, piece: int = 1 << 20) -> str | None:
    """How much of the image a PNG's compressed data really holds, when that is
    less than its header declares (None when complete, or when the data is
    damaged in another way, which the decoder reports itself). Pillow fills
    the rows that a well-formed but short IDAT stream lacks with zeros,
    silently; this inflates the stream in pieces (memory stays at a piece),
    counting the bytes."""
    inflater = zlib.decompressobj()
    produced = 0
    with open(path, "rb") as handle:
        handle.seek(8)
        seen_idat = False
        while True:
            head = handle.read(8)
            if len(head) < 8:
                break
            length, kind = struct.unpack(">I4s", head)
            if kind != b"IDAT":
                if seen_idat or kind == b"IEND":
                    break
                handle.seek(length + 4, os.SEEK_CUR)
                continue
            seen_idat = True
            left = length
            while left > 0 and not inflater.eof:
                data = handle.read(min(piece, left))
                if not data:
                    break
                left -= len(data)
                try:
                    while data and not inflater.eof:
                        produced += len(inflater.decompress(data, piece))
                        if produced >= layout.expected:
                            return None
                        data = inflater.unconsumed_tail
                except zlib.error:
                    return None  # corrupt, not short: the decoder says so
            handle.seek(left + 4, os.SEEK_CUR)
    if produced >= layout.expected:
        return None
    if not layout.interlaced:
        return f"it holds {produced // layout.row} of the {layout.expected // layout.row} rows its header declares"
    return f"it holds {100 * produced / layout.expected:.0f}% of the pixel data its header declares"


def _last_row_blank(im: Image.Image) -> bool:
    """Whether the decoded image's last row is all zero bytes: where a short
    PNG stream's missing rows end up (so only then is the stream counted)."""
    w, h = im.size
    return not any(im.crop((0, h - 1, w, h)).tobytes())


def _to_srgb(im: Image.Image, notes: list[str]) -> Image.Image:
    """Pixels as sRGB: an sRGB profile needs nothing; another profile on 8-bit
    RGB(A) data is converted; anything else is used as stored, and said so."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
        description = ImageCms.getProfileDescription(source).strip()
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError):
        notes.append("its embedded colour profile is unreadable and was ignored")
        return im
    if "srgb" in description.lower().replace(" ", ""):
        return im
    if im.mode in ("RGB", "RGBA"):
        try:
            converted = ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"), outputMode=im.mode)
            if converted is not None:  # None only for a conversion in place
                notes.append(f"converted from its colour profile ({description}) to sRGB")
                return converted
        except (OSError, ValueError, ImageCms.PyCMSError):
            pass
    notes.append(f"its colour profile ({description}) is not applied: pixel values are used as stored")
    return im


def _orient(samples: np.ndarray, orientation: int) -> np.ndarray:
    """EXIF orientation 2..8 -> the upright image (same as ImageOps.exif_transpose), as a view."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    return ops[orientation](samples)


def _samples(im: Image.Image, path: Path, rgb16_tile: list | None, notes: list[str]
             ) -> tuple[np.ndarray, float, int]:
    """(h, w, c) samples as stored (c: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA),
    the value meaning full intensity, and the bit depth. Kept as integers so
    that only the part of the image that is used is ever made float."""
    mode = im.mode
    if rgb16_tile is not None:
        try:
            return _decode_rgb16(path, rgb16_tile), 65535.0, 16
        except _DECODE_ERRORS:
            notes.append("16-bit data read at 8-bit precision")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        notes.append("grayscale")
        return np.asarray(im).astype(np.uint16)[..., None], 65535.0, 16
    if mode == "I":
        values = np.asarray(im)
        notes.append("grayscale")
        if values.min() < 0 or values.max() > 65535:
            notes.insert(-1, "32-bit integer data scaled to its own range")
            lo, hi = float(values.min()), float(values.max())
            return ((values - lo) / max(hi - lo, 1.0)).astype(np.float32)[..., None], 1.0, 16
        return values.astype(np.uint16)[..., None], 65535.0, 16
    if mode == "F":
        values = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        if values.min() < 0 or values.max() > 1:
            notes.append("floating-point data outside [0, 1] clipped")
        notes.append("grayscale")
        return np.clip(values, 0, 1)[..., None], 1.0, 16
    if mode == "CMYK":
        notes.append("CMYK converted to RGB (without a colour profile)")
        im = im.convert("RGB")
        mode = "RGB"
    if mode == "P":
        notes.append("palette image")
        im = im.convert("RGBA" if "transparency" in im.info or (im.palette is not None and im.palette.mode == "RGBA")
                        else "RGB")
        mode = im.mode
    elif mode in ("L", "RGB") and "transparency" in im.info:
        im = im.convert("LA" if mode == "L" else "RGBA")
        mode = im.mode
    if mode == "1":
        im = im.convert("L")
        mode = "L"
    if mode == "PA":
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("L", "LA", "La"):
        notes.append("grayscale")
        return np.asarray(im.convert("LA")), 255.0, 8
    if mode not in ("RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in mode or "a" in mode else "RGB")
    return np.asarray(im), 255.0, 8


def _to_float_rgb(samples: np.ndarray, top: float, notes: list[str], band: int = 256) -> np.ndarray:
    """(h, w, 3) float32 in [0, 1] from `_samples`' output: grey spread to
    three channels, transparency composited on `ALPHA_BACKGROUND`. Done in
    bands of rows, so no temporary copy of the whole image is made."""
    h, w, channels = samples.shape
    rgb = np.empty((h, w, 3), dtype=np.float32)
    colour = slice(0, 1) if channels <= 2 else slice(0, 3)
    has_alpha = channels in (2, 4)
    composited = False
    for r in range(0, h, band):
        part = rgb[r:r + band]
        part[...] = samples[r:r + band, :, colour]
        if top != 1.0:
            part /= np.float32(top)
        if has_alpha:
            alpha = samples[r:r + band, :, -1:].astype(np.float32)
            if top != 1.0:
                alpha /= np.float32(top)
            if alpha.min() < 1.0:
                composited = True
                part[...] = part * alpha + ALPHA_BACKGROUND * (1.0 - alpha)
    if composited:
        notes.append("transparent areas composited on neutral grey (50%)")
    return rgb


# ---------------------------------------------------------------- saving


def output_format(path: str | Path) -> str:
    """'PNG', 'TIFF', 'WEBP' or 'JPEG' from the extension; ImageSaveError otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise ImageSaveError(f"{path}: unknown output format {suffix or '(no extension)'!r}; use one of {known}")
    return FORMATS[suffix][0]


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


def _check_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    clean: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise ImageSaveError(f"metadata key {key!r} is not allowed (letters, digits, _ . - ; at most 79)")
        clean[key] = str(value)
    return clean


def _quantise(rgb: np.ndarray, bits: int, band: int = 512) -> np.ndarray:
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


def save_image(path: str | Path, rgb: np.ndarray, *, bits: int = 8, metadata: dict[str, str] | None = None) -> Path:
    """Write (h, w, 3) float RGB in [0, 1] to `path` (format from the extension)
    atomically. Raises ImageSaveError; on any failure, interrupt included, the
    temporary file is removed and an existing file of that name is untouched."""
    path = Path(path)
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageSaveError(f"{path}: expected an (h, w, 3) RGB image, got shape {rgb.shape}")
    check_output(path, rgb.shape[1], rgb.shape[0], bits)
    fmt = output_format(path)
    meta = _check_metadata(metadata)
    pixels = _quantise(rgb, bits)
    try:
        with _atomic_file(path) as handle:
            _write_encoded(handle, pixels, fmt, meta)
    except ImageSaveError:
        raise
    except OSError as error:
        raise ImageSaveError(f"{path}: could not be written ({error.strerror or _first_sentence(error)}); "
                             "nothing was changed") from None
    return path


def _temporary_prefix(name: str) -> str:
    """'.NAME.' for the temporary file beside NAME, cut (in bytes) so that with
    mkstemp's 8 random characters and '.part' it still fits in one file name."""
    room = NAME_MAX - len("..") - 8 - len(".part")
    return f".{os.fsdecode(os.fsencode(name)[:room])}."


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A temporary file beside `path`, renamed over it on success. An existing
    regular file's permissions are kept; anything else gets the umask's default
    (a symlink is refused earlier, in `check_output`, never followed)."""
    fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path.name), suffix=".part", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        try:
            existing = os.lstat(path)
        except OSError:
            existing = None
        if existing is not None and stat.S_ISREG(existing.st_mode):
            with contextlib.suppress(OSError):
                os.chmod(tmp, existing.st_mode & 0o7777)
        else:
            with contextlib.suppress(OSError):
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); best effort."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder or ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_encoded(handle: BinaryIO, pixels: np.ndarray, fmt: str, meta: dict[str, str]) -> None:
    if fmt == "PNG":
        if pixels.dtype == np.uint16:
            write_png(handle, pixels, meta)
        else:
            info = PngImagePlugin.PngInfo()
            for key, value in meta.items():
                info.add_itxt(key, value)
            Image.fromarray(pixels, "RGB").save(handle, format="PNG", pnginfo=info, compress_level=6)
    elif fmt == "TIFF":
        write_tiff(handle, pixels, meta)
    elif fmt == "WEBP":
        Image.fromarray(pixels, "RGB").save(handle, format="WEBP", lossless=True, quality=80, method=4,
                                            exact=True, xmp=_xmp_packet(meta) if meta else None)
    elif fmt == "JPEG":
        Image.fromarray(pixels, "RGB").save(handle, format="JPEG", quality=95, subsampling=0,
                                            xmp=_xmp_packet(meta) if meta else None)
    else:  # pragma: no cover - output_format() admits only the above
        raise ImageSaveError(f"cannot write {fmt}")


def _xmp_packet(meta: dict[str, str]) -> bytes:
    root = ElementTree.Element("x:xmpmeta", {"xmlns:x": "adobe:ns:meta/"})
    rdf = ElementTree.SubElement(root, "rdf:RDF", {"xmlns:rdf": _RDF_NS})
    desc = ElementTree.SubElement(rdf, "rdf:Description", {"rdf:about": "", "xmlns:iz": _XMP_NS})
    for key, value in meta.items():
        ElementTree.SubElement(desc, f"iz:{key}").text = value
    body = ElementTree.tostring(root, encoding="unicode")
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>' + body
            + '<?xpacket end="w"?>').encode("utf-8")


def _parse_xmp(packet: bytes | str) -> dict[str, str]:
    text = packet.decode("utf-8", "replace") if isinstance(packet, bytes) else packet
    start, end = text.find("<x:xmpmeta"), text.rfind("</x:xmpmeta>")
    if start < 0 or end < 0:
        return {}
    try:
        root = ElementTree.fromstring(text[start:end + len("</x:xmpmeta>")])
    except ElementTree.ParseError:
        return {}
    prefix = "{" + _XMP_NS + "}"
    return {el.tag[len(prefix):]: el.text or "" for el in root.iter() if el.tag.startswith(prefix)}


def read_metadata(path: str | Path) -> dict[str, str]:
    """The key/value metadata `save_image` wrote (PNG text chunks, TIFF
    ImageDescription JSON, WebP/JPEG XMP). Raises ImageLoadError."""
    path = Path(path)
    try:
        with _own_pixel_limit(), Image.open(path, formats=READ_FORMATS) as im:
            fmt = (im.format or "").upper()
            if fmt == "PNG":
                im.load()  # text chunks after the image data are read with it
                return {str(k): str(v) for k, v in getattr(im, "text", {}).items()}
            if fmt == "TIFF":
                description = im.tag_v2.get(270) if hasattr(im, "tag_v2") else None
                if not description:
                    return {}
                try:
                    parsed = json.loads(description)
                except (TypeError, ValueError):
                    return {"ImageDescription": str(description)}
                if isinstance(parsed, dict):
                    return {str(k): str(v) for k, v in parsed.items()}
                return {"ImageDescription": str(description)}
            xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
            return _parse_xmp(xmp) if xmp else {}
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: no such file") from None
    except UnidentifiedImageError:
        raise ImageLoadError(_unidentified(path, str(path))) from None
    except _DECODE_ERRORS as error:
        raise ImageLoadError(f"{path}: metadata could not be read ({_first_sentence(error)})") from None


# ---------------------------------------------------------------- encoders


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _paeth_filtered(rows: np.ndarray, prior: np.ndarray, bpp: int) -> np.ndarray:
    """PNG filter type 4 (Paeth) for a band of rows of raw bytes; `prior` is the
    row above the band (zeros above the first row). Encoding needs only raw
    bytes, so it vectorises over the whole band."""
    x = rows.astype(np.int16)
    up = np.vstack((prior[None, :].astype(np.int16), x[:-1]))
    left = np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    upleft = np.zeros_like(x)
    upleft[:, bpp:] = up[:, :-bpp]
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    out = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = 4
    out[:, 1:] = (x - pred).astype(np.uint8)  # modulo 256
    return out


def write_png(handle: BinaryIO, pixels: np.ndarray, meta: dict[str, str], band: int = 256) -> None:
    """A PNG of (h, w, 3) uint8 or uint16 pixels, with `meta` as iTXt chunks."""
    h, w, channels = pixels.shape
    depth = 16 if pixels.dtype == np.uint16 else 8
    handle.write(b"\x89PNG\r\n\x1a\n")
    handle.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, 2, 0, 0, 0)))
    for key, value in meta.items():
        handle.write(_png_chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8")))
    bpp = channels * depth // 8
    compressor = zlib.compressobj(6)
    prior = np.zeros(w * bpp, dtype=np.uint8)
    for r in range(0, h, band):
        rows = np.ascontiguousarray(pixels[r:r + band].astype(">u2" if depth == 16 else np.uint8))
        rows = rows.view(np.uint8).reshape(rows.shape[0], w * bpp)
        data = compressor.compress(_paeth_filtered(rows, prior, bpp).tobytes())
        if data:
            handle.write(_png_chunk(b"IDAT", data))
        prior = rows[-1].copy()
    handle.write(_png_chunk(b"IDAT", compressor.flush()))
    handle.write(_png_chunk(b"IEND", b""))


def write_tiff(handle: BinaryIO, pixels: np.ndarray, meta: dict[str, str]) -> None:
    """A little-endian baseline TIFF of (h, w, 3) uint8 or uint16 pixels:
    Deflate compression with the horizontal predictor, metadata as JSON in
    ImageDescription."""
    h, w, channels = pixels.shape
    depth = 16 if pixels.dtype == np.uint16 else 8
    row_bytes = w * channels * depth // 8
    rows_per_strip = max(1, min(h, (1 << 20) // max(row_bytes, 1)))
    strips: list[bytes] = []
    for r in range(0, h, rows_per_strip):
        block = pixels[r:r + rows_per_strip].astype("<u2" if depth == 16 else np.uint8)
        diff = block.copy()
        diff[:, 1:] = block[:, 1:] - block[:, :-1]  # predictor 2, wraps like the decoder expects
        strips.append(zlib.compress(np.ascontiguousarray(diff).tobytes(), 6))
    description = (json.dumps(meta, ensure_ascii=True) if meta else "").encode("ascii") + b"\0"
    software = f"{SOFTWARE}".encode("ascii") + b"\0"
    n = len(strips)
    # Layout: header, IFD, then the out-of-line values, then the strips.
    tags: list[tuple[int, int, int, bytes | int | None]] = [  # (tag, type, count, value or bytes)
        (256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, struct.pack("<3H", depth, depth, depth)),
        (259, 3, 1, 8), (262, 3, 1, 2),
    ]
    if meta:
        tags.append((270, 2, len(description), description))
    tags += [(273, 4, n, None), (277, 3, 1, 3), (278, 4, 1, rows_per_strip), (279, 4, n, None),
             (282, 5, 1, struct.pack("<2I", 72, 1)), (283, 5, 1, struct.pack("<2I", 72, 1)),
             (284, 3, 1, 1), (296, 3, 1, 2), (305, 2, len(software), software), (317, 3, 1, 2)]
    ifd_size = 2 + 12 * len(tags) + 4
    extra_at = 8 + ifd_size
    extras: list[bytes] = []

    def place(blob: bytes) -> int:
        nonlocal extra_at
        offset = extra_at
        extras.append(blob + (b"\0" if len(blob) % 2 else b""))
        extra_at += len(extras[-1])
        return offset

    offsets_pos = counts_pos = -1
    entries: list[bytes] = []
    for tag, kind, count, value in tags:
        if tag in (273, 279):
            blob_size = 4 * n
            if n == 1:
                entries.append(struct.pack("<HHI", tag, kind, count) + b"\0\0\0\0")
                slot = len(entries) - 1
            else:
                slot = place(b"\0" * blob_size)
            if tag == 273:
                offsets_pos = slot
            else:
                counts_pos = slot
            if n > 1:
                entries.append(struct.pack("<HHII", tag, kind, count, slot))
            continue
        assert value is not None  # only the strip offsets and counts (273, 279) are filled in later
        if isinstance(value, bytes):
            if len(value) <= 4:
                entries.append(struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0"))
            else:
                entries.append(struct.pack("<HHII", tag, kind, count, place(value)))
        elif kind == 3:
            entries.append(struct.pack("<HHIHH", tag, kind, count, int(value), 0))
        else:
            entries.append(struct.pack("<HHII", tag, kind, count, int(value)))
    strip_offsets, at = [], extra_at
    for strip in strips:
        strip_offsets.append(at)
        at += len(strip)
    if at >= 2**32:
        raise ImageSaveError("the TIFF would be over 4 GB, which baseline TIFF cannot hold; save as PNG")
    offsets_blob = struct.pack(f"<{n}I", *strip_offsets)
    counts_blob = struct.pack(f"<{n}I", *(len(s) for s in strips))
    if n == 1:
        tag_index = {t[0]: i for i, t in enumerate(tags)}
        entries[tag_index[273]] = struct.pack("<HHI", 273, 4, 1) + offsets_blob
        entries[tag_index[279]] = struct.pack("<HHI", 279, 4, 1) + counts_blob
    else:
        # Fill the two reserved arrays among the extras.
        base = 8 + ifd_size
        blob = bytearray(b"".join(extras))
        blob[offsets_pos - base:offsets_pos - base + 4 * n] = offsets_blob
        blob[counts_pos - base:counts_pos - base + 4 * n] = counts_blob
        extras = [bytes(blob)]
    handle.write(b"II*\0" + struct.pack("<I", 8))
    handle.write(struct.pack("<H", len(tags)) + b"".join(entries) + struct.pack("<I", 0))
    for chunk in extras:
        handle.write(chunk)
    for strip in strips:
        handle.write(strip)
