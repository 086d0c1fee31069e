"""The settings file is input too: a recent-files list of any length, paths
too long for the system, or values of the wrong type never slow the window down
or end in an exception; what cannot be used is dropped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.settings import MAX_RECENT, is_folder, recent_list, start_folder, user_folder

TOO_LONG = "/tmp/" + "a" * 300 + "/" + "b" * 5000


def test_recent_files_are_bounded_and_validated() -> None:
    stored = [f"/pictures/img{i}.png" for i in range(100_000)]
    assert recent_list(stored) == stored[:MAX_RECENT]
    assert recent_list(["", None, 3, TOO_LONG, "a\0b", "/ok.png", "/ok.png"]) == ["/ok.png"]
    assert recent_list({"not": "a list"}) == [] and recent_list("/one.png") == ["/one.png"]


def test_a_remembered_folder_longer_than_the_system_allows_is_passed_over(tmp_path: Path) -> None:
    assert not is_folder(TOO_LONG) and not is_folder("x" * 300) and not is_folder(None)
    assert start_folder(TOO_LONG, tmp_path) == str(tmp_path)
    assert user_folder([TOO_LONG, "n" * 256, str(tmp_path)], [], Path("/")) == tmp_path


def test_a_window_on_a_hostile_settings_file_opens_and_exports_to_a_real_folder(qtbot, tmp_path: Path) -> None:
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings

    from app.main_window import MainWindow
    from tests.tiny_methods import tiny_loader

    path = tmp_path / "settings.ini"
    settings = QSettings(str(path), QSettings.Format.IniFormat)
    settings.setValue("recentFiles", [f"/pictures/img{i}.png" for i in range(100_000)])
    for key in ("exportDir", "batchInput", "batchOutput", "weightsDir"):
        settings.setValue(key, TOO_LONG)
    settings.sync()
    window = MainWindow(device="cpu", loader=tiny_loader(), methods=["bicubic"],
                        settings=QSettings(str(path), QSettings.Format.IniFormat), panes=["bicubic"])
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert len(window.file_actions.recent.files()) == MAX_RECENT
    folder = Path(window.export_actions.default_export_path("bicubic", 2.0)).parent
    assert folder.is_dir() and len(str(folder)) < os.pathconf("/", "PC_PATH_MAX")
    assert is_folder(window.service_actions.weights_folder())
