"""Fusion style with a dark or light palette that follows the system (Qt 6.5+)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

# A property on the application: the system theme's signal is connected.
THEME_CONNECTED = "implicitZoomThemeConnected"


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(30, 30, 32), QColor(45, 45, 48), QColor(225, 225, 225)
    disabled = QColor(120, 120, 120)
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: window,
        QPalette.ColorRole.ToolTipBase: QColor(60, 60, 64),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: window,
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 80, 80),
        QPalette.ColorRole.Link: QColor(90, 160, 255),
        QPalette.ColorRole.Highlight: QColor(60, 130, 230),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.PlaceholderText: QColor(150, 150, 150),
    }
    for role, colour in roles.items():
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return p


def is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    return scheme is not None and scheme() == Qt.ColorScheme.Dark


def apply_theme(app: QApplication) -> None:
    """Fusion, dark or light like the system; re-applied when the system switches."""
    app.setStyle("Fusion")

    def update(*_args: object) -> None:
        app.setPalette(dark_palette() if is_dark() else app.style().standardPalette())

    update()
    hints = QGuiApplication.styleHints()
    # Connected once per application (a Qt property on it says so), however often the theme is applied.
    if hasattr(hints, "colorSchemeChanged") and not app.property(THEME_CONNECTED):
        hints.colorSchemeChanged.connect(update)
        app.setProperty(THEME_CONNECTED, True)
