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
import struct
import sys
import tempfile
import threading
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator
from xml.etree import ElementTree

import numpy as np
from PIL import Image, ImageFile, PngImagePlugin, UnidentifiedImageError

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

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,78}$")
_XMP_NS = "https://implicit-zoom.invalid/ns/1.0/"
_RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
# Pillow's global pixel limit is swapped out while a header is read (our own
# check replaces it); the lock keeps two loads from interleaving that swap.
_PILLOW_LIMIT_LOCK = threading.Lock()


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
def _own_pixel_limit() -> Iterator[None]:
    """Pillow's decompression-bomb check off: `load_image` checks the header
    size itself, with its own limit and message, before decoding."""
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


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
        with Image.open(path) as im:
            im.tile = [tile._replace(args=_with_rawmode(
                tile.args, _swap16(_tile_rawmode(tile.args)) if swap else _tile_rawmode(tile.args)))
                for tile in frame_tile]
            im.load()
            planes.append(np.asarray(im))
    high, low = planes
    return (high.astype(np.uint16) << 8) | low.astype(np.uint16)


_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"),
               (b"II*\0", "TIFF"), (b"MM\0*", "TIFF"), (b"BM", "BMP"))


def _unidentified(path: Path, name: str, detail: str | None = None) -> str:
    """Why Pillow could not open the file: a known signature with a broken
    header, or not an image at all."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        head = b""
    kind = next((fmt for magic, fmt in _SIGNATURES if head.startswith(magic)), None)
    if kind is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "WebP"
    why = f" ({detail})" if detail else ""
    if kind is not None:
        return f"{name}: looks like a {kind} file but its header is corrupt or truncated{why}"
    if detail:
        return f"{name}: corrupt or unsupported image header{why}"
    return f"{name}: not an image file (or a format that cannot be read)"


def _describe_size(w: int, h: int) -> str:
    return f"{w} x {h} pixels ({_megapixels(w * h)} megapixels)"


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """The image at `path` as (h, w, 3) float32 RGB in [0, 1], with notes on
    anything done to it. Raises ImageLoadError (never anything else) with a
    message that names the file."""
    path = Path(path)
    name = str(path)
    try:
        return _load(path, name, max_pixels)
    except ImageLoadError:
        raise
    except MemoryError:
        raise ImageLoadError(f"{name}: not enough memory to load this image") from None
    except Exception as error:  # a decoder failure not foreseen below: still one clear sentence
        raise ImageLoadError(f"{name}: could not be read as an image ({_first_sentence(error)})") from None


def _load(path: Path, name: str, max_pixels: int) -> LoadedImage:
    if not path.exists():
        raise ImageLoadError(f"{name}: no such file")
    if path.is_dir():
        raise ImageLoadError(f"{name}: is a folder, not an image file")
    try:
        size = path.stat().st_size
    except OSError as error:
        raise ImageLoadError(f"{name}: cannot be read ({error.strerror or error})") from None
    if size == 0:
        raise ImageLoadError(f"{name}: the file is empty (0 bytes)")
    notes: list[str] = []
    with _own_pixel_limit():
        try:
            im = Image.open(path)
        except UnidentifiedImageError:
            raise ImageLoadError(_unidentified(path, name)) from None
        except PermissionError:
            raise ImageLoadError(f"{name}: permission denied") from None
        except Image.DecompressionBombError as error:
            raise ImageLoadError(f"{name}: refused as too large ({_first_sentence(error)})") from None
        except _DECODE_ERRORS as error:
            raise ImageLoadError(_unidentified(path, name, _first_sentence(error))) from None
    with im:
        w, h = im.size
        if w <= 0 or h <= 0:
            raise ImageLoadError(f"{name}: the image has zero size ({w} x {h} pixels)")
        # Checked from the header, before any pixel is decoded.
        if w * h > max_pixels:
            raise ImageLoadError(f"{name}: {_describe_size(w, h)} is over the limit of "
                                 f"{_megapixels(max_pixels)} megapixels; refused (it could exhaust memory)")
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
        rgb16_tile = list(im.tile) if _is_rgb16(im) else None
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
        try:
            orientation = int(im.getexif().get(0x0112, 1) or 1)
        except _DECODE_ERRORS:
            orientation = 1
        pixels: Image.Image = im
        if im.info.get("icc_profile") and im.mode != "CMYK" and rgb16_tile is None:
            pixels = _to_srgb(im, notes)
        rgb, bit_depth = _to_rgb(pixels, path, rgb16_tile, notes)
    if orientation in range(2, 9):
        rgb = _orient(rgb, orientation)
        rotated = orientation >= 5 or orientation == 3
        notes.append("EXIF orientation applied" + (" (rotated)" if rotated else " (flipped)"))
    if bit_depth == 16:
        notes.append("16-bit")
    return LoadedImage(np.ascontiguousarray(rgb, dtype=np.float32), name, bit_depth, notes)


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


def _orient(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """EXIF orientation 2..8 -> the upright image (same as ImageOps.exif_transpose)."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(ops[orientation](rgb))


def _composite(rgb: np.ndarray, alpha: np.ndarray, notes: list[str]) -> np.ndarray:
    if alpha.min() < 1.0:
        notes.append("transparent areas composited on neutral grey (50%)")
        a = alpha[..., None]
        return rgb * a + ALPHA_BACKGROUND * (1.0 - a)
    return rgb


def _to_rgb(im: Image.Image, path: Path, rgb16_tile: list | None, notes: list[str]) -> tuple[np.ndarray, int]:
    mode = im.mode
    if rgb16_tile is not None:
        try:
            raw = _decode_rgb16(path, rgb16_tile)
            data = raw.astype(np.float32) / 65535.0
            if data.shape[2] == 4:
                return _composite(data[..., :3], data[..., 3], notes), 16
            return data, 16
        except _DECODE_ERRORS:
            notes.append("16-bit data read at 8-bit precision")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        grey = np.asarray(im).astype(np.float32) / 65535.0
        notes.append("grayscale")
        return np.repeat(grey[..., None], 3, axis=2), 16
    if mode == "I":
        values = np.asarray(im)
        if values.min() < 0 or values.max() > 65535:
            notes.append("32-bit integer data scaled to its own range")
            lo, hi = float(values.min()), float(values.max())
            grey = ((values - lo) / max(hi - lo, 1.0)).astype(np.float32)
        else:
            grey = values.astype(np.float32) / 65535.0
        notes.append("grayscale")
        return np.repeat(grey[..., None], 3, axis=2), 16
    if mode == "F":
        values = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        if values.min() < 0 or values.max() > 1:
            notes.append("floating-point data outside [0, 1] clipped")
        notes.append("grayscale")
        return np.repeat(np.clip(values, 0, 1)[..., None], 3, axis=2), 16
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
    if mode in ("L", "LA", "La", "PA"):
        if mode == "PA":
            im = im.convert("RGBA")
            mode = "RGBA"
        else:
            notes.append("grayscale")
            data = np.asarray(im.convert("LA")).astype(np.float32) / 255.0
            grey = np.repeat(data[..., :1], 3, axis=2)
            return _composite(grey, data[..., 1], notes), 8
    if mode not in ("RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in mode or "a" in mode else "RGB")
        mode = im.mode
    data = np.asarray(im).astype(np.float32) / 255.0
    if mode == "RGBA":
        return _composite(data[..., :3], data[..., 3], notes), 8
    return data, 8


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
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        if folder.exists():
            raise ImageSaveError(f"{path}: {folder} is a file, not a folder")
        raise ImageSaveError(f"{path}: the folder {folder} does not exist")
    if path.is_dir():
        raise ImageSaveError(f"{path}: is a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ImageSaveError(f"{path}: the folder {folder} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise ImageSaveError(f"{path}: the existing file is read-only")


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


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[BinaryIO]:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            # Keep the permissions of the file being replaced.
            with contextlib.suppress(OSError):
                os.chmod(tmp, path.stat().st_mode & 0o7777)
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
        with _own_pixel_limit(), Image.open(path) as im:
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
