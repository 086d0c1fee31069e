"""The headless command line: what a user typing `main.py upscale` / `main.py
methods` sees: the file asked for, a record in it, and one clear line (never a
traceback) for every mistake."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import main
from inference import catalog, checkpoint, export, piecewise, registry
from inference.imageio import load_image, read_metadata

ROOT = Path(__file__).resolve().parent.parent
TINY_LIIF = {"encoder_spec": {"name": "edsr-baseline", "args": {"n_resblocks": 1, "n_feats": 8}}, "hidden": [16]}


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(path)
    return path


def tiny_checkpoint(path: Path, method: str = "liif", metrics: dict[str, float] | None = None) -> Path:
    model = registry.build("liif", **TINY_LIIF)
    checkpoint.save(path, model, method, TINY_LIIF, provenance={"data": "DIV2K train", "steps": 12, "device": "cpu"},
                    metrics={"psnr_div2k_x4": 21.5} if metrics is None else metrics)
    return path


def cli(*argv: str) -> int:
    """main.main as the shell would run it: argparse's exits become codes."""
    try:
        return main.main(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)


def test_upscale_by_scale(photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "big.png"
    assert cli("upscale", str(photo), "--method", "bicubic", "--scale", "3", "-o", str(out)) == 0
    loaded = load_image(out)
    assert (loaded.width, loaded.height) == (36, 30)
    meta = read_metadata(out)
    assert meta["Method"] == "Bicubic (bicubic)" and meta["Scale"] == "3 x 3" and meta["Source"] == "photo.png"
    captured = capsys.readouterr()
    assert "wrote" in captured.out and captured.err == ""


def test_upscale_region_and_size(photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "crop.tif"
    assert cli("upscale", str(photo), "--method", "bicubic", "--region=0,1.5,4,4", "--size", "40x25",
               "-o", str(out)) == 0
    assert load_image(out).rgb.shape == (25, 40, 3)
    assert read_metadata(out)["Region"] == "x=0, y=1.5, w=4, h=4 (LR pixels)"
    # A region reaching outside the image is clipped with --scale; with --size the
    # clipped part would be stretched unevenly, so that is refused.
    capsys.readouterr()
    clipped = tmp_path / "clipped.png"
    assert cli("upscale", str(photo), "--method", "bicubic", "--region=-2,1.5,6,4", "--size", "40x25",
               "-o", str(clipped)) == 2
    assert "region" in capsys.readouterr().err and not clipped.exists()
    assert cli("upscale", str(photo), "--method", "bicubic", "--region=-2,1.5,6,4", "--scale", "5",
               "-o", str(clipped)) == 0
    assert read_metadata(clipped)["Region"] == "x=0, y=1.5, w=4, h=4 (LR pixels)"
    assert "region clipped" in capsys.readouterr().err


def test_end_to_end_subprocess(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "deep.png"
    done = subprocess.run([sys.executable, "main.py", "upscale", str(photo), "--method", "bicubic",
                           "--scale", "2.5", "--bits", "16", "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    loaded = load_image(out)
    assert (loaded.width, loaded.height, loaded.bit_depth) == (30, 25, 16)
    meta = read_metadata(out)
    assert meta["Software"] == "Implicit Zoom" and meta["Method"] == "Bicubic (bicubic)"
    assert meta["Scale"] == "2.5 x 2.5" and meta["Region"] == "x=0, y=0, w=12, h=10 (LR pixels)"
    assert "Traceback" not in done.stderr


def test_liif_with_random_weights_runs_but_warns(photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path / "no-weights")
    out = tmp_path / "liif.png"
    assert cli("upscale", str(photo), "--method", "liif", "--scale", "1.5", "-o", str(out), "--quiet") == 0
    assert load_image(out).rgb.shape == (15, 18, 3)
    assert "random weights and is not a result" in capsys.readouterr().err  # even with --quiet
    assert "random weights" in read_metadata(out)["Weights"]


def test_liif_with_given_weights(photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    weights = tiny_checkpoint(tmp_path / "tiny.safetensors")
    out = tmp_path / "liif.webp"
    assert cli("upscale", str(photo), "--method", "liif", "--weights", str(weights), "--size", "20x13",
               "-o", str(out)) == 0
    assert load_image(out).rgb.shape == (13, 20, 3)
    assert read_metadata(out)["WeightsFile"] == "tiny.safetensors"
    # Not random weights; but the file holds no measured figure, so it is not called trained.
    err = capsys.readouterr().err
    assert "random weights" not in err and "not evaluated" in err


def test_progress_bar_on_a_terminal(photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(piecewise, "TILE", 16)
    assert cli("upscale", str(photo), "--method", "bicubic", "--scale", "4", "-o", str(tmp_path / "p.png")) == 0
    assert "tile/s" in terminal.getvalue() and "/9 " in terminal.getvalue()  # a bar over the 9 tiles


def test_interrupt_leaves_nothing(photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "decode_piecewise", interrupted)
    assert cli("upscale", str(photo), "--method", "bicubic", "-o", str(tmp_path / "x.png")) == 130
    assert "nothing was written" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def bad_inputs(tmp_path: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "text.png"
    text.write_text("not a picture")
    truncated = tmp_path / "truncated.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (9, 9, 9)).save(buffer, "JPEG")
    truncated.write_bytes(buffer.getvalue()[:200])
    corrupt_weights = tmp_path / "corrupt.safetensors"
    corrupt_weights.write_text("not weights")
    (tmp_path / "folder.png").mkdir()
    os.mkfifo(tmp_path / "pipe.png")
    os.mkfifo(tmp_path / "pipe.safetensors")
    os.symlink("/dev/null", tmp_path / "to-null.png")
    (tmp_path / "weights-folder.safetensors").mkdir()
    return {"empty": empty, "text": text, "truncated": truncated, "corrupt_weights": corrupt_weights,
            **hostile_checkpoints(tmp_path)}


def hostile_checkpoints(tmp_path: Path) -> dict[str, Path]:
    """Checkpoints whose metadata once gave a traceback, a warning, or ran out of memory."""
    from safetensors.torch import load_file, save_file

    good = tiny_checkpoint(tmp_path / "base.safetensors")
    tensors, meta = load_file(str(good)), checkpoint.read_metadata(good)
    good.unlink()
    huge = json.loads(json.dumps(TINY_LIIF))
    huge["encoder_spec"]["args"]["n_resblocks"] = 10**9
    variants = {
        "nested_weights": (tensors, {**meta, "args": "[" * 10000 + "]" * 10000}),
        "huge_weights": (tensors, {**meta, "args": json.dumps(huge)}),
        "provenance_list_weights": (tensors, {**meta, "provenance": "[1, 2]"}),
        "digits_weights": (tensors, {**meta, "args": '{"hidden": [' + "7" * 5000 + "]}"}),
        "complex_weights": ({**tensors, "imnet.layers.0.bias": tensors["imnet.layers.0.bias"].to(torch.complex64)},
                            meta),
    }
    paths = {}
    for name, (t, m) in variants.items():
        paths[name] = tmp_path / f"{name.replace('_', '-')}.safetensors"
        save_file(t, str(paths[name]), metadata=m)
    return paths


BAD = {
    "missing input": (["{tmp}/nope.png"], "no such file"),
    "empty input": (["{empty}"], "empty"),
    "text named png": (["{text}"], "not an image"),
    "truncated jpeg": (["{truncated}"], "truncated"),
    "zero scale": (["{photo}", "--scale", "0"], "positive"),
    "negative scale": (["{photo}", "--scale=-2"], "positive"),
    "nan scale": (["{photo}", "--scale", "nan"], "positive finite"),
    "inf scale": (["{photo}", "--scale", "inf"], "positive finite"),
    "absurd scale": (["{photo}", "--scale", "1000"], "over the limit"),
    "million scale": (["{photo}", "--scale", "1e6"], "over the limit"),
    "tall size": (["{photo}", "--size", "1x100000000"], "over the limit"),
    "nan region": (["{photo}", "--region", "nan,0,4,4"], "finite"),
    "word scale": (["{photo}", "--scale", "big"], "must be a number"),
    "scale and size": (["{photo}", "--scale", "2", "--size", "10x10"], "not both"),
    "bad size": (["{photo}", "--size", "10y3"], "1920x1080"),
    "zero size": (["{photo}", "--size", "0x5"], "at least 1x1"),
    "absurd size": (["{photo}", "--size", "200000x10"], "over the limit"),
    "short region": (["{photo}", "--region", "1,2,3"], "x,y,w,h"),
    "word region": (["{photo}", "--region", "a,b,c,d"], "x,y,w,h"),
    "empty region": (["{photo}", "--region", "1,1,0,2"], "positive"),
    "region outside": (["{photo}", "--region", "100,100,3,3"], "wholly outside"),
    "unknown method": (["{photo}", "--method", "magic"], "unknown method 'magic'"),
    "missing output folder": (["{photo}", "-o", "{tmp}/no/such/dir/out.png"], "does not exist"),
    "unknown extension": (["{photo}", "-o", "{tmp}/out.xyz"], "unknown output format"),
    "output is a folder": (["{photo}", "-o", "{tmp}/folder.png"], "is a folder"),
    "output inside a file": (["{photo}", "-o", "{photo}/out.png"], "is a file, not a folder"),
    "bad bits": (["{photo}", "--bits", "12"], "8 or 16"),
    "16-bit jpeg": (["{photo}", "--bits", "16", "-o", "{tmp}/out.jpg"], ".png or .tif"),
    "missing weights": (["{photo}", "--weights", "{tmp}/none.safetensors"], "no such file"),
    "corrupt weights": (["{photo}", "--weights", "{corrupt_weights}"], "not a readable safetensors file"),
    "weights of another method": (["{photo}", "--method", "diinn", "--weights", "{tiny}"], "weights for 'liif'"),
    "weights for bicubic": (["{photo}", "--method", "bicubic", "--weights", "{tiny}"], "bicubic has no weights"),
    "unknown device": (["{photo}", "--device", "gpu"], "unknown device"),
    "unknown option": (["{photo}", "--colour", "red"], "unrecognized arguments"),
    "no output": (["{photo}"], "-o/--output"),
    # Round two: names and paths.
    "output name over 255": (["{photo}", "-o", "{tmp}/" + "o" * 300 + ".png"], "too long"),
    "output path over 4096": (["{photo}", "-o", "{tmp}/" + "/".join(["d" * 200] * 25) + "/o.png"], "too long"),
    "weights name over 255": (["{photo}", "--weights", "{tmp}/" + "w" * 300 + ".safetensors"], "too long"),
    "input name over 255": (["{tmp}/" + "i" * 300 + ".png"], "too long"),
    "output is the input": (["{photo}", "-o", "{photo}"], "is the input file itself"),
    "output a symlink to /dev/null": (["{photo}", "-o", "{tmp}/to-null.png"], "symbolic link"),
    "input a fifo": (["{tmp}/pipe.png"], "named pipe"),
    "input /dev/zero": (["/dev/zero"], "character device"),
    "input /dev/urandom": (["/dev/urandom"], "character device"),
    # Numbers and devices.
    "size of 400 digits": (["{photo}", "--size", "1" + "0" * 400 + "x1"], "over the limit"),
    "device mps": (["{photo}", "--device", "mps"], "not supported"),
    "device xpu": (["{photo}", "--device", "xpu"], "not supported"),
    "device meta": (["{photo}", "--device", "meta"], "not supported"),
    # Checkpoints.
    "empty weights name": (["{photo}", "--weights", ""], "--weights is empty"),
    "weights a folder": (["{photo}", "--weights", "{tmp}/weights-folder.safetensors"], "is a folder"),
    "weights a fifo": (["{photo}", "--weights", "{tmp}/pipe.safetensors"], "named pipe"),
    "weights /dev/zero": (["{photo}", "--weights", "/dev/zero"], "character device"),
    "weights nested 10000 levels": (["{photo}", "--weights", "{nested_weights}"], "nested too deeply"),
    "weights declaring a billion blocks": (["{photo}", "--weights", "{huge_weights}"], "over the limit of 256"),
    "weights with a provenance list": (["{photo}", "--weights", "{provenance_list_weights}"],
                                       "should be a JSON object"),
    "weights with a 5000-digit integer": (["{photo}", "--weights", "{digits_weights}"], "digits-weights.safetensors"),
    "weights with complex tensors": (["{photo}", "--weights", "{complex_weights}"], "complex numbers"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_arguments_one_clear_line(case: str, photo: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    files = bad_inputs(tmp_path)
    names = {"tmp": str(tmp_path), "photo": str(photo), "tiny": str(tiny_checkpoint(tmp_path / "tiny.safetensors")),
             **{k: str(v) for k, v in files.items()}}
    argv, expected = BAD[case]
    argv = [a.format(**names) for a in argv]
    photo_bytes = photo.read_bytes()
    if "-o" not in argv and case != "no output":
        argv += ["-o", str(tmp_path / "out.png")]
    before = set(tmp_path.rglob("*"))
    code = cli("upscale", *argv)
    err = capsys.readouterr().err
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert expected in lines[0] and "Traceback" not in err
    assert "checkpoint checkpoint" not in err
    assert set(tmp_path.rglob("*")) == before  # nothing written
    assert photo.read_bytes() == photo_bytes  # the input untouched


def test_output_too_large_for_memory(photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(export, "available_memory", lambda: 1_000_000)
    assert cli("upscale", str(photo), "--method", "bicubic", "--scale", "64", "-o", str(tmp_path / "o.png")) == 1
    assert "output too large for memory" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("fault", ["read-only folder", "refused at write time", "disk full"])
def test_unwritable_output_one_clear_line(fault: str, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    import errno
    import tempfile

    from inference import imageio

    folder = tmp_path / "out"
    folder.mkdir()
    existing = folder / "o.png"
    existing.write_bytes(b"the user's earlier result")
    if fault == "read-only folder":
        folder.chmod(0o500)
        if os.access(folder, os.W_OK):
            folder.chmod(0o700)
            pytest.skip("permission bits do not bind this user (root)")
        expected = "not writable"
    elif fault == "refused at write time":  # e.g. a read-only mount seen only when writing
        def refuse(*args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
        expected = "Permission denied"
    else:
        def fill_disk(handle, pixels, fmt, meta) -> None:
            handle.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(imageio.writing, "_write_encoded", fill_disk)
        expected = "No space left on device"
    try:
        code = cli("upscale", str(photo), "--method", "bicubic", "--scale", "3", "-o", str(existing))
    finally:
        folder.chmod(0o700)
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and expected in err and "Traceback" not in err
    assert existing.read_bytes() == b"the user's earlier result"
    assert [p.name for p in folder.iterdir()] == ["o.png"]


def test_bad_argument_via_subprocess(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "main.py", "upscale", str(tmp_path / "missing.png"), "-o",
                           str(tmp_path / "o.png")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and "no such file" in done.stderr
    assert "Traceback" not in done.stderr


def test_methods_lists_every_method(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path) -> None:
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    # A file whose own Set5 x4 figure clears the floor, one below it, one broken.
    tiny_checkpoint(tmp_path / "liif.safetensors", metrics={"psnr_div2k_x4": 21.5, "psnr_y/Set5/x4": 31.0})
    tiny_checkpoint(tmp_path / "a-liif.safetensors", "a-liif", metrics={"psnr_y/Set5/x4": 29.4})
    (tmp_path / "diinn.safetensors").write_text("broken")
    assert cli("methods") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["method", "state", "steps", "Set5", "x4", "precision", "here", "file"]
    footer = ("precision", "main.py")
    rows = {line.split()[0]: line for line in table[2:] if line.strip() and not line.startswith(footer)}
    assert set(rows) == set(catalog.all_methods())
    assert rows["liif"].split()[1:5] == ["trained", "12", "31.00", "dB"] and "liif.safetensors" in rows["liif"]
    assert "in training" in rows["a-liif"] and "29.40 dB" in rows["a-liif"]
    assert "unusable" in rows["diinn"] and "untrained" in rows["diif"] and "(none)" in rows["diif"]
    assert "interpolation" in rows["bicubic"] and all(len(line) <= 120 for line in table)
    assert cli("methods", "--long") == 0
    text = capsys.readouterr().out
    for name in catalog.all_methods():
        assert name in text and catalog.display_name(name) in text
    assert "trained: " in text and "DIV2K train" in text and "steps 12" in text and "psnr_div2k_x4 21.5" in text
    assert "in training (12 steps, 29.40 dB on Set5 x4" in text
    assert "untrained: random weights" in text and "UNUSABLE WEIGHTS" in text
    assert "Chen, Liu, Wang" in text

    assert cli("methods", "--json") == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(catalog.all_methods())
    assert rows["liif"]["trained"] is True and rows["liif"]["provenance"]["steps"] == 12
    assert rows["liif"]["metrics"] == {"psnr_div2k_x4": 21.5, "psnr_y/Set5/x4": 31.0}
    assert rows["a-liif"]["trained"] is False and rows["a-liif"]["in_training"] is True
    assert rows["diinn"]["trained"] is False and rows["diinn"]["problem"]
    assert rows["bicubic"]["learned"] is False


def test_commands_do_not_import_qt() -> None:
    code = ("import sys, main; main.main(['methods']); "
            "assert not any(m.startswith(('PySide6', 'shiboken6', 'qtawesome')) for m in sys.modules), 'Qt imported'")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- reliability, round two

@pytest.mark.parametrize(("signame", "code"), [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_a_signal_during_the_write_leaves_no_temporary_and_the_old_file(
        signame: str, code: int, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    import signal

    from inference import imageio

    if signal.getsignal(getattr(signal, signame)) == signal.SIG_IGN:
        # A shell starts background jobs with SIGINT ignored (`cmd &`); the
        # command then rightly goes on, so there is no interruption to check.
        pytest.skip(f"{signame} is ignored in this process (started in the background)")
    out = tmp_path / "out.png"
    out.write_bytes(b"the user's earlier result")

    def killed_mid_write(handle, pixels, fmt, meta) -> None:
        handle.write(b"\0" * 2_000_000)
        os.kill(os.getpid(), getattr(signal, signame))
        handle.write(b"never")

    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    monkeypatch.setattr(imageio.writing, "_write_encoded", killed_mid_write)
    assert cli("upscale", str(photo), "--method", "bicubic", "-o", str(out)) == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nothing was written" in err and "Traceback" not in err
    assert out.read_bytes() == b"the user's earlier result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "photo.png"]  # no hidden .part
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # the handlers are put back


def test_the_input_is_replaced_only_with_overwrite_input(photo: Path, capsys: pytest.CaptureFixture) -> None:
    before = photo.read_bytes()
    link = photo.with_name("same.png")
    os.link(photo, link)  # another name for the same file is the same file
    assert cli("upscale", str(photo), "--method", "bicubic", "--scale", "2", "-o", str(link)) == 2
    assert "is the input file itself" in capsys.readouterr().err and photo.read_bytes() == before
    assert cli("upscale", str(photo), "--method", "bicubic", "--scale", "2", "-o", str(photo), "--overwrite-input") == 0
    assert load_image(photo).width == 24


def claimed_png(path: Path, width: int, height: int) -> Path:
    """A PNG header claiming width x height, with almost no data behind it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize(("argv", "words"), [
    (["--scale", "4"], "output too large"),
    (["--size", "50000x50000"], "output too large"),
    (["--scale", "4", "-o", "{tmp}/o.webp"], "at most 16383 pixels a side"),
])
def test_impossible_outputs_of_a_180_megapixel_input_are_refused_from_its_header(
        argv: list[str], words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    from inference import imageio

    big = claimed_png(tmp_path / "big.png", 15000, 12000)

    def no_decode(*args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(imageio, "load_image", no_decode)
    argv = [a.format(tmp=tmp_path) for a in argv]
    out = [] if "-o" in argv else ["-o", str(tmp_path / "o.png")]
    assert cli("upscale", str(big), "--method", "bicubic", *argv, *out) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


@pytest.mark.parametrize("method", ["bicubic", "liif"])
def test_a_region_is_read_with_its_margin_only_and_matches_the_whole_image(
        method: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inference import imageio
    from inference.geometry import Lattice, Region

    pixels = np.random.default_rng(4).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    source = tmp_path / "wide.png"
    Image.fromarray(pixels).save(source)
    boxes = []
    real_load = imageio.load_image

    def recording_load(path, *args, **kwargs):
        boxes.append(kwargs.get("box"))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(imageio, "load_image", recording_load)
    weights = ["--weights", str(tiny_checkpoint(tmp_path / "tiny.safetensors"))] if method == "liif" else []
    out = tmp_path / "detail.png"
    assert cli("upscale", str(source), "--method", method, "--region=70.5,40,12,9", "--size", "44x33",
               "-o", str(out), "--bits", "16", *weights) == 0
    (box,) = boxes
    up = catalog.load_upscaler(method, "cpu", weights=weights[1] if weights else None)
    margin = up.input_margin(44 / 12)
    assert box == (70 - margin, 40 - margin, 83 + margin, 49 + margin)  # a crop, not the 120 x 160 image
    whole = real_load(source).rgb
    expected = up.decode_lattice(up.encode(whole), Lattice.from_region(Region(70.5, 40, 12, 9), 44, 33))
    np.testing.assert_allclose(real_load(out).rgb, expected, atol=1.5 / 65535)
    assert read_metadata(out)["Region"] == "x=70.5, y=40, w=12, h=9 (LR pixels)"


def test_every_method_decodes_a_region_of_a_margined_crop_like_the_whole_image() -> None:
    """The property `upscale --region` relies on: `input_margin(zoom)` input
    pixels around a region are all its decode reads, for every method."""
    import math

    from inference.geometry import Lattice, Region
    from tests.tiny_methods import TINY_ARGS, sample_image, tiny_method

    image = sample_image(40, 48, seed=3)
    for name in ["bicubic", *TINY_ARGS]:
        up = catalog.load_upscaler("bicubic") if name == "bicubic" else tiny_method(name)
        whole = up.encode(image)
        for (x, y, w, h), size in [((20.3, 15.5, 6, 5), (23, 19)), ((0, 0, 7, 9), (30, 40)),
                                   ((30, 25, 18, 15), (9, 7))]:
            region = Region(x, y, w, h)
            expected = up.decode_lattice(whole, Lattice.from_region(region, *size))
            for margin in (up.input_margin(min(size[0] / w, size[1] / h)), 0):
                x0, y0 = max(0, math.floor(x) - margin), max(0, math.floor(y) - margin)
                x1, y1 = min(48, math.ceil(x + w) + margin), min(40, math.ceil(y + h) + margin)
                crop = np.ascontiguousarray(image[y0:y1, x0:x1])
                got = up.decode_lattice(up.encode(crop), Lattice.from_region(Region(x - x0, y - y0, w, h), *size))
                if margin:
                    np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=f"{name} {region}")
                elif name != "bicubic" and (x, y) != (0, 0):
                    assert np.abs(got - expected).max() > 1e-3  # without the margin it would differ


def test_a_name_just_under_the_limit_is_written(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / ("n" * 251 + ".png")
    assert cli("upscale", str(photo), "--method", "bicubic", "--scale", "2", "-o", str(out), "--quiet") == 0
    assert load_image(out).width == 24
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, "photo.png"])


@pytest.mark.parametrize(("mode", "words"), [(0o300, None), (0o200, "cannot be searched"), (0o500, "not writable")])
def test_an_output_folder_without_search_or_write_permission_is_one_line(
        mode: int, words: str | None, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """Write but no search permission once gave a PermissionError traceback.
    Permission bits do not bind root, so there the same answers are given by
    os.access (what the check asks) and os.stat (what failed)."""
    import errno

    folder = tmp_path / "out"
    folder.mkdir()
    folder.chmod(mode)
    if os.geteuid() == 0:
        real_access, real_lstat = os.access, os.lstat

        def access(path, want, **kwargs):
            if Path(path) == folder:
                return (want & mode >> 6) == want
            return real_access(path, want, **kwargs)

        def lstat(path, *args, **kwargs):
            if Path(path).parent == folder and not mode & 0o100:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_lstat(path, *args, **kwargs)

        monkeypatch.setattr(os, "access", access)
        monkeypatch.setattr(os, "lstat", lstat)
    try:
        code = cli("upscale", str(photo), "--method", "bicubic", "-o", str(folder / "o.png"))
        err = capsys.readouterr().err
    finally:
        folder.chmod(0o700)
    if words is None:
        assert code == 0 and (folder / "o.png").exists()
    else:
        assert code == 1 and len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err
        assert list(folder.iterdir()) == []


def test_batch_mode_names_odd_inputs_for_what_they_are_and_goes_on(photo: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    out = tmp_path / "outs"
    code = cli("upscale", str(photo), str(tmp_path / "pipe.png"), str(tmp_path / ("n" * 300 + ".png")),
               "--method", "bicubic", "--scale", "2", "-o", f"{out}/", "--quiet")
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "pipe.png: is a named pipe" in err and "too long" in err
    assert len(list(out.iterdir())) == 1  # the good image was still done
    # An over-long -o is a one-line mistake too, not a traceback from telling batch from single mode.
    assert cli("upscale", str(photo), "--method", "bicubic", "-o", str(tmp_path / ("o" * 300))) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_precision_and_zoom_limit_are_defined_once_for_every_sub_command() -> None:
    """cli.common spells out the precisions (inference.precision loads torch)
    and takes the viewer's zoom limit; every sub-command that runs a model
    offers the same --precision."""
    import argparse

    from cli import bench, common, evaluate, upscale
    from inference.precision import PRECISIONS
    from inference.render.view import MAX_ZOOM

    assert ("auto", *PRECISIONS) == common.PRECISION_CHOICES and common.ZOOM_LIMIT == MAX_ZOOM
    for module in (upscale, evaluate, bench):
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        action = next(a for a in parser._actions if a.dest == "precision")
        assert tuple(action.choices or ()) == common.PRECISION_CHOICES and action.default == "auto"
