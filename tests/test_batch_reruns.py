"""Batches that are safe to rerun, and arguments that mean what they say:
outputs are never taken as inputs, "already done" means a readable output made
from this input with this method, scale and weights, an interrupted batch says
what it wrote, and names that are not UTF-8 are read and written as given."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import main

ROOT = Path(__file__).resolve().parent.parent


def cli(*argv: str) -> int:
    try:
        return main.main(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)


def image(path: Path, h: int = 6, w: int = 7, seed: int = 0) -> Path:
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


# ---------------------------------------------------------------- arguments

@pytest.mark.parametrize(("argv", "words"), [
    (["--device", "cpu:1"], "cpu:1"),
    (["--scale", "1_0"], "1_0"),
    (["--scale", "nan"], "scale"),
])
def test_arguments_that_do_not_mean_what_they_say_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                              argv: list[str], words: str) -> None:
    photo = image(tmp_path / "p.png")
    assert cli("upscale", str(photo), "--method", "bicubic", *argv, "-o", str(tmp_path / "o.png")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]
    assert not (tmp_path / "o.png").exists()


def test_a_region_clipped_by_the_image_keeps_its_aspect_with_size(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    """--region partly outside the image with --size: refused (or the aspect
    kept), never stretched with a different zoom in x and y."""
    from inference.imageio import read_metadata

    photo = image(tmp_path / "p.png", 20, 20)
    out = tmp_path / "o.png"
    code = cli("upscale", str(photo), "--method", "bicubic", "--region=10,10,20,20", "--size", "100x100",
               "-o", str(out))
    err = capsys.readouterr().err
    if code == 2:
        assert "region" in err and not out.exists()
    else:
        assert code == 0
        zoom = read_metadata(out)["Scale"]
        zx, zy = (float(v) for v in zoom.split(" x "))
        assert zx == pytest.approx(zy)


# ---------------------------------------------------------------- batch reruns

def test_an_output_folder_equal_to_or_inside_the_input_is_safe_to_rerun(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    image(folder / "img.png")
    for out in (folder, folder / "up"):
        for _ in range(2):
            cli("upscale", str(folder), "--method", "nearest", "--scale", "2", "-o", str(out), "--quiet")
        names = sorted(p.name for p in out.iterdir() if p.is_file())
        assert not any("_nearest_x2_nearest_x2" in n for n in names), names


def test_already_done_means_made_from_this_input_method_and_scale(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    image(folder / "b.png", seed=1)
    assert cli("upscale", str(folder), "--method", "nearest", "--scale", "2", "-o", str(out), "--quiet") == 0
    first = sorted(p.name for p in out.iterdir())
    assert len(first) == 1
    # A second input whose output name would collide is done, not "already done".
    image(folder / "b.jpg", seed=2)
    capsys.readouterr()
    assert cli("upscale", str(folder), "--method", "nearest", "--scale", "2", "-o", str(out), "--quiet") == 0
    assert len(list(out.iterdir())) == 2
    # A 0-byte or corrupt file, a folder or a dangling link at an output name is not "already done".
    target = out / first[0]
    for spoil in ("empty", "corrupt", "folder", "dangling"):
        if target.is_dir():
            target.rmdir()
        elif target.exists() or target.is_symlink():
            target.unlink()
        if spoil == "empty":
            target.write_bytes(b"")
        elif spoil == "corrupt":
            target.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
        elif spoil == "folder":
            target.mkdir()
        else:
            target.symlink_to(tmp_path / "nowhere.png")
        capsys.readouterr()
        cli("upscale", str(folder), "--method", "nearest", "--scale", "2", "-o", str(out))  # not --quiet: the summary
        err = capsys.readouterr().err
        # Only b.jpg's output is really done; b.png's spoiled one is redone or reported for what it is.
        assert "2 skipped" not in err, (spoil, err)
        if spoil in ("empty", "corrupt"):
            assert Image.open(target).size == (14, 12), spoil  # redone
    # Another method or scale into the same folder is not "already done" either.
    capsys.readouterr()
    assert cli("upscale", str(folder), "--method", "bicubic", "--scale", "2", "-o", str(out)) == 0
    assert "2 written" in capsys.readouterr().err


def test_an_interrupted_batch_says_what_it_wrote(tmp_path: Path) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for i in range(40):
        image(folder / f"img{i:02d}.png", 64, 64, seed=i)
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "upscale", str(folder), "--method", "bicubic",
                                "--scale", "8", "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or len(list(out.glob("*.png"))) < 3):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    written = len(list(out.glob("*.png")))
    assert 3 <= written < 40
    assert "nothing was written" not in err and f"{written} written" in err, err


def test_a_folder_without_read_permission_is_named_for_what_it_is(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    folder = tmp_path / "locked"
    folder.mkdir()
    image(folder / "a.png")
    folder.chmod(0o000)
    try:
        assert cli("upscale", str(folder), "--method", "bicubic", "-o", str(tmp_path / "out")) != 0
    finally:
        folder.chmod(0o700)
    assert "permission" in capsys.readouterr().err.lower()


# ---------------------------------------------------------------- names that are not UTF-8

@pytest.mark.skipif(sys.platform == "win32" or sys.platform == "darwin", reason="POSIX byte names")
def test_names_that_are_not_utf8_are_read_and_written_as_given(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9.png"
    image(Path(os.fsdecode(raw)))
    out_folder = tmp_path / "out"
    single = subprocess.run([sys.executable, str(ROOT / "main.py"), "upscale", os.fsdecode(raw), "--method", "bicubic",
                             "--scale", "2", "-o", os.fsdecode(os.fsencode(tmp_path) + b"/o\xff.png")],
                            capture_output=True, cwd=ROOT, timeout=120)
    assert single.returncode == 0, single.stderr
    assert b"Traceback" not in single.stderr and os.path.exists(os.fsencode(tmp_path) + b"/o\xff.png")
    batch = subprocess.run([sys.executable, str(ROOT / "main.py"), "upscale", str(tmp_path), "--method", "bicubic",
                            "--scale", "2", "-o", str(out_folder)], capture_output=True, cwd=ROOT, timeout=120)
    assert batch.returncode == 0, batch.stderr
    assert any(name.startswith(b"caf\xe9") for name in os.listdir(os.fsencode(out_folder)))


def test_an_output_made_with_other_weights_is_redone_and_the_same_weights_skip_it(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tests.test_reliability import tiny_checkpoint

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    image(folder / "a.png", 8, 9)
    first = tiny_checkpoint(tmp_path / "w1" / "liif.safetensors", seed=1)
    second = tiny_checkpoint(tmp_path / "w2" / "liif.safetensors", seed=2)
    runs = [(first, "1 written"), (first, "0 written, 1 skipped"), (second, "1 written"), (second, "1 skipped")]
    for weights, summary in runs:
        capsys.readouterr()
        assert cli("upscale", str(folder), "--method", "liif", "--weights", str(weights), "--scale", "2",
                   "-o", str(out)) == 0
        assert summary in capsys.readouterr().err, (weights, summary)
