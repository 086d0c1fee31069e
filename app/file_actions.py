"""The main window's file and session actions: File › Open, browsing the
folder, File › Open Recent, Edit › Copy View, Full Screen, pane labels and
the session a relaunch restores."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QSettings
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMainWindow

import resources
from app.menus import Actions
from app.model import MAX_PANES, ViewerModel
from app.model.viewer import PaneMemory
from app.recent_files import RecentFiles
from inference.render.view import ViewState

if TYPE_CHECKING:
    from app.help_dialog import HelpSheet
    from app.pane_slot import PaneSlot

SAMPLE_IMAGE = resources.sample_image()
OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp *.gif);;All files (*)"


class FileHost(Protocol):
    """What the file actions use of the window besides the Qt window itself."""

    @property
    def acts(self) -> Actions: ...

    def slots(self) -> list[PaneSlot]: ...

    def active_slot(self) -> PaneSlot: ...

    def open_path(self, path: str | Path, keep_view: bool = False) -> int: ...


class FileActions:
    """Files and session for a main window: `window` is the Qt window (dialogs'
    parent, status bar, geometry, full screen), `host` its panes and actions."""

    def __init__(self, window: QMainWindow, host: FileHost, model: ViewerModel, settings: QSettings) -> None:
        self.window = window
        self.host = host
        self.model = model
        self.settings = settings
        self.recent: RecentFiles | None = None  # once the File menu exists: `make_recent`
        self.help_sheet: HelpSheet | None = None
        # (image browsed to, image shown then): where PageDown/PageUp step from while the first is not shown.
        self._browsed: tuple[Path, Path] | None = None
        from app.settings import decode_view

        # The zoom and pan last shown, for the first open of that image (read before anything is saved).
        self._remembered_view = decode_view(settings.value("session/view"))

    def make_recent(self) -> None:
        """File › Open Recent, in the menu `build_menus` made."""
        self.recent = RecentFiles(self.settings, self.host.acts.recent_menu, self.host.open_path)

    def remembered_panes(self) -> list[PaneMemory]:
        from app.settings import decode_panes

        return decode_panes(self.settings.value("session/panes"), self.model.book.names, MAX_PANES)

    def remember_session(self) -> None:
        """What a relaunch restores: the panes with their methods and splits, the window, the image."""
        from app.settings import encode_panes, encode_view

        slots = self.host.slots()
        self.settings.setValue("panes", [s.sides["a"].method for s in slots])
        self.settings.setValue("session/panes", encode_panes(
            self.model.pane_memories([s.pane.split_fraction() for s in slots])))
        self.settings.setValue("window/geometry", self.window.saveGeometry())
        if self.model.loaded is not None and self.model.image_rgb is not None:
            image = str(Path(self.model.loaded.path).resolve())
            self.settings.setValue("session/image", image)
            self.settings.setValue("session/view", encode_view(image, self.model.view))
        self.settings.sync()  # to disk now (atomically: app.session), not at exit

    def take_remembered_view(self, path: str | Path) -> ViewState | None:
        """The zoom and pan the session remembers for `path`, once: for the first image opened."""
        remembered, self._remembered_view = self._remembered_view, None
        if remembered is None or remembered[0] != str(Path(path).resolve()):
            return None
        return remembered[1]

    def startup_image(self, explicit: str | None = None) -> str:
        """What a launch opens: the image named on the command line, else the
        last one if it still exists, else the bundled sample."""
        from app.settings import restorable_image

        return explicit or restorable_image(self.settings.value("session/image")) or str(SAMPLE_IMAGE)

    def drag_enter(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def drop(self, event: QDropEvent) -> None:
        """A file dropped on the window opens (the first local one)."""
        for url in event.mimeData().urls():
            if url.isLocalFile():
                event.acceptProposedAction()
                self.host.open_path(url.toLocalFile())
                return

    def recent_files(self) -> list[str]:
        return self.recent.files() if self.recent is not None else []

    def add_recent(self, path: str) -> None:
        """An image is shown (the window calls this then): it goes first in Open Recent,
        and browsing steps from it."""
        self._browsed = None
        if self.recent is not None:
            self.recent.add(path)

    def open_dialog(self) -> None:
        from app.folders import propose

        loaded = self.model.loaded
        start = str(propose(Path(loaded.path).parent if loaded is not None else None))
        path, _ = QFileDialog.getOpenFileName(self.window, "Open image", start, OPEN_FILTER)
        if path:
            self.host.open_path(path)

    def browse(self, step: int) -> Path | None:
        """Open the image `step` places after the current one in its folder
        (PageDown / PageUp), keeping the view, past the app's own exports
        unless View › Browse Own Exports is on. Steps on from the image last
        browsed to even if it could not be opened (or is still opening), so a
        broken image is passed, not retried. Returns the path being opened."""
        from inference.browse import is_own_export, neighbour

        if self.model.loaded is None:
            return None
        current = Path(self.model.loaded.path)
        if self._browsed is not None and self._browsed[1] == current:
            current = self._browsed[0]  # the last one browsed to failed, or has not arrived yet
        skip = None if self.host.acts.browse_exports_action.isChecked() else is_own_export
        target = neighbour(current, step, skip)
        if target is None:
            where = "last" if step > 0 else "first"
            self.window.statusBar().showMessage(f"{current.name} is the {where} image in {current.parent}", 4000)
            return None
        self._browsed = (target, Path(self.model.loaded.path))
        self.host.open_path(target, keep_view=True)
        return target

    def copy_view(self) -> None:
        """The part of the active pane's view that shows the image, as the pane
        shows it (no labels, no background around the image), to the clipboard."""
        from PySide6.QtCore import QRect

        from app.view_area import image_area

        if self.model.image_rgb is None:
            return
        pane = self.host.active_slot().pane
        area = image_area(pane.lattice(), *self.model.image_size())
        if area is None:
            self.window.statusBar().showMessage("Nothing of the image is in view", 4000)
            return
        image = pane.view_image().copy(QRect(*area))  # physical pixels, as the lattice
        image.setDevicePixelRatio(1.0)
        QApplication.clipboard().setImage(image)
        self.window.statusBar().showMessage(f"Copied pane {self.model.active + 1}'s view "
                                            f"({image.width()} \u00d7 {image.height()}) to the clipboard", 4000)

    def toggle_fullscreen(self) -> None:
        if self.window.isFullScreen():
            self.window.showNormal()
        else:
            self.window.showFullScreen()
        self.host.acts.fullscreen_action.setChecked(self.window.isFullScreen())

    def toggle_labels(self) -> None:
        for slot in self.host.slots():
            slot.pane.set_show_labels(self.host.acts.labels_action.isChecked())

    def about(self) -> None:
        from app.help_dialog import about

        about(self.window)

    def show_help(self) -> None:
        """Help › Keyboard and Mouse (F1), from the window's actions as they are now."""
        from app.help_dialog import HelpSheet
        from widgets.image_pane import ZOOM_STEP

        if self.help_sheet is None:
            self.help_sheet = HelpSheet(self.host.acts.made, ZOOM_STEP, self.window)
        self.help_sheet.show()
        self.help_sheet.raise_()
