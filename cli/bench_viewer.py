"""Timing the viewer's pipeline: the latency from a view request to the first
thing a pane shows, through the viewer's own `Renderer` (inference/render/),
also beside competing CPU-bound processes; and a large image opened and
zoomed with features encoded on demand, within memory.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from inference.catalog import all_methods, load_upscaler
from inference.geometry import pane_lattice

from .bench_core import Loader, device_of, method_options, sync, synthetic_image, textured_image
from .bench_report import BenchReport, LargeImageTiming, LatencyTiming, fmt

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

    def __enter__(self) -> CompetingLoad:
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

    dev = device_of(report)
    methods = methods or all_methods()
    sizes = sizes or [(1920, 1080), (960, 540)]
    zooms = zooms or [2, 4, 8, 16, 30]
    tile = tile or default_tile(dev)
    get = UpscalerCache(lambda name: loader(name, dev, **method_options(name, report)))
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
                log(f"  latency {method} {w}x{h} x{z:g}: first tile {fmt(timing.first_tile_ms)} ms, preview "
                    f"{fmt(timing.preview_ms)} ms, first {timing.first_model_phase or 'model'} tile "
                    f"{fmt(timing.first_model_ms)} ms, coarse pane {fmt(timing.coarse_ms)} ms, full pane "
                    f"{fmt(timing.full_ms)} ms ({done_full}/{n_full} tiles)")


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

    dev = device_of(report)
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
    get = UpscalerCache(lambda name: loader(name, dev, **method_options(name, report)))
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
            log(f"  large {method} {view_zoom} (x{view.zoom:g}, shows {shown}): first tile {fmt(first, 2)} s, "
                f"pane {fmt(complete, 2)} s ({done}/{tiles} tiles), peak RSS {peak:.0f} MB "
                f"(before {rss_before:.0f}), feature tiles encoded {timing.feature_tiles_encoded}")
