"""The viewer's state and rules, without a window: the image, the one shared
view and its zoom limits, the panes and their sides, the selection,
reference mode, and what an export samples and saves.

The Qt layer (app/main_window.py) owns the widgets and the render service; it
tells this model what happened (a view proposed, a tile arrived, a method
picked) and draws what the model says. Geometry that only a widget knows (a
pane's physical size, the lattice it shows) is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from app.model.methods import MAX_PANES, MethodBook
from app.model.sides import SideState, progress_summary
from inference.downscale import shown_method
from inference.geometry import Lattice, Region, clip, rect_lattice
from inference.registry import BASELINE, is_interpolation
from inference.render.scheduler import GenerationCounter, RenderRequest
from inference.render.tiles import plan_tiles
from inference.render.view import MAX_ZOOM, ViewState, fit_zoom

SIDES = ("a", "b")
METRIC_KINDS = ("whole", "visible")
# Tiles are planned at this size only to tell whether anything of the image is in view.
PLAN_TILE = 256
Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class PaneMemory:
    """One pane as it was left (what a relaunch restores): its method, the split's
    second method (None: not split) and where the divider was (fraction of the width)."""

    method: str
    split: str | None = None
    fraction: float = 0.5


@dataclass(eq=False)
class PaneState:
    """One pane: side "a" is the whole pane, or the left of a split one. Compared by identity."""

    uid: int
    sides: dict[str, SideState] = field(default_factory=lambda: {"a": SideState(), "b": SideState()})
    split: bool = False

    def active_sides(self) -> list[str]:
        return ["a", "b"] if self.split and self.sides["b"].method else ["a"]

    def target(self, side: str) -> tuple[int, str]:
        return (self.uid, side)


@dataclass(frozen=True)
class MetricsRequest:
    """A reference-mode score to ask the worker for (the window makes the job)."""

    target: Hashable
    method: str
    kind: str
    generation: int
    region: Rect | None = None


@dataclass(frozen=True)
class ExportPlan:
    """What an export of one method writes: the method that draws (bicubic
    at zoom <= 1) and the metadata saved with it."""

    method: str
    metadata: dict[str, str]


def _instant(method: str) -> bool:
    """An interpolation: its whole pane decodes in milliseconds."""
    return method == BASELINE or is_interpolation(method)


class ViewerModel:
    def __init__(self, book: MethodBook, generations: GenerationCounter | None = None) -> None:
        self.book = book
        # Outlives a restarted render worker: results still queued from the old one stay stale.
        self.generations = generations or GenerationCounter()
        self.loaded: Any = None  # LoadedImage of the opened file
        self.image_rgb: np.ndarray | None = None  # what the panes show (LR in reference mode)
        self.image_id = ""
        self._image_counter = 0
        self.reference: Any = None
        self.view = ViewState(0.0, 0.0, 1.0)
        self.selection: Rect | None = None
        self.panes: list[PaneState] = []
        self.active = 0
        self._next_uid = 0
        self.flip_previous: dict[int, str] = {}  # pane uid -> the method it showed before (View › Flip Method)
        self.side_previous: dict[Hashable, str] = {}  # pane side target -> its method before (leaving reference)
        self.queue = 0  # tiles and jobs waiting in the worker
        # What each side was last asked to render (image, method, lattice): a side
        # asked again for the same (a pane added, removed or resized beside it)
        # keeps its tiles and its render in flight. Forgotten when its tiles go.
        self._asked: dict[Hashable, tuple[str, str, Lattice]] = {}

    # ------------------------------------------------------------------ panes

    def offered(self) -> list[str]:
        """The methods a picker offers now (the ground truth too in reference mode)."""
        return [name for name, _, _ in self.book.entries(self.reference is not None)]

    def add_pane(self, method: str | None = None) -> PaneState | None:
        """A new pane showing `method` (else the first learned one not shown yet); None at MAX_PANES."""
        if len(self.panes) >= MAX_PANES:
            return None
        if method is None:
            method = self.book.for_new_pane({p.sides["a"].method for p in self.panes})
        offered = self.offered()
        pane = PaneState(self._next_uid)
        pane.sides["a"].method = method if method in offered else (offered[0] if offered else "")
        self._next_uid += 1
        self.panes.append(pane)
        return pane

    def remove_pane(self, index: int) -> PaneState | None:
        """Drop a pane (never the last); its renders in flight become stale."""
        if len(self.panes) <= 1 or not (0 <= index < len(self.panes)):
            return None
        pane = self.panes.pop(index)
        for side in SIDES:
            self.generations.retire(pane.target(side))
            self._asked.pop(pane.target(side), None)
        self.active = min(self.active, len(self.panes) - 1)
        return pane

    def active_pane(self) -> PaneState:
        return self.panes[self.active]

    def find(self, target: Hashable) -> tuple[PaneState, str] | None:
        """The pane side a (uid, side) target names; None once the pane is gone."""
        uid, side = cast(tuple[int, str], target)
        for pane in self.panes:
            if pane.uid == uid:
                return pane, side
        return None

    def shown_sides(self) -> Iterator[tuple[PaneState, str]]:
        for pane in self.panes:
            for side in pane.active_sides():
                yield pane, side

    def set_method(self, pane: PaneState, side: str, name: str) -> bool:
        """Show `name` on a side; False when it already does. Side "a" remembers the one before for Flip."""
        state = pane.sides[side]
        if state.method == name:
            return False
        self.forget_asked(pane, side)  # the window clears the side's tiles
        if side == "a" and state.method:
            self.flip_previous[pane.uid] = state.method
        if state.method:
            self.side_previous[pane.target(side)] = state.method
        state.show_method(name)
        return True

    def set_split(self, pane: PaneState, name: str | None) -> bool:
        """Split the pane with `name` on the right, or (None) join it; the right side's renders go stale.
        Returns whether the right side shows another method now."""
        if name is None:
            pane.split = False
            pane.sides["b"] = SideState()
            self.generations.retire(pane.target("b"))
            self.forget_asked(pane, "b")
            return False
        pane.split = True
        return self.set_method(pane, "b", name)

    def split_partner(self, pane: PaneState) -> str:
        """What a split shows on the right at first: the first method other than the left's."""
        left = pane.sides["a"].method
        return next((m for m in self.book.names if m != left), left)

    def flip_partner(self, pane: PaneState) -> str | None:
        """The method Flip shows: in reference mode the ground truth, or from it the method before;
        otherwise the one before, else bicubic."""
        from app.model.flip import flip_partner

        reference = None
        if self.reference is not None:
            from inference.reference import GROUND_TRUTH

            reference = GROUND_TRUTH
        return flip_partner(pane.sides["a"].method, self.flip_previous.get(pane.uid), self.offered(), reference)

    def pane_memories(self, fractions: list[float]) -> list[PaneMemory]:
        """The panes as a relaunch restores them; `fractions`: each pane's divider position."""
        return [PaneMemory(p.sides["a"].method, p.sides["b"].method if p.split and p.sides["b"].method else None,
                           fraction) for p, fraction in zip(self.panes, fractions)]

    def weights_replaced(self, method: str, path: str) -> list[tuple[PaneState, str]]:
        """`method` now uses the weights in `path`: each side showing it drops its
        scores, time and error and waits for the new tiles. Returns those sides."""
        self.book.weights_paths[method] = str(path)
        self.book.inspected.pop(method, None)
        replaced = []
        for pane in self.panes:
            for side in SIDES:
                if pane.sides[side].method == method:
                    pane.sides[side].forget_results()
                    pane.sides[side].state = "preview"  # until the new weights' tiles arrive
                    self.forget_asked(pane, side)
                    replaced.append((pane, side))
        return replaced

    def worker_restarted(self) -> None:
        """A new render worker (Preferences changed): what the old one loaded, scored and timed is forgotten."""
        self.book.forget_loaded()
        self._asked.clear()  # the new worker has none of the old one's work
        for pane in self.panes:
            for side in SIDES:
                pane.sides[side].metrics.clear()
                pane.sides[side].seconds = None

    # ------------------------------------------------------------------ image

    def image_size(self) -> tuple[int, int]:
        """(width, height) of what the panes show."""
        assert self.image_rgb is not None
        h, w = self.image_rgb.shape[:2]
        return w, h

    def show_image(self, rgb: np.ndarray) -> str:
        """Panes show `rgb` from now on, under a new id; the selection and every
        side's scores, time and error go with the old image. Returns the id."""
        self._image_counter += 1
        self.image_id = f"image-{self._image_counter}"
        self.image_rgb = np.ascontiguousarray(rgb, dtype=np.float32)
        self.selection = None
        for pane in self.panes:
            for side in SIDES:
                pane.sides[side].forget_results()
        return self.image_id

    def image_label(self) -> str:
        """The status bar's image field: size and bit depth, or what reference mode simulates."""
        if self.image_rgb is None:
            return "No image"
        w, h = self.image_size()
        if self.reference is not None:
            hw, hh = self.reference.hr_size
            if self.reference.path is not None:
                return f"{w} \u00d7 {h} px, reference {hw} \u00d7 {hh} (\u00d7{self.reference.scale:g})"
            return f"reference \u00d7{self.reference.scale:g}: LR {w} \u00d7 {h} from {hw} \u00d7 {hh}"
        bits = f" \u00b7 {self.loaded.bit_depth}-bit" if self.loaded is not None else ""
        return f"{w} \u00d7 {h} px{bits}"

    # ------------------------------------------------------------------ view

    def zoom_limits(self, pane_size: tuple[int, int]) -> tuple[float, float]:
        """From the zoom at which the whole image fits (or 1:1 if that is smaller) to MAX_ZOOM."""
        if self.image_rgb is None:
            return 1.0, MAX_ZOOM
        return min(fit_zoom(*self.image_size(), *pane_size), 1.0), MAX_ZOOM

    def clamp_view(self, view: ViewState, pane_size: tuple[int, int]) -> ViewState:
        lo, hi = self.zoom_limits(pane_size)
        if view.zoom < lo or view.zoom > hi:
            view = ViewState(view.cx, view.cy, min(hi, max(lo, view.zoom)))
        return view.clamped(*self.image_size())

    def apply_view(self, view: ViewState, pane_size: tuple[int, int]) -> list[tuple[PaneState, str]]:
        """Make `view` (clamped) the one every pane shows. Returns the sides
        whose label changed: finished ones now wait for this view's render.
        The view changed iff `self.view` differs from before."""
        view = self.clamp_view(view, pane_size)
        changed = view != self.view
        self.view = view
        if not changed:
            return []
        return [(pane, side) for pane, side in self.shown_sides() if pane.sides[side].view_moved()]

    def fit_view(self, pane_size: tuple[int, int]) -> ViewState:
        """The whole image, centred, as large as fits."""
        return ViewState.fit(*self.image_size(), *pane_size)

    def reference_start_view(self, pane_size: tuple[int, int]) -> ViewState:
        """Reference mode starts where the ground truth is shown 1:1 if that fits, else fitted."""
        w, h = self.image_size()
        fz = fit_zoom(w, h, *pane_size)
        return ViewState(w / 2, h / 2, min(self.reference.scale, fz) if fz >= 1 else fz)

    # ------------------------------------------------------------------ rendering

    def begin_renders(self, lattice_of: Callable[[PaneState], Lattice],
                      now: float) -> list[tuple[PaneState, str, RenderRequest | None]]:
        """A new render of every shown side with a method, each with a new
        generation: (pane, side, the request to submit or None when nothing
        of the image is in view). `lattice_of`: the lattice a pane shows."""
        if self.image_rgb is None:
            return []
        w, h = self.image_size()
        begun: list[tuple[PaneState, str, RenderRequest | None]] = []
        for pane in self.panes:
            lat = lattice_of(pane)
            for side in pane.active_sides():
                begun += self._begin_render(pane, side, lat, now, w, h)
        # Instant methods (interpolations) first: the worker may start on the
        # first request before the others arrive, and a model's tile takes seconds.
        begun.sort(key=lambda b: not _instant(shown_method(b[0].sides[b[1]].method, self.view.zoom)[0]))
        return begun

    def forget_asked(self, pane: PaneState, side: str) -> None:
        """`side`'s tiles are going (another method, new weights): its next render starts afresh."""
        self._asked.pop(pane.target(side), None)

    def _begin_render(self, pane: PaneState, side: str, lat: Lattice, now: float, w: int,
                      h: int) -> list[tuple[PaneState, str, RenderRequest | None]]:
        st = pane.sides[side]
        if not st.method:
            return []
        target = pane.target(side)
        asked = (self.image_id, st.method, lat)
        previous = self._asked.get(target)
        if previous == asked and st.state != "error" and st.started is not None \
                and st.generation == self.generations.latest(target):
            return []  # the same lattice: its tiles, or its render in flight, still answer it
        self._asked[target] = asked
        # The same method and zoom on a resized pane: its tiles stay, so it is
        # not back to a preview; it refines the area it gained.
        kept = (previous is not None and previous[:2] == asked[:2] and previous[2].zx == lat.zx
                and st.state in ("refining", "done", "untrained"))
        generation = self.generations.issue(target)
        in_view = bool(plan_tiles(lat, PLAN_TILE, w, h))
        # The only note tiles carry (zoom <= 1 shows bicubic): not left over from the last view.
        st.begin_render(generation, now, shown_method(st.method, lat.zx)[1], in_view)
        if kept and in_view:
            st.state = "refining"
        request = RenderRequest(generation, target, st.method, lat, self.image_id) if in_view else None
        return [(pane, side, request)]

    def route(self, generation: int, target: Hashable) -> tuple[PaneState, str] | None:
        """The side a render result is for; None when the user has moved on from it."""
        if self.generations.is_stale(generation, target):
            return None
        return self.find(target)

    def progress(self, now: float) -> tuple[str, str]:
        """The status bar's render summary (text, tooltip)."""
        return progress_summary(([p.sides[s] for s in p.active_sides()] for p in self.panes), self.queue, now)

    def any_busy(self) -> bool:
        return any(pane.sides[side].busy() for pane, side in self.shown_sides())

    # ------------------------------------------------------------------ selection

    def set_selection(self, selection: Rect | None) -> str:
        """Select a region (image units) to export, or none; returns what the status bar says."""
        self.selection = selection
        if selection is None:
            return ""
        x0, y0, x1, y1 = selection
        return (f"Selected {x1 - x0:.1f} \u00d7 {y1 - y0:.1f} image pixels at ({x0:.1f}, {y0:.1f}); "
                f"File \u203a Export to save it")

    # ------------------------------------------------------------------ reference mode

    def enter_reference(self, scale: float) -> Any:
        """Treat the opened image as ground truth, downscaled by `scale` the
        evaluator's way. Raises ValueError (its message for the user) when it cannot."""
        from inference.reference import make_reference

        if self.loaded is None:
            raise ValueError("Open an image first")
        self.reference = make_reference(self.loaded.rgb, scale)
        return self.reference

    def match_reference(self, path: str, rgb: np.ndarray) -> Any:
        """The opened image as it is with the reference file `path` (its pixels
        `rgb`) as its ground truth, an inference.reference.Reference; nothing
        changes until `use_reference`. Raises ValueError (one line naming both
        sizes) when the reference's size is no whole scale of the input's."""
        from inference.reference import reference_from_file

        if self.loaded is None:
            raise ValueError("Open an image first")
        return reference_from_file(np.asarray(self.loaded.rgb, dtype=np.float32), rgb, path)

    def use_reference(self, reference: Any) -> None:
        """Reference mode with a separate reference (`match_reference`): the panes keep the opened image."""
        self.reference = reference

    def reference_status(self) -> str:
        """The status bar's line in reference mode: what the ground truth is."""
        if self.reference is None:
            return ""
        if self.reference.path is not None:
            return f"Reference: {self.reference.name} (\u00d7{self.reference.scale:g})"
        return f"Reference mode \u00d7{self.reference.scale:g}: the opened image is the ground truth"

    def leave_reference(self) -> None:
        """Scores still being computed belong to the reference: make them stale,
        drop those shown; a side showing the ground truth shows the method it had before."""
        from app.model.flip import method_after_reference
        from inference.reference import GROUND_TRUTH

        self.reference = None
        self._asked.clear()
        for pane in self.panes:
            for side in SIDES:
                for kind in METRIC_KINDS:
                    self.generations.retire(("metrics", pane.target(side), kind))
                pane.sides[side].metrics.clear()
                state = pane.sides[side]
                if state.method == GROUND_TRUTH:
                    state.method = method_after_reference(state.method, self.side_previous.get(pane.target(side)),
                                                          GROUND_TRUTH, self.book.names, BASELINE)

    def whole_metrics(self, pane: PaneState) -> list[MetricsRequest]:
        """Scores of the whole image for each shown side of `pane` (reference mode only)."""
        if self.reference is None:
            return []
        return [MetricsRequest(pane.target(side), pane.sides[side].method, "whole",
                               self.generations.issue(("metrics", pane.target(side), "whole")))
                for side in pane.active_sides()]

    def visible_metrics(self, size_of: Callable[[PaneState], tuple[int, int]]) -> list[MetricsRequest]:
        """Scores of what each pane shows (reference mode only); `size_of`: a pane's physical size."""
        if self.reference is None or self.image_rgb is None:
            return []
        requests = []
        for pane in self.panes:
            region = self.view.visible_region(*size_of(pane), *self.image_size())
            if region is None:
                continue
            for side in pane.active_sides():
                generation = self.generations.issue(("metrics", pane.target(side), "visible"))
                requests.append(MetricsRequest(pane.target(side), pane.sides[side].method, "visible", generation,
                                               region))
        return requests

    def metrics_arrived(self, result: Any) -> tuple[PaneState, str] | None:
        """Keep a score (render_worker.MetricsResult) if it is still wanted; the side it is for."""
        if self.reference is None:
            return None  # reference mode was left while this score was computed
        if self.generations.is_stale(result.generation, ("metrics", result.target, result.kind)):
            return None
        found = self.find(result.target)
        if found is None or found[0].sides[found[1]].method != result.method:
            return None
        found[0].sides[found[1]].metrics[result.kind] = result
        return found

    # ------------------------------------------------------------------ export

    def pane_choices(self) -> tuple[list[tuple[str, str]], int]:
        """(label, method) of every shown side for the export dialog, and the active pane's index in it."""
        choices: list[tuple[str, str]] = []
        active = 0
        for i, pane in enumerate(self.panes):
            if i == self.active:
                active = len(choices)
            for side in pane.active_sides():
                where = f"pane {i + 1}" + ("" if side == "a" and not pane.split else
                                           (" left" if side == "a" else " right"))
                # "(untrained)" where it is: an export of random weights must not pass for a result.
                choices.append((f"{self.book.label(pane.sides[side].method)} ({where})", pane.sides[side].method))
        return choices, active

    def export_lattice(self, area: str, mode: str = "zoom", scale: float = 0.0, width: int = 0, *,
                       pane_size: tuple[int, int], view_lattice: Lattice | None = None) -> Lattice | None:
        """The lattice an export samples: the same one the panes show at the current zoom.
        `area`: whole, selection or view; `mode`: zoom (the view's), scale, or width (pixels).
        `view_lattice`: the active pane's, for the view at its zoom."""
        if self.image_rgb is None:
            return None
        w, h = self.image_size()
        rect: Rect | None
        if area == "whole":
            rect = (0.0, 0.0, float(w), float(h))
        elif area == "selection" and self.selection is not None:
            rect = self.selection
        else:
            rect = self.view.visible_region(*pane_size, w, h)
            if rect is None:
                return None
        x0, y0, x1, y1 = rect
        if mode == "width":
            out_w = int(width)
            out_h = max(1, round(out_w * (y1 - y0) / (x1 - x0)))
            return Lattice.from_region(Region(x0, y0, x1 - x0, y1 - y0), out_w, out_h)
        zoom = self.view.zoom if mode == "zoom" else float(scale)
        if area == "whole" and mode == "scale":
            return Lattice.full_image(w, h, zoom)
        if area == "view" and mode == "zoom" and view_lattice is not None:
            return clip(view_lattice, w, h)
        return rect_lattice(x0, y0, x1, y1, zoom, w, h)

    def _reference_record(self) -> dict[str, str]:
        if self.reference is None:
            return {}
        if self.reference.path is not None:
            return {"Reference": f"{self.reference.path}, the ground truth at x{self.reference.scale:g}"}
        return {"Reference": f"LR simulated from the source, downscaled x{self.reference.scale:g} (bicubic)"}

    def export_metadata(self) -> dict[str, str]:
        """What an Export Comparison records besides its panes: the source and reference mode."""
        from inference.output_plan import output_metadata

        return output_metadata(self.loaded.path if self.loaded is not None else None, self._reference_record())

    def export_plan(self, lattice: Lattice, method: str) -> ExportPlan:
        """What File › Export writes for `method`: the plan `main.py upscale` makes
        (inference.output_plan), on the panes' lattice: at zoom <= 1 what the
        panes show, bicubic, and says so."""
        from inference.output_plan import plan_output

        plan = plan_output(method, lattice=lattice, source=self.loaded.path if self.loaded is not None else None,
                           display=self.book.display_name(method), extra=self._reference_record())
        return ExportPlan(plan.method, plan.metadata)

    def comparison_panes(self, lattice: Lattice) -> list[tuple[str, str]]:
        """(caption, method) of each method shown, once (a split's right side may show
        what another pane shows), as Export Comparison lays them out."""
        from inference.output_plan import plan_output

        panes = []
        for method in dict.fromkeys(method for _, method in self.pane_choices()[0]):
            name = self.book.label(method)
            shown = plan_output(method, lattice=lattice, display=name).method
            if shown != method:
                name = f"{name} (bicubic at zoom \u2264 1)"
            panes.append((f"{name} \u00b7 {lattice.zx:.3g}\u00d7", shown))
        return panes

    def default_export_path(self, method: str, zoom: float | None, last_folder: str | None) -> str:
        """butterfly_liif_x3.7.png in the folder last exported to (else the image's)."""
        from inference.export_names import export_folder, export_name

        image = self.loaded.path if self.loaded is not None else None
        folder = export_folder(last_folder, image, Path.home())
        return str(folder / export_name(image, method, zoom))

