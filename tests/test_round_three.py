"""Issue 21's viewer items as a user meets them: the zoom box, the session
saved as it changes, folders, browsing past exports and broken images, the
clipboard, labels, the help sheet and About."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.gui_helpers import make_window, open_image, wait_done, write_png
from tests.tiny_methods import sample_image
from widgets.zoom_slider import format_zoom


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    return write_png(tmp_path / "tiny.png", sample_image(20, 24))


def test_zoom_box_follows_the_zoom_and_gives_the_keyboard_back(qtbot, tmp_path: Path, image_file: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic"])
    open_image(qtbot, window, image_file)
    window.activateWindow()
    field = window.zoom_slider.field
    field.setFocus()
    qtbot.waitUntil(field.hasFocus)
    field.selectAll()
    qtbot.keyClicks(field, "8")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert window.model.view.zoom == pytest.approx(8.0)
    pane = window.active_slot().pane
    qtbot.waitUntil(pane.hasFocus)  # Enter gave the keyboard back to the panes
    window.zoom_by(2.0)  # as the wheel does
    assert window.model.view.zoom == pytest.approx(16.0)
    assert field.text() == format_zoom(16.0)  # not the stale 8.00x
    assert window.acts.labels_action.isChecked()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_L)  # L hides the labels, it does not type into the box
    assert not window.acts.labels_action.isChecked() and field.text() == format_zoom(16.0)
    # Something typed and not yet entered is left alone while the zoom changes.
    field.setFocus()
    qtbot.waitUntil(field.hasFocus)
    field.selectAll()
    qtbot.keyClicks(field, "3")
    window.zoom_by(0.5)
    assert field.text() == "3"
    qtbot.keyClick(field, Qt.Key.Key_Escape)  # drops it, shows the zoom again, back to the panes
    assert field.text() == format_zoom(8.0)
    qtbot.waitUntil(pane.hasFocus)
    wait_done(qtbot, window)


def test_the_session_is_saved_as_it_changes_and_survives_a_kill(qtbot, tmp_path: Path, image_file: Path) -> None:
    from PySide6.QtCore import QSettings

    from app.main_window import MainWindow
    from app.session import SAVE_DELAY_MS
    from inference.render import ViewState
    from tests.tiny_methods import tiny_loader

    first = make_window(qtbot, tmp_path, ["bicubic", "liif"], methods=["bicubic", "nearest", "liif"],
                        size=(700, 500))
    open_image(qtbot, first, image_file)
    first.grid.add_pane("nearest")
    first.slots()[0].picker.set_split_method("liif")
    first.slots()[0].pane.set_split(True, 0.3)
    first.apply_view(ViewState(7.25, 9.5, 12.0))  # zoomed and panned
    view = first.model.view
    assert view.zoom == pytest.approx(12.0) and (view.cx, view.cy) != (12.0, 10.0)
    settings_file = tmp_path / "settings.ini"
    qtbot.waitUntil(lambda: not first.session.pending(), timeout=SAVE_DELAY_MS + 3000)
    inode = settings_file.stat().st_ino
    first.apply_view(ViewState(8.0, 9.0, 12.0))
    view = first.model.view
    qtbot.waitUntil(lambda: not first.session.pending(), timeout=SAVE_DELAY_MS + 3000)
    # Written to a temporary file renamed over the old one: a kill mid-write leaves a whole file.
    assert settings_file.stat().st_ino != inode
    # The first window is never closed (as after a kill): a new one on the same settings file.
    settings = QSettings(str(settings_file), QSettings.Format.IniFormat)
    second = MainWindow(device="cpu", loader=tiny_loader(), methods=["bicubic", "nearest", "liif"],
                        settings=settings, tile=64)
    qtbot.addWidget(second)
    second.show()
    qtbot.waitExposed(second)
    assert [s.sides["a"].method for s in second.slots()] == ["bicubic", "liif", "nearest"]
    assert second.slots()[0].pane.is_split() and second.slots()[0].sides["b"].method == "liif"
    start = second.file_actions.startup_image()
    assert start == str(image_file.resolve())
    open_image(qtbot, second, start)
    assert second.model.view == view  # the same zoom and pan, not fitted
    assert all(p.view() == view for p in second.panes())
    # Only the first open restores it: another image opens fitted.
    other = write_png(tmp_path / "other.png", sample_image(20, 24))
    open_image(qtbot, second, other)
    assert second.model.view.zoom < 12.0
    wait_done(qtbot, first)
    wait_done(qtbot, second)


def test_a_window_never_outgrows_its_screen() -> None:
    from app.settings import FRAME_ALLOWANCE, fit_rect

    fw, fh = FRAME_ALLOWANCE
    # 1600 x 1000 at QT_SCALE_FACTOR=1.5: 1066 x 666 logical pixels, less a 30 px panel.
    available = (0, 30, 1066, 636)
    x, y, w, h = fit_rect((100, 100, 1280, 820), available)  # the default size
    assert w + fw <= 1066 and h + fh <= 636 and x >= 0 and y + h <= 30 + 636 and y - fh >= 30
    assert fit_rect((3000, -50, 500, 400), available)[:2] == (1066 - fw - 500, 30 + fh)  # off-screen: brought back
    assert fit_rect((10, 100, 500, 400), available) == (10, 100, 500, 400)  # one that fits stays as it is


def test_default_and_restored_windows_fit_the_screen(qtbot, tmp_path: Path) -> None:
    from PySide6.QtCore import QSettings

    from app.main_window import MainWindow
    from tests.tiny_methods import tiny_loader

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(device="cpu", loader=tiny_loader(), methods=["bicubic"], settings=settings, tile=64)
    qtbot.addWidget(window)
    area = window.screen().availableGeometry()  # 800 x 600 offscreen
    assert area.contains(window.geometry()) and window.width() < 1280
    window.resize(2000, 1500)  # larger than the screen, as if saved on a bigger one
    window.file_actions.remember_session()
    again = MainWindow(device="cpu", loader=tiny_loader(), methods=["bicubic"],
                       settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat), tile=64)
    qtbot.addWidget(again)
    assert area.contains(again.geometry())


def test_a_label_says_cached_only_for_a_finished_render_that_decoded_nothing() -> None:
    from app.model import MethodBook, SideState, side_status
    from tests.test_viewer_model import Tile

    book = MethodBook(["liif"])
    side = SideState("liif")
    side.begin_render(1, now=5.0, note="", anything_in_view=True)
    for now in (5.0, 5.001, 5.02):  # asked for, nothing computed yet
        assert side_status(side, book, now).head() == ["LIIF", "preview"]
    assert side_status(side, book, 6.5).head() == ["LIIF", "preview", "1.5 s"]  # running: its time so far
    side.tile_shown(Tile(from_cache=True, final=True, seconds=0.0), now=6.6)
    assert side_status(side, book, 7.0).head() == ["LIIF", "done", "cached"]


def test_toolbar_menu_wheel_and_keys_zoom_by_one_step(qtbot, tmp_path: Path, image_file: Path) -> None:
    from widgets.image_pane import ZOOM_STEP

    window = make_window(qtbot, tmp_path, ["bicubic"])
    open_image(qtbot, window, image_file)
    window.set_zoom(4.0)
    window.acts.zoom_in_action.trigger()  # toolbar, View menu, Ctrl++
    assert window.model.view.zoom == pytest.approx(4.0 * ZOOM_STEP, rel=1e-4)
    window.set_zoom(4.0)
    qtbot.keyClick(window.active_slot().pane, Qt.Key.Key_Plus)  # the pane's own key, as a wheel notch
    assert window.model.view.zoom == pytest.approx(4.0 * ZOOM_STEP, rel=1e-4)
    window.acts.zoom_out_action.trigger()
    assert window.model.view.zoom == pytest.approx(4.0, rel=1e-4)
    wait_done(qtbot, window)


def test_folder_progress_dialog_has_room_for_its_title(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import batch_dialog
    from app.batch_dialog import BatchSpec

    monkeypatch.setattr(batch_dialog.QMessageBox, "information", lambda *a: None)
    monkeypatch.setattr(batch_dialog.QMessageBox, "warning", lambda *a: None)
    folder = tmp_path / "photos"
    folder.mkdir()
    write_png(folder / "a.png", sample_image(20, 24))
    window = make_window(qtbot, tmp_path, ["bicubic"])
    upscale = window.service_actions.folder_upscale
    with qtbot.waitSignal(window.batchFinished, timeout=60000):
        upscale.start(BatchSpec(str(folder), "bicubic", 2.0, None, str(tmp_path / "out")))
        dialog = upscale.progress_dialog
        assert dialog is not None
        title = dialog.windowTitle()
        assert "Folder" in title and dialog.minimumWidth() >= dialog.fontMetrics().horizontalAdvance(title) + 200


def test_browsing_passes_own_exports_unless_asked_and_moves_past_a_broken_image(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import main_window
    from inference.imageio import SOFTWARE, save_image

    monkeypatch.setattr(main_window.QMessageBox, "warning", lambda *a: None)
    folder = tmp_path / "photos"
    folder.mkdir()
    write_png(folder / "a.png", sample_image(20, 24))
    save_image(folder / "a_liif_x4.png", sample_image(20, 24), metadata={"Software": SOFTWARE, "Method": "liif"})
    (folder / "b.png").write_text("not an image")
    write_png(folder / "c.png", sample_image(20, 24, seed=2))
    window = make_window(qtbot, tmp_path, ["bicubic"])
    open_image(qtbot, window, folder / "a.png")
    assert not window.acts.browse_exports_action.isChecked()  # off by default

    def page_down() -> list:
        with qtbot.waitSignal(window.openFinished, timeout=60000) as blocker:
            assert window.file_actions.browse(1) is not None
        return blocker.args

    assert page_down() == [str(folder / "b.png"), False]  # past the export, to the broken one
    assert page_down() == [str(folder / "c.png"), True]  # the next press moves on, not the same file again
    window.acts.browse_exports_action.setChecked(True)
    open_image(qtbot, window, folder / "a.png")
    assert page_down() == [str(folder / "a_liif_x4.png"), True]
    wait_done(qtbot, window)


def test_dialogs_propose_the_users_folders_never_the_package(qtbot, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import resources
    from app import folders

    pictures = tmp_path / "Pictures"
    pictures.mkdir()
    monkeypatch.setattr(folders, "pictures_folder", lambda: str(pictures))
    window = make_window(qtbot, tmp_path, ["bicubic"])
    open_image(qtbot, window, resources.sample_image())  # the bundled sample, inside the package
    path = Path(window.export_actions.default_export_path("liif", 4.0))
    assert path.parent == pictures and path.name.endswith("_liif_x4.png")
    captured = {}

    class Dialog:
        class DialogCode:
            Accepted = 1

        def __init__(self, methods, method, folder, output, parent) -> None:
            captured.update(folder=folder, output=output)

        def exec(self) -> int:
            return 0  # cancelled

    monkeypatch.setattr("app.batch_dialog.BatchDialog", Dialog)
    window.service_actions.folder_upscale.open_dialog()
    assert captured == {"folder": str(pictures), "output": str(pictures / "upscaled")}
    # The last folder exported to wins, while it exists.
    window.settings.setValue("exportDir", str(tmp_path))
    assert Path(window.export_actions.default_export_path("liif", 4.0)).parent == tmp_path
    wait_done(qtbot, window)


def test_browsing_asks_about_the_images_on_the_way_only(tmp_path: Path) -> None:
    from inference.browse import neighbour

    for name in ["a.png", "b.png", "c.png", "d.png", "e.png"]:
        write_png(tmp_path / name, sample_image(8, 8))
    asked: list[str] = []

    def skip(path: Path) -> bool:
        asked.append(path.name)
        return path.name in ("b.png", "c.png")

    assert neighbour(tmp_path / "a.png", 1, skip) == tmp_path / "d.png" and asked == ["b.png", "c.png", "d.png"]
    assert neighbour(tmp_path / "d.png", -1, skip) == tmp_path / "a.png"
    assert neighbour(tmp_path / "a.png", 2, skip) == tmp_path / "e.png"
    assert neighbour(tmp_path / "e.png", 1, skip) is None


def test_user_folder_is_never_inside_the_package(tmp_path: Path) -> None:
    from app.settings import user_folder

    package, pictures = tmp_path / "site" / "resources", tmp_path / "Pictures"
    (package / "images").mkdir(parents=True)
    pictures.mkdir()
    forbidden = [package]
    assert user_folder([package / "images", pictures], forbidden, tmp_path) == pictures
    assert user_folder([str(tmp_path / "gone"), None, pictures], forbidden, tmp_path) == pictures
    assert user_folder([package], forbidden, tmp_path / "home") == tmp_path / "home"


def test_the_image_area_of_a_pane_leaves_out_the_background() -> None:
    from app.view_area import image_area
    from inference.render import ViewState

    view = ViewState(20.0, 15.0, 3.0)  # a 40 x 30 image, centred at 3x in a 400 x 300 pane
    assert image_area(view.lattice(400, 300), 40, 30) == (140, 105, 120, 90)
    assert image_area(ViewState(20.0, 15.0, 20.0).lattice(400, 300), 40, 30) == (0, 0, 400, 300)
    assert image_area(ViewState(500.0, 15.0, 3.0).lattice(400, 300), 40, 30) is None


def test_f1_opens_a_help_sheet_with_every_shortcut_and_the_panes_own_keys(qtbot, tmp_path: Path,
                                                                          image_file: Path) -> None:
    from PySide6.QtGui import QAction, QKeySequence

    from app.help_sheet import PANE_INPUT

    window = make_window(qtbot, tmp_path, ["bicubic"])
    open_image(qtbot, window, image_file)
    window.activateWindow()
    pane = window.active_slot().pane
    pane.setFocus()
    qtbot.waitUntil(pane.hasFocus)
    qtbot.keyClick(pane, Qt.Key.Key_F1)
    sheet = window.file_actions.help_sheet
    assert sheet is not None and sheet.isVisible()
    text = sheet.text()
    with_keys = [a for a in window.findChildren(QAction) if not a.shortcut().isEmpty()]
    assert len(with_keys) >= 20
    for action in with_keys:
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        assert keys in text and action.text().replace("&", "").rstrip(".\u2026") in text, keys
    for row in PANE_INPUT:
        assert row.keys in text
    assert "4 steps double the zoom" in text
    sheet.close()
    wait_done(qtbot, window)


def test_about_says_version_licence_and_where_the_weights_came_from(qtbot, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from app import help_dialog
    from app.help_sheet import version

    shown: list[str] = []
    monkeypatch.setattr(help_dialog.QMessageBox, "about", lambda parent, title, text: shown.append(text))
    window = make_window(qtbot, tmp_path, ["bicubic"])
    window.acts.about_action.trigger()
    (text,) = shown
    assert version() != "unknown" and version() in text and "MIT" in text
    assert "LIIF" in text and "BSD-3-Clause" in text and "Yinbo Chen" in text  # the LIIF release's own provenance


def test_help_sheet_and_about_text_need_no_qt() -> None:
    import subprocess
    import sys

    code = ("import sys, app.help_sheet as h; h.sheet_html([('Ctrl+O', '&Open', 'Open an image')], 2 ** 0.25); "
            "h.about_html(h.version(), []); "
            "sys.exit(any(m.startswith('PySide6') for m in sys.modules))")
    root = Path(__file__).resolve().parent.parent
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


def test_a_narrow_label_keeps_numbers_with_their_units_and_keeps_the_scores() -> None:
    from widgets.pane_label import MAX_LINES, layout

    def measure(text: str) -> float:
        return 6.0 * len(text)

    head = ["LIIF (untrained)", "refining 3/12 tiles", "1.2 s", "~4 s left"]
    notes = ["untrained: random weights, not a result", "zoom \u2264 1: bicubic (models add nothing)"]
    scores = ["image: PSNR 31.23 dB \u00b7 SSIM 0.9123", "view: PSNR 30.01 dB \u00b7 SSIM 0.9012"]
    lines = layout(head, notes + scores, measure, 130)  # a narrow split side
    assert len(lines) <= MAX_LINES and all(measure(line) <= 130 for line in lines)
    for whole in ("3/12 tiles", "PSNR 31.23 dB", "SSIM 0.9123", "PSNR 30.01 dB", "SSIM 0.9012"):
        assert any(whole in line for line in lines), (whole, lines)  # never parted, never cut
    assert not any(line.startswith("\u00b7") for line in lines)
    assert "\u2026" in lines  # the notes gave way (their whole text is in the tooltip)
    # With room, everything shows as before, one score line each.
    wide = layout(head, notes + scores, measure, 600)
    assert wide[-2:] == scores and "\u2026" not in " ".join(wide)


@pytest.mark.parametrize("factor", ["1", "1.5", "2"])
def test_at_zoom_1_pane_pixels_are_image_pixels_at_every_scale_factor(factor: str) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QT_SCALE_FACTOR=factor)
    out = subprocess.run([sys.executable, str(root / "tests" / "scale_factor_probe.py")], cwd=root, env=env,
                         capture_output=True, text=True, timeout=300).stdout
    assert f"dpr={float(factor)}" in out and "zoom=1.0" in out, out
    assert "differ=0 " in out and "fits=True" in out, out
