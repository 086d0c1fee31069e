"""A logarithmic zoom slider with the exact factor shown and typeable.

The slider runs from the fit zoom (or 1x, whichever is smaller) to at least
64x on a log scale, in fine steps so that dragging feels continuous. The
field next to it shows the exact factor ("3.70\u00d7") and accepts a typed one
("3.7", "3.7x", "370%"). `zoomChanged` fires while dragging; `zoomCommitted`
when the slider is released or a factor is typed, so the window can refine
only when the zoom rests. The field shows the current zoom whenever nothing
typed is pending in it; Enter or Escape ends typing and `typingDone` asks the
window to give the keyboard back to the panes (so L or F act, not type).
"""

from __future__ import annotations

import math
import re

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QSlider, QWidget

STEPS = 10000
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(%|x|\u00d7|X)?\s*$")


def parse_zoom(text: str) -> float | None:
    """'3.7', '3.7x', '3.7\u00d7' -> 3.7; '50%' -> 0.5; anything else -> None."""
    match = _NUMBER.match(text.replace(",", "."))
    if not match:
        return None
    value = float(match.group(1))
    if match.group(2) == "%":
        value /= 100.0
    return value if math.isfinite(value) and value > 0 else None


def format_zoom(zoom: float) -> str:
    if zoom >= 100:
        return f"{zoom:.0f}\u00d7"
    if zoom >= 10:
        return f"{zoom:.1f}\u00d7"
    return f"{zoom:.2f}\u00d7" if zoom >= 0.1 else f"{zoom:.3g}\u00d7"


class ZoomSlider(QWidget):
    zoomChanged = Signal(float)
    zoomCommitted = Signal(float)
    typingDone = Signal()  # Enter or Escape in the field: the keyboard goes back to the panes

    def __init__(self, min_zoom: float = 0.25, max_zoom: float = 128.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._min = min_zoom
        self._max = max_zoom
        self._zoom = 1.0
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, STEPS)
        self.slider.setMinimumWidth(180)
        self.slider.setToolTip("Zoom (logarithmic): drag to zoom continuously; the view refines when it rests")
        self.field = QLineEdit(self)
        self.field.setFixedWidth(72)
        self.field.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.field.setToolTip("Exact zoom: output pixels per image pixel (type e.g. 3.7 or 370%)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.field)
        self.slider.valueChanged.connect(self._slider_moved)
        self.slider.sliderReleased.connect(lambda: self.zoomCommitted.emit(self._zoom))
        self.field.editingFinished.connect(self._typed)
        # After editingFinished has applied what was typed (returnPressed comes first).
        self.field.returnPressed.connect(lambda: QTimer.singleShot(0, self.typingDone.emit))
        self.field.installEventFilter(self)
        self._sync(emit=False)

    # -- mapping --------------------------------------------------------------

    def position_for(self, zoom: float) -> int:
        lo, hi = math.log(self._min), math.log(self._max)
        t = (math.log(min(self._max, max(self._min, zoom))) - lo) / (hi - lo)
        return round(t * STEPS)

    def zoom_at(self, position: int) -> float:
        lo, hi = math.log(self._min), math.log(self._max)
        return math.exp(lo + (hi - lo) * position / STEPS)

    # -- API ------------------------------------------------------------------

    def zoom(self) -> float:
        return self._zoom

    def minimum(self) -> float:
        return self._min

    def maximum(self) -> float:
        return self._max

    def set_range(self, min_zoom: float, max_zoom: float) -> None:
        if not (0 < min_zoom < max_zoom):
            raise ValueError(f"bad zoom range {min_zoom}..{max_zoom}")
        self._min, self._max = min_zoom, max_zoom
        self._sync(emit=False)

    def set_zoom(self, zoom: float) -> None:
        """Show `zoom` without emitting anything (the window is the source of truth)."""
        self._zoom = float(zoom)
        self._sync(emit=False)

    def is_dragging(self) -> bool:
        return self.slider.isSliderDown()

    # -- internals ------------------------------------------------------------

    def typing(self) -> bool:
        """Whether the field holds text typed but not yet entered (left alone then)."""
        return self.field.hasFocus() and self.field.isModified()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Escape in the field drops what was typed and gives the keyboard back."""
        if (watched is self.field and event.type() == QEvent.Type.KeyPress
                and isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Escape):
            self.field.setText(format_zoom(self._zoom))
            self.typingDone.emit()
            return True
        return super().eventFilter(watched, event)

    def _sync(self, emit: bool) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(self.position_for(self._zoom))
        self.slider.blockSignals(False)
        if not self.typing():
            self.field.setText(format_zoom(self._zoom))
        if emit:
            self.zoomChanged.emit(self._zoom)

    def _slider_moved(self, position: int) -> None:
        self._zoom = self.zoom_at(position)
        if not self.typing():
            self.field.setText(format_zoom(self._zoom))
        self.zoomChanged.emit(self._zoom)
        if not self.slider.isSliderDown():
            # Keyboard or page steps on the slider: the zoom rests at once.
            self.zoomCommitted.emit(self._zoom)

    def _typed(self) -> None:
        value = parse_zoom(self.field.text())
        if value is None:
            self.field.setText(format_zoom(self._zoom))
            return
        self._zoom = min(self._max, max(self._min, value))
        self.field.setText(format_zoom(self._zoom))
        self._sync(emit=True)
        self.zoomCommitted.emit(self._zoom)
