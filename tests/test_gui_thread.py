"""Every result of the render worker reaches the window on the GUI thread,
also after Preferences rebuilt the worker: an export (and a comparison export)
after each kind of Preferences change closes its progress dialog and the window
keeps processing events. The suite-wide check (tests/conftest.py) fails any
test in which a GUI slot ran on another thread."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QObject, QThread, QTimer, Signal
from PySide6.QtWidgets import QApplication, QProgressDialog

from app import gui_thread
from tests.gui_helpers import WAIT_MS, make_window, open_image, wait_done, write_png
from tests.tiny_methods import sample_image

CHANGES = {
    "threads": {"worker_threads": 1},
    "device": {"device": "cpu"},
    "precision": {"precision": "fp32"},
    "caches": {"tile_cache_mb": 64, "feature_cache_mb": 128},
}


def assert_responsive(qtbot) -> None:
    """A timer on the GUI thread ticks: the window's event loop runs."""
    ticks: list[int] = []
    timer = QTimer(interval=5)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=WAIT_MS)
    timer.stop()


def open_progress_dialogs() -> list[QProgressDialog]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QProgressDialog) and w.isVisible()]


@pytest.mark.parametrize("change", list(CHANGES))
def test_export_after_a_preferences_change_closes_its_dialog(qtbot, tmp_path: Path, change: str) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    assert open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(40, 48)))
    wait_done(qtbot, window)
    services = window.service_actions
    assert services.apply_preferences(dataclasses.replace(services.preferences, **CHANGES[change]))
    wait_done(qtbot, window)
    window.set_active(1)
    exports = window.export_actions
    for export, name in ((exports.export_to, "one.png"), (exports.export_comparison_to, "sheet.png")):
        with qtbot.waitSignal(window.exportDone, timeout=WAIT_MS) as done:
            assert export(str(tmp_path / name))
        assert done.args[0].ok, done.args[0].message
        assert (tmp_path / name).exists()
        qtbot.waitUntil(lambda: not open_progress_dialogs(), timeout=WAIT_MS)
        assert_responsive(qtbot)
    assert not gui_thread.violations


def test_the_check_records_a_slot_run_on_another_thread(qtbot) -> None:
    """The check itself can fail: a GUI slot connected to an object living on
    a worker thread runs there, and is recorded."""

    class Emitter(QObject):
        fired = Signal()

        def fire(self) -> None:
            self.fired.emit()

    thread = QThread()
    emitter = Emitter()
    emitter.moveToThread(thread)
    ran: list[bool] = []
    gui_thread.connect_gui(emitter.fired, lambda: ran.append(gui_thread.on_gui_thread()))
    thread.started.connect(emitter.fire)
    thread.start()
    qtbot.waitUntil(lambda: bool(ran), timeout=WAIT_MS)
    thread.quit()
    thread.wait()
    assert ran == [False]
    assert gui_thread.violations and "ran on thread" in gui_thread.violations[0]
    gui_thread.violations.clear()
