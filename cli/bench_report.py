"""What `main.py bench` reports: the timing records of each measurement, the
default precision per method that a half-precision check implies, and the
results written as a Markdown table and JSON (with the device's name) under
benchmarks/results/. No torch: a report is plain data.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inference.precision import PSNR_TOLERANCE_DB

RESULTS_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


@dataclass
class DecodeTiming:
    method: str
    width: int
    height: int
    zoom: float
    median_ms: float
    runs: int
    megapixels_per_s: float
    flops_per_pixel: float
    fraction_of_peak: float
    min_ms: float = 0.0
    cpu_ms: float = 0.0  # median CPU time of the process (all threads) per decode
    precision: str = ""  # the decoder's (the method's default under --precision auto)


@dataclass
class LatencyTiming:
    """The viewer's pipeline for one view request (cold tile cache, warm
    features), in ms from the request; medians over `runs`. None: not reached
    (no such phase, or the run was stopped at its time budget)."""

    method: str
    width: int
    height: int
    zoom: float
    tile: int
    runs: int
    first_tile_ms: float | None  # the first thing the pane can show
    preview_ms: float | None  # the whole pane covered by the bicubic preview
    first_model_ms: float | None  # the first tile decoded by the method itself
    first_model_phase: str  # "coarse" or "full"
    coarse_zoom: float | None
    coarse_ms: float | None  # the whole pane covered by the coarse pass
    full_ms: float | None  # the whole pane at full resolution
    full_tiles: int
    full_tiles_done: int
    cpu_ms: float | None = None  # CPU time of the whole run (median)
    competing: int = 0  # CPU-bound processes running beside it


@dataclass
class LargeImageTiming:
    """One view of a large image through the Renderer, features encoded on demand."""

    method: str
    view: str
    zoom: float
    shown: str  # the method the pane actually shows (bicubic at zoom <= 1)
    image_w: int
    image_h: int
    width: int
    height: int
    first_tile_s: float | None
    complete_s: float | None  # None: stopped at the time budget
    tiles: int
    tiles_done: int
    peak_rss_mb: float  # during this view (reset before it where the OS allows)
    rss_before_mb: float
    rss_after_mb: float
    feature_tiles_encoded: int | None
    feature_mb: float | None
    cuda_peak_mb: float | None = None


@dataclass
class PrecisionDelta:
    """PSNR of half precision minus fp32 through evaluate_image, per image then averaged."""

    method: str
    precision: str
    scale: float
    images: int
    psnr_fp32: float | None
    psnr: float | None
    delta_db: float | None  # mean of per-image differences
    max_abs_delta_db: float | None
    trained: bool
    note: str = ""
    set_name: str = ""
    # Seconds to evaluate the set at this scale in fp32 and in this precision
    # (encode and decode of every image, metrics included).
    fp32_s: float | None = None
    seconds: float | None = None

    @property
    def acceptable(self) -> bool:
        """The mean PSNR change is within PSNR_TOLERANCE_DB (inference/precision.py)."""
        return self.delta_db is not None and abs(self.delta_db) <= PSNR_TOLERANCE_DB


@dataclass
class BenchReport:
    device: str
    torch: str
    host: str
    precision: str
    peak_tflops: float
    input_size: int
    threads: int = 0
    # Matmul peak per precision measured (fp32 and, where native, bf16).
    peaks_tflops: dict[str, float] = field(default_factory=dict)
    encoder_ms: dict[str, float] = field(default_factory=dict)
    decodes: list[DecodeTiming] = field(default_factory=list)
    latency: list[LatencyTiming] = field(default_factory=list)
    large: list[LargeImageTiming] = field(default_factory=list)
    precision_check: list[PrecisionDelta] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# The reduced precisions a method may default to, fastest first, and the
# `bf16` scope each is registered as (inference/registry.py).
DEFAULT_CANDIDATES = (("bf16", "all"), ("bf16-decoder", "decoder"))


def chosen_precisions(report: BenchReport) -> dict[str, str]:
    """Per method: the fastest of DEFAULT_CANDIDATES whose every measured row
    (all sets and scales) is acceptable, else "fp32". A method's registration
    records the answer as its `bf16` scope ("all", "decoder" or "none")."""
    out: dict[str, str] = {}
    for method in dict.fromkeys(row.method for row in report.precision_check):
        out[method] = "fp32"
        for candidate, _scope in DEFAULT_CANDIDATES:
            rows = [r for r in report.precision_check if r.method == method and r.precision == candidate]
            if rows and all(r.acceptable for r in rows):
                out[method] = candidate
                break
    return out


def fmt(value: float | None, digits: int = 1) -> str:
    """A figure with `digits` decimals, or '–' where none was measured."""
    return "–" if value is None else f"{value:.{digits}f}"


def _md_table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown table: header, separator, one line per row of cells."""
    return ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"] + [
        "| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def format_table(report: BenchReport) -> str:
    peaks = ", ".join(f"{v} TFLOP/s {k}" for k, v in report.peaks_tflops.items()) or f"{report.peak_tflops} TFLOP/s"
    lines = [f"Device: {report.device} (torch {report.torch}, precision {report.precision}, {report.threads} CPU "
             f"threads, matmul peak {peaks} measured), input {report.input_size}²"]
    if report.options:
        lines.append(f"Options: {report.options}")
    if report.decodes:
        lines += ["", *_md_table(
            ["method", "precision", "encoder ms", "output", "zoom", "decode ms", "min ms", "CPU ms", "MP/s",
             "kFLOP/px", "% of peak"],
            [[t.method, t.precision, report.encoder_ms.get(t.method, ""), f"{t.width}×{t.height}", f"{t.zoom:g}",
              t.median_ms, t.min_ms, t.cpu_ms, t.megapixels_per_s, f"{t.flops_per_pixel / 1e3:.1f}",
              f"{100 * t.fraction_of_peak:.1f}"] for t in report.decodes])]
    if report.latency:
        lines += ["", "Viewer latency (ms from the view request; cold tile cache, warm features; median of runs):", ""]
        lines += _md_table(
            ["method", "pane", "zoom", "tile", "first tile", "bicubic preview", "first model tile", "coarse pane",
             "full pane", "full tiles", "CPU ms", "competing processes"],
            [[t.method, f"{t.width}×{t.height}", f"{t.zoom:g}", t.tile, fmt(t.first_tile_ms), fmt(t.preview_ms),
              f"{fmt(t.first_model_ms)} ({t.first_model_phase or '–'})",
              f"{fmt(t.coarse_ms)} (×{t.coarse_zoom:g})" if t.coarse_zoom else "–",
              fmt(t.full_ms), f"{t.full_tiles_done}/{t.full_tiles}", fmt(t.cpu_ms), t.competing]
             for t in report.latency])
    if report.large:
        lines += ["", "Large image (features encoded on demand; peak RSS during the view):", ""]
        lines += _md_table(
            ["method", "image", "view", "zoom", "shows", "first tile s", "pane s", "tiles", "peak RSS MB",
             "RSS before MB", "feature tiles encoded", "features MB", "CUDA peak MB"],
            [[t.method, f"{t.image_w}×{t.image_h}", t.view, f"{t.zoom:g}", t.shown, fmt(t.first_tile_s, 2),
              fmt(t.complete_s, 2), f"{t.tiles_done}/{t.tiles}", f"{t.peak_rss_mb:.0f}", f"{t.rss_before_mb:.0f}",
              t.feature_tiles_encoded if t.feature_tiles_encoded is not None else "–", fmt(t.feature_mb),
              fmt(t.cuda_peak_mb)] for t in report.large])
    if report.precision_check:
        lines += ["", f"Reduced precision vs fp32 (PSNR on Y through evaluate_image; acceptable at most "
                      f"{PSNR_TOLERANCE_DB} dB mean change; seconds to evaluate the set at that scale):", ""]
        lines += _md_table(
            ["method", "precision", "set", "scale", "images", "fp32 dB", "reduced dB", "mean change dB",
             "max abs change dB", "acceptable", "fp32 s", "reduced s", "note"],
            [[t.method, t.precision, t.set_name, f"{t.scale:g}", t.images, fmt(t.psnr_fp32, 3), fmt(t.psnr, 3),
              fmt(t.delta_db, 4), fmt(t.max_abs_delta_db, 4), "yes" if t.acceptable else "no",
              fmt(t.fp32_s, 1), fmt(t.seconds, 1), t.note]
             for t in report.precision_check])
        lines += ["", "Default precision per method (the fastest whose every mean change above is acceptable):", ""]
        lines += _md_table(["method", "default"], [[m, p] for m, p in chosen_precisions(report).items()])
    if report.notes:
        lines += [""] + [f"Note: {n}" for n in report.notes]
    return "\n".join(lines)


def write_report(report: BenchReport, out_dir: Path = RESULTS_DIR, stem: str | None = None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or f"bench-{report.device.replace(' ', '_').replace(':', '')}-{time.strftime('%Y%m%d-%H%M%S')}"
    path = out_dir / f"{stem}.json"
    path.write_text(json.dumps(asdict(report), indent=1))
    (out_dir / f"{stem}.md").write_text(format_table(report) + "\n")
    return path
