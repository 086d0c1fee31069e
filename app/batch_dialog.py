"""File › Upscale Folder: choose a folder, a method, a scale or size and an
output folder (BatchDialog); the batch then runs in a background thread
(BatchRunner) through inference.batch, the engine `main.py upscale` uses, with
progress and cancel, and a summary of failures at the end."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QWidget,
)

from app.gui_thread import connect_gui
from app.model import ViewerModel
from app.settings import is_folder
from inference.batch import BatchItem, BatchReport, expand_inputs, plan_batch, run_batch
from inference.errors import first_line
from inference.upscaler import Upscaler

if TYPE_CHECKING:
    from app.pane_slot import PaneSlot


PROGRESS_TITLE = "Upscaling a Folder"
# Room the window system's title bar takes besides the title: icon and buttons (logical pixels).
TITLE_BAR_EXTRA = 200


def progress_width(title_width: int) -> int:
    """The progress dialog's minimum width for a title `title_width` pixels wide."""
    return max(440, title_width + TITLE_BAR_EXTRA)


@dataclass(frozen=True)
class BatchSpec:
    folder: str
    method: str
    scale: float | None
    size: tuple[int, int] | None
    output: str


class BatchDialog(QDialog):
    def __init__(self, methods: list[tuple[str, str]], method: str, folder: str, output: str,
                 parent: QWidget | None = None) -> None:
        """`methods`: (name, label) pairs offered."""
        super().__init__(parent)
        self.setWindowTitle("Upscale Folder")
        self.folder = QLineEdit(folder)
        self.output = QLineEdit(output)
        self.method = QComboBox()
        for name, label in methods:
            self.method.addItem(label, name)
        self.method.setCurrentIndex(max(0, self.method.findData(method)))
        self.by_scale = QRadioButton("Scale")
        self.scale = QDoubleSpinBox()
        self.scale.setRange(0.05, 128.0)
        self.scale.setDecimals(3)
        self.scale.setValue(4.0)
        self.scale.setSuffix("\u00d7")
        self.by_size = QRadioButton("Size")
        self.width_spin, self.height_spin = QSpinBox(), QSpinBox()
        for spin, value in ((self.width_spin, 1920), (self.height_spin, 1080)):
            spin.setRange(1, 65535)
            spin.setValue(value)
            spin.setSuffix(" px")
        group = QButtonGroup(self)
        group.addButton(self.by_scale)
        group.addButton(self.by_size)
        self.by_scale.setChecked(True)
        self.note = QLabel()
        self.note.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Folder", self._with_browse(self.folder, "Images from"))
        form.addRow("Method", self.method)
        size_row = QHBoxLayout()
        for w in (self.by_scale, self.scale, self.by_size, self.width_spin, QLabel("\u00d7"), self.height_spin):
            size_row.addWidget(w)
        size_row.addStretch(1)
        form.addRow("Size", size_row)
        form.addRow("Output folder", self._with_browse(self.output, "Write to"))
        form.addRow(self.note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Upscale")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        for signal in (self.folder.textChanged, self.output.textChanged, self.method.currentIndexChanged,
                       self.scale.valueChanged, self.by_scale.toggled, self.width_spin.valueChanged,
                       self.height_spin.valueChanged):
            signal.connect(lambda *_: self._refresh())
        self._refresh()

    def _with_browse(self, edit: QLineEdit, title: str) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        button = QPushButton("Browse\u2026")
        button.clicked.connect(lambda: self._browse(edit, title))
        row.addWidget(button)
        return row

    def _browse(self, edit: QLineEdit, title: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, title, edit.text())
        if folder:
            edit.setText(folder)

    def _refresh(self) -> None:
        spec = self.spec()
        sources, _ = expand_inputs([spec.folder]) if spec.folder and is_folder(spec.folder) else ([], [])
        if not sources:
            self.note.setText("Choose a folder with images (PNG, JPEG, WebP, TIFF, BMP, GIF).")
        elif not spec.output:
            self.note.setText("Choose where to write.")
        else:
            items = plan_batch(sources, Path(spec.output), spec.method, spec.scale, spec.size)
            done = sum(i.done_already for i in items)
            self.note.setText(f"{len(items)} image(s); {done} already done will be skipped. "
                              f"Files are named like {items[0].output.name}.")
        self.ok_button.setEnabled(bool(sources) and bool(spec.output))

    def spec(self) -> BatchSpec:
        scale = self.scale.value() if self.by_scale.isChecked() else None
        size = None if self.by_scale.isChecked() else (self.width_spin.value(), self.height_spin.value())
        return BatchSpec(self.folder.text().strip(), str(self.method.currentData()), scale, size,
                         self.output.text().strip())


class BatchRunner(QObject):
    """Runs one batch in a daemon thread; signals arrive on the GUI thread."""

    progress = Signal(int, int, int, int)  # item, items, tile, tiles
    itemDone = Signal(str, str, str)  # outcome, source, message
    finished = Signal(object)  # BatchReport

    def __init__(self, items: list[BatchItem], make_upscaler: Callable[[], Upscaler], spec: BatchSpec,
                 max_zoom: float | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.items = items
        self._make_upscaler = make_upscaler
        self._spec = spec
        self._max_zoom = max_zoom
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="batch-upscale", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def _run(self) -> None:
        try:
            upscaler = self._make_upscaler()
        except Exception as error:  # noqa: BLE001 - e.g. unusable weights: every image fails for the same reason
            text = first_line(error)
            report = BatchReport(failed=[(i.source, text) for i in self.items if not i.done_already],
                                 skipped=[i.source for i in self.items if i.done_already])
            self._emit(self.finished, report)
            return
        report = run_batch(self.items, upscaler, scale=self._spec.scale, size=self._spec.size,
                           max_zoom=self._max_zoom, progress=lambda *a: self._emit(self.progress, *a),
                           cancel=self._cancel.is_set,
                           on_item=lambda item, outcome, msg: self._emit(self.itemDone, outcome, str(item.source), msg))
        self._emit(self.finished, report)

    @staticmethod
    def _emit(signal: Any, *args: Any) -> None:
        # The window closed (and took this object) while the batch ran: nobody is listening.
        with contextlib.suppress(RuntimeError):
            signal.emit(*args)


def summary_text(report: BatchReport, shown: int = 15) -> str:
    """The end-of-batch message: counts, then each failure with its reason."""
    lines = [report.summary().capitalize() + "."]
    for source, why in report.failed[:shown]:
        lines.append(f"\u2022 {Path(source).name}: {why}")
    if len(report.failed) > shown:
        lines.append(f"\u2026 and {len(report.failed) - shown} more")
    return "\n".join(lines)


class BatchHost(Protocol):
    """What File › Upscale Folder uses of the main window besides the Qt window itself."""

    @property
    def closing(self) -> bool: ...

    def active_slot(self) -> PaneSlot: ...


class FolderUpscale(QObject):
    """File › Upscale Folder for a main window: the dialog, the run with its
    progress dialog, the summary. `window` is the Qt window (dialogs' parent,
    status bar); `make_upscaler(method)` gives the method the way the panes
    have it."""

    finished = Signal(object)  # BatchReport

    def __init__(self, window: QMainWindow, model: ViewerModel, settings: QSettings, host: BatchHost,
                 make_upscaler: Callable[[str], Upscaler]) -> None:
        super().__init__(window)
        self.window = window
        self.model = model
        self.settings = settings
        self.host = host
        self.make_upscaler = make_upscaler
        self.runner: BatchRunner | None = None
        self.progress_dialog: QProgressDialog | None = None
        # What the folder held but the run will not take: files not read (PPM, AVIF ...), with why,
        # and images this app wrote (never taken as inputs).
        self._not_read: list[tuple[Path, str]] = []
        self._left_out: list[Path] = []

    def open_dialog(self) -> None:
        w, model = self.window, self.model
        if self.runner is not None:
            w.statusBar().showMessage("A folder is being upscaled already", 4000)
            return
        from app.folders import propose

        # The last folders used, else the image's (never the bundled sample's, inside the package), else Pictures.
        here = Path(model.loaded.path).parent if model.loaded is not None else None
        last_input, last_output = self.settings.value("batchInput"), self.settings.value("batchOutput")
        folder = str(propose(str(last_input) if last_input else None, here))
        output = str(last_output) if last_output and is_folder(str(last_output)) else \
            str(propose(folder) / "upscaled")
        methods = [(n, model.book.label(n)) for n in model.book.names]
        dialog = BatchDialog(methods, self.host.active_slot().sides["a"].method, folder, output, w)
        if dialog.exec() != BatchDialog.DialogCode.Accepted:
            return
        spec = dialog.spec()
        self.settings.setValue("batchInput", spec.folder)
        self.settings.setValue("batchOutput", spec.output)
        self.start(spec)

    def start(self, spec: BatchSpec, interactive: bool = True) -> BatchRunner | None:
        from inference.render.view import MAX_ZOOM

        w = self.window
        left_out: list[Path] = []
        sources, problems = expand_inputs([spec.folder], left_out)
        self._not_read, self._left_out = problems, left_out
        if not sources:
            QMessageBox.warning(w, "Upscale Folder", f"{spec.folder}: {problems[0][1] if problems else 'no images'}")
            return None
        try:
            Path(spec.output).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            QMessageBox.warning(w, "Upscale Folder", f"Cannot make {spec.output}: {error.strerror or error}")
            return None
        items = plan_batch(sources, Path(spec.output), spec.method, spec.scale, spec.size)
        runner = BatchRunner(items, lambda: self.make_upscaler(spec.method), spec, MAX_ZOOM, self)
        self.runner = runner
        if interactive:
            name = self.model.book.display_name(spec.method)
            dialog = QProgressDialog(f"Upscaling {len(items)} image(s) with {name}\u2026",
                                     "Cancel", 0, 100 * len(items), w)
            dialog.setWindowTitle(PROGRESS_TITLE)
            # Wide enough for the whole title beside the window system's buttons, and for long file names.
            dialog.setMinimumWidth(progress_width(dialog.fontMetrics().horizontalAdvance(PROGRESS_TITLE)))
            dialog.setMinimumDuration(0)
            dialog.setAutoClose(False)
            dialog.setAutoReset(False)
            dialog.canceled.connect(runner.cancel)
            self.progress_dialog = dialog

            def show_progress(item: int, count: int, done: int, total: int) -> None:
                if self.progress_dialog is not None and total:
                    self.progress_dialog.setValue(100 * item + int(100 * done / total))
                    self.progress_dialog.setLabelText(f"{items[item].source.name} ({item + 1} of {count})")

            connect_gui(runner.progress, show_progress)
        connect_gui(runner.finished, lambda report: self._finished(report, spec, interactive))
        runner.start()
        w.statusBar().showMessage(f"Upscaling {len(items)} image(s) from {spec.folder}\u2026")
        return runner

    def cancel(self) -> None:
        if self.runner is not None:
            self.runner.cancel()

    def _finished(self, report: BatchReport, spec: BatchSpec, interactive: bool) -> None:
        w = self.window
        self.runner = None
        # Files the folder held that were not read count as failures, named with why, as the command line says.
        report.failed[:0] = self._not_read
        if self.progress_dialog is not None:
            self.progress_dialog.close()
            self.progress_dialog.deleteLater()
            self.progress_dialog = None
        w.statusBar().showMessage(f"Upscale Folder: {report.summary()} (in {spec.output})", 15000)
        if interactive and not self.host.closing:
            show = QMessageBox.warning if report.failed else QMessageBox.information
            left_out = (f"\n{len(self._left_out)} image(s) written by this app were left out as inputs."
                        if self._left_out else "")
            show(w, "Upscale Folder", summary_text(report) + left_out)
        self.finished.emit(report)
