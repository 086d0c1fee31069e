"""The GUI says in words where and in which precision a pane's method runs
(its label's tooltip) and what Preferences applied (the status bar)."""

from __future__ import annotations

from pathlib import Path

import torch

from app.model.run_info import preferences_summary, run_description
from app.preferences import Preferences
from inference.precision import resolve_precision
from tests.gui_helpers import make_window, open_image, wait_done, write_png
from tests.tiny_methods import sample_image


def test_run_description_names_the_device_and_each_parts_precision() -> None:
    assert (run_description("LIIF", "cpu", "bf16", "fp32")
            == "LIIF on the CPU in bfloat16 (decoder), float32 (encoder)")
    assert run_description("DIIF", "cuda", "fp32", "fp32") == "DIIF on the GPU (CUDA) in float32"
    assert (run_description("Bicubic", "cpu", None, interpolation=True)
            == "Bicubic on the CPU in float32 (interpolation)")
    assert "nothing is computed" in run_description("Ground truth", "", None, ground_truth=True)


def test_preferences_summary_reads_in_words() -> None:
    assert (preferences_summary("auto", "auto", 1, 512, 2048, "cpu")
            == "device automatic (CPU here), precision automatic (bf16 where it costs no PSNR), 1 worker thread, "
               "caches 512 MiB tiles + 2048 MiB features")
    text = preferences_summary("cuda", "fp32", 0, 64, 128, "cuda", 16)
    assert text.startswith("device CUDA, precision fp32 (exact), worker threads automatic (up to 16 here)")


def test_a_pane_labels_tooltip_says_device_and_precision(qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path, ["liif", "bicubic"])
    open_image(qtbot, window, write_png(tmp_path / "photo.png", sample_image(20, 24)))
    wait_done(qtbot, window)
    liif, bicubic = (slot.pane for slot in window.slots())
    corner = liif._label_box("a").center()
    decoder = {"fp32": "float32", "bf16": "bfloat16"}[resolve_precision("auto", "liif", torch.device("cpu"))]
    tip = liif.tooltip_at(corner)
    assert "LIIF" in tip and f"on the CPU in {decoder}" in tip
    assert "Bicubic on the CPU in float32" in bicubic.tooltip_at(bicubic._label_box("a").center())


def test_applying_preferences_says_what_was_applied_in_words(qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path, ["liif"])
    assert window.service_actions.apply_preferences(Preferences("auto", "auto", 1, 512, 2048))
    message = window.statusBar().currentMessage()
    assert message.startswith("Preferences applied: device automatic (")
    assert "precision automatic (bf16 where it costs no PSNR), 1 worker thread, caches 512 MiB tiles" in message
    assert "auto, auto" not in message
    qtbot.waitUntil(lambda: window.service.worker.renderer is not None, timeout=60000)
    tip = window.slots()[0].pane.tooltip_at(window.slots()[0].pane._label_box("a").center())
    assert "fp32" not in tip and "on the CPU in" in tip
