"""Remembered choices that need no window to reason about: which folder a
file dialog opens in, and the session a relaunch restores (last image, panes,
their methods and splits; `PaneMemory`, one pane as it was left, is the
viewer model's). The window stores them with QSettings. No Qt: tested
without a window."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.model.viewer import PaneMemory
from inference.render.view import ViewState

# Room kept around a window for the title bar and frame the window system adds (logical pixels).
FRAME_ALLOWANCE = (16, 40)
# The settings file is input too: at most this many recent files are read
# (a file holding 100,000 kept the window from appearing for over a minute),
# and no stored path longer than the system's limit is used.
MAX_RECENT = 8
MAX_PATH_CHARS = 4096


def usable_path(value: Any) -> str | None:
    """A stored path as a string, or None when it cannot be one (not text,
    empty, with a NUL, longer than the system allows)."""
    if not isinstance(value, str) or not value or "\0" in value or len(value) > MAX_PATH_CHARS:
        return None
    return value


def _stat_says(path: Any, test: Callable[[Path], bool]) -> bool:
    """`test(Path(path))` for a usable stored path; False (never an exception)
    for a name too long for the system, one it cannot search, or not a path at all."""
    text = usable_path(str(path)) if isinstance(path, Path) else usable_path(path)
    if text is None:
        return False
    try:
        return test(Path(text))
    except (OSError, ValueError):
        return False


def is_folder(path: Any) -> bool:
    """Whether `path` names an existing folder (see _stat_says)."""
    return _stat_says(path, Path.is_dir)


def is_regular_file(path: Any) -> bool:
    return _stat_says(path, Path.is_file)


def start_folder(last_used: str | None, default: Path) -> str:
    """The folder a file dialog opens in: the last one used if it still
    exists, else `default`, else the nearest folder above `default` that exists."""
    if is_folder(last_used):
        return str(last_used)
    folder = Path(default)
    while not is_folder(folder) and folder != folder.parent:
        folder = folder.parent
    return str(folder)


def is_inside(path: str | Path, folder: str | Path) -> bool:
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True


def user_folder(candidates: list[str | Path | None], forbidden: list[Path], home: Path) -> Path:
    """Where a dialog starts or writes by default: the first of `candidates`
    (the last folder used, the platform's Pictures folder, ...) that exists
    and is not inside one of the `forbidden` folders (the installed package,
    its bundled sample's folder), else `home`."""
    for candidate in candidates:
        if candidate and is_folder(candidate) and not any(is_inside(candidate, f) for f in forbidden):
            return Path(candidate)
    return home


# ---------------------------------------------------------------- the session a relaunch restores

def encode_panes(panes: list[PaneMemory]) -> str:
    return json.dumps([{"method": p.method, "split": p.split, "fraction": round(float(p.fraction), 4)}
                       for p in panes])


def decode_panes(text: Any, offered: list[str], limit: int) -> list[PaneMemory]:
    """The panes stored by `encode_panes`, keeping only methods still offered
    (a split whose second method is gone is dropped); [] for anything unreadable."""
    try:
        items = json.loads(str(text))
    except (TypeError, ValueError):
        return []
    if not isinstance(items, list):
        return []
    panes = []
    for item in items:
        if not isinstance(item, dict) or item.get("method") not in offered:
            continue
        split = item.get("split") if item.get("split") in offered else None
        try:
            fraction = min(0.95, max(0.05, float(item.get("fraction", 0.5))))
        except (TypeError, ValueError):
            fraction = 0.5
        panes.append(PaneMemory(str(item["method"]), split, fraction))
    return panes[:limit]


def encode_view(image: str, view: ViewState) -> str:
    """The zoom and pan shown on `image`, for the session."""
    return json.dumps({"image": str(image), "cx": view.cx, "cy": view.cy, "zoom": view.zoom})


def decode_view(text: Any) -> tuple[str, ViewState] | None:
    """(image, view) stored by `encode_view`; None for anything unreadable."""
    try:
        item = json.loads(str(text))
        image, numbers = item["image"], [float(item[k]) for k in ("cx", "cy", "zoom")]
    except (TypeError, ValueError, KeyError):
        return None
    if not isinstance(image, str) or not all(math.isfinite(n) for n in numbers) or numbers[2] <= 0:
        return None
    return image, ViewState(*numbers)


def fit_rect(rect: tuple[int, int, int, int], available: tuple[int, int, int, int],
             frame: tuple[int, int] = FRAME_ALLOWANCE) -> tuple[int, int, int, int]:
    """A window's (x, y, width, height) moved and shrunk so that it, with
    `frame` (extra width, height) for its decorations, lies inside the
    screen's `available` (x, y, width, height)."""
    x, y, w, h = rect
    ax, ay, aw, ah = available
    w = max(1, min(w, aw - frame[0]))
    h = max(1, min(h, ah - frame[1]))
    x = min(max(x, ax), ax + aw - frame[0] - w)
    y = min(max(y, ay + frame[1]), ay + ah - h)
    return x, y, w, h


def restorable_image(path: Any) -> str | None:
    """The last image, if it still exists as a file."""
    return path if is_regular_file(path) else None


# ---------------------------------------------------------------- recent files

def recent_list(value: Any) -> list[str]:
    """The stored recent files as a list of paths (QSettings gives a str for
    one): the first MAX_RECENT usable ones; anything else stored there is dropped."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return []
    paths: list[str] = []
    for item in value:
        path = usable_path(item)
        if path is not None and path not in paths:
            paths.append(path)
            if len(paths) == MAX_RECENT:
                break
    return paths


def with_recent(files: list[str], path: str, limit: int) -> list[str]:
    """`path` first, once, then the others, at most `limit`."""
    return ([path] + [p for p in files if p != path])[:limit]
