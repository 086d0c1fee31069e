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

from PySide6.QtGui import QFontMetrics  # noqa: E402

from inference.export import _label_strip  # noqa: E402
from inference.imageio import read_metadata  # noqa: E402
from tests.gui_helpers import WAIT_MS, make_window, open_image, wait_done, write_png  # noqa: E402
from tests.tiny_methods import sample_image  # noqa: E402


@pytest.fixture()
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
    assert window.enter_reference(2.0)
    qtbot.waitUntil(lambda: all({"whole", "visible"} <= set(window.metrics(i)) for i in range(2)), timeout=WAIT_MS)
    assert any("PSNR" in line for line in window.panes()[0].label_lines())
    message = window.statusBar().currentMessage()
    assert message.startswith("Reference mode")

    window.reference_action.trigger()  # Ctrl+G: leave reference mode
    for result in late:  # scores computed before leaving, delivered after it (a slow model's whole-image score)
        window._on_metrics(result)
    wait_done(qtbot, window)
    window.zoom_by(2.0)
    wait_done(qtbot, window)
    for i, pane in enumerate(window.panes()):
        assert not any("PSNR" in line or "SSIM" in line for line in pane.label_lines()), pane.label_lines()
        assert window.metrics(i) == {}
    assert "Reference mode:" not in window.statusBar().currentMessage()


def test_the_reference_mode_message_fits_beside_the_permanent_fields(qtbot, tmp_path: Path) -> None:
    """QStatusBar cuts a message at its first permanent widget, without an
    ellipsis: the message must fit the room left of them (full text in a tooltip)."""
    path = write_png(tmp_path / "hr.png", sample_image(44, 50, seed=2))
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"], size=(1100, 700))
    open_image(qtbot, window, path)
    wait_done(qtbot, window)
    assert window.enter_reference(2.0)
    bar = window.statusBar()
    qtbot.wait(50)
    message = bar.currentMessage()
    assert message.startswith("Reference mode")
    first_permanent = min(w.x() for w in (window.image_label, window.zoom_label, window.queue_label,
                                          window.device_label) if w.isVisible())
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
    window.toggle_split()
    window.slots()[0].picker.set_split_method("liif")
    window.set_zoom(3.0)
    wait_done(qtbot, window)
    results = []
    window.exportDone.connect(results.append)
    out = tmp_path / "sheet.png"
    assert window.export_comparison_to(str(out), progress_dialog=False)
    qtbot.waitUntil(lambda: len(results) == 1, timeout=WAIT_MS)
    assert results[0].ok, results[0].message
    labels = read_metadata(out)["Panes"].split(", ")
    assert len(labels) == 2 and labels[0].startswith("Bicubic") and labels[1].startswith("LIIF")
    crop_w = window.export_lattice("view").width
    with Image.open(out) as im:
        assert im.width == 2 * crop_w + 3 * 8
