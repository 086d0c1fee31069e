"""Exports: default names carry image, method and zoom in the last folder used;
metadata carries the source's path; untrained methods are marked in the pane list."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.export_dialog import ExportDialog
from inference.export_names import export_folder, export_name, zoom_text
from inference.imageio import read_metadata
from tests.gui_helpers import WAIT_MS, make_window, open_image, wait_done, write_png
from tests.tiny_methods import sample_image


def test_names_carry_image_method_and_zoom() -> None:
    assert export_name("/photos/butterfly.png", "liif", 3.7) == "butterfly_liif_x3.7.png"
    assert export_name("butterfly.jpg", "bicubic", 4.0) == "butterfly_bicubic_x4.png"
    assert export_name("a b.png", "ground-truth", 12.345, ".tif") == "a-b_ground-truth_x12.35.tif"
    assert export_name(None, "liif", None) == "export_liif.png"
    assert zoom_text(0.5) == "x0.5"


def test_folder_is_the_last_used_else_the_images(tmp_path: Path) -> None:
    image = tmp_path / "pics" / "a.png"
    image.parent.mkdir()
    assert export_folder(str(tmp_path), image, Path("/home")) == tmp_path
    assert export_folder(str(tmp_path / "gone"), image, Path("/home")) == image.parent
    assert export_folder(None, None, Path("/home")) == Path("/home")


def test_export_dialog_proposes_the_name_and_follows_the_pane_choice(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import inference.registry as registry

    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path / "no-weights")  # LIIF with random weights
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    image = write_png(tmp_path / "butterfly.png", sample_image(20, 24))
    open_image(qtbot, window, image)
    window.set_zoom(3.7)
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    window.settings.setValue("exportDir", str(out_dir))
    seen = {}

    def fake_exec(dialog: ExportDialog) -> int:
        seen["labels"] = [dialog.source.itemText(i) for i in range(dialog.source.count())]
        seen["first"] = dialog.path_edit.text()
        dialog.source.setCurrentIndex(1)
        seen["second"] = dialog.path_edit.text()
        dialog.path_edit.setText(str(out_dir / "mine.png"))
        dialog.source.setCurrentIndex(0)
        seen["edited"] = dialog.path_edit.text()
        return ExportDialog.DialogCode.Rejected

    monkeypatch.setattr(ExportDialog, "exec", fake_exec)
    window.set_active(0)
    window.export_actions.export_dialog("view")
    assert seen["first"] == str(out_dir / "butterfly_bicubic_x3.7.png")
    assert seen["second"] == str(out_dir / "butterfly_liif_x3.7.png")
    assert seen["edited"] == str(out_dir / "mine.png")  # a name the user typed is kept
    assert seen["labels"] == ["Bicubic (pane 1)", "LIIF (untrained) (pane 2)"]


def test_export_metadata_carries_the_source_path(qtbot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path, ["liif"])
    image = write_png(tmp_path / "butterfly.png", sample_image(20, 24))
    open_image(qtbot, window, image)
    window.set_zoom(3.0)
    wait_done(qtbot, window)
    results = []
    window.exportDone.connect(results.append)
    out = tmp_path / "out.png"
    window.export_actions.export_to(str(out), "liif", area="view", progress_dialog=False)
    qtbot.waitUntil(lambda: len(results) == 1, timeout=WAIT_MS)
    assert results[0].ok, results[0].message
    meta = read_metadata(out)
    assert meta["Source"] == "butterfly.png" and meta["SourcePath"] == str(image.resolve())
