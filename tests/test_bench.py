"""`main.py bench` on toy methods: the viewer-latency phases come in order, the
large-image views show what the viewer shows, results land on disk with the
device's name, and the half-precision check flags a change in PSNR."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import main
from cli import bench_harness as bench
from tests.tiny_methods import tiny_loader


def loader() -> Any:
    load = tiny_loader()

    def build(name: str, device: Any = "cpu", **options: Any) -> Any:
        return load(name, device)

    return build


@pytest.fixture
def report() -> bench.BenchReport:
    return bench.new_report("cpu", measure_peak=False, log=lambda _: None)


def test_latency_phases_arrive_in_order(report: bench.BenchReport) -> None:
    bench.add_latency(report, ["liif", "bicubic"], input_size=24, sizes=[(64, 48)], zooms=[2.0, 12.0], runs=1,
                      tile=32, loader=loader(), log=lambda _: None)
    rows = {(t.method, t.zoom): t for t in report.latency}
    deep = rows[("liif", 12.0)]  # coarse pass at 3x, then full
    assert deep.first_model_phase == "coarse" and deep.coarse_zoom == 3.0
    assert deep.first_tile_ms <= deep.preview_ms <= deep.first_model_ms <= deep.coarse_ms <= deep.full_ms
    assert deep.full_tiles_done == deep.full_tiles > 0
    shallow = rows[("liif", 2.0)]  # coarse would be below 1x: the method's first tile is a full one
    assert shallow.first_model_phase == "full" and shallow.coarse_ms is None
    assert shallow.preview_ms <= shallow.first_model_ms
    plain = rows[("bicubic", 2.0)]  # no preview of a preview
    assert plain.preview_ms is None and plain.full_ms is not None


def test_large_image_views_show_what_the_viewer_shows(report: bench.BenchReport) -> None:
    bench.add_large(report, ["liif"], image_size=(200, 150), pane=(64, 48), zooms=["fit", 1.0, 4.0], tile=32,
                    loader=loader(), log=lambda _: None)
    fit, one, four = report.large
    assert (fit.shown, one.shown, four.shown) == ("bicubic", "bicubic", "liif")
    assert fit.zoom < 1 and fit.tiles_done == fit.tiles and four.complete_s is not None
    assert four.feature_mb is not None and four.peak_rss_mb >= four.rss_before_mb * 0.5


def test_synthetic_large_image_is_float32_in_range() -> None:
    image = bench.synthetic_image(700, 300)
    assert image.dtype == np.float32 and image.shape == (300, 700, 3)
    assert image.min() >= 0.0 and image.max() <= 1.0 and image.std() > 0.1


def eval_set(root: Path) -> Path:
    rng = np.random.default_rng(0)
    folder = root / "Set5"
    folder.mkdir(parents=True)
    for i in range(2):
        yy, xx = np.mgrid[0:32, 0:36]
        img = 127 + 100 * np.sin(xx[..., None] * 0.4 + yy[..., None] * np.array([0.1, 0.3, 0.5]) + i)
        img = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img_{i}.png")
    return root


class Shifted:
    """An upscaler whose output is a little brighter: what a lossy precision does."""

    def __init__(self, inner: Any, shift: float) -> None:
        self.inner, self.shift = inner, shift
        self.weights, self.name = inner.weights, inner.name

    def encode(self, image: np.ndarray) -> Any:
        return self.inner.encode(image)

    def decode(self, features: Any, region: Any, out_size: tuple[int, int]) -> np.ndarray:
        return np.clip(self.inner.decode(features, region, out_size) + self.shift, 0, 1)


def test_precision_check_flags_a_half_precision_that_changes_psnr(tmp_path: Path, report: bench.BenchReport) -> None:
    base = loader()

    def with_precision(name: str, device: Any = "cpu", weights: Any = None, precision: str = "fp32", **_: Any) -> Any:
        up = base(name, device)
        return {"fp32": up, "fp16": Shifted(up, 0.0), "bf16": Shifted(up, 0.02)}[precision]

    bench.add_precision_check(report, ["liif"], eval_set(tmp_path), scales=[2.0], precisions=["fp16", "bf16"],
                              loader=with_precision, log=lambda _: None)
    rows = {r.precision: r for r in report.precision_check}
    assert rows["fp16"].delta_db == 0.0 and rows["fp16"].acceptable
    assert abs(rows["bf16"].delta_db) > 0.1 and not rows["bf16"].acceptable
    assert rows["bf16"].images == 2 and rows["bf16"].note.startswith("untrained")


def test_precision_check_runs_bf16_on_the_cpu_and_names_the_default(tmp_path: Path, capsys) -> None:
    """The check works on the CPU: bf16 (whole model, and with an fp32
    encoder) against fp32 per set and scale, with the time of each and the
    default it implies; fp16 is CUDA's and says so."""
    data = eval_set(tmp_path / "data")
    code = main.main(["bench", "--precision-check", "--device", "cpu", "--methods", "liif", "--data", str(data),
                      "--sets", "Set5", "--scales", "2,3", "--precisions", "bf16,bf16-decoder,fp16",
                      "--out", str(tmp_path / "out"), "--name", "p"])
    assert code == 0
    saved = json.loads((tmp_path / "out" / "p.json").read_text())
    rows = {(r["precision"], r["scale"]): r for r in saved["precision_check"]}
    assert saved["device"] == "CPU" and len(rows) == 6
    for precision in ("bf16", "bf16-decoder"):
        for scale in (2.0, 3.0):
            row = rows[(precision, scale)]
            assert row["set_name"] == "Set5" and row["images"] == 2 and row["delta_db"] is not None
            assert row["seconds"] > 0 and row["fp32_s"] > 0
            # Rounding, not an error: a fraction of a dB at most even with random weights.
            assert abs(row["delta_db"]) < 0.5
    assert rows[("fp16", 2.0)]["delta_db"] is None and "CUDA only" in rows[("fp16", 2.0)]["note"]
    markdown = (tmp_path / "out" / "p.md").read_text()
    assert "Default precision per method" in markdown


def test_bench_command_writes_json_and_markdown_with_the_device(tmp_path: Path) -> None:
    code = main.main(["bench", "--device", "cpu", "--methods", "liif", "--parts", "decode,latency", "--input-size",
                      "16", "--sizes", "32x24", "--zooms", "3", "--runs", "1", "--latency-runs", "1", "--tile", "16",
                      "--out", str(tmp_path), "--name", "b"])
    assert code == 0
    saved = json.loads((tmp_path / "b.json").read_text())
    assert saved["device"] == "CPU" and saved["threads"] >= 1
    assert saved["decodes"][0]["method"] == "liif" and saved["decodes"][0]["flops_per_pixel"] > 0
    assert saved["latency"][0]["first_tile_ms"] is not None
    assert "Viewer latency" in (tmp_path / "b.md").read_text()


def test_latency_under_a_competing_process_is_measured_and_recorded(tmp_path: Path) -> None:
    code = main.main(["bench", "--device", "cpu", "--methods", "liif", "--parts", "latency", "--input-size", "16",
                      "--sizes", "32x24", "--zooms", "3", "--latency-runs", "1", "--tile", "16", "--competing", "1",
                      "--out", str(tmp_path), "--name", "busy"])
    assert code == 0
    saved = json.loads((tmp_path / "busy.json").read_text())
    row = saved["latency"][0]
    assert row["competing"] == 1 and row["full_ms"] is not None and row["full_tiles_done"] == row["full_tiles"]
    assert "competing processes" in (tmp_path / "busy.md").read_text()


@pytest.mark.parametrize(("mistake", "message"), [
    (["--input-size", "0"], "--input-size must be at least 1 pixel, got 0"),
    (["--chunk", "-1"], "--chunk must be at least 1 point, got -1"),
    (["--competing", "9999"], "--competing must be 0 to "),
    (["--out", "{tmp}/a-file"], "--out: {tmp}/a-file is a file, not a folder for the results"),
])
def test_bench_refuses_a_value_no_measurement_can_use_before_measuring(
        mistake: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    args = ["bench", "--device", "cpu", "--methods", "bicubic", "--parts", "decode,latency", "--input-size", "16",
            "--sizes", "16x16", "--zooms", "2", "--runs", "1", "--latency-runs", "1", "--tile", "16",
            "--out", str(tmp_path / "out")]
    code = main.main(args + [item.replace("{tmp}", str(tmp_path)) for item in mistake])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.splitlines() == [captured.err.strip()]
    assert captured.err.startswith("bench: " + message.replace("{tmp}", str(tmp_path)))
    assert captured.out == "", "nothing may be measured for a bad argument"
    assert not (tmp_path / "out").exists()
