"""PSNR / SSIM of every method on the benchmark sets, the papers' way.

Protocol (methods.md, "Evaluation"): for scale s, the LR size is
h_lr = floor(H / s), w_lr = floor(W / s); the HR image is cropped (top-left)
to round(h_lr * s) x round(w_lr * s); the LR image is made from that crop with
Pillow's bicubic on 8-bit data (so it is quantised, as a saved LR file would
be); the method super-resolves the LR image to exactly the cropped HR size
through the one decode path (`Upscaler.decode` over the whole image); PSNR and
SSIM are measured on Y with ceil(s) pixels shaved per border (inference/metrics.py).
The SR output is measured as the float result in [0, 1], not re-quantised,
as the public LIIF evaluation does.

`evaluate_image` is the single place a number is computed, so the viewer's
reference mode and this table agree.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .catalog import display_name, load_upscaler
from .files import list_images
from .geometry import Region
from .imageio import load_rgb8
from .metrics import lr_size, make_pair, psnr_y, shave_for, ssim_y
from .upscaler import Upscaler, device_label, pick_device

# The benchmark sets in the order the papers list them; others follow alphabetically.
KNOWN_SETS = ("Set5", "Set14", "B100", "Urban100")


@dataclass
class ImageScore:
    image: str
    psnr: float
    ssim: float


@dataclass
class Cell:
    """One (set, method, scale) entry of the table."""

    set: str
    method: str
    scale: float
    psnr: float
    ssim: float
    images: list[ImageScore] = field(default_factory=list)
    seconds: float = 0.0


def super_resolve(upscaler: Upscaler, lr: np.ndarray, out_width: int, out_height: int) -> np.ndarray:
    """The whole LR image decoded to exactly out_width x out_height: (H, W, 3) float32 in [0, 1]."""
    h, w = lr.shape[:2]
    features = upscaler.encode(lr)
    return upscaler.decode(features, Region.whole(w, h), (out_width, out_height))


def evaluate_image(upscaler: Upscaler, hr: np.ndarray, scale: float) -> tuple[float, float]:
    """(PSNR on Y in dB, SSIM on Y) of `upscaler` at `scale` for one HR image,
    with the benchmark protocol above. `hr` is (H, W, 3) uint8, uint16 or float in [0, 1]."""
    crop, lr = make_pair(hr, scale)
    sr = super_resolve(upscaler, lr, crop.shape[1], crop.shape[0])
    shave = shave_for(scale)
    return psnr_y(sr, crop, shave), ssim_y(sr, crop, shave)


def list_sets(root: str | Path, names: Iterable[str] | None = None) -> list[str]:
    """Benchmark set folders under root: the named ones (checked), else all of them."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    present = sorted(p.name for p in root.iterdir() if p.is_dir())
    if names:
        wanted = [n for n in names if n]
        missing = [n for n in wanted if n not in present]
        if missing:
            raise FileNotFoundError(f"no set {', '.join(missing)} under {root} (found: {', '.join(present) or 'none'})")
        return wanted
    return sorted(present, key=lambda n: (KNOWN_SETS.index(n) if n in KNOWN_SETS else len(KNOWN_SETS), n))


def min_side(scale: float) -> int:
    """The smallest image side measurable at `scale` (see evaluate_set's skip rule)."""
    side = 1
    while round(lr_size(side, side, scale)[0] * scale) - 2 * shave_for(scale) < 11:
        side += 1
    return side


def evaluate_set(upscaler: Upscaler, images: list[Path], scale: float, set_name: str,
                 progress: Callable[[str], None] | None = None) -> Cell:
    start = time.perf_counter()
    scores: list[ImageScore] = []
    for path in images:
        hr = load_rgb8(path)
        h_lr, w_lr = lr_size(hr.shape[0], hr.shape[1], scale)
        # Too small to measure after shaving (and SSIM's window): skipped, and said so.
        if min(round(h_lr * scale), round(w_lr * scale)) - 2 * shave_for(scale) < 11:
            if progress:
                progress(f"  skipped {path.name}: too small for x{scale:g}")
            continue
        psnr, ssim = evaluate_image(upscaler, hr, scale)
        scores.append(ImageScore(path.name, psnr, ssim))
    if not scores:
        raise ValueError(f"{set_name}: no image large enough for x{scale:g}: the smaller side must be at least "
                         f"{min_side(scale)} pixels (to leave an 11-pixel SSIM window after shaving "
                         f"{shave_for(scale)} pixels a side)")
    return Cell(set_name, upscaler.name, float(scale), float(np.mean([s.psnr for s in scores])),
                float(np.mean([s.ssim for s in scores])), scores, time.perf_counter() - start)


@dataclass
class MethodInfo:
    name: str
    display: str
    trained: bool
    weights: str
    precision: str = "fp32"


@dataclass
class Report:
    data: str
    scales: list[float]
    sets: list[str]
    device: str
    methods: list[MethodInfo]
    cells: list[Cell]
    limit: int | None = None

    def cell(self, set_name: str, method: str, scale: float) -> Cell | None:
        for c in self.cells:
            if c.set == set_name and c.method == method and abs(c.scale - scale) < 1e-9:
                return c
        return None

    def to_json(self) -> dict:
        return {
            "protocol": "HR cropped to round(floor(H/s)*s); LR by Pillow bicubic on 8-bit; SR to the cropped "
                        "HR size; PSNR of Y(sr - hr) (65.738, 129.057, 25.064)/256, peak 1; SSIM on Y in "
                        "[16, 235] (11x11 Gaussian, sigma 1.5); shave ceil(s) pixels per border",
            "data": self.data, "scales": self.scales, "sets": self.sets, "device": self.device,
            "limit": self.limit,
            "methods": [asdict(m) for m in self.methods],
            "results": [asdict(c) for c in self.cells],
        }

    def markdown(self) -> str:
        """PSNR (dB) and SSIM tables, one row per set and method."""
        label = {m.name: m.display + ("" if m.trained else " (untrained)")
                 + (f" [{m.precision}]" if m.precision != "fp32" else "") for m in self.methods}
        scale_head = " | ".join(f"x{s:g}" for s in self.scales)
        lines = [f"Y channel, shave ceil(s); data: {self.data}"
                 + (f" (first {self.limit} images per set)" if self.limit else "") + f"; device: {self.device}", ""]
        for title, key, fmt in (("PSNR (dB)", "psnr", "{:.2f}"), ("SSIM", "ssim", "{:.4f}")):
            lines += [f"**{title}**", "", f"| set | method | {scale_head} |",
                      "| --- | --- |" + " --- |" * len(self.scales)]
            for set_name in self.sets:
                for m in self.methods:
                    values = []
                    for s in self.scales:
                        c = self.cell(set_name, m.name, s)
                        values.append(fmt.format(getattr(c, key)) if c else "–")
                    lines.append(f"| {set_name} | {label[m.name]} | " + " | ".join(values) + " |")
            lines.append("")
        untrained = [m.display for m in self.methods if not m.trained]
        if untrained:
            lines.append(f"Untrained (random weights, numbers are not results): {', '.join(untrained)}.")
        return "\n".join(lines).rstrip() + "\n"

    def write(self, out: str | Path) -> tuple[Path, Path]:
        """`out` is a path stem: writes out.json and out.md."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        json_path, md_path = out.with_suffix(".json"), out.with_suffix(".md")
        json_path.write_text(json.dumps(self.to_json(), indent=1, allow_nan=True) + "\n")
        md_path.write_text(self.markdown())
        return json_path, md_path


def evaluate(methods: list[str], data_root: str | Path, scales: list[float], sets: list[str] | None = None,
             device: str = "auto", limit: int | None = None, weights: dict[str, str] | None = None,
             progress: Callable[[str], None] | None = None, precision: str = "auto") -> Report:
    """Every (set, method, scale) cell. `weights` maps a method to a checkpoint
    file (default: the shipped one, else untrained). `precision`: "auto" (each
    method's default on the device, see inference/precision.py) or one for all."""
    say = progress or (lambda _msg: None)
    dev = pick_device(device)
    set_names = list_sets(data_root, sets)
    images = {name: list_images(Path(data_root) / name) for name in set_names}
    if limit:
        images = {name: paths[:limit] for name, paths in images.items()}
    infos: list[MethodInfo] = []
    cells: list[Cell] = []
    # Every method's weights are loaded (and so checked) before the first
    # image is measured: a bad checkpoint is refused at once, not after hours.
    upscalers = {method: load_upscaler(method, dev, weights=(weights or {}).get(method), precision=precision)
                 for method in methods}
    for method, upscaler in upscalers.items():
        infos.append(MethodInfo(method, display_name(method), upscaler.weights.trained, upscaler.weights.summary,
                                upscaler.precision or "fp32"))
        for set_name in set_names:
            for scale in scales:
                cell = evaluate_set(upscaler, images[set_name], scale, set_name, say)
                cells.append(cell)
                say(f"{set_name:8s} {method:10s} x{scale:<4g} PSNR {cell.psnr:6.2f}  SSIM {cell.ssim:.4f}"
                    f"  ({len(cell.images)} images, {cell.seconds:.1f} s)")
    return Report(str(data_root), [float(s) for s in scales], set_names, device_label(dev), infos, cells, limit)
