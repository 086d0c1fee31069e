"""The render worker: a QObject living in its own QThread that owns the
upscalers, the device and the caches. The GUI thread never runs a model.

Requests arrive by queued signals. The worker decodes ONE tile per turn of
its event loop (`_pump` re-schedules itself with a zero timer), so between
tiles it sees new requests (which replace older ones of the same pane), the
stop flag, and generations made stale by the GUI thread. Stale requests are
dropped before they start; the GUI also discards any stale result that was
already on its way.

`RenderService` is the GUI side: it starts the thread, forwards calls, relays
every result through its own signals (queued to the GUI thread, where it
lives, so a GUI slot never runs on the worker's thread), and on shutdown sets
the stop flag, quits the thread's loop and waits for it.
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from inference.errors import first_line
from inference.geometry import Lattice
from inference.render.caches import UpscalerCache
from inference.render.scheduler import GenerationCounter, Renderer, RenderRequest
from inference.render.threads import others_running, threads_for_load
from inference.render.tiles import CPU_TILE, DEFAULT_TILE

from .transparency import TransparencyTiles

Loader = Callable[[str, Any], Any]
# Torch threads of the render worker on the CPU; unset: every core torch sees.
WORKER_THREADS_ENV = "IMPLICIT_ZOOM_WORKER_THREADS"


def _env_int(name: str, default: int | None) -> int | None:
    """An integer environment variable; unset, empty or unreadable: `default`."""
    try:
        return int(os.environ.get(name, "").strip())
    except ValueError:
        return default


def cpu_worker_threads(requested: int | None, available: int) -> int:
    """Torch threads for a CPU render worker: `requested`, else the
    IMPLICIT_ZOOM_WORKER_THREADS environment variable, else every core. The
    worker runs at a lower priority (WORKER_NICENESS), so the GUI thread still
    gets a core at once; on 2 cores, 2 threads decode 1.4-1.5x faster than 1
    with no GUI gap over 50 ms (benchmarks/results/README.md, section 5)."""
    if requested is None:
        requested = _env_int(WORKER_THREADS_ENV, None) or None
    if requested is None:
        requested = available or 1
    return max(1, int(requested))


# Niceness added to the render worker's thread (Linux), inherited by the
# torch threads it starts: when it uses every core, the GUI thread and Qt's
# paint threads still get a CPU as soon as they need one.
WORKER_NICENESS = _env_int("IMPLICIT_ZOOM_WORKER_NICE", 10) or 0


# Least time between two tiles sent to the GUI.
TILE_GAP_MS = 1


def lower_priority() -> None:
    """Lower the calling thread's CPU priority by WORKER_NICENESS, where the OS allows it."""
    if not hasattr(os, "setpriority") or WORKER_NICENESS <= 0:
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICENESS))
    except OSError:
        pass  # not permitted or not supported: decoding still works, just at normal priority


class MetricsKind(str, Enum):
    """Reference-mode scores: of the WHOLE image (evaluate_image) or of the
    VISIBLE region (with an error map). Equal to its value ("whole", "visible")."""

    WHOLE = "whole"
    VISIBLE = "visible"

    def __str__(self) -> str:
        return str(self.value)


class ExportKind(str, Enum):
    """REGION: one method on a lattice to a file; COMPARISON: several panes on
    the same lattice, side by side. Equal to its value ("region", "comparison")."""

    REGION = "region"
    COMPARISON = "comparison"

    def __str__(self) -> str:
        return str(self.value)


@dataclass
class MetricsJob:
    """Reference-mode scores for one pane side (see MetricsKind)."""

    target: Hashable
    method: str
    image_id: str
    kind: MetricsKind
    generation: int
    region: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        self.kind = MetricsKind(self.kind)  # a plain "whole" too; an unknown kind fails here, when asked


@dataclass
class MetricsResult:
    target: Hashable
    method: str
    kind: MetricsKind
    generation: int
    psnr: float | None = None
    ssim: float | None = None
    window: tuple[int, int, int, int] | None = None
    error_map: np.ndarray | None = None
    hr_zoom: tuple[float, float] | None = None
    note: str = ""
    error: str | None = None


@dataclass
class ExportJob:
    """REGION: one method on `lattice` to `path`; COMPARISON: every entry
    of `panes` (label, method) on the same lattice, side by side."""

    kind: ExportKind
    path: str
    lattice: Lattice
    image_id: str
    method: str = ""
    panes: list[tuple[str, str]] = field(default_factory=list)
    bits: int = 8
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kind = ExportKind(self.kind)  # a plain "region" too; an unknown kind fails here, when asked


@dataclass
class ExportResult:
    ok: bool
    path: str
    message: str
    cancelled: bool = False


class RenderWorker(QObject):
    tileReady = Signal(object)  # RenderedTile
    queueChanged = Signal(int)
    deviceReady = Signal(str)
    metricsReady = Signal(object)  # MetricsResult
    exportProgress = Signal(int, int)
    exportFinished = Signal(object)  # ExportResult
    methodLoaded = Signal(str, object)  # name, upscaler.weights
    weightsLoaded = Signal(str, str)  # method, path
    weightsFailed = Signal(str, str)  # path, message
    methodInspected = Signal(str, object, str)  # name, upscaler.weights (None when it cannot load), problem
    modelLoaded = Signal(str, str)  # name, path of a user's model file
    modelFailed = Signal(str, str)  # path, message (one line)
    failed = Signal(str)

    def __init__(self, device: str, loader: Loader | None, generations: GenerationCounter,
                 stop: threading.Event, cancel: threading.Event, tile: int | None = None,
                 threads: int | None = None, options: dict[str, Any] | None = None,
                 budgets: dict[str, int] | None = None) -> None:
        super().__init__()
        self._threads = threads
        # Keywords every learned method is loaded with (e.g. precision), and the
        # Renderer's cache budgets (tile_budget_bytes, feature_budget_bytes).
        self._options = dict(options or {})
        self._budgets: dict[str, Any] = dict(budgets or {})
        self.torch_threads: int | None = None  # set on the CPU once started
        self._device_name = device
        self._loader = loader
        self._generations = generations
        self._stop = stop
        self._cancel = cancel
        self._tile = tile
        self._upscalers = UpscalerCache(self._build_upscaler,
                                        on_load=lambda name, up: self.methodLoaded.emit(name, up.weights))
        self._reference: Any = None
        self._transparency = TransparencyTiles()  # the checkerboard behind transparent images
        self._background: list[MetricsJob] = []
        self._scheduled = False
        self.device: Any = None
        self.renderer: Renderer | None = None

    # -- set-up ----------------------------------------------------------------

    @Slot()
    def start(self) -> None:
        from inference.upscaler import device_label, pick_device

        lower_priority()

        try:
            self.device = pick_device(self._device_name)
            label = device_label(self.device)
        except Exception as error:  # noqa: BLE001 - e.g. --device cuda without CUDA: fall back, say so
            from inference.upscaler import pick_device as pick

            self.device = pick("cpu")
            label = f"CPU ({error})"
            self.failed.emit(f"Device {self._device_name!r} is not usable: {error}. Using the CPU.")
        if self.device.type == "cpu":
            import torch

            # Every core by default, at a lower priority (see cpu_worker_threads).
            torch.set_num_threads(cpu_worker_threads(self._threads, torch.get_num_threads()))
            self.torch_threads = torch.get_num_threads()
            self._cpus = os.cpu_count() or self.torch_threads
        tile = self._tile or (DEFAULT_TILE if self.device.type == "cuda" else CPU_TILE)
        self.renderer = Renderer(self._get_upscaler, tile=tile, generations=self._generations, **self._budgets)
        self.deviceReady.emit(label)

    def _get_upscaler(self, name: str) -> Any:
        return self._upscalers(name)

    def _build_upscaler(self, name: str) -> Any:
        from inference.reference import GROUND_TRUTH, GroundTruthUpscaler

        if name == GROUND_TRUTH:
            if self._reference is None:
                raise ValueError("the ground truth exists only in reference mode")
            return GroundTruthUpscaler(self._reference, self.device)
        from inference import user_models
        from inference.catalog import load_upscaler

        # A user's model file is always the catalog's, whatever loader builds the rest.
        custom = self._loader if not user_models.is_user_model(name) else None
        loader: Callable[..., Any] = custom if custom is not None else load_upscaler
        return loader(name, self.device, **self._options) if self._options else loader(name, self.device)

    # -- slots -------------------------------------------------------------------

    @Slot(str, object)
    def load_weights(self, path: str, offered: Any) -> None:
        """Load a checkpoint for the method it declares (a public LIIF .pth is
        LIIF's) and use it from the next tile on. On any failure the method
        keeps the upscaler it had, and `weightsFailed` says why."""
        from pathlib import Path

        from inference import checkpoint, registry
        from inference.catalog import from_checkpoint

        name = Path(path).name
        try:
            if self.device is None:
                raise checkpoint.CheckpointError("the render worker is not ready yet; try again")
            ck = checkpoint.load(path)  # read once: the checks below and the model both use it
            declared = ck.method
            if declared not in registry.method_names():
                raise checkpoint.CheckpointError(f"it names an unknown method {declared!r}")
            if offered and len(offered) == 1 and declared != offered[0]:
                raise checkpoint.CheckpointError(f"it holds weights for {declared!r}, not {offered[0]!r}")
            if offered and declared not in offered:
                raise checkpoint.CheckpointError(f"it holds weights for {declared!r}, which this window does not offer")
            upscaler = from_checkpoint(ck, path, self.device, **self._options)
            # Described here, where a failure is still a refusal (one dialog):
            # raised later, in the window's slots, it would leave no dialog and
            # the status bar on "Loading weights…".
            _ = upscaler.weights.summary
        except Exception as error:  # noqa: BLE001 - a refused file is a message; the old weights stay
            text = str(error.args[0] if isinstance(error, KeyError) and error.args else error)
            if not isinstance(error, checkpoint.CheckpointError):
                text = f"{type(error).__name__}: {text}"
            self.weightsFailed.emit(path, text if text.startswith(name) or path in text else f"{name}: {text}")
            return
        if self.renderer is not None:
            self.renderer.forget_method(declared)
        self._upscalers.put(declared, upscaler)  # says methodLoaded
        self.weightsLoaded.emit(declared, path)

    @Slot(str)
    def load_model(self, path: str) -> None:
        """Load a user's model file (inference.user_models) as a method; `modelLoaded`
        gives its name, or `modelFailed` says in one line why the file is refused."""
        from inference import user_models

        try:
            if self.device is None:
                raise RuntimeError("the render worker is not ready yet; try again")
            fresh = user_models.find(path) is None
            name = user_models.add(path)
            try:
                upscaler = self._build_upscaler(name)
            except BaseException:
                if fresh:
                    user_models.remove(name)
                raise
        except Exception as error:  # noqa: BLE001 - a refused file is one line; nothing else changes
            text = first_line(error)
            self.modelFailed.emit(path, text)
            return
        if self.renderer is not None:
            self.renderer.forget_method(name)
        self._upscalers.put(name, upscaler)  # says methodLoaded
        self.modelLoaded.emit(name, path)

    @Slot(object)
    def inspect_methods(self, names: Any) -> None:
        """Load each method the way the panes do (the catalog's load path) and
        say what weights it has, or why it cannot load; nothing is decoded."""
        for name in names:
            if self._stop.is_set():
                return
            try:
                if self.device is None:
                    raise RuntimeError("the render worker is not ready yet")
                self.methodInspected.emit(name, self._get_upscaler(name).weights, "")
            except Exception as error:  # noqa: BLE001 - an unusable file is a row in the dialog, not a crash
                text = str(error.args[0] if isinstance(error, KeyError) and error.args else error)
                self.methodInspected.emit(name, None, text.splitlines()[0] if text else type(error).__name__)

    @Slot(str, object, object)
    def set_image(self, image_id: str, rgb: np.ndarray, alpha: np.ndarray | None = None) -> None:
        if self.renderer is None:
            return
        self.renderer.set_image(image_id, rgb)
        self._transparency.set_image(image_id, rgb, alpha, self.renderer.has_image)
        self._background = [j for j in self._background if self.renderer.has_image(j.image_id)]

    @Slot(object)
    def set_reference(self, reference: Any) -> None:
        from inference.reference import GROUND_TRUTH

        self._reference = reference
        self._upscalers.forget(GROUND_TRUTH)
        if self.renderer is not None:
            self.renderer.forget_method(GROUND_TRUTH)

    @Slot(object)
    def submit(self, request: RenderRequest) -> None:
        if self.renderer is None or self._stop.is_set():
            return
        if self._generations.is_stale(request.generation, request.target):
            return  # superseded before it started
        self._transparency.requested(request.target, request.image_id)
        self.renderer.submit(request)
        self._schedule()

    @Slot(object)
    def request_metrics(self, job: MetricsJob) -> None:
        self._background = [j for j in self._background if (j.target, j.kind) != (job.target, job.kind)]
        self._background.append(job)
        self._schedule()

    @Slot(object)
    def export(self, job: ExportJob) -> None:
        """Runs to the end (or cancel) here; progress goes out as signals."""
        from inference import imageio
        from inference.export import ExportError, export_panes, export_region
        from inference.piecewise import Cancelled

        # The cancel flag is cleared by RenderService.export when the job is
        # sent, not here: a cancel clicked while the job waited must count.

        def cancelled() -> bool:
            return self._cancel.is_set() or self._stop.is_set()

        def progress(done: int, total: int) -> None:
            self.exportProgress.emit(int(done), int(total))

        try:
            if self.renderer is None:
                raise ExportError("the worker is not ready")
            # Tiles the panes already decoded on this lattice are copied, not decoded again.
            if job.kind is ExportKind.REGION:
                upscaler, feats = self.renderer.encoded(job.method, job.image_id)
                path = export_region(upscaler, feats, job.lattice, job.path, bits=job.bits,
                                     metadata=job.metadata, progress=progress, cancel=cancelled,
                                     reuse=self.renderer.cached_tiles(job.method, job.image_id),
                                     alpha=self._transparency.plane(job.image_id))
            elif job.kind is ExportKind.COMPARISON:
                renderer = self.renderer

                def prepare(method: str) -> Any:
                    return (*renderer.encoded(method, job.image_id), renderer.cached_tiles(method, job.image_id))

                path = export_panes(job.panes, prepare, job.lattice, job.path, bits=job.bits,
                                    metadata=job.metadata, progress=progress, cancel=cancelled)
            else:
                raise ExportError(f"unknown export kind {job.kind!r}")
            dropped = job.kind is ExportKind.REGION and self._transparency.plane(job.image_id) is not None \
                and not imageio.holds_alpha(path)
            self.exportFinished.emit(ExportResult(True, str(path), f"Saved {path}" + (
                f" (its transparency was dropped: {imageio.output_format(path)} cannot hold it)" if dropped else "")))
        except Cancelled:
            self.exportFinished.emit(ExportResult(False, job.path, "Export cancelled; nothing was written.", True))
        except Exception as error:  # noqa: BLE001 - any failure of an export is its message, never the worker's end
            self.exportFinished.emit(ExportResult(False, job.path, f"{error}"))
        self._schedule()

    # -- the loop ---------------------------------------------------------------

    def _schedule(self, delay_ms: int = 0) -> None:
        if not self._scheduled and not self._stop.is_set():
            self._scheduled = True
            QTimer.singleShot(delay_ms, self._pump)

    @Slot()
    def _pump(self) -> None:
        self._scheduled = False
        if self._stop.is_set() or self.renderer is None:
            return
        self._fit_threads_to_load()
        tile = self.renderer.next_result()
        if tile is not None:
            self.tileReady.emit(self._transparency.shown(tile))
        elif self._background:
            self._run_metrics(self._background.pop(0))
        pending = self.renderer.pending() + len(self._background)
        self.queueChanged.emit(pending)
        if pending:
            # Cached tiles come out in microseconds: paced, the GUI takes them
            # a few at a time instead of a whole pane's worth in one turn of
            # its loop (80-100 tiles: 40-90 ms). Model tiles take far longer.
            self._schedule(TILE_GAP_MS if tile is not None else 0)

    def _fit_threads_to_load(self) -> None:
        """Before each tile on the CPU: as many torch threads as other
        processes leave cores free (see threads_for_load)."""
        if self.torch_threads is None:
            return
        import torch

        wanted = threads_for_load(self.torch_threads, self._cpus, others_running())
        if wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)

    def _run_metrics(self, job: MetricsJob) -> None:
        from inference.piecewise import Cancelled
        from inference.reference import visible_score, whole_image_score

        channel = ("metrics", job.target, job.kind)
        if self._generations.is_stale(job.generation, channel) or self._reference is None:
            return
        ref = self._reference
        result = MetricsResult(job.target, job.method, job.kind, job.generation)

        def should_stop() -> bool:
            return self._stop.is_set() or self._generations.is_stale(job.generation, channel)

        try:
            upscaler = self._get_upscaler(job.method)
            if job.kind is MetricsKind.WHOLE:
                result.psnr, result.ssim = whole_image_score(upscaler, ref, should_stop)
            else:
                if self.renderer is None or job.region is None:
                    return
                upscaler, feats = self.renderer.encoded(job.method, job.image_id)
                visible = visible_score(upscaler, feats, ref, job.region, should_stop)
                if visible is None:
                    return
                score = visible.score
                result.psnr, result.ssim, result.note = score.psnr, score.ssim, score.note
                result.window, result.error_map, result.hr_zoom = visible.window, score.error_map, visible.hr_zoom
        except Cancelled:
            return
        except Exception as error:  # noqa: BLE001 - a failed score is shown as the pane's error, not a crash
            result.error = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        self.metricsReady.emit(result)


class RenderService(QObject):
    """GUI-side handle on the worker thread. The worker's results arrive as
    this object's signals of the same names, on the GUI thread."""

    tileReady = Signal(object)
    queueChanged = Signal(int)
    deviceReady = Signal(str)
    metricsReady = Signal(object)
    exportProgress = Signal(int, int)
    exportFinished = Signal(object)
    methodLoaded = Signal(str, object)
    weightsLoaded = Signal(str, str)
    weightsFailed = Signal(str, str)
    methodInspected = Signal(str, object, str)
    modelLoaded = Signal(str, str)
    modelFailed = Signal(str, str)
    failed = Signal(str)
    RESULTS = ("tileReady", "queueChanged", "deviceReady", "metricsReady", "exportProgress", "exportFinished",
               "methodLoaded", "weightsLoaded", "weightsFailed", "methodInspected", "modelLoaded", "modelFailed",
               "failed")

    _set_image = Signal(str, object, object)
    _set_reference = Signal(object)
    _submit = Signal(object)
    _metrics = Signal(object)
    _export = Signal(object)
    _load_weights = Signal(str, object)
    _inspect = Signal(object)
    _load_model = Signal(str)

    def __init__(self, device: str = "auto", loader: Loader | None = None, tile: int | None = None,
                 parent: QObject | None = None, threads: int | None = None, options: dict[str, Any] | None = None,
                 budgets: dict[str, int] | None = None, generations: GenerationCounter | None = None) -> None:
        """`generations`: a replaced service's counter, so that its results still
        on their way to the GUI stay stale for the new one."""
        super().__init__(parent)
        self.device_name = device
        self.generations = generations or GenerationCounter()
        self.stop_event = threading.Event()
        self.cancel_event = threading.Event()
        self.worker_thread = QThread()
        self.worker_thread.setObjectName("render-worker")
        self.worker = RenderWorker(device, loader, self.generations, self.stop_event, self.cancel_event, tile,
                                   threads, options, budgets)
        self.worker.moveToThread(self.worker_thread)
        # Signal to signal, queued: Qt delivers them in this object's thread
        # (the GUI's) whatever the receiver connected to them is.
        for name in self.RESULTS:
            getattr(self.worker, name).connect(getattr(self, name), Qt.ConnectionType.QueuedConnection)
        self.worker_thread.started.connect(self.worker.start)
        self._set_image.connect(self.worker.set_image)
        self._set_reference.connect(self.worker.set_reference)
        self._submit.connect(self.worker.submit)
        self._metrics.connect(self.worker.request_metrics)
        self._export.connect(self.worker.export)
        self._load_weights.connect(self.worker.load_weights)
        self._inspect.connect(self.worker.inspect_methods)
        self._load_model.connect(self.worker.load_model)
        self.worker_thread.start()
        self._running = True

    def set_image(self, image_id: str, rgb: np.ndarray, alpha: np.ndarray | None = None) -> None:
        """Show `rgb` (composited on grey) under `image_id`; `alpha` (the opened
        file's, None when opaque) puts a checkerboard behind its transparent areas."""
        self._set_image.emit(image_id, rgb, alpha)

    def set_reference(self, reference: Any) -> None:
        self._set_reference.emit(reference)

    def submit(self, request: RenderRequest) -> None:
        self._submit.emit(request)

    def request_metrics(self, job: MetricsJob) -> None:
        self._metrics.emit(job)

    def export(self, job: ExportJob) -> None:
        self.cancel_event.clear()
        self._export.emit(job)

    def load_weights(self, path: str, offered: list[str] | None = None) -> None:
        self._load_weights.emit(str(path), list(offered or []))

    def load_model(self, path: str) -> None:
        """Load a user's model file in the worker; answers come as modelLoaded or modelFailed."""
        self._load_model.emit(str(path))

    def inspect_methods(self, names: list[str]) -> None:
        """Ask what weights each method has; answers come as methodInspected."""
        self._inspect.emit(list(names))

    def cancel_export(self) -> None:
        self.cancel_event.set()

    def is_running(self) -> bool:
        return self._running

    def shutdown(self) -> None:
        """Stop the worker between tiles and wait for its thread to end."""
        if not self._running:
            return
        self._running = False
        self.stop_event.set()
        self.cancel_event.set()
        self.worker_thread.quit()
        # In short waits, back in Python between them: a wait that held the
        # GIL for its whole length could never end while the worker needs the
        # GIL to finish its tile.
        while not self.worker_thread.wait(50):
            pass
