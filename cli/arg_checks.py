"""Small checks of command-line values that more than one sub-command makes
before any work starts (the commands turn a failed check into their own
one-line error and exit code 2). No torch, no Qt."""

from __future__ import annotations

from pathlib import Path


def file_in_the_way(folder: str | Path) -> Path | None:
    """The existing file (not a folder) at `folder` or at one of its parents,
    which would stop the folder being made or used; None when there is none."""
    path = Path(folder)
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None
