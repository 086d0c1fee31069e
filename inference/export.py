"""Exporting super-resolved regions and side-by-side comparisons to files.

`export_region` decodes a lattice block tile by tile through the method's one
decode path (`Upscaler.decode_lattice`, in pieces: inference/piecewise.py), so
an export is pixel-identical to what the viewer shows for the same lattice,
and saves it atomically with metadata saying how it was made. An input with
transparency keeps it where the format can hold it (inference/alpha.py).
Nothing here imports Qt.
"""

from __future__ import annotations

import os

try:  # POSIX only: elsewhere there is no process address-space limit to read
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import resources

from . import imageio
from .alpha import ALPHA_KEPT, ALPHA_KEY, AlphaPlane, alpha_dropped
from .geometry import Lattice
from .imageio.pixels import to_float
from .piecewise import TileSource, decode_piecewise
from .upscaler import device_label

# Hard cap on an export's size, whatever the machine (1 gigapixel).
MAX_EXPORT_PIXELS = 1_000_000_000
# Share of the currently available memory an export may plan to use.
MEMORY_SHARE = 0.8


class ExportError(ValueError):
    """An export that cannot be done; nothing was written."""


def available_memory() -> int | None:
    """Bytes of memory this process can still take now, or None if unknown:
    the least of the machine's (Linux MemAvailable, else free pages), what
    its cgroup allows (memory.max less memory.current) and what its address
    space limit leaves (RLIMIT_AS, as `ulimit -v` sets, less VmSize)."""
    found = [v for v in (_machine_memory(), _cgroup_memory(), _address_space_left()) if v is not None]
    return min(found) if found else None


def _machine_memory() -> int | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_memory() -> int | None:
    """memory.max less memory.current of this process's cgroup (v2), or None."""
    try:
        with open("/proc/self/cgroup") as handle:
            line = next((ln for ln in handle if ln.startswith("0::")), None)
        if line is None:
            return None
        folder = Path("/sys/fs/cgroup") / line.strip()[3:].lstrip("/")
        limit = (folder / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((folder / "memory.current").read_text().strip()))
    except (OSError, ValueError, StopIteration):
        return None


def _address_space_left() -> int | None:
    """RLIMIT_AS less the address space already mapped (VmSize), or None without a limit."""
    if resource is None:
        return None
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY or soft <= 0:
            return None
        with open("/proc/self/status") as handle:
            size = next((int(ln.split()[1]) * 1024 for ln in handle if ln.startswith("VmSize:")), 0)
        return max(0, soft - size)
    except (OSError, ValueError):
        return None


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def export_memory(width: int, height: int, bits: int = 8, alpha: bool = False) -> int:
    """Bytes an export of this size needs at its peak: the float32 result plus
    the quantised copy and the encoder's copy of it; with `alpha`, the
    bicubic's three-channel alpha and the float32 RGBA beside the result, and
    a fourth channel in the copies."""
    if alpha:
        return width * height * (3 * 4 + 3 * 4 + 4 * 4 + 4 * 2 * (bits // 8))
    return width * height * 3 * (4 + 2 * (bits // 8))


def check_export_size(width: int, height: int, bits: int = 8, alpha: bool = False) -> None:
    """Refuse, before anything is allocated, an export that cannot fit in memory."""
    if width <= 0 or height <= 0:
        raise ExportError(f"output size must be positive, got {width} x {height}")
    pixels = width * height
    if pixels > MAX_EXPORT_PIXELS:
        raise ExportError(f"output too large for memory: {width} x {height} pixels is over the export limit of "
                          f"{MAX_EXPORT_PIXELS // 1_000_000} megapixels; export a smaller region or scale")
    need = export_memory(width, height, bits, alpha)
    available = available_memory()
    if available is not None and need > MEMORY_SHARE * available:
        raise ExportError(f"output too large for memory: {width} x {height} pixels needs about {_gb(need)}, "
                          f"but only {_gb(available)} is available; export a smaller region or scale")


def weights_text(upscaler: Any) -> str:
    """The Weights entry of an export's metadata."""
    weights = upscaler.weights
    return weights.summary if weights.source != "none" else "untrained: random weights, not a result"


def describe_export(upscaler: Any, lattice: Lattice, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The metadata written with an export: how the pixels were made."""

    region = lattice.region
    weights = upscaler.weights
    meta = {
        "Software": imageio.SOFTWARE,
        "Method": f"{upscaler.display} ({upscaler.name})",
        "Weights": weights_text(upscaler),
        "Scale": f"{lattice.zx:.6g} x {lattice.zy:.6g}",
        "Region": f"x={region.x:.6g}, y={region.y:.6g}, w={region.w:.6g}, h={region.h:.6g} (LR pixels)",
        "Size": f"{lattice.width} x {lattice.height}",
        "Device": device_label(upscaler.device),
    }
    if upscaler.precision:
        meta["Precision"] = upscaler.precision
    if weights.source != "none" and Path(str(weights.source)).suffix in (".safetensors", ".pth", ".pt"):
        meta["WeightsFile"] = str(weights.source)
    own = getattr(upscaler, "metadata", None)  # a user's model file: the file, its sha256 (inference.external)
    recorded = own() if callable(own) else None
    if isinstance(recorded, dict):
        meta.update({str(k): str(v) for k, v in recorded.items()})
    meta.update(extra or {})
    return meta


def export_region(upscaler: Any, features: Any, lattice: Lattice, path: str | Path, *, bits: int = 8,
                  metadata: dict[str, str] | None = None, progress: Callable[[int, int], None] | None = None,
                  cancel: Callable[[], bool] | None = None, recorded: Lattice | None = None,
                  reuse: TileSource | None = None, alpha: Any = None) -> Path:
    """Decode `lattice` with `upscaler` and save it to `path` (atomically).
    `metadata` adds to (or overrides) the method/weights/scale/region record;
    `recorded` is the lattice to record when `features` come from a crop of
    the image (`lattice` is then in the crop's pixels).
    `reuse`: tiles the panes decoded, copied instead of decoded again (8-bit
    only: the tiles hold what the screen shows, 8 bits a channel).
    `alpha`: the input's transparency (an (h, w) array or an `AlphaPlane` of
    the image `features` come from), None when opaque: written beside the
    method's RGB, upscaled by bicubic, where the format holds it (PNG, TIFF,
    WebP); elsewhere (JPEG) the metadata says it was dropped.
    Raises ExportError (too large, unwritable...) or piecewise.Cancelled; in both
    cases nothing is left on disk."""
    path = Path(path)
    try:
        check_export_size(lattice.width, lattice.height, bits, alpha is not None and imageio.holds_alpha(path))
        imageio.check_output(path, lattice.width, lattice.height, bits)
    except imageio.ImageSaveError as error:
        raise ExportError(str(error)) from None
    rgb = decode_piecewise(upscaler, features, lattice, progress=progress, cancel=cancel,
                           reuse=reuse if bits == 8 else None)
    rgb, record = with_alpha(rgb, alpha, lattice, path)
    try:
        return imageio.save_image(path, rgb, bits=bits,
                                  metadata=describe_export(upscaler, recorded or lattice,
                                                           {**(metadata or {}), **record}))
    except imageio.ImageSaveError as error:
        raise ExportError(str(error)) from None


def with_alpha(rgb: np.ndarray, alpha: Any, lattice: Lattice, path: str | Path
               ) -> tuple[np.ndarray, dict[str, str]]:
    """`rgb` (on `lattice`) with the input's `alpha` (array, `AlphaPlane` or
    None) upscaled by bicubic as a fourth channel when `path`'s format holds
    it, and what the metadata records about it ({} for an opaque input)."""

    if alpha is None:
        return rgb, {}
    if not imageio.holds_alpha(path):
        return rgb, {ALPHA_KEY: alpha_dropped(imageio.output_format(path))}
    plane = alpha if isinstance(alpha, AlphaPlane) else AlphaPlane(alpha)
    rgba = np.empty((*rgb.shape[:2], 4), dtype=np.float32)
    rgba[..., :3] = rgb
    rgba[..., 3] = plane.on_lattice(lattice)
    return rgba, {ALPHA_KEY: ALPHA_KEPT}


# ---------------------------------------------------------------- comparison

GAP = 8  # pixels between panes
BACKGROUND = 0.12  # dark grey around and between panes
LABEL_TEXT = (235, 235, 235)
# A font with the glyphs labels use ("×", "≤", "·", "…"): Pillow's default
# font draws "×" as a missing-glyph box. DejaVu Sans, shipped with its licence.
LABEL_FONT = resources.path("fonts", "DejaVuSans.ttf")


def label_font(size: int) -> Any:
    """The comparison labels' font at `size` pixels (Pillow's default if the TTF is missing)."""
    try:
        return ImageFont.truetype(str(LABEL_FONT), size)
    except OSError:
        pass
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _label_strip(text: str, width: int, height: int) -> np.ndarray:
    """(height, width, 3) float: `text` centred, light on the background."""
    shade = round(BACKGROUND * 255)
    strip = Image.new("RGB", (width, height), (shade, shade, shade))
    font = label_font(max(8, int(height * 0.6)))
    draw = ImageDraw.Draw(strip)
    # Shorten with an ellipsis until it fits the pane.
    shown = text
    while shown and draw.textlength(shown, font=font) > width - 4:
        shown = shown[:-2] + "…" if len(shown) > 2 else ""
    left, top, right, bottom = draw.textbbox((0, 0), shown, font=font)
    draw.text(((width - (right - left)) / 2 - left, (height - (bottom - top)) / 2 - top), shown,
              fill=LABEL_TEXT, font=font)
    return to_float(np.asarray(strip))


def compose_comparison(images: list[tuple[str, np.ndarray]], *, gap: int = GAP,
                       label_height: int | None = None) -> np.ndarray:
    """Panes side by side, each with its label above it, on a dark background."""
    if not images:
        raise ExportError("nothing to compare: no panes given")
    arrays = []
    for label, rgb in images:
        rgb = np.asarray(rgb, dtype=np.float32)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
            raise ExportError(f"pane {label!r}: expected an (h, w, 3) RGB image, got shape {rgb.shape}")
        arrays.append((str(label), rgb))
    pane_h = max(rgb.shape[0] for _, rgb in arrays)
    label_h = label_height if label_height is not None else int(np.clip(round(pane_h * 0.06), 16, 48))
    total_w = sum(rgb.shape[1] for _, rgb in arrays) + gap * (len(arrays) + 1)
    total_h = pane_h + label_h + 2 * gap
    check_export_size(total_w, total_h, 16)
    canvas = np.full((total_h, total_w, 3), BACKGROUND, dtype=np.float32)
    x = gap
    for label, rgb in arrays:
        h, w = rgb.shape[:2]
        canvas[gap:gap + label_h, x:x + w] = _label_strip(label, w, label_h)
        canvas[gap + label_h:gap + label_h + h, x:x + w] = np.clip(rgb, 0, 1)
        x += w + gap
    return canvas


def export_comparison(images: list[tuple[str, np.ndarray]], path: str | Path, *, bits: int = 8,
                      metadata: dict[str, str] | None = None, gap: int = GAP,
                      label_height: int | None = None) -> Path:
    """The same crop from every pane, labelled, side by side in one image
    saved atomically to `path`."""
    canvas = compose_comparison(images, gap=gap, label_height=label_height)
    meta = {"Software": imageio.SOFTWARE, "Panes": ", ".join(label for label, _ in images)}
    meta.update(metadata or {})
    try:
        return imageio.save_image(path, canvas, bits=bits, metadata=meta)
    except imageio.ImageSaveError as error:
        raise ExportError(str(error)) from None


# (upscaler, its features of the image, the panes' cached tiles or None)
PanePrepared = tuple[Any, Any, TileSource | None]


def export_panes(panes: list[tuple[str, str]], prepare: Callable[[str], PanePrepared], lattice: Lattice,
                 path: str | Path, *, bits: int = 8, metadata: dict[str, str] | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> Path:
    """Export Comparison: each (label, method) of `panes` decoded on the same
    `lattice`, labelled, side by side, saved to `path`. `prepare(method)`
    gives its upscaler, features and the panes' cached tiles, which are copied
    instead of decoded again (8 bits only); methods are prepared one at a time,
    as their turn comes. `progress` counts pieces over all panes. Raises
    ExportError or piecewise.Cancelled; nothing is written then."""
    check_export_size(lattice.width, lattice.height, 8)
    images = []
    for i, (label, method) in enumerate(panes):
        upscaler, features, reuse = prepare(method)

        def pane_progress(done: int, total: int, i: int = i) -> None:
            if progress is not None:
                progress(i * total + done, total * len(panes))

        images.append((label, decode_piecewise(upscaler, features, lattice, cancel=cancel,
                                               reuse=reuse if bits == 8 else None, progress=pane_progress)))
    return export_comparison(images, path, bits=bits, metadata=metadata)
