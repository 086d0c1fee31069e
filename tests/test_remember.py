"""A relaunch restores the last image (if it still exists), the window's
geometry, the panes, their methods and the split. Settings live in tmp_path."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from app.main_window import SAMPLE_IMAGE, MainWindow
from app.settings import PaneMemory, decode_panes, encode_panes, restorable_image
from tests.gui_helpers import make_window, open_image, write_png
from tests.tiny_methods import sample_image, tiny_loader

OFFERED = ["bicubic", "nearest", "liif"]


def test_panes_round_trip_and_unknown_or_broken_entries_are_dropped() -> None:
    panes = [PaneMemory("liif", "nearest", 0.3), PaneMemory("bicubic")]
    assert decode_panes(encode_panes(panes), OFFERED, 8) == panes
    assert decode_panes(encode_panes(panes), ["bicubic", "liif"], 8) == [PaneMemory("liif", None, 0.3),
                                                                      PaneMemory("bicubic")]
    assert decode_panes(encode_panes(panes), OFFERED, 1) == panes[:1]
    assert decode_panes("not json", OFFERED, 8) == [] and decode_panes(None, OFFERED, 8) == []
    assert decode_panes('[{"method": "liif", "fraction": "x"}, 3]', OFFERED, 8) == [PaneMemory("liif")]


def test_last_image_only_if_it_still_exists(tmp_path: Path) -> None:
    path = write_png(tmp_path / "a.png", sample_image())
    assert restorable_image(str(path)) == str(path)
    path.unlink()
    assert restorable_image(str(path)) is None and restorable_image(None) is None


def relaunch(qtbot, tmp_path: Path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(device="cpu", loader=tiny_loader(), methods=OFFERED, settings=settings, tile=64)
    qtbot.addWidget(window)
    return window


def test_relaunch_restores_image_geometry_panes_methods_and_split(qtbot, tmp_path: Path) -> None:
    image = write_png(tmp_path / "photo.png", sample_image(20, 24))
    # Inside the offscreen screen (800 x 600).
    first = make_window(qtbot, tmp_path, ["liif", "bicubic", "nearest"], methods=OFFERED, size=(730, 530))
    open_image(qtbot, first, image)
    first.slots()[1].picker.set_split_method("liif")
    first.slots()[1].pane.set_split(True, 0.3)
    size = first.size()
    first.close()

    second = relaunch(qtbot, tmp_path)
    assert [s.sides["a"].method for s in second.slots()] == ["liif", "bicubic", "nearest"]
    split = second.slots()[1]
    assert split.pane.is_split() and split.sides["b"].method == "liif" and split.picker.split_method() == "liif"
    assert abs(split.pane.split_fraction() - 0.3) < 1e-6
    assert not second.slots()[0].pane.is_split()
    assert second.size() == size
    assert second.file_actions.startup_image() == str(image.resolve())
    assert second.file_actions.startup_image(str(tmp_path / "given.png")) == str(tmp_path / "given.png")
    second.close()

    image.unlink()
    third = relaunch(qtbot, tmp_path)
    assert third.file_actions.startup_image() == str(SAMPLE_IMAGE)
    third.close()
