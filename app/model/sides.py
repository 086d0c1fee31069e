"""One side of a pane (the whole pane, or half of a split one): which method
it shows, where its current render is, its scores, and the text of its
corner label. Plus the status bar's summary of every render in flight.

No Qt: the window passes results in and hands the `SideStatus` built here to
the pane, which only fits it to its room and draws it (`widgets.pane_label`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from inference.downscale import DOWNSCALE_NOTE
from inference.render.scheduler import Phase


def format_seconds(seconds: float) -> str:
    """A render time: "cached" when nothing was decoded."""
    if seconds < 0.005:
        return "cached"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 100:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s"


def format_running(seconds: float) -> str:
    """A render's time while it runs: never "cached" (nothing is finished yet),
    nothing in its first tenth of a second."""
    return f"{seconds:.1f} s" if seconds >= 0.05 else ""


def format_estimate(seconds: float) -> str:
    if seconds < 60:
        return f"~{max(1, round(seconds))} s left"
    return f"~{round(seconds / 60)} min left"


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
    running: bool = False  # `seconds` is the time so far of a render still running

    def head(self) -> list[str]:
        """The label's first line, as the parts its separator joins: method,
        state (with its progress), time, estimate."""
        parts = [self.method or "\u2014"]
        if self.state:
            parts.append(f"{self.state} {self.progress}".strip())
        shown = None if self.seconds is None else \
            format_running(self.seconds) if self.running else format_seconds(self.seconds)
        if shown:
            parts.append(shown)
        if self.remaining_s is not None:
            parts.append(format_estimate(self.remaining_s))
        return parts


# Notes from the renderer, as a pane's label says them (the tooltip has the whole note).
LABEL_NOTES = {DOWNSCALE_NOTE: "zoom \u2264 1: bicubic (models add nothing)"}
UNTRAINED_NOTE = "untrained: random weights, not a result"
UNTRAINED_DETAIL = "untrained: random weights, the output is not a result"
# The states a side is in while tiles of its current render are still to come.
BUSY = ("preview", "refining")


@dataclass
class SideState:
    method: str = ""
    generation: int = 0
    state: str = ""  # "", preview, refining, done, untrained, error
    decoded_any: bool = False
    seconds: float | None = None  # the finished render's wall time; None while it runs
    note: str = ""
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # kind ("whole", "visible") -> MetricsResult
    started: float | None = None  # perf_counter() when the current render was requested
    full_done: int = 0  # full-resolution tiles of the current render shown so far
    full_total: int = 0  # ... of how many (0: not known yet)
    full_began: float | None = None  # when its first full tile started decoding

    def busy(self) -> bool:
        return self.state in BUSY

    def elapsed(self, now: float) -> float | None:
        """The current render's time: running while it runs, final once done."""
        if self.busy() and self.started is not None:
            return now - self.started
        return self.seconds

    def remaining_s(self, now: float) -> float | None:
        """The estimate of the time left: the pace of its full tiles so far."""
        if not self.busy() or self.full_began is None or not self.full_done or not self.decoded_any:
            return None
        left = self.full_total - self.full_done
        return (now - self.full_began) / self.full_done * left if left > 0 else None

    # -- what happens to it ---------------------------------------------------

    def forget_results(self) -> None:
        """Scores, time and error belong to what was shown: a new image, method or weights drops them."""
        self.metrics.clear()
        self.seconds = None
        self.error = None

    def show_method(self, name: str) -> None:
        """Another method: the old one's error or "done" is not the new one's."""
        self.method = name
        self.forget_results()
        self.state = "preview"

    def view_moved(self) -> bool:
        """The view changed: a finished side waits for this view's render (no time until it starts).
        Returns whether its label changed."""
        if self.state not in ("done", "untrained"):
            return False
        self.state = "preview"
        self.started = None
        self.seconds = None
        return True

    def begin_render(self, generation: int, now: float, note: str, anything_in_view: bool) -> None:
        """A new render of this side: its own time and progress, never the previous view's."""
        self.generation = generation
        self.decoded_any = False
        self.error = None
        self.started = now
        self.seconds = None
        self.full_done = self.full_total = 0
        self.full_began = None
        self.note = note
        self.state = "preview" if anything_in_view else "done"  # done: nothing of the image in view

    def tile_failed(self, error: str) -> None:
        self.state, self.error = "error", error

    def tile_shown(self, tile: Any, now: float) -> None:
        """A tile of the current render (inference.render.RenderedTile) is on screen."""
        if tile.phase == Phase.FULL:
            self.note = tile.note
            self.full_done += 1
            self.full_total = max(self.full_total, self.full_done + tile.full_remaining)
            if not tile.from_cache:
                self.decoded_any = True
                if self.full_began is None:
                    self.full_began = now - tile.seconds
        if tile.final:
            self.seconds = (now - self.started if self.started is not None else tile.seconds) \
                if self.decoded_any else 0.0
            self.state = "untrained" if tile.untrained else "done"
        elif tile.phase in (Phase.COARSE, Phase.FULL):
            self.state = "refining"


def metric_lines(metrics: dict[str, Any]) -> list[str]:
    """The scores of a side, whole image first, as its label says them."""
    lines = []
    for kind, label in (("whole", "image"), ("visible", "view")):
        m = metrics.get(kind)
        if m is None:
            continue
        if m.error:
            lines.append(f"{label}: {m.error}")
        elif m.psnr is not None:
            # Above 100 dB the images are the same up to float rounding.
            psnr = "\u221e (identical)" if m.psnr >= 100 else f"{m.psnr:.2f} dB"
            ssim = f"{m.ssim:.4f}" if m.ssim is not None else "n/a"
            lines.append(f"{label}: PSNR {psnr} \u00b7 SSIM {ssim}")
        elif m.note:
            lines.append(f"{label}: {m.note}")
    return lines


def side_status(side: SideState, book: Any, now: float, zoom: float | None = None) -> SideStatus:
    """The corner label of `side`: method, state, time, progress, notes and scores,
    short where three narrow panes have ~300 px each, whole in the tooltip.
    `zoom`: the view's, for a user model's "resampled to" (MethodBook.pane_name)."""
    notes, details = [], []
    if side.error:
        notes.append(side.error)
    if side.note:
        notes.append(LABEL_NOTES.get(side.note, side.note))
        details.append(side.note)
    if side.method and book.is_untrained(side.method):
        notes.append(UNTRAINED_NOTE)
        details.append(UNTRAINED_DETAIL)
    progress = f"{side.full_done}/{side.full_total} tiles" if side.busy() and side.full_total else ""
    name = (book.pane_name(side.method, zoom) if hasattr(book, "pane_name") else book.display_name(side.method)) \
        if side.method else ""
    details.insert(0, book.tooltip(side.method) if side.method else "")
    return SideStatus(name, side.state, side.elapsed(now), notes, metric_lines(side.metrics),
                      "\n".join(d for d in details if d), progress, side.remaining_s(now), side.busy())


def progress_summary(panes: Iterable[list[SideState]], queue: int, now: float) -> tuple[str, str]:
    """The status bar's (text, tooltip): panes rendering, their tiles left and the time left;
    else the worker's queue; else idle. `panes`: each pane's shown sides."""
    rendering, tiles, estimates = 0, 0, []
    for sides in panes:
        busy = [s for s in sides if s.busy()]
        rendering += bool(busy)
        for st in busy:
            tiles += max(0, st.full_total - st.full_done)
            estimate = st.remaining_s(now)
            if estimate is not None:
                estimates.append(estimate)
    if rendering:
        text = f"Rendering {rendering} pane{'s' if rendering > 1 else ''}"
        if tiles:
            text += f": {tiles} tile{'s' if tiles > 1 else ''} left"
        if estimates:
            text += f", {format_estimate(max(estimates))}"
    elif queue:
        text = f"Working: {queue} job{'s' if queue > 1 else ''}"
    else:
        text = "Idle"
    tooltip = (f"What the render worker is doing: panes rendering, their tiles left and the "
               f"time left; {queue} tiles and jobs waiting")
    return text, tooltip
