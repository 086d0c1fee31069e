"""The one output plan: what a file written from an image will be, decided
before any pixel is decoded, for `main.py upscale` (one image or a batch) and
the viewer's File › Export alike: the region of the input (clipped to the
image), the output size (from a scale or an exact size) and so the lattice,
the zoom limit, the method that draws (bicubic at zoom <= 1, the rule of
inference/downscale.py), the note saying so, and the metadata recorded with
the file. No Qt, no torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .downscale import shown_method, substitution_note
from .export_names import source_metadata
from .geometry import Lattice, Region

DEFAULT_SCALE = 4.0


class PlanError(ValueError):
    """An output that cannot be made as asked (region outside the image, zoom over the limit)."""


@dataclass(frozen=True)
class OutputPlan:
    lattice: Lattice  # what is decoded: the region of the input at the output size
    region: Region  # the input pixels it covers (clipped to the image)
    asked: str  # the method asked for
    method: str  # the method that draws: `asked`, or bicubic at zoom <= 1
    note: str  # why `method` is not `asked` ("" when it is)
    metadata: dict[str, str] = field(default_factory=dict)  # recorded with the file (the export adds its own)
    clipped: bool = False  # the region asked for was cut to the image

    @property
    def size(self) -> tuple[int, int]:
        return self.lattice.width, self.lattice.height


def clip_region(region: tuple[float, float, float, float], width: int, height: int
                ) -> tuple[tuple[float, float, float, float], bool]:
    """The part of `region` (x, y, w, h) inside the image, and whether anything was cut."""
    x, y, w, h = region
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(width), x + w), min(float(height), y + h)
    if x1 <= x0 or y1 <= y0:
        raise PlanError(f"region {x:g},{y:g},{w:g},{h:g} lies wholly outside the {width} x {height} image")
    clipped = (x0, y0, x1 - x0, y1 - y0)
    return clipped, clipped != (x, y, w, h)


def output_metadata(source: str | Path | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """What every output records besides how its pixels were made: its source
    file (name and path), then `extra` (the viewer's reference mode)."""
    meta = source_metadata(source) if source is not None else {}
    meta.update(extra or {})
    return meta


def plan_output(method: str, *, width: int | None = None, height: int | None = None,
                region: tuple[float, float, float, float] | None = None, scale: float | None = None,
                size: tuple[int, int] | None = None, lattice: Lattice | None = None,
                max_zoom: float | None = None, source: str | Path | None = None, display: str | None = None,
                extra: dict[str, str] | None = None) -> OutputPlan:
    """The output of `method` from an image of `width` x `height` (its
    header): `region` (x, y, w, h in input pixels, clipped; default the whole
    image) at `size`, else at `scale` (default DEFAULT_SCALE); or, given
    `lattice` (the viewer's), exactly that. Refused with PlanError over
    `max_zoom`. `display` names the method asked for in the note (default: its
    registry name)."""
    clipped = False
    if lattice is None:
        if width is None or height is None:
            raise ValueError("plan_output needs the image's width and height, or a lattice")
        if region is not None:
            region, clipped = clip_region(region, width, height)
            area = Region(*region)
        else:
            area = Region.whole(width, height)
        if size is None:
            zoom = scale if scale is not None else DEFAULT_SCALE
            size = (max(1, round(area.w * zoom)), max(1, round(area.h * zoom)))
        lattice = Lattice.from_region(area, size[0], size[1])
    else:
        area = lattice.region
    if max_zoom is not None and max(lattice.zx, lattice.zy) > max_zoom:
        raise PlanError(f"an output of {lattice.width} x {lattice.height} pixels from {area.w:g} x {area.h:g} input "
                        f"pixels is a zoom of {max(lattice.zx, lattice.zy):.4g}, over the limit of {max_zoom:g}")
    drawn_by, note = shown_method(method, lattice.zx, lattice.zy)
    metadata = output_metadata(source, extra)
    if note:
        if display is None:
            # Here, not at the top: the command line imports this module before it
            # checks that torch can load at all (which the catalog loads).
            from .catalog import display_name

            display = display_name(method)
        metadata["Note"] = substitution_note(note, display)
    return OutputPlan(lattice, area, method, drawn_by, note, metadata, clipped)
