"""Tools › Reference Mode and Error Map for the main window: ask for the
scale, show the simulated low-resolution image, request and show scores.
Which scores are wanted and which arrive in time is the model's."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QInputDialog, QMessageBox

from app.model import SIDES
from app.render_worker import MetricsJob, MetricsResult


class ReferenceActions:
    """Mixed into MainWindow (which provides model, service, the slots, actions and timers)."""

    model: Any
    service: Any

    def toggle_reference(self) -> None:
        if self.model.reference is not None:
            self._leave_reference(reopen=True)
            return
        self.reference_action.setChecked(False)  # type: ignore
        if self.model.loaded is None:
            return
        scale, ok = QInputDialog.getDouble(
            self, "Reference mode",  # type: ignore
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
            QMessageBox.warning(self, "Reference mode", str(error))  # type: ignore
            return False
        self.service.set_reference(ref)
        self.reference_action.setChecked(True)  # type: ignore
        self.error_map_action.setEnabled(True)  # type: ignore
        self._refresh_pickers()  # type: ignore
        self._show_image(ref.lr, fit=False)  # type: ignore
        self.apply_view(self.model.reference_start_view(self.pane_size()))  # type: ignore
        for slot in self._slots:  # type: ignore
            self._request_whole_metrics(slot)
        self.show_status(f"Reference mode \u00d7{scale:g}: the opened image is the ground truth",  # type: ignore
                         detail=f"Reference mode: the opened image is the ground truth; panes super-resolve it "
                                f"downscaled \u00d7{scale:g} (bicubic, as the evaluator makes LR). "
                                f"Scores: Y channel, {ref.shave} px border shaved.")
        return True

    def _leave_reference(self, reopen: bool) -> None:
        self.model.leave_reference()
        for slot in self._slots:  # type: ignore
            for side in SIDES:
                self._update_label(slot, side)  # type: ignore
        self._metrics_timer.stop()  # type: ignore
        self.show_status("Reference mode off", 5000)  # type: ignore
        self.service.set_reference(None)
        self.reference_action.setChecked(False)  # type: ignore
        self.error_map_action.setChecked(False)  # type: ignore
        self.error_map_action.setEnabled(False)  # type: ignore
        self.toggle_error_map()
        for slot in self._slots:  # type: ignore
            for side in SIDES:
                slot.pane.set_overlay(side, 1, 1, 0, 0, None)
        self._refresh_pickers()  # type: ignore
        if reopen and self.model.loaded is not None:
            self._show_image(self.model.loaded.rgb, fit=True)  # type: ignore

    def _submit_metrics(self, requests: list[Any]) -> None:
        for r in requests:
            self.service.request_metrics(MetricsJob(r.target, r.method, self.model.image_id, r.kind, r.generation,
                                                    r.region))

    def _request_whole_metrics(self, slot: Any) -> None:
        self._submit_metrics(self.model.whole_metrics(slot.state))

    def request_visible_metrics(self) -> None:
        sizes = {id(s.state): s.pane.physical_size() for s in self._slots}  # type: ignore
        self._submit_metrics(self.model.visible_metrics(lambda p: sizes[id(p)]))

    @Slot(object)
    def _on_metrics(self, result: MetricsResult) -> None:
        found = self.model.metrics_arrived(result)
        if found is None:
            return
        slot, side = self._slot_of(found[0]), found[1]  # type: ignore
        if result.kind == "visible" and result.error_map is not None and result.window is not None:
            c0, r0, _, _ = result.window
            zx, zy = result.hr_zoom
            slot.pane.set_overlay(side, zx, zy, c0, r0, result.error_map)
        self._update_label(slot, side)  # type: ignore
        self.paneUpdated.emit(result.target)  # type: ignore

    def toggle_error_map(self) -> None:
        on = self.error_map_action.isChecked()  # type: ignore
        for slot in self._slots:  # type: ignore
            slot.pane.set_show_overlay(on)
        if on:
            from inference.metrics import Y_WEIGHTS
            from inference.reference import ERROR_MAP_FULL, error_heatmap

            # The map's own colours for luma errors 0 .. ERROR_MAP_FULL.
            ramp = np.linspace(0.0, ERROR_MAP_FULL, 24) / float(np.sum(Y_WEIGHTS))
            colours = error_heatmap(np.repeat(ramp[:, None], 3, 1), np.zeros((24, 3)))
            self.error_legend.set_scale(colours, ERROR_MAP_FULL)  # type: ignore
        self.error_legend.setVisible(on)  # type: ignore

    def metrics(self, index: int, side: str = "a") -> dict[str, MetricsResult]:
        return dict(self._slots[index].sides[side].metrics)  # type: ignore
