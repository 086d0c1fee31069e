"""The main window: a grid of 1-8 panes sharing one view, the zoom slider,
menus and toolbar, reference mode and export.

The window holds the one `ViewState`. Panes and the slider only *propose*
views (signals); `apply_view` clamps the proposal, pushes it to every pane
and the slider with non-emitting setters (so nothing loops), and schedules
render requests: soon for wheel, pan and keys, after the zoom rests while the
slider is dragged. Decoding happens in the render worker's thread.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable

import numpy as np
from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QGridLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

import resources
from app.image_opener import ImageOpener, OpenResult
from app.render_worker import ExportJob, ExportResult, MetricsJob, MetricsResult, RenderService
from inference.geometry import Lattice, Region
from inference.render import (
    DOWNSCALE_METHOD,
    DOWNSCALE_NOTE,
    MAX_ZOOM,
    RenderedTile,
    RenderRequest,
    ViewState,
    clip_to_image,
    fit_zoom,
    plan_tiles,
    rect_lattice,
    to_display,
)
from widgets.image_pane import ImagePane, ImageSource, SideStatus
from widgets.method_picker import MethodEntry, MethodPicker
from widgets.pane_label import format_estimate
from widgets.zoom_slider import ZoomSlider, format_zoom

SAMPLE_IMAGE = resources.sample_image()
OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp *.gif);;All files (*)"
WEIGHTS_FILTER = "Checkpoints (*.safetensors *.pth *.pt);;All files (*)"
MAX_PANES = 8
MAX_RECENT = 8
# Wheel, drag and key changes are coalesced this long before requesting tiles;
# while the zoom slider is dragged, refining waits until it has rested this long.
COALESCE_MS = 30
REST_MS = 150
METRICS_REST_MS = 350
# How often a rendering pane's elapsed time, progress and estimate are redrawn.
PROGRESS_MS = 500
GRID = {1: (1, 1), 2: (1, 2), 3: (1, 3), 4: (2, 2), 5: (2, 3), 6: (2, 3), 7: (2, 4), 8: (2, 4)}
SIDES = ("a", "b")
# Notes from the renderer, as a pane's label says them (the tooltip has the whole note).
LABEL_NOTES = {DOWNSCALE_NOTE: "zoom \u2264 1: bicubic (models add nothing)"}


def qta_icon(name: str) -> Any:
    try:
        import qtawesome as qta

        return qta.icon(name, color=QApplication.palette().text().color())
    except Exception:  # icons are decoration: never fail the window over one
        from PySide6.QtGui import QIcon

        return QIcon()


@dataclass
class SideState:
    method: str = ""
    generation: int = 0
    state: str = ""
    decoded_any: bool = False
    seconds: float | None = None  # the finished render's wall time; None while it runs
    note: str = ""
    error: str | None = None
    metrics: dict[str, MetricsResult] = field(default_factory=dict)
    started: float | None = None  # perf_counter() when the current render was requested
    full_done: int = 0  # full-resolution tiles of the current render shown so far
    full_total: int = 0  # ... of how many (0: not known yet)
    full_began: float | None = None  # when its first full tile started decoding

    def busy(self) -> bool:
        return self.state in ("preview", "refining")

    def elapsed(self, now: float) -> float | None:
        """The current render's time: running while it runs, final once done."""
        if self.busy() and self.started is not None:
            return now - self.started
        return self.seconds

    def remaining_s(self, now: float) -> float | None:
        """The estimate of the time left: the pace of its full tiles so far."""
        if not self.busy() or self.full_began is None or not self.full_done or not self.decoded_any:
            return None
        left = self.full_total - self.full_done
        return (now - self.full_began) / self.full_done * left if left > 0 else None


class PaneSlot:
    """One pane of the grid: its picker, its image pane, and per-side state."""

    def __init__(self, uid: int, entries: list[MethodEntry], method: str) -> None:
        self.uid = uid
        self.frame = QFrame()
        self.frame.setFrameShape(QFrame.Shape.NoFrame)
        self.picker = MethodPicker(entries)
        self.pane = ImagePane()
        layout = QVBoxLayout(self.frame)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.picker)
        layout.addWidget(self.pane, 1)
        self.sides: dict[str, SideState] = {"a": SideState(method), "b": SideState()}
        if method in self.picker.names():
            self.picker.set_method(method)
        self.sides["a"].method = self.picker.method() or ""

    def active_sides(self) -> list[str]:
        return ["a", "b"] if self.pane.is_split() and self.sides["b"].method else ["a"]

    def target(self, side: str) -> tuple[int, str]:
        return (self.uid, side)


class MainWindow(QMainWindow):
    imageOpened = Signal(str)
    openFinished = Signal(str, bool)  # path, shown (False: refused, the dialog said why); the newest open only
    paneUpdated = Signal(object)  # target
    exportDone = Signal(object)  # ExportResult
    weightsChanged = Signal(str, str)  # method ("" when refused), path
    batchFinished = Signal(object)  # app.batch.BatchReport

    def __init__(self, device: str = "auto", loader: Callable[[str, Any], Any] | None = None,
                 methods: list[str] | None = None, settings: QSettings | None = None, tile: int | None = None,
                 panes: list[str] | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Implicit Zoom")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("ImplicitZoom", "Implicit Zoom")
        # A device named on the command line wins over the one in Preferences until Preferences change it.
        self._device_arg = device
        self._loader = loader
        self._tile = tile
        self.preferences = self._validated_preferences(self._stored_preferences())
        self.service = self._make_service()

        self.method_names, method_error = self._discover_methods(methods)
        self.weights_known: dict[str, Any] = {}
        self.weights_paths: dict[str, str] = {}  # method -> the file loaded through File › Load Weights
        self._inspected: dict[str, tuple[Any, str]] = {}  # method -> (WeightsInfo or None, problem)
        self.methods_dialog: Any = None
        self.loaded: Any = None  # LoadedImage of the opened file
        self.image_rgb: np.ndarray | None = None  # what the panes show (LR in reference mode)
        self.image_id = ""
        self._image_counter = 0
        self.reference: Any = None
        self.view = ViewState(0.0, 0.0, 1.0)
        self.selection: tuple[float, float, float, float] | None = None
        self._fit_pending = False
        self._slots: list[PaneSlot] = []
        self._uid = 0
        self._active = 0
        self._queue = 0
        self._export_dialog: QProgressDialog | None = None
        self._keep_view_generation: int | None = None  # an open that keeps the view (browsing)
        from app.batch_dialog import FolderUpscale

        self.folder_upscale = FolderUpscale(self)
        self.folder_upscale.finished.connect(self.batchFinished)
        self._flip_previous: dict[int, str] = {}  # pane uid -> the method it showed before (View › Flip Method)
        self._closing = False
        self.opener = ImageOpener(self)
        self.opener.finished.connect(self._on_image_ready)

        self._render_timer = QTimer(self, singleShot=True, interval=COALESCE_MS)
        self._render_timer.timeout.connect(self.request_render)
        self._rest_timer = QTimer(self, singleShot=True, interval=REST_MS)
        self._rest_timer.timeout.connect(self.request_render)
        self._metrics_timer = QTimer(self, singleShot=True, interval=METRICS_REST_MS)
        self._metrics_timer.timeout.connect(self.request_visible_metrics)
        self._progress_timer = QTimer(self, interval=PROGRESS_MS)
        self._progress_timer.timeout.connect(self._tick_progress)

        self.zoom_slider = ZoomSlider(1.0, MAX_ZOOM)
        self.zoom_slider.zoomChanged.connect(self._slider_zoom)
        self.zoom_slider.zoomCommitted.connect(self._slider_committed)
        self._grid_host = QWidget()
        self._grid = QGridLayout(self._grid_host)
        self._grid.setContentsMargins(4, 4, 4, 4)
        self._grid.setSpacing(4)
        self.setCentralWidget(self._grid_host)
        self._build_actions()
        self._build_status_bar()
        remembered = [] if panes else self._remembered_panes()
        for name in panes or [p.method for p in remembered] or self._default_panes():
            self.add_pane(name, rearrange=False)
        self._arrange()
        for slot, memory in zip(self._slots, remembered):
            if memory.split:
                slot.picker.set_split_method(memory.split)
                slot.pane.set_split(True, memory.fraction)
        geometry = self.settings.value("window/geometry")
        if not (geometry and self.restoreGeometry(geometry)):
            self.resize(1280, 820)
        if method_error:
            self.statusBar().showMessage(method_error, 15000)

    # ------------------------------------------------------------------ set-up

    def _make_service(self, generations: Any = None) -> RenderService:
        prefs = self.preferences
        device = self._device_arg if self._device_arg not in (None, "", "auto") else prefs.device
        service = RenderService(device, self._loader, self._tile, parent=self, threads=prefs.threads(),
                                options=prefs.upscaler_options(),
                                budgets={"tile_budget_bytes": prefs.tile_budget_bytes(),
                                         "feature_budget_bytes": prefs.feature_budget_bytes()},
                                generations=generations)
        worker = service.worker
        worker.tileReady.connect(self._on_tile)
        worker.queueChanged.connect(self._on_queue)
        worker.deviceReady.connect(self._on_device)
        worker.metricsReady.connect(self._on_metrics)
        worker.exportProgress.connect(self._on_export_progress)
        worker.exportFinished.connect(self._on_export_finished)
        worker.methodLoaded.connect(self._on_method_loaded)
        worker.weightsLoaded.connect(self._on_weights_loaded)
        worker.weightsFailed.connect(self._on_weights_failed)
        worker.methodInspected.connect(self._on_method_inspected)
        worker.failed.connect(self._on_worker_failed)
        return service

    def _stored_preferences(self) -> Any:
        from app.preferences import load

        return load(self.settings.value)

    @staticmethod
    def _cuda_available() -> bool:
        import torch

        return torch.cuda.is_available()

    @staticmethod
    def _precisions(device: str) -> list[str]:
        import torch

        from app.preferences import precisions_for
        from inference.precision import native_bf16

        return precisions_for(device, lambda d: native_bf16(torch.device(d)))

    def _validated_preferences(self, prefs: Any) -> Any:
        import torch

        from app.preferences import validated
        from inference.precision import native_bf16

        return validated(prefs, self._cuda_available(), lambda d: native_bf16(torch.device(d)))

    def preferences_dialog(self) -> None:
        from app.preferences_dialog import PreferencesDialog

        dialog = PreferencesDialog(self.preferences, self._cuda_available(), self._precisions, self)
        if dialog.exec() == PreferencesDialog.DialogCode.Accepted:
            self.apply_preferences(dialog.preferences())

    def apply_preferences(self, prefs: Any) -> bool:
        """Store `prefs` (made valid here) and, if anything changed, restart the
        render worker with them: panes decode again, loaded weights are reloaded.
        Returns whether the worker was restarted."""
        from app.preferences import stored

        prefs = self._validated_preferences(prefs)
        for key, value in stored(prefs).items():
            self.settings.setValue(key, value)
        if prefs == self.preferences and self._device_arg in (None, "", "auto", prefs.device):
            return False
        self.preferences = prefs
        self._device_arg = "auto"  # from now on Preferences decide
        self._restart_service()
        return True

    def _restart_service(self) -> None:
        old = self.service
        old.worker.blockSignals(True)
        old.shutdown()
        # The old counter goes on: results of the old worker still queued for the GUI stay stale.
        self.service = self._make_service(old.generations)
        old.deleteLater()
        self.device_label.setText("Device: starting\u2026")
        self.weights_known.clear()
        self._inspected.clear()
        if self.image_rgb is not None:
            self.service.set_image(self.image_id, self.image_rgb)
        if self.reference is not None:
            self.service.set_reference(self.reference)
        for method, path in self.weights_paths.items():
            self.service.load_weights(path, [method])
        for slot in self._slots:
            for side in SIDES:
                slot.sides[side].metrics.clear()
                slot.sides[side].seconds = None
                slot.pane.clear_tiles(side)
            self._request_whole_metrics(slot)
        self.request_render()
        self.statusBar().showMessage(f"Preferences applied: {self._preferences_summary()}", 8000)

    def _preferences_summary(self) -> str:
        p = self.preferences
        threads = "automatic" if not p.worker_threads else str(p.worker_threads)
        return (f"device {p.device}, {p.precision}, worker threads {threads}, caches {p.tile_cache_mb} MiB tiles "
                f"+ {p.feature_cache_mb} MiB features")

    def _discover_methods(self, methods: list[str] | None) -> tuple[list[str], str]:
        if methods is not None:
            return list(methods), ""
        try:
            from inference.catalog import all_methods

            return all_methods(), ""
        except Exception as error:  # a broken method file must not keep the viewer from opening
            return ["bicubic"], f"Only bicubic is available: the method registry failed to load ({error})"

    def _entries(self) -> list[MethodEntry]:
        entries = []
        for name in self.method_names:
            entries.append(MethodEntry(name, self._method_label(name), self._method_tooltip(name)))
        if self.reference is not None:
            from inference.reference import GROUND_TRUTH

            entries.append(MethodEntry(GROUND_TRUTH, "Ground truth",
                                       "The opened image itself (reference mode): what the methods try to recover"))
        return entries

    def display_name(self, name: str) -> str:
        from inference.reference import GROUND_TRUTH

        if name == GROUND_TRUTH:
            return "Ground truth"
        try:
            from inference.catalog import display_name

            return display_name(name)
        except Exception:
            return name

    def _is_untrained(self, name: str) -> bool:
        if name in self.weights_known:
            return not self.weights_known[name].trained
        if name.startswith("ground"):
            return False
        try:
            from inference.catalog import is_interpolation, shipped_status

            return not is_interpolation(name) and shipped_status(name) != "trained"
        except Exception:
            return True

    def _method_label(self, name: str) -> str:
        label = self.display_name(name)
        if not self._is_untrained(name):
            return label
        in_training = (self.weights_known[name].in_training if name in self.weights_known
                       else self._shipped_status(name) == "in training")
        return f"{label} (in training)" if in_training else f"{label} (untrained)"

    @staticmethod
    def _shipped_status(name: str) -> str:
        try:
            from inference.catalog import shipped_status

            return shipped_status(name)
        except Exception:
            return "untrained"

    def _method_tooltip(self, name: str) -> str:
        if name in self.weights_known:
            return f"{self.display_name(name)}: {self.weights_known[name].summary}"
        if name == "bicubic":
            return "Bicubic interpolation (Pillow's kernel): the baseline"
        try:
            from inference import catalog

            if catalog.is_interpolation(name):
                return f"{catalog.display_name(name)}: {catalog.paper(name)}"
            status = {"trained": "shipped weights",
                      "in training": "shipped weights, in training (below the trained floor)"}.get(
                self._shipped_status(name), "untrained: random weights")
            return f"{catalog.display_name(name)}: {catalog.paper(name)}\n{status}"
        except Exception:
            return name

    def _default_panes(self) -> list[str]:
        saved = self.settings.value("panes")
        if isinstance(saved, str):
            saved = [saved]
        if isinstance(saved, list):
            names = [str(n) for n in saved if str(n) in self.method_names][:MAX_PANES]
            if names:
                return names
        learned = self._learned_methods()
        return ["bicubic", learned[0]] if learned else self.method_names[:1]

    def _remembered_panes(self) -> list[Any]:
        from app.settings import decode_panes

        return decode_panes(self.settings.value("session/panes"), self.method_names, MAX_PANES)

    def _remember_session(self) -> None:
        """What a relaunch restores: the panes with their methods and splits, the window, the image."""
        from app.settings import PaneMemory, encode_panes

        self.settings.setValue("panes", [s.sides["a"].method for s in self._slots])
        self.settings.setValue("session/panes", encode_panes([
            PaneMemory(s.sides["a"].method, s.sides["b"].method if s.pane.is_split() and s.sides["b"].method else None,
                       s.pane.split_fraction()) for s in self._slots]))
        self.settings.setValue("window/geometry", self.saveGeometry())
        if self.loaded is not None:
            self.settings.setValue("session/image", str(Path(self.loaded.path).resolve()))

    def startup_image(self, explicit: str | None = None) -> str:
        """What a launch opens: the image named on the command line, else the
        last one if it still exists, else the bundled sample."""
        from app.settings import restorable_image

        return explicit or restorable_image(self.settings.value("session/image")) or str(SAMPLE_IMAGE)

    def _learned_methods(self) -> list[str]:
        try:
            from inference.catalog import is_interpolation
        except Exception:
            return [m for m in self.method_names if m not in ("bicubic", "nearest")]
        return [m for m in self.method_names if not is_interpolation(m)]

    def _action(self, text: str, slot: Callable, shortcut: Any = None, icon: str | None = None,
                tip: str = "", checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if icon:
            action.setIcon(qta_icon(icon))
            self._icons.append((action, icon))
        action.setCheckable(checkable)
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{tip or text.replace('&', '').rstrip('.…')}" + (f" ({keys})" if keys else ""))
        action.setStatusTip(tip or text)
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        self._icons: list[tuple[QAction, str]] = []
        A = self._action
        self.open_action = A("&Open\u2026", self.open_dialog, QKeySequence.StandardKey.Open, "fa5s.folder-open",
                             "Open an image (PNG, JPEG, WebP, TIFF, BMP)")
        self.load_weights_action = A("Load &Weights\u2026", lambda: self.load_weights_dialog(), "Ctrl+Shift+L",
                                     "fa5s.weight-hanging", "Load a checkpoint (.safetensors, or a public LIIF "
                                     ".pth) for the method it declares")
        self.export_view_action = A("&Export View\u2026", lambda: self.export_dialog("view"), "Ctrl+E",
                                    "fa5s.file-export", "Export the current view or selection from a pane")
        self.export_whole_action = A("Export &Whole Image\u2026", lambda: self.export_dialog("whole"),
                                     "Ctrl+Shift+E", "fa5s.file-image", "Super-resolve the whole image at a scale")
        self.export_comparison_action = A("Export &Comparison\u2026", self.export_comparison_dialog, "Ctrl+Alt+E",
                                          "fa5s.images", "The same crop from every pane, labelled, side by side")
        self.upscale_folder_action = A("&Upscale Folder\u2026", self.upscale_folder_dialog, "Ctrl+Shift+U",
                                       "fa5s.layer-group", "Upscale every image of a folder with one method, "
                                       "into another folder (as `main.py upscale FOLDER -o OUT/`)")
        self.quit_action = A("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.zoom_in_action = A("Zoom &In", lambda: self.zoom_by(2 ** 0.5), QKeySequence.StandardKey.ZoomIn,
                                "fa5s.search-plus")
        self.zoom_out_action = A("Zoom &Out", lambda: self.zoom_by(2 ** -0.5), QKeySequence.StandardKey.ZoomOut,
                                 "fa5s.search-minus")
        self.fit_action = A("&Fit", self.fit, "Ctrl+0", "fa5s.compress-arrows-alt", "Show the whole image")
        self.one_action = A("&1:1", lambda: self.set_zoom(1.0), "Ctrl+1", "fa5s.expand",
                            "One image pixel per screen pixel")
        self.add_pane_action = A("&Add Pane", lambda: self.add_pane(), "Ctrl+T", "fa5s.plus-square",
                                 "Add a pane (up to 8)")
        self.remove_pane_action = A("&Remove Pane", lambda: self.remove_pane(self._active), "Ctrl+W",
                                    "fa5s.minus-square", "Remove the active pane")
        self.split_action = A("&Split Active Pane", self.toggle_split, "Ctrl+\\", "fa5s.columns",
                              "Two methods in the active pane, with a draggable divider", checkable=True)
        self.select_action = A("&Select Region", self.toggle_select_mode, "Ctrl+R", "fa5s.vector-square",
                               "Drag to select a region to export (or Shift+drag at any time)", checkable=True)
        self.reference_action = A("&Reference Mode\u2026", self.toggle_reference, "Ctrl+G", "fa5s.balance-scale",
                                  "Treat this image as ground truth, simulate \u00d7s low resolution, "
                                  "and score every pane (PSNR/SSIM on Y)", checkable=True)
        self.error_map_action = A("&Error Map", self.toggle_error_map, "Ctrl+M", "fa5s.fire",
                                  "Overlay |Y error| against the ground truth (reference mode)", checkable=True)
        self.error_map_action.setEnabled(False)
        self.flip_action = A("&Flip Method", self.flip_active_pane, "F", "fa5s.exchange-alt",
                             "Flip the active pane between its method and the one it showed before "
                             "(the ground truth in reference mode, else bicubic)")
        self.next_image_action = A("&Next Image", lambda: self.browse(1), QKeySequence.StandardKey.MoveToNextPage,
                                   "fa5s.step-forward", "The next image in the same folder, keeping the view")
        self.previous_image_action = A("&Previous Image", lambda: self.browse(-1),
                                       QKeySequence.StandardKey.MoveToPreviousPage, "fa5s.step-backward",
                                       "The previous image in the same folder, keeping the view")
        self.copy_view_action = A("&Copy View", self.copy_view, QKeySequence.StandardKey.Copy, "fa5s.copy",
                                  "Copy what the active pane shows to the clipboard, as an image")
        self.fullscreen_action = A("&Full Screen", self.toggle_fullscreen, "F11", "fa5s.expand-arrows-alt",
                                   checkable=True)
        self.labels_action = A("Pane &Labels", self.toggle_labels, "L", tip="Show or hide the labels in the panes",
                               checkable=True)
        self.labels_action.setChecked(True)
        self.preferences_action = A("&Preferences\u2026", self.preferences_dialog, "Ctrl+,",
                                    "fa5s.cog", "Device, precision, worker threads and cache sizes")
        self.about_action = A("&About", self.about)
        self.methods_action = A("&Methods and Weights\u2026", self.show_methods, icon="fa5s.info-circle",
                                tip="Each method: trained or not, source, licence, steps, metrics; load weights")

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu(qta_icon("fa5s.history"), "Open &Recent")
        file_menu.addAction(self.next_image_action)
        file_menu.addAction(self.previous_image_action)
        file_menu.addSeparator()
        file_menu.addAction(self.load_weights_action)
        file_menu.addSeparator()
        for a in (self.export_view_action, self.export_whole_action, self.export_comparison_action,
                  self.upscale_folder_action):
            file_menu.addAction(a)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = menu.addMenu("&Edit")
        edit_menu.addAction(self.copy_view_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.preferences_action)
        view_menu = menu.addMenu("&View")
        for a in (self.zoom_in_action, self.zoom_out_action, self.fit_action, self.one_action):
            view_menu.addAction(a)
        view_menu.addSeparator()
        for a in (self.add_pane_action, self.remove_pane_action, self.split_action, self.flip_action):
            view_menu.addAction(a)
        view_menu.addSeparator()
        view_menu.addAction(self.labels_action)
        view_menu.addAction(self.fullscreen_action)
        count_menu = view_menu.addMenu("&Panes")
        group = QActionGroup(self)
        for n in range(1, MAX_PANES + 1):
            a = QAction(str(n), self, checkable=True)
            a.triggered.connect(lambda _c=False, n=n: self.set_pane_count(n))
            group.addAction(a)
            count_menu.addAction(a)
        self._count_actions = group.actions()
        tools = menu.addMenu("&Tools")
        for a in (self.select_action, self.reference_action, self.error_map_action):
            tools.addAction(a)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.methods_action)
        help_menu.addAction(self.about_action)

        bar = QToolBar("Main", self)
        bar.setObjectName("main-toolbar")
        bar.setIconSize(QSize(18, 18))
        bar.setMovable(False)
        self.addToolBar(bar)
        bar.addAction(self.open_action)
        bar.addAction(self.export_view_action)
        bar.addAction(self.export_comparison_action)
        bar.addSeparator()
        bar.addAction(self.fit_action)
        bar.addAction(self.one_action)
        bar.addAction(self.zoom_out_action)
        bar.addWidget(self.zoom_slider)
        bar.addAction(self.zoom_in_action)
        bar.addSeparator()
        for a in (self.add_pane_action, self.remove_pane_action, self.split_action, self.select_action,
                  self.reference_action, self.error_map_action):
            bar.addAction(a)
        self._rebuild_recent()

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.device_label = QLabel("Device: starting\u2026")
        self.image_label = QLabel("No image")
        self.zoom_label = QLabel("")
        self.queue_label = QLabel("Idle")
        from widgets.error_legend import ErrorLegend

        self.error_legend = ErrorLegend()
        self.error_legend.setVisible(False)
        bar.addPermanentWidget(self.error_legend)
        for w, tip in ((self.image_label, "Image size and bit depth"),
                       (self.zoom_label, "Zoom: output pixels per image pixel (physical screen pixels)"),
                       (self.queue_label, "What the render worker is doing: panes rendering, their tiles left "
                                          "and the time left; 0 jobs waiting"),
                       (self.device_label, "Where the models run")):
            w.setToolTip(tip)
            bar.addPermanentWidget(w)

    def show_status(self, text: str, timeout_ms: int = 0, detail: str = "") -> None:
        """A status-bar message that fits left of the permanent fields (QStatusBar
        cuts it there without an ellipsis); the whole text is in the tooltip."""
        bar = self.statusBar()
        permanent = [w.x() for w in (self.error_legend, self.image_label, self.zoom_label, self.queue_label,
                                     self.device_label) if w.isVisible() and w.x() > 0]
        room = (min(permanent) if permanent else bar.width()) - 12
        shown = bar.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, max(40, room))
        bar.setToolTip(detail or (text if shown != text else ""))
        bar.showMessage(shown, timeout_ms)

    # ------------------------------------------------------------------ panes

    def slots(self) -> list[PaneSlot]:
        return list(self._slots)

    def panes(self) -> list[ImagePane]:
        return [s.pane for s in self._slots]

    def add_pane(self, method: str | None = None, rearrange: bool = True) -> PaneSlot | None:
        if len(self._slots) >= MAX_PANES:
            self.statusBar().showMessage(f"At most {MAX_PANES} panes", 4000)
            return None
        if method is None:
            used = {s.sides["a"].method for s in self._slots}
            # Learned methods first: a new pane is for comparing decoders.
            order = self._learned_methods() + [m for m in self.method_names if m not in self._learned_methods()]
            method = next((m for m in order if m not in used), self.method_names[0])
        slot = PaneSlot(self._uid, self._entries(), method)
        self._uid += 1
        pane = slot.pane
        pane.set_source(self._source if self.image_rgb is not None else None)
        pane.set_view(self.view)
        pane.set_select_mode(self.select_action.isChecked())
        pane.set_show_overlay(self.error_map_action.isChecked())
        pane.set_selection(self.selection)
        pane.set_show_labels(self.labels_action.isChecked())
        pane.viewRequested.connect(self.apply_view)
        pane.resized.connect(self._pane_resized)
        pane.selectionChanged.connect(self._selection_changed)
        pane.activated.connect(lambda s=slot: self.set_active(self._slots.index(s)) if s in self._slots else None)
        slot.picker.methodChanged.connect(lambda name, s=slot: self.set_method(s, "a", name))
        slot.picker.splitMethodChanged.connect(lambda name, s=slot: self._split_changed(s, name))
        slot.picker.closeRequested.connect(lambda s=slot: self.remove_pane(self._slots.index(s)))
        self._slots.append(slot)
        self._update_label(slot, "a")
        if rearrange:
            self._arrange()
            self.schedule_render()
            self._request_whole_metrics(slot)
        return slot

    def remove_pane(self, index: int) -> None:
        if len(self._slots) <= 1 or not (0 <= index < len(self._slots)):
            return
        slot = self._slots.pop(index)
        for side in SIDES:
            self.service.generations.retire(slot.target(side))
        self._grid.removeWidget(slot.frame)
        slot.frame.setParent(None)
        slot.frame.deleteLater()
        self._active = min(self._active, len(self._slots) - 1)
        self._arrange()
        self.schedule_render()

    def set_pane_count(self, n: int) -> None:
        n = max(1, min(MAX_PANES, n))
        while len(self._slots) < n:
            if self.add_pane(rearrange=False) is None:
                break
        while len(self._slots) > n:
            self.remove_pane(len(self._slots) - 1)
        self._arrange()
        self.schedule_render()

    def _arrange(self) -> None:
        for slot in self._slots:
            self._grid.removeWidget(slot.frame)
        rows, cols = GRID[len(self._slots)]
        for i, slot in enumerate(self._slots):
            self._grid.addWidget(slot.frame, i // cols, i % cols)
        for r in range(2):
            self._grid.setRowStretch(r, 1 if r < rows else 0)
        for c in range(4):
            self._grid.setColumnStretch(c, 1 if c < cols else 0)
        for slot in self._slots:
            slot.picker.set_closable(len(self._slots) > 1)
        for i, a in enumerate(self._count_actions):
            a.setChecked(i + 1 == len(self._slots))
        self.set_active(min(self._active, len(self._slots) - 1))
        self.add_pane_action.setEnabled(len(self._slots) < MAX_PANES)
        self.remove_pane_action.setEnabled(len(self._slots) > 1)

    def set_active(self, index: int) -> None:
        self._active = index
        for i, slot in enumerate(self._slots):
            slot.pane.set_active(i == index and len(self._slots) > 1)
        if 0 <= index < len(self._slots):
            self.split_action.setChecked(self._slots[index].pane.is_split())

    def active_slot(self) -> PaneSlot:
        return self._slots[self._active]

    def set_method(self, slot: PaneSlot, side: str, name: str) -> None:
        state = slot.sides[side]
        if state.method == name:
            return
        if side == "a" and state.method:
            self._flip_previous[slot.uid] = state.method
        state.method = name
        state.metrics.clear()
        state.seconds = None
        # The old method's error or "done" is not the new method's.
        state.error = None
        state.state = "preview"
        slot.pane.clear_tiles(side)
        self._update_label(slot, side)
        self.schedule_render()
        self._request_whole_metrics(slot)
        self._metrics_timer.start()

    def _split_changed(self, slot: PaneSlot, name: str | None) -> None:
        if name is None:
            slot.pane.set_split(False)
            slot.sides["b"] = SideState()
            self.service.generations.retire(slot.target("b"))
        else:
            slot.pane.set_split(True)
            self.set_method(slot, "b", name)
        if slot is self.active_slot():
            self.split_action.setChecked(slot.pane.is_split())
        self.schedule_render()

    def flip_active_pane(self) -> None:
        """Show the active pane's other method in place (same view): the method it
        showed before, else the ground truth in reference mode, else bicubic."""
        from app.flip import flip_partner

        slot = self.active_slot()
        current = slot.sides["a"].method
        reference = None
        if self.reference is not None:
            from inference.reference import GROUND_TRUTH

            reference = GROUND_TRUTH
        other = flip_partner(current, self._flip_previous.get(slot.uid), slot.picker.names(), reference)
        if other is None:
            return
        slot.picker.set_method(other)  # the picker's signal calls set_method
        self.statusBar().showMessage(f"Pane {self._active + 1}: {self.display_name(other)} "
                                     f"(F flips back to {self.display_name(current)})", 4000)

    def toggle_split(self) -> None:
        slot = self.active_slot()
        if slot.pane.is_split():
            slot.picker.set_split_method(None)
        else:
            other = next((m for m in self.method_names if m != slot.sides["a"].method), slot.sides["a"].method)
            slot.picker.set_split_method(other)

    # ------------------------------------------------------------------ images

    @property
    def _source(self) -> ImageSource | None:
        return getattr(self, "_image_source", None)

    def open_dialog(self) -> None:
        start = str(Path(self.loaded.path).parent) if self.loaded is not None else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open image", start, OPEN_FILTER)
        if path:
            self.open_path(path)

    def browse(self, step: int) -> Path | None:
        """Open the image `step` places after the current one in its folder
        (PageDown / PageUp), keeping the view. Returns the path being opened."""
        from app.browse import neighbour

        if self.loaded is None:
            return None
        current = Path(self.loaded.path)
        target = neighbour(current, step)
        if target is None:
            where = "last" if step > 0 else "first"
            self.statusBar().showMessage(f"{current.name} is the {where} image in {current.parent}", 4000)
            return None
        self.open_path(target, keep_view=True)
        return target

    def copy_view(self) -> None:
        """The active pane's view, as the pane shows it (no labels), to the clipboard."""
        if self.image_rgb is None:
            return
        image = self.active_slot().pane.view_image()
        QApplication.clipboard().setImage(image)
        self.statusBar().showMessage(f"Copied pane {self._active + 1}'s view "
                                     f"({image.width()} \u00d7 {image.height()}) to the clipboard", 4000)

    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()
        self.fullscreen_action.setChecked(self.isFullScreen())

    def toggle_labels(self) -> None:
        for slot in self._slots:
            slot.pane.set_show_labels(self.labels_action.isChecked())

    def open_path(self, path: str | Path, keep_view: bool = False) -> int:
        """Start opening an image: it is read and decoded in a background
        thread while the current one stays on screen and usable. Then either
        the new image is shown or a dialog says why not (the current one
        stays); `openFinished` follows. Opening another file before this one
        is ready supersedes it. Returns the open's generation."""
        if self._closing:
            return 0
        self.statusBar().showMessage(f"Opening {Path(path).name}\u2026")
        generation = self.opener.open(path, self.pane_size())
        self._keep_view_generation = generation if keep_view else None
        return generation

    def is_opening(self) -> bool:
        return self.opener.busy

    @Slot(object)
    def _on_image_ready(self, result: OpenResult) -> None:
        if self._closing:
            return
        path = result.path
        if result.image is None:
            self.statusBar().clearMessage()
            QMessageBox.warning(self, "Cannot open image", result.error)
            self.openFinished.emit(path, False)
            return
        if self.reference is not None:
            self._leave_reference(reopen=False)
        loaded = result.image.loaded
        self.loaded = loaded
        keep_view = result.generation == self._keep_view_generation and self.image_rgb is not None
        self._show_image(result.image.rgb, fit=not keep_view, source=result.image.source)
        if keep_view:
            self.apply_view(self.view)  # the same view, kept inside the new image
        self._add_recent(str(Path(path).resolve()))
        self.setWindowTitle(f"{Path(path).name} \u2014 Implicit Zoom")
        notes = "; ".join(loaded.notes)
        if notes:
            self.statusBar().showMessage(f"{Path(path).name}: {notes}")
        else:
            self.statusBar().clearMessage()
        self.imageOpened.emit(path)
        self.openFinished.emit(path, True)

    def _show_image(self, rgb: np.ndarray, fit: bool, source: ImageSource | None = None) -> None:
        """Show `rgb`; `source` is its display copy when already made (off the GUI thread)."""
        self._image_counter += 1
        self.image_id = f"image-{self._image_counter}"
        self.image_rgb = np.ascontiguousarray(rgb, dtype=np.float32)
        self._image_source = source if source is not None else ImageSource(to_display(self.image_rgb))
        self.selection = None
        self.service.set_image(self.image_id, self.image_rgb)
        for slot in self._slots:
            for side in SIDES:
                slot.sides[side].metrics.clear()
                slot.sides[side].seconds = None
                slot.sides[side].error = None
            slot.pane.set_source(self._source)
            slot.pane.set_selection(None)
        self._update_image_label()
        self._update_zoom_range()
        if fit:
            self._fit_pending = True
            self.fit()
        self.schedule_render()

    def _update_image_label(self) -> None:
        if self.image_rgb is None:
            self.image_label.setText("No image")
            return
        h, w = self.image_rgb.shape[:2]
        bits = f" \u00b7 {self.loaded.bit_depth}-bit" if self.loaded is not None else ""
        text = f"{w} \u00d7 {h} px{bits}"
        if self.reference is not None:
            hw, hh = self.reference.hr_size
            text = f"reference \u00d7{self.reference.scale:g}: LR {w} \u00d7 {h} from {hw} \u00d7 {hh}"
        self.image_label.setText(text)

    # ------------------------------------------------------------------ view

    def pane_size(self) -> tuple[int, int]:
        return self._slots[0].pane.physical_size() if self._slots else (800, 600)

    def _zoom_limits(self) -> tuple[float, float]:
        if self.image_rgb is None:
            return 1.0, MAX_ZOOM
        h, w = self.image_rgb.shape[:2]
        fz = fit_zoom(w, h, *self.pane_size())
        return min(fz, 1.0), MAX_ZOOM

    def _update_zoom_range(self) -> None:
        lo, hi = self._zoom_limits()
        self.zoom_slider.set_range(lo, hi)
        self.zoom_slider.set_zoom(self.view.zoom)

    def apply_view(self, view: ViewState, rest: bool = False) -> None:
        """Show `view` in every pane (clamped); then request tiles, at once or
        when the zoom rests."""
        if self.image_rgb is None or view is None:
            return
        h, w = self.image_rgb.shape[:2]
        lo, hi = self._zoom_limits()
        if view.zoom < lo or view.zoom > hi:
            view = ViewState(view.cx, view.cy, min(hi, max(lo, view.zoom)))
        view = view.clamped(w, h)
        changed = view != self.view
        self.view = view
        for slot in self._slots:
            slot.pane.set_view(view)
        self.zoom_slider.set_zoom(view.zoom)
        self.zoom_label.setText(f"Zoom {format_zoom(view.zoom)}")
        if changed:
            for slot in self._slots:
                for side in slot.active_sides():
                    st = slot.sides[side]
                    if st.state in ("done", "untrained"):
                        st.state = "preview"
                        st.started = None  # no time until this view's render starts
                        st.seconds = None
                        self._update_label(slot, side)
            if rest:
                self._rest_timer.start()
            else:
                self.schedule_render()

    def schedule_render(self) -> None:
        if not self._rest_timer.isActive():
            self._render_timer.start()

    def set_zoom(self, zoom: float) -> None:
        self.apply_view(self.view.with_zoom(zoom))

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self.view.zoom * factor)

    def fit(self) -> None:
        if self.image_rgb is None:
            return
        h, w = self.image_rgb.shape[:2]
        # Before the window is shown the panes' sizes are provisional: fit again then.
        self._fit_pending = not self.isVisible()
        self._update_zoom_range()
        self.apply_view(ViewState.fit(w, h, *self.pane_size()))

    @Slot(float)
    def _slider_zoom(self, zoom: float) -> None:
        # While dragging: panes show scaled previews; refine once it rests.
        self.apply_view(self.view.with_zoom(zoom), rest=self.zoom_slider.is_dragging())

    @Slot(float)
    def _slider_committed(self, zoom: float) -> None:
        self._rest_timer.stop()
        self.apply_view(self.view.with_zoom(zoom))
        self.schedule_render()

    def _pane_resized(self) -> None:
        if self.image_rgb is None:
            return
        if self._fit_pending:
            self.fit()
        else:
            self._update_zoom_range()
        self.schedule_render()

    def showEvent(self, event: Any) -> None:  # noqa: N802
        super().showEvent(event)
        # Fit once the panes have their real size.
        QTimer.singleShot(0, self._fit_if_pending)

    def _fit_if_pending(self) -> None:
        if self._fit_pending and self.image_rgb is not None:
            self.fit()

    # ------------------------------------------------------------------ rendering

    def request_render(self) -> None:
        """One request per visible pane side, each with a new generation."""
        if self.image_rgb is None or self._closing:
            return
        h, w = self.image_rgb.shape[:2]
        for slot in self._slots:
            lat = slot.pane.lattice()
            for side in slot.active_sides():
                st = slot.sides[side]
                if not st.method:
                    continue
                target = slot.target(side)
                gen = self.service.generations.issue(target)
                st.generation = gen
                st.decoded_any = False
                st.error = None
                # This render's own time and progress: never the previous view's.
                st.started = time.perf_counter()
                st.seconds = None
                st.full_done = st.full_total = 0
                st.full_began = None
                # The only note tiles carry (zoom <= 1 shows bicubic): not left over from the last view.
                st.note = DOWNSCALE_NOTE if lat.zx <= 1.0 and st.method != DOWNSCALE_METHOD else ""
                slot.pane.begin_generation(side, gen)
                if not plan_tiles(lat, 256, w, h):
                    st.state = "done"  # nothing of the image in view
                else:
                    st.state = "preview"
                    self.service.submit(RenderRequest(gen, target, st.method, lat, self.image_id))
                self._update_label(slot, side)
        if self.reference is not None:
            self._metrics_timer.start()
        if not self._progress_timer.isActive():
            self._progress_timer.start()
        self._update_progress_status()

    def _tick_progress(self) -> None:
        """Redraw the running renders' elapsed time and estimate; stop when none runs."""
        busy = False
        for slot in self._slots:
            for side in slot.active_sides():
                if slot.sides[side].busy():
                    busy = True
                    self._update_label(slot, side)
        self._update_progress_status()
        if not busy:
            self._progress_timer.stop()

    def _update_progress_status(self) -> None:
        """The status bar's summary: panes rendering, tiles left, time left."""
        now = time.perf_counter()
        panes, tiles, estimates = 0, 0, []
        for slot in self._slots:
            sides = [slot.sides[s] for s in slot.active_sides() if slot.sides[s].busy()]
            panes += bool(sides)
            for st in sides:
                tiles += max(0, st.full_total - st.full_done)
                estimate = st.remaining_s(now)
                if estimate is not None:
                    estimates.append(estimate)
        if panes:
            text = f"Rendering {panes} pane{'s' if panes > 1 else ''}"
            if tiles:
                text += f": {tiles} tile{'s' if tiles > 1 else ''} left"
            if estimates:
                text += f", {format_estimate(max(estimates))}"
        elif self._queue:
            text = f"Working: {self._queue} job{'s' if self._queue > 1 else ''}"
        else:
            text = "Idle"
        self.queue_label.setText(text)
        self.queue_label.setToolTip(f"What the render worker is doing: panes rendering, their tiles left and the "
                                    f"time left; {self._queue} tiles and jobs waiting")

    def _find(self, target: Hashable) -> tuple[PaneSlot, str] | None:
        uid, side = target
        for slot in self._slots:
            if slot.uid == uid:
                return slot, side
        return None

    @Slot(object)
    def _on_tile(self, tile: RenderedTile) -> None:
        if self.service.generations.is_stale(tile.generation, tile.target):
            return  # a result of work the user has moved on from
        found = self._find(tile.target)
        if found is None:
            return
        slot, side = found
        st = slot.sides[side]
        if tile.error is not None:
            st.state, st.error = "error", tile.error
            self._update_label(slot, side)
            self.paneUpdated.emit(tile.target)
            return
        slot.pane.add_tile(side, tile.zoom, tile.u0, tile.v0, tile.rgb, tile.phase, tile.generation,
                           tile.view_zoom or None)
        now = time.perf_counter()
        if tile.phase == "full":
            st.note = tile.note
            st.full_done += 1
            st.full_total = max(st.full_total, st.full_done + tile.full_remaining)
            if not tile.from_cache:
                st.decoded_any = True
                if st.full_began is None:
                    st.full_began = now - tile.seconds
        if tile.final:
            slot.pane.finish_generation(side)
            st.seconds = (now - st.started if st.started is not None else tile.seconds) if st.decoded_any else 0.0
            st.state = "untrained" if tile.untrained else "done"
        elif tile.phase in ("coarse", "full"):
            st.state = "refining"
        self._update_label(slot, side)
        if tile.final or tile.phase == "full":
            self._update_progress_status()
        self.paneUpdated.emit(tile.target)

    def _update_label(self, slot: PaneSlot, side: str) -> None:
        st = slot.sides[side]
        notes, details = [], []
        if st.error:
            notes.append(st.error)
        if st.note:
            # Short in the label (three panes have ~300 px each), whole in its tooltip.
            notes.append(LABEL_NOTES.get(st.note, st.note))
            details.append(st.note)
        if st.method and self._is_untrained(st.method):
            notes.append("untrained: random weights, not a result")
            details.append("untrained: random weights, the output is not a result")
        metrics = []
        for kind, label in (("whole", "image"), ("visible", "view")):
            m = st.metrics.get(kind)
            if m is None:
                continue
            if m.error:
                metrics.append(f"{label}: {m.error}")
            elif m.psnr is not None:
                # Above 100 dB the images are the same up to float rounding.
                psnr = "\u221e (identical)" if m.psnr >= 100 else f"{m.psnr:.2f} dB"
                ssim = f"{m.ssim:.4f}" if m.ssim is not None else "n/a"
                metrics.append(f"{label}: PSNR {psnr} \u00b7 SSIM {ssim}")
            elif m.note:
                metrics.append(f"{label}: {m.note}")
        now = time.perf_counter()
        progress = f"{st.full_done}/{st.full_total} tiles" if st.busy() and st.full_total else ""
        name = self.display_name(st.method) if st.method else ""
        details.insert(0, self._method_tooltip(st.method) if st.method else "")
        slot.pane.set_status(side, SideStatus(name, st.state, st.elapsed(now), notes, metrics,
                                              "\n".join(d for d in details if d), progress, st.remaining_s(now)))

    @Slot(int)
    def _on_queue(self, n: int) -> None:
        self._queue = n
        self._update_progress_status()

    @Slot(str)
    def _on_device(self, label: str) -> None:
        self.device_label.setText(label)

    @Slot(str, object)
    def _on_method_loaded(self, name: str, weights: Any) -> None:
        previous = self.weights_known.get(name)
        self.weights_known[name] = weights
        # New, or other weights (File > Load Weights): labels say "(untrained)" or not.
        if previous is not weights:
            entries = self._entries()
            for slot in self._slots:
                for picker in (slot.picker,):
                    picker.blockSignals(True)
                    picker.set_methods(entries)
                    picker.blockSignals(False)
                for side in SIDES:
                    if slot.sides[side].method == name:
                        self._update_label(slot, side)
            self._refresh_methods_dialog()

    def weights_folder(self) -> str:
        """Where File › Load Weights opens: the last folder used, else resources/weights/."""
        from app.settings import start_folder
        from inference.catalog import WEIGHTS_DIR

        last = self.settings.value("weightsDir")
        return start_folder(str(last) if last else None, WEIGHTS_DIR)

    def load_weights_dialog(self, method: str | None = None) -> None:
        """Pick a checkpoint; with `method` (the methods dialog's button) only that method's weights are taken."""
        title = f"Load weights for {self.display_name(method)}" if method else "Load weights"
        path, _ = QFileDialog.getOpenFileName(self, title, self.weights_folder(), WEIGHTS_FILTER)
        if path:
            self.settings.setValue("weightsDir", str(Path(path).parent))
            self.load_weights(path, method)

    def load_weights(self, path: str | Path, method: str | None = None) -> None:
        """Load a checkpoint in the worker for the method it declares (it must
        be `method` when given); the answer comes back as `_on_weights_loaded`
        or `_on_weights_failed`."""
        self.statusBar().showMessage(f"Loading weights from {Path(path).name}\u2026")
        self.service.load_weights(str(path), [method] if method else self.method_names)

    @Slot(str, str)
    def _on_weights_loaded(self, method: str, path: str) -> None:
        for slot in self._slots:
            for side in SIDES:
                st = slot.sides[side]
                if st.method != method:
                    continue
                st.metrics.clear()
                st.seconds = None
                st.error = None
                st.state = "preview"  # until the new weights' tiles arrive
                slot.pane.clear_tiles(side)
                slot.pane.set_overlay(side, 1, 1, 0, 0, None)
                self._update_label(slot, side)
            if method in (slot.sides["a"].method, slot.sides["b"].method):
                self._request_whole_metrics(slot)
        self.weights_paths[method] = str(path)
        self._inspected.pop(method, None)
        self._refresh_methods_dialog()
        weights = self.weights_known.get(method)
        summary = f": {weights.summary}" if weights is not None else ""
        self.statusBar().showMessage(f"{self.display_name(method)} now uses {Path(path).name}{summary}", 10000)
        self.schedule_render()
        if self.reference is not None:
            self._metrics_timer.start()
        self.weightsChanged.emit(method, path)

    @Slot(str, str)
    def _on_weights_failed(self, path: str, message: str) -> None:
        self.statusBar().showMessage(f"Weights not loaded: {message}", 15000)
        if not self._closing:
            QMessageBox.warning(self, "Cannot load weights",
                                f"{message}\n\nThe method keeps the weights it had.")
        self.weightsChanged.emit("", path)

    @Slot(str)
    def _on_worker_failed(self, message: str) -> None:
        self.statusBar().showMessage(message, 15000)

    def queue_length(self) -> int:
        return self._queue

    # ------------------------------------------------------------------ selection

    def toggle_select_mode(self) -> None:
        on = self.select_action.isChecked()
        for slot in self._slots:
            slot.pane.set_select_mode(on)

    def _selection_changed(self, selection: Any) -> None:
        self.selection = selection
        for slot in self._slots:
            slot.pane.set_selection(selection)
        if selection is not None:
            x0, y0, x1, y1 = selection
            self.statusBar().showMessage(f"Selected {x1 - x0:.1f} \u00d7 {y1 - y0:.1f} image pixels at "
                                         f"({x0:.1f}, {y0:.1f}); File \u203a Export to save it", 8000)

    # ------------------------------------------------------------------ reference mode

    def toggle_reference(self) -> None:
        if self.reference is not None:
            self._leave_reference(reopen=True)
            return
        self.reference_action.setChecked(False)
        if self.loaded is None:
            return
        scale, ok = QInputDialog.getDouble(
            self, "Reference mode",
            "Treat this image as ground truth and simulate a low-resolution copy, downscaled by:",
            4.0, 1.1, 16.0, 2)
        if ok:
            self.enter_reference(scale)

    def enter_reference(self, scale: float) -> bool:
        """Downsample the opened image by `scale` the evaluator's way and super-resolve that in every pane."""
        from inference.reference import make_reference

        if self.loaded is None:
            return False
        try:
            ref = make_reference(self.loaded.rgb, scale)
        except ValueError as error:
            QMessageBox.warning(self, "Reference mode", str(error))
            return False
        self.reference = ref
        self.service.set_reference(ref)
        self.reference_action.setChecked(True)
        self.error_map_action.setEnabled(True)
        self._refresh_pickers()
        self._show_image(ref.lr, fit=False)
        h, w = ref.lr.shape[:2]
        # Start where the ground truth is shown 1:1 if it fits, else fitted.
        fz = fit_zoom(w, h, *self.pane_size())
        self.apply_view(ViewState(w / 2, h / 2, min(ref.scale, fz) if fz >= 1 else fz))
        for slot in self._slots:
            self._request_whole_metrics(slot)
        self.show_status(f"Reference mode \u00d7{scale:g}: the opened image is the ground truth",
                         detail=f"Reference mode: the opened image is the ground truth; panes super-resolve it "
                                f"downscaled \u00d7{scale:g} (bicubic, as the evaluator makes LR). "
                                f"Scores: Y channel, {ref.shave} px border shaved.")
        return True

    def _leave_reference(self, reopen: bool) -> None:
        self.reference = None
        # Scores still being computed (a whole-image score of a slow model takes
        # a minute) belong to the reference: make them stale, drop those shown.
        for slot in self._slots:
            for side in SIDES:
                for kind in ("whole", "visible"):
                    self.service.generations.retire(("metrics", slot.target(side), kind))
                slot.sides[side].metrics.clear()
                self._update_label(slot, side)
        self._metrics_timer.stop()
        self.show_status("Reference mode off", 5000)
        self.service.set_reference(None)
        self.reference_action.setChecked(False)
        self.error_map_action.setChecked(False)
        self.error_map_action.setEnabled(False)
        self.toggle_error_map()
        from inference.reference import GROUND_TRUTH

        for slot in self._slots:
            for side in SIDES:
                if slot.sides[side].method == GROUND_TRUTH:
                    slot.sides[side].method = "bicubic"
                slot.pane.set_overlay(side, 1, 1, 0, 0, None)
        self._refresh_pickers()
        if reopen and self.loaded is not None:
            self._show_image(self.loaded.rgb, fit=True)

    def _refresh_pickers(self) -> None:
        entries = self._entries()
        for slot in self._slots:
            slot.picker.blockSignals(True)
            slot.picker.set_methods(entries)
            if slot.sides["a"].method in slot.picker.names():
                slot.picker.set_method(slot.sides["a"].method)
            slot.picker.blockSignals(False)

    def _request_whole_metrics(self, slot: PaneSlot) -> None:
        if self.reference is None:
            return
        for side in slot.active_sides():
            st = slot.sides[side]
            target = slot.target(side)
            gen = self.service.generations.issue(("metrics", target, "whole"))
            self.service.request_metrics(MetricsJob(target, st.method, self.image_id, "whole", gen))

    def request_visible_metrics(self) -> None:
        if self.reference is None or self.image_rgb is None:
            return
        h, w = self.image_rgb.shape[:2]
        for slot in self._slots:
            region = self.view.visible_region(*slot.pane.physical_size(), w, h)
            if region is None:
                continue
            for side in slot.active_sides():
                target = slot.target(side)
                gen = self.service.generations.issue(("metrics", target, "visible"))
                self.service.request_metrics(MetricsJob(target, slot.sides[side].method, self.image_id,
                                                        "visible", gen, region))

    @Slot(object)
    def _on_metrics(self, result: MetricsResult) -> None:
        if self.reference is None:
            return  # reference mode was left while this score was computed
        if self.service.generations.is_stale(result.generation, ("metrics", result.target, result.kind)):
            return
        found = self._find(result.target)
        if found is None:
            return
        slot, side = found
        if slot.sides[side].method != result.method:
            return
        slot.sides[side].metrics[result.kind] = result
        if result.kind == "visible" and result.error_map is not None and result.window is not None:
            c0, r0, _, _ = result.window
            zx, zy = result.hr_zoom
            slot.pane.set_overlay(side, zx, zy, c0, r0, result.error_map)
        self._update_label(slot, side)
        self.paneUpdated.emit(result.target)

    def toggle_error_map(self) -> None:
        on = self.error_map_action.isChecked()
        for slot in self._slots:
            slot.pane.set_show_overlay(on)
        if on:
            from inference.metrics import Y_WEIGHTS
            from inference.reference import ERROR_MAP_FULL, error_heatmap

            # The map's own colours for luma errors 0 .. ERROR_MAP_FULL.
            ramp = np.linspace(0.0, ERROR_MAP_FULL, 24) / float(np.sum(Y_WEIGHTS))
            colours = error_heatmap(np.repeat(ramp[:, None], 3, 1), np.zeros((24, 3)))
            self.error_legend.set_scale(colours, ERROR_MAP_FULL)
        self.error_legend.setVisible(on)

    def metrics(self, index: int, side: str = "a") -> dict[str, MetricsResult]:
        return dict(self._slots[index].sides[side].metrics)

    # ------------------------------------------------------------------ export

    def _pane_choices(self) -> tuple[list[tuple[str, str]], int]:
        choices, active = [], 0
        for i, slot in enumerate(self._slots):
            if i == self._active:
                active = len(choices)
            for side in slot.active_sides():
                where = f"pane {i + 1}" + ("" if side == "a" and not slot.pane.is_split() else
                                           (" left" if side == "a" else " right"))
                # "(untrained)" where it is: an export of random weights must not pass for a result.
                choices.append((f"{self._method_label(slot.sides[side].method)} ({where})", slot.sides[side].method))
        return choices, active

    def export_lattice(self, area: str, mode: str = "zoom", scale: float = 0.0, width: int = 0) -> Lattice | None:
        """The lattice an export samples: the same one the panes show at the current zoom."""
        if self.image_rgb is None:
            return None
        h, w = self.image_rgb.shape[:2]
        if area == "whole":
            rect = (0.0, 0.0, float(w), float(h))
        elif area == "selection" and self.selection is not None:
            rect = self.selection
        else:
            rect = self.view.visible_region(*self.pane_size(), w, h)
            if rect is None:
                return None
        x0, y0, x1, y1 = rect
        if mode == "width":
            out_w = int(width)
            out_h = max(1, round(out_w * (y1 - y0) / (x1 - x0)))
            return Lattice.from_region(Region(x0, y0, x1 - x0, y1 - y0), out_w, out_h)
        zoom = self.view.zoom if mode == "zoom" else float(scale)
        if area == "whole" and mode == "scale":
            return Lattice.full_image(w, h, zoom)
        if area == "view" and mode == "zoom":
            return clip_to_image(self.active_slot().pane.lattice(), w, h)
        return rect_lattice(x0, y0, x1, y1, zoom, w, h)

    def default_export_path(self, method: str, zoom: float | None) -> str:
        """butterfly_liif_x3.7.png in the folder last exported to (else the image's)."""
        from app.export_names import export_folder, export_name

        image = self.loaded.path if self.loaded is not None else None
        last = self.settings.value("exportDir")
        folder = export_folder(str(last) if last else None, image, Path.home())
        return str(folder / export_name(image, method, zoom))

    def export_dialog(self, area: str = "view") -> None:
        from app.export_dialog import ExportDialog

        if self.image_rgb is None:
            return
        choices, active = self._pane_choices()

        def size_for(a: str, mode: str, scale: float, width: int) -> tuple[int, int] | None:
            lat = self.export_lattice(a, mode, scale, width)
            return (lat.width, lat.height) if lat is not None else None

        def path_for(method: str, a: str, mode: str, scale: float, width: int) -> str:
            lat = self.export_lattice(a, mode, scale, width)
            return self.default_export_path(method, lat.zx if lat is not None else None)

        dialog = ExportDialog(choices, active, self.view.zoom, self.selection is not None,
                              "selection" if area == "view" and self.selection is not None else area,
                              "", size_for, self, path_for=path_for)
        if dialog.exec() != ExportDialog.DialogCode.Accepted:
            return
        spec = dialog.spec()
        self.settings.setValue("exportDir", str(Path(spec.path).parent))
        self.export_to(spec.path, spec.method, spec.area, spec.size_mode, spec.scale, spec.width, spec.bits)

    def export_to(self, path: str, method: str | None = None, area: str = "view", mode: str = "zoom",
                  scale: float = 0.0, width: int = 0, bits: int = 8, progress_dialog: bool = True) -> bool:
        """Export one method's pixels (in the worker) with a cancellable progress dialog."""
        lattice = self.export_lattice(area, mode, scale, width)
        if lattice is None:
            QMessageBox.warning(self, "Export", "Nothing of the image is in that area.")
            return False
        method = method or self.active_slot().sides["a"].method
        meta = self._export_metadata()
        if lattice.zx <= 1.0 and lattice.zy <= 1.0 and method != DOWNSCALE_METHOD:
            # What the panes show when shrinking, and what makes sense to save.
            meta["Note"] = f"{DOWNSCALE_NOTE}; {self.display_name(method)} was asked for"
            method = DOWNSCALE_METHOD
        self._start_export(ExportJob("region", str(path), lattice, self.image_id, method=method, bits=bits,
                                     metadata=meta), progress_dialog)
        return True

    def export_comparison_dialog(self) -> None:
        if self.image_rgb is None:
            return
        area = "selection" if self.selection is not None else "view"
        lattice = self.export_lattice(area)
        start = self.default_export_path("comparison", lattice.zx if lattice is not None else self.view.zoom)
        path, _ = QFileDialog.getSaveFileName(self, "Export comparison", start,
                                              "PNG image (*.png);;TIFF image (*.tif *.tiff);;WebP image (*.webp)")
        if path:
            self.settings.setValue("exportDir", str(Path(path).parent))
            self.export_comparison_to(path)

    def export_comparison_to(self, path: str, progress_dialog: bool = True) -> bool:
        """The selection (else the view) at the current zoom from every pane, labelled."""
        area = "selection" if self.selection is not None else "view"
        lattice = self.export_lattice(area)
        if lattice is None:
            QMessageBox.warning(self, "Export comparison", "Nothing of the image is in view.")
            return False
        panes = []
        # Each method once: a split's right side may show what another pane shows.
        methods = dict.fromkeys(method for _, method in self._pane_choices()[0])
        for method in methods:
            name = self._method_label(method)
            if lattice.zx <= 1.0 and lattice.zy <= 1.0 and method != DOWNSCALE_METHOD:
                name, method = f"{name} (bicubic at zoom \u2264 1)", DOWNSCALE_METHOD
            panes.append((f"{name} \u00b7 {lattice.zx:.3g}\u00d7", method))
        self._start_export(ExportJob("comparison", str(path), lattice, self.image_id, panes=panes,
                                     metadata=self._export_metadata()), progress_dialog)
        return True

    def _export_metadata(self) -> dict[str, str]:
        meta = {}
        if self.loaded is not None:
            from app.export_names import source_metadata

            meta.update(source_metadata(self.loaded.path))
        if self.reference is not None:
            meta["Reference"] = f"LR simulated from the source, downscaled x{self.reference.scale:g} (bicubic)"
        return meta

    def _start_export(self, job: ExportJob, progress_dialog: bool) -> None:
        if progress_dialog:
            dialog = QProgressDialog("Exporting\u2026", "Cancel", 0, 100, self)
            dialog.setWindowTitle("Export")
            dialog.setWindowModality(Qt.WindowModality.WindowModal)
            dialog.setMinimumDuration(300)
            dialog.setAutoClose(False)
            dialog.setAutoReset(False)
            dialog.canceled.connect(self.service.cancel_export)
            self._export_dialog = dialog
        self.statusBar().showMessage(f"Exporting {job.lattice.width} \u00d7 {job.lattice.height} to {job.path}\u2026")
        self.service.export(job)

    @Slot(int, int)
    def _on_export_progress(self, done: int, total: int) -> None:
        if self._export_dialog is not None and total > 0:
            self._export_dialog.setValue(int(100 * done / total))

    @Slot(object)
    def _on_export_finished(self, result: ExportResult) -> None:
        if self._export_dialog is not None:
            self._export_dialog.close()
            self._export_dialog.deleteLater()
            self._export_dialog = None
        if result.ok:
            self.statusBar().showMessage(result.message, 10000)
        elif result.cancelled:
            self.statusBar().showMessage(result.message, 6000)
        elif not self._closing:
            QMessageBox.warning(self, "Export failed", result.message)
        self.exportDone.emit(result)

    # ------------------------------------------------------------------ batch

    def upscale_folder_dialog(self) -> None:
        self.folder_upscale.open_dialog()

    def start_batch(self, spec: Any, interactive: bool = True) -> Any:
        """Upscale spec.folder into spec.output (app.batch_dialog.FolderUpscale); `batchFinished` at the end."""
        return self.folder_upscale.start(spec, interactive)

    def _batch_upscaler(self, method: str) -> Any:
        """The method as the panes have it (weights picked by hand, Preferences' options), for a batch thread."""
        device = self.service.worker.device or "cpu"
        if self._loader is not None:
            return self._loader(method, device)
        from inference.catalog import is_interpolation, load_upscaler

        if is_interpolation(method):
            return load_upscaler(method, device)
        return load_upscaler(method, device, weights=self.weights_paths.get(method),
                             **self.preferences.upscaler_options())

    # ------------------------------------------------------------------ recent files, drops, help

    def recent_files(self) -> list[str]:
        value = self.settings.value("recentFiles", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: str) -> None:
        files = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("recentFiles", files[:MAX_RECENT])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for i, path in enumerate(files):
            action = self.recent_menu.addAction(f"&{i + 1} {Path(path).name}")
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_path(p))
        if not files:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear", self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.setValue("recentFiles", [])
        self._rebuild_recent()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            if url.isLocalFile():
                event.acceptProposedAction()
                self.open_path(url.toLocalFile())
                return

    def method_rows(self) -> list[Any]:
        """What Help › Methods and Weights shows, from the weights the worker loaded."""
        from app.method_rows import method_row
        from inference import catalog

        rows = []
        for name in self.method_names:
            try:
                interpolation = catalog.is_interpolation(name)
                paper = catalog.paper(name)
                expected = None if interpolation else catalog.expected_weights(name)
            except Exception:  # a method the registry does not know (tests' own names)
                interpolation, paper, expected = name in ("bicubic", "nearest"), "", None
            weights, problem = self._inspected.get(name, (self.weights_known.get(name), ""))
            rows.append(method_row(name, self.display_name(name), paper, interpolation=interpolation,
                                   weights=weights, expected=expected, loaded_from=self.weights_paths.get(name),
                                   problem=problem, checked=name in self._inspected or name in self.weights_known))
        return rows

    def show_methods(self) -> None:
        """Help › Methods and Weights (non-modal; it follows weights loaded while it is open)."""
        from app.methods_dialog import MethodsDialog

        if self.methods_dialog is None:
            self.methods_dialog = MethodsDialog(self.method_rows(), self)
            self.methods_dialog.loadRequested.connect(self.load_weights_dialog)
        self._refresh_methods_dialog()
        self.methods_dialog.show()
        self.methods_dialog.raise_()
        # Ask the worker: it loads each method the way a pane would and says what it got.
        self.service.inspect_methods([r.name for r in self.method_rows() if r.learned])

    @Slot(str, object, str)
    def _on_method_inspected(self, name: str, weights: Any, problem: str) -> None:
        self._inspected[name] = (weights, problem)
        self._refresh_methods_dialog()

    def _refresh_methods_dialog(self) -> None:
        if self.methods_dialog is not None:
            self.methods_dialog.set_rows(self.method_rows())

    def about(self) -> None:
        QMessageBox.about(self, "Implicit Zoom",
                          "<b>Implicit Zoom</b><br>Look into an image: a continuous zoom, super-resolved on the fly "
                          "by implicit neural decoders next to bicubic, in synchronised panes.<br><br>"
                          "Wheel: zoom about the cursor \u00b7 drag: pan \u00b7 Shift+drag: select \u00b7 "
                          "+/\u2212: zoom \u00b7 0: fit \u00b7 1: 1:1 \u00b7 arrows: pan")

    def changeEvent(self, event: Any) -> None:  # noqa: N802
        # The system switched between dark and light: icons follow the text colour.
        from PySide6.QtCore import QEvent

        palette_changed = event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)
        if palette_changed and hasattr(self, "_icons"):
            for action, name in self._icons:
                action.setIcon(qta_icon(name))
        super().changeEvent(event)

    # ------------------------------------------------------------------ closing

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self._closing = True
        self.folder_upscale.cancel()  # a batch stops at its next tile; the image in progress is not written
        self.opener.cancel()  # a load in flight finishes unseen in its daemon thread: closing never waits for it
        for timer in (self._render_timer, self._rest_timer, self._metrics_timer):
            timer.stop()
        self._remember_session()
        # The window goes at once; the worker stops at its next tile boundary
        # (a model call in flight cannot be interrupted) and is waited for.
        self.hide()
        QApplication.processEvents()
        self.service.shutdown()
        super().closeEvent(event)


def freeze_startup_objects() -> None:
    """Take what start-up built (Qt, torch, the window: ~230k objects) out of
    Python's full collections. One walked them all in 110-130 ms on a 2-core
    CPU with the GIL held: a GUI stall whichever thread triggered it."""
    import gc

    gc.collect()
    gc.freeze()


def run_gui(image_path: str | None = None, device: str = "auto") -> int:
    """Start the viewer; with no image, the bundled sample."""
    from PySide6.QtGui import QGuiApplication

    from app.theme import apply_theme

    if QApplication.instance() is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Implicit Zoom")
    app.setOrganizationName("ImplicitZoom")
    apply_theme(app)
    window = MainWindow(device=device)
    freeze_startup_objects()
    window.show()
    path = window.startup_image(image_path)
    QTimer.singleShot(0, lambda: window.open_path(path))
    return int(app.exec())
