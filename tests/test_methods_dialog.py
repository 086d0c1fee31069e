"""Help › Methods and Weights, and where File › Load Weights opens."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from app.model.method_rows import NOT_STATED, PROJECT_ROOT, method_row, shown_path
from app.settings import start_folder
from inference import checkpoint, registry
from inference.weights import WeightsInfo
from tests.gui_helpers import WAIT_MS, make_window
from tests.tiny_methods import TINY_LIIF_ARGS


def tiny_checkpoint(path: Path, provenance: dict | None = None) -> Path:
    model = registry.build("liif", **TINY_LIIF_ARGS)
    checkpoint.save(path, model, "liif", TINY_LIIF_ARGS,
                    provenance=provenance or {"data": "DIV2K train", "steps": 1200, "licence": "BSD-3-Clause"},
                    metrics={"psnr_set5_x4": 29.87654, "psnr_y/Set5/x4": 31.2})
    return path


def test_trained_row_shows_source_licence_steps_and_metrics(tmp_path: Path) -> None:
    info = WeightsInfo(True, "liif.safetensors", {"data": "DIV2K train", "steps": 1200, "licence": "MIT"},
                       {"psnr_set5_x4": 29.87654, "ssim": 0.9})
    row = method_row("liif", "LIIF", "Chen et al.", interpolation=False, weights=info,
                     expected=tmp_path / "liif.safetensors")
    assert row.status == "trained" and row.licence == "MIT" and row.steps == "1200"
    assert "DIV2K train" in row.source
    assert row.metrics == "psnr_set5_x4 29.88; ssim 0.9"
    assert row.loaded_from == str(tmp_path / "liif.safetensors") and row.can_load_weights



def test_methods_command_words_figures_as_the_dialog_does(tmp_path: Path) -> None:
    """`main.py methods` and Help › Methods and Weights show a checkpoint's figures in the same
    words; the command lists the provenance with data and steps first and leaves empty fields out."""
    from cli.methods import format_text

    metrics = {"psnr_set5_x4": 29.87654, "per_set": {"Set5": 31.23456}}
    provenance = {"device": "cpu", "note": "", "steps": 1200, "data": "DIV2K train"}
    row = method_row("liif", "LIIF", "p", interpolation=False,
                     weights=WeightsInfo(True, "liif.safetensors", provenance, metrics), expected=None)
    text = format_text([{"name": "liif", "display": "LIIF", "paper": "p", "learned": True, "trained": True,
                         "weights": "liif.safetensors", "provenance": provenance, "metrics": metrics,
                         "problem": None}])
    assert row.metrics == "psnr_set5_x4 29.88; per_set Set5 31.23"
    assert f"metrics: {row.metrics}" in text
    assert "provenance: data DIV2K train; steps 1200; device cpu\n" in text

def test_untrained_unusable_and_interpolation_rows(tmp_path: Path) -> None:
    expected = tmp_path / "diif.safetensors"
    untrained = method_row("diif", "DIIF", "p", interpolation=False, weights=WeightsInfo(False), expected=expected)
    assert untrained.status == "untrained" and untrained.expected_path == str(expected) and not untrained.loaded_from
    broken = method_row("diif", "DIIF", "p", interpolation=False, weights=None, expected=expected,
                        problem="diif.safetensors: not a checkpoint")
    assert broken.status == "unusable" and "not a checkpoint" in broken.problem
    waiting = method_row("diif", "DIIF", "p", interpolation=False, weights=None, expected=expected, checked=False)
    assert waiting.status.startswith("checking")
    nearest = method_row("nearest", "Nearest", "p", interpolation=True, weights=None, expected=None)
    assert nearest.status == "interpolation" and not nearest.can_load_weights and not nearest.expected_path
    no_licence = method_row("liif", "LIIF", "p", interpolation=False, weights=WeightsInfo(True, "x.safetensors"),
                            expected=expected)
    assert no_licence.licence == NOT_STATED and no_licence.steps == NOT_STATED


def test_file_dialogs_open_in_the_last_folder_else_the_weights_folder(tmp_path: Path) -> None:
    weights = tmp_path / "resources" / "weights"
    (tmp_path / "resources").mkdir()
    shipped = PROJECT_ROOT / "resources" / "weights" / "x.safetensors"
    assert shown_path(str(shipped)) == "resources/weights/x.safetensors"
    assert shown_path(str(tmp_path / "x.pth")) == str(tmp_path / "x.pth")
    assert start_folder(None, weights) == str(tmp_path / "resources")  # weights/ not made yet: the folder above
    weights.mkdir(parents=True)
    assert start_folder(None, weights) == str(weights)
    assert start_folder(str(tmp_path), weights) == str(tmp_path)
    assert start_folder(str(tmp_path / "gone"), weights) == str(weights)


def test_methods_dialog_shows_each_method_and_loads_weights_from_its_button(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import inference.registry as registry

    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path / "weights")
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"], methods=["bicubic", "nearest", "liif"])
    asked: list[str] = []
    good = tiny_checkpoint(tmp_path / "picked" / "mine.safetensors")

    def answer(parent, title, folder, filter_):
        asked.append(folder)
        return str(good), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", answer)
    window.acts.methods_action.trigger()
    dialog = window.service_actions.methods_dialog
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.row("liif").status == "untrained", timeout=WAIT_MS)
    liif = dialog.row("liif")
    assert liif.expected_path == str(tmp_path / "weights" / "liif.safetensors")
    assert "none (expected:" in dialog.table.item(2, 6).text()
    assert dialog.table.item(2, 6).toolTip() == liif.expected_path
    assert not dialog.load_button("bicubic").isEnabled() and not dialog.load_button("nearest").isEnabled()
    assert dialog.load_button("liif").text().startswith("Load")

    with qtbot.waitSignal(window.weightsChanged, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(dialog.load_button("liif"), Qt.MouseButton.LeftButton)
    assert blocker.args == ["liif", str(good)]
    assert asked == [str(tmp_path)]  # no weights folder and none used yet: the nearest folder that exists
    qtbot.waitUntil(lambda: dialog.row("liif").status == "trained", timeout=WAIT_MS)
    liif = dialog.row("liif")
    assert (liif.steps, liif.licence, liif.loaded_from) == ("1200", "BSD-3-Clause", str(good))
    assert "psnr_set5_x4 29.88" in liif.metrics and "DIV2K train" in liif.source
    assert dialog.load_button("liif").text().startswith("Replace")
    # File › Load Weights now opens where the last weights came from.
    with qtbot.waitSignal(window.weightsChanged, timeout=WAIT_MS):
        window.acts.load_weights_action.trigger()
    assert asked[-1] == str(good.parent)


def test_load_button_refuses_another_methods_weights(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    window = make_window(qtbot, tmp_path, ["bicubic", "liif"], methods=["bicubic", "liif", "diif"])
    good = tiny_checkpoint(tmp_path / "liif.safetensors")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(good), ""))
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    window.service_actions.show_methods()
    with qtbot.waitSignal(window.weightsChanged, timeout=WAIT_MS) as blocker:
        window.service_actions.methods_dialog.load_button("diif").click()
    assert blocker.args == ["", str(good)]
    assert len(warnings) == 1 and "'liif', not 'diif'" in warnings[0]
