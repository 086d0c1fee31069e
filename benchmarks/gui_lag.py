"""GUI event-loop lag while the render worker decodes (issue 5: "the GUI thread
never blocks for more than 50 ms").

Builds the real main window (as `run_gui` does: Fusion theme, bicubic next to
an implicit method, 1280x820), shows it (offscreen by default), and drives
what a user does: switch methods, set zooms, drag-pan, wheel-zoom, toggle the
split view, while the render worker decodes. A QTimer on the GUI thread ticks
every `--interval` ms; the lag of a tick is its gap to the previous tick minus
the interval. Handlers of the GUI thread (tile arrival, painting, view
changes, ...) are timed, and each tick also reads the GUI thread's CPU time
and run-queue wait (/proc schedstat), so a long gap says what took it: the
GUI's own work, waiting for a CPU (the machine is shared), or asleep (Qt's
raster engine hands smooth scaling to its thread pool and waits; a lock such
as the GIL; a timer woken late).

    python benchmarks/gui_lag.py --name t1 --worker-threads 1
    python benchmarks/gui_lag.py --name t1-vs-t2 --worker-threads 1,2   # one process per thread count

Writes benchmarks/results/cpu-gui-lag-NAME.json and .md. Untrained weights
are fine: timing does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import resources  # noqa: E402  (after the path set-up above)

RESULTS = ROOT / "benchmarks" / "results"
SAMPLE = resources.sample_image()
ALL_METHODS = ("liif", "ipe-liif", "diinn", "diif", "a-liif", "liif-siren")
BLOCK_MS = 50.0  # the bound on one GUI stall

# GUI-thread entry points timed during a run: (module, class, method).
TRACED = (
    ("app.main_window", "MainWindow", "_on_tile"),
    ("app.main_window", "MainWindow", "_on_queue"),
    ("app.main_window", "MainWindow", "_on_method_loaded"),
    ("app.main_window", "MainWindow", "apply_view"),
    ("app.main_window", "MainWindow", "request_render"),
    ("app.main_window", "MainWindow", "set_method"),
    ("app.main_window", "MainWindow", "_split_changed"),
    ("app.main_window", "MainWindow", "_update_label"),
    ("app.main_window", "MainWindow", "_show_image"),
    ("app.main_window", "MainWindow", "open_path"),
    ("app.main_window", "MainWindow", "_on_image_ready"),
    ("widgets.image_pane", "ImagePane", "paintEvent"),
    ("widgets.image_pane", "ImagePane", "add_tile"),
    ("widgets.image_pane", "ImagePane", "finish_generation"),
    ("widgets.image_pane", "ImagePane", "mouseMoveEvent"),
    ("widgets.image_pane", "ImagePane", "wheelEvent"),
)


# ----------------------------------------------------------------- recording


class Tracer:
    """Times the TRACED methods on the GUI thread: spans (name, start, end,
    exclusive seconds). Installed on the classes before the window is built
    (signal connections bind the wrapped methods) and removed afterwards."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, float, float, float]] = []
        self.off_thread: dict[str, int] = {}
        self.tiles: list[tuple[float, str, int, float, bool]] = []  # (time, phase, pixels, seconds, cached)
        self.render_requests = 0
        self._stack: list[float] = []  # children's inclusive time per open span
        self._saved: list[tuple[type, str, Any]] = []
        self._gui = threading.get_ident()
        self.gc: list[tuple[float, float, int, bool]] = []  # (start, end, generation, on the GUI thread)
        self._gc_start = 0.0

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        # Python's cyclic collector runs on whichever thread allocates; a
        # full collection walks every object (torch's included).
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc.append((self._gc_start, time.perf_counter(), int(info.get("generation", -1)),
                            threading.get_ident() == self._gui))

    def install(self) -> None:
        import gc
        import importlib

        gc.callbacks.append(self._on_gc)

        for module, cls_name, name in TRACED:
            cls = getattr(importlib.import_module(module), cls_name)
            original = cls.__dict__[name]
            self._saved.append((cls, name, original))
            setattr(cls, name, self._wrap(f"{cls_name}.{name}", original))

    def uninstall(self) -> None:
        import gc

        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        for cls, name, original in reversed(self._saved):
            setattr(cls, name, original)
        self._saved.clear()

    def _wrap(self, label: str, fn: Callable) -> Callable:
        tracer = self

        @functools.wraps(fn)
        def traced(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != tracer._gui:
                tracer.off_thread[label] = tracer.off_thread.get(label, 0) + 1
                return fn(*args, **kwargs)
            if label == "MainWindow._on_tile" and len(args) > 1:
                tile = args[1]
                rgb = getattr(tile, "rgb", None)
                pixels = int(rgb.shape[0] * rgb.shape[1]) if rgb is not None else 0
                tracer.tiles.append((time.perf_counter(), tile.phase, pixels, float(tile.seconds),
                                     bool(tile.from_cache)))
            elif label == "MainWindow.request_render":
                tracer.render_requests += 1
            tracer._stack.append(0.0)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                end = time.perf_counter()
                children = tracer._stack.pop()
                if tracer._stack:
                    tracer._stack[-1] += end - start
                tracer.spans.append((label, start, end, max(0.0, end - start - children)))

        return traced


class LagProbe:
    """A precise QTimer on the GUI thread; each tick records wall time, the
    GUI thread's CPU time and its run-queue wait (seconds)."""

    def __init__(self, interval_ms: float) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.interval_ms = float(interval_ms)
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.queued: list[float] = []
        self._fd: int | None = None
        try:
            self._fd = os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY)
        except OSError:
            self._fd = None
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(max(1, round(self.interval_ms)))
        self._timer.timeout.connect(self._tick)

    def _run_queue_wait(self) -> float:
        if self._fd is None:
            return math.nan
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) * 1e-9
        except (OSError, IndexError, ValueError):
            return math.nan

    def _tick(self) -> None:
        self.wall.append(time.perf_counter())
        self.cpu.append(time.thread_time())
        self.queued.append(self._run_queue_wait())

    def start(self) -> None:
        self._tick()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class ControlSleeper:
    """A plain thread sleeping `interval` in a loop, running beside the probe:
    how late this machine wakes a sleeping thread, whatever the GUI does. (On
    a shared VM a 5 ms sleep can overshoot by 100+ ms when the host is busy.)"""

    def __init__(self, interval_ms: float) -> None:
        self.interval = interval_ms / 1000.0
        self.wakes: list[tuple[float, float]] = []  # (time, overshoot seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gui-lag-control", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            time.sleep(self.interval)
            now = time.perf_counter()
            self.wakes.append((now, now - start - self.interval))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)

    def overshoots_ms(self, t0: float, t1: float) -> list[float]:
        return [o * 1e3 for t, o in self.wakes if t0 < t <= t1]

    def stalled_during(self, t0: float, t1: float, late_s: float = 0.02) -> bool:
        """Whether this sleeper also woke over `late_s` late in a sleep overlapping [t0, t1]:
        the machine, not the GUI, held both up."""
        return any(o > late_s and t > t0 and t - o - self.interval < t1 for t, o in self.wakes)


@dataclass
class Scenario:
    name: str
    start: float
    end: float = 0.0
    done_after: float | None = None  # seconds from the action until every pane side was done
    planned_dwell: float = 0.0
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------- statistics


def cpu_busy() -> tuple[float, float, float]:
    """(wall, machine busy CPU seconds, this process's CPU seconds): the
    difference of two readings says how much of the machine others used."""
    busy = math.nan
    try:
        fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
        busy = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    t = os.times()
    return time.perf_counter(), busy, t.user + t.system


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def gap_detail(probe: LagProbe, tracer: Tracer, i: int) -> dict[str, Any]:
    """What the GUI thread did between tick i-1 and tick i."""
    t0, t1 = probe.wall[i - 1], probe.wall[i]
    gap = t1 - t0
    cpu = probe.cpu[i] - probe.cpu[i - 1]
    queued = probe.queued[i] - probe.queued[i - 1]
    work: dict[str, list[float]] = {}
    for label, start, end, exclusive in tracer.spans:
        if start >= t0 and end <= t1:
            entry = work.setdefault(label, [0.0, 0])
            entry[0] += exclusive
            entry[1] += 1
    # Python's collector holds the GIL throughout: on the worker's thread it
    # stalls the GUI as surely as on the GUI's own.
    collections = [(min(end, t1) - max(start, t0), gen, gui) for start, end, gen, gui in tracer.gc
                   if end > t0 and start < t1]
    for name, on_gui in (("gc on the GUI thread", True), ("gc on the worker thread", False)):
        mine = [d for d, _, gui in collections if gui == on_gui]
        if mine:
            work[name] = [sum(mine), len(mine)]
    traced = sum(v[0] for k, v in work.items() if not k.startswith("gc "))
    top = sorted(work.items(), key=lambda kv: -kv[1][0])[:4]
    waiting = gap - cpu - (queued if math.isfinite(queued) else 0.0)
    return {
        "at_s": round(t1, 4),
        "gap_ms": round(gap * 1e3, 2),
        "lag_ms": round(max(0.0, gap * 1e3 - probe.interval_ms), 2),
        "gui_cpu_ms": round(cpu * 1e3, 2),
        "run_queue_ms": round(queued * 1e3, 2) if math.isfinite(queued) else None,
        # Neither running nor runnable, beyond the one interval of idling:
        # waiting for Qt's paint threads, a lock (the GIL), or a late timer.
        "blocked_ms": round(max(0.0, waiting * 1e3 - probe.interval_ms), 2),
        "traced_ms": round(traced * 1e3, 2),
        # The event loop outside the timed handlers: Qt's own work, or asleep
        # past its timer (see the control sleeper).
        "outside_handlers_ms": round(max(0.0, gap * 1e3 - probe.interval_ms - traced * 1e3), 2),
        "handlers": [{"name": k, "ms": round(v[0] * 1e3, 2), "calls": int(v[1])} for k, v in top],
    }


def describe(detail: dict[str, Any]) -> str:
    """Handlers by wall time, the event loop outside them, then how the gap's
    time divides: GUI CPU, waiting for a CPU, asleep."""
    parts = [f"{h['name'].split('.')[-1]} {h['ms']:.0f} ms" + (f" ×{h['calls']}" if h["calls"] > 1 else "")
             for h in detail["handlers"] if h["ms"] >= 1.0]
    if detail["outside_handlers_ms"] >= 2.0:
        parts.append(f"event loop {detail['outside_handlers_ms']:.0f} ms")
    split = [f"GUI CPU {detail['gui_cpu_ms']:.0f}"]
    if (detail["run_queue_ms"] or 0) >= 1.0:
        split.append(f"waiting for a CPU {detail['run_queue_ms']:.0f}")
    if detail["blocked_ms"] >= 1.0:
        split.append(f"asleep {detail['blocked_ms']:.0f}")
    return (", ".join(parts) or "nothing timed") + " (" + ", ".join(split) + " ms)"


def scenario_stats(sc: Scenario, probe: LagProbe, tracer: Tracer, control: ControlSleeper) -> dict[str, Any]:
    idx = [i for i in range(1, len(probe.wall)) if sc.start < probe.wall[i] <= sc.end]
    lags = [max(0.0, (probe.wall[i] - probe.wall[i - 1]) * 1e3 - probe.interval_ms) for i in idx]
    # The lag left once the time the GUI thread was runnable but had no CPU
    # is taken out: on a shared machine, what this process does to itself.
    own = [max(0.0, lag - max(0.0, (probe.queued[i] - probe.queued[i - 1]) * 1e3)) for lag, i in zip(lags, idx)
           if math.isfinite(probe.queued[i] - probe.queued[i - 1])]
    tiles = [t for t in tracer.tiles if sc.start <= t[0] <= sc.end]
    decoded = [t for t in tiles if not t[4] and t[2] > 0]
    worst = max(idx, key=lambda i: probe.wall[i] - probe.wall[i - 1]) if idx else None
    over = [i for i in idx if (probe.wall[i] - probe.wall[i - 1]) * 1e3 - probe.interval_ms > BLOCK_MS]
    paints = [s for s in tracer.spans if s[0] == "ImagePane.paintEvent" and sc.start <= s[1] <= sc.end]
    details = [gap_detail(probe, tracer, i) for i in idx if probe.wall[i] - probe.wall[i - 1] > 0.02]
    in_handlers = [d["traced_ms"] for d in details]
    detail = gap_detail(probe, tracer, worst) if worst is not None else None
    return {
        "scenario": sc.name,
        "duration_s": round(sc.end - sc.start, 3),
        "ticks": len(idx),
        "max_lag_ms": round(max(lags), 2) if lags else math.nan,
        "p99_lag_ms": round(percentile(lags, 99), 2),
        "p95_lag_ms": round(percentile(lags, 95), 2),
        "median_lag_ms": round(percentile(lags, 50), 2),
        "gaps_over_50ms": len(over),
        "max_lag_without_cpu_wait_ms": round(max(own), 2) if own else None,
        # Wall time inside the timed handlers within one gap: what the app's
        # own code held the loop for (CPU waits and paint threads included).
        "max_in_handlers_ms": round(max(in_handlers), 2) if in_handlers else 0.0,
        "gaps_over_50ms_in_handlers": sum(1 for v in in_handlers if v > BLOCK_MS),
        # Gaps over 50 ms during which the control sleeper was also held up
        # (> 20 ms late): the machine's stalls, not the app's.
        "gaps_over_50ms_shared_with_control": sum(
            1 for i in over if control.stalled_during(probe.wall[i - 1], probe.wall[i])),
        "control_max_oversleep_ms": round(max(control.overshoots_ms(sc.start, sc.end), default=0.0), 2),
        "control_oversleeps_over_50ms": sum(1 for o in control.overshoots_ms(sc.start, sc.end) if o > BLOCK_MS),
        "gaps_over_50ms_without_cpu_wait": sum(1 for v in own if v > BLOCK_MS),
        "decode_s": round(sc.done_after, 3) if sc.done_after is not None else None,
        "done": sc.done_after is not None,
        "dwell_cap_s": sc.planned_dwell,
        "tiles": len(tiles),
        "decoded_mpx": round(sum(t[2] for t in decoded) / 1e6, 4),
        "worker_decode_s": round(sum(t[3] for t in decoded), 3),
        "paints": len(paints),
        "paint_max_ms": round(max((s[2] - s[1] for s in paints), default=0.0) * 1e3, 2),
        "paint_mean_ms": round(sum(s[2] - s[1] for s in paints) / len(paints) * 1e3, 2) if paints else 0.0,
        "worst_gap": detail,
        "worst_gap_what": describe(detail) if detail else "",
        "gaps_over_50ms_detail": [gap_detail(probe, tracer, i) for i in over[:5]],
        "notes": sc.notes,
    }


# ----------------------------------------------------------------- the driver


def qwait(seconds: float, until: Callable[[], bool] | None = None, poll_ms: int = 10) -> bool:
    """Run the event loop (nested) for up to `seconds`, or until `until()`."""
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.perf_counter() + seconds
    if until is not None and until():
        return True
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(poll_ms)
    result = {"ok": False}

    def check() -> None:
        if until is not None and until():
            result["ok"] = True
            loop.quit()
        elif time.perf_counter() >= deadline:
            loop.quit()

    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    return result["ok"]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ensure_app(platform_name: str | None) -> Any:
    """The QApplication (made as run_gui makes it, on `platform_name`), or the existing one."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        if platform_name:
            os.environ["QT_QPA_PLATFORM"] = platform_name
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication([sys.argv[0]])
        app.setApplicationName("Implicit Zoom")
        app.setOrganizationName("ImplicitZoom")
    from app.theme import apply_theme

    apply_theme(app)
    return app


def run_probe(image: str | Path = SAMPLE, methods: tuple[str, ...] = ALL_METHODS,
              zooms: tuple[float, ...] = (2, 4, 8, 16), size: tuple[int, int] = (1280, 820),
              dwell_s: float = 3.0, interval_ms: float = 5.0, worker_threads: int | None = None,
              loader: Callable[[str, Any], Any] | None = None, tile: int | None = None,
              pan: bool = True, wheel: bool = True, split: bool = True, complete: str | None = "diif@8",
              complete_cap_s: float = 20.0, platform_name: str | None = "offscreen", freeze_gc: bool = True,
              log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Drive the real window through the scenarios and return the report.
    `freeze_gc`: as run_gui does after building the window (leave it off in
    a test process: frozen objects are never collected)."""
    from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
    from PySide6.QtGui import QGuiApplication, QWheelEvent
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app.render_worker import WORKER_THREADS_ENV

    log = log or (lambda _m: None)
    _app = ensure_app(platform_name)  # held for the run
    tracer = Tracer()
    tracer.install()
    saved_env = os.environ.get(WORKER_THREADS_ENV)
    if worker_threads is not None:
        os.environ[WORKER_THREADS_ENV] = str(int(worker_threads))
    tmp = tempfile.TemporaryDirectory()
    window = None
    probe: LagProbe | None = None
    control: ControlSleeper | None = None
    scenarios: list[Scenario] = []
    load_before = os.getloadavg()
    busy_before = cpu_busy()
    try:
        import app.main_window as main_window
        from app.main_window import MainWindow

        settings = QSettings(str(Path(tmp.name) / "settings.ini"), QSettings.Format.IniFormat)
        names = ["bicubic", *methods]
        window = MainWindow(device="cpu", loader=loader, methods=names if loader is not None else None,
                            settings=settings, tile=tile, panes=["bicubic", methods[0]])
        # As run_gui does (where it does: older checkouts, compared A/B, do not).
        freeze = getattr(main_window, "freeze_startup_objects", None) if freeze_gc else None
        if freeze is not None:
            freeze()
        window.resize(*size)
        window.show()
        QTest.qWaitForWindowExposed(window, 10000)
        qwait(30.0, lambda: window.service.worker.renderer is not None)
        slot = window.slots()[1]

        def all_done() -> bool:
            return window.queue_length() == 0 and all(
                s.sides[side].state in ("done", "untrained", "error")
                for s in window.slots() for side in s.active_sides())

        def scenario(name: str, action: Callable[[], None], dwell: float = dwell_s,
                     after: Callable[[], None] | None = None) -> Scenario:
            requests = tracer.render_requests
            sc = Scenario(name, time.perf_counter(), planned_dwell=dwell)
            action()
            if after is not None:
                after()
            ok = qwait(dwell, lambda: tracer.render_requests > requests and all_done())
            sc.end = time.perf_counter()
            if ok:
                sc.done_after = sc.end - sc.start
            errors = [f"{s.sides[x].method}: {s.sides[x].error}" for s in window.slots() for x in s.active_sides()
                      if s.sides[x].error]
            sc.notes.extend(errors)
            scenarios.append(sc)
            log(f"  {name}: {f'done in {sc.done_after:.2f} s' if ok else f'still decoding after {dwell:.1f} s'}")
            return sc

        def drag(pane: Any, steps: int = 30, dx: int = 12, dy: int = 6, frame_ms: int = 16) -> None:
            # A mouse drag at ~60 events/s, as a hand pans.
            centre = QPoint(pane.width() // 2, pane.height() // 2)
            QTest.mousePress(pane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre)
            pos = QPoint(centre)
            for k in range(steps):
                pos += QPoint(-dx if k < steps // 2 else dx // 2, -dy)
                QTest.mouseMove(pane, pos)
                qwait(frame_ms / 1000.0)
            QTest.mouseRelease(pane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)

        def wheel_zoom(pane: Any, notches: int, frame_ms: int = 40) -> None:
            at = QPointF(pane.width() * 0.4, pane.height() * 0.6)
            for _ in range(abs(notches)):
                event = QWheelEvent(at, QPointF(pane.mapToGlobal(at.toPoint())), QPoint(0, 0),
                                    QPoint(0, 120 if notches > 0 else -120), Qt.MouseButton.NoButton,
                                    Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
                QApplication.sendEvent(pane, event)
                qwait(frame_ms / 1000.0)

        # Worker threads as the worker set them (it runs `start` on its own thread).
        torch_threads = window.service.worker.torch_threads
        probe = LagProbe(interval_ms)
        control = ControlSleeper(interval_ms)
        control.start()
        probe.start()
        qwait(0.3)  # the idle loop: the probe's own baseline
        scenarios.append(Scenario("idle (no decode)", probe.wall[0], time.perf_counter(), planned_dwell=0.3))
        log(f"worker threads {torch_threads}, platform {QGuiApplication.platformName()}")
        scenario("open image (fit)", lambda: window.open_path(str(image)), dwell=2 * dwell_s)
        for m in methods:
            first = zooms[0]
            scenario(f"{m}: switch method, ×{first:g}",
                     lambda m=m, z=first: (window.set_zoom(z), slot.picker.set_method(m)))
            for z in zooms[1:]:
                scenario(f"{m}: zoom ×{z:g}", lambda z=z: window.set_zoom(z))
            if pan:
                scenario(f"{m}: drag-pan at ×{zooms[-1]:g}", lambda: None, after=lambda: drag(slot.pane))
        if wheel:
            scenario(f"{methods[-1]}: wheel ×{zooms[-1]:g} → ×{zooms[-1] / 4:g}", lambda: None,
                     after=lambda: wheel_zoom(slot.pane, -8))
        if split and len(methods) > 1:
            window.set_active(1)
            scenario(f"split {methods[-1]} | {methods[0]}",
                     lambda: slot.picker.set_split_method(methods[0]))
            scenario("split off", lambda: slot.picker.set_split_method(None))
        if complete:
            method, _, zoom = complete.partition("@")
            if method in methods:
                scenario(f"{method}: ×{float(zoom or 8):g} to completion",
                         lambda: (slot.picker.set_method(method), window.set_zoom(float(zoom or 8) * 1.01)),
                         dwell=complete_cap_s)
        probe.stop()
        control.stop()
        report_scenarios = [scenario_stats(sc, probe, tracer, control) for sc in scenarios]
        ticks = len(probe.wall)
        probe_start = probe.wall[0]
        pane_sizes = [list(s.pane.physical_size()) for s in window.slots()]
        platform_used = QGuiApplication.platformName()
    finally:
        if probe is not None:
            probe.stop()
        if control is not None:
            control.stop()
        if window is not None:
            window.close()
            window.deleteLater()
            qwait(0.05)
        tracer.uninstall()
        if worker_threads is not None:
            if saved_env is None:
                os.environ.pop(WORKER_THREADS_ENV, None)
            else:
                os.environ[WORKER_THREADS_ENV] = saved_env
        tmp.cleanup()

    import PySide6
    import torch

    busy_after = cpu_busy()
    wall = busy_after[0] - busy_before[0]
    ours = (busy_after[2] - busy_before[2]) / wall
    others = (busy_after[1] - busy_before[1]) / wall - ours
    measured = [s for s in report_scenarios if not s["scenario"].startswith("idle")]
    lags_over = sum(s["gaps_over_50ms"] for s in measured)
    worst = max(measured, key=lambda s: s["max_lag_ms"] if math.isfinite(s["max_lag_ms"]) else -1)
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "worker_torch_threads": torch_threads,
        "worker_threads_requested": worker_threads,
        "platform": platform_used,
        "qt": PySide6.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        # Cores busy on average during the run: this process (GUI + worker) and everything else.
        "cores_used_by_probe": round(ours, 2),
        "cores_used_by_others": round(others, 2) if math.isfinite(others) else None,
        "image": str(image),
        "gc_frozen_at_start": freeze is not None,
        "window": list(size),
        "panes_physical": pane_sizes,
        "methods": list(methods),
        "zooms": list(zooms),
        "interval_ms": interval_ms,
        "dwell_cap_s": dwell_s,
        "ticks": ticks,
        "off_gui_thread_calls": tracer.off_thread,
        # Collections while the probe ran (start-up's are left out).
        "gc": {f"gen{g}": {"count": len(d), "max_ms": round(max(d) * 1e3, 2), "total_ms": round(sum(d) * 1e3, 1)}
               for g in (0, 1, 2) for d in [[e - b for b, e, gen, _ in tracer.gc if gen == g and b >= probe_start]]
               if d},
        "summary": {
            "max_lag_ms": worst["max_lag_ms"],
            "worst_scenario": worst["scenario"],
            "worst_gap_what": worst["worst_gap_what"],
            "gaps_over_50ms": lags_over,
            "max_lag_without_cpu_wait_ms": max((s["max_lag_without_cpu_wait_ms"] or 0.0) for s in measured),
            "max_in_handlers_ms": max(s["max_in_handlers_ms"] for s in measured),
            "gaps_over_50ms_in_handlers": sum(s["gaps_over_50ms_in_handlers"] for s in measured),
            "gaps_over_50ms_shared_with_control": sum(s["gaps_over_50ms_shared_with_control"] for s in measured),
            "control_max_oversleep_ms": max(s["control_max_oversleep_ms"] for s in measured),
            "control_oversleeps_over_50ms": sum(s["control_oversleeps_over_50ms"] for s in measured),
            "gaps_over_50ms_without_cpu_wait": sum(s["gaps_over_50ms_without_cpu_wait"] for s in measured),
            "p99_lag_ms_max": max(s["p99_lag_ms"] for s in measured),
            "worker_decode_s": round(sum(s["worker_decode_s"] for s in measured), 3),
            "decoded_mpx": round(sum(s["decoded_mpx"] for s in measured), 4),
        },
        "scenarios": report_scenarios,
    }


# ----------------------------------------------------------------- output


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def markdown(report: dict[str, Any], title: str) -> str:
    lines = [f"# GUI event-loop lag: {title}", "",
             f"{report['cpu']}, {report['cores']} cores, worker torch threads **{report['worker_torch_threads']}**, "
             f"Qt platform `{report['platform']}`, PySide6 {report['qt']}, torch {report['torch']}; window "
             f"{report['window'][0]}×{report['window'][1]}, panes {report['panes_physical']}; probe interval "
             f"{report['interval_ms']:g} ms; a scenario ends when every pane is done or after "
             f"{report['dwell_cap_s']:g} s; load average {report['load_average_before']} → "
             f"{report['load_average_after']}; cores busy on average: this process {report['cores_used_by_probe']}, "
             f"other processes {report['cores_used_by_others']} (shared machine).", "",
             "Lag = gap between probe ticks − interval. *In handlers*: the longest time one gap spent inside the "
             "app's timed GUI handlers (painting, tile arrival, view changes), waits for a CPU included. *Control*: "
             "the longest oversleep of a plain thread sleeping the same interval beside the probe (how late this "
             "machine wakes a sleeping thread, whatever the app does).", "",
             "| scenario | s | max lag ms | p99 | p95 | gaps > 50 ms | in handlers max ms (> 50) | control max ms "
             "(> 50) | decode s | Mpx decoded | worker s | paints (max ms) | worst gap: what the GUI thread did |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in report["scenarios"]:
        decode = fmt(s["decode_s"], 2) if s["done"] else f"> {s['dwell_cap_s']:g}"
        lines.append(f"| {s['scenario']} | {fmt(s['duration_s'])} | {fmt(s['max_lag_ms'])} | "
                     f"{fmt(s['p99_lag_ms'])} | {fmt(s['p95_lag_ms'])} | {s['gaps_over_50ms']} | "
                     f"{fmt(s['max_in_handlers_ms'])} ({s['gaps_over_50ms_in_handlers']}) | "
                     f"{fmt(s['control_max_oversleep_ms'])} ({s['control_oversleeps_over_50ms']}) | {decode} | "
                     f"{fmt(s['decoded_mpx'], 3)} | {fmt(s['worker_decode_s'], 2)} | "
                     f"{s['paints']} ({fmt(s['paint_max_ms'])}) | {s['worst_gap_what']} |")
    sm = report["summary"]
    lines += ["", f"Worst gap over the run: **{fmt(sm['max_lag_ms'])} ms** lag ({sm['worst_scenario']}: "
              f"{sm['worst_gap_what']}); gaps over 50 ms: **{sm['gaps_over_50ms']}** "
              f"({sm['gaps_over_50ms_shared_with_control']} while the control sleeper was held up too), of which "
              f"{sm['gaps_over_50ms_in_handlers']} spent over 50 ms in the app's handlers (longest "
              f"{fmt(sm['max_in_handlers_ms'])} ms) and {sm['gaps_over_50ms_without_cpu_wait']} remain over 50 ms "
              f"once the waits for a CPU are taken out; the control sleeper overslept by up to "
              f"{fmt(sm['control_max_oversleep_ms'])} ms ({sm['control_oversleeps_over_50ms']} times > 50 ms). "
              f"Worker decode time {fmt(sm['worker_decode_s'], 2)} s for {fmt(sm['decoded_mpx'], 3)} Mpx.", ""]
    return "\n".join(lines)


def comparison(reports: list[dict[str, Any]]) -> str:
    """The runs side by side (e.g. 1 vs 2 worker threads): the summary, then scenario by scenario."""
    if len(reports) < 2:
        return ""
    heads = [f"{r['worker_torch_threads']} thr" for r in reports]

    def per_mpx(r: dict[str, Any]) -> float:
        sm = r["summary"]
        return sm["worker_decode_s"] / sm["decoded_mpx"] if sm["decoded_mpx"] else math.nan

    def completed(r: dict[str, Any]) -> str:
        done = [s for s in r["scenarios"] if s["scenario"].endswith("to completion")]
        times = [f"{fmt(s['decode_s'], 2)} s" if s["done"] else f"> {s['dwell_cap_s']:g} s" for s in done]
        return "; ".join(times) or "–"

    rows = [
        ("gaps > 50 ms (all causes)", lambda r: str(r["summary"]["gaps_over_50ms"])),
        ("of which the control sleeper was held up too (machine stalls)",
         lambda r: str(r["summary"]["gaps_over_50ms_shared_with_control"])),
        ("gaps > 50 ms inside the app's handlers", lambda r: str(r["summary"]["gaps_over_50ms_in_handlers"])),
        ("max lag ms", lambda r: fmt(r["summary"]["max_lag_ms"])),
        ("max time in handlers within one gap, ms", lambda r: fmt(r["summary"]["max_in_handlers_ms"])),
        ("worst scenario p99 lag ms", lambda r: fmt(r["summary"]["p99_lag_ms_max"])),
        ("control sleeper: max oversleep ms (> 50 ms)",
         lambda r: f"{fmt(r['summary']['control_max_oversleep_ms'])} ({r['summary']['control_oversleeps_over_50ms']})"),
        ("worker decode s per Mpx", lambda r: fmt(per_mpx(r), 2)),
        ("decode to completion", completed),
        ("cores used: probe / others", lambda r: f"{r['cores_used_by_probe']} / {r['cores_used_by_others']}"),
    ]
    lines = ["## Runs compared", "", "| | " + " | ".join(heads) + " |", "| --- |" + " --- |" * len(reports)]
    lines += [f"| {name} | " + " | ".join(get(r) for r in reports) + " |" for name, get in rows]
    lines += ["", "| scenario | " + " | ".join(f"max lag ms ({h}) | p99 ({h}) | decode s ({h})" for h in heads) + " |",
              "| --- |" + " --- | --- | --- |" * len(reports)]
    for i, s0 in enumerate(reports[0]["scenarios"]):
        cells = []
        for r in reports:
            s = r["scenarios"][i] if i < len(r["scenarios"]) else None
            if s is None:
                cells.append("– | – | –")
                continue
            decode = fmt(s["decode_s"], 2) if s["done"] else f"> {s['dwell_cap_s']:g}"
            cells.append(f"{fmt(s['max_lag_ms'])} | {fmt(s['p99_lag_ms'])} | {decode}")
        lines.append(f"| {s0['scenario']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], name: str, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = f"cpu-gui-lag-{name}"
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=1))
    runs = report.get("runs", [report])
    text = "\n".join(markdown(r, f"{name}, {r['worker_torch_threads']} worker thread(s)") for r in runs)
    md_path.write_text(text + "\n" + comparison(runs))
    return json_path, md_path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--name", required=True, help="results/cpu-gui-lag-NAME.json and .md")
    parser.add_argument("--image", default=str(SAMPLE), help="image to open (default: the bundled sample)")
    parser.add_argument("--methods", default=",".join(ALL_METHODS))
    parser.add_argument("--zooms", default="2,4,8,16")
    parser.add_argument("--size", default="1280x820", help="window size, logical pixels (run_gui's default)")
    parser.add_argument("--dwell", type=float, default=3.0, help="longest wait per scenario, seconds")
    parser.add_argument("--interval", type=float, default=5.0, help="probe timer interval, ms")
    parser.add_argument("--worker-threads", default="",
                        help="torch threads of the render worker; a list (1,2) runs one process each")
    parser.add_argument("--complete", default="diif@8",
                        help="METHOD@ZOOM decoded to completion at the end ('' to skip)")
    parser.add_argument("--complete-cap", type=float, default=20.0)
    parser.add_argument("--no-pan", action="store_true")
    parser.add_argument("--no-wheel", action="store_true")
    parser.add_argument("--no-split", action="store_true")
    parser.add_argument("--platform", default=None,
                        help="Qt platform: offscreen (default), or xcb for a real display ($DISPLAY)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--json-only", type=Path, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = [int(t) for t in args.worker_threads.split(",") if t.strip()] or [None]
    if len(threads) > 1:
        # One fresh process per thread count: the same first-use costs for each.
        runs = []
        base = list(argv if argv is not None else sys.argv[1:])
        for n in threads:
            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / "run.json"
                cmd = [sys.executable, str(Path(__file__).resolve()), *base, "--worker-threads", str(n),
                       "--json-only", str(target)]
                print(f"== worker threads {n}", flush=True)
                subprocess.run(cmd, check=True)
                runs.append(json.loads(target.read_text()))
        report = {"runs": runs, "cpu": runs[0]["cpu"], "platform": runs[0]["platform"]}
        json_path, md_path = write(report, args.name, args.out)
        print(md_path.read_text())
        print(f"wrote {json_path} and {md_path}")
        return 0

    platform_name = args.platform or "offscreen"
    if platform_name == "xcb" and not os.environ.get("DISPLAY"):
        print("--platform xcb needs $DISPLAY", file=sys.stderr)
        return 2
    w, h = (int(v) for v in args.size.lower().split("x"))
    report = run_probe(image=args.image, methods=tuple(m for m in args.methods.split(",") if m),
                       zooms=tuple(float(z) for z in args.zooms.split(",")), size=(w, h), dwell_s=args.dwell,
                       interval_ms=args.interval, worker_threads=threads[0], pan=not args.no_pan,
                       wheel=not args.no_wheel, split=not args.no_split, complete=args.complete or None,
                       complete_cap_s=args.complete_cap, platform_name=platform_name)
    if args.json_only is not None:
        args.json_only.write_text(json.dumps(report))
        return 0
    json_path, md_path = write(report, args.name, args.out)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
