"""Edit › Preferences: device, precision, worker threads, cache sizes. The
choices and their validation are app.preferences'; this dialog shows them."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QWidget

from app.preferences import (
    DEVICE_LABELS,
    DEVICES,
    FEATURE_CACHE_MB,
    MAX_THREADS,
    PRECISION_LABELS,
    TILE_CACHE_MB,
    Preferences,
    resolved_device,
)


class PreferencesDialog(QDialog):
    def __init__(self, prefs: Preferences, cuda_available: bool, precisions: Callable[[str], list[str]],
                 parent: QWidget | None = None) -> None:
        """`precisions(device)`: the precisions 'cpu' or 'cuda' supports."""
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self._cuda = cuda_available
        self._precisions = precisions
        self.device = QComboBox()
        for name in DEVICES:
            self.device.addItem(DEVICE_LABELS[name], name)
        cuda_index = self.device.findData("cuda")
        if not cuda_available:
            # Shown, but not selectable: the user sees why there is no choice.
            model = self.device.model()
            assert isinstance(model, QStandardItemModel)  # what a QComboBox holds its items in
            model.item(cuda_index).setEnabled(False)
            self.device.setItemText(cuda_index, "CUDA (no GPU found)")
        self.precision = QComboBox()
        self.threads = QSpinBox()
        self.threads.setRange(0, MAX_THREADS)
        self.threads.setSpecialValueText("automatic (every core)")
        self.tile_cache = QSpinBox()
        self.tile_cache.setRange(TILE_CACHE_MB[0], TILE_CACHE_MB[1])
        self.tile_cache.setSuffix(" MiB")
        self.feature_cache = QSpinBox()
        self.feature_cache.setRange(FEATURE_CACHE_MB[0], FEATURE_CACHE_MB[1])
        self.feature_cache.setSuffix(" MiB")
        note = QLabel("Changes restart the render worker: panes decode again with the new settings.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Device:", self.device)
        form.addRow("Precision:", self.precision)
        form.addRow("Worker threads:", self.threads)
        form.addRow("Decoded tiles cache:", self.tile_cache)
        form.addRow("Encoded features cache:", self.feature_cache)
        form.addRow(note)
        form.addRow(buttons)
        self.device.currentIndexChanged.connect(lambda _i: self._fill_precisions(self.precision.currentData()))
        self.set_preferences(prefs)

    def _fill_precisions(self, keep: str | None) -> None:
        device = resolved_device(str(self.device.currentData()), self._cuda)
        self.precision.clear()
        for name in self._precisions(device):
            self.precision.addItem(PRECISION_LABELS.get(name, name), name)
        index = self.precision.findData(keep)
        self.precision.setCurrentIndex(max(0, index))

    def set_preferences(self, prefs: Preferences) -> None:
        self.device.setCurrentIndex(max(0, self.device.findData(prefs.device)))
        self._fill_precisions(prefs.precision)
        self.threads.setValue(prefs.worker_threads)
        self.tile_cache.setValue(prefs.tile_cache_mb)
        self.feature_cache.setValue(prefs.feature_cache_mb)

    def preferences(self) -> Preferences:
        return Preferences(str(self.device.currentData()), str(self.precision.currentData()), self.threads.value(),
                           self.tile_cache.value(), self.feature_cache.value())
