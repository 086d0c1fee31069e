"""The viewer a user meets: panes that share one view, decoded tiles of the
right size, stale work thrown away, split view, reference-mode scores that
agree with the evaluator, exports, clean shutdown, and clear errors."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

import resources
from app.main_window import MainWindow
from inference.evaluate import evaluate_image
from inference.geometry import output_size
from inference.imageio import read_metadata
from inference.render import RenderedTile, to_display
from tests.gui_helpers import WAIT_MS, make_window, open_image, wait_done, write_png
from tests.tiny_methods import sample_image, tiny_loader
from widgets.zoom_slider import parse_zoom

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    return write_png(tmp_path / "tiny.png", sample_image(20, 24))


def expected_pixels(method: str, rgb: np.ndarray, lattice) -> np.ndarray:
    up = tiny_loader()(method, "cpu")
    return to_display(up.decode_lattice(up.encode(rgb), lattice))


class SlowLoader:
    """The tiny methods, with every decode taking a while (a model on a slow machine)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = 0

    def __call__(self, name: str, device):
        up = tiny_loader()(name, device)
        decode = up.decode_lattice

        def slow(features, lattice, progress=None):
            if self.seconds:
                self.started += 1
                time.sleep(self.seconds)
            return decode(features, lattice, progress)

        up.decode_lattice = slow
        return up


def test_open_image_shows_it_in_every_pane(qtbot, tmp_path: Path, image_file: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    assert open_image(qtbot, window, image_file)
    wait_done(qtbot, window)
    assert window.fields.image_label.text().startswith("24 \u00d7 20 px")
    assert window.file_actions.recent_files()[0] == str(image_file.resolve())
    for pane in window.panes():
        assert pane.source() is not None and (pane.source().width, pane.source().height) == (24, 20)
        _image, mask = pane.composed()
        assert mask.any()
    assert window.model.view.zoom == pytest.approx(min(p / s for p, s in zip(window.pane_size(), (24, 20))), rel=0.01)


def test_slider_zoom_gives_every_pane_its_decoded_view(qtbot, tmp_path: Path, image_file: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic", "liif", "liif"], size=(960, 520))
    open_image(qtbot, window, image_file)
    wait_done(qtbot, window)
    window.slots()[2].picker.set_split_method("bicubic")
    wait_done(qtbot, window)
    slider = window.zoom_slider
    slider.slider.setSliderDown(True)
    for zoom in (9.0, 11.0, 13.7):
        slider.slider.setValue(slider.position_for(zoom))
    # While the slider is held nothing is refined: panes show scaled previews.
    assert all(s.sides["a"].state == "preview" for s in window.slots())
    assert window.zoom_slider.is_dragging() and not window._render_timer.isActive()
    slider.slider.setSliderDown(False)
    wait_done(qtbot, window)
    zoom = window.model.view.zoom
    assert zoom == pytest.approx(13.7, rel=0.002)
    rgb = window.model.image_rgb
    for slot in window.slots():
        pane = slot.pane
        assert pane.view() == window.model.view
        lattice = pane.lattice()
        assert (lattice.width, lattice.height) == pane.physical_size()
        for side in slot.active_sides():
            shown, mask = pane.composed(side)
            assert shown.shape == (lattice.height, lattice.width, 3)
            rows, cols = lattice.inside_mask(24, 20)
            np.testing.assert_array_equal(mask, np.outer(rows, cols))
            direct = expected_pixels(slot.sides[side].method, rgb, lattice)
            # The same lattice points; at most a rounding flip from float summation order.
            diff = np.abs(shown[mask].astype(int) - direct[mask].astype(int))
            assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_wheel_zoom_moves_every_pane_once(qtbot, tmp_path: Path, image_file: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic", "liif", "bicubic"])
    open_image(qtbot, window, image_file)
    wait_done(qtbot, window)
    requests: list = []
    for pane in window.panes():
        pane.viewRequested.connect(requests.append)
    pane = window.panes()[1]
    before = window.model.view
    x_img, y_img = before.image_point(40 * pane.devicePixelRatioF(), 30 * pane.devicePixelRatioF(),
                                      *pane.physical_size())
    pane.zoom_by(2.0, QPointF(40, 30))
    assert len(requests) == 1  # no pane echoed the change back
    assert window.model.view.zoom == pytest.approx(before.zoom * 2, rel=1e-3)
    assert all(p.view() == window.model.view for p in window.panes())
    assert window.zoom_slider.zoom() == window.model.view.zoom
    x2, y2 = window.model.view.image_point(40, 30, *pane.physical_size())
    assert abs(x2 - x_img) < 1 / window.model.view.zoom + 1e-9 and abs(y2 - y_img) < 1 / window.model.view.zoom + 1e-9
    window.zoom_slider.field.setText("3.7\u00d7")
    window.zoom_slider.field.editingFinished.emit()
    assert window.model.view.zoom == pytest.approx(3.7)
    wait_done(qtbot, window)


def test_stale_results_are_discarded(qtbot, tmp_path: Path, image_file: Path) -> None:
    loader = SlowLoader(0.0)
    window = make_window(qtbot, tmp_path, ["liif"], loader=loader, tile=32, size=(400, 300))
    open_image(qtbot, window, image_file)
    wait_done(qtbot, window)
    loader.seconds = 0.1
    slot = window.slots()[0]
    pane = slot.pane
    # A result that arrives after the user moved on is not shown.
    current = slot.sides["a"].generation
    count = pane.tile_count()
    stale = RenderedTile(target=slot.target("a"), generation=current - 1, method="liif", phase="full",
                         zoom=window.model.view.zoom, u0=0, v0=0, rgb=np.zeros((8, 8, 3), np.uint8))
    window._on_tile(stale)
    assert pane.tile_count() == count and slot.sides["a"].state in ("done", "untrained")
    # The worker stops a superseded request at its next tile.
    seen: list[int] = []
    window.service.worker.tileReady.connect(lambda t: seen.append(t.generation))

    def request(zoom: float) -> int:
        window.apply_view(window.model.view.with_zoom(zoom))
        window._render_timer.stop()
        window.request_render()
        return slot.sides["a"].generation

    started = loader.started
    old = request(6.0)
    qtbot.waitUntil(lambda: loader.started > started, timeout=WAIT_MS)
    new = request(7.0)
    qtbot.waitUntil(lambda: new in seen, timeout=WAIT_MS)
    loader.seconds = 0.0  # the point is made; finish quickly
    wait_done(qtbot, window)
    planned = len(seen)  # tiles of the new request, plus what the old one got out
    old_tiles = [g for g in seen if g == old]
    assert len(old_tiles) <= 2 and planned - len(old_tiles) > 8
    assert all(g == new for g in seen[len(old_tiles):])
    assert all(t.generation == new for t in pane._sides["a"].tiles.values())


def test_split_view_divider_moves(qtbot, tmp_path: Path, image_file: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic"], size=(700, 500))
    open_image(qtbot, window, image_file)
    window.set_zoom(12.0)
    window.slots()[0].picker.set_split_method("liif")
    wait_done(qtbot, window)
    pane = window.panes()[0]
    assert pane.is_split() and pane.split_fraction() == 0.5
    assert pane.label_lines("a")[0].startswith("Bicubic") and pane.label_lines("b")[0].startswith("LIIF")
    x = int(pane.width() * 0.5)
    y = pane.height() // 2
    moved: list[float] = []
    pane.splitMoved.connect(moved.append)
    qtbot.mousePress(pane, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    qtbot.mouseMove(pane, QPoint(int(pane.width() * 0.25), y))
    qtbot.mouseRelease(pane, Qt.MouseButton.LeftButton, pos=QPoint(int(pane.width() * 0.25), y))
    assert moved and pane.split_fraction() == pytest.approx(0.25, abs=0.01)
    view_before = window.model.view
    assert window.model.view == view_before  # dragging the divider does not pan
    shot = pane.grab().toImage()
    # Left of the divider shows bicubic, right of it LIIF: the two differ somewhere.
    assert shot.width() == pane.width()
    a, _ = pane.composed("a")
    b, _ = pane.composed("b")
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_reference_mode_scores_agree_with_evaluate_image(qtbot, tmp_path: Path) -> None:
    hr = sample_image(44, 50, seed=2)
    path = write_png(tmp_path / "hr.png", hr)
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    open_image(qtbot, window, path)
    wait_done(qtbot, window)
    assert window.reference_actions.enter_reference(2.0)
    assert window.model.image_rgb.shape[:2] == (22, 25)
    window.fit()

    def scored() -> bool:
        return all({"whole", "visible"} <= set(window.reference_actions.metrics(i)) for i in range(2))

    qtbot.waitUntil(scored, timeout=WAIT_MS)
    for i, method in enumerate(["bicubic", "liif"]):
        psnr, ssim = evaluate_image(tiny_loader()(method, "cpu"), window.model.loaded.rgb, 2.0)
        whole = window.reference_actions.metrics(i)["whole"]
        assert whole.psnr == pytest.approx(psnr, abs=1e-6) and whole.ssim == pytest.approx(ssim, abs=1e-6)
        assert any(f"{psnr:.2f} dB" in line for line in window.panes()[i].label_lines())
        # The view shows the whole image, so the view's score is the image's score.
        visible = window.reference_actions.metrics(i)["visible"]
        assert visible.psnr == pytest.approx(psnr, abs=1e-3)
        assert visible.error_map is not None
    window.acts.error_map_action.trigger()
    assert window.acts.error_map_action.isChecked()
    window.acts.reference_action.trigger()  # leave reference mode: the original image is back
    assert window.model.reference is None and window.model.image_rgb.shape[:2] == (44, 50)


def test_export_writes_the_requested_size_with_metadata(qtbot, tmp_path: Path, image_file: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    open_image(qtbot, window, image_file)
    window.set_zoom(5.0)
    wait_done(qtbot, window)
    results = []
    window.exportDone.connect(results.append)
    out = tmp_path / "whole.png"
    window.export_actions.export_to(str(out), "liif", area="whole", mode="scale", scale=3.3, progress_dialog=False)
    qtbot.waitUntil(lambda: len(results) == 1, timeout=WAIT_MS)
    assert results[0].ok, results[0].message
    out_w, out_h = output_size(24, 20, 3.3)
    with Image.open(out) as im:
        assert im.size == (out_w, out_h)
    meta = read_metadata(out)
    assert "liif" in meta["Method"] and meta["Scale"] == f"{out_w / 24:.6g} x {out_h / 20:.6g}"
    assert meta["Source"] == "tiny.png"
    # The current view at the current zoom: exactly the pixels the pane shows.
    view_out = tmp_path / "view.tif"
    window.export_actions.export_to(str(view_out), "liif", area="view", progress_dialog=False)
    qtbot.waitUntil(lambda: len(results) == 2, timeout=WAIT_MS)
    assert results[1].ok, results[1].message
    shown, mask = window.panes()[1].composed()
    rows, cols = np.nonzero(mask)
    crop = shown[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    with Image.open(view_out) as im:
        exported = np.asarray(im.convert("RGB")).astype(int)
    assert exported.shape == crop.shape
    diff = np.abs(exported - crop.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    comp = tmp_path / "comparison.png"
    window.export_actions.export_comparison_to(str(comp), progress_dialog=False)
    qtbot.waitUntil(lambda: len(results) == 3, timeout=WAIT_MS)
    assert results[2].ok and comp.is_file()
    with Image.open(comp) as im:
        assert im.width > 2 * crop.shape[1]


def test_export_is_cancelled_without_a_file(qtbot, tmp_path: Path, image_file: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic"])
    open_image(qtbot, window, image_file)
    wait_done(qtbot, window)
    results = []
    window.exportDone.connect(results.append)
    window.service.cancel_event.set()
    out = tmp_path / "never.png"
    # Cancelling as soon as it starts: the worker clears the flag, so cancel from the progress signal.
    window.service.worker.exportProgress.connect(lambda d, t: window.service.cancel_export())
    window.export_actions.export_to(str(out), "bicubic", area="whole", mode="scale", scale=40.0, progress_dialog=False)
    qtbot.waitUntil(lambda: len(results) == 1, timeout=WAIT_MS)
    assert results[0].cancelled and not out.exists()
    assert not list(tmp_path.glob("*.png.*")) and not list(tmp_path.glob(".tmp*"))


def test_closing_during_a_decode_exits_cleanly(qtbot, tmp_path: Path, image_file: Path, qtlog) -> None:
    loader = SlowLoader(0.4)
    # A small window: the quick previews of ~300 tiles come before the slow
    # decodes (a full-size one queues ~2,900, over a minute on a loaded CPU).
    window = make_window(qtbot, tmp_path, ["liif", "liif"], loader=loader, tile=16, size=(320, 240))
    open_image(qtbot, window, image_file)
    window.set_zoom(20.0)
    qtbot.waitUntil(lambda: loader.started >= 2, timeout=WAIT_MS)
    assert window.queue_length() > 0
    start = time.perf_counter()
    window.close()
    elapsed = time.perf_counter() - start
    assert window.service.worker_thread.isFinished()
    assert elapsed < 3.0  # at most the tile in flight is finished
    started = loader.started
    QApplication.processEvents()
    time.sleep(0.5)
    assert loader.started == started  # nothing ran after the stop
    assert not [r for r in qtlog.records if "Destroyed while thread" in r.message]


def test_unreadable_file_gives_a_dialog_and_keeps_the_image(qtbot, tmp_path: Path, image_file: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic"])
    open_image(qtbot, window, image_file)
    wait_done(qtbot, window)
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: shown.append((title, text)))
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    image_id = window.model.image_id
    assert not open_image(qtbot, window, corrupt)
    assert len(shown) == 1 and "broken.png" in shown[0][1]
    assert window.model.image_id == image_id and window.model.loaded.path == str(image_file)
    assert window.panes()[0].source() is not None


def test_zoom_text_parsing() -> None:
    assert parse_zoom("3.7\u00d7") == pytest.approx(3.7)
    assert parse_zoom(" 12x ") == 12.0
    assert parse_zoom("250%") == 2.5
    assert parse_zoom("fast") is None and parse_zoom("0") is None


def test_screenshot_four_panes(qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic", "liif", "bicubic", "liif"], size=(1100, 720), tile=128)
    open_image(qtbot, window, resources.sample_image())
    wait_done(qtbot, window)
    window.slots()[2].picker.set_split_method("liif")
    window.apply_view(window.model.view.__class__(300.0, 120.0, 3.0))
    wait_done(qtbot, window)
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "main_window.png"
    assert window.grab().save(str(path))
    assert path.stat().st_size > 10000


def test_keys_fit_one_to_one_and_pan(qtbot, tmp_path: Path, image_file: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic", "bicubic"])
    open_image(qtbot, window, image_file)
    pane = window.panes()[1]
    fitted = window.model.view
    qtbot.keyClick(pane, Qt.Key.Key_Plus)
    assert window.model.view.zoom > fitted.zoom and window.panes()[0].view() == window.model.view
    qtbot.keyClick(pane, Qt.Key.Key_0)
    assert window.model.view == fitted
    window.set_zoom(8.0)
    before = window.model.view
    qtbot.keyClick(pane, Qt.Key.Key_Right)
    assert window.model.view.cx > before.cx and window.model.view.cy == before.cy
    qtbot.keyClick(pane, Qt.Key.Key_1)
    assert window.model.view.zoom == max(1.0, window.zoom_slider.minimum())
    wait_done(qtbot, window)


def test_selection_is_exported_at_a_typed_scale(qtbot, tmp_path: Path, image_file: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    open_image(qtbot, window, image_file)
    wait_done(qtbot, window)
    pane = window.panes()[1]
    _pw, _ph = pane.physical_size()
    a = QPoint(pane.width() // 3, pane.height() // 3)
    b = QPoint(2 * pane.width() // 3, 2 * pane.height() // 3)
    qtbot.mousePress(pane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, a)
    qtbot.mouseMove(pane, b)
    qtbot.mouseRelease(pane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, b)
    assert window.model.selection is not None
    x0, y0, x1, y1 = window.model.selection
    assert 0 <= x0 < x1 <= 24 and 0 <= y0 < y1 <= 20
    assert all(p.selection() == window.model.selection for p in window.panes())
    results = []
    window.exportDone.connect(results.append)
    out = tmp_path / "selection.webp"
    window.export_actions.export_to(str(out), "liif", area="selection", mode="scale", scale=4.0, progress_dialog=False)
    qtbot.waitUntil(lambda: len(results) == 1, timeout=WAIT_MS)
    assert results[0].ok, results[0].message
    lattice = window.export_actions.export_lattice("selection", "scale", 4.0)
    with Image.open(out) as im:
        assert im.size == (lattice.width, lattice.height)
        assert abs(im.width - 4 * (x1 - x0)) <= 1 and abs(im.height - 4 * (y1 - y0)) <= 1
    qtbot.keyClick(pane, Qt.Key.Key_Escape)
    assert window.model.selection is None


def test_dropping_a_file_opens_it(qtbot, tmp_path: Path, image_file: Path) -> None:
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDropEvent

    window = make_window(qtbot, tmp_path, ["bicubic"])
    other = write_png(tmp_path / "other.png", sample_image(12, 16, seed=5))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.openFinished, timeout=WAIT_MS):  # read in the background
        window.dropEvent(event)
    assert window.model.loaded is not None and Path(window.model.loaded.path).name == "other.png"
    assert window.model.image_rgb.shape[:2] == (12, 16)
    wait_done(qtbot, window)


def test_pane_count_follows_the_menu(qtbot, tmp_path: Path, image_file: Path) -> None:
    window = make_window(qtbot, tmp_path, ["bicubic"], size=(1000, 600))
    open_image(qtbot, window, image_file)
    window.grid.set_pane_count(6)
    assert len(window.panes()) == 6
    wait_done(qtbot, window)
    sizes = {p.physical_size() for p in window.panes()}
    assert len(sizes) <= 2  # a 2 x 3 grid of (nearly) equal panes
    assert all(p.composed()[1].any() for p in window.panes())
    window.grid.set_pane_count(8)
    assert len(window.panes()) == 8 and not window.acts.add_pane_action.isEnabled()
    window.grid.set_pane_count(1)
    assert len(window.panes()) == 1 and not window.acts.remove_pane_action.isEnabled()


def test_pane_tile_memory_stays_within_its_budget(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    import widgets.image_pane as image_pane

    monkeypatch.setattr(image_pane, "MAX_TILE_BYTES_PER_SIDE", 10 * 32 * 32 * 3)
    pane = image_pane.ImagePane()
    qtbot.addWidget(pane)
    pane.begin_generation("a", 1)
    for i in range(8):
        pane.add_tile("a", 2.0, 32 * i, 0, np.full((32, 32, 3), i, np.uint8), "full", generation=1)
    pane.begin_generation("a", 2)
    for i in range(8):
        pane.add_tile("a", 3.0, 32 * i, 0, np.full((32, 32, 3), i, np.uint8), "full", generation=2)
    tiles = pane._sides["a"].tiles.values()
    assert len(tiles) == 10
    assert sum(t.generation == 2 for t in tiles) == 8  # the current view's tiles are kept


def test_export_below_one_to_one_saves_what_the_pane_shows(qtbot, tmp_path: Path) -> None:
    path = write_png(tmp_path / "big.png", sample_image(300, 400, seed=4))
    window = make_window(qtbot, tmp_path, ["liif"], size=(300, 260))
    open_image(qtbot, window, path)
    window.set_zoom(0.75)
    assert window.model.view.zoom == 0.75
    wait_done(qtbot, window)
    assert "bicubic" in window.panes()[0].label_lines()[1]
    results = []
    window.exportDone.connect(results.append)
    out = tmp_path / "small.png"
    window.export_actions.export_to(str(out), "liif", area="whole", mode="zoom", progress_dialog=False)
    qtbot.waitUntil(lambda: len(results) == 1, timeout=WAIT_MS)
    assert results[0].ok, results[0].message
    meta = read_metadata(out)
    assert meta["Method"].startswith("Bicubic") and "LIIF was asked for" in meta["Note"]
    with Image.open(out) as im:
        assert im.size == (300, 225)


def test_unusable_device_falls_back_to_the_cpu_and_says_so(qtbot, tmp_path: Path, image_file: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(device="cuda", loader=tiny_loader(), methods=["bicubic"], settings=settings, panes=["bicubic"])
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.fields.device_label.text().startswith("CPU"), timeout=WAIT_MS)
    # The reason stays on the device label (the status bar's message is
    # transient: a status tip under the pointer may replace it at any time).
    assert "CUDA" in window.fields.device_label.text()
    open_image(qtbot, window, image_file)
    wait_done(qtbot, window)
