"""`evaluate` on data that holds nothing to measure says so in one line before
any model loads, and an image too small says what size is needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import main


def cli(*argv: str) -> int:
    try:
        return main.main(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)


def test_an_empty_data_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "data").mkdir()
    assert cli("evaluate", "--data", str(tmp_path / "data"), "--methods", "bicubic", "--scales", "4",
               "--out", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds no set folders" in err[0]
    assert not list(tmp_path.glob("out*"))


def test_a_set_folder_without_images_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "data" / "Set5").mkdir(parents=True)
    (tmp_path / "data" / "Set5" / "notes.txt").write_text("no images here")
    assert cli("evaluate", "--data", str(tmp_path / "data"), "--methods", "bicubic", "--scales", "2",
               "--out", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no images" in err[0] and "Set5" in err[0]


def test_images_too_small_say_the_size_needed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "data" / "Set5").mkdir(parents=True)
    Image.new("RGB", (19, 40)).save(tmp_path / "data" / "Set5" / "a.png")
    assert cli("evaluate", "--data", str(tmp_path / "data"), "--methods", "bicubic", "--scales", "4",
               "--out", str(tmp_path / "out")) == 1
    err = capsys.readouterr().err
    assert "no image large enough for x4" in err and "at least 20 pixels" in err
    # 20 pixels is indeed enough: the bound is the real one.
    Image.new("RGB", (20, 40), (90, 20, 200)).save(tmp_path / "data" / "Set5" / "a.png")
    assert cli("evaluate", "--data", str(tmp_path / "data"), "--methods", "bicubic", "--scales", "4",
               "--out", str(tmp_path / "out")) == 0
