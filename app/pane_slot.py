"""One pane of the main window's grid: its method picker above its image
pane, over the model's `PaneState` (which holds what the pane shows)."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QVBoxLayout

from app.model import PaneState, SideState
from widgets.image_pane import ImagePane
from widgets.method_picker import MethodEntry, MethodPicker


class PaneSlot:
    """One pane of the grid: its picker and image pane, over the model's `PaneState`."""

    def __init__(self, state: PaneState, entries: list[MethodEntry]) -> None:
        self.state = state
        self.frame = QFrame()
        self.frame.setFrameShape(QFrame.Shape.NoFrame)
        self.picker = MethodPicker(entries)
        self.pane = ImagePane()
        layout = QVBoxLayout(self.frame)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.picker)
        layout.addWidget(self.pane, 1)
        if state.sides["a"].method in self.picker.names():
            self.picker.set_method(state.sides["a"].method)
        state.sides["a"].method = self.picker.method() or ""

    @property
    def uid(self) -> int:
        return self.state.uid

    @property
    def sides(self) -> dict[str, SideState]:
        return self.state.sides

    def active_sides(self) -> list[str]:
        return self.state.active_sides()

    def target(self, side: str) -> tuple[int, str]:
        return self.state.target(side)
