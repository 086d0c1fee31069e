"""The main window: a grid of 1-8 panes sharing one view, the zoom slider,
menus and toolbar, reference mode and export.

The state and its rules live in `app.model.ViewerModel` (no Qt); this class
wires it to the widgets and the render service. Panes and the slider only
*propose* views (signals); `apply_view` has the model clamp the proposal,
pushes it to every pane and the slider with non-emitting setters (so nothing
loops), and schedules render requests: soon for wheel, pan and keys, after the
zoom rests while the slider is dragged. Decoding happens in the render
worker's thread. Menus are built in app/menus.py; the pane widget pair in
app/pane_slot.py; files and session (file_actions), export (export_actions),
the worker, preferences and weights (service_actions) and reference mode
(reference_actions) are wired in their own modules, mixed in here.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QGridLayout,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QWidget,
)

from app.export_actions import ExportActions
from app.file_actions import SAMPLE_IMAGE, FileActions
from app.image_opener import ImageOpener, OpenResult
from app.menus import build_actions, build_menus, build_status_bar, build_toolbar
from app.model import MAX_PANES, SIDES, MethodBook, PaneState, SideState, ViewerModel, discover_methods, side_status
from app.pane_slot import PaneSlot
from app.recent_files import RecentFiles
from app.reference_actions import ReferenceActions
from app.service_actions import ServiceActions
from inference.render import MAX_ZOOM, Phase, RenderedTile, ViewState, to_display
from widgets.image_pane import ImagePane, ImageSource
from widgets.method_picker import MethodEntry
from widgets.zoom_slider import ZoomSlider, format_zoom

# Wheel, drag and key changes are coalesced this long before requesting tiles;
# while the zoom slider is dragged, refining waits until it has rested this long.
COALESCE_MS = 30
REST_MS = 150
METRICS_REST_MS = 350
# How often a rendering pane's elapsed time, progress and estimate are redrawn.
PROGRESS_MS = 500
GRID = {1: (1, 1), 2: (1, 2), 3: (1, 3), 4: (2, 2), 5: (2, 3), 6: (2, 3), 7: (2, 4), 8: (2, 4)}
__all__ = ["MAX_PANES", "SAMPLE_IMAGE", "MainWindow", "PaneSlot", "SideState", "run_gui"]


class MainWindow(FileActions, ExportActions, ReferenceActions, ServiceActions, QMainWindow):
    imageOpened = Signal(str)
    openFinished = Signal(str, bool)  # path, shown (False: refused, the dialog said why); the newest open only
    paneUpdated = Signal(object)  # target
    exportDone = Signal(object)  # ExportResult
    weightsChanged = Signal(str, str)  # method ("" when refused), path
    batchFinished = Signal(object)  # inference.batch.BatchReport

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
        names, method_error = discover_methods(methods)
        self.model = ViewerModel(MethodBook(names))
        self.preferences = self._validated_preferences(self._stored_preferences())
        self.service = self._make_service()
        self.methods_dialog: Any = None
        self._fit_pending = False
        self._slots: list[PaneSlot] = []
        self._export_dialog: QProgressDialog | None = None
        self._keep_view_generation: int | None = None  # an open that keeps the view (browsing)
        from app.batch_dialog import FolderUpscale

        self.folder_upscale = FolderUpscale(self)
        self.folder_upscale.finished.connect(self.batchFinished)
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
        self.actions_made = build_actions(self)
        build_menus(self)
        build_toolbar(self)
        self.recent = RecentFiles(self.settings, self.recent_menu, self.open_path)
        build_status_bar(self)
        remembered = [] if panes else self._remembered_panes()
        for name in panes or [p.method for p in remembered] or self.model.book.default_panes(
                self.settings.value("panes")):
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

    # ------------------------------------------------------------------ the model's state, as tests read it

    view = property(lambda self: self.model.view)
    selection = property(lambda self: self.model.selection)
    image_rgb = property(lambda self: self.model.image_rgb)
    image_id = property(lambda self: self.model.image_id)
    loaded = property(lambda self: self.model.loaded)
    reference = property(lambda self: self.model.reference)
    method_names = property(lambda self: self.model.book.names)
    weights_known = property(lambda self: self.model.book.weights_known)
    weights_paths = property(lambda self: self.model.book.weights_paths)

    def display_name(self, name: str) -> str:
        return self.model.book.display_name(name)

    def _entries(self) -> list[MethodEntry]:
        return [MethodEntry(*entry) for entry in self.model.book.entries(self.model.reference is not None)]

    # ------------------------------------------------------------------ panes

    def slots(self) -> list[PaneSlot]:
        return list(self._slots)

    def panes(self) -> list[ImagePane]:
        return [s.pane for s in self._slots]

    def _slot_of(self, state: PaneState) -> PaneSlot:
        return next(s for s in self._slots if s.state is state)

    def add_pane(self, method: str | None = None, rearrange: bool = True) -> PaneSlot | None:
        state = self.model.add_pane(method)
        if state is None:
            self.statusBar().showMessage(f"At most {MAX_PANES} panes", 4000)
            return None
        slot = PaneSlot(state, self._entries())
        pane = slot.pane
        pane.set_source(self._source if self.model.image_rgb is not None else None)
        pane.set_view(self.model.view)
        pane.set_select_mode(self.select_action.isChecked())
        pane.set_show_overlay(self.error_map_action.isChecked())
        pane.set_selection(self.model.selection)
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
        if self.model.remove_pane(index) is None:
            return
        slot = self._slots.pop(index)
        self._grid.removeWidget(slot.frame)
        slot.frame.setParent(None)
        slot.frame.deleteLater()
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
        for i, a in enumerate(self.count_actions):
            a.setChecked(i + 1 == len(self._slots))
        self.set_active(min(self.model.active, len(self._slots) - 1))
        self.add_pane_action.setEnabled(len(self._slots) < MAX_PANES)
        self.remove_pane_action.setEnabled(len(self._slots) > 1)

    def set_active(self, index: int) -> None:
        self.model.active = index
        for i, slot in enumerate(self._slots):
            slot.pane.set_active(i == index and len(self._slots) > 1)
        if 0 <= index < len(self._slots):
            self.split_action.setChecked(self._slots[index].state.split)

    def active_slot(self) -> PaneSlot:
        return self._slots[self.model.active]

    def set_method(self, slot: PaneSlot, side: str, name: str) -> None:
        if self.model.set_method(slot.state, side, name):
            self._method_changed(slot, side)

    def _method_changed(self, slot: PaneSlot, side: str) -> None:
        slot.pane.clear_tiles(side)
        self._update_label(slot, side)
        self.schedule_render()
        self._request_whole_metrics(slot)
        self._metrics_timer.start()

    def _split_changed(self, slot: PaneSlot, name: str | None) -> None:
        if name is None:
            self.model.set_split(slot.state, None)
            slot.pane.set_split(False)
        else:
            slot.pane.set_split(True)
            if self.model.set_split(slot.state, name):
                self._method_changed(slot, "b")
        if slot is self.active_slot():
            self.split_action.setChecked(slot.state.split)
        self.schedule_render()

    def flip_active_pane(self) -> None:
        """Show the active pane's other method in place (same view): the method it
        showed before, else the ground truth in reference mode, else bicubic."""
        slot = self.active_slot()
        current = slot.sides["a"].method
        other = self.model.flip_partner(slot.state)
        if other is None:
            return
        slot.picker.set_method(other)  # the picker's signal calls set_method
        self.statusBar().showMessage(f"Pane {self.model.active + 1}: {self.display_name(other)} "
                                     f"(F flips back to {self.display_name(current)})", 4000)

    def toggle_split(self) -> None:
        slot = self.active_slot()
        slot.picker.set_split_method(None if slot.state.split else self.model.split_partner(slot.state))

    def _refresh_pickers(self) -> None:
        """The pickers offer the methods anew (weights loaded, reference mode), keeping each pane's method."""
        entries = self._entries()
        for slot in self._slots:
            slot.picker.blockSignals(True)
            slot.picker.set_methods(entries)
            if slot.sides["a"].method in slot.picker.names():
                slot.picker.set_method(slot.sides["a"].method)
            slot.picker.blockSignals(False)

    # ------------------------------------------------------------------ images

    @property
    def _source(self) -> ImageSource | None:
        return getattr(self, "_image_source", None)

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
        if self.model.reference is not None:
            self._leave_reference(reopen=False)
        loaded = result.image.loaded
        self.model.loaded = loaded
        keep_view = result.generation == self._keep_view_generation and self.model.image_rgb is not None
        self._show_image(result.image.rgb, fit=not keep_view, source=result.image.source)
        if keep_view:
            self.apply_view(self.model.view)  # the same view, kept inside the new image
        self.recent.add(str(Path(path).resolve()))
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
        rgb = self.model.image_rgb
        self._image_source = source if source is not None else ImageSource(to_display(rgb))
        self.service.set_image(image_id, rgb)
        for slot in self._slots:
            slot.pane.set_source(self._source)
            slot.pane.set_selection(None)
        self.image_label.setText(self.model.image_label())
        self._update_zoom_range()
        if fit:
            self._fit_pending = True
            self.fit()
        self.schedule_render()

    # ------------------------------------------------------------------ view

    def pane_size(self) -> tuple[int, int]:
        return self._slots[0].pane.physical_size() if self._slots else (800, 600)

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
        for slot in self._slots:
            slot.pane.set_view(view)
        self.zoom_slider.set_zoom(view.zoom)
        self.zoom_label.setText(f"Zoom {format_zoom(view.zoom)}")
        if view != before:
            for state, side in relabel:
                self._update_label(self._slot_of(state), side)
            if rest:
                self._rest_timer.start()
            else:
                self.schedule_render()

    def schedule_render(self) -> None:
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

    def showEvent(self, event: Any) -> None:  # noqa: N802
        super().showEvent(event)
        # Fit once the panes have their real size.
        QTimer.singleShot(0, self._fit_if_pending)

    def _fit_if_pending(self) -> None:
        if self._fit_pending and self.model.image_rgb is not None:
            self.fit()

    # ------------------------------------------------------------------ rendering

    def request_render(self) -> None:
        """One request per visible pane side, each with a new generation."""
        if self.model.image_rgb is None or self._closing:
            return
        lattices = {id(s.state): s.pane.lattice() for s in self._slots}
        for state, side, request in self.model.begin_renders(lambda p: lattices[id(p)], time.perf_counter()):
            slot = self._slot_of(state)
            slot.pane.begin_generation(side, state.sides[side].generation)
            if request is not None:
                self.service.submit(request)
            self._update_label(slot, side)
        if self.model.reference is not None:
            self._metrics_timer.start()
        if not self._progress_timer.isActive():
            self._progress_timer.start()
        self._update_progress_status()

    def _tick_progress(self) -> None:
        """Redraw the running renders' elapsed time and estimate; stop when none runs."""
        for slot in self._slots:
            for side in slot.active_sides():
                if slot.sides[side].busy():
                    self._update_label(slot, side)
        self._update_progress_status()
        if not self.model.any_busy():
            self._progress_timer.stop()

    def _update_progress_status(self) -> None:
        """The status bar's summary: panes rendering, tiles left, time left."""
        text, tooltip = self.model.progress(time.perf_counter())
        self.queue_label.setText(text)
        self.queue_label.setToolTip(tooltip)

    @Slot(object)
    def _on_tile(self, tile: RenderedTile) -> None:
        found = self.model.route(tile.generation, tile.target)
        if found is None:
            return  # a result of work the user has moved on from
        slot, side = self._slot_of(found[0]), found[1]
        st = slot.sides[side]
        if tile.error is not None:
            st.tile_failed(tile.error)
            self._update_label(slot, side)
            self.paneUpdated.emit(tile.target)
            return
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
        slot.pane.set_status(side, side_status(slot.sides[side], self.model.book, time.perf_counter()))

    @Slot(int)
    def _on_queue(self, n: int) -> None:
        self.model.queue = n
        self._update_progress_status()

    def queue_length(self) -> int:
        return self.model.queue

    @Slot(str, object)
    def _on_method_loaded(self, name: str, weights: Any) -> None:
        previous = self.model.book.weights_known.get(name)
        self.model.book.weights_known[name] = weights
        # New, or other weights (File > Load Weights): labels say "(untrained)" or not.
        if previous is not weights:
            entries = self._entries()
            for slot in self._slots:
                slot.picker.blockSignals(True)
                slot.picker.set_methods(entries)
                slot.picker.blockSignals(False)
                for side in SIDES:
                    if slot.sides[side].method == name:
                        self._update_label(slot, side)
            self._refresh_methods_dialog()

    # ------------------------------------------------------------------ selection

    def toggle_select_mode(self) -> None:
        on = self.select_action.isChecked()
        for slot in self._slots:
            slot.pane.set_select_mode(on)

    def _selection_changed(self, selection: Any) -> None:
        message = self.model.set_selection(selection)
        for slot in self._slots:
            slot.pane.set_selection(selection)
        if message:
            self.statusBar().showMessage(message, 8000)

    # ------------------------------------------------------------------ drops, help, closing

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            if url.isLocalFile():
                event.acceptProposedAction()
                self.open_path(url.toLocalFile())
                return

    def changeEvent(self, event: Any) -> None:  # noqa: N802
        if hasattr(self, "actions_made"):
            self.actions_made.follow_palette(event)
        super().changeEvent(event)

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
