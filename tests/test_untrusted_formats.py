"""Files from outside never reach an interpreter: a PostScript file named like
an image is refused by content, through the command line, a batch folder and
the viewer's open path, and no Ghostscript is ever started.

Two checks make the test able to fail whether or not Ghostscript is installed:
a stand-in `gs` first on PATH writes a marker when started (Pillow's EPS plugin
looks `gs` up on PATH), and the EPS file is checked to be one Pillow's full
plugin list would hand to Ghostscript."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference import imageio

ROOT = Path(__file__).resolve().parent.parent

# Draws nothing; with a real Ghostscript it would also try to write a file and
# then loop for ever (the hang the probe found).
EPS = b"""%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 8 8
/f (gs-was-here.txt) (w) file def f (owned) writestring f closefile
{} loop
showpage
%%EOF
"""


@pytest.fixture
def fake_gs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `gs` first on PATH that leaves a marker when anything starts it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "ghostscript-started"
    script = bin_dir / "gs"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> '{marker}'\n"
                      '[ "$1" = --version ] && echo 10.0 && exit 0\nexit 1\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    # Pillow remembers the binary it found; make it look again under this PATH.
    from PIL import EpsImagePlugin
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None, raising=False)
    return marker


def eps_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in ("photo.png", "photo.jpg", "scan.tif")]
    for path in paths:
        path.write_bytes(EPS)
    return paths


def test_the_eps_file_is_one_pillow_would_hand_to_ghostscript(tmp_path: Path, fake_gs: Path) -> None:
    """Guards the other tests: with Pillow's default plugins this file opens as
    EPS and decoding it starts `gs` (here the stand-in)."""
    path = eps_files(tmp_path / "in")[0]
    with Image.open(path) as im:
        assert im.format == "EPS"
        with pytest.raises(subprocess.CalledProcessError):  # the stand-in fails on purpose
            im.load()
    assert fake_gs.exists()


@pytest.mark.parametrize("name", ["photo.png", "photo.jpg", "scan.tif"])
def test_postscript_under_an_image_name_is_refused_by_content(tmp_path: Path, fake_gs: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(EPS)
    for read in (imageio.load_image, imageio.read_header, imageio.read_metadata):
        with pytest.raises(imageio.ImageLoadError) as error:
            read(path)
        message = str(error.value)
        assert "\n" not in message and name in message and "PostScript" in message
    assert not fake_gs.exists()


@pytest.mark.parametrize(("head", "kind"), [
    (b"%PDF-1.7\n", "PDF"), (b"P6\n4 4\n255\n", "Netpbm"), (b"\0\0\0\x1cftypavif", "AVIF"),
    (b"8BPS\0\1", "PSD"), (b"<svg xmlns='http://www.w3.org/2000/svg'>", "SVG"),
])
def test_a_refusal_names_what_the_file_really_is(tmp_path: Path, head: bytes, kind: str) -> None:
    path = tmp_path / "picture.png"
    path.write_bytes(head + b"\0" * 64)
    with pytest.raises(imageio.ImageLoadError, match=kind):
        imageio.load_image(path)


def run_main(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True,
                          env=env, timeout=120, cwd=ROOT)


def test_cli_and_batch_folder_refuse_postscript_and_never_start_ghostscript(tmp_path: Path, fake_gs: Path) -> None:
    inputs = eps_files(tmp_path / "in")
    good = tmp_path / "in" / "good.png"
    Image.fromarray(np.zeros((6, 7, 3), np.uint8)).save(good)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    for path in inputs:
        single = run_main("upscale", str(path), "--method", "bicubic", "--scale", "2",
                          "-o", str(tmp_path / f"out-{path.name}.png"), env=env)
        assert single.returncode == 1, single.stderr
        lines = single.stderr.strip().splitlines()
        assert len(lines) == 1 and "PostScript" in lines[0] and "Traceback" not in single.stderr
        assert not (tmp_path / f"out-{path.name}.png").exists()
    batch = run_main("upscale", str(tmp_path / "in"), "--method", "bicubic", "--scale", "2",
                     "-o", str(tmp_path / "outs"), "--quiet", env=env)
    assert batch.returncode == 1 and "Traceback" not in batch.stderr
    assert batch.stderr.count("PostScript") == 3
    assert [p.name for p in (tmp_path / "outs").iterdir()] == ["good_bicubic_x2.png"]
    assert not fake_gs.exists()


@pytest.mark.skipif(shutil.which("gs") is None, reason="Ghostscript not installed")
def test_with_real_ghostscript_the_looping_file_neither_hangs_nor_writes(tmp_path: Path) -> None:
    """With the real interpreter installed, the same file (which loops for ever
    once interpreted) is refused at once and writes nothing."""
    path = eps_files(tmp_path / "in")[0]
    result = run_main("upscale", str(path), "--method", "bicubic", "-o", str(tmp_path / "o.png"),
                      env={**os.environ})
    assert result.returncode == 1 and "PostScript" in result.stderr
    assert not (ROOT / "gs-was-here.txt").exists() and not (tmp_path / "gs-was-here.txt").exists()


def test_viewer_open_path_refuses_postscript_and_keeps_the_image(qtbot, tmp_path: Path, fake_gs: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pytestqt")
    from PySide6.QtWidgets import QMessageBox

    from tests.gui_helpers import make_window, open_image, write_png
    from tests.tiny_methods import sample_image

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: shown.append(str(text)))
    first = write_png(tmp_path / "first.png", sample_image(20, 24))
    window = make_window(qtbot, tmp_path, ["bicubic"])
    assert open_image(qtbot, window, first)
    before = window.model.image_rgb.copy()
    for path in eps_files(tmp_path / "in"):
        assert not open_image(qtbot, window, path)
        assert "PostScript" in shown[-1] and path.name in shown[-1]
    np.testing.assert_array_equal(window.model.image_rgb, before)
    assert str(tmp_path / "in") not in " ".join(window.file_actions.recent_files())
    assert not fake_gs.exists()
