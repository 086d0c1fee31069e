"""Speed measurements: viewport decodes, encoders, FLOPs per output pixel and
the fraction of the device's measured peak they reach.

Everything is timed through the one decode path (`Upscaler.decode_lattice`)
with features already encoded, as the viewer uses it. Results are printed as
a table and written as JSON (with the device's name) under benchmarks/results/.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from .catalog import all_methods, load_upscaler
from .geometry import pane_lattice
from .upscaler import Upscaler, device_label, pick_device

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


@dataclass
class BenchReport:
    device: str
    torch: str
    host: str
    precision: str
    peak_tflops: float
    input_size: int
    encoder_ms: dict[str, float] = field(default_factory=dict)
    decodes: list[DecodeTiming] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn: Callable[[], Any], device: torch.device, *, warmup: int = 1, runs: int = 5,
              budget_s: float = 60.0) -> tuple[float, int]:
    """Median wall time of `fn` after warm-up; fewer runs when one run is slow."""
    for _ in range(warmup):
        fn()
    sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < runs and (not times or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), len(times)


def measured_peak_tflops(device: torch.device, dtype: torch.dtype = torch.float32) -> float:
    """Dense matmul throughput: the practical ceiling for MLP decoders."""
    n = 4096 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    ms, _ = median_ms(lambda: a @ b, device, warmup=2, runs=10 if device.type == "cuda" else 5)
    return 2 * n ** 3 / (ms * 1e-3) / 1e12


def flops_per_pixel(up: Upscaler, features: Any, zoom: float, size: tuple[int, int], cx: float, cy: float) -> float:
    """Counted (not estimated) matmul/conv FLOPs of one decode, per output pixel,
    including the per-LR-pixel precomputation it needs."""
    lattice = pane_lattice(cx, cy, zoom, *size)
    counter = FlopCounterMode(display=False)
    with counter:
        up.decode_lattice(features, lattice)
    return counter.get_total_flops() / (size[0] * size[1])


def textured_image(size: int, seed: int = 0) -> np.ndarray:
    """A deterministic textured image (the speed of these decoders does not depend on content)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = 0.5 + 0.25 * np.sin(40 * xx[..., None] * np.array([1.0, 1.3, 0.7]) + 25 * yy[..., None])
    return np.clip(base + 0.05 * rng.standard_normal((size, size, 3)), 0, 1).astype(np.float32)


def run_bench(methods: list[str] | None = None, device: str | None = None, *, input_size: int = 512,
              sizes: list[tuple[int, int]] | None = None, zooms: list[float] | None = None,
              runs: int = 5, precision: str = "fp32", budget_s: float = 60.0,
              log: Callable[[str], None] = print) -> BenchReport:
    dev = pick_device(device)
    methods = methods or all_methods()
    sizes = sizes or [(1920, 1080), (960, 540)]
    zooms = zooms or [2, 4, 8, 16, 30]
    peak_dtype = torch.float32 if precision == "fp32" else (torch.float16 if precision == "fp16" else torch.bfloat16)
    peak = measured_peak_tflops(dev, peak_dtype)
    report = BenchReport(device_label(dev), torch.__version__, platform.node(), precision, round(peak, 3), input_size)
    log(f"device: {report.device}; measured matmul peak {peak:.2f} TFLOP/s ({precision})")
    image = textured_image(input_size)
    cx = cy = input_size / 2
    for method in methods:
        options = {} if method == "bicubic" else {"precision": precision}
        up = load_upscaler(method, dev, **options)
        t0 = time.perf_counter()
        features = up.encode(image)
        sync(dev)
        enc_ms, _ = median_ms(lambda: up.encode(image), dev, warmup=0, runs=1 if dev.type == "cpu" else 3)
        report.encoder_ms[method] = round(enc_ms, 2)
        log(f"{method}: encode {input_size}x{input_size} {enc_ms:.1f} ms (first {1e3 * (time.perf_counter() - t0):.0f} ms)")
        for w, h in sizes:
            for z in zooms:
                lattice = pane_lattice(cx, cy, z, w, h)
                ms, n = median_ms(lambda: up.decode_lattice(features, lattice), dev, runs=runs, budget_s=budget_s)
                fpp = flops_per_pixel(up, features, z, (w, h), cx, cy)
                achieved = fpp * w * h / (ms * 1e-3) / 1e12
                timing = DecodeTiming(method, w, h, z, round(ms, 2), n, round(w * h / (ms * 1e-3) / 1e6, 2),
                                      round(fpp), round(achieved / peak, 4) if peak else 0.0)
                report.decodes.append(timing)
                log(f"  {w}x{h} x{z:g}: {ms:9.1f} ms  {timing.megapixels_per_s:8.2f} MP/s  "
                    f"{fpp / 1e3:8.1f} kFLOP/px  {100 * timing.fraction_of_peak:5.1f}% of peak")
    return report


def format_table(report: BenchReport) -> str:
    lines = [f"Device: {report.device} (torch {report.torch}, {report.precision}, "
             f"peak {report.peak_tflops} TFLOP/s measured), input {report.input_size}²", "",
             "| method | encoder ms | output | zoom | decode ms | MP/s | kFLOP/px | % of peak |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for t in report.decodes:
        lines.append(f"| {t.method} | {report.encoder_ms.get(t.method, '')} | {t.width}×{t.height} | {t.zoom:g} | "
                     f"{t.median_ms} | {t.megapixels_per_s} | {t.flops_per_pixel / 1e3:.1f} | "
                     f"{100 * t.fraction_of_peak:.1f} |")
    return "\n".join(lines)


def write_report(report: BenchReport, out_dir: Path = RESULTS_DIR, stem: str | None = None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or f"bench-{report.device.replace(' ', '_').replace(':', '')}-{time.strftime('%Y%m%d-%H%M%S')}"
    path = out_dir / f"{stem}.json"
    path.write_text(json.dumps(asdict(report), indent=1))
    (out_dir / f"{stem}.md").write_text(format_table(report) + "\n")
    return path
