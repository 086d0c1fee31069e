"""Results from other threads reach GUI objects on the GUI thread only.

A slot that touches widgets from a worker thread can deadlock the window (a
dialog closed from the render thread waits for the GUI thread, which waits for
the interpreter lock). PySide calls a plain callable connected to a signal in
the *sender's* thread, so the render worker's results are relayed by
`RenderService` through signals of an object living on the GUI thread, and
every GUI slot is connected through `connect_gui`. With the check on
(`IMPLICIT_ZOOM_CHECK_GUI_THREAD=1`, set by the test suite) a slot that runs
on another thread is recorded in `violations`, and the tests fail on any.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QThread, SignalInstance

CHECK_ENV = "IMPLICIT_ZOOM_CHECK_GUI_THREAD"
violations: list[str] = []


def check_enabled() -> bool:
    return os.environ.get(CHECK_ENV) == "1"


def on_gui_thread() -> bool:
    app = QCoreApplication.instance()
    return app is None or QThread.currentThread() == app.thread()


def checked(slot: Callable[..., Any]) -> Callable[..., Any]:
    """`slot`, recording in `violations` (when the check is on) any call made off the GUI thread."""
    if not check_enabled():
        return slot
    name = getattr(slot, "__qualname__", repr(slot))

    @functools.wraps(slot)
    def guarded(*args: Any) -> Any:
        if not on_gui_thread():
            violations.append(f"{name} ran on thread {threading.current_thread().name!r}, not the GUI thread")
        return slot(*args)

    return guarded


def connect_gui(signal: SignalInstance, slot: Callable[..., Any]) -> None:
    """Connect a GUI slot (checked when the check is on). `signal` must be
    emitted on the GUI thread: a GUI-side object's own signal, or a relay."""
    signal.connect(checked(slot))
