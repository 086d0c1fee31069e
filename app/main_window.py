"""The main window: a grid of 1-8 panes sharing one view, the zoom slider,
menus and toolbar, reference mode and export.

The state and its rules live in `app.model.ViewerModel` (no Qt); this class wires it to the widgets and the
render service. Panes and the slider only *propose* views (signals); `apply_view` has the model clamp the
proposal, pushes it to every pane and the slider with non-emitting setters (so nothing loops), and schedules
render requests: soon for wheel, pan and keys, after the zoom rests while the slider is dragged. Decoding
happens in the render worker's thread. Menus: app/menus.py; the panes' grid: app/pane_grid.py (a pane's
picker and image: app/pane_slot.py). Controllers, each given the model and a typed `Protocol` of the window:
files (`file_actions`), the session saved as it changes (`session`), export (`export_actions`), reference
mode (`reference_actions`), the render service (`service_actions`; the user's own model files: its `models`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QSettings, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox

from app.export_actions import ExportActions
from app.file_actions import SAMPLE_IMAGE, FileActions
from app.gui_thread import connect_gui
from app.image_opener import ImageOpener, OpenResult
from app.launch import freeze_startup_objects, run_gui
from app.menus import Actions, StatusFields, build_actions, build_menus, build_toolbar
from app.model import MAX_PANES, SIDES, MethodBook, PaneState, SideState, ViewerModel, discover_methods, side_status
from app.model.viewer import Rect
from app.pane_grid import PaneGrid
from app.pane_slot import PaneSlot
from app.reference_actions import ReferenceActions
from app.render_worker import Loader, RenderService
from app.service_actions import ServiceActions
from app.session import SessionKeeper, restore_geometry
from inference.render import MAX_ZOOM, Phase, RenderedTile, ViewState, to_display
from inference.weights import WeightsInfo
from widgets.image_pane import ImagePane, ImageSource
from widgets.zoom_slider import ZoomSlider, format_zoom

# Wheel, drag and key changes are coalesced this long before requesting tiles;
# while the zoom slider is dragged, refining waits until it has rested this long.
COALESCE_MS = 30
REST_MS = 150
METRICS_REST_MS = 350
# How often a rendering pane's elapsed time, progress and estimate are redrawn.
PROGRESS_MS = 500
__all__ = ["MAX_PANES", "SAMPLE_IMAGE", "MainWindow", "PaneSlot", "SideState", "freeze_startup_objects", "run_gui"]


class MainWindow(QMainWindow):
    imageOpened = Signal(str)
    openFinished = Signal(str, bool)  # path, shown (False: refused, the dialog said why); the newest open only
    paneUpdated = Signal(object)  # target
    exportDone = Signal(object)  # ExportResult
    weightsChanged = Signal(str, str)  # method ("" when refused), path
    batchFinished = Signal(object)  # inference.batch.BatchReport

    def __init__(self, device: str = "auto", loader: Loader | None = None, methods: list[str] | None = None,
                 settings: QSettings | None = None, tile: int | None = None, panes: list[str] | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Implicit Zoom")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("ImplicitZoom", "Implicit Zoom")
        names, method_error = discover_methods(methods)
        self.model = ViewerModel(MethodBook(names))
        self.closing = False
        self._fit_pending = False
        self.image_source: ImageSource | None = None  # the display copy of the image shown
        self._keep_view_generation: int | None = None  # an open that keeps the view (browsing)
        self.file_actions = FileActions(self, self, self.model, self.settings)
        self.session = SessionKeeper(self, self.file_actions.remember_session)
        self.export_actions = ExportActions(self, self, self.model, self.settings)
        self.reference_actions = ReferenceActions(self, self, self.model)
        # Makes the render service, which `connect_service` wires to the window.
        self.service_actions = ServiceActions(self, self, self.model, self.settings, device, loader, tile)
        self.service_actions.folder_upscale.finished.connect(self.batchFinished)
        self.opener = ImageOpener(self)
        self.opener.finished.connect(self._on_image_ready)

        self._render_timer = QTimer(self, singleShot=True, interval=COALESCE_MS)
        self._render_timer.timeout.connect(self.request_render)
        self._rest_timer = QTimer(self, singleShot=True, interval=REST_MS)
        self._rest_timer.timeout.connect(self.request_render)
        self.metrics_timer = QTimer(self, singleShot=True, interval=METRICS_REST_MS)
        self.metrics_timer.timeout.connect(self.reference_actions.request_visible_metrics)
        self._progress_timer = QTimer(self, interval=PROGRESS_MS)
        self._progress_timer.timeout.connect(self._tick_progress)

        self.zoom_slider = ZoomSlider(1.0, MAX_ZOOM)
        self.zoom_slider.zoomChanged.connect(self._slider_zoom)
        self.zoom_slider.zoomCommitted.connect(self._slider_committed)
        connect_gui(self.zoom_slider.typingDone, lambda: self.active_slot().pane.setFocus())
        self.grid = PaneGrid(self, self, self.model)
        self.setCentralWidget(self.grid.widget)
        self.acts: Actions = build_actions(self)
        build_menus(self, self.acts)
        build_toolbar(self, self.acts)
        self.file_actions.make_recent()
        self.fields = StatusFields(self.statusBar())
        remembered = [] if panes else self.file_actions.remembered_panes()
        for name in panes or [p.method for p in remembered] or self.model.book.default_panes(
                self.settings.value("panes")):
            self.grid.add_pane(name, rearrange=False)
        self.grid.arrange()
        for slot, memory in zip(self.grid.slots, remembered):
            if memory.split:
                slot.picker.set_split_method(memory.split)
                slot.pane.set_split(True, memory.fraction)
        restore_geometry(self, self.settings.value("window/geometry"))
        self.session.enabled = True
        if method_error:
            self.statusBar().showMessage(method_error, 15000)

    @property
    def service(self) -> RenderService:
        """The render service (a new one after Preferences change the worker)."""
        return self.service_actions.service

    def connect_service(self, service: RenderService) -> None:
        """The window's slots for `service`'s relays (a GUI slot runs on the GUI
        thread: never connected to the worker's own signals; see app.gui_thread)."""
        for signal, slot in ((service.tileReady, self._on_tile), (service.queueChanged, self._on_queue),
                             (service.methodLoaded, self._on_method_loaded),
                             (service.metricsReady, self.reference_actions.on_metrics),
                             (service.exportProgress, self.export_actions.on_progress),
                             (service.exportFinished, self.export_actions.on_finished)):
            connect_gui(signal, slot)

    def request_whole_metrics(self, slot: PaneSlot) -> None:
        self.reference_actions.request_whole_metrics(slot)

    # ------------------------------------------------------------------ panes (the grid's)

    def wire_pane(self, slot: PaneSlot) -> None:
        """A new pane proposes views and selections, a picker methods, to the window."""
        pane, picker, slots = slot.pane, slot.picker, self.grid.slots
        pane.viewRequested.connect(self.apply_view)
        pane.resized.connect(self._pane_resized)
        pane.splitMoved.connect(lambda _fraction: self.session.touch())
        pane.selectionChanged.connect(self._selection_changed)
        pane.activated.connect(lambda s=slot: self.set_active(slots.index(s)) if s in slots else None)
        picker.methodChanged.connect(lambda name, s=slot: self.set_method(s, "a", name))
        picker.splitMethodChanged.connect(lambda name, s=slot: self._split_changed(s, name))
        picker.closeRequested.connect(lambda s=slot: self.grid.remove_pane(slots.index(s)))

    def slots(self) -> list[PaneSlot]:
        return list(self.grid.slots)

    def panes(self) -> list[ImagePane]:
        return [s.pane for s in self.grid.slots]

    def slot_of(self, state: PaneState) -> PaneSlot:
        return self.grid.slot_of(state)

    def active_slot(self) -> PaneSlot:
        return self.grid.active_slot()

    def set_active(self, index: int) -> None:
        self.grid.set_active(index)

    def refresh_pickers(self) -> None:
        self.grid.refresh_pickers()

    def set_method(self, slot: PaneSlot, side: str, name: str) -> None:
        if self.model.set_method(slot.state, side, name):
            self._method_changed(slot, side)

    def _method_changed(self, slot: PaneSlot, side: str) -> None:
        slot.pane.clear_tiles(side)
        self._update_label(slot, side)
        self.schedule_render()
        self.reference_actions.request_whole_metrics(slot)
        self.metrics_timer.start()

    def _split_changed(self, slot: PaneSlot, name: str | None) -> None:
        if name is None:
            self.model.set_split(slot.state, None)
            slot.pane.set_split(False)
        else:
            slot.pane.set_split(True)
            if self.model.set_split(slot.state, name):
                self._method_changed(slot, "b")
        if slot is self.grid.active_slot():
            self.acts.split_action.setChecked(slot.state.split)
        self.schedule_render()

    # ------------------------------------------------------------------ images

    def open_path(self, path: str | Path, keep_view: bool = False) -> int:
        """Start opening an image: it is read and decoded in a background
        thread while the current one stays on screen and usable. Then either
        the new image is shown or a dialog says why not (the current one
        stays); `openFinished` follows. Opening another file before this one
        is ready supersedes it. Returns the open's generation."""
        if self.closing:
            return 0
        self.statusBar().showMessage(f"Opening {Path(path).name}\u2026")
        generation = self.opener.open(path, self.pane_size())
        self._keep_view_generation = generation if keep_view else None
        return generation

    def is_opening(self) -> bool:
        return self.opener.busy

    @Slot(object)
    def _on_image_ready(self, result: OpenResult) -> None:
        if self.closing:
            return
        path = result.path
        if result.image is None:
            self.statusBar().clearMessage()
            QMessageBox.warning(self, "Cannot open image", result.error)
            self.openFinished.emit(path, False)
            return
        if self.model.reference is not None:
            self.reference_actions.leave_reference(reopen=False)
        loaded = result.image.loaded
        self.model.loaded = loaded
        keep_view = result.generation == self._keep_view_generation and self.model.image_rgb is not None
        remembered = None if keep_view else self.file_actions.take_remembered_view(path)
        self._show_image(result.image.rgb, fit=not keep_view and remembered is None, source=result.image.source)
        if keep_view or remembered is not None:
            self.apply_view(remembered or self.model.view)  # kept inside the new image
        self.file_actions.add_recent(str(Path(path).resolve()))
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
        image_id = self.model.show_image(rgb)
        shown = self.model.image_rgb
        assert shown is not None  # show_image has set it
        rgb = shown
        self.image_source = source if source is not None else ImageSource(to_display(rgb))
        self.service.set_image(image_id, rgb, getattr(self.model.loaded, "alpha", None))
        for slot in self.grid.slots:
            slot.pane.set_source(self.image_source)
            slot.pane.set_selection(None)
        self.fields.image_label.setText(self.model.image_label())
        self._update_zoom_range()
        if fit:
            self._fit_pending = True
            self.fit()
        self.schedule_render()

    # ------------------------------------------------------------------ view

    def pane_size(self) -> tuple[int, int]:
        return self.grid.slots[0].pane.physical_size() if self.grid.slots else (800, 600)

    def _update_zoom_range(self) -> None:
        lo, hi = self.model.zoom_limits(self.pane_size())
        self.zoom_slider.set_range(lo, hi)
        self.zoom_slider.set_zoom(self.model.view.zoom)

    def apply_view(self, view: ViewState, rest: bool = False) -> None:
        """Show `view` in every pane (clamped); then request tiles, at once or
        when the zoom rests."""
        if self.model.image_rgb is None or view is None:
            return
        before = self.model.view
        relabel = self.model.apply_view(view, self.pane_size())
        view = self.model.view
        for slot in self.grid.slots:
            slot.pane.set_view(view)
        self.zoom_slider.set_zoom(view.zoom)
        self.fields.zoom_label.setText(f"Zoom {format_zoom(view.zoom)}")
        if view != before:
            for state, side in relabel:
                self._update_label(self.slot_of(state), side)
            if rest:
                self._rest_timer.start()
            else:
                self.schedule_render()

    def schedule_render(self) -> None:
        self.session.touch()  # anything that asks for a render changed what a relaunch restores
        if not self._rest_timer.isActive():
            self._render_timer.start()

    def set_zoom(self, zoom: float) -> None:
        self.apply_view(self.model.view.with_zoom(zoom))

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self.model.view.zoom * factor)

    def fit(self) -> None:
        if self.model.image_rgb is None:
            return
        # Before the window is shown the panes' sizes are provisional: fit again then.
        self._fit_pending = not self.isVisible()
        self._update_zoom_range()
        self.apply_view(self.model.fit_view(self.pane_size()))

    @Slot(float)
    def _slider_zoom(self, zoom: float) -> None:
        # While dragging: panes show scaled previews; refine once it rests.
        self.apply_view(self.model.view.with_zoom(zoom), rest=self.zoom_slider.is_dragging())

    @Slot(float)
    def _slider_committed(self, zoom: float) -> None:
        self._rest_timer.stop()
        self.apply_view(self.model.view.with_zoom(zoom))
        self.schedule_render()

    def _pane_resized(self) -> None:
        if self.model.image_rgb is None:
            return
        if self._fit_pending:
            self.fit()
        else:
            self._update_zoom_range()
        self.schedule_render()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        # Fit once the panes have their real size.
        QTimer.singleShot(0, self._fit_if_pending)

    def _fit_if_pending(self) -> None:
        if self._fit_pending and self.model.image_rgb is not None:
            self.fit()

    # ------------------------------------------------------------------ rendering

    def request_render(self) -> None:
        """One request per visible pane side, each with a new generation."""
        if self.model.image_rgb is None or self.closing:
            return
        lattices = {id(s.state): s.pane.lattice() for s in self.grid.slots}
        for state, side, request in self.model.begin_renders(lambda p: lattices[id(p)], time.perf_counter()):
            slot = self.slot_of(state)
            slot.pane.begin_generation(side, state.sides[side].generation)
            if request is not None:
                self.service.submit(request)
            self._update_label(slot, side)
        if self.model.reference is not None:
            self.metrics_timer.start()
        if not self._progress_timer.isActive():
            self._progress_timer.start()
        self._update_progress_status()

    def _tick_progress(self) -> None:
        """Redraw the running renders' elapsed time and estimate; stop when none runs."""
        for slot in self.grid.slots:
            for side in slot.active_sides():
                if slot.sides[side].busy():
                    self._update_label(slot, side)
        self._update_progress_status()
        if not self.model.any_busy():
            self._progress_timer.stop()

    def _update_progress_status(self) -> None:
        """The status bar's summary: panes rendering, tiles left, time left."""
        self.fields.show_progress(*self.model.progress(time.perf_counter()))

    @Slot(object)
    def _on_tile(self, tile: RenderedTile) -> None:
        found = self.model.route(tile.generation, tile.target)
        if found is None:
            return  # a result of work the user has moved on from
        slot, side = self.slot_of(found[0]), found[1]
        st = slot.sides[side]
        if tile.error is not None:
            st.tile_failed(tile.error)
            self._update_label(slot, side)
            self.paneUpdated.emit(tile.target)
            return
        assert tile.rgb is not None  # a tile without an error has its pixels
        slot.pane.add_tile(side, tile.zoom, tile.u0, tile.v0, tile.rgb, tile.phase, tile.generation,
                           tile.view_zoom or None)
        st.tile_shown(tile, time.perf_counter())
        if tile.final:
            slot.pane.finish_generation(side)
        self._update_label(slot, side)
        if tile.final or tile.phase == Phase.FULL:
            self._update_progress_status()
        self.paneUpdated.emit(tile.target)

    def _update_label(self, slot: PaneSlot, side: str) -> None:
        status = side_status(slot.sides[side], self.model.book, time.perf_counter(), self.model.view.zoom)
        slot.pane.set_status(side, status)

    @Slot(int)
    def _on_queue(self, n: int) -> None:
        self.model.queue = n
        self._update_progress_status()

    def queue_length(self) -> int:
        return self.model.queue

    @Slot(str, object)
    def _on_method_loaded(self, name: str, weights: WeightsInfo | None) -> None:
        previous = self.model.book.weights_known.get(name)
        self.model.book.weights_known[name] = weights
        # New, or other weights (File > Load Weights): labels say "(untrained)" or not.
        if previous is not weights:
            self.grid.refresh_pickers(keep_method=False)
            for slot in self.grid.slots:
                for side in SIDES:
                    if slot.sides[side].method == name:
                        self._update_label(slot, side)
            self.service_actions.refresh_methods_dialog()

    def _selection_changed(self, selection: Rect | None) -> None:
        message = self.model.set_selection(selection)
        for slot in self.grid.slots:
            slot.pane.set_selection(selection)
        if message:
            self.statusBar().showMessage(message, 8000)

    # ------------------------------------------------------------------ Qt events: drops, palette, closing

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self.file_actions.drag_enter(event)

    def dropEvent(self, event: QDropEvent) -> None:
        if not self.service_actions.models.drop(event):  # a model file loads into the pane it was dropped on
            self.file_actions.drop(event)

    def changeEvent(self, event: QEvent) -> None:
        if hasattr(self, "acts"):  # not while the window is built
            self.acts.follow_palette(event)
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.closing = True
        self.service_actions.folder_upscale.cancel()  # at its next tile; the image in progress is not written
        self.opener.cancel()  # a load in flight finishes unseen in its daemon thread: closing never waits for it
        for timer in (self._render_timer, self._rest_timer, self.metrics_timer):
            timer.stop()
        self.session.stop()
        self.file_actions.remember_session()
        # The window goes at once; the worker stops at its next tile boundary
        # (a model call in flight cannot be interrupted) and is waited for.
        self.hide()
        QApplication.processEvents()
        self.service.shutdown()
        super().closeEvent(event)
