"""The main window's actions, menus, toolbar and status-bar fields. Each
action calls a method of the window or of one of its controllers (files,
export, reference mode, the render service); nothing here holds state."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QIcon, QKeySequence
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QMenu, QStatusBar, QToolBar

from app.model.methods import MAX_PANES
from widgets.error_legend import ErrorLegend
from widgets.image_pane import ZOOM_STEP

if TYPE_CHECKING:
    from app.main_window import MainWindow

Shortcut = str | QKeySequence | QKeySequence.StandardKey | None

STATUS_TIPS = {
    "image_label": "Image size and bit depth",
    "zoom_label": "Zoom: output pixels per image pixel (physical screen pixels)",
    "queue_label": "What the render worker is doing: panes rendering, their tiles left and the time left; "
                   "0 jobs waiting",
    "device_label": "Where the models run",
}


def qta_icon(name: str) -> QIcon:
    try:
        import qtawesome as qta

        icon: QIcon = qta.icon(name, color=QApplication.palette().text().color())
        return icon
    except Exception:  # noqa: BLE001 - icons are decoration: never fail the window over one
        return QIcon()


class Actions:
    """The window's actions, by name; remembers which icon each has, so icons follow a palette change."""

    open_action: QAction
    open_reference_action: QAction
    load_weights_action: QAction
    load_model_action: QAction
    export_view_action: QAction
    export_whole_action: QAction
    export_comparison_action: QAction
    upscale_folder_action: QAction
    quit_action: QAction
    zoom_in_action: QAction
    zoom_out_action: QAction
    fit_action: QAction
    one_action: QAction
    add_pane_action: QAction
    remove_pane_action: QAction
    split_action: QAction
    select_action: QAction
    reference_action: QAction
    error_map_action: QAction
    flip_action: QAction
    next_image_action: QAction
    previous_image_action: QAction
    browse_exports_action: QAction
    copy_view_action: QAction
    fullscreen_action: QAction
    labels_action: QAction
    preferences_action: QAction
    about_action: QAction
    help_action: QAction
    methods_action: QAction
    recent_menu: QMenu  # set by build_menus
    count_actions: list[QAction]  # View › Panes, set by build_menus

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        self.icons: list[tuple[QAction, str]] = []
        self.made: list[QAction] = []  # every action `make` made, in order (the help sheet lists their keys)

    def make(self, text: str, slot: Callable[[], object], shortcut: Shortcut = None, icon: str | None = None,
             tip: str = "", checkable: bool = False) -> QAction:
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
        self.made.append(action)
        return action

    def follow_palette(self, event: QEvent) -> None:
        """The system switched between dark and light: icons follow the text colour."""
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            for action, name in self.icons:
                action.setIcon(qta_icon(name))


def build_actions(w: MainWindow) -> Actions:
    """Every action of the window, as `<actions>.<name>_action`."""
    a = Actions(w)
    A = a.make
    a.open_action = A("&Open\u2026", w.file_actions.open_dialog, QKeySequence.StandardKey.Open, "fa5s.folder-open",
                      "Open an image (PNG, JPEG, WebP, TIFF, BMP, GIF)")
    a.open_reference_action = A("Open Re&ference\u2026", w.reference_actions.open_reference_dialog,
                                tip="Score every pane against the opened image's high-resolution original "
                                    "(its size a whole scale \u00d72 or more of the opened image)")
    a.load_weights_action = A("Load &Weights\u2026", lambda: w.service_actions.load_weights_dialog(), "Ctrl+Shift+L",
                              "fa5s.weight-hanging", "Load a checkpoint (.safetensors, or a public LIIF "
                              ".pth) for the method it declares")
    a.load_model_action = A("Load &Model\u2026", lambda: w.service_actions.models.load_dialog(), None,
                            "fa5s.microchip", "Load your own super-resolution network (.safetensors, .pth; "
                            "ESRGAN, Real-ESRGAN, SwinIR, HAT ...) as a method for every pane")
    a.export_view_action = A("&Export View\u2026", lambda: w.export_actions.export_dialog("view"), "Ctrl+E",
                             "fa5s.file-export", "Export the current view or selection from a pane")
    a.export_whole_action = A("Export &Whole Image\u2026", lambda: w.export_actions.export_dialog("whole"),
                              "Ctrl+Shift+E", "fa5s.file-image", "Super-resolve the whole image at a scale")
    a.export_comparison_action = A("Export &Comparison\u2026", w.export_actions.export_comparison_dialog, "Ctrl+Alt+E",
                                   "fa5s.images", "The same crop from every pane, labelled, side by side")
    a.upscale_folder_action = A("&Upscale Folder\u2026", w.service_actions.upscale_folder_dialog, "Ctrl+Shift+U",
                                "fa5s.layer-group", "Upscale every image of a folder with one method, "
                                "into another folder (as `main.py upscale FOLDER -o OUT/`)")
    a.quit_action = A("&Quit", w.close, QKeySequence.StandardKey.Quit)
    # The one zoom step: the wheel's notch and the panes' +/- keys zoom by it too.
    a.zoom_in_action = A("Zoom &In", lambda: w.zoom_by(ZOOM_STEP), QKeySequence.StandardKey.ZoomIn,
                         "fa5s.search-plus")
    a.zoom_out_action = A("Zoom &Out", lambda: w.zoom_by(1 / ZOOM_STEP), QKeySequence.StandardKey.ZoomOut,
                          "fa5s.search-minus")
    a.fit_action = A("&Fit", w.fit, "Ctrl+0", "fa5s.compress-arrows-alt", "Show the whole image")
    a.one_action = A("&1:1", lambda: w.set_zoom(1.0), "Ctrl+1", "fa5s.expand", "One image pixel per screen pixel")
    a.add_pane_action = A("&Add Pane", lambda: w.grid.add_pane(), "Ctrl+T", "fa5s.plus-square", "Add a pane (up to 8)")
    a.remove_pane_action = A("&Remove Pane", lambda: w.grid.remove_pane(w.model.active), "Ctrl+W",
                             "fa5s.minus-square", "Remove the active pane")
    a.split_action = A("&Split Active Pane", w.grid.toggle_split, "Ctrl+\\", "fa5s.columns",
                       "Two methods in the active pane, with a draggable divider", checkable=True)
    a.select_action = A("&Select Region", w.grid.toggle_select_mode, "Ctrl+R", "fa5s.vector-square",
                        "Drag to select a region to export (or Shift+drag at any time)", checkable=True)
    a.reference_action = A("&Reference Mode\u2026", w.reference_actions.toggle_reference, "Ctrl+G",
                           "fa5s.balance-scale",
                           "Treat this image as ground truth, simulate \u00d7s low resolution, "
                           "and score every pane (PSNR/SSIM on Y)", checkable=True)
    a.error_map_action = A("&Error Map", w.reference_actions.toggle_error_map, "Ctrl+M", "fa5s.fire",
                           "Overlay |Y error| against the ground truth (reference mode)", checkable=True)
    a.error_map_action.setEnabled(False)
    a.flip_action = A("&Flip Method", w.grid.flip_active_pane, "F", "fa5s.exchange-alt",
                      "Flip the active pane between its method and the one it showed before "
                      "(the ground truth in reference mode, else bicubic)")
    a.next_image_action = A("&Next Image", lambda: w.file_actions.browse(1), QKeySequence.StandardKey.MoveToNextPage,
                            "fa5s.step-forward", "The next image in the same folder, keeping the view")
    a.previous_image_action = A("&Previous Image", lambda: w.file_actions.browse(-1),
                                QKeySequence.StandardKey.MoveToPreviousPage, "fa5s.step-backward",
                                "The previous image in the same folder, keeping the view")
    a.browse_exports_action = A("Browse Own &Exports", lambda: None, checkable=True,
                                tip="Next / Previous Image also stop at the images Implicit Zoom wrote "
                                    "(exports, upscales), which they otherwise pass")
    a.copy_view_action = A("&Copy View", w.file_actions.copy_view, QKeySequence.StandardKey.Copy, "fa5s.copy",
                           "Copy what the active pane shows to the clipboard, as an image")
    a.fullscreen_action = A("&Full Screen", w.file_actions.toggle_fullscreen, "F11", "fa5s.expand-arrows-alt",
                            checkable=True)
    a.labels_action = A("Pane &Labels", w.file_actions.toggle_labels, "L", tip="Show or hide the labels in the panes",
                        checkable=True)
    a.labels_action.setChecked(True)
    a.preferences_action = A("&Preferences\u2026", w.service_actions.preferences_dialog, "Ctrl+,",
                             "fa5s.cog", "Device, precision, worker threads and cache sizes")
    a.about_action = A("&About", w.file_actions.about, tip="Version, licence and where the shipped weights came from")
    a.help_action = A("&Keyboard and Mouse", w.file_actions.show_help, "F1", "fa5s.keyboard",
                      "Every key and mouse gesture of the viewer")
    a.methods_action = A("&Methods and Weights\u2026", w.service_actions.show_methods, icon="fa5s.info-circle",
                         tip="Each method: trained or not, source, licence, steps, metrics; load weights")
    return a


def build_menus(w: MainWindow, a: Actions) -> None:
    """The menu bar (File, Edit, View, Tools, Help); `a.recent_menu` and `a.count_actions` are kept."""
    menu = w.menuBar()
    file_menu = menu.addMenu("&File")
    file_menu.addAction(a.open_action)
    file_menu.addAction(a.open_reference_action)
    a.recent_menu = file_menu.addMenu(qta_icon("fa5s.history"), "Open &Recent")
    file_menu.addAction(a.next_image_action)
    file_menu.addAction(a.previous_image_action)
    file_menu.addSeparator()
    file_menu.addAction(a.load_weights_action)
    file_menu.addAction(a.load_model_action)
    file_menu.addSeparator()
    for action in (a.export_view_action, a.export_whole_action, a.export_comparison_action, a.upscale_folder_action):
        file_menu.addAction(action)
    file_menu.addSeparator()
    file_menu.addAction(a.quit_action)
    edit_menu = menu.addMenu("&Edit")
    edit_menu.addAction(a.copy_view_action)
    edit_menu.addSeparator()
    edit_menu.addAction(a.preferences_action)
    view_menu = menu.addMenu("&View")
    for action in (a.zoom_in_action, a.zoom_out_action, a.fit_action, a.one_action):
        view_menu.addAction(action)
    view_menu.addSeparator()
    for action in (a.add_pane_action, a.remove_pane_action, a.split_action, a.flip_action):
        view_menu.addAction(action)
    view_menu.addSeparator()
    view_menu.addAction(a.browse_exports_action)
    view_menu.addAction(a.labels_action)
    view_menu.addAction(a.fullscreen_action)
    count_menu = view_menu.addMenu("&Panes")
    group = QActionGroup(w)
    for n in range(1, MAX_PANES + 1):
        count = QAction(str(n), w, checkable=True)
        count.triggered.connect(lambda _c=False, n=n: w.grid.set_pane_count(n))
        group.addAction(count)
        count_menu.addAction(count)
    a.count_actions = group.actions()
    tools = menu.addMenu("&Tools")
    for action in (a.select_action, a.reference_action, a.error_map_action):
        tools.addAction(action)
    help_menu = menu.addMenu("&Help")
    help_menu.addAction(a.help_action)
    help_menu.addAction(a.methods_action)
    help_menu.addAction(a.about_action)


def build_toolbar(w: MainWindow, a: Actions) -> None:
    bar = QToolBar("Main", w)
    bar.setObjectName("main-toolbar")
    bar.setIconSize(QSize(18, 18))
    bar.setMovable(False)
    w.addToolBar(bar)
    bar.addAction(a.open_action)
    bar.addAction(a.export_view_action)
    bar.addAction(a.export_comparison_action)
    bar.addSeparator()
    bar.addAction(a.fit_action)
    bar.addAction(a.one_action)
    bar.addAction(a.zoom_out_action)
    bar.addWidget(w.zoom_slider)
    bar.addAction(a.zoom_in_action)
    bar.addSeparator()
    for action in (a.add_pane_action, a.remove_pane_action, a.split_action, a.select_action, a.reference_action,
                   a.error_map_action):
        bar.addAction(action)


class StatusFields:
    """The status bar's permanent fields (image, zoom, queue, device, the error
    map's legend) and the messages that fit left of them."""

    def __init__(self, bar: QStatusBar) -> None:
        self.bar = bar
        self.device_label = QLabel("Device: starting\u2026")
        self.image_label = QLabel("No image")
        self.zoom_label = QLabel("")
        self.queue_label = QLabel("Idle")
        self.error_legend = ErrorLegend()
        self.error_legend.setVisible(False)
        bar.addPermanentWidget(self.error_legend)
        for name, label in (("image_label", self.image_label), ("zoom_label", self.zoom_label),
                            ("queue_label", self.queue_label), ("device_label", self.device_label)):
            label.setToolTip(STATUS_TIPS[name])
            bar.addPermanentWidget(label)

    def show_progress(self, text: str, tooltip: str) -> None:
        """What the render worker is doing (`ViewerModel.progress`)."""
        self.queue_label.setText(text)
        self.queue_label.setToolTip(tooltip)

    def show_status(self, text: str, timeout_ms: int = 0, detail: str = "") -> None:
        """A status-bar message that fits left of the permanent fields (QStatusBar
        cuts it there without an ellipsis); the whole text is in the tooltip."""
        bar = self.bar
        permanent = [w.x() for w in (self.error_legend, self.image_label, self.zoom_label, self.queue_label,
                                     self.device_label) if w.isVisible() and w.x() > 0]
        room = (min(permanent) if permanent else bar.width()) - 12
        shown = bar.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, max(40, room))
        bar.setToolTip(detail or (text if shown != text else ""))
        bar.showMessage(shown, timeout_ms)
