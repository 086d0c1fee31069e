"""The method chooser above each pane: one method, or two in split mode.

It knows methods only as (name, label, tooltip) entries handed to it, so the
registry can grow while the viewer runs (`set_methods`).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QSizePolicy,
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
    QToolButton,
    QWidget,
)

# Characters of a method's label a combo always has room for.
MIN_LABEL_CHARS = 6


class ElidingComboBox(QComboBox):
    """A combo as wide as its longest label when there is room, narrower when
    there is not (eight split panes), showing a cut label with "…" (Qt's combo
    just clips it: "LIIF (untrain") and the whole label in its tooltip."""

    def __init__(self, tip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tip = tip
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setToolTip(tip)

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        text = self.fontMetrics().horizontalAdvance("M" * MIN_LABEL_CHARS)
        small = self.style().sizeFromContents(QStyle.ContentsType.CT_ComboBox, opt, QSize(text, hint.height()), self)
        return QSize(min(hint.width(), small.width()), hint.height())

    def _text_room(self) -> int:
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        return self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                           QStyle.SubControl.SC_ComboBoxEditField, self).width()

    def shown_text(self) -> str:
        """The current label as drawn: whole, or cut with "…" to the room there is."""
        return self.fontMetrics().elidedText(self.currentText(), Qt.TextElideMode.ElideRight, self._text_room())

    def current_tooltip(self) -> str:
        """The tooltip: what the combo is for, the whole current label and its method's description."""
        detail = self.itemData(self.currentIndex(), Qt.ItemDataRole.ToolTipRole) if self.currentIndex() >= 0 else ""
        label = self.currentText()
        more = f"\n{detail}" if detail and detail != label else ""
        return f"{self._tip}: {label}{more}" if label else self._tip

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            self.setToolTip(self.current_tooltip())  # the current choice, however it was set
        return super().event(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QStylePainter(self)
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, opt)
        opt.currentText = self.shown_text()
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, opt)


@dataclass(frozen=True)
class MethodEntry:
    name: str
    label: str
    tooltip: str = ""


class MethodPicker(QWidget):
    methodChanged = Signal(str)
    splitMethodChanged = Signal(object)  # str, or None when split is off
    closeRequested = Signal()

    def __init__(self, methods: list[MethodEntry], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._entries: list[MethodEntry] = []
        # Combos may shrink below their longest label (the list still shows it
        # whole): else eight split panes need a window wider than the screen.
        self.combo = ElidingComboBox("Method shown in this pane", self)
        self.split_button = QToolButton(self)
        self.split_button.setText("Split")
        self.split_button.setCheckable(True)
        self.split_button.setToolTip("Split this pane: a second method right of a draggable divider")
        self.split_combo = ElidingComboBox("Method shown right of the divider", self)
        self.split_combo.setVisible(False)
        self.close_button = QToolButton(self)
        self.close_button.setText("\u2715")
        self.close_button.setToolTip("Remove this pane")
        self.close_button.setAutoRaise(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.combo)
        layout.addWidget(self.split_button)
        layout.addWidget(self.split_combo)
        layout.addStretch(1)
        layout.addWidget(self.close_button)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.set_methods(methods)
        self.combo.currentIndexChanged.connect(lambda _i: self.methodChanged.emit(self.method()))
        self.split_combo.currentIndexChanged.connect(lambda _i: self._emit_split())
        self.split_button.toggled.connect(self._split_toggled)
        self.close_button.clicked.connect(self.closeRequested.emit)

    def set_methods(self, methods: list[MethodEntry]) -> None:
        """Replace the list, keeping the current choices where they still exist."""
        current, split = self.method(), self.split_method()
        self._entries = list(methods)
        for combo, keep in ((self.combo, current), (self.split_combo, split)):
            combo.blockSignals(True)
            combo.clear()
            for i, entry in enumerate(self._entries):
                combo.addItem(entry.label, entry.name)
                combo.setItemData(i, entry.tooltip or entry.label, 3)  # Qt.ToolTipRole
            index = combo.findData(keep) if keep else -1
            combo.setCurrentIndex(index if index >= 0 else 0)
            combo.blockSignals(False)

    def names(self) -> list[str]:
        return [e.name for e in self._entries]

    def method(self) -> str | None:
        data = self.combo.currentData()
        return str(data) if data is not None else None

    def set_method(self, name: str) -> None:
        index = self.combo.findData(name)
        if index < 0:
            raise KeyError(f"unknown method {name!r}")
        self.combo.setCurrentIndex(index)

    def split_method(self) -> str | None:
        if not self.split_button.isChecked():
            return None
        data = self.split_combo.currentData()
        return str(data) if data is not None else None

    def set_split_method(self, name: str | None) -> None:
        if name is None:
            self.split_button.setChecked(False)
            return
        index = self.split_combo.findData(name)
        if index < 0:
            raise KeyError(f"unknown method {name!r}")
        self.split_combo.blockSignals(True)
        self.split_combo.setCurrentIndex(index)
        self.split_combo.blockSignals(False)
        if self.split_button.isChecked():
            self._emit_split()
        else:
            self.split_button.setChecked(True)

    def set_closable(self, closable: bool) -> None:
        self.close_button.setEnabled(closable)

    def _split_toggled(self, on: bool) -> None:
        self.split_combo.setVisible(on)
        if on and self.split_combo.currentData() == self.method() and self.split_combo.count() > 1:
            # Default to a different method: splitting a method against itself shows nothing.
            self.split_combo.blockSignals(True)
            self.split_combo.setCurrentIndex((self.combo.currentIndex() + 1) % self.split_combo.count())
            self.split_combo.blockSignals(False)
        self._emit_split()

    def _emit_split(self) -> None:
        self.splitMethodChanged.emit(self.split_method())
