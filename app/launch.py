"""Starting the viewer: the application, its theme, the main window and the
first image (`run_gui`, which main.py calls with no sub-command)."""

from __future__ import annotations

import sys
from typing import cast

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication


def freeze_startup_objects() -> None:
    """Take what start-up built (Qt, torch, the window: ~230k objects) out of
    Python's full collections. One walked them all in 110-130 ms on a 2-core
    CPU with the GIL held: a GUI stall whichever thread triggered it."""
    import gc

    gc.collect()
    gc.freeze()


def run_gui(image_path: str | None = None, device: str = "auto") -> int:
    """Start the viewer; with no image, the bundled sample."""
    from PySide6.QtGui import QGuiApplication

    from app.theme import apply_theme

    if QApplication.instance() is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    # The stubs type instance() as the QCoreApplication it is declared on.
    app = cast(QApplication, QApplication.instance() or QApplication(sys.argv))
    app.setApplicationName("Implicit Zoom")
    app.setOrganizationName("ImplicitZoom")
    apply_theme(app)
    from app.main_window import MainWindow

    window = MainWindow(device=device)
    freeze_startup_objects()
    window.show()
    path = window.file_actions.startup_image(image_path)
    QTimer.singleShot(0, lambda: window.open_path(path))
    return int(app.exec())
