"""The text of a pane's corner label and how it fits the room it has.

Plain Python (no Qt): the pane hands in a `measure(text) -> width` function
(its font metrics) and paints the lines this returns. A line that does not
fit wraps, at the label's " · " separators first, then at spaces; only a
single word wider than the room, or text past MAX_LINES, is cut with "…".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

SEPARATOR = "  \u00b7  "
ELLIPSIS = "\u2026"
MAX_LINES = 8

Measure = Callable[[str], float]


@dataclass
class SideStatus:
    """What the corner label of one side says. `seconds`: the current render's
    time (elapsed while it runs); `progress`: e.g. "3/12 tiles"; `remaining_s`:
    the estimate of the time left; `tooltip`: more than the label has room for."""

    method: str = ""
    state: str = ""
    seconds: float | None = None
    notes: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    tooltip: str = ""
    progress: str = ""
    remaining_s: float | None = None


def format_seconds(seconds: float) -> str:
    """A render time: "cached" when nothing was decoded."""
    if seconds < 0.005:
        return "cached"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 100:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s"


def format_estimate(seconds: float) -> str:
    if seconds < 60:
        return f"~{max(1, round(seconds))} s left"
    return f"~{round(seconds / 60)} min left"


def head_segments(method: str, state: str, progress: str = "", seconds: float | None = None,
                  remaining_s: float | None = None) -> list[str]:
    """The label's first line, as the parts the separator joins: method,
    state (with its progress), time, estimate."""
    parts = [method or "\u2014"]
    if state:
        parts.append(f"{state} {progress}".strip())
    if seconds is not None:
        parts.append(format_seconds(seconds))
    if remaining_s is not None:
        parts.append(format_estimate(remaining_s))
    return parts


def elide(text: str, measure: Measure, width: float) -> str:
    if measure(text) <= width:
        return text
    while text and measure(text + ELLIPSIS) > width:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def wrap(segments: list[str], joiner: str, measure: Measure, width: float) -> list[str]:
    """Segments joined by `joiner` while they fit `width`, else on the next
    line; a segment too wide alone wraps at its spaces, a word too wide alone is elided."""
    lines: list[str] = []
    line = ""
    for segment in segments:
        pieces = [segment]
        if measure(segment) > width and " " in segment.strip():
            pieces = wrap(segment.split(), " ", measure, width)
        for piece in pieces:
            joined = piece if not line else line + joiner + piece
            if measure(joined) <= width:
                line = joined
                continue
            if line:
                lines.append(line)
            line = elide(piece, measure, width)
    if line:
        lines.append(line)
    return lines


def layout(head: list[str], rest: list[str], measure: Measure, width: float,
           max_lines: int = MAX_LINES) -> list[str]:
    """The label's lines as shown in `width`: the head, then each other line, wrapped."""
    lines = wrap(head, SEPARATOR, measure, width)
    for text in rest:
        lines += wrap([text], " ", measure, width)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = elide(lines[-1] + " " + ELLIPSIS, measure, width)
    return lines
