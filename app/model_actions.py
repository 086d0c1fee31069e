"""The user's own model files in the viewer: File › Load Model, a model file
dropped on a pane, and the files remembered across launches (their paths
only, in QSettings). The render worker loads the file (RenderService.load_model,
so the window never blocks); once loaded, the model is a method of every
pane's picker (inference.user_models names it), and the pane it was meant
for shows it. A refused file is one line; a remembered file that is gone or
refused at startup is one status-bar line, and is forgotten."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QPoint, QSettings
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from app.model import ViewerModel
from app.settings import recent_list, start_folder
from inference import user_models

if TYPE_CHECKING:
    from app.pane_grid import PaneGrid
    from app.pane_slot import PaneSlot
    from app.render_worker import RenderService

SETTINGS_KEY = "models"  # the remembered model files' paths
FOLDER_KEY = "modelDir"  # where Load Model last opened a file


class ModelHost(Protocol):
    """What the model actions use of the window besides the Qt window itself."""

    @property
    def closing(self) -> bool: ...

    @property
    def grid(self) -> PaneGrid: ...

    def slots(self) -> list[PaneSlot]: ...

    def active_slot(self) -> PaneSlot: ...

    def refresh_pickers(self) -> None: ...


@dataclass
class StartupProblems:
    """Remembered model files that could not be loaded at startup: one status-bar line for them all."""

    items: list[str] = field(default_factory=list)

    def add(self, path: str, why: str) -> str:
        self.items.append(f"{Path(path).name} ({why})")
        count = len(self.items)
        return f"Forgot {count} remembered model file{'s' if count > 1 else ''}: {'; '.join(self.items)}"


def remembered(value: Any) -> list[str]:
    """The stored model paths as a list (QSettings gives a str for one), without repeats."""
    return list(dict.fromkeys(p for p in recent_list(value) if p))


def session_methods(text: Any) -> list[str]:
    """The methods of the panes the last session remembers (app.settings.encode_panes), offered or not."""
    try:
        items = json.loads(str(text))
    except (TypeError, ValueError):
        return []
    return [str(i["method"]) for i in items if isinstance(i, dict) and "method" in i] if isinstance(items, list) else []


def missing_spandrel_line() -> str:
    """The one line File › Load Model says where spandrel is not installed ("" where it is)."""
    if importlib.util.find_spec("spandrel") is not None:
        return ""
    from inference.external import INSTALL_HINT

    return f"Loading your own model needs spandrel, which is not installed: {INSTALL_HINT}"


class ModelActions:
    """`window` is the Qt window (dialogs' parent, status bar), `host` its panes;
    `service` gives the current render service (Preferences may replace it)."""

    def __init__(self, window: QMainWindow, host: ModelHost, model: ViewerModel, settings: QSettings,
                 service: Callable[[], RenderService], on_change: Callable[[], None],
                 load_weights: Callable[[str], None] | None = None) -> None:
        self.window = window
        self.host = host
        self.model = model
        self.settings = settings
        self._service = service
        self._on_change = on_change  # e.g. the methods dialog follows
        self._load_weights = load_weights  # a project checkpoint dropped on a pane is weights, not a model
        self._pending: dict[str, tuple[int | None, bool]] = {}  # path -> (pane uid to show it, remembered)
        self.startup = StartupProblems()
        # The last session's panes: one on a remembered model is left out until the model has loaded.
        self._session_panes: list[str] = []

    # ------------------------------------------------------------------ asking

    def folder(self) -> str:
        last = self.settings.value(FOLDER_KEY)
        return start_folder(str(last) if last else None, Path.home())

    def load_dialog(self) -> None:
        """File › Load Model: pick a network file; the active pane shows it once loaded."""
        missing = missing_spandrel_line()
        if missing:
            QMessageBox.warning(self.window, "Cannot load a model", missing)
            return
        path, _ = QFileDialog.getOpenFileName(self.window, "Load your own model", self.folder(),
                                              user_models.FILE_FILTER)
        if path:
            self.settings.setValue(FOLDER_KEY, str(Path(path).parent))
            self.load(path, self.host.active_slot())

    def load(self, path: str | Path, slot: PaneSlot | None = None, remembered: bool = False) -> None:
        """Load the file in the render worker; `slot`'s pane shows it once it has loaded."""
        key = str(path)
        self._pending[key] = (slot.uid if slot is not None else None, remembered)
        if not remembered:
            self.window.statusBar().showMessage(f"Loading model {Path(key).name}\u2026")
        self._service().load_model(key)

    def restore(self) -> None:
        """Load the model files remembered from the last launch; those gone are forgotten, in one line."""
        kept, stored = [], remembered(self.settings.value(SETTINGS_KEY))
        self._session_panes = session_methods(self.settings.value("session/panes"))
        for path in stored:
            if Path(path).is_file():
                kept.append(path)
                self.load(path, remembered=True)
            else:
                self.window.statusBar().showMessage(self.startup.add(path, "no longer there"), 15000)
        if kept != stored:
            self.settings.setValue(SETTINGS_KEY, kept)

    def drop(self, event: QDropEvent) -> bool:
        """A model file dropped on a pane loads into that pane; False when the drop is not a model file."""
        for url in event.mimeData().urls():
            if url.isLocalFile() and user_models.is_model_file(url.toLocalFile()):
                event.acceptProposedAction()
                path = url.toLocalFile()
                if self._load_weights is not None and user_models.is_project_checkpoint(path):
                    self._load_weights(path)  # as File > Load Weights: for the method the file declares
                else:
                    self.load(path, self.slot_at(event.position().toPoint()))
                return True
        return False

    def slot_at(self, window_point: QPoint) -> PaneSlot:
        """The pane under a point of the window (the active pane when none is)."""
        for slot in self.host.slots():
            pane = slot.pane
            if pane.isVisible() and pane.rect().contains(pane.mapFrom(self.window, window_point)):
                return slot
        return self.host.active_slot()

    # ------------------------------------------------------------------ the worker's answers

    def on_loaded(self, name: str, path: str) -> None:
        uid, was_remembered = self._pending.pop(path, (None, False))
        self.model.book.add_model(name)
        self.host.refresh_pickers()
        self._remember(path)
        slot = next((s for s in self.host.slots() if s.uid == uid), None) if uid is not None else None
        if slot is not None:
            slot.picker.set_method(name)  # the picker says methodChanged: the window shows it
        elif was_remembered and name in self._session_panes and all(s.sides["a"].method != name
                                                                    for s in self.host.slots()):
            self.host.grid.add_pane(name)  # a pane of the last session showed it: back, at the end
        if not was_remembered:
            details = user_models.get(name).details
            self.window.statusBar().showMessage(
                f"Loaded {user_models.get(name).display}: {int(details.get('parameters', 0)):,} parameters, "
                f"sha256 {str(details.get('sha256', ''))[:12]}\u2026", 10000)
        self._on_change()

    def on_failed(self, path: str, message: str) -> None:
        _, was_remembered = self._pending.pop(path, (None, False))
        if was_remembered:
            self._forget(path)
            self.window.statusBar().showMessage(self.startup.add(path, message), 15000)
            return
        self.window.statusBar().showMessage(f"Model not loaded: {message}", 15000)
        if not self.host.closing:
            QMessageBox.warning(self.window, "Cannot load this model", message)

    # ------------------------------------------------------------------ remembering

    def _remember(self, path: str) -> None:
        paths = remembered(self.settings.value(SETTINGS_KEY))
        resolved = str(Path(path).resolve())
        if resolved not in paths:
            self.settings.setValue(SETTINGS_KEY, [*paths, resolved])

    def _forget(self, path: str) -> None:
        paths = remembered(self.settings.value(SETTINGS_KEY))
        self.settings.setValue(SETTINGS_KEY, [p for p in paths if p != path])
