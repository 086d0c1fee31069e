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
    import inference.catalog as catalog

    monkeypatch.setattr(catalog, "WEIGHTS_DIR", tmp_path / "no-weights")
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
