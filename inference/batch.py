"""Batch upscaling, the one engine behind `main.py upscale` with several
inputs or a folder (and -o a folder) and the viewer's File › Upscale Folder:
plan which outputs to write (skipping those already there), then run every
image through the exporter with one loaded method, collecting failures
instead of stopping at the first. No Qt."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from inference.browse import folder_images, is_image_name
from inference.export_names import export_name
from inference.files import is_folder, reading_problem


@dataclass(frozen=True)
class BatchItem:
    source: Path
    output: Path
    done_already: bool  # the output exists: skipped


@dataclass
class BatchReport:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    cancelled: bool = False

    def summary(self) -> str:
        text = f"{len(self.written)} written, {len(self.skipped)} skipped (already done), {len(self.failed)} failed"
        return text + ("; cancelled" if self.cancelled else "")


def expand_inputs(inputs: list[str | Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files given, and the images directly inside folders given (natural
    order), without repeats; plus the inputs that are neither, with why."""
    sources: list[Path] = []
    problems: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for raw in inputs:
        path = Path(raw)
        folder = is_folder(path)
        problem = None if folder else reading_problem(path)
        if folder:
            found = folder_images(path)
            if not found:
                problems.append((path, "no images in this folder"))
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
        while name in taken:
            name, n = f"{stem}-{n}{suffix}", n + 1
        taken.add(name)
        output = out_dir / name
        items.append(BatchItem(source, output, os.path.lexists(output)))  # False, not an error, for a name too long
    return items


def run_batch(items: list[BatchItem], upscaler: Any, *, scale: float | None, size: tuple[int, int] | None,
              bits: int = 8, max_zoom: float | None = None,
              progress: Callable[[int, int, int, int], None] | None = None,
              cancel: Callable[[], bool] | None = None,
              on_item: Callable[[BatchItem, str, str], None] | None = None) -> BatchReport:
    """Upscale each item not done already with `upscaler` (whole image, by
    `scale` or to `size`) through the exporter. `progress(item, items, tile,
    tiles)`; `on_item(item, outcome, message)` with outcome 'written',
    'skipped' or 'failed'. A failure (unreadable image, too large, disk
    full...) is recorded and the batch goes on; `cancel` stops it between
    tiles, writing nothing for the image in progress."""
    from inference import catalog, imageio
    from inference.export import export_region
    from inference.output_plan import plan_output
    from inference.piecewise import Cancelled

    report = BatchReport()
    downscaler: Any = None  # bicubic, made the first time an image shrinks
    for index, item in enumerate(items):
        if cancel is not None and cancel():
            report.cancelled = True
            break
        if item.done_already:
            report.skipped.append(item.source)
            if on_item:
                on_item(item, "skipped", "already done")
            continue
        try:
            loaded = imageio.load_image(item.source)
            assert size or scale is not None, "a batch takes a scale or a size"
            # The one-image command's plan: at or below 1:1 bicubic draws, as in the viewer.
            plan = plan_output(upscaler.name, width=loaded.width, height=loaded.height, scale=scale, size=size,
                               max_zoom=max_zoom, source=item.source, display=upscaler.display)
            chosen = upscaler
            if plan.note:
                if downscaler is None:
                    downscaler = catalog.load_upscaler(plan.method, upscaler.device)
                chosen = downscaler
            features = chosen.encode(loaded.rgb)
            tile_progress = (lambda d, t, i=index: progress(i, len(items), d, t)) if progress else None
            export_region(chosen, features, plan.lattice, item.output, bits=bits, metadata=plan.metadata,
                          progress=tile_progress, cancel=cancel, alpha=loaded.alpha)
        except Cancelled:
            report.cancelled = True
            break
        except Exception as error:  # one bad image is a line in the summary, not the end of the batch
            text = str(error).splitlines()[0] if str(error) else type(error).__name__
            report.failed.append((item.source, text))
            if on_item:
                on_item(item, "failed", text)
            continue
        report.written.append(item.output)
        if on_item:
            on_item(item, "written", str(item.output))
    return report


def is_batch(inputs: list[str], output: str) -> bool:
    """Several inputs, a folder among them, or an output that is a folder:
    written with a trailing /, or an existing folder not named like an image
    (`-o shot.png` that happens to be a folder is a mistake, said as such)."""
    return len(inputs) > 1 or any(is_folder(i) for i in inputs) or output.endswith(("/", "\\")) or \
        (is_folder(output) and not is_image_name(output))
