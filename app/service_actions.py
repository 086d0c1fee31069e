"""The main window's render service and what configures it: Preferences
(device, precision, threads, caches), weights loaded by hand, the user's own
model files (`models`: app/model_actions.py), Help › Methods and Weights, and
File › Upscale Folder's upscaler."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QSettings, QTimer, SignalInstance
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from app.batch_dialog import BatchRunner, BatchSpec, FolderUpscale
from app.gui_thread import connect_gui
from app.menus import StatusFields
from app.model import SIDES, PaneState, ViewerModel
from app.model.method_rows import MethodRow
from app.model_actions import ModelActions
from app.preferences import Preferences
from app.render_worker import Loader, RenderService
from inference.render import GenerationCounter
from inference.upscaler import Upscaler
from inference.weights import WeightsInfo

if TYPE_CHECKING:
    from app.methods_dialog import MethodsDialog
    from app.pane_grid import PaneGrid
    from app.pane_slot import PaneSlot

WEIGHTS_FILTER = "Checkpoints (*.safetensors *.pth *.pt);;All files (*)"


class ServiceHost(Protocol):
    """What the service actions use of the window besides the Qt window itself."""

    @property
    def closing(self) -> bool: ...

    @property
    def fields(self) -> StatusFields: ...

    @property
    def metrics_timer(self) -> QTimer: ...

    @property
    def grid(self) -> PaneGrid: ...

    @property
    def weightsChanged(self) -> SignalInstance: ...

    def connect_service(self, service: RenderService) -> None:
        """Connect the window's own slots to `service`'s relays (through `connect_gui`)."""
        ...

    def slots(self) -> list[PaneSlot]: ...

    def slot_of(self, state: PaneState) -> PaneSlot: ...

    def active_slot(self) -> PaneSlot: ...

    def refresh_pickers(self) -> None: ...

    def request_render(self) -> None: ...

    def schedule_render(self) -> None: ...

    def request_whole_metrics(self, slot: PaneSlot) -> None: ...

    # Named as benchmarks/gui_lag.py traces it on MainWindow.
    def _update_label(self, slot: PaneSlot, side: str) -> None: ...


class ServiceActions:
    """The render service of a main window and what configures it: `window` is
    the Qt window (dialogs' parent, status bar), `host` its panes and labels.
    Owns `service` (replaced when Preferences change), `preferences`, the
    methods dialog and File › Upscale Folder."""

    def __init__(self, window: QMainWindow, host: ServiceHost, model: ViewerModel, settings: QSettings,
                 device: str = "auto", loader: Loader | None = None, tile: int | None = None) -> None:
        self.window = window
        self.host = host
        self.model = model
        self.settings = settings
        # A device named on the command line wins over the one in Preferences until Preferences change it.
        self._device_arg = device
        self._loader = loader
        self._tile = tile
        self.preferences = self._validated_preferences(self._stored_preferences())
        # The user's own model files (File › Load Model, drops, remembered ones), loaded by the worker.
        self.models = ModelActions(window, host, model, settings, lambda: self.service, self.refresh_methods_dialog,
                                   load_weights=self.load_weights)
        self.service = self._make_service()
        self.methods_dialog: MethodsDialog | None = None
        self.folder_upscale = FolderUpscale(window, model, settings, host, lambda m: self.batch_upscaler(m))
        self.models.restore()

    def _make_service(self, generations: GenerationCounter | None = None) -> RenderService:
        prefs = self.preferences
        device = self._device_arg if self._device_arg not in (None, "", "auto") else prefs.device
        service = RenderService(device, self._loader, self._tile, parent=self.window, threads=prefs.threads(),
                                options=prefs.upscaler_options(),
                                budgets={"tile_budget_bytes": prefs.tile_budget_bytes(),
                                         "feature_budget_bytes": prefs.feature_budget_bytes()},
                                generations=generations if generations is not None else self.model.generations)
        # Connected to the service's relays, never to the worker's own signals
        # (a GUI slot must run on the GUI thread; see app.gui_thread): these
        # here, tiles, the queue, scores and exports by the window.
        for signal, slot in ((service.deviceReady, self._on_device),
                             (service.weightsLoaded, self._on_weights_loaded),
                             (service.weightsFailed, self._on_weights_failed),
                             (service.methodInspected, self._on_method_inspected),
                             (service.modelLoaded, self.models.on_loaded),
                             (service.modelFailed, self.models.on_failed),
                             (service.failed, self._on_worker_failed)):
            connect_gui(signal, slot)
        self.host.connect_service(service)
        return service

    # ------------------------------------------------------------------ preferences

    def _stored_preferences(self) -> Preferences:
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

    def _validated_preferences(self, prefs: Preferences) -> Preferences:
        import torch

        from app.preferences import validated
        from inference.precision import native_bf16

        return validated(prefs, self._cuda_available(), lambda d: native_bf16(torch.device(d)))

    def preferences_dialog(self) -> None:
        from app.preferences_dialog import PreferencesDialog

        dialog = PreferencesDialog(self.preferences, self._cuda_available(), self._precisions, self.window)
        if dialog.exec() == PreferencesDialog.DialogCode.Accepted:
            self.apply_preferences(dialog.preferences())

    def apply_preferences(self, prefs: Preferences) -> bool:
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
        self.host.fields.device_label.setText("Device: starting\u2026")
        self.model.worker_restarted()
        if self.model.image_rgb is not None:
            self.service.set_image(self.model.image_id, self.model.image_rgb, getattr(self.model.loaded, "alpha", None))
        if self.model.reference is not None:
            self.service.set_reference(self.model.reference)
        for method, path in self.model.book.weights_paths.items():
            self.service.load_weights(path, [method])
        for slot in self.host.slots():
            for side in SIDES:
                slot.pane.clear_tiles(side)
            self.host.request_whole_metrics(slot)
        self.host.request_render()
        self.window.statusBar().showMessage(f"Preferences applied: {self._preferences_summary()}", 8000)

    def _preferences_summary(self) -> str:
        import os

        from app.model.run_info import preferences_summary
        from app.preferences import resolved_device

        p = self.preferences
        return preferences_summary(p.device, p.precision, p.worker_threads, p.tile_cache_mb, p.feature_cache_mb,
                                   resolved_device(p.device, self._cuda_available()), os.cpu_count())

    def run_description(self, method: str) -> str:
        """Where and in which precision `method` runs, in words ('LIIF on the CPU
        in bfloat16 (decoder), float32 (encoder)'): the worker's device and the
        precision Preferences ask for, resolved per part as the upscaler does."""
        import torch

        from app.model.run_info import run_description
        from app.preferences import resolved_device
        from inference import catalog
        from inference.precision import resolve_precision
        from inference.reference import GROUND_TRUTH

        if not method:
            return ""
        display = self.model.book.display_name(method)
        if method == GROUND_TRUTH:
            return run_description(display, "", None, ground_truth=True)
        device = self.service.worker.device
        if not isinstance(device, torch.device):  # the worker has not started yet
            device = torch.device(resolved_device(self._device_arg if self._device_arg not in (None, "", "auto")
                                                  else self.preferences.device, self._cuda_available()))
        try:
            if catalog.is_interpolation(method):
                return run_description(display, device.type, None, interpolation=True)
        except Exception:  # noqa: BLE001 - a name the registry does not know: a learned method
            pass
        requested = self.preferences.precision
        try:
            decoder = resolve_precision(requested, method, device)
            encoder = resolve_precision(requested, method, device, part="encoder")
        except ValueError:
            return run_description(display, device.type, None)
        return run_description(display, device.type, decoder, encoder)

    def _on_device(self, label: str) -> None:
        self.host.fields.device_label.setText(label)

    def _on_worker_failed(self, message: str) -> None:
        self.window.statusBar().showMessage(message, 15000)

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
        path, _ = QFileDialog.getOpenFileName(self.window, title, self.weights_folder(), WEIGHTS_FILTER)
        if path:
            self.settings.setValue("weightsDir", str(Path(path).parent))
            self.load_weights(path, method)

    def load_weights(self, path: str | Path, method: str | None = None) -> None:
        """Load a checkpoint in the worker for the method it declares (it must
        be `method` when given); the answer comes back as `_on_weights_loaded`
        or `_on_weights_failed`."""
        self.window.statusBar().showMessage(f"Loading weights from {Path(path).name}\u2026")
        self.service.load_weights(str(path), [method] if method else self.model.book.names)

    def _on_weights_loaded(self, method: str, path: str) -> None:
        book, host = self.model.book, self.host
        replaced = self.model.weights_replaced(method, path)
        for state, side in replaced:
            slot = host.slot_of(state)
            slot.pane.clear_tiles(side)
            slot.pane.set_overlay(side, 1, 1, 0, 0, None)
            host._update_label(slot, side)
        for state in dict.fromkeys(state for state, _ in replaced):
            host.request_whole_metrics(host.slot_of(state))
        self.refresh_methods_dialog()
        weights = book.weights_known.get(method)
        summary = f": {weights.summary}" if weights is not None else ""
        self.window.statusBar().showMessage(
            f"{book.display_name(method)} now uses {Path(path).name}{summary}", 10000)
        host.schedule_render()
        if self.model.reference is not None:
            host.metrics_timer.start()
        host.weightsChanged.emit(method, path)

    def _on_weights_failed(self, path: str, message: str) -> None:
        self.window.statusBar().showMessage(f"Weights not loaded: {message}", 15000)
        if not self.host.closing:
            QMessageBox.warning(self.window, "Cannot load weights",
                                f"{message}\n\nThe method keeps the weights it had.")
        self.host.weightsChanged.emit("", path)

    # ------------------------------------------------------------------ Help › Methods and Weights

    def method_rows(self) -> list[MethodRow]:
        """What Help › Methods and Weights shows, from the weights the worker loaded."""
        return self.model.book.rows()

    def show_methods(self) -> None:
        """Help › Methods and Weights (non-modal; it follows weights loaded while it is open)."""
        from app.methods_dialog import MethodsDialog

        if self.methods_dialog is None:
            self.methods_dialog = MethodsDialog(self.method_rows(), self.window)
            self.methods_dialog.loadRequested.connect(self.load_weights_dialog)
        self.refresh_methods_dialog()
        self.methods_dialog.show()
        self.methods_dialog.raise_()
        # Ask the worker: it loads each method the way a pane would and says what it got.
        self.service.inspect_methods([r.name for r in self.method_rows() if r.learned])

    def _on_method_inspected(self, name: str, weights: WeightsInfo | None, problem: str) -> None:
        self.model.book.inspected[name] = (weights, problem)
        self.refresh_methods_dialog()

    def refresh_methods_dialog(self) -> None:
        if self.methods_dialog is not None:
            self.methods_dialog.set_rows(self.method_rows())

    # ------------------------------------------------------------------ File › Upscale Folder

    def upscale_folder_dialog(self) -> None:
        self.folder_upscale.open_dialog()

    def start_batch(self, spec: BatchSpec, interactive: bool = True) -> BatchRunner | None:
        """Upscale spec.folder into spec.output (app.batch_dialog.FolderUpscale); `batchFinished` at the end."""
        return self.folder_upscale.start(spec, interactive)

    def batch_upscaler(self, method: str) -> Upscaler:
        """The method as the panes have it (weights picked by hand, Preferences' options), for a batch thread."""
        from inference import user_models

        device = self.service.worker.device or "cpu"
        if self._loader is not None and not user_models.is_user_model(method):
            upscaler: Upscaler = self._loader(method, device)
            return upscaler
        from inference.catalog import is_interpolation, load_upscaler

        if is_interpolation(method):
            return load_upscaler(method, device)
        return load_upscaler(method, device, weights=self.model.book.weights_paths.get(method),
                             **self.preferences.upscaler_options())
