"""The session a relaunch restores, saved as it changes: a second after the
last change (panes, methods, splits, image, zoom, pan, the window's place and
size), not only on a clean quit, so a hang, a crash or a kill keeps it.

QSettings (IniFormat, and NativeFormat on Linux) writes through QSaveFile: a
temporary file beside the settings, flushed to disk, renamed over the old one
(tests/test_round_three.py checks the file is replaced, never rewritten in
place). A kill mid-write leaves the previous file whole. What is saved and how
it reads back is plain Python in app.settings."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

# The session is written this long after the last change (changes in a burst write once).
SAVE_DELAY_MS = 1000


class SessionKeeper(QObject):
    """Calls `save` SAVE_DELAY_MS after the last `touch` (or a move or resize of
    `window`); `flush` saves at once if a change is pending."""

    def __init__(self, window: QWidget, save: Callable[[], None], delay_ms: int = SAVE_DELAY_MS) -> None:
        super().__init__(window)
        self._save = save
        self._timer = QTimer(self, singleShot=True, interval=delay_ms)
        self._timer.timeout.connect(self._save)
        self.enabled = False  # until the window is built: its first layout is no change of the user's
        window.installEventFilter(self)

    def touch(self) -> None:
        if self.enabled:
            self._timer.start()

    def pending(self) -> bool:
        return self._timer.isActive()

    def flush(self) -> None:
        self._timer.stop()
        self._save()

    def stop(self) -> None:
        self.enabled = False
        self._timer.stop()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Move, QEvent.Type.Resize, QEvent.Type.WindowStateChange):
            self.touch()
        return False


def restore_geometry(window: QWidget, geometry: object, default: tuple[int, int] = (1280, 820)) -> None:
    """The window's remembered place and size (else `default`), kept inside its
    screen's available area: never larger than the screen, never off it."""
    from PySide6.QtCore import QByteArray

    from app.settings import fit_rect

    if not (isinstance(geometry, (QByteArray, bytes)) and window.restoreGeometry(QByteArray(geometry))):
        window.resize(*default)
    if window.isMaximized() or window.isFullScreen():
        return
    now = window.geometry()
    # The screen the restored window is on (a second monitor's too), else the window's own.
    screen = QGuiApplication.screenAt(now.center()) or window.screen()
    if screen is None:
        return
    area = screen.availableGeometry()
    x, y, w, h = fit_rect((now.x(), now.y(), now.width(), now.height()),
                          (area.x(), area.y(), area.width(), area.height()))
    window.setGeometry(x, y, w, h)
