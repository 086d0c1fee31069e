"""Default names of exported files: the image, the method and the zoom, as in
butterfly_liif_x3.7.png. Shared by the viewer's export dialogs and batch
upscaling (the GUI's and `main.py upscale` with an output folder). No Qt."""

from __future__ import annotations

import re
from pathlib import Path


def zoom_text(zoom: float) -> str:
    """x3.7, x4, x12.35: at most two decimals, no trailing zeros."""
    text = f"{float(zoom):.2f}".rstrip("0").rstrip(".")
    return f"x{text}"


def _safe(part: str) -> str:
    """A name part safe in file names on every system (method names already are).
    Bytes of a POSIX name that are not UTF-8 (Python holds them as lone
    surrogates) are kept as given: caf\\xe9.png -> caf\\xe9_liif_x4.png."""
    return re.sub(r"[^\w.\-\udc80-\udcff]+", "-", part).strip("-") or "image"


def export_name(image: str | Path | None, method: str, zoom: float | None, suffix: str = ".png",
                size: tuple[int, int] | None = None) -> str:
    """'butterfly_liif_x3.7.png', or with an exact `size` instead of a zoom
    'butterfly_liif_1920x1080.png'; with neither, no third part."""
    stem = _safe(Path(image).stem) if image else "export"
    parts = [stem, _safe(method)]
    if size:
        parts.append(f"{int(size[0])}x{int(size[1])}")
    elif zoom:
        parts.append(zoom_text(zoom))
    return "_".join(parts) + suffix


def export_folder(last_used: str | None, image: str | Path | None, home: Path) -> Path:
    """Where an export dialog starts: the folder last exported to if it still
    exists, else the image's folder, else `home`."""
    for candidate in (last_used, Path(image).parent if image else None):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return home


def source_metadata(source: str | Path) -> dict[str, str]:
    """What an export records about its source: the file's name and its full path."""
    return {"Source": Path(source).name, "SourcePath": str(Path(source).resolve())}
