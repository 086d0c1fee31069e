"""The main window's actions, menus, toolbar and status-bar fields. Each
action calls a method of the window; nothing here holds state."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QEvent, QSize
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QToolBar

from app.model.methods import MAX_PANES

ABOUT = ("<b>Implicit Zoom</b><br>Look into an image: a continuous zoom, super-resolved on the fly "
         "by implicit neural decoders next to bicubic, in synchronised panes.<br><br>"
         "Wheel: zoom about the cursor \u00b7 drag: pan \u00b7 Shift+drag: select \u00b7 "
         "+/\u2212: zoom \u00b7 0: fit \u00b7 1: 1:1 \u00b7 arrows: pan")
STATUS_TIPS = {
    "image_label": "Image size and bit depth",
    "zoom_label": "Zoom: output pixels per image pixel (physical screen pixels)",
    "queue_label": "What the render worker is doing: panes rendering, their tiles left and the time left; "
                   "0 jobs waiting",
    "device_label": "Where the models run",
}


def qta_icon(name: str) -> Any:
    try:
        import qtawesome as qta

        return qta.icon(name, color=QApplication.palette().text().color())
    except Exception:  # icons are decoration: never fail the window over one
        from PySide6.QtGui import QIcon

        return QIcon()


class Actions:
    """Makes the window's actions; remembers which icon each has, so icons follow a palette change."""

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        self.icons: list[tuple[QAction, str]] = []

    def make(self, text: str, slot: Callable, shortcut: Any = None, icon: str | None = None, tip: str = "",
             checkable: bool = False) -> QAction:
        action = QAction(text, self.window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if icon:
            action.setIcon(qta_icon(icon))
            self.icons.append((action, icon))
        action.setCheckable(checkable)
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{tip or text.replace('&', '').rstrip('.…')}" + (f" ({keys})" if keys else ""))
        action.setStatusTip(tip or text)
        action.triggered.connect(slot)
        return action

    def follow_palette(self, event: Any) -> None:
        """The system switched between dark and light: icons follow the text colour."""
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            for action, name in self.icons:
                action.setIcon(qta_icon(name))


def build_actions(w: Any) -> Actions:
    """Every action of the window, as `w.<name>_action`."""
    actions = Actions(w)
    A = actions.make
    w.open_action = A("&Open\u2026", w.open_dialog, QKeySequence.StandardKey.Open, "fa5s.folder-open",
                      "Open an image (PNG, JPEG, WebP, TIFF, BMP)")
    w.load_weights_action = A("Load &Weights\u2026", lambda: w.load_weights_dialog(), "Ctrl+Shift+L",
                              "fa5s.weight-hanging", "Load a checkpoint (.safetensors, or a public LIIF "
                              ".pth) for the method it declares")
    w.export_view_action = A("&Export View\u2026", lambda: w.export_dialog("view"), "Ctrl+E",
                             "fa5s.file-export", "Export the current view or selection from a pane")
    w.export_whole_action = A("Export &Whole Image\u2026", lambda: w.export_dialog("whole"),
                              "Ctrl+Shift+E", "fa5s.file-image", "Super-resolve the whole image at a scale")
    w.export_comparison_action = A("Export &Comparison\u2026", w.export_comparison_dialog, "Ctrl+Alt+E",
                                   "fa5s.images", "The same crop from every pane, labelled, side by side")
    w.upscale_folder_action = A("&Upscale Folder\u2026", w.upscale_folder_dialog, "Ctrl+Shift+U",
                                "fa5s.layer-group", "Upscale every image of a folder with one method, "
                                "into another folder (as `main.py upscale FOLDER -o OUT/`)")
    w.quit_action = A("&Quit", w.close, QKeySequence.StandardKey.Quit)
    w.zoom_in_action = A("Zoom &In", lambda: w.zoom_by(2 ** 0.5), QKeySequence.StandardKey.ZoomIn,
                         "fa5s.search-plus")
    w.zoom_out_action = A("Zoom &Out", lambda: w.zoom_by(2 ** -0.5), QKeySequence.StandardKey.ZoomOut,
                          "fa5s.search-minus")
    w.fit_action = A("&Fit", w.fit, "Ctrl+0", "fa5s.compress-arrows-alt", "Show the whole image")
    w.one_action = A("&1:1", lambda: w.set_zoom(1.0), "Ctrl+1", "fa5s.expand", "One image pixel per screen pixel")
    w.add_pane_action = A("&Add Pane", lambda: w.add_pane(), "Ctrl+T", "fa5s.plus-square", "Add a pane (up to 8)")
    w.remove_pane_action = A("&Remove Pane", lambda: w.remove_pane(w.model.active), "Ctrl+W",
                             "fa5s.minus-square", "Remove the active pane")
    w.split_action = A("&Split Active Pane", w.toggle_split, "Ctrl+\\", "fa5s.columns",
                       "Two methods in the active pane, with a draggable divider", checkable=True)
    w.select_action = A("&Select Region", w.toggle_select_mode, "Ctrl+R", "fa5s.vector-square",
                        "Drag to select a region to export (or Shift+drag at any time)", checkable=True)
    w.reference_action = A("&Reference Mode\u2026", w.toggle_reference, "Ctrl+G", "fa5s.balance-scale",
                           "Treat this image as ground truth, simulate \u00d7s low resolution, "
                           "and score every pane (PSNR/SSIM on Y)", checkable=True)
    w.error_map_action = A("&Error Map", w.toggle_error_map, "Ctrl+M", "fa5s.fire",
                           "Overlay |Y error| against the ground truth (reference mode)", checkable=True)
    w.error_map_action.setEnabled(False)
    w.flip_action = A("&Flip Method", w.flip_active_pane, "F", "fa5s.exchange-alt",
                      "Flip the active pane between its method and the one it showed before "
                      "(the ground truth in reference mode, else bicubic)")
    w.next_image_action = A("&Next Image", lambda: w.browse(1), QKeySequence.StandardKey.MoveToNextPage,
                            "fa5s.step-forward", "The next image in the same folder, keeping the view")
    w.previous_image_action = A("&Previous Image", lambda: w.browse(-1),
                                QKeySequence.StandardKey.MoveToPreviousPage, "fa5s.step-backward",
                                "The previous image in the same folder, keeping the view")
    w.copy_view_action = A("&Copy View", w.copy_view, QKeySequence.StandardKey.Copy, "fa5s.copy",
                           "Copy what the active pane shows to the clipboard, as an image")
    w.fullscreen_action = A("&Full Screen", w.toggle_fullscreen, "F11", "fa5s.expand-arrows-alt", checkable=True)
    w.labels_action = A("Pane &Labels", w.toggle_labels, "L", tip="Show or hide the labels in the panes",
                        checkable=True)
    w.labels_action.setChecked(True)
    w.preferences_action = A("&Preferences\u2026", w.preferences_dialog, "Ctrl+,",
                             "fa5s.cog", "Device, precision, worker threads and cache sizes")
    w.about_action = A("&About", w.about)
    w.methods_action = A("&Methods and Weights\u2026", w.show_methods, icon="fa5s.info-circle",
                         tip="Each method: trained or not, source, licence, steps, metrics; load weights")
    return actions


def build_menus(w: Any) -> None:
    """The menu bar (File, Edit, View, Tools, Help); `w.recent_menu` and `w.count_actions` are kept."""
    menu = w.menuBar()
    file_menu = menu.addMenu("&File")
    file_menu.addAction(w.open_action)
    w.recent_menu = file_menu.addMenu(qta_icon("fa5s.history"), "Open &Recent")
    file_menu.addAction(w.next_image_action)
    file_menu.addAction(w.previous_image_action)
    file_menu.addSeparator()
    file_menu.addAction(w.load_weights_action)
    file_menu.addSeparator()
    for a in (w.export_view_action, w.export_whole_action, w.export_comparison_action, w.upscale_folder_action):
        file_menu.addAction(a)
    file_menu.addSeparator()
    file_menu.addAction(w.quit_action)
    edit_menu = menu.addMenu("&Edit")
    edit_menu.addAction(w.copy_view_action)
    edit_menu.addSeparator()
    edit_menu.addAction(w.preferences_action)
    view_menu = menu.addMenu("&View")
    for a in (w.zoom_in_action, w.zoom_out_action, w.fit_action, w.one_action):
        view_menu.addAction(a)
    view_menu.addSeparator()
    for a in (w.add_pane_action, w.remove_pane_action, w.split_action, w.flip_action):
        view_menu.addAction(a)
    view_menu.addSeparator()
    view_menu.addAction(w.labels_action)
    view_menu.addAction(w.fullscreen_action)
    count_menu = view_menu.addMenu("&Panes")
    group = QActionGroup(w)
    for n in range(1, MAX_PANES + 1):
        a = QAction(str(n), w, checkable=True)
        a.triggered.connect(lambda _c=False, n=n: w.set_pane_count(n))
        group.addAction(a)
        count_menu.addAction(a)
    w.count_actions = group.actions()
    tools = menu.addMenu("&Tools")
    for a in (w.select_action, w.reference_action, w.error_map_action):
        tools.addAction(a)
    help_menu = menu.addMenu("&Help")
    help_menu.addAction(w.methods_action)
    help_menu.addAction(w.about_action)


def build_toolbar(w: Any) -> None:
    bar = QToolBar("Main", w)
    bar.setObjectName("main-toolbar")
    bar.setIconSize(QSize(18, 18))
    bar.setMovable(False)
    w.addToolBar(bar)
    bar.addAction(w.open_action)
    bar.addAction(w.export_view_action)
    bar.addAction(w.export_comparison_action)
    bar.addSeparator()
    bar.addAction(w.fit_action)
    bar.addAction(w.one_action)
    bar.addAction(w.zoom_out_action)
    bar.addWidget(w.zoom_slider)
    bar.addAction(w.zoom_in_action)
    bar.addSeparator()
    for a in (w.add_pane_action, w.remove_pane_action, w.split_action, w.select_action, w.reference_action,
              w.error_map_action):
        bar.addAction(a)


def build_status_bar(w: Any) -> None:
    """The permanent fields, as `w.image_label`, `w.zoom_label`, `w.queue_label`, `w.device_label`, `w.error_legend`."""
    from widgets.error_legend import ErrorLegend

    bar = w.statusBar()
    w.device_label = QLabel("Device: starting\u2026")
    w.image_label = QLabel("No image")
    w.zoom_label = QLabel("")
    w.queue_label = QLabel("Idle")
    w.error_legend = ErrorLegend()
    w.error_legend.setVisible(False)
    bar.addPermanentWidget(w.error_legend)
    for name in ("image_label", "zoom_label", "queue_label", "device_label"):
        label = getattr(w, name)
        label.setToolTip(STATUS_TIPS[name])
        bar.addPermanentWidget(label)
