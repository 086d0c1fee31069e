"""What a file that no allowed decoder opens really holds, told from its
first bytes only (nothing is decoded), so that a refusal names it: a known
format with a broken header, a format that is not read here (PostScript, PDF,
Netpbm, AVIF ...), or not an image at all."""

from __future__ import annotations

from pathlib import Path

from .formats import READ_FORMATS_TEXT

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


def unidentified(path: Path, name: str, detail: str | None = None) -> str:
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
