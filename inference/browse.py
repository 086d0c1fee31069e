"""Browsing a folder's images in order (PageDown / PageUp), optionally past
the app's own exports, and listing the images of a folder for batch work. No
Qt: tested without a window."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from inference.imageio import SOFTWARE, ImageLoadError, read_metadata

# What the viewer and `main.py upscale` read (inference.imageio.load_image).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")


def natural_key(name: str) -> tuple:
    """Sort key putting 'img2' before 'img10', ignoring case."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def is_image_name(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def folder_images(folder: str | Path) -> list[Path]:
    """The image files directly in `folder`, in natural order (hidden files left out)."""
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return []
    return sorted((p for p in entries if is_image_name(p) and not p.name.startswith(".") and p.is_file()),
                  key=lambda p: natural_key(p.name))


def is_own_export(path: str | Path) -> bool:
    """Whether `path` was written by Implicit Zoom (an export, an upscale): its
    metadata says Software = "Implicit Zoom". Unreadable files are not."""
    try:
        return read_metadata(path).get("Software") == SOFTWARE
    except (ImageLoadError, OSError, ValueError):
        return False


def neighbour(path: str | Path, step: int, skip: Callable[[Path], bool] | None = None) -> Path | None:
    """The image `step` places after `path` in its folder (before, when
    negative), or None past either end. `path` itself may have been deleted
    meanwhile: its neighbours are still where it would sort. Images for which
    `skip` says True (e.g. `is_own_export`) are stepped over and not counted;
    `skip` is asked only about the images passed on the way, one at a time."""
    path = Path(path)
    images = folder_images(path.parent)
    names = [p.name for p in images]
    direction = 1 if step > 0 else -1
    if path.name in names:
        index = names.index(path.name)
    else:
        key = natural_key(path.name)
        after = next((i for i, p in enumerate(images) if natural_key(p.name) > key), len(images))
        index = after - 1 if step > 0 else after  # as if `path` sat between its neighbours
    for _ in range(abs(step)):
        index += direction
        while 0 <= index < len(images) and skip is not None and skip(images[index]):
            index += direction
    return images[index] if 0 <= index < len(images) and step else None
