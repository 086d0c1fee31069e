"""File › Open Reference in the window: the opened image is the LR input and
a separate file its high-resolution original at a whole scale. A pane's PSNR
is the evaluator's for that pair (make_pair's protocol); a reference of no
whole scale, or one that cannot be read, is refused in one line, in the
status bar and one dialog; leaving reference mode or opening another image
drops the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QMessageBox

from inference.evaluate import evaluate_image, make_pair
from inference.reference import GROUND_TRUTH
from inference.render import to_display
from tests.gui_helpers import WAIT_MS, make_window, open_image, wait_done, write_png
from tests.tiny_methods import sample_image, tiny_loader

METHODS = ["bicubic", "liif"]


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """QMessageBox.warning records its text instead of blocking."""
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *rest: shown.append(text)
                        or QMessageBox.StandardButton.Ok)
    return shown


def status_line(window) -> str:
    """The status bar's message, whole (it is cut to fit, with the whole line in its tooltip)."""
    bar = window.statusBar()
    return bar.toolTip() if bar.currentMessage().endswith("\u2026") else bar.currentMessage()


def open_reference(qtbot, window, path: Path) -> None:
    with qtbot.waitSignal(window.reference_actions.opener.finished, timeout=WAIT_MS):
        window.reference_actions.open_reference(path)


def pair_files(tmp_path: Path, scale: int = 4) -> tuple[np.ndarray, Path, Path]:
    """(the reference's pixels, the input made from it by make_pair, the reference), as files.
    The reference is 2 columns and 3 rows past x4 of its input: the evaluator's floor crops them."""
    hr8 = to_display(sample_image(20 * scale + 3, 24 * scale + 2, seed=4))
    reference = tmp_path / "ref.png"
    Image.fromarray(hr8).save(reference)
    _, lr8 = make_pair(hr8, scale)
    low = tmp_path / "low.png"
    Image.fromarray(lr8).save(low)
    return hr8, low, reference


def test_a_reference_file_scores_each_pane_as_the_evaluator_does(qtbot, tmp_path: Path, warnings) -> None:
    hr8, low, reference = pair_files(tmp_path)
    window = make_window(qtbot, tmp_path, METHODS)
    assert open_image(qtbot, window, low)
    wait_done(qtbot, window)
    shown = window.model.image_id
    open_reference(qtbot, window, reference)
    assert not warnings
    assert window.model.reference is not None and window.model.reference.scale == 4.0
    assert window.statusBar().currentMessage() == "Reference: ref.png (\u00d74)"
    # The panes keep the opened image: it is the input, not simulated from anything.
    assert window.model.image_id == shown and window.model.image_rgb.shape[:2] == (20, 24)
    assert window.acts.reference_action.isChecked() and GROUND_TRUTH in window.model.offered()

    def scored() -> bool:
        return all({"whole", "visible"} <= set(window.reference_actions.metrics(i)) for i in range(2))

    qtbot.waitUntil(scored, timeout=WAIT_MS)
    for i, method in enumerate(METHODS):
        psnr, ssim = evaluate_image(tiny_loader()(method, "cpu"), hr8, 4.0)
        whole = window.reference_actions.metrics(i)["whole"]
        assert whole.psnr == pytest.approx(psnr, abs=1e-6) and whole.ssim == pytest.approx(ssim, abs=1e-6)
        wait_done(qtbot, window)
        assert any(f"{psnr:.2f} dB" in line for line in window.panes()[i].label_lines())

    # The ground truth is a method too: the reference itself on the pane's lattice.
    window.set_method(window.slots()[1], "a", GROUND_TRUTH)
    wait_done(qtbot, window)
    assert window.slots()[1].sides["a"].state == "done"

    window.acts.reference_action.trigger()  # Reference Mode off: the reference goes, the input stays
    assert window.model.reference is None and window.model.image_id == shown
    assert window.slots()[1].sides["a"].method != GROUND_TRUTH
    wait_done(qtbot, window)

    open_reference(qtbot, window, reference)
    assert window.model.reference is not None
    assert open_image(qtbot, window, reference)  # another input image: its reference is dropped
    assert window.model.reference is None and not window.acts.reference_action.isChecked()


def test_a_reference_of_no_whole_scale_is_refused_in_one_line(qtbot, tmp_path: Path, warnings) -> None:
    _, low, _ = pair_files(tmp_path)
    wrong = write_png(tmp_path / "wrong.png", sample_image(90, 90))
    window = make_window(qtbot, tmp_path, METHODS)
    assert open_image(qtbot, window, low)
    open_reference(qtbot, window, wrong)
    assert window.model.reference is None and not window.acts.reference_action.isChecked()
    assert len(warnings) == 1
    line = warnings[0]
    assert "\n" not in line and "wrong.png" in line and "90 \u00d7 90" in line and "24 \u00d7 20" in line
    assert status_line(window) == line

    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    open_reference(qtbot, window, junk)  # the hostile-input-safe reader refuses it: one line too
    assert window.model.reference is None and len(warnings) == 2 and "junk.png" in warnings[1]
    assert "\n" not in warnings[1] and status_line(window) == warnings[1]
