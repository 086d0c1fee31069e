"""The main window's file and session actions: File › Open, browsing the
folder, Edit › Copy View, Full Screen, pane labels, the session a relaunch
restores and the status-bar message that fits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

import resources
from app.menus import ABOUT
from app.model import MAX_PANES

SAMPLE_IMAGE = resources.sample_image()
OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp *.gif);;All files (*)"


class FileActions:
    """Mixed into MainWindow (which provides model, settings, the slots, actions and the status bar)."""

    model: Any
    settings: Any

    def _remembered_panes(self) -> list[Any]:
        from app.settings import decode_panes

        return decode_panes(self.settings.value("session/panes"), self.model.book.names, MAX_PANES)

    def _remember_session(self) -> None:
        """What a relaunch restores: the panes with their methods and splits, the window, the image."""
        from app.settings import encode_panes

        self.settings.setValue("panes", [s.sides["a"].method for s in self._slots])
        self.settings.setValue("session/panes", encode_panes(
            self.model.pane_memories([s.pane.split_fraction() for s in self._slots])))
        self.settings.setValue("window/geometry", self.saveGeometry())
        if self.model.loaded is not None:
            self.settings.setValue("session/image", str(Path(self.model.loaded.path).resolve()))

    def startup_image(self, explicit: str | None = None) -> str:
        """What a launch opens: the image named on the command line, else the
        last one if it still exists, else the bundled sample."""
        from app.settings import restorable_image

        return explicit or restorable_image(self.settings.value("session/image")) or str(SAMPLE_IMAGE)

    def recent_files(self) -> list[str]:
        return self.recent.files()

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

    def open_dialog(self) -> None:
        loaded = self.model.loaded
        start = str(Path(loaded.path).parent) if loaded is not None else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open image", start, OPEN_FILTER)
        if path:
            self.open_path(path)

    def browse(self, step: int) -> Path | None:
        """Open the image `step` places after the current one in its folder
        (PageDown / PageUp), keeping the view. Returns the path being opened."""
        from inference.browse import neighbour

        if self.model.loaded is None:
            return None
        current = Path(self.model.loaded.path)
        target = neighbour(current, step)
        if target is None:
            where = "last" if step > 0 else "first"
            self.statusBar().showMessage(f"{current.name} is the {where} image in {current.parent}", 4000)
            return None
        self.open_path(target, keep_view=True)
        return target

    def copy_view(self) -> None:
        """The active pane's view, as the pane shows it (no labels), to the clipboard."""
        if self.model.image_rgb is None:
            return
        image = self.active_slot().pane.view_image()
        QApplication.clipboard().setImage(image)
        self.statusBar().showMessage(f"Copied pane {self.model.active + 1}'s view "
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

    def about(self) -> None:
        QMessageBox.about(self, "Implicit Zoom", ABOUT)
