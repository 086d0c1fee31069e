"""The image encoders of our own: Pillow cannot write 16-bit RGB at all, so
16-bit PNG and all TIFF are written here (PNG with the Paeth filter, baseline
TIFF with Deflate and the horizontal predictor)."""

from __future__ import annotations

import json
import struct
import zlib
from typing import BinaryIO

import numpy as np

from .formats import SOFTWARE, ImageSaveError


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
    """A PNG of (h, w, 3) RGB or (h, w, 4) RGBA uint8 or uint16 pixels, with `meta` as iTXt chunks."""
    h, w, channels = pixels.shape
    depth = 16 if pixels.dtype == np.uint16 else 8
    colour_type = 6 if channels == 4 else 2  # RGBA, RGB
    handle.write(b"\x89PNG\r\n\x1a\n")
    handle.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, 0)))
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
    """A little-endian baseline TIFF of (h, w, 3) RGB or (h, w, 4) RGBA (straight,
    "unassociated" alpha) uint8 or uint16 pixels: Deflate compression with the
    horizontal predictor, metadata as JSON in ImageDescription."""
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
        (256, 4, 1, w), (257, 4, 1, h), (258, 3, channels, struct.pack(f"<{channels}H", *[depth] * channels)),
        (259, 3, 1, 8), (262, 3, 1, 2),
    ]
    if meta:
        tags.append((270, 2, len(description), description))
    tags += [(273, 4, n, None), (277, 3, 1, channels), (278, 4, 1, rows_per_strip), (279, 4, n, None),
             (282, 5, 1, struct.pack("<2I", 72, 1)), (283, 5, 1, struct.pack("<2I", 72, 1)),
             (284, 3, 1, 1), (296, 3, 1, 2), (305, 2, len(software), software), (317, 3, 1, 2)]
    if channels == 4:
        tags.append((338, 3, 1, 2))  # ExtraSamples: unassociated alpha
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
