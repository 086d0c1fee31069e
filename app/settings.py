"""Remembered choices that need no window to reason about: which folder a
file dialog opens in. No Qt: tested without a window."""

from __future__ import annotations

from pathlib import Path


def start_folder(last_used: str | None, default: Path) -> str:
    """The folder a file dialog opens in: the last one used if it still
    exists, else `default`, else the nearest folder above `default` that exists."""
    if last_used and Path(last_used).is_dir():
        return str(last_used)
    folder = Path(default)
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return str(folder)
