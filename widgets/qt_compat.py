"""Work-arounds for bugs in the Qt binding, applied once on import (widgets/
and app/ import this before using Qt).

PySide6 6.12.0 on Python < 3.12 returns borrowed references to singletons
that the caller then releases: every call of a void C++ method from Python
(`update()`, `QTimer.start()`, `QPainter.end()`, ...) drops one reference to
None, and every `Signal.emit()` one reference to True. Python 3.12+ makes
these objects immortal, which hides the bug there; on 3.11 a viewer session
aborts after a few thousand calls with "Fatal Python error: none_dealloc" (or
bool_dealloc). 6.11.x is not affected. With an affected release installed,
None, True and False are given references to spare: they are never freed
anyway, so this changes nothing else.
"""

from __future__ import annotations

import ctypes
import sys
from importlib import metadata

AFFECTED = frozenset({"6.12.0"})
SPARE_REFERENCES = 1 << 40


def pyside_version() -> str | None:
    for dist in ("PySide6-Essentials", "PySide6"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def guard_singleton_refcounts() -> bool:
    """Apply the work-around where needed; True if it is in effect."""
    if sys.version_info >= (3, 12) or pyside_version() not in AFFECTED:
        return False
    if getattr(sys, "_implicit_zoom_refcount_guard", False):
        return True
    for singleton in (None, True, False):
        # ob_refcnt is the first field of every CPython object.
        ctypes.c_ssize_t.from_address(id(singleton)).value += SPARE_REFERENCES
    sys._implicit_zoom_refcount_guard = True  # type: ignore[attr-defined]
    return True


guard_singleton_refcounts()
