"""File › Open Recent: the list in QSettings and its menu."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

from app.settings import MAX_RECENT, recent_list, with_recent


class RecentFiles:
    def __init__(self, settings: QSettings, menu: QMenu, open_path: Callable[[str], object]) -> None:
        self.settings = settings
        self.menu = menu
        self._open_path = open_path
        self.rebuild()

    def files(self) -> list[str]:
        return recent_list(self.settings.value("recentFiles", []))

    def add(self, path: str) -> None:
        self.settings.setValue("recentFiles", with_recent(self.files(), path, MAX_RECENT))
        self.rebuild()

    def clear(self) -> None:
        self.settings.setValue("recentFiles", [])
        self.rebuild()

    def rebuild(self) -> None:
        self.menu.clear()
        files = self.files()
        for i, path in enumerate(files):
            action = self.menu.addAction(f"&{i + 1} {Path(path).name}")
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _c=False, p=path: self._open_path(p))
        if not files:
            self.menu.addAction("(none)").setEnabled(False)
        else:
            self.menu.addSeparator()
            self.menu.addAction("Clear", self.clear)
