"""The key/value metadata written with an image, and read back: PNG text
chunks, TIFF ImageDescription as JSON, WebP/JPEG XMP."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree

from PIL import Image, UnidentifiedImageError

from .formats import (
    DECODE_ERRORS,
    READ_FORMATS,
    SOFTWARE,
    ImageLoadError,
    ImageSaveError,
    first_sentence,
    own_pixel_limit,
)
from .identify import unidentified

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,78}$")
_XMP_NS = "https://implicit-zoom.invalid/ns/1.0/"
_RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def check_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    clean: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise ImageSaveError(f"metadata key {key!r} is not allowed (letters, digits, _ . - ; at most 79)")
        clean[key] = escaped(str(value))
    return clean


def escaped(text: str) -> str:
    """`text` with the bytes of a file name that are not UTF-8 (held by Python
    as lone surrogates) written as \\xNN: PNG text, XMP and JSON hold UTF-8 only."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no byte stands for
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def own_output(path: str | Path) -> bool:
    """Whether the image at `path` says it was written by this app (its
    Software entry), read from the header alone (PNG text before the image
    data, TIFF's description, WebP/JPEG XMP); False when unreadable."""
    try:
        with own_pixel_limit(), Image.open(path, formats=READ_FORMATS) as im:
            fmt = (im.format or "").upper()
            if fmt == "PNG":
                return im.info.get("Software") == SOFTWARE
            if fmt == "TIFF":
                description = im.tag_v2.get(270) if hasattr(im, "tag_v2") else None
                return isinstance(description, str) and f'"Software": "{SOFTWARE}"' in description
            xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
            return bool(xmp) and _parse_xmp(xmp).get("Software") == SOFTWARE
    except Exception:  # noqa: BLE001 - an unreadable file is not ours; loading it says what is wrong
        return False


def xmp_packet(meta: dict[str, str]) -> bytes:
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
        with own_pixel_limit(), Image.open(path, formats=READ_FORMATS) as im:
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
        raise ImageLoadError(unidentified(path, str(path))) from None
    except DECODE_ERRORS as error:
        raise ImageLoadError(f"{path}: metadata could not be read ({first_sentence(error)})") from None
