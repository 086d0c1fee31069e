"""Tools › Reference Mode and Error Map, and File › Open Reference, for the
main window: ask for the scale and show the simulated low-resolution image,
or read a separate reference (off the GUI thread) for the opened image as it
is; request and show scores. Which scores are wanted and which arrive in time
is the model's; which reference sizes match is inference.reference's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from PySide6.QtCore import QTimer, SignalInstance
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMainWindow, QMessageBox

from app.gui_thread import connect_gui
from app.image_opener import ImageOpener, OpenResult
from app.menus import Actions, StatusFields
from app.model import SIDES, MetricsRequest, PaneState, ViewerModel
from app.render_worker import MetricsJob, MetricsKind, MetricsResult, RenderService
from inference.render import ViewState

if TYPE_CHECKING:
    from app.pane_slot import PaneSlot


class ReferenceHost(Protocol):
    """What reference mode uses of the window besides the Qt window itself."""

    @property
    def service(self) -> RenderService: ...

    @property
    def closing(self) -> bool: ...

    @property
    def acts(self) -> Actions: ...

    @property
    def fields(self) -> StatusFields: ...

    @property
    def metrics_timer(self) -> QTimer: ...

    @property
    def paneUpdated(self) -> SignalInstance: ...

    def slots(self) -> list[PaneSlot]: ...

    def slot_of(self, state: PaneState) -> PaneSlot: ...

    def pane_size(self) -> tuple[int, int]: ...

    def apply_view(self, view: ViewState, rest: bool = False) -> None: ...

    def refresh_pickers(self) -> None: ...

    def schedule_render(self) -> None: ...

    # Named as benchmarks/gui_lag.py traces them on MainWindow.
    def _show_image(self, rgb: np.ndarray, fit: bool) -> None: ...

    def _update_label(self, slot: PaneSlot, side: str) -> None: ...


class ReferenceActions:
    """Reference mode for a main window: `window` is the Qt window (dialogs'
    parent), `host` its panes, actions, status fields and render service."""

    def __init__(self, window: QMainWindow, host: ReferenceHost, model: ViewerModel) -> None:
        self.window = window
        self.host = host
        self.model = model
        # File › Open Reference reads here, off the GUI thread; no display copy (it is never painted).
        self.opener = ImageOpener(window, display=False)
        connect_gui(self.opener.finished, self._on_reference_read)
        self._reference_for: Any = None  # the opened image (LoadedImage) the pending reference is for

    def toggle_reference(self) -> None:
        if self.model.reference is not None:
            self.leave_reference(reopen=True)
            return
        self.host.acts.reference_action.setChecked(False)
        if self.model.loaded is None:
            return
        scale, ok = QInputDialog.getDouble(
            self.window, "Reference mode",
            "Treat this image as ground truth and simulate a low-resolution copy, downscaled by:",
            4.0, 1.1, 16.0, 2)
        if ok:
            self.enter_reference(scale)

    def enter_reference(self, scale: float) -> bool:
        """Downsample the opened image by `scale` the evaluator's way and super-resolve that in every pane."""
        if self.model.loaded is None:
            return False
        try:
            ref = self.model.enter_reference(scale)
        except ValueError as error:
            QMessageBox.warning(self.window, "Reference mode", str(error))
            return False
        self._start(ref, f"Reference mode: the opened image is the ground truth; panes super-resolve "
                         f"it downscaled \u00d7{scale:g} (bicubic, as the evaluator makes LR). "
                         f"Scores: Y channel, {ref.shave} px border shaved.")
        return True

    def open_reference_dialog(self) -> None:
        """File › Open Reference: pick the opened image's high-resolution counterpart."""
        from app.file_actions import OPEN_FILTER

        if self.model.loaded is None:
            self.host.fields.show_status("Open an image first, then its reference", 5000)
            return
        path, _ = QFileDialog.getOpenFileName(self.window, "Open Reference (the opened image's high-resolution "
                                              "original)", str(Path(self.model.loaded.path).parent), OPEN_FILTER)
        if path:
            self.open_reference(path)

    def open_reference(self, path: str | Path) -> None:
        """Read `path` off the GUI thread (the hostile-input-safe reader), then
        score the panes against it, or refuse it in one line."""
        if self.model.loaded is None:
            return
        self._reference_for = self.model.loaded
        self.host.fields.show_status(f"Opening reference {Path(path).name}\u2026")
        self.opener.open(path)

    def _refuse(self, line: str) -> None:
        self.host.fields.show_status(line)
        QMessageBox.warning(self.window, "Cannot use this reference", line)

    def _on_reference_read(self, result: OpenResult) -> None:
        if self.host.closing or self.model.loaded is None or self.model.loaded is not self._reference_for:
            return  # closing, or another image was opened meanwhile: this reference was for the one before
        if result.image is None:
            self._refuse(result.error.replace("\n", " "))
            return
        try:
            ref = self.model.match_reference(result.path, result.image.rgb)
        except ValueError as error:
            self._refuse(str(error))
            return
        if self.model.reference is not None:
            self.leave_reference(reopen=True)  # the panes show the opened image again, the input
        self.model.use_reference(ref)
        self._start(ref, f"Reference: {ref.path}, the ground truth at \u00d7{ref.scale:g} of the opened image "
                         f"(cropped to {ref.hr_size[0]} \u00d7 {ref.hr_size[1]}). "
                         f"Scores: Y channel, {ref.shave} px border shaved.")

    def _start(self, ref: Any, detail: str) -> None:
        """Reference mode on with `ref`: pickers offer the ground truth, panes show
        the input (the simulated LR, or the opened image as it is) and get scored."""
        host, acts = self.host, self.host.acts
        host.service.set_reference(ref)
        acts.reference_action.setChecked(True)
        acts.error_map_action.setEnabled(True)
        host.refresh_pickers()
        if ref.path is None:
            host._show_image(ref.lr, fit=False)
        else:
            host.fields.image_label.setText(self.model.image_label())
        host.apply_view(self.model.reference_start_view(host.pane_size()))
        for slot in host.slots():
            self.request_whole_metrics(slot)
        host.metrics_timer.start()
        host.fields.show_status(self.model.reference_status(), detail=detail)

    def leave_reference(self, reopen: bool) -> None:
        """Reference mode off; with `reopen`, the panes show the opened image again."""
        from inference.reference import GROUND_TRUTH

        host, acts = self.host, self.host.acts
        simulated = self.model.reference is not None and self.model.reference.path is None
        on_truth = [(slot, side) for slot in host.slots() for side in SIDES if slot.sides[side].method == GROUND_TRUTH]
        self.model.leave_reference()
        for slot in host.slots():
            for side in SIDES:
                host._update_label(slot, side)
        host.metrics_timer.stop()
        host.fields.show_status("Reference mode off", 5000)
        host.service.set_reference(None)
        acts.reference_action.setChecked(False)
        acts.error_map_action.setChecked(False)
        acts.error_map_action.setEnabled(False)
        self.toggle_error_map()
        for slot in host.slots():
            for side in SIDES:
                slot.pane.set_overlay(side, 1, 1, 0, 0, None)
        host.refresh_pickers()
        if reopen and self.model.loaded is not None:
            if simulated:
                host._show_image(self.model.loaded.rgb, fit=True)
                return
            # A separate reference: the panes show the opened image already; what showed the ground truth changes.
            host.fields.image_label.setText(self.model.image_label())
            for slot, side in on_truth:
                slot.pane.clear_tiles(side)
            host.schedule_render()

    def _submit_metrics(self, requests: list[MetricsRequest]) -> None:
        for r in requests:
            self.host.service.request_metrics(MetricsJob(r.target, r.method, self.model.image_id,
                                                         MetricsKind(r.kind), r.generation, r.region))

    def request_whole_metrics(self, slot: PaneSlot) -> None:
        self._submit_metrics(self.model.whole_metrics(slot.state))

    def request_visible_metrics(self) -> None:
        sizes = {id(s.state): s.pane.physical_size() for s in self.host.slots()}
        self._submit_metrics(self.model.visible_metrics(lambda p: sizes[id(p)]))

    def on_metrics(self, result: MetricsResult) -> None:
        found = self.model.metrics_arrived(result)
        if found is None:
            return
        slot, side = self.host.slot_of(found[0]), found[1]
        if (result.kind == "visible" and result.error_map is not None and result.window is not None
                and result.hr_zoom is not None):
            c0, r0, _, _ = result.window
            zx, zy = result.hr_zoom
            slot.pane.set_overlay(side, zx, zy, c0, r0, result.error_map)
        self.host._update_label(slot, side)
        self.host.paneUpdated.emit(result.target)

    def toggle_error_map(self) -> None:
        on = self.host.acts.error_map_action.isChecked()
        for slot in self.host.slots():
            slot.pane.set_show_overlay(on)
        legend = self.host.fields.error_legend
        if on:
            from inference.metrics import Y_WEIGHTS
            from inference.reference import ERROR_MAP_FULL, error_heatmap

            # The map's own colours for luma errors 0 .. ERROR_MAP_FULL.
            ramp = np.linspace(0.0, ERROR_MAP_FULL, 24) / float(np.sum(Y_WEIGHTS))
            colours = error_heatmap(np.repeat(ramp[:, None], 3, 1), np.zeros((24, 3)))
            legend.set_scale(colours, ERROR_MAP_FULL)
        legend.setVisible(on)

    def metrics(self, index: int, side: str = "a") -> dict[str, MetricsResult]:
        return dict(self.host.slots()[index].sides[side].metrics)
