"""The readout under the cursor in the status bar: the image point (input
pixels, fractional at high zoom) and the RGB (0-255) each pane shows there,
updated as the mouse moves over any pane, cleared when it leaves. The text is
app.model.readout's; each pane's pixel comes from its displayed tiles."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QLabel, QMainWindow

from app.model import ViewerModel
from app.pane_slot import PaneSlot


class CursorReadout:
    """A label at the left of `window`'s status bar; `slots()` gives the panes to read."""

    def __init__(self, window: QMainWindow, model: ViewerModel, slots: Callable[[], list[PaneSlot]]) -> None:
        self.model = model
        self._slots = slots
        self.label = QLabel()
        self.label.setObjectName("cursorReadout")
        self.label.setToolTip("Image coordinates under the cursor (input pixels) and each pane's RGB there (0-255); "
                              "Z in a pane shows a loupe")
        window.statusBar().addWidget(self.label)

    def watch(self, slot: PaneSlot) -> None:
        slot.pane.hovered.connect(self.show_point)

    def show_point(self, point: tuple[float, float] | None) -> None:
        from app.model.readout import format_readout

        values = []
        if point is not None:
            book = self.model.book
            for slot in self._slots():
                for side in slot.active_sides():
                    method = slot.sides[side].method
                    values.append((book.display_name(method) if method else "?", slot.pane.pixel_at(side, *point)))
        self.label.setText(format_readout(point, self.model.view.zoom, values))

    def text(self) -> str:
        return self.label.text()
