"""What the viewer displays, as a new user met it (issue 11, "bugs seen on
screen"): scores that go with reference mode, comparison sheets with readable
labels and each method once, pane headers that fit, a refining pane that
shows the current view (never an old result or a seam), and a timer and
progress that belong to the current render."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")

from PySide6.QtGui import QFontMetrics

from inference.export import _label_strip
from inference.imageio import read_metadata
from tests.gui_helpers import WAIT_MS, make_window, open_image, wait_done, write_png
from tests.tiny_methods import sample_image


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    return write_png(tmp_path / "tiny.png", sample_image(20, 24))


# ---------------------------------------------------------------- 1. reference mode off


def test_leaving_reference_mode_removes_its_scores_and_its_status_message(qtbot, tmp_path: Path) -> None:
    """A score that was on its way when reference mode was turned off must not
    appear afterwards, and the status bar stops saying "Reference mode"."""
    path = write_png(tmp_path / "hr.png", sample_image(44, 50, seed=2))
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    open_image(qtbot, window, path)
    wait_done(qtbot, window)
    late = []
    window.service.worker.metricsReady.connect(late.append)
    assert window.reference_actions.enter_reference(2.0)
    scores = window.reference_actions.metrics
    qtbot.waitUntil(lambda: all({"whole", "visible"} <= set(scores(i)) for i in range(2)), timeout=WAIT_MS)
    assert any("PSNR" in line for line in window.panes()[0].label_lines())
    message = window.statusBar().currentMessage()
    assert message.startswith("Reference mode")

    window.acts.reference_action.trigger()  # Ctrl+G: leave reference mode
    for result in late:  # scores computed before leaving, delivered after it (a slow model's whole-image score)
        window.reference_actions.on_metrics(result)
    wait_done(qtbot, window)
    window.zoom_by(2.0)
    wait_done(qtbot, window)
    for i, pane in enumerate(window.panes()):
        assert not any("PSNR" in line or "SSIM" in line for line in pane.label_lines()), pane.label_lines()
        assert window.reference_actions.metrics(i) == {}
    assert "Reference mode:" not in window.statusBar().currentMessage()


def test_the_reference_mode_message_fits_beside_the_permanent_fields(qtbot, tmp_path: Path) -> None:
    """QStatusBar cuts a message at its first permanent widget, without an
    ellipsis: the message must fit the room left of them (full text in a tooltip)."""
    path = write_png(tmp_path / "hr.png", sample_image(44, 50, seed=2))
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"], size=(1100, 700))
    open_image(qtbot, window, path)
    wait_done(qtbot, window)
    assert window.reference_actions.enter_reference(2.0)
    bar = window.statusBar()
    qtbot.wait(50)
    message = bar.currentMessage()
    assert message.startswith("Reference mode")
    fields = window.fields
    first_permanent = min(w.x() for w in (fields.error_legend, fields.image_label, fields.zoom_label,
                                          fields.queue_label, fields.device_label) if w.isVisible())
    assert QFontMetrics(bar.font()).horizontalAdvance(message) <= first_permanent - 8
    assert "ground truth" in bar.toolTip()


# ---------------------------------------------------------------- 2, 3. comparison sheet


def test_comparison_labels_draw_the_times_sign_not_a_missing_glyph_box() -> None:
    """A code point no font here has (U+E000) is drawn as the missing-glyph box;
    "×" must look different from it."""
    times = _label_strip("3\u00d7", 120, 30)
    missing = _label_strip("3\ue000", 120, 30)
    assert not np.array_equal(times, missing)
    # "≤" (in "bicubic at zoom ≤ 1") and "·" too.
    assert not np.array_equal(_label_strip("\u2264", 120, 30), _label_strip("\ue000", 120, 30))


def test_comparison_sheet_shows_each_method_once(qtbot, tmp_path: Path, image_file: Path) -> None:
    """Pane 1 split bicubic | LIIF, pane 2 LIIF: the sheet has two crops, not three."""
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    open_image(qtbot, window, image_file)
    window.set_active(0)
    window.grid.toggle_split()
    window.slots()[0].picker.set_split_method("liif")
    window.set_zoom(3.0)
    wait_done(qtbot, window)
    results = []
    window.exportDone.connect(results.append)
    out = tmp_path / "sheet.png"
    assert window.export_actions.export_comparison_to(str(out), progress_dialog=False)
    qtbot.waitUntil(lambda: len(results) == 1, timeout=WAIT_MS)
    assert results[0].ok, results[0].message
    labels = read_metadata(out)["Panes"].split(", ")
    assert len(labels) == 2 and labels[0].startswith("Bicubic") and labels[1].startswith("LIIF")
    crop_w = window.export_actions.export_lattice("view").width
    with Image.open(out) as im:
        assert im.width == 2 * crop_w + 3 * 8


# ---------------------------------------------------------------- 5. refining

RED, GREEN, BLUE, MAGENTA = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 0, 255)
GREY = 128  # the image under the tiles: one flat grey, told apart from every tile


def grey_pane(qtbot, view, image_size: tuple[int, int] = (40, 30), size: tuple[int, int] = (240, 180)):
    from widgets.image_pane import ImagePane, ImageSource

    pane = ImagePane()
    qtbot.addWidget(pane)
    pane.resize(*size)
    pane.set_source(ImageSource(np.full((image_size[1], image_size[0], 3), GREY, dtype=np.uint8)))
    pane.set_view(view)
    pane.show()
    qtbot.waitExposed(pane)
    return pane


def shown_pixels(pane) -> np.ndarray:
    """What the pane shows (logical = physical pixels here), below its corner label."""
    from PySide6.QtGui import QImage

    image = pane.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    rgb = rows[:, :image.width() * 3].reshape(image.height(), image.width(), 3)
    return rgb[int(pane._label_box("a").bottom()) + 2:].copy()


def count(rgb: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int(np.all(np.abs(rgb.astype(int) - colour) <= 2, axis=2).sum())


def add_solid_tiles(pane, zoom: float, phase: str, generation: int, colour, step: int, *, image=(40, 30),
                    keep=lambda u, v: True) -> None:
    """Tiles of one colour on the lattice of `zoom`, clipped to the image as the renderer clips them."""
    from inference.render import image_extent

    cols, rows = image_extent(zoom, *image)
    for u in range(0, cols, step):
        for v in range(0, rows, step):
            if keep(u, v):
                tile = np.empty((min(step, rows - v), min(step, cols - u), 3), dtype=np.uint8)
                tile[...] = colour
                pane.add_tile("a", zoom, u, v, tile, phase, generation)


def test_a_coarse_pass_leaves_no_strip_of_the_bicubic_preview(qtbot) -> None:
    """While a pane refines, its coarse pass (x4 coarser, scaled up) covers the
    image: the bicubic preview under it never shows, not even as a 2 px strip
    along the coarse lattice's last column and row."""
    from inference.render import ViewState

    zoom, coarse = 4.848, 1.212  # 40 x 30 image: the coarse lattice ends 0.48 of its pixel short of the edge
    pane = grey_pane(qtbot, ViewState(20.0, 15.0, zoom), size=(240, 190))
    pane.begin_generation("a", 1)
    add_solid_tiles(pane, zoom, "preview", 1, RED, 32)
    add_solid_tiles(pane, coarse, "coarse", 1, GREEN, 16)
    add_solid_tiles(pane, zoom, "full", 1, BLUE, 32, keep=lambda u, v: (u // 32 + v // 32) % 2 == 0)
    shown = shown_pixels(pane)
    assert count(shown, GREEN) > 1000 and count(shown, BLUE) > 1000
    assert count(shown, RED) == 0


def test_after_a_zoom_the_pane_shows_the_image_not_the_previous_result_scaled(qtbot) -> None:
    """A learned pane's preview of a new zoom is the image (then that zoom's
    bicubic preview), not the old zoom's result blown up."""
    from inference.render import ViewState

    pane = grey_pane(qtbot, ViewState(20.0, 15.0, 4.0))
    pane.begin_generation("a", 1)
    add_solid_tiles(pane, 4.0, "full", 1, MAGENTA, 32)
    pane.finish_generation("a")
    assert count(shown_pixels(pane), MAGENTA) > 10000
    pane.set_view(ViewState(20.0, 15.0, 6.0))
    pane.begin_generation("a", 2)
    shown = shown_pixels(pane)
    assert count(shown, MAGENTA) == 0
    add_solid_tiles(pane, 6.0, "preview", 2, RED, 32)  # this zoom's bicubic preview arrives
    shown = shown_pixels(pane)
    assert count(shown, MAGENTA) == 0 and count(shown, RED) > 10000


def test_after_a_resize_old_layers_make_no_patchwork(qtbot) -> None:
    """Previews and results of earlier zooms and requests stay off screen when
    the pane grows (a resize, a closed pane): the new area shows the image, then
    the current request's preview, coarse pass and tiles."""
    from inference.render import ViewState

    pane = grey_pane(qtbot, ViewState(20.0, 15.0, 3.0), size=(160, 120))
    pane.begin_generation("a", 1)  # a request at zoom 3 that was refining: its coarse pass, some tiles
    add_solid_tiles(pane, 1.5, "coarse", 1, GREEN, 16)
    add_solid_tiles(pane, 3.0, "full", 1, MAGENTA, 32, keep=lambda u, v: u < 64)
    pane.set_view(ViewState(20.0, 15.0, 4.0))  # then a zoom: its preview and a few tiles
    pane.begin_generation("a", 2)
    add_solid_tiles(pane, 4.0, "preview", 2, RED, 32, keep=lambda u, v: u >= 64)
    add_solid_tiles(pane, 4.0, "full", 2, BLUE, 32, keep=lambda u, v: u >= 96)
    pane.resize(260, 200)  # the pane grows
    qtbot.waitUntil(lambda: pane.width() == 260)
    pane.begin_generation("a", 3)
    shown = shown_pixels(pane)
    assert count(shown, GREEN) == 0 and count(shown, MAGENTA) == 0
    assert count(shown, RED) > 1000 and count(shown, BLUE) > 1000


# ---------------------------------------------------------------- 4. pane headers


def test_method_names_are_whole_in_the_pickers_of_three_panes(qtbot, tmp_path: Path, image_file: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Three panes (and a split) in a 1300 px window: each picker shows its
    whole label, not "LIIF (untrain"."""
    import inference.registry as registry

    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path / "no-weights")  # labels as for random weights
    from tests.tiny_methods import tiny_methods_loader

    window = make_window(qtbot, tmp_path, ["bicubic", "liif", "a-liif"], loader=tiny_methods_loader(),
                         methods=["bicubic", "liif", "a-liif", "liif-siren"], size=(1300, 700))
    open_image(qtbot, window, image_file)
    window.set_active(0)
    window.grid.toggle_split()
    window.slots()[0].picker.set_split_method("liif-siren")
    qtbot.wait(50)
    from PySide6.QtWidgets import QStyle, QStyleOptionComboBox

    for slot in window.slots():
        for combo in (slot.picker.combo, slot.picker.split_combo):
            if combo.isVisible():
                opt = QStyleOptionComboBox()
                combo.initStyleOption(opt)
                room = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                                    QStyle.SubControl.SC_ComboBoxEditField, combo).width()
                assert combo.fontMetrics().horizontalAdvance(combo.currentText()) <= room, combo.currentText()
                assert combo.shown_text() == combo.currentText()
    assert window.slots()[2].picker.combo.currentText() == "A-LIIF (untrained)"


def test_cramped_pickers_cut_names_with_an_ellipsis_and_keep_them_in_the_tooltip(
        qtbot, tmp_path: Path, image_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import inference.registry as registry

    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path / "no-weights")  # labels as for random weights
    from tests.tiny_methods import tiny_methods_loader

    window = make_window(qtbot, tmp_path, ["liif-siren"] * 8, loader=tiny_methods_loader(),
                         methods=["bicubic", "liif-siren"], size=(900, 600))
    qtbot.wait(50)
    combo = window.slots()[0].picker.combo
    assert combo.width() < combo.sizeHint().width()
    shown = combo.shown_text()
    assert shown.endswith("\u2026") and len(shown) > 3
    assert "LIIF-SIREN (untrained)" in combo.current_tooltip()


def test_split_labels_stay_on_their_side_and_show_cached(qtbot, tmp_path: Path, image_file: Path) -> None:
    """The two labels of a split pane never overlap, each stays on its side of
    the divider, and neither hides its state or time ("cached")."""
    window = make_window(qtbot, tmp_path, ["bicubic", "liif", "liif"], size=(1200, 600))
    open_image(qtbot, window, image_file)
    window.set_active(0)
    window.grid.toggle_split()
    window.slots()[0].picker.set_split_method("liif")
    wait_done(qtbot, window)
    window.zoom_by(2.0)  # a view the panes have seen: then back, from the cache
    wait_done(qtbot, window)
    window.zoom_by(0.5)
    wait_done(qtbot, window)
    pane = window.panes()[0]
    for fraction in (0.5, 0.35, 0.65):
        pane.set_split(True, fraction)
        a, b = pane._label_box("a"), pane._label_box("b")
        divider = pane.width() * fraction
        assert not a.intersects(b)
        assert a.right() <= divider and b.left() >= divider
        for side in ("a", "b"):
            shown = " ".join(pane.label_lines(side))
            assert "cached" in shown and "\u2026" not in shown, (side, fraction, pane.label_lines(side))


def test_three_narrow_panes_show_their_whole_status(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At zoom < 1 in three panes of ~290 px: method, state, time and both notes
    are readable (wrapped onto more lines, not cut), and every line fits its box."""
    import inference.registry as registry

    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path / "no-weights")  # labels as for random weights
    window = make_window(qtbot, tmp_path, ["bicubic", "liif", "liif"], size=(900, 600))
    open_image(qtbot, window, write_png(tmp_path / "big.png", sample_image(300, 400, seed=4)))
    wait_done(qtbot, window)
    assert window.model.view.zoom < 1
    for pane in window.panes()[1:]:
        lines = pane.label_lines()
        text = " ".join(lines)
        assert "\u2026" not in text, lines
        for words in ("LIIF", "untrained", "zoom \u2264 1", "bicubic", "random weights"):
            assert words in text, (words, lines)
        box = pane._label_box("a")
        fm = QFontMetrics(pane._label_font("a"))
        assert all(fm.horizontalAdvance(line) <= box.width() - 12 - 8 - 6 + 1 for line in lines)
        assert box.right() <= pane.width() and box.height() < pane.height() / 2
        assert "models add nothing when shrinking" in pane.tooltip_at(box.center())


# ---------------------------------------------------------------- 6. timer and progress


class SlowLIIF:
    """The tiny methods; the learned one sleeps in every decode (a model on a busy CPU)."""

    def __init__(self, seconds: float) -> None:
        from tests.tiny_methods import tiny_loader

        self.seconds = seconds
        self.load = tiny_loader()

    def __call__(self, name: str, device):
        up = self.load(name, device)
        if name != "bicubic":
            decode = up.decode_lattice

            def slow(features, lattice, progress=None):
                time.sleep(self.seconds)
                return decode(features, lattice, progress)

            up.decode_lattice = slow
        return up


def test_a_refining_pane_shows_its_own_time_progress_and_estimate(qtbot, tmp_path: Path, image_file: Path) -> None:
    import re

    loader = SlowLIIF(0.15)
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"], loader=loader, tile=16)
    open_image(qtbot, window, image_file)
    window.set_zoom(4.0)
    wait_done(qtbot, window)
    slot = window.slots()[1]
    previous = slot.pane.label_lines()[0]
    assert re.search(r"\d+\.\d+ s", previous), previous  # the finished view's time
    loader.seconds = 0.4
    start = time.perf_counter()
    window.set_zoom(9.0)
    qtbot.waitUntil(lambda: slot.sides["a"].state == "refining" and slot.sides["a"].full_done >= 2, timeout=WAIT_MS)
    qtbot.wait(600)  # a tick of the progress timer
    head = " ".join(slot.pane.label_lines())
    elapsed = time.perf_counter() - start
    done, total = map(int, re.search(r"refining (\d+)/(\d+) tiles", head).groups())
    assert 2 <= done < total
    shown = float(re.search(r"(\d+\.\d+) s\b", head).group(1))
    assert shown <= elapsed + 0.05 and shown >= 0.5  # this render's own running time
    assert re.search(r"~\d+ (s|min) left", head), head
    status = window.fields.queue_label.text()
    assert status.startswith("Rendering 1 pane") and "tiles left" in status and "left" in status, status
    loader.seconds = 0.0
    wait_done(qtbot, window)
    final = " ".join(slot.pane.label_lines())
    assert "done" in final or "untrained" in final
    assert "tiles" not in final and "left" not in final
    assert window.fields.queue_label.text() == "Idle"


def test_label_lines_wrap_at_separators_then_spaces_and_cut_only_a_lone_long_word() -> None:
    from widgets.pane_label import layout

    def measure(text: str) -> float:
        return 7.0 * len(text)

    lines = layout(["A-LIIF", "refining 3/12 tiles", "4.20 s", "~9 s left"],
                   ["untrained: random weights, not a result", "Supercalifragilisticexpialidocious"], measure, 140)
    # A part is never split across lines when it fits one.
    assert lines[0] == "A-LIIF" and lines[1] == "refining 3/12 tiles"
    assert all(measure(line) <= 140 for line in lines)
    joined = " ".join(lines)
    for words in ("refining 3/12 tiles", "4.20 s", "~9 s left", "random weights, not a result"):
        assert words in joined
    assert lines[-1].endswith("\u2026") and lines[-1].startswith("Supercal")
