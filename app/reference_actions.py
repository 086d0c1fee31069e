"""Tools › Reference Mode and Error Map for the main window: ask for the
scale, show the simulated low-resolution image, request and show scores.
Which scores are wanted and which arrive in time is the model's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
from PySide6.QtCore import QTimer, SignalInstance
from PySide6.QtWidgets import QInputDialog, QMainWindow, QMessageBox

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
    def acts(self) -> Actions: ...

    @property
    def fields(self) -> StatusFields: ...

    @property
    def metrics_timer(self) -> QTimer: ...

    @property
    def paneUpdated(self) -> SignalInstance: ...  # noqa: N802 (the window's Qt signal)

    def slots(self) -> list[PaneSlot]: ...

    def slot_of(self, state: PaneState) -> PaneSlot: ...

    def pane_size(self) -> tuple[int, int]: ...

    def apply_view(self, view: ViewState, rest: bool = False) -> None: ...

    def refresh_pickers(self) -> None: ...

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
        host, acts = self.host, self.host.acts
        host.service.set_reference(ref)
        acts.reference_action.setChecked(True)
        acts.error_map_action.setEnabled(True)
        host.refresh_pickers()
        host._show_image(ref.lr, fit=False)
        host.apply_view(self.model.reference_start_view(host.pane_size()))
        for slot in host.slots():
            self.request_whole_metrics(slot)
        host.fields.show_status(f"Reference mode \u00d7{scale:g}: the opened image is the ground truth",
                                detail=f"Reference mode: the opened image is the ground truth; panes super-resolve "
                                       f"it downscaled \u00d7{scale:g} (bicubic, as the evaluator makes LR). "
                                       f"Scores: Y channel, {ref.shave} px border shaved.")
        return True

    def leave_reference(self, reopen: bool) -> None:
        host, acts = self.host, self.host.acts
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
            host._show_image(self.model.loaded.rgb, fit=True)

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
