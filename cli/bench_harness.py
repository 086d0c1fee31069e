"""Speed measurements: viewport decodes, encoders, FLOPs per output pixel and
the fraction of the device's measured peak they reach; the viewer's latency
from a view request to the first thing a pane shows; a large image opened and
zoomed within memory; and the PSNR cost of half precision.

Decodes are timed through the one decode path (`Upscaler.decode_lattice`)
with features already encoded, as the viewer uses it; latency through the
viewer's own `Renderer` (inference/render.py). Wall time is reported with the
process's CPU time next to it: on a shared machine CPU time is the steadier
figure. Results are printed as a table and written as JSON (with the device's
name) under benchmarks/results/.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import resource
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from inference.catalog import all_methods, is_interpolation, load_upscaler
from inference.geometry import pane_lattice
from inference.precision import PSNR_TOLERANCE_DB, native_bf16, torch_dtype
from inference.upscaler import Upscaler, device_label, pick_device

Loader = Callable[..., Upscaler]

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


def _device_of(report: BenchReport) -> torch.device:
    return pick_device("cuda" if report.device.startswith("CUDA") else "cpu")


def _method_options(method: str, report: BenchReport) -> dict[str, Any]:
    if is_interpolation(method):
        return {}
    return {"precision": report.precision, **report.options}


def add_decodes(report: BenchReport, methods: list[str] | None = None, *, input_size: int = 512,
                sizes: list[tuple[int, int]] | None = None, zooms: list[float] | None = None,
                runs: int = 5, budget_s: float = 60.0, loader: Loader = load_upscaler,
                log: Callable[[str], None] = print) -> None:
    dev = _device_of(report)
    methods = methods or all_methods()
    sizes = sizes or [(1920, 1080), (960, 540)]
    zooms = zooms or [2, 4, 8, 16, 30]
    image = textured_image(input_size)
    cx = cy = input_size / 2
    for method in methods:
        up = loader(method, dev, **_method_options(method, report))
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


# ------------------------------------------------------------------ latency


def _clear_transient_caches() -> None:
    """Caches that a first visit of a view does not have (tile caches aside)."""
    from inference.interpolations import bicubic

    bicubic.clear_caches()


def default_tile(device: torch.device) -> int:
    from inference.render.tiles import CPU_TILE, DEFAULT_TILE

    return DEFAULT_TILE if device.type == "cuda" else CPU_TILE


def _median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return round(statistics.median(got), 2) if got else None


def _spin() -> None:
    while True:
        pass


class CompetingLoad:
    """`count` CPU-bound processes (plain busy loops at normal priority) for
    the length of a `with` block: another program using the CPU."""

    def __init__(self, count: int) -> None:
        self.count = int(count)
        self._procs: list[Any] = []

    def __enter__(self) -> "CompetingLoad":
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self._procs = [ctx.Process(target=_spin, daemon=True) for _ in range(self.count)]
        for proc in self._procs:
            proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            proc.join()
        self._procs = []


def add_latency(report: BenchReport, methods: list[str] | None = None, *, input_size: int = 512,
                sizes: list[tuple[int, int]] | None = None, zooms: list[float] | None = None,
                runs: int = 3, budget_s: float = 30.0, tile: int | None = None, competing: int = 0,
                fit_threads: bool = True, loader: Loader = load_upscaler,
                log: Callable[[str], None] = print) -> None:
    """Time from a view request to the first tile a pane can show, to the
    whole bicubic preview, to the first tile of the method's own decode, to
    the whole coarse pass and the whole pane, through the viewer's Renderer
    with a cold tile cache and the image already encoded. `competing`:
    CPU-bound processes run beside every timed run (the viewer under load).
    `fit_threads`: before each tile, as many threads as other processes leave
    cores free, like the viewer's render worker (False: always the configured count)."""
    from inference.downscale import DOWNSCALE_METHOD
    from inference.render.caches import UpscalerCache
    from inference.render.scheduler import Renderer, RenderRequest
    from inference.render.threads import others_running, threads_for_load
    from inference.render.view import ViewState

    dev = _device_of(report)
    methods = methods or all_methods()
    sizes = sizes or [(1920, 1080), (960, 540)]
    zooms = zooms or [2, 4, 8, 16, 30]
    tile = tile or default_tile(dev)
    get = UpscalerCache(lambda name: loader(name, dev, **_method_options(name, report)))
    image = textured_image(input_size)
    cx = cy = input_size / 2
    configured, cpus = torch.get_num_threads(), os.cpu_count() or torch.get_num_threads()
    for method in methods:
        renderer = Renderer(get, tile=tile)
        renderer.set_image("bench", image)
        for name in {method, DOWNSCALE_METHOD}:
            up, feats = renderer.encoded(name, "bench")
            up.decode_lattice(feats, pane_lattice(cx, cy, 2.0, 16, 16))  # first-call costs out of the way
        sync(dev)
        for w, h in sizes:
            for z in zooms:
                samples: dict[str, list[float | None]] = {k: [] for k in
                                                           ("first", "preview", "model", "coarse", "full", "cpu")}
                phase_of_model = ""
                coarse_zoom: float | None = None
                n_full = done_full = 0
                for _ in range(max(1, runs)):
                    renderer.tiles.clear()
                    _clear_transient_caches()
                    lattice = ViewState(cx, cy, z).lattice(w, h)
                    target = ("bench", method)
                    request = RenderRequest(renderer.generations.issue(target), target, method, lattice, "bench")
                    planned: list[str] = [job.phase for job in renderer.plan(request)]
                    pending = {p: planned.count(p) for p in ("preview", "coarse", "full")}
                    load = CompetingLoad(competing)
                    load.__enter__()
                    t0, c0 = time.perf_counter(), time.process_time()
                    renderer.submit(request)
                    n_full = pending["full"]
                    marks: dict[str, float | None] = {"first": None, "preview": None, "model": None,
                                                      "coarse": None, "full": None}
                    stopped = False
                    while (result := renderer.next_result()) is not None:
                        sync(dev)
                        if fit_threads:  # as the viewer's render worker does before each tile
                            torch.set_num_threads(threads_for_load(configured, cpus, others_running()))
                        now = (time.perf_counter() - t0) * 1e3
                        if result.error:
                            raise RuntimeError(f"{method}: {result.error}")
                        marks["first"] = marks["first"] if marks["first"] is not None else now
                        pending[result.phase] -= 1
                        if result.phase in ("coarse", "full") and result.method == method and marks["model"] is None:
                            marks["model"] = now
                            phase_of_model = result.phase
                        if result.phase == "coarse":
                            coarse_zoom = result.zoom
                        for phase in ("preview", "coarse", "full"):
                            if result.phase == phase and pending[phase] == 0:
                                marks[phase] = now
                        if now > budget_s * 1e3 and renderer.pending():
                            renderer.cancel(target)
                            stopped = True
                            break
                    load.__exit__()
                    done_full = n_full - pending["full"]
                    if stopped:
                        marks["full"] = None
                    cpu = (time.process_time() - c0) * 1e3
                    for key in ("first", "preview", "model", "coarse", "full"):
                        samples[key].append(marks[key])
                    samples["cpu"].append(cpu if not stopped else None)
                timing = LatencyTiming(method, w, h, float(z), tile, max(1, runs), _median(samples["first"]),
                                       _median(samples["preview"]), _median(samples["model"]), phase_of_model,
                                       coarse_zoom, _median(samples["coarse"]), _median(samples["full"]),
                                       n_full, done_full, _median(samples["cpu"]), competing)
                report.latency.append(timing)
                log(f"  latency {method} {w}x{h} x{z:g}: first tile {_fmt(timing.first_tile_ms)} ms, preview "
                    f"{_fmt(timing.preview_ms)} ms, first {timing.first_model_phase or 'model'} tile "
                    f"{_fmt(timing.first_model_ms)} ms, coarse pane {_fmt(timing.coarse_ms)} ms, full pane "
                    f"{_fmt(timing.full_ms)} ms ({done_full}/{n_full} tiles)")


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


# ------------------------------------------------------------ large image


def rss_mb(field_name: str = "VmRSS") -> float:
    """Resident memory (VmRSS) or its peak (VmHWM) of this process in MB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    # No /proc: the lifetime peak is all there is (kB on Linux, bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if platform.system() == "Darwin" else peak / 1024.0


def reset_peak_rss() -> bool:
    """Start a new peak-RSS measurement (Linux); False where the OS cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def add_large(report: BenchReport, methods: list[str] | None = None, *, image_size: tuple[int, int] = (8000, 6000),
              pane: tuple[int, int] = (960, 540), zooms: list[float | str] | None = None, budget_s: float = 300.0,
              tile: int | None = None, loader: Loader = load_upscaler, log: Callable[[str], None] = print) -> None:
    """A large synthetic image opened in the viewer's Renderer and looked at
    (fit, zoom 1, zoom 4 by default), features encoded on demand: time and
    peak memory of each view."""
    from inference.render.caches import UpscalerCache, feature_key
    from inference.render.scheduler import Renderer, RenderRequest
    from inference.render.view import ViewState

    dev = _device_of(report)
    methods = methods or all_methods()
    zooms = zooms or ["fit", 1.0, 4.0]
    tile = tile or default_tile(dev)
    width, height = image_size
    can_reset = reset_peak_rss()
    before = rss_mb()
    t0 = time.perf_counter()
    image = synthetic_image(width, height)
    log(f"large: {width}x{height} synthetic image made in {time.perf_counter() - t0:.1f} s "
        f"({image.nbytes / 2**20:.0f} MB float32; RSS {before:.0f} -> {rss_mb():.0f} MB)")
    if not can_reset:
        report.notes.append("peak RSS could not be reset per view: figures are the process's peak so far")
    get = UpscalerCache(lambda name: loader(name, dev, **_method_options(name, report)))
    for method in methods:
        renderer = Renderer(get, tile=tile)
        renderer.set_image("large", image)
        for view_zoom in zooms:
            zoom = ViewState.fit(width, height, *pane).zoom if view_zoom == "fit" else float(view_zoom)
            view = ViewState(width / 2.0, height / 2.0, zoom)
            lattice = view.lattice(*pane)
            shown, _ = renderer.effective_method(method, view.zoom)
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            rss_before = rss_mb()
            reset_peak_rss()
            target = ("large", method)
            start = time.perf_counter()
            renderer.submit(RenderRequest(renderer.generations.issue(target), target, method, lattice, "large",
                                          progressive=False))
            tiles = renderer.pending()
            first: float | None = None
            done = 0
            complete: float | None = None
            while (result := renderer.next_result()) is not None:
                sync(dev)
                if result.error:
                    raise RuntimeError(f"{method}: {result.error}")
                done += 1
                now = time.perf_counter() - start
                first = now if first is None else first
                if now > budget_s and renderer.pending():
                    renderer.cancel(target)
                    break
            else:
                complete = time.perf_counter() - start
            peak = rss_mb("VmHWM")
            feats = renderer.features.get(feature_key("large", shown, get(shown)))
            timing = LargeImageTiming(
                method, str(view_zoom), round(view.zoom, 4), shown, width, height, pane[0], pane[1],
                None if first is None else round(first, 3), None if complete is None else round(complete, 3),
                tiles, done, round(peak, 1), round(rss_before, 1), round(rss_mb(), 1),
                getattr(feats, "tiles_encoded", None),
                round(feats.cached_bytes / 2**20, 1) if feats is not None and hasattr(feats, "cached_bytes") else None,
                round(torch.cuda.max_memory_allocated(dev) / 2**20, 1) if dev.type == "cuda" else None)
            report.large.append(timing)
            log(f"  large {method} {view_zoom} (x{view.zoom:g}, shows {shown}): first tile {_fmt(first, 2)} s, "
                f"pane {_fmt(complete, 2)} s ({done}/{tiles} tiles), peak RSS {peak:.0f} MB "
                f"(before {rss_before:.0f}), feature tiles encoded {timing.feature_tiles_encoded}")


# -------------------------------------------------------- half precision


# What each name checked by `add_precision_check` loads, besides fp32.
PRECISION_VARIANTS: dict[str, dict[str, str]] = {
    "bf16": {"precision": "bf16"},  # encoder, features, decoder: all bf16
    "bf16-decoder": {"precision": "bf16", "encoder_precision": "fp32"},  # fp32 encoder and features
    "fp16": {"precision": "fp16"},
    "fp16-features": {"precision": "fp32", "feature_dtype": "fp16"},  # fp32 decode on fp16 features
}


def default_check_precisions(device: torch.device) -> list[str]:
    """The reduced precisions worth checking on `device`: fp16 only on CUDA."""
    cpu = ["bf16", "bf16-decoder"]
    return cpu + ["fp16", "fp16-features"] if device.type == "cuda" else cpu


def add_precision_check(report: BenchReport, methods: list[str] | None, data_root: str | Path, *,
                        set_name: str | list[str] = "Set5", scales: list[float] | None = None,
                        precisions: list[str] | None = None, weights: dict[str, str] | None = None,
                        limit: int | None = None, loader: Loader = load_upscaler,
                        log: Callable[[str], None] = print) -> None:
    """PSNR change of each reduced precision against fp32, per method, set and
    scale, through `evaluate_image` (the evaluator's own protocol), with the
    time each took."""
    from inference.evaluate import evaluate_image, load_rgb8
    from inference.files import list_images

    dev = _device_of(report)
    methods = [m for m in (methods or all_methods()) if not is_interpolation(m)]
    scales = scales or [2.0, 4.0, 8.0]
    precisions = precisions or default_check_precisions(dev)
    unknown = [p for p in precisions if p not in PRECISION_VARIANTS]
    if unknown:
        raise ValueError(f"unknown precision {', '.join(unknown)}; known: {', '.join(PRECISION_VARIANTS)}")
    sets: dict[str, list[tuple[str, np.ndarray]]] = {}
    for name in ([set_name] if isinstance(set_name, str) else list(set_name)):
        folder = Path(data_root) / name
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such benchmark set")
        paths = list_images(folder)[:limit] if limit else list_images(folder)
        sets[name] = [(p.name, load_rgb8(p)) for p in paths]

    def scores(up: Upscaler, images: list[tuple[str, np.ndarray]], s: float) -> tuple[list[float], float]:
        t0 = time.perf_counter()
        got = [evaluate_image(up, hr, s)[0] for _, hr in images]
        return got, time.perf_counter() - t0

    for method in methods:
        chosen = (weights or {}).get(method)
        base = loader(method, dev, weights=chosen, precision="fp32", feature_dtype="fp32", **report.options)
        trained = bool(base.weights.trained)
        reference = {(name, s): scores(base, images, s) for name, images in sets.items() for s in scales}
        for precision in precisions:
            try:
                half = loader(method, dev, weights=chosen, **PRECISION_VARIANTS[precision], **report.options)
            except ValueError as error:
                for name in sets:
                    for s in scales:
                        report.precision_check.append(PrecisionDelta(method, precision, s, 0, None, None, None, None,
                                                                     trained, note=str(error), set_name=name))
                log(f"  precision {method} {precision}: skipped ({error})")
                continue
            for name, images in sets.items():
                for s in scales:
                    ref, ref_s = reference[(name, s)]
                    got, seconds = scores(half, images, s)
                    deltas = [g - r for g, r in zip(got, ref)]
                    row = PrecisionDelta(method, precision, s, len(images), round(float(np.mean(ref)), 4),
                                         round(float(np.mean(got)), 4), round(float(np.mean(deltas)), 5),
                                         round(float(np.max(np.abs(deltas))), 5), trained,
                                         note="" if trained else "untrained weights: indicative only",
                                         set_name=name, fp32_s=round(ref_s, 2), seconds=round(seconds, 2))
                    report.precision_check.append(row)
                    log(f"  precision {method} {precision} {name} x{s:g}: {row.psnr_fp32:.3f} -> {row.psnr:.3f} dB "
                        f"(mean change {row.delta_db:+.4f}, max {row.max_abs_delta_db:.4f}; {ref_s:.1f} s -> "
                        f"{seconds:.1f} s) {'ok' if row.acceptable else 'NOT ok'} (<= {PSNR_TOLERANCE_DB} dB)")


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


# ----------------------------------------------------------------- output


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
        lines += [""] + _md_table(
            ["method", "precision", "encoder ms", "output", "zoom", "decode ms", "min ms", "CPU ms", "MP/s",
             "kFLOP/px", "% of peak"],
            [[t.method, t.precision, report.encoder_ms.get(t.method, ""), f"{t.width}×{t.height}", f"{t.zoom:g}",
              t.median_ms,
              t.min_ms, t.cpu_ms, t.megapixels_per_s, f"{t.flops_per_pixel / 1e3:.1f}",
              f"{100 * t.fraction_of_peak:.1f}"] for t in report.decodes])
    if report.latency:
        lines += ["", "Viewer latency (ms from the view request; cold tile cache, warm features; median of runs):", ""]
        lines += _md_table(
            ["method", "pane", "zoom", "tile", "first tile", "bicubic preview", "first model tile", "coarse pane",
             "full pane", "full tiles", "CPU ms", "competing processes"],
            [[t.method, f"{t.width}×{t.height}", f"{t.zoom:g}", t.tile, _fmt(t.first_tile_ms), _fmt(t.preview_ms),
              f"{_fmt(t.first_model_ms)} ({t.first_model_phase or '–'})",
              f"{_fmt(t.coarse_ms)} (×{t.coarse_zoom:g})" if t.coarse_zoom else "–",
              _fmt(t.full_ms), f"{t.full_tiles_done}/{t.full_tiles}", _fmt(t.cpu_ms), t.competing]
             for t in report.latency])
    if report.large:
        lines += ["", "Large image (features encoded on demand; peak RSS during the view):", ""]
        lines += _md_table(
            ["method", "image", "view", "zoom", "shows", "first tile s", "pane s", "tiles", "peak RSS MB",
             "RSS before MB", "feature tiles encoded", "features MB", "CUDA peak MB"],
            [[t.method, f"{t.image_w}×{t.image_h}", t.view, f"{t.zoom:g}", t.shown, _fmt(t.first_tile_s, 2),
              _fmt(t.complete_s, 2), f"{t.tiles_done}/{t.tiles}", f"{t.peak_rss_mb:.0f}", f"{t.rss_before_mb:.0f}",
              t.feature_tiles_encoded if t.feature_tiles_encoded is not None else "–", _fmt(t.feature_mb),
              _fmt(t.cuda_peak_mb)] for t in report.large])
    if report.precision_check:
        lines += ["", f"Reduced precision vs fp32 (PSNR on Y through evaluate_image; acceptable at most "
                      f"{PSNR_TOLERANCE_DB} dB mean change; seconds to evaluate the set at that scale):", ""]
        lines += _md_table(
            ["method", "precision", "set", "scale", "images", "fp32 dB", "reduced dB", "mean change dB",
             "max abs change dB", "acceptable", "fp32 s", "reduced s", "note"],
            [[t.method, t.precision, t.set_name, f"{t.scale:g}", t.images, _fmt(t.psnr_fp32, 3), _fmt(t.psnr, 3),
              _fmt(t.delta_db, 4), _fmt(t.max_abs_delta_db, 4), "yes" if t.acceptable else "no",
              _fmt(t.fp32_s, 1), _fmt(t.seconds, 1), t.note]
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
