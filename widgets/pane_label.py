"""The text of a pane's corner label and how it fits the room it has.

Plain Python (no Qt): the pane hands in a `measure(text) -> width` function
(its font metrics) and paints the lines this returns. What the label says
(method, state, time, notes, scores) is written by the viewer model
(`app.model.sides`); the pane reads it through `PaneStatus`. A line that does not
fit wraps, at the label's " · " separators first, then at spaces; only a
single word wider than the room, or text past MAX_LINES, is cut with "…".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

SEPARATOR = "  \u00b7  "
ELLIPSIS = "\u2026"
MAX_LINES = 8

Measure = Callable[[str], float]


class PaneStatus(Protocol):
    """What a pane's corner label shows, as the pane reads it. The viewer model
    (`app.model.SideStatus`) writes it; the widget only fits and paints it."""

    @property
    def method(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def notes(self) -> list[str]: ...

    @property
    def metrics(self) -> list[str]: ...

    @property
    def tooltip(self) -> str: ...

    def head(self) -> list[str]:
        """The label's first line, as the parts `SEPARATOR` joins."""
        ...


@dataclass(frozen=True)
class BlankStatus:
    """The label of a side nothing was said about yet: a dash."""

    method: str = ""
    state: str = ""
    notes: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    tooltip: str = ""

    def head(self) -> list[str]:
        return ["\u2014"]


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
