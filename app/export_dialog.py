"""The export dialog: which pane, which area, what size, which file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

FILTERS = "PNG image (*.png);;TIFF image (*.tif *.tiff);;WebP image (*.webp)"
SIXTEEN_BIT = (".png", ".tif", ".tiff")


@dataclass
class ExportSpec:
    method: str
    label: str
    area: str  # "view" | "selection" | "whole"
    size_mode: str  # "zoom" | "scale" | "width"
    scale: float
    width: int
    path: str
    bits: int


class ExportDialog(QDialog):
    def __init__(self, panes: list[tuple[str, str]], active: int, zoom: float, has_selection: bool,
                 area: str, default_path: str, size_for: Callable[[str, str, float, int], tuple[int, int] | None],
                 parent: QWidget | None = None,
                 path_for: Callable[[str, str, str, float, int], str] | None = None) -> None:
        """`panes`: (label, method) per pane side; `size_for(area, mode, scale, width)`
        gives the output size the choice would produce (None if impossible);
        `path_for(method, area, mode, scale, width)` the default file for a choice
        (it follows the choices until the user edits the name)."""
        super().__init__(parent)
        self.setWindowTitle("Export")
        self._size_for = size_for
        self._path_for = path_for
        self._auto_path = ""
        self._zoom = zoom
        self.source = QComboBox()
        for label, method in panes:
            self.source.addItem(label, method)
        self.source.setCurrentIndex(max(0, min(active, len(panes) - 1)))
        self.source.setToolTip("The pane (method) whose pixels are exported")

        self.area_view = QRadioButton("Current view")
        self.area_selection = QRadioButton("Selection")
        self.area_selection.setEnabled(has_selection)
        self.area_selection.setToolTip("Shift+drag in a pane (or use the selection tool) to select a region")
        self.area_whole = QRadioButton("Whole image")
        self.area_group = QButtonGroup(self)
        for i, b in enumerate((self.area_view, self.area_selection, self.area_whole)):
            self.area_group.addButton(b, i)
        {"view": self.area_view, "selection": self.area_selection if has_selection else self.area_view,
         "whole": self.area_whole}.get(area, self.area_view).setChecked(True)

        self.size_zoom = QRadioButton(f"Current zoom ({zoom:.4g}\u00d7): exactly the pixels on screen")
        self.size_scale = QRadioButton("Scale")
        self.scale_spin = QDoubleSpinBox()
        self.scale_spin.setRange(0.05, 64.0)
        self.scale_spin.setDecimals(3)
        self.scale_spin.setValue(max(1.0, round(zoom, 3)))
        self.scale_spin.setSuffix("\u00d7")
        self.size_width = QRadioButton("Width")
        self.width_spin = QSpinBox()
        self.width_spin.setRange(1, 200000)
        self.width_spin.setSuffix(" px")
        self.width_spin.setValue(1024)
        self.size_group = QButtonGroup(self)
        for i, b in enumerate((self.size_zoom, self.size_scale, self.size_width)):
            self.size_group.addButton(b, i)
        (self.size_scale if area == "whole" else self.size_zoom).setChecked(True)
        self.size_label = QLabel()

        self.path_edit = QLineEdit(default_path)
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse)
        self.sixteen = QCheckBox("16 bits per channel (PNG, TIFF)")

        form = QFormLayout()
        form.addRow("Pane", self.source)
        areas = QHBoxLayout()
        for b in (self.area_view, self.area_selection, self.area_whole):
            areas.addWidget(b)
        form.addRow("Area", areas)
        sizes = QVBoxLayout()
        sizes.addWidget(self.size_zoom)
        row = QHBoxLayout()
        row.addWidget(self.size_scale)
        row.addWidget(self.scale_spin)
        row.addWidget(self.size_width)
        row.addWidget(self.width_spin)
        row.addStretch(1)
        sizes.addLayout(row)
        sizes.addWidget(self.size_label)
        form.addRow("Size", sizes)
        file_row = QHBoxLayout()
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(browse)
        form.addRow("File", file_row)
        form.addRow("", self.sixteen)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        for signal in (self.area_group.idToggled, self.size_group.idToggled):
            signal.connect(lambda *_: self._refresh())
        self.source.currentIndexChanged.connect(lambda *_: self._refresh())
        self.scale_spin.valueChanged.connect(lambda *_: self._refresh())
        self.width_spin.valueChanged.connect(lambda *_: self._refresh())
        self.path_edit.textChanged.connect(lambda *_: self._refresh())
        self._refresh()

    def _area(self) -> str:
        return {0: "view", 1: "selection", 2: "whole"}[self.area_group.checkedId()]

    def _mode(self) -> str:
        return {0: "zoom", 1: "scale", 2: "width"}[self.size_group.checkedId()]

    def _refresh(self) -> None:
        if self._path_for is not None and self.path_edit.text() in ("", self._auto_path):
            self._auto_path = self._path_for(self.source.currentData(), self._area(), self._mode(),
                                             self.scale_spin.value(), self.width_spin.value())
            if self.path_edit.text() != self._auto_path:
                self.path_edit.setText(self._auto_path)  # refreshes again, finding the name in place
                return
        size = self._size_for(self._area(), self._mode(), self.scale_spin.value(), self.width_spin.value())
        self.size_label.setText(f"Output: {size[0]} \u00d7 {size[1]} pixels" if size else "Output: nothing to export")
        suffix = Path(self.path_edit.text()).suffix.lower()
        self.sixteen.setEnabled(suffix in SIXTEEN_BIT)
        if suffix not in SIXTEEN_BIT:
            self.sixteen.setChecked(False)
        self.ok_button.setEnabled(size is not None and suffix in (".png", ".tif", ".tiff", ".webp"))

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(), FILTERS)
        if path:
            if not Path(path).suffix:
                path += ".png"
            self.path_edit.setText(path)

    def spec(self) -> ExportSpec:
        return ExportSpec(self.source.currentData(), self.source.currentText(), self._area(), self._mode(),
                          self.scale_spin.value(), self.width_spin.value(), self.path_edit.text(),
                          16 if self.sixteen.isChecked() else 8)
