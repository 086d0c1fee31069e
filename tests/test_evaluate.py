"""The benchmark protocol: crops, LR making, one decode path, tables on disk,
and the published Pillow-bicubic figure on the real Set5."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import main
from inference.catalog import load_upscaler
from inference.evaluate import evaluate, evaluate_image, make_pair
from inference.metrics import psnr_y

EVAL_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "eval"


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    phase = xx[..., None] * np.array([0.21, 0.33, 0.45]) + yy[..., None] * np.array([0.27, 0.15, 0.39])
    base = 0.5 + 0.3 * np.sin(phase)
    return (np.clip(base + 0.04 * rng.standard_normal((h, w, 3)), 0, 1) * 255).round().astype(np.uint8)


def test_pair_crops_hr_to_the_lr_size_times_the_scale() -> None:
    hr = textured(37, 50)
    crop, lr = make_pair(hr, 3)
    assert lr.shape == (12, 16, 3) and lr.dtype == np.uint8
    assert crop.shape == (36, 48, 3)
    np.testing.assert_array_equal(crop, hr[:36, :48])  # top-left crop
    expected = np.asarray(Image.fromarray(crop).resize((16, 12), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(lr, expected)
    # A fractional scale: floor(37 / 2.5) = 14 rows of LR, round(14 * 2.5) = 35 of HR.
    crop, lr = make_pair(hr, 2.5)
    assert lr.shape[:2] == (14, 20) and crop.shape[:2] == (35, 50)


def test_float_and_grayscale_inputs_are_handled_like_8_bit() -> None:
    hr = textured(30, 30)
    up = load_upscaler("bicubic", "cpu")
    assert evaluate_image(up, hr, 2) == evaluate_image(up, hr / 255.0, 2)
    gray = hr[..., 1]
    crop, lr = make_pair(gray, 2)
    assert crop.shape == (30, 30, 3) and np.all(lr[..., 0] == lr[..., 2])


def test_evaluate_image_is_bicubic_psnr_of_the_protocol() -> None:
    hr = textured(40, 44)
    up = load_upscaler("bicubic", "cpu")
    psnr, ssim = evaluate_image(up, hr, 2)
    crop, lr = make_pair(hr, 2)
    # Pillow's own 8-bit upscale agrees to a few hundredths (it rounds between its two passes).
    pil = np.asarray(Image.fromarray(lr).resize((crop.shape[1], crop.shape[0]), Image.Resampling.BICUBIC))
    assert psnr == pytest.approx(psnr_y(pil, crop, 2), abs=0.1)
    assert 20 < psnr < 60 and 0.5 < ssim < 1.0


def write_set(root: Path, name: str, count: int, size: tuple[int, int]) -> None:
    (root / name).mkdir(parents=True)
    for i in range(count):
        Image.fromarray(textured(*size, seed=i)).save(root / name / f"img_{i}.png")


def test_cli_writes_json_and_markdown_and_marks_untrained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import inference.registry as registry

    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path / "no-weights")
    data = tmp_path / "eval"
    write_set(data, "Tiny", 2, (36, 40))
    write_set(data, "Small", 1, (30, 33))
    out = tmp_path / "results" / "eval"
    code = main.main(["evaluate", "--methods", "bicubic,liif", "--data", str(data), "--scales", "2,3",
                      "--out", str(out), "--device", "cpu"])
    assert code == 0
    report = json.loads(out.with_suffix(".json").read_text())
    cells = {(c["set"], c["method"], c["scale"]): c for c in report["results"]}
    assert set(cells) == {(s, m, k) for s in ("Tiny", "Small") for m in ("bicubic", "liif") for k in (2.0, 3.0)}
    assert len(cells[("Tiny", "bicubic", 2.0)]["images"]) == 2
    # Each table entry is the mean of the per-image numbers evaluate_image gives.
    hr = np.asarray(Image.open(data / "Tiny" / "img_0.png").convert("RGB"))
    psnr, _ = evaluate_image(load_upscaler("bicubic", "cpu"), hr, 3)
    assert cells[("Tiny", "bicubic", 3.0)]["images"][0]["psnr"] == pytest.approx(psnr, abs=1e-9)
    methods = {m["name"]: m for m in report["methods"]}
    assert methods["bicubic"]["trained"] and not methods["liif"]["trained"]
    markdown = out.with_suffix(".md").read_text()
    assert "LIIF (untrained)" in markdown and "| Tiny | Bicubic |" in markdown
    assert f"{cells[('Small', 'bicubic', 2.0)]['psnr']:.2f}" in markdown


def test_unknown_set_or_method_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_set(tmp_path, "Tiny", 1, (24, 24))
    assert main.main(["evaluate", "--methods", "bicubic", "--data", str(tmp_path), "--sets", "Set5",
                      "--scales", "2", "--out", str(tmp_path / "r")]) == 2
    assert "no set Set5" in capsys.readouterr().err
    assert main.main(["evaluate", "--methods", "nope", "--data", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "unknown method" in capsys.readouterr().err


@pytest.mark.skipif(not (EVAL_DATA / "Set5").is_dir(), reason="benchmark data (../shared/data/eval) not present")
def test_bicubic_reproduces_the_published_pillow_row_on_set5_x4() -> None:
    report = evaluate(["bicubic"], EVAL_DATA, [4.0], ["Set5"], device="cpu")
    (cell,) = report.cells
    assert len(cell.images) == 5
    assert cell.psnr == pytest.approx(28.43, abs=0.02)


# ---------------------------------------------------------------- reliability, round two

def _claimed_png(path: Path, width: int, height: int) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def _nested_checkpoint(path: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(path), metadata={"format": "implicit-zoom/1", "method": "liif",
                                                           "args": "[" * 10000 + "]" * 10000})
    return path


# case -> (extra argv, exit code, words; "{tmp}" and "{data}" are filled in)
BAD_EVALUATE = {
    "scales inf": (["--scales", "inf"], 2, "finite numbers from 1 to 128"),
    "scales nan": (["--scales", "2,nan"], 2, "finite numbers"),
    "scales below 1": (["--scales", "0.5"], 2, "from 1 to 128"),
    "scales a word": (["--scales", "two"], 2, "must be numbers"),
    "limit -1": (["--limit", "-1"], 2, "--limit must be at least 1"),
    "limit 0": (["--limit", "0"], 2, "--limit must be at least 1"),
    "limit a word": (["--limit", "few"], 2, "invalid int value"),
    "device mps": (["--device", "mps"], 2, "not supported"),
    "out inside a file": (["--out", "{data}/Tiny/img_0.png/r"], 2, "is a file, not a folder"),
    "out a folder": (["--out", "{tmp}/taken"], 2, "is a folder"),
    "out name too long": (["--out", "{tmp}/" + "r" * 300], 2, "too long"),
    "out folder not writable": (["--out", "{tmp}/locked/r"], 2, "is not writable"),
    "weights for a method not evaluated": (["--weights", "liif=x.safetensors"], 2, "not among --methods"),
    "weights path empty": (["--methods", "liif", "--weights", "liif="], 2, "METHOD=PATH"),
    "nested checkpoint": (["--methods", "bicubic,liif", "--weights", "liif={tmp}/nested.safetensors"], 1,
                          "nested too deeply"),
    "text file in the set": ([], 1, "not an image"),
    "truncated image in the set": ([], 1, "truncated"),
    "200-megapixel header in the set": ([], 1, "over the limit of 200 megapixels"),
}


@pytest.mark.parametrize("case", list(BAD_EVALUATE))
def test_bad_evaluate_arguments_and_sets_give_one_line_before_the_work_and_write_nothing(
        case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import inference.evaluate as evaluate_module

    data = tmp_path / "eval"
    write_set(data, "Tiny", 2, (24, 24))
    (tmp_path / "taken.json").mkdir()
    _nested_checkpoint(tmp_path / "nested.safetensors")
    if case == "text file in the set":
        (data / "Tiny" / "img_1.png").write_text("notes, not a picture")
    elif case == "truncated image in the set":
        whole = (data / "Tiny" / "img_1.png").read_bytes()
        (data / "Tiny" / "img_1.png").write_bytes(whole[: len(whole) // 2])
    elif case == "out folder not writable":  # permission bits do not bind root: the check is asked instead
        import os

        (tmp_path / "locked").mkdir()
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **k: not mode & os.W_OK if "locked" in str(p)
                            else real_access(p, mode))
    elif case == "200-megapixel header in the set":
        _claimed_png(data / "Tiny" / "img_1.png", 20000, 15000)
    argv, code, words = BAD_EVALUATE[case]
    argv = [a.format(tmp=tmp_path, data=data) for a in argv]
    if "--methods" not in argv:
        argv = ["--methods", "bicubic", *argv]
    if "--scales" not in argv:
        argv += ["--scales", "2"]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "results" / "r")]
    if code == 2:  # refused before a single image is measured
        monkeypatch.setattr(evaluate_module, "evaluate_set", lambda *a, **k: pytest.fail("evaluation started"))
    before = set(tmp_path.rglob("*"))
    try:
        exit_code = main.main(["evaluate", "--data", str(data), *argv])
    except SystemExit as exit_:  # argparse's own refusals, as the shell would see them
        exit_code = int(exit_.code or 0)
    assert exit_code == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err, err
    assert set(tmp_path.rglob("*")) == before
