"""Whether the viewer can get a screen, asked before Qt is loaded.

Qt aborts the whole process (a core dump and its plugin list) when its
platform plugin cannot start: no DISPLAY, an X server that does not answer, or
a QT_QPA_PLATFORM naming no installed plugin. The viewer asks here first and
ends with one line instead. No Qt import: this runs before Qt is loaded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path

# Platforms that draw without a window system.
HEADLESS_PLATFORMS = ("offscreen", "minimal", "minimalegl", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")
HINT = "run it on a desktop or under Xvfb, or use a sub-command such as `main.py upscale` (see main.py --help)"


def installed_platforms() -> list[str]:
    """Names of the Qt platform plugins PySide6 ships here (empty when unknown)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms"
    names = []
    for plugin in sorted(folder.glob("*")):
        stem = plugin.name.split(".")[0]
        names.append(stem[4:] if stem.startswith("libq") else stem[1:] if stem.startswith("q") else stem)
    return names


def x_display_answers(display: str) -> bool | None:
    """Whether the X server `display` accepts a connection (None when libxcb is missing: Qt decides)."""
    name = ctypes.util.find_library("xcb")
    if name is None:
        return None
    try:
        xcb = ctypes.CDLL(name)
        xcb.xcb_connect.restype = ctypes.c_void_p
        xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
        xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    connection = xcb.xcb_connect(os.fsencode(display), None)
    try:
        return bool(connection) and xcb.xcb_connection_has_error(connection) == 0
    finally:
        if connection:
            xcb.xcb_disconnect(connection)


def display_problem(env: Mapping[str, str] | None = None) -> str | None:
    """Why the viewer could not open a window here, in one line, or None."""
    env = os.environ if env is None else env
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    available = installed_platforms()
    if platform and available and platform not in available:
        return (f"cannot start the viewer: QT_QPA_PLATFORM={platform!r} names no installed Qt platform "
                f"(installed: {', '.join(available)})")
    if platform in HEADLESS_PLATFORMS or not sys.platform.startswith("linux"):
        return None
    if platform in ("", "wayland") and env.get("WAYLAND_DISPLAY"):
        return None
    if platform == "wayland":
        return f"cannot start the viewer: QT_QPA_PLATFORM=wayland but WAYLAND_DISPLAY is not set; {HINT}"
    display = env.get("DISPLAY", "")
    if not display:
        return f"cannot start the viewer: no display (DISPLAY is not set); {HINT}"
    if x_display_answers(display) is False:
        return f"cannot start the viewer: the X display {display!r} does not answer; {HINT}"
    return None
