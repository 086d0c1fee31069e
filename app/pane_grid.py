"""The main window's grid of 1-8 panes: adding, removing and arranging
them, the active pane, its split and flip, and the method pickers' lists.
The window connects each new pane's proposals (`GridHost.wire_pane`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from PySide6.QtWidgets import QGridLayout, QMainWindow, QWidget

from app.cursor_readout import CursorReadout
from app.menus import Actions
from app.model import MAX_PANES, PaneState, ViewerModel
from app.pane_slot import PaneSlot
from widgets.image_pane import ImageSource
from widgets.method_picker import MethodEntry

if TYPE_CHECKING:
    from app.service_actions import ServiceActions

GRID = {1: (1, 1), 2: (1, 2), 3: (1, 3), 4: (2, 2), 5: (2, 3), 6: (2, 3), 7: (2, 4), 8: (2, 4)}


class GridHost(Protocol):
    """What the grid uses of the window besides the Qt window itself."""

    @property
    def acts(self) -> Actions: ...

    @property
    def image_source(self) -> ImageSource | None: ...

    @property
    def service_actions(self) -> ServiceActions: ...

    def wire_pane(self, slot: PaneSlot) -> None:
        """Connect a new pane's and picker's signals to the window."""
        ...

    def schedule_render(self) -> None: ...

    def request_whole_metrics(self, slot: PaneSlot) -> None: ...

    # Named as benchmarks/gui_lag.py traces it on MainWindow.
    def _update_label(self, slot: PaneSlot, side: str) -> None: ...


class PaneGrid:
    """The panes in their grid (`widget`, the window's central widget), over the model's panes."""

    def __init__(self, window: QMainWindow, host: GridHost, model: ViewerModel) -> None:
        self.window = window
        self.host = host
        self.model = model
        self.slots: list[PaneSlot] = []
        self.widget = QWidget()
        self._layout = QGridLayout(self.widget)
        self._layout.setContentsMargins(4, 4, 4, 4)
        self._layout.setSpacing(4)
        self.readout = CursorReadout(window, model, lambda: list(self.slots))

    def _describer(self, slot: PaneSlot) -> Callable[[str], str]:
        """Where and in which precision a side of `slot` runs (its label's tooltip)."""
        def describe(side: str) -> str:
            return self.host.service_actions.run_description(slot.sides[side].method)
        return describe

    def entries(self) -> list[MethodEntry]:
        return [MethodEntry(*entry) for entry in self.model.book.entries(self.model.reference is not None)]

    def slot_of(self, state: PaneState) -> PaneSlot:
        return next(s for s in self.slots if s.state is state)

    def active_slot(self) -> PaneSlot:
        return self.slots[self.model.active]

    def add_pane(self, method: str | None = None, rearrange: bool = True) -> PaneSlot | None:
        state = self.model.add_pane(method)
        if state is None:
            self.window.statusBar().showMessage(f"At most {MAX_PANES} panes", 4000)
            return None
        acts = self.host.acts
        slot = PaneSlot(state, self.entries())
        pane = slot.pane
        pane.set_source(self.host.image_source if self.model.image_rgb is not None else None)
        pane.set_view(self.model.view)
        pane.set_select_mode(acts.select_action.isChecked())
        pane.set_show_overlay(acts.error_map_action.isChecked())
        pane.set_selection(self.model.selection)
        pane.set_show_labels(acts.labels_action.isChecked())
        # The label's tooltip says where and in which precision the side's method runs.
        pane.set_run_info(self._describer(slot))
        self.readout.watch(slot)
        self.host.wire_pane(slot)
        self.slots.append(slot)
        self.host._update_label(slot, "a")
        if rearrange:
            self.arrange()
            self.host.schedule_render()
            self.host.request_whole_metrics(slot)
        return slot

    def remove_pane(self, index: int) -> None:
        if self.model.remove_pane(index) is None:
            return
        slot = self.slots.pop(index)
        self._layout.removeWidget(slot.frame)
        slot.frame.setParent(None)
        slot.frame.deleteLater()
        self.arrange()
        self.host.schedule_render()

    def set_pane_count(self, n: int) -> None:
        n = max(1, min(MAX_PANES, n))
        while len(self.slots) < n:
            if self.add_pane(rearrange=False) is None:
                break
        while len(self.slots) > n:
            self.remove_pane(len(self.slots) - 1)
        self.arrange()
        self.host.schedule_render()

    def arrange(self) -> None:
        slots, acts, layout = self.slots, self.host.acts, self._layout
        for slot in slots:
            layout.removeWidget(slot.frame)
        rows, cols = GRID[len(slots)]
        for i, slot in enumerate(slots):
            layout.addWidget(slot.frame, i // cols, i % cols)
        for r in range(2):
            layout.setRowStretch(r, 1 if r < rows else 0)
        for c in range(4):
            layout.setColumnStretch(c, 1 if c < cols else 0)
        for slot in slots:
            slot.picker.set_closable(len(slots) > 1)
        for i, a in enumerate(acts.count_actions):
            a.setChecked(i + 1 == len(slots))
        self.set_active(min(self.model.active, len(slots) - 1))
        acts.add_pane_action.setEnabled(len(slots) < MAX_PANES)
        acts.remove_pane_action.setEnabled(len(slots) > 1)

    def set_active(self, index: int) -> None:
        self.model.active = index
        for i, slot in enumerate(self.slots):
            slot.pane.set_active(i == index and len(self.slots) > 1)
        if 0 <= index < len(self.slots):
            self.host.acts.split_action.setChecked(self.slots[index].state.split)

    def flip_active_pane(self) -> None:
        """Show the active pane's other method in place (same view): the method it
        showed before, else the ground truth in reference mode, else bicubic."""
        slot = self.active_slot()
        current = slot.sides["a"].method
        other = self.model.flip_partner(slot.state)
        if other is None:
            return
        slot.picker.set_method(other)  # the picker's signal calls the window's set_method
        book = self.model.book
        self.window.statusBar().showMessage(f"Pane {self.model.active + 1}: {book.display_name(other)} "
                                            f"(F flips back to {book.display_name(current)})", 4000)

    def toggle_split(self) -> None:
        slot = self.active_slot()
        slot.picker.set_split_method(None if slot.state.split else self.model.split_partner(slot.state))

    def refresh_pickers(self, keep_method: bool = True) -> None:
        """The pickers offer the methods anew (weights loaded, reference mode);
        with `keep_method`, each pane's picker shows its method again."""
        entries = self.entries()
        for slot in self.slots:
            slot.picker.blockSignals(True)
            slot.picker.set_methods(entries)
            if keep_method and slot.sides["a"].method in slot.picker.names():
                slot.picker.set_method(slot.sides["a"].method)
            slot.picker.blockSignals(False)

    def toggle_select_mode(self) -> None:
        on = self.host.acts.select_action.isChecked()
        for slot in self.slots:
            slot.pane.set_select_mode(on)
