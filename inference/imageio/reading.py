"""Reading images: the header alone (`read_header`), or the pixels
(`load_image`) as (h, w, 3) float32 in [0, 1] with notes on what was done to
them. Every failure is one ImageLoadError naming the file; the size is checked
from the header before anything is decoded.

Pillow reads 16-bit RGB(A) PNG and TIFF as 8-bit; `_decode_rgb16` recovers the
full precision by running Pillow's own decoder twice (high bytes, then low
bytes).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from inference.files import reading_problem

from .colour import convert16_to_srgb, matrix_profile, profile_description
from .formats import (
    ALPHA_BACKGROUND,
    DECODE_ERRORS,
    FORMATS,
    MAX_PIXELS,
    READ_FORMATS,
    ImageLoadError,
    first_sentence,
    megapixels,
    own_pixel_limit,
)
from .identify import unidentified
from .pixels import to_rgb8
from .png_checks import (
    ZLIB_MAX_RATIO,
    check_png_chunks,
    last_row_blank,
    png_has_chunk,
    png_layout,
    refuse_short_png,
)

_T = TypeVar("_T")


@dataclass
class LoadedImage:
    rgb: np.ndarray  # (h, w, 3) float32 in [0, 1]
    path: str
    bit_depth: int  # 8 or 16
    notes: list[str] = field(default_factory=list)  # things the user should be told
    box: tuple[int, int, int, int] | None = None  # (x0, y0, x1, y1) of the image held; None: all of it
    alpha: np.ndarray | None = None  # (h, w) float32 in [0, 1], `rgb` is composited with it; None: opaque

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])



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


def _describe_size(w: int, h: int) -> str:
    return f"{w} x {h} pixels ({megapixels(w * h)} megapixels)"


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
    except Exception as error:  # noqa: BLE001 - a decoder failure not foreseen below: still one clear sentence
        raise ImageLoadError(f"{name}: could not be read as an image ({first_sentence(error)})") from None


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
            if fmt == "PNG" and "exif" not in im.info and not png_has_chunk(path, b"eXIf"):
                orientation = 1
            elif _pillow_orients(im):
                orientation = 1  # the size Pillow gives is already upright
            else:
                orientation = _orientation(im, [])
        return ImageHeader(h, w, fmt) if orientation >= 5 else ImageHeader(w, h, fmt)

    return _guarded(Path(path), work)




def load_rgb8(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB (grayscale is replicated to three
    channels), read by the app's own reader: a damaged, truncated or huge file
    raises ImageLoadError naming it instead of being measured."""
    return to_rgb8(load_image(path).rgb)



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
    with own_pixel_limit(notes):
        try:
            im = Image.open(path, formats=READ_FORMATS)
        except UnidentifiedImageError:
            raise ImageLoadError(unidentified(path, name)) from None
        except PermissionError:
            raise ImageLoadError(f"{name}: permission denied") from None
        except Image.DecompressionBombError as error:
            raise ImageLoadError(f"{name}: refused as too large ({first_sentence(error)})") from None
        except DECODE_ERRORS as error:
            raise ImageLoadError(unidentified(path, name, first_sentence(error))) from None
    w, h = im.size
    if w <= 0 or h <= 0:
        im.close()
        raise ImageLoadError(f"{name}: the image has zero size ({w} x {h} pixels)")
    # Checked from the header, before any pixel is decoded.
    if w * h > max_pixels:
        im.close()
        raise ImageLoadError(f"{name}: {_describe_size(w, h)} is over the limit of "
                             f"{megapixels(max_pixels)} megapixels; refused (it could exhaust memory)")
    return im, notes


def _orientation(im: Image.Image, notes: list[str]) -> int:
    """EXIF orientation 1..8 (1 when absent or unreadable; corrupt EXIF is a
    note, not a warning on stderr; a value outside 1..8 is ignored, with a note)."""
    try:
        with own_pixel_limit(notes):
            value = im.getexif().get(0x0112, 1)
    except DECODE_ERRORS:
        return 1
    try:
        orientation = int(value if value is not None else 1)
    except (TypeError, ValueError):
        orientation = 0
    if orientation not in range(1, 9):
        shown = str(value)[:40]
        notes.append(f"its orientation tag holds {shown}, not a valid orientation (1 to 8); ignored")
        return 1
    return orientation


def _pillow_orients(im: Image.Image) -> bool:
    """Whether Pillow applies this image's orientation itself: its TIFF reader
    gives the upright size when opening and rotates the pixels when loading."""
    return (im.format or "").upper() == "TIFF" and hasattr(im, "_tile_size")


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
        except DECODE_ERRORS:
            pass
        # A PNG that declares more pixels than its data holds: refused before
        # decoding when the data could not hold them even at zlib's best
        # ratio, else after, when the last row came out blank.
        chunks = check_png_chunks(path, name) if fmt == "PNG" else None
        layout = png_layout(path) if fmt == "PNG" else None
        if layout is not None and layout.compressed * ZLIB_MAX_RATIO < layout.expected:
            refuse_short_png(path, name, layout)
        rgb16_tile = list(opened.tile) if _is_rgb16(opened) else None
        # A TIFF's orientation tag is applied by Pillow while loading (and then
        # removed): read it first, so that it can be said.
        pillow_oriented = _orientation(im, notes) if _pillow_orients(im) else 1
        bmp_alpha = _bmp_alpha(path, opened) if fmt == "BMP" else None  # before loading empties the tiles
        try:
            im.load()
        except Image.DecompressionBombError as error:
            raise ImageLoadError(f"{name}: refused as too large ({first_sentence(error)})") from None
        except DECODE_ERRORS as error:
            reason = first_sentence(error)
            if "truncat" in reason.lower():
                raise ImageLoadError(
                    f"{name}: the image data is truncated (the file ends before the image does)") from None
            raise ImageLoadError(f"{name}: the image data is corrupt ({reason})") from None
        if layout is not None and (layout.interlaced or last_row_blank(im)):
            refuse_short_png(path, name, layout)
        if chunks is not None and chunks.palette_entries is not None and im.mode == "P":
            used = int(np.asarray(im).max()) + 1 if w and h else 0
            if used > chunks.palette_entries:
                raise ImageLoadError(f"{name}: its pixels use palette entries up to {used - 1} but the palette "
                                     f"holds {chunks.palette_entries}; refused rather than invent colours")
        orientation = 1 if _pillow_orients(opened) else _orientation(im, notes)
        kept = raw_box = cropped_to = None
        if box is not None:
            upright = (h, w) if orientation >= 5 else (w, h)
            kept = _clip_box(box, *upright)
            raw_box = _raw_box(kept, orientation, w, h)
            if w * h > 16_000_000:
                notes.append(f"decoded whole ({megapixels(w * h)} megapixels) to read a region of it: "
                             f"{fmt or 'this format'} cannot be read in part")
            if rgb16_tile is None:
                im = im.crop(raw_box)  # only this part is ever copied or converted
                cropped_to, raw_box = raw_box, None
        if im.info.get("icc_profile") and im.mode != "CMYK" and rgb16_tile is None:
            im = _to_srgb(im, notes)
        samples, top, bit_depth = _samples(im, path, rgb16_tile, notes)
        if bmp_alpha is not None and samples.shape[2] == 3 and samples.dtype == np.uint8:
            if cropped_to is not None:
                bmp_alpha = bmp_alpha[cropped_to[1]:cropped_to[3], cropped_to[0]:cropped_to[2]]
            if bmp_alpha.shape == samples.shape[:2]:
                samples = np.concatenate([samples, bmp_alpha[..., None]], axis=-1)
                notes.append("the fourth byte of its 32-bit pixels holds an alpha channel, used as transparency")
        if rgb16_tile is not None and bit_depth == 16 and im.info.get("icc_profile"):
            samples = _to_srgb16(samples, im.info["icc_profile"], notes)
        # Pillow's decoded copy goes now (leaving `with` only closes the
        # file), before the float image is made beside the samples.
        im.close()
        opened.close()
    if raw_box is not None:
        x0, y0, x1, y1 = raw_box
        samples = samples[y0:y1, x0:x1]
    if orientation in range(2, 9):
        samples = _orient(samples, orientation)
    for kind, applied in (("EXIF", orientation), ("TIFF", pillow_oriented)):
        if applied in range(2, 9):
            rotated = applied >= 5 or applied == 3
            notes.append(f"{kind} orientation applied" + (" (rotated)" if rotated else " (flipped)"))
    rgb, alpha = _to_float_rgb(samples, top, notes)
    if bit_depth == 16:
        notes.append("16-bit")
    return LoadedImage(rgb, name, bit_depth, notes, kept, alpha)


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



def _clip_box(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(v) for v in box)
    x0, y0 = min(max(0, x0), width - 1), min(max(0, y0), height - 1)
    return x0, y0, max(x0 + 1, min(x1, width)), max(y0 + 1, min(y1, height))



def _to_srgb(im: Image.Image, notes: list[str]) -> Image.Image:
    """Pixels as sRGB: an sRGB profile needs nothing; another profile on 8-bit
    RGB(A) data is converted; anything else is used as stored, and said so."""

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


def _bmp_alpha(path: Path, im: Image.Image) -> np.ndarray | None:
    """The (h, w) alpha of a 32-bit BMP whose fourth byte Pillow ignores
    (BGRX), when that byte varies (all 0 or all 255: unused, opaque)."""
    tiles = getattr(im, "tile", None) or []
    if im.mode != "RGB" or len(tiles) != 1 or tiles[0].codec_name != "raw":
        return None
    args = tiles[0].args
    if not (isinstance(args, tuple) and len(args) >= 3 and args[0] == "BGRX"):
        return None
    w, h = im.size
    stride, direction = int(args[1] or w * 4), int(args[2])
    with open(path, "rb") as handle:
        handle.seek(tiles[0].offset)
        data = handle.read(stride * h)
    if stride < w * 4 or len(data) < stride * h:
        return None
    alpha = np.frombuffer(data, np.uint8).reshape(h, stride)[:, 3:w * 4:4]
    if direction < 0:
        alpha = alpha[::-1]
    if int(alpha.min()) == int(alpha.max()):
        return None
    return np.ascontiguousarray(alpha)


def _to_srgb16(samples: np.ndarray, icc: bytes, notes: list[str]) -> np.ndarray:
    """16-bit RGB(A) samples as sRGB, like `_to_srgb` does for 8 bits (see colour.py)."""

    description = profile_description(icc)
    if description is None:
        notes.append("its embedded colour profile is unreadable and was ignored")
        return samples
    if "srgb" in description.lower().replace(" ", ""):
        return samples
    profile = matrix_profile(icc)
    if profile is None:
        notes.append(f"its colour profile ({description}) is not applied: it is not a matrix/TRC profile, "
                     "which is all that 16-bit images are converted with; pixel values are used as stored")
        return samples
    notes.append(f"converted from its colour profile ({description}) to sRGB")
    return convert16_to_srgb(samples, profile)


def _with_key(samples: np.ndarray, key: object) -> np.ndarray:
    """16-bit grey or RGB samples with an alpha channel from a PNG transparency
    key (tRNS): the pixels equal to the key are transparent, as at 8 bits."""
    colours = samples.shape[2]
    if isinstance(key, int) and colours == 1:
        mask = samples[..., 0] == key
    elif isinstance(key, tuple) and len(key) == 3 and colours == 3:
        mask = (samples == np.asarray(key, dtype=np.int64)).all(-1)
    else:
        return samples
    alpha = np.where(mask, 0, 65535).astype(np.uint16)[..., None]
    return np.concatenate([samples, alpha], axis=-1)


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
    key = im.info.get("transparency")
    if rgb16_tile is not None:
        try:
            return _with_key(_decode_rgb16(path, rgb16_tile), key), 65535.0, 16
        except DECODE_ERRORS:
            notes.append("16-bit data read at 8-bit precision")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        notes.append("grayscale")
        return _with_key(np.asarray(im).astype(np.uint16)[..., None], key), 65535.0, 16
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


def _to_float_rgb(samples: np.ndarray, top: float, notes: list[str],
                  band: int = 256) -> tuple[np.ndarray, np.ndarray | None]:
    """(h, w, 3) float32 in [0, 1] from `_samples`' output: grey spread to
    three channels, transparency composited on `ALPHA_BACKGROUND`; with the
    (h, w) alpha kept beside it (None when every pixel is opaque). Done in
    bands of rows, so no temporary copy of the whole image is made."""
    h, w, channels = samples.shape
    rgb = np.empty((h, w, 3), dtype=np.float32)
    colour = slice(0, 1) if channels <= 2 else slice(0, 3)
    has_alpha = channels in (2, 4)
    composited = False
    kept_alpha = np.ones((h, w), dtype=np.float32) if has_alpha else None
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
                assert kept_alpha is not None
                kept_alpha[r:r + band] = alpha[..., 0]
    if composited:
        notes.append("transparent areas composited on neutral grey (50%)")
    return rgb, kept_alpha if composited else None
