"""Batch upscaling, the one engine behind `main.py upscale` with several
inputs or a folder (and -o a folder) and the viewer's File › Upscale Folder:
plan which outputs to write (skipping those already there), then run every
image through the exporter with one loaded method, collecting failures
instead of stopping at the first. No Qt."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference import catalog, imageio
from inference.browse import folder_images, is_image_name
from inference.errors import first_line
from inference.export import export_region, weights_text
from inference.export_names import export_name
from inference.files import is_folder, reading_problem
from inference.imageio import READ_FORMATS_TEXT, SOFTWARE, ImageLoadError, read_metadata
from inference.imageio.metadata import escaped, own_output
from inference.output_plan import plan_output
from inference.piecewise import Cancelled

# Image formats that are not read (see imageio.READ_FORMATS), by extension: a
# folder's files of these kinds are named as not read, never passed over silently.
NOT_READ = {".ppm": "PPM", ".pgm": "PGM", ".pbm": "PBM", ".pnm": "PNM", ".pfm": "PFM", ".avif": "AVIF",
            ".heic": "HEIC", ".heif": "HEIF", ".jxl": "JPEG XL", ".jp2": "JPEG 2000", ".psd": "Photoshop",
            ".eps": "EPS", ".ps": "PostScript", ".svg": "SVG", ".exr": "OpenEXR", ".hdr": "Radiance HDR",
            ".ico": "ICO", ".qoi": "QOI", ".tga": "TGA", ".xcf": "GIMP", ".dng": "raw camera",
            ".cr2": "raw camera", ".nef": "raw camera", ".arw": "raw camera"}


@dataclass(frozen=True)
class BatchItem:
    source: Path
    output: Path
    done_already: bool  # a readable output made from this very input (as it is now) by this method: skipped
    # The done output's metadata, read once when planning: the weights it was made with (redone
    # when other weights are asked for), unless a note says bicubic drew it (no weights matter).
    done_weights: str | None = None
    drawn_without_weights: bool = False


@dataclass
class BatchReport:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    cancelled: bool = False
    in_progress: BatchItem | None = None  # the item being written, while it is
    started_ns: int = 0  # when it started (time.time_ns())

    def written_so_far(self) -> int:
        """Outputs written, the one in progress included if it reached the disk
        (an interrupt may land between the rename and the bookkeeping)."""
        count = len(self.written)
        item = self.in_progress
        if item is not None and item.output not in self.written:
            with contextlib.suppress(OSError):
                count += os.lstat(item.output).st_mtime_ns >= self.started_ns - 10_000_000
        return count

    def summary(self) -> str:
        text = f"{len(self.written)} written, {len(self.skipped)} skipped (already done), {len(self.failed)} failed"
        return text + ("; cancelled" if self.cancelled else "")


def expand_inputs(inputs: list[str | Path], left_out: list[Path] | None = None
                  ) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files given, and the images directly inside folders given (natural
    order), without repeats; plus the inputs that are neither, with why: a
    folder that cannot be listed, and a folder's files in a format that is
    not read (PPM, AVIF ...). A folder's images that this app wrote (their
    metadata says so) are never taken as inputs, so that rerunning with -o
    inside the input folder does not upscale the last run's outputs: they go
    to `left_out`."""

    sources: list[Path] = []
    problems: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for raw in inputs:
        path = Path(raw)
        folder = is_folder(path)
        problem = None if folder else reading_problem(path)
        if folder:
            try:
                names = sorted(os.listdir(path))
            except PermissionError:
                problems.append((path, "permission denied: this folder cannot be listed"))
                continue
            except OSError as error:
                problems.append((path, f"this folder cannot be listed ({error.strerror or error})"))
                continue
            found = folder_images(path)
            ours = [p for p in found if own_output(p)]
            found = [p for p in found if p not in ours]
            if left_out is not None:
                left_out.extend(ours)
            foreign = [path / n for n in names if Path(n).suffix.lower() in NOT_READ and not n.startswith(".")]
            for other in foreign:
                kind = NOT_READ[other.suffix.lower()]
                problems.append((other, f"{kind} images are not read here (only {READ_FORMATS_TEXT}); not upscaled"))
            if not found and not foreign:
                problems.append((path, "no images in this folder" + (" (only this app's outputs)" if ours else "")))
            candidates = found
        elif problem is None:
            candidates = [path]
        else:  # said for what it is: missing, a FIFO, a device, a name too long...
            problems.append((path, "no such file or folder" if problem == "no such file" else problem))
            candidates = []
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                sources.append(candidate)
    return sources, problems


def plan_batch(sources: list[Path], out_dir: Path, method: str, scale: float | None,
               size: tuple[int, int] | None = None, suffix: str = ".png") -> list[BatchItem]:
    """One output per source, named like the viewer's exports
    (butterfly_liif_x4.png) in `out_dir`; two sources that would share a name
    (a.png, a.jpg) get -2, -3 ... Outputs already on disk are marked done."""
    items: list[BatchItem] = []
    taken: set[str] = set()
    for source in sources:
        name = export_name(source, method, None if size else scale, suffix, size)
        stem, n = name[:-len(suffix)], 2
        while True:
            state, meta = ("other", {}) if name in taken else _claim(out_dir / name, source, method)
            if state != "other":
                break
            name, n = f"{stem}-{n}{suffix}", n + 1
        taken.add(name)
        items.append(BatchItem(source, out_dir / name, state == "done", meta.get("Weights"), "Note" in meta))
    return items


def source_stamp(source: Path) -> str:
    """What identifies an input as it is now (recorded with its output): size and modification time."""
    try:
        st = os.stat(source)
    except OSError:
        return ""
    return f"{st.st_size} bytes, modified {st.st_mtime_ns} ns"


def _claim(output: Path, source: Path, method: str) -> tuple[str, dict[str, str]]:
    """Whose is the file at `output`: 'free' (nothing there, or nothing worth
    keeping: empty, corrupt, a dangling link; redone), 'done' (this app's
    output of this input as it is now, by `method`), 'mine' (this input's,
    but stale: redone) or 'other' (another input's output, or an image this
    app did not write: kept, and another name is used), with the file's
    metadata when it was read. A folder there is 'free' too: writing it fails
    and says so."""

    if not os.path.lexists(output):  # False, not an error, for a name too long
        return "free", {}
    if output.is_symlink() or not output.is_file():
        return "free", {}
    try:
        meta = read_metadata(output)
    except (ImageLoadError, OSError):
        return "free", {}
    if meta.get("Software") != SOFTWARE or meta.get("SourcePath") != escaped(str(source.resolve())):
        return "other", meta
    made_by = meta.get("Method", "")
    same = meta.get("SourceStamp") == source_stamp(source) and (made_by.endswith(f"({method})") or "Note" in meta)
    return ("done" if same else "mine"), meta


def run_batch(items: list[BatchItem], upscaler: Any, *, scale: float | None, size: tuple[int, int] | None,
              bits: int = 8, max_zoom: float | None = None,
              progress: Callable[[int, int, int, int], None] | None = None,
              cancel: Callable[[], bool] | None = None,
              on_item: Callable[[BatchItem, str, str], None] | None = None,
              report: BatchReport | None = None) -> BatchReport:
    """Upscale each item not done already with `upscaler` (whole image, by
    `scale` or to `size`) through the exporter. `progress(item, items, tile,
    tiles)`; `on_item(item, outcome, message)` with outcome 'written',
    'skipped' or 'failed'. A failure (unreadable image, too large, disk
    full...) is recorded and the batch goes on; `cancel` stops it between
    tiles, writing nothing for the image in progress. `report` (else a new
    one) is filled in as the work goes, so that a caller interrupted by a
    signal still knows what was written."""


    report = report if report is not None else BatchReport()
    downscaler: Any = None  # bicubic, made the first time an image shrinks
    for index, item in enumerate(items):
        if cancel is not None and cancel():
            report.cancelled = True
            break
        if item.done_already and (item.drawn_without_weights or item.done_weights == weights_text(upscaler)):
            report.skipped.append(item.source)
            if on_item:
                on_item(item, "skipped", "already done")
            continue
        try:
            loaded = imageio.load_image(item.source)
            assert size or scale is not None, "a batch takes a scale or a size"
            # The one-image command's plan: at or below 1:1 bicubic draws, as in the viewer.
            plan = plan_output(upscaler.name, width=loaded.width, height=loaded.height, scale=scale, size=size,
                               max_zoom=max_zoom, source=item.source, display=upscaler.display,
                               extra={"SourceStamp": source_stamp(item.source)})
            chosen = upscaler
            if plan.note:
                if downscaler is None:
                    downscaler = catalog.load_upscaler(plan.method, upscaler.device)
                chosen = downscaler
            features = chosen.encode(loaded.rgb)
            tile_progress = (lambda d, t, i=index: progress(i, len(items), d, t)) if progress else None
            report.in_progress, report.started_ns = item, time.time_ns()
            export_region(chosen, features, plan.lattice, item.output, bits=bits, metadata=plan.metadata,
                          progress=tile_progress, cancel=cancel, alpha=loaded.alpha)
        except Cancelled:
            report.cancelled = True
            report.in_progress = None
            break
        except Exception as error:  # noqa: BLE001 - one bad image is a line in the summary, not the end of the batch
            report.in_progress = None
            text = first_line(error)
            report.failed.append((item.source, text))
            if on_item:
                on_item(item, "failed", text)
            continue
        report.written.append(item.output)
        report.in_progress = None
        if on_item:
            on_item(item, "written", str(item.output))
    return report


def is_batch(inputs: list[str], output: str) -> bool:
    """Several inputs, a folder among them, or an output that is a folder:
    written with a trailing /, or an existing folder not named like an image
    (`-o shot.png` that happens to be a folder is a mistake, said as such)."""
    return len(inputs) > 1 or any(is_folder(i) for i in inputs) or output.endswith(("/", "\\")) or \
        (is_folder(output) and not is_image_name(output))
