"""Help › Methods and Weights, and where File › Load Weights opens."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from app.methods_dialog import DEFAULT_SIZE, FILE_COLUMN, MethodsDialog
from app.model.method_rows import (
    NOT_STATED,
    PROJECT_ROOT,
    TRAINED_HERE_LICENCE,
    data_name,
    method_row,
    metrics_grid,
    shown_path,
    training_summary,
)
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
    assert "none (expected:" in dialog.table.item(2, FILE_COLUMN).text()
    assert dialog.table.item(2, FILE_COLUMN).toolTip() == liif.expected_path
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


TRAINED_HERE = {"data": "../shared/data/train (371 images)", "steps": 2463, "minutes": 188.08, "device": "CPU",
                "recipe": "IPE-LIIF, Liu et al., Sec. 5: as LIIF; decoder only on the frozen LIIF-release encoder"}
FIGURES = {"psnr_y/Set5/x4": 32.069, "ssim_y/Set5/x4": 0.8944, "psnr_y/Set5/x2": 37.554, "ssim_y/Set5/x2": 0.9596,
           "psnr_y/B100/x4": 27.561, "psnr_y/Set14/x12": 23.119}


def test_training_data_is_named_never_a_development_path() -> None:
    assert data_name("../shared/data/train (371 images)") == "BSDS200 + T91 + Sun-Hays80 (371 images)"
    assert data_name("/home/someone/work/shared/data/train") == "BSDS200 + T91 + Sun-Hays80"
    assert data_name("/home/someone/sets/my_photos (12 images)") == "my_photos (12 images)"
    assert data_name("C:\\data\\flowers (3 images)") == "flowers (3 images)"
    assert data_name("DIV2K (800 training images)") == "DIV2K (800 training images)"


def test_a_decoder_trained_here_says_its_data_trainer_hours_recipe_and_licence() -> None:
    row = method_row("ipe-liif", "IPE-LIIF", "p", interpolation=False,
                     weights=WeightsInfo(True, "ipe-liif.safetensors", TRAINED_HERE, FIGURES), expected=None)
    assert row.data == "BSDS200 + T91 + Sun-Hays80 (371 images)"
    assert "shared" not in row.source and row.source.startswith("trained here")
    assert row.licence == TRAINED_HERE_LICENCE and row.licence.startswith("MIT") and "BSD-3-Clause" in row.licence
    assert "Implicit Zoom developers" in row.trained_by
    assert row.training.startswith("2463 steps, 3.1 h on the CPU: IPE-LIIF, Liu et al.")
    assert row.set5_x4 == "32.07 dB"
    assert training_summary({"epoch": 1000}) == "1000 epochs"


def test_metrics_are_a_small_table_per_set_and_scale() -> None:
    grid = metrics_grid(FIGURES)
    assert grid[0] == ["", "x2", "x4", "x12"]
    assert [r[0] for r in grid[1:]] == ["Set5", "Set14", "B100"]
    assert grid[1] == ["Set5", "37.55 / 0.9596", "32.07 / 0.8944", "\u2014"]
    assert grid[3][2] == "27.56" and metrics_grid({"ssim": 0.9}) == []


def test_dialog_is_readable_without_scrolling_sideways_and_details_follow_the_row(qtbot) -> None:
    rows = [method_row("bicubic", "Bicubic", "Keys 1981", interpolation=True, weights=None, expected=None)]
    for name in ("liif", "ipe-liif", "diinn", "diif", "a-liif", "liif-siren"):
        rows.append(method_row(name, name.upper(), "paper", interpolation=False,
                               weights=WeightsInfo(True, f"{name}.safetensors", TRAINED_HERE, FIGURES),
                               expected=PROJECT_ROOT / "resources" / "weights" / f"{name}.safetensors"))
    dialog = MethodsDialog(rows)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert (dialog.width(), dialog.height()) == DEFAULT_SIZE
    table = dialog.table
    # Every column, the Load/Replace buttons included, fits in the visible width.
    used = sum(table.columnWidth(c) for c in range(table.columnCount()))
    assert used <= table.viewport().width()
    assert table.horizontalScrollBar().maximum() == 0
    assert dialog.load_button("diif").isVisible() and dialog.load_button("diif").text().startswith("Replace")
    assert table.item(4, FILE_COLUMN).text() == "resources/weights/diif.safetensors"
    table.setCurrentCell(2, 0)
    text = dialog.details.text()
    assert "BSDS200 + T91 + Sun-Hays80 (371 images)" in text and "../shared" not in text
    assert "MIT (trained by the Implicit Zoom developers)" in text and "3.1 h" in text
    assert dialog.metrics.isVisible() and dialog.metrics.rowCount() == 3 and dialog.metrics.columnCount() == 3
    assert dialog.metrics.item(0, 1).text() == "32.07" and "SSIM 0.8944" in dialog.metrics.item(0, 1).toolTip()
    table.setCurrentCell(0, 0)
    assert not dialog.metrics.isVisible()
