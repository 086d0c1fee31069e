"""A pane's keys: the view each view key proposes, and their list for the
user. Geometry only (no painting), tested without a window."""

from __future__ import annotations

from PySide6.QtCore import Qt

from inference.render.view import ViewState

# One wheel notch (120 units) zooms by this factor; keys use the same step.
ZOOM_STEP = 2.0 ** 0.25
# Arrow keys pan by this fraction of the pane.
PAN_FRACTION = 0.125

PANE_KEYS = ("+/- zoom \u00b7 0 fit \u00b7 1 actual pixels \u00b7 arrows pan \u00b7 Shift+drag select \u00b7 "
             "Esc clear the selection \u00b7 F flip method \u00b7 Z loupe")


def view_for_key(key: int, view: ViewState, pane: tuple[int, int], fit: ViewState | None) -> ViewState | None:
    """The view `key` proposes in a pane of `pane` physical pixels showing
    `view` (`fit`: the view that fits the image); None for another key."""
    pw, ph = pane
    zoom = {Qt.Key.Key_Plus: ZOOM_STEP, Qt.Key.Key_Equal: ZOOM_STEP,
            Qt.Key.Key_Minus: 1.0 / ZOOM_STEP, Qt.Key.Key_Underscore: 1.0 / ZOOM_STEP}.get(Qt.Key(key))
    if zoom is not None:
        return view.zoomed_about(view.zoom * zoom, pw / 2.0, ph / 2.0, pw, ph)
    if key == Qt.Key.Key_0:
        return fit
    if key == Qt.Key.Key_1:
        return view.with_zoom(1.0)
    pan = {Qt.Key.Key_Left: (pw * PAN_FRACTION, 0.0), Qt.Key.Key_Right: (-pw * PAN_FRACTION, 0.0),
           Qt.Key.Key_Up: (0.0, ph * PAN_FRACTION), Qt.Key.Key_Down: (0.0, -ph * PAN_FRACTION)}.get(Qt.Key(key))
    return view.panned(*pan) if pan is not None else None
