"""File › Export View, Export Whole Image and Export Comparison for the main
window: the dialogs and the progress dialog. What an export samples and
saves (the lattice, bicubic at zoom <= 1, metadata) is the model's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QSettings, Qt, SignalInstance
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QProgressDialog

from app.model import ViewerModel
from app.render_worker import ExportJob, ExportKind, ExportResult, RenderService
from inference.geometry import Lattice

if TYPE_CHECKING:
    from app.pane_slot import PaneSlot

COMPARISON_FILTER = "PNG image (*.png);;TIFF image (*.tif *.tiff);;WebP image (*.webp)"


class ExportHost(Protocol):
    """What the export actions use of the window besides the Qt window itself."""

    @property
    def service(self) -> RenderService: ...

    @property
    def closing(self) -> bool: ...

    @property
    def exportDone(self) -> SignalInstance: ...

    def active_slot(self) -> PaneSlot: ...

    def pane_size(self) -> tuple[int, int]: ...


class ExportActions:
    """File › Export for a main window: `window` is the Qt window (dialogs'
    parent, status bar), `host` its render service, panes and `exportDone`."""

    def __init__(self, window: QMainWindow, host: ExportHost, model: ViewerModel, settings: QSettings) -> None:
        self.window = window
        self.host = host
        self.model = model
        self.settings = settings
        self._export_dialog: QProgressDialog | None = None

    def export_lattice(self, area: str, mode: str = "zoom", scale: float = 0.0, width: int = 0) -> Lattice | None:
        """The lattice an export samples: the same one the panes show at the current zoom."""
        if self.model.image_rgb is None:
            return None
        return self.model.export_lattice(area, mode, scale, width, pane_size=self.host.pane_size(),
                                         view_lattice=self.host.active_slot().pane.lattice())

    def default_export_path(self, method: str, zoom: float | None) -> str:
        """butterfly_liif_x3.7.png in the folder last exported to, else the user's
        Pictures (never the image's own folder, nor inside the package: app.folders)."""
        from app.folders import propose

        last = self.settings.value("exportDir")
        return self.model.default_export_path(method, zoom, str(propose(str(last) if last else None)))

    def export_dialog(self, area: str = "view") -> None:
        from app.export_dialog import ExportDialog

        if self.model.image_rgb is None:
            return
        choices, active = self.model.pane_choices()

        def size_for(a: str, mode: str, scale: float, width: int) -> tuple[int, int] | None:
            lat = self.export_lattice(a, mode, scale, width)
            return (lat.width, lat.height) if lat is not None else None

        def path_for(method: str, a: str, mode: str, scale: float, width: int) -> str:
            lat = self.export_lattice(a, mode, scale, width)
            return self.default_export_path(method, lat.zx if lat is not None else None)

        has_selection = self.model.selection is not None
        dialog = ExportDialog(choices, active, self.model.view.zoom, has_selection,
                              "selection" if area == "view" and has_selection else area,
                              "", size_for, self.window, path_for=path_for)
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
            QMessageBox.warning(self.window, "Export", "Nothing of the image is in that area.")
            return False
        plan = self.model.export_plan(lattice, method or self.host.active_slot().sides["a"].method)
        self._start_export(ExportJob(ExportKind.REGION, str(path), lattice, self.model.image_id, method=plan.method,
                                     bits=bits, metadata=plan.metadata), progress_dialog)
        return True

    def export_comparison_dialog(self) -> None:
        if self.model.image_rgb is None:
            return
        lattice = self.export_lattice("selection" if self.model.selection is not None else "view")
        start = self.default_export_path("comparison", lattice.zx if lattice is not None else self.model.view.zoom)
        path, _ = QFileDialog.getSaveFileName(self.window, "Export comparison", start, COMPARISON_FILTER)
        if path:
            self.settings.setValue("exportDir", str(Path(path).parent))
            self.export_comparison_to(path)

    def export_comparison_to(self, path: str, progress_dialog: bool = True) -> bool:
        """The selection (else the view) at the current zoom from every pane, labelled."""
        lattice = self.export_lattice("selection" if self.model.selection is not None else "view")
        if lattice is None:
            QMessageBox.warning(self.window, "Export comparison", "Nothing of the image is in view.")
            return False
        self._start_export(ExportJob(ExportKind.COMPARISON, str(path), lattice, self.model.image_id,
                                     panes=self.model.comparison_panes(lattice),
                                     metadata=self.model.export_metadata()), progress_dialog)
        return True

    def _start_export(self, job: ExportJob, progress_dialog: bool) -> None:
        if progress_dialog:
            dialog = QProgressDialog("Exporting\u2026", "Cancel", 0, 100, self.window)
            dialog.setWindowTitle("Export")
            dialog.setWindowModality(Qt.WindowModality.WindowModal)
            dialog.setMinimumDuration(300)
            dialog.setAutoClose(False)
            dialog.setAutoReset(False)
            dialog.canceled.connect(self.host.service.cancel_export)
            self._export_dialog = dialog
        self.window.statusBar().showMessage(
            f"Exporting {job.lattice.width} \u00d7 {job.lattice.height} to {job.path}\u2026")
        self.host.service.export(job)

    def on_progress(self, done: int, total: int) -> None:
        if self._export_dialog is not None and total > 0:
            self._export_dialog.setValue(int(100 * done / total))

    def on_finished(self, result: ExportResult) -> None:
        if self._export_dialog is not None:
            self._export_dialog.close()
            self._export_dialog.deleteLater()
            self._export_dialog = None
        if result.ok:
            self.window.statusBar().showMessage(result.message, 10000)
        elif result.cancelled:
            self.window.statusBar().showMessage(result.message, 6000)
        elif not self.host.closing:
            QMessageBox.warning(self.window, "Export failed", result.message)
        self.host.exportDone.emit(result)
