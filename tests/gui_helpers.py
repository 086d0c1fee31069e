"""Helpers shared by the Qt viewer tests (test_viewer, test_reliability,
test_soak): a main window on the tiny methods, waiting until every pane has
settled, writing a test image, and checking that panes show their view. Imports Qt at module level, so only Qt
tests import it
(tiny_methods stays Qt-free for the headless tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QSettings

from app.main_window import MainWindow
from inference.render import to_display
from tests.tiny_methods import tiny_loader

WAIT_MS = 60000


def make_window(qtbot, tmp_path: Path, panes: list[str], loader=None, size=(900, 600), tile: int = 64,
                methods: list[str] | None = None) -> MainWindow:
    """A shown main window on the CPU with the tiny methods (or `loader`), its
    settings in `tmp_path` (nothing from the user's own settings)."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(device="cpu", loader=loader or tiny_loader(), methods=methods or ["bicubic", "liif"],
                        settings=settings, tile=tile, panes=panes)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    return window


def settled(window: MainWindow, states: tuple[str, ...] = ("done", "untrained")) -> bool:
    """Every active side of every pane is in one of `states` and no work is queued."""
    return all(slot.sides[s].state in states for slot in window.slots()
               for s in slot.active_sides()) and window.queue_length() == 0


def wait_done(qtbot, window: MainWindow, states: tuple[str, ...] = ("done", "untrained")) -> None:
    qtbot.waitUntil(lambda: settled(window, states), timeout=WAIT_MS)


def open_image(qtbot, window: MainWindow, path: Path | str) -> bool:
    """Open `path` through the window (read in a background thread) and wait
    until it is shown (True) or refused with a dialog (False)."""
    with qtbot.waitSignal(window.openFinished, timeout=WAIT_MS) as blocker:
        window.open_path(path)
    return bool(blocker.args[1])


def write_png(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(to_display(rgb)).save(path)
    return path


def assert_pane_shows_the_view(window: MainWindow, slots=None) -> None:
    """Each pane (of `slots`, default all) is on the window's view, and its
    full tiles cover exactly the image's part of that view's lattice."""
    h, w = window.model.image_rgb.shape[:2]
    for slot in window.slots() if slots is None else slots:
        pane = slot.pane
        assert pane.view() == window.model.view
        lattice = pane.lattice()
        assert lattice == window.model.view.lattice(*pane.physical_size())
        rows, cols = lattice.inside_mask(w, h)
        for side in slot.active_sides():
            _, mask = pane.composed(side)
            np.testing.assert_array_equal(mask, np.outer(rows, cols))
