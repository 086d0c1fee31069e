"""Help › Keyboard and Mouse (F1): the sheet app.help_sheet writes from the
window's actions, in a non-modal window; and Help › About."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMessageBox, QTextBrowser, QVBoxLayout, QWidget

from app import help_sheet


def shortcut_list(actions: list[QAction]) -> list[tuple[str, str, str]]:
    """(shortcut as the menus show it, text, tip) of each action."""
    return [(a.shortcut().toString(QKeySequence.SequenceFormat.NativeText), a.text(), a.statusTip())
            for a in actions]


class HelpSheet(QDialog):
    def __init__(self, actions: list[QAction], zoom_step: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard and Mouse \u2014 Implicit Zoom")
        self.browser = QTextBrowser(self)
        self.browser.setOpenLinks(False)
        self.browser.setHtml(help_sheet.sheet_html(shortcut_list(actions), zoom_step))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(680, 620)

    def text(self) -> str:
        return self.browser.toPlainText()


def about(parent: QWidget) -> None:
    QMessageBox.about(parent, "About Implicit Zoom",
                      help_sheet.about_html(help_sheet.version(), help_sheet.weights_sources()))
