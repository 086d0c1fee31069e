"""The text of a pane's corner label and how it fits the room it has.

Plain Python (no Qt): the pane hands in a `measure(text) -> width` function
(its font metrics) and paints the lines this returns. What the label says
(method, state, time, notes, scores) is written by the viewer model
(`app.model.sides`); the pane reads it through `PaneStatus`. A line that does not
fit wraps, at the label's " · " separators first, then at spaces; only a
single word wider than the room, or text past MAX_LINES, is cut with "…".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

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


def _numeric(word: str) -> bool:
    return bool(word) and (word[0].isdigit() or word[0] in "~∞")


def words(text: str) -> list[str]:
    """`text`'s unbreakable pieces: its words, a number kept with the word
    after it (its unit: "31.23 dB", "3/12 tiles") and an abbreviation with the
    number after it ("SSIM 0.9123"), so a narrow label never parts them."""
    pieces: list[str] = []
    glue = False
    for word in text.split():
        if pieces and (glue or (_numeric(word) and pieces[-1].split()[-1].isupper())):
            pieces[-1] += " " + word
        else:
            pieces.append(word)
        glue = _numeric(word) and not glue
    return pieces


def segments_of(line: str) -> list[str]:
    """A label line's parts between its " · " separators (a score line's PSNR and SSIM)."""
    return [part.strip() for part in line.split(" \u00b7 ") if part.strip()]


def wrap(segments: list[str], joiner: str, measure: Measure, width: float) -> list[str]:
    """Segments joined by `joiner` while they fit `width`, else on the next
    line; a segment too wide alone wraps between its `words`, a word too wide alone is elided."""
    lines: list[str] = []
    line = ""
    for segment in segments:
        pieces = [segment]
        if measure(segment) > width and len(words(segment)) > 1:
            pieces = wrap(words(segment), " ", measure, width)
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
    """The label's lines as shown in `width`: the head, then each other line,
    wrapped (at its " · " first). Past `max_lines`, the other lines that come
    first (notes, whose whole text the tooltip has) give way to the last ones
    (the scores), a "…" line in their place."""
    lines = wrap(head, SEPARATOR, measure, width)
    groups = [wrap(segments_of(text) or [text], " \u00b7 ", measure, width) for text in rest]
    if len(lines) + sum(len(g) for g in groups) <= max_lines:
        return lines + [line for g in groups for line in g]
    if len(lines) >= max_lines - 1:
        lines = lines[:max_lines]
        lines[-1] = elide(lines[-1] + " " + ELLIPSIS, measure, width)
        return lines
    kept: list[str] = []
    room = max_lines - len(lines) - 1  # one line says something was left out
    for group in reversed(groups):
        if len(kept) + len(group) > room:
            break
        kept = group + kept
    return [*lines, ELLIPSIS, *kept]
