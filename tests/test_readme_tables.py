"""The tables of shipped weights (docs/evaluation.md, moved there from the
README) say what the shipped files measured: each table, as
training/weights_table.py prints it from the files' own stored metrics, stands
on that page whole (no row missing, stale or typed by hand)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import save_file

from inference.registry import WEIGHTS_DIR
from training import weights_table

PAGE = weights_table.TABLES_PAGE


@pytest.mark.parametrize("name", list(weights_table.tables()))
def test_the_page_holds_the_table_the_shipped_files_give(name: str) -> None:
    assert Path(__file__).resolve().parent.parent / "docs" / "evaluation.md" == PAGE
    table = "\n".join(weights_table.tables()[name])
    assert table in PAGE.read_text(encoding="utf-8"), (
        f"docs/evaluation.md's {name} table differs from the shipped files' metrics; "
        "run `python3 -m training.weights_table --write`")


def test_every_learned_shipped_file_has_a_row() -> None:
    rows = weights_table.tables()["Y-PSNR x2-x4"][2:]
    labels = [row.split(" | ")[0].lstrip("| ") for row in rows]
    shipped = [f.label for f in weights_table.shipped_files()]
    assert labels == shipped and len(shipped) >= 2
    assert labels[0] == "LIIF (release)"


def test_a_changed_figure_changes_the_table(tmp_path: Path) -> None:
    """The check can fail: a file whose stored figure moves by 0.01 dB gives a
    row the page does not hold."""
    for f in WEIGHTS_DIR.glob("*.safetensors"):
        shutil.copy(f, tmp_path / f.name)
    target = tmp_path / "diinn.safetensors"
    with safe_open(target, "pt") as handle:
        meta = dict(handle.metadata())
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 - safe_open is not a mapping
    metrics = json.loads(meta["metrics"])
    metrics["psnr_y/Set14/x3"] = round(float(metrics["psnr_y/Set14/x3"]) + 0.01, 3)
    save_file(tensors, target, metadata={**meta, "metrics": json.dumps(metrics)})
    table = "\n".join(weights_table.tables(tmp_path)["Y-PSNR x2-x4"])
    assert table not in PAGE.read_text(encoding="utf-8")


def test_write_replaces_only_the_marked_tables(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    marker = weights_table.MARKER.format(name="Y-PSNR x6-x12")
    stale = "| stale | row |\n| --- | --- |\n| old | 1.00 |"
    readme.write_text(f"intro\n\n{marker}\n{stale}\n\nafter\n| other | table |\n", encoding="utf-8")
    assert weights_table.write_into(readme) == ["Y-PSNR x6-x12"]
    text = readme.read_text(encoding="utf-8")
    assert "old | 1.00" not in text and "\n".join(weights_table.tables()["Y-PSNR x6-x12"]) in text
    assert text.startswith("intro\n\n") and text.endswith("\n\nafter\n| other | table |\n")


def test_write_without_a_file_rewrites_the_tables_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--write` alone targets docs/evaluation.md; `--write FILE` any other page."""
    page = tmp_path / "evaluation.md"
    marker = weights_table.MARKER.format(name="SSIM (Y) x2-x4")
    page.write_text(f"{marker}\n| stale |\n", encoding="utf-8")
    monkeypatch.setattr(weights_table, "TABLES_PAGE", page)
    weights_table.main(["--write"])
    assert "\n".join(weights_table.tables()["SSIM (Y) x2-x4"]) in page.read_text(encoding="utf-8")
    other = tmp_path / "other.md"
    other.write_text(f"{marker}\n| stale |\n", encoding="utf-8")
    weights_table.main(["--write", str(other)])
    assert "| stale |" not in other.read_text(encoding="utf-8")


def test_no_table_is_left_in_the_readme() -> None:
    """The README is the front door; its tables moved to docs/ and must not drift there twice."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert "weights-table:" not in readme
