"""Timing the inference core: viewport decodes through the one decode path
(`Upscaler.decode_lattice`) with features already encoded, as the viewer uses
it; encoders; FLOPs per output pixel counted, and the fraction of the
device's measured matmul peak they reach. Wall time is reported with the
process's CPU time next to it: on a shared machine CPU time is the steadier
figure.
"""

from __future__ import annotations

import functools
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from inference.catalog import all_methods, is_interpolation, load_upscaler
from inference.geometry import pane_lattice
from inference.precision import native_bf16, torch_dtype
from inference.upscaler import Upscaler, device_label, pick_device

from .bench_report import BenchReport, DecodeTiming

Loader = Callable[..., Upscaler]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Timing:
    median_ms: float
    min_ms: float
    cpu_ms: float
    runs: int


def time_runs(fn: Callable[[], Any], device: torch.device, *, warmup: int = 1, runs: int = 5,
              budget_s: float = 60.0) -> Timing:
    """Wall and process CPU time of `fn` after warm-up; fewer runs when one run is slow."""
    for _ in range(warmup):
        fn()
    sync(device)
    walls: list[float] = []
    cpus: list[float] = []
    start = time.perf_counter()
    while len(walls) < runs and (not walls or time.perf_counter() - start < budget_s):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        sync(device)
        walls.append((time.perf_counter() - t0) * 1e3)
        cpus.append((time.process_time() - c0) * 1e3)
    return Timing(statistics.median(walls), min(walls), statistics.median(cpus), len(walls))


def median_ms(fn: Callable[[], Any], device: torch.device, *, warmup: int = 1, runs: int = 5,
              budget_s: float = 60.0) -> tuple[float, int]:
    """Median wall time of `fn` after warm-up; fewer runs when one run is slow."""
    timing = time_runs(fn, device, warmup=warmup, runs=runs, budget_s=budget_s)
    return timing.median_ms, timing.runs


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


def synthetic_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A large deterministic float32 image built without full-size float64
    temporaries (an 8000 x 6000 one is 576 MB as it is)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)
    noise = (0.05 * rng.standard_normal((256, 256, 3))).astype(np.float32)
    out = np.empty((height, width, 3), dtype=np.float32)
    for c, k in enumerate((1.0, 1.3, 0.7)):
        out[..., c] = np.sin(np.float32(300 * k) * x)[None, :] * np.cos(np.float32(200 * k) * y)[:, None]
    out *= 0.25
    out += 0.5
    for r in range(0, height, 256):
        band = out[r:r + 256]
        for c in range(0, width, 256):
            block = band[:, c:c + 256]
            block += noise[:block.shape[0], :block.shape[1]]
    np.clip(out, 0.0, 1.0, out=out)
    return out


def set_threads(threads: int | None) -> int:
    if threads:
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def new_report(device: str | None, precision: str = "fp32", input_size: int = 512, threads: int | None = None,
               options: dict[str, Any] | None = None, log: Callable[[str], None] = print,
               measure_peak: bool = True) -> BenchReport:
    dev = pick_device(device)
    n_threads = set_threads(threads)
    peaks: dict[str, float] = {}
    if measure_peak:
        # "auto" runs each method in its default: fp32, or bf16 where native.
        wanted = ["fp32", "bf16"] if precision == "auto" and native_bf16(dev) else \
            ["fp32" if precision == "auto" else precision]
        peaks = {p: round(measured_peak_tflops(dev, torch_dtype(p)), 3) for p in wanted}
    peak = peaks.get("fp32" if precision == "auto" else precision, 0.0)
    report = BenchReport(device_label(dev), torch.__version__, platform.node(), precision, peak,
                         input_size, n_threads, peaks_tflops=peaks, options=dict(options or {}))
    log(f"device: {report.device}; {n_threads} CPU threads; measured matmul peak "
        + ", ".join(f"{v:.3f} TFLOP/s ({k})" for k, v in peaks.items()))
    return report


def device_of(report: BenchReport) -> torch.device:
    """The device the report was measured on."""
    return pick_device("cuda" if report.device.startswith("CUDA") else "cpu")


def method_options(method: str, report: BenchReport) -> dict[str, Any]:
    """The loader options of the report's run for `method` (none for an interpolation)."""
    if is_interpolation(method):
        return {}
    return {"precision": report.precision, **report.options}


def add_decodes(report: BenchReport, methods: list[str] | None = None, *, input_size: int = 512,
                sizes: list[tuple[int, int]] | None = None, zooms: list[float] | None = None,
                runs: int = 5, budget_s: float = 60.0, loader: Loader = load_upscaler,
                log: Callable[[str], None] = print) -> None:
    dev = device_of(report)
    methods = methods or all_methods()
    sizes = sizes or [(1920, 1080), (960, 540)]
    zooms = zooms or [2, 4, 8, 16, 30]
    image = textured_image(input_size)
    cx = cy = input_size / 2
    for method in methods:
        up = loader(method, dev, **method_options(method, report))
        precision = up.precision or "fp32"
        peak = report.peaks_tflops.get(precision, report.peak_tflops)
        t0 = time.perf_counter()
        features = up.encode(image)
        sync(dev)
        enc_ms, _ = median_ms(functools.partial(up.encode, image), dev, warmup=0, runs=1 if dev.type == "cpu" else 3)
        report.encoder_ms[method] = round(enc_ms, 2)
        first_ms = 1e3 * (time.perf_counter() - t0)
        log(f"{method}: encode {input_size}x{input_size} {enc_ms:.1f} ms (first {first_ms:.0f} ms)")
        _note_compile(report, method, up, log)
        for w, h in sizes:
            for z in zooms:
                lattice = pane_lattice(cx, cy, z, w, h)
                tm = time_runs(functools.partial(up.decode_lattice, features, lattice), dev, runs=runs,
                               budget_s=budget_s)
                fpp = flops_per_pixel(up, features, z, (w, h), cx, cy)
                achieved = fpp * w * h / (tm.median_ms * 1e-3) / 1e12
                timing = DecodeTiming(method, w, h, z, round(tm.median_ms, 2), tm.runs,
                                      round(w * h / (tm.median_ms * 1e-3) / 1e6, 2), round(fpp),
                                      round(achieved / peak, 4) if peak else 0.0, round(tm.min_ms, 2),
                                      round(tm.cpu_ms, 2), precision)
                report.decodes.append(timing)
                _note_compile(report, method, up, log)
                log(f"  {w}x{h} x{z:g} {precision}: {tm.median_ms:9.1f} ms (min {tm.min_ms:.1f}, cpu {tm.cpu_ms:.1f})  "
                    f"{timing.megapixels_per_s:8.2f} MP/s  {fpp / 1e3:8.1f} kFLOP/px  "
                    f"{100 * timing.fraction_of_peak:5.1f}% of peak")


def _note_compile(report: BenchReport, method: str, up: Upscaler, log: Callable[[str], None]) -> None:
    """Say whether an asked-for compile took effect (after the first decodes)."""
    note = getattr(up, "compile_note", "")
    if report.options.get("compile") and note:
        line = f"{method}: {note}"
        if line not in report.notes:
            report.notes.append(line)
            log(line)
