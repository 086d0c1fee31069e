"""The one rule for output at or below 1:1: whatever method was asked for,
the antialiased bicubic draws it (a decoder adds nothing when shrinking, and
is slower). The viewer's panes, its exports and the command line all ask here,
so they show and save the same pixels below 1:1."""

from __future__ import annotations

from .registry import BASELINE

# The method shown at zoom <= 1, whatever the pane asked for: the baseline interpolation.
DOWNSCALE_METHOD = BASELINE
DOWNSCALE_NOTE = "zoom \u2264 1: antialiased bicubic (models add nothing when shrinking)"


def shrinks(zoom_x: float, zoom_y: float | None = None) -> bool:
    """Whether output at this zoom (both axes when two are given) is at or below 1:1."""
    return zoom_x <= 1.0 and (zoom_y is None or zoom_y <= 1.0)


def shown_method(method: str, zoom_x: float, zoom_y: float | None = None) -> tuple[str, str]:
    """(the method that draws, the note that says why, or "") for output at this zoom."""
    if shrinks(zoom_x, zoom_y) and method != DOWNSCALE_METHOD:
        return DOWNSCALE_METHOD, DOWNSCALE_NOTE
    return method, ""


def substitution_note(note: str, asked: str) -> str:
    """What an export's metadata says when bicubic drew in place of `asked` (a display name)."""
    return f"{note}; {asked} was asked for"
