"""The PNG truncation checks: Pillow fills the rows that a well-formed but
short PNG stream lacks with zeros, silently. A PNG whose data could not hold
its header's rows even at zlib's best ratio is refused before decoding; one
whose last decoded row came out blank has its stream counted, and is refused
when short. Chunk headers are read, their data skipped."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from .formats import ImageLoadError


def refuse_short_png(path: Path, name: str, layout: PngLayout) -> None:
    short = _png_shortfall(path, layout)
    if short:
        raise ImageLoadError(f"{name}: the image data is truncated ({short}); "
                             "refused rather than filled with invented pixels")



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
ZLIB_MAX_RATIO = 1100


@dataclass(frozen=True)
class PngLayout:
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


def png_layout(path: Path) -> PngLayout | None:
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
    return PngLayout(header[0], header[1], compressed, interlaced)


@dataclass(frozen=True)
class PngChunks:
    colour: int  # IHDR colour type (3: palette)
    depth: int
    palette_entries: int | None  # entries in PLTE; None without one


def check_png_chunks(path: Path, name: str, piece: int = 1 << 20) -> PngChunks | None:
    """Every chunk's CRC checked (IDAT's too: Pillow skips those, so a flipped
    bit in the pixel data passed silently), reading the file once in pieces;
    a palette image must have its palette. Refuses with ImageLoadError; None
    when the file has no PNG header (the decoder says so)."""
    colour = depth = -1
    entries: int | None = None
    with open(path, "rb") as handle:
        if handle.read(8) != b"\x89PNG\r\n\x1a\n":
            return None
        while True:
            head = handle.read(8)
            if len(head) < 8:
                break  # a file that ends early: the decoder reports truncation
            length, kind = struct.unpack(">I4s", head)
            crc = zlib.crc32(kind)
            left = length
            first = b""
            while left > 0:
                data = handle.read(min(piece, left))
                if not data:
                    break
                if not first:
                    first = data[:13]
                crc = zlib.crc32(data, crc)
                left -= len(data)
            stored = handle.read(4)
            if left or len(stored) < 4:
                break
            if struct.unpack(">I", stored)[0] != crc & 0xFFFFFFFF:
                shown = kind.decode("latin-1") if kind.isalpha() else repr(kind)
                raise ImageLoadError(f"{name}: the file is damaged (the checksum of its {shown} chunk does not "
                                     "match its data); refused rather than decoded wrong")
            if kind == b"IHDR" and len(first) >= 13:
                depth, colour = first[8], first[9]
            elif kind == b"PLTE":
                entries = length // 3
            elif kind == b"IEND":
                break
    if colour == 3 and entries is None:
        raise ImageLoadError(f"{name}: a palette image without its palette (no PLTE chunk); refused")
    return PngChunks(colour, depth, entries)


def png_has_chunk(path: Path, wanted: bytes) -> bool:
    """Whether a PNG holds a chunk of this type (chunk headers only are read)."""
    with open(path, "rb") as handle:
        handle.seek(8)
        return any(kind == wanted for kind, _ in _png_chunks(handle))


def _png_shortfall(path: Path, layout: PngLayout, piece: int = 1 << 20) -> str | None:
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


def last_row_blank(im: Image.Image) -> bool:
    """Whether the decoded image's last row is all zero bytes: where a short
    PNG stream's missing rows end up (so only then is the stream counted)."""
    w, h = im.size
    return not any(im.crop((0, h - 1, w, h)).tobytes())
