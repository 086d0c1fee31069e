"""Browsing: PageDown/PageUp through a folder keeping the view, Ctrl+C copies
the active pane's view, L hides the pane labels, F11 goes full screen."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QApplication

from inference.browse import folder_images, natural_key, neighbour
from tests.gui_helpers import WAIT_MS, make_window, open_image, wait_done, write_png
from tests.tiny_methods import sample_image


def make_folder(folder: Path, names: list[str]) -> None:
    folder.mkdir(exist_ok=True)
    for i, name in enumerate(names):
        if name.endswith(".png"):
            write_png(folder / name, sample_image(20 + i, 24 + i, seed=i))
        else:
            (folder / name).write_text("not an image")


def test_folder_order_is_natural_and_only_images(tmp_path: Path) -> None:
    make_folder(tmp_path, ["img10.png", "img2.png", "IMG1.png", "notes.txt", ".hidden.png"])
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in folder_images(tmp_path)] == ["IMG1.png", "img2.png", "img10.png"]
    assert natural_key("a9") < natural_key("a10")


def test_neighbours_stop_at_the_ends_and_survive_a_deleted_current_file(tmp_path: Path) -> None:
    make_folder(tmp_path, ["a.png", "b.png", "c.png"])
    assert neighbour(tmp_path / "a.png", 1) == tmp_path / "b.png"
    assert neighbour(tmp_path / "c.png", -1) == tmp_path / "b.png"
    assert neighbour(tmp_path / "c.png", 1) is None and neighbour(tmp_path / "a.png", -1) is None
    (tmp_path / "b.png").unlink()
    assert neighbour(tmp_path / "b.png", 1) == tmp_path / "c.png"
    assert neighbour(tmp_path / "b.png", -1) == tmp_path / "a.png"


def test_page_down_and_up_browse_the_folder_keeping_the_view(qtbot, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    make_folder(folder, ["a.png", "b.png", "c.png"])
    window = make_window(qtbot, tmp_path, ["bicubic"])
    open_image(qtbot, window, folder / "b.png")
    window.set_zoom(4.0)
    window.apply_view(window.model.view.panned(20, 10))
    view = window.model.view
    pane = window.slots()[0].pane
    with qtbot.waitSignal(window.openFinished, timeout=WAIT_MS) as blocker:
        qtbot.keyClick(pane, Qt.Key.Key_PageDown)
    assert blocker.args == [str(folder / "c.png"), True]
    assert window.windowTitle().startswith("c.png") and window.model.view == view
    wait_done(qtbot, window)
    with qtbot.waitSignal(window.openFinished, timeout=WAIT_MS) as blocker:
        qtbot.keyClick(pane, Qt.Key.Key_PageUp)
    assert blocker.args == [str(folder / "b.png"), True] and window.model.view == view
    # Past the end nothing opens and the status bar says why.
    window.open_path(folder / "c.png", keep_view=True)
    qtbot.waitUntil(lambda: window.windowTitle().startswith("c.png"), timeout=WAIT_MS)
    assert window.file_actions.browse(1) is None and "last image" in window.statusBar().currentMessage()


def test_ctrl_c_copies_the_pane_view_without_labels_and_l_hides_labels(qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic"])
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(30, 40)))
    pane = window.slots()[0].pane
    pw, ph = pane.physical_size()
    assert pw > 800 and ph < 600
    window.set_zoom(20.0)  # 800 x 600: narrower than the pane, taller (grey beside it, the label over it)
    wait_done(qtbot, window)
    QApplication.clipboard().clear()
    qtbot.keyClick(pane, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    copied = QApplication.clipboard().image()
    # The image area only (40 wide at 20x), not the grey background beside it.
    assert (copied.width(), copied.height()) == (800, ph)
    x, _ = window.model.view.pane_point(0, 0, pw, ph)
    area = QRect(round(x), 0, 800, ph)
    with_labels = pane.grab().toImage().copy(area).convertToFormat(copied.format())
    assert copied != with_labels  # the label box is not in the copy
    qtbot.keyClick(pane, Qt.Key.Key_L)
    assert not pane.labels_shown() and not window.acts.labels_action.isChecked()
    without_labels = pane.grab().toImage().copy(area).convertToFormat(copied.format())
    assert copied == without_labels
    qtbot.keyClick(pane, Qt.Key.Key_L)
    assert pane.labels_shown()
    window.grid.add_pane("liif")
    assert window.slots()[1].pane.labels_shown()


def test_f11_toggles_full_screen(qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic"])
    window.acts.fullscreen_action.trigger()
    qtbot.waitUntil(window.isFullScreen, timeout=WAIT_MS)
    assert window.acts.fullscreen_action.isChecked()
    window.acts.fullscreen_action.trigger()
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=WAIT_MS)
