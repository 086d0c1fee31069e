"""The main window's render service and what configures it: Preferences
(device, precision, threads, caches), weights loaded by hand, Help › Methods
and Weights, and File › Upscale Folder's upscaler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.gui_thread import connect_gui
from app.model import SIDES
from app.render_worker import RenderService

WEIGHTS_FILTER = "Checkpoints (*.safetensors *.pth *.pt);;All files (*)"


class ServiceActions:
    """Mixed into MainWindow (which provides model, settings, preferences, the slots and the status bar)."""

    model: Any
    service: Any
    settings: Any
    preferences: Any
    methods_dialog: Any
    _device_arg: str
    _loader: Any
    _tile: int | None
    _closing: bool

    def _make_service(self, generations: Any = None) -> RenderService:
        prefs = self.preferences
        device = self._device_arg if self._device_arg not in (None, "", "auto") else prefs.device
        service = RenderService(device, self._loader, self._tile, parent=self, threads=prefs.threads(),  # type: ignore
                                options=prefs.upscaler_options(),
                                budgets={"tile_budget_bytes": prefs.tile_budget_bytes(),
                                         "feature_budget_bytes": prefs.feature_budget_bytes()},
                                generations=generations if generations is not None else self.model.generations)
        # Connected to the service's relays, never to the worker's own signals
        # (a GUI slot must run on the GUI thread; see app.gui_thread).
        for signal, slot in ((service.tileReady, self._on_tile), (service.queueChanged, self._on_queue),
                             (service.deviceReady, self._on_device), (service.metricsReady, self._on_metrics),
                             (service.exportProgress, self._on_export_progress),
                             (service.exportFinished, self._on_export_finished),
                             (service.methodLoaded, self._on_method_loaded),
                             (service.weightsLoaded, self._on_weights_loaded),
                             (service.weightsFailed, self._on_weights_failed),
                             (service.methodInspected, self._on_method_inspected),
                             (service.failed, self._on_worker_failed)):
            connect_gui(signal, slot)
        return service

    # ------------------------------------------------------------------ preferences

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

        dialog = PreferencesDialog(self.preferences, self._cuda_available(), self._precisions, self)  # type: ignore
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
        old.blockSignals(True)  # its relays may still hold results queued before the restart
        old.shutdown()
        # The old counter goes on: results of the old worker still queued for the GUI stay stale.
        self.service = self._make_service(old.generations)
        old.deleteLater()
        self.device_label.setText("Device: starting\u2026")  # type: ignore
        self.model.worker_restarted()
        if self.model.image_rgb is not None:
            self.service.set_image(self.model.image_id, self.model.image_rgb)
        if self.model.reference is not None:
            self.service.set_reference(self.model.reference)
        for method, path in self.model.book.weights_paths.items():
            self.service.load_weights(path, [method])
        for slot in self._slots:  # type: ignore
            for side in SIDES:
                slot.pane.clear_tiles(side)
            self._request_whole_metrics(slot)  # type: ignore
        self.request_render()  # type: ignore
        self.statusBar().showMessage(f"Preferences applied: {self._preferences_summary()}", 8000)  # type: ignore

    def _preferences_summary(self) -> str:
        p = self.preferences
        threads = "automatic" if not p.worker_threads else str(p.worker_threads)
        return (f"device {p.device}, {p.precision}, worker threads {threads}, caches {p.tile_cache_mb} MiB tiles "
                f"+ {p.feature_cache_mb} MiB features")

    @Slot(str)
    def _on_device(self, label: str) -> None:
        self.device_label.setText(label)  # type: ignore

    @Slot(str)
    def _on_worker_failed(self, message: str) -> None:
        self.statusBar().showMessage(message, 15000)  # type: ignore

    # ------------------------------------------------------------------ weights

    def weights_folder(self) -> str:
        """Where File › Load Weights opens: the last folder used, else resources/weights/."""
        from app.settings import start_folder
        from inference import registry

        last = self.settings.value("weightsDir")
        return start_folder(str(last) if last else None, registry.WEIGHTS_DIR)

    def load_weights_dialog(self, method: str | None = None) -> None:
        """Pick a checkpoint; with `method` (the methods dialog's button) only that method's weights are taken."""
        title = f"Load weights for {self.model.book.display_name(method)}" if method else "Load weights"
        path, _ = QFileDialog.getOpenFileName(self, title, self.weights_folder(), WEIGHTS_FILTER)  # type: ignore
        if path:
            self.settings.setValue("weightsDir", str(Path(path).parent))
            self.load_weights(path, method)

    def load_weights(self, path: str | Path, method: str | None = None) -> None:
        """Load a checkpoint in the worker for the method it declares (it must
        be `method` when given); the answer comes back as `_on_weights_loaded`
        or `_on_weights_failed`."""
        self.statusBar().showMessage(f"Loading weights from {Path(path).name}\u2026")  # type: ignore
        self.service.load_weights(str(path), [method] if method else self.model.book.names)

    @Slot(str, str)
    def _on_weights_loaded(self, method: str, path: str) -> None:
        book = self.model.book
        replaced = self.model.weights_replaced(method, path)
        for state, side in replaced:
            slot = self._slot_of(state)  # type: ignore
            slot.pane.clear_tiles(side)
            slot.pane.set_overlay(side, 1, 1, 0, 0, None)
            self._update_label(slot, side)  # type: ignore
        for state in dict.fromkeys(state for state, _ in replaced):
            self._request_whole_metrics(self._slot_of(state))  # type: ignore
        self._refresh_methods_dialog()
        weights = book.weights_known.get(method)
        summary = f": {weights.summary}" if weights is not None else ""
        self.statusBar().showMessage(  # type: ignore
            f"{book.display_name(method)} now uses {Path(path).name}{summary}", 10000)
        self.schedule_render()  # type: ignore
        if self.model.reference is not None:
            self._metrics_timer.start()  # type: ignore
        self.weightsChanged.emit(method, path)  # type: ignore

    @Slot(str, str)
    def _on_weights_failed(self, path: str, message: str) -> None:
        self.statusBar().showMessage(f"Weights not loaded: {message}", 15000)  # type: ignore
        if not self._closing:
            QMessageBox.warning(self, "Cannot load weights",  # type: ignore
                                f"{message}\n\nThe method keeps the weights it had.")
        self.weightsChanged.emit("", path)  # type: ignore

    # ------------------------------------------------------------------ Help › Methods and Weights

    def method_rows(self) -> list[Any]:
        """What Help › Methods and Weights shows, from the weights the worker loaded."""
        return self.model.book.rows()

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
        self.model.book.inspected[name] = (weights, problem)
        self._refresh_methods_dialog()

    def _refresh_methods_dialog(self) -> None:
        if self.methods_dialog is not None:
            self.methods_dialog.set_rows(self.method_rows())

    # ------------------------------------------------------------------ File › Upscale Folder

    def upscale_folder_dialog(self) -> None:
        self.folder_upscale.open_dialog()  # type: ignore

    def start_batch(self, spec: Any, interactive: bool = True) -> Any:
        """Upscale spec.folder into spec.output (app.batch_dialog.FolderUpscale); `batchFinished` at the end."""
        return self.folder_upscale.start(spec, interactive)  # type: ignore

    def _batch_upscaler(self, method: str) -> Any:
        """The method as the panes have it (weights picked by hand, Preferences' options), for a batch thread."""
        device = self.service.worker.device or "cpu"
        if self._loader is not None:
            return self._loader(method, device)
        from inference.catalog import is_interpolation, load_upscaler

        if is_interpolation(method):
            return load_upscaler(method, device)
        return load_upscaler(method, device, weights=self.model.book.weights_paths.get(method),
                             **self.preferences.upscaler_options())
