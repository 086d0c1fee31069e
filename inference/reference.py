"""Reference mode: the opened image taken as ground truth, or a separate
high-resolution reference file beside it.

Simulated (Tools › Reference Mode): the viewer simulates a low-resolution copy exactly as the evaluator does
(`inference.evaluate.make_pair`: HR cropped so floor(H / s) maps back,
Pillow's bicubic on 8-bit data), super-resolves that copy in every pane and
scores it against the ground truth. The whole-image score goes through
`evaluate_image` itself; the visible-region score decodes the matching block
of the same HR lattice, so when the view shows the whole image the two agree.

Separate reference (File › Open Reference): the opened image is the LR input
as it is, and the reference file its HR counterpart at a whole scale s. The
size rule is the evaluator's floor (`lr_size`) read backwards: s is the
largest integer with s * w <= W and s * h <= H (w x h the input, W x H the
reference), and the pair matches iff s >= 2, W // s == w and H // s == h,
i.e. W and H are each within s - 1 pixels above s * w and s * h. (A smaller
integer never matches where the largest does not: the bound s * (w + 1) - 1
only loosens as s grows.) The reference is then cropped top-left to
s * w x s * h, as `make_pair` crops an HR image, so an input made from the
reference by `make_pair(reference, s)` scores exactly what `evaluate_image`
gives for the reference at x s.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .evaluate import evaluate_image, make_pair, super_resolve
from .geometry import Lattice, Region, clip
from .imageio.pixels import to_float, to_rgb8
from .interpolations.bicubic import BicubicUpscaler
from .metrics import SSIM_WINDOW, Y_WEIGHTS, psnr_y, shave_for, ssim_y
from .piecewise import Cancelled, decode_piecewise
from .upscaler import Upscaler
from .weights import WeightsInfo

GROUND_TRUTH = "ground-truth"
# |Y error| at which the error map saturates.
ERROR_MAP_FULL = 0.12


@dataclass
class Reference:
    source: np.ndarray | None  # the opened image, as given to evaluate_image (None: a separate reference)
    scale: float
    hr: np.ndarray  # uint8 (H, W, 3): the ground truth, cropped by the protocol
    lr: np.ndarray  # float32 (h, w, 3) in [0, 1]: what the panes super-resolve
    path: str | None = None  # the separate reference file, if any

    @property
    def name(self) -> str:
        """The reference file's name, or "" when the ground truth is the opened image."""
        return Path(self.path).name if self.path is not None else ""

    @property
    def lr_size(self) -> tuple[int, int]:
        return int(self.lr.shape[1]), int(self.lr.shape[0])

    @property
    def hr_size(self) -> tuple[int, int]:
        return int(self.hr.shape[1]), int(self.hr.shape[0])

    @property
    def shave(self) -> int:
        return shave_for(self.scale)

    def hr_lattice(self) -> Lattice:
        """The lattice the evaluator decodes: the whole LR image to exactly the HR size."""
        w, h = self.lr_size
        return Lattice.from_region(Region.whole(w, h), *self.hr_size)

    def window(self, x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        """(c0, r0, c1, r1): the HR pixels covering an image-unit rectangle
        (empty, c1 == c0 or r1 == r0, when it covers none)."""
        lat = self.hr_lattice()
        c0, r0 = math.floor(x0 * lat.zx), math.floor(y0 * lat.zy)
        c1, r1 = math.ceil(x1 * lat.zx), math.ceil(y1 * lat.zy)
        covered = None
        if c1 > c0 and r1 > r0:
            covered = clip(Lattice(lat.zx, lat.zy, float(c0), float(r0), c1 - c0, r1 - r0), *self.lr_size)
        if covered is None:
            w, h = self.hr_size
            c0, r0 = min(w, max(0, c0)), min(h, max(0, r0))
            return c0, r0, c0, r0
        c0, r0, width, height = int(covered.u0), int(covered.v0), covered.width, covered.height
        return c0, r0, c0 + width, r0 + height


def make_reference(image: np.ndarray, scale: float) -> Reference:
    hr, lr = make_pair(image, scale)
    return Reference(np.asarray(image), float(scale), hr, to_float(lr))


def matching_scale(input_size: tuple[int, int], reference_size: tuple[int, int]) -> int | None:
    """The whole scale s at which a reference of `reference_size` (W, H) is the
    HR counterpart of an input of `input_size` (w, h) (the rule in the module's
    docstring), or None when there is none."""
    (w, h), (rw, rh) = input_size, reference_size
    if min(w, h, rw, rh) < 1:
        return None
    s = min(rw // w, rh // h)
    return s if s >= 2 and rw // s == w and rh // s == h else None


def size_mismatch(name: str, input_size: tuple[int, int], reference_size: tuple[int, int]) -> str:
    """The one line that refuses a reference whose size is no whole scale of the input's."""
    (w, h), (rw, rh) = input_size, reference_size
    return (f"Reference {name} is {rw} \u00d7 {rh} px, not a whole scale (\u00d72 or more) "
            f"of the input's {w} \u00d7 {h} px")


def reference_from_file(lr: np.ndarray, reference: np.ndarray, path: str) -> Reference:
    """The opened image `lr` (its pixels as the panes get them) with `reference`,
    read from `path`, as its ground truth: cropped top-left to s times the input
    and made 8-bit as `make_pair` makes an HR image. Raises ValueError (the one
    line of `size_mismatch`) when the sizes match no whole scale."""
    h, w = lr.shape[:2]
    rh, rw = reference.shape[:2]
    s = matching_scale((w, h), (rw, rh))
    if s is None:
        raise ValueError(size_mismatch(Path(path).name, (w, h), (rw, rh)))
    hr = np.ascontiguousarray(to_rgb8(reference[:s * h, :s * w]))
    return Reference(None, float(s), hr, to_float(lr), str(path))


@dataclass
class RegionScore:
    psnr: float | None
    ssim: float | None
    window: tuple[int, int, int, int]  # HR pixels scored (after shaving)
    error_map: np.ndarray | None  # uint8 RGBA over the unshaved window
    note: str = ""


def error_heatmap(sr: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """RGBA uint8: transparent where SR matches, through yellow to red where
    |Y(sr - hr)| reaches ERROR_MAP_FULL."""
    diff = np.abs((to_float(sr, np.float64) - to_float(hr, np.float64)) @ Y_WEIGHTS)
    t = np.clip(diff / ERROR_MAP_FULL, 0.0, 1.0)
    rgba = np.empty((*t.shape, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[..., 1] = np.round(230 * (1.0 - t)).astype(np.uint8)
    rgba[..., 2] = 0
    # Opacity grows with the error, so small errors leave the image visible.
    rgba[..., 3] = np.round(235 * np.clip(1.5 * t, 0.0, 1.0)).astype(np.uint8)
    return rgba


def score_region(sr: np.ndarray, ref: Reference, window: tuple[int, int, int, int]) -> RegionScore:
    """PSNR/SSIM (Y) of `sr`, the decode of HR pixels `window`, against the
    ground truth; pixels within ceil(s) of the image border are left out, as
    the whole-image score leaves them out."""
    c0, r0, c1, r1 = window
    hr = ref.hr[r0:r1, c0:c1]
    if sr.shape[:2] != hr.shape[:2]:
        raise ValueError(f"decoded block {sr.shape[:2]} does not match the window {hr.shape[:2]}")
    heat = error_heatmap(sr, hr) if sr.size else None
    w, h = ref.hr_size
    s = ref.shave
    a0, b0 = max(c0, s), max(r0, s)
    a1, b1 = min(c1, w - s), min(r1, h - s)
    if a1 <= a0 or b1 <= b0:
        return RegionScore(None, None, (a0, b0, a0, b0), heat, "view is inside the shaved border")
    sub_sr = sr[b0 - r0:b1 - r0, a0 - c0:a1 - c0]
    sub_hr = hr[b0 - r0:b1 - r0, a0 - c0:a1 - c0]
    psnr = psnr_y(sub_sr, sub_hr, 0)
    ssim = ssim_y(sub_sr, sub_hr, 0) if min(sub_sr.shape[:2]) >= SSIM_WINDOW else None
    return RegionScore(psnr, ssim, (a0, b0, a1, b1), heat, "" if ssim is not None else "too small for SSIM")


@dataclass
class VisibleScore:
    """The score of the part of the image a pane shows."""

    score: RegionScore
    window: tuple[int, int, int, int]  # HR pixels decoded (c0, r0, c1, r1), before shaving
    hr_zoom: tuple[float, float]  # the HR lattice's zoom: HR pixels per image pixel


def visible_score(upscaler: Upscaler, features: Any, ref: Reference, region: tuple[float, float, float, float],
                  should_stop: Callable[[], bool] = lambda: False) -> VisibleScore | None:
    """Score what a pane shows: `region` (x0, y0, x1, y1 in image units)
    decoded on the HR lattice, in bands that ask `should_stop` (Cancelled),
    against the ground truth. None when the region covers no HR pixel."""
    window = ref.window(*region)
    c0, r0, c1, r1 = window
    if c1 <= c0 or r1 <= r0:
        return None
    hr_lat = ref.hr_lattice()
    sr = StoppableUpscaler(upscaler, should_stop).decode_lattice(features, hr_lat.crop(c0, r0, c1 - c0, r1 - r0))
    return VisibleScore(score_region(sr, ref, window), window, (hr_lat.zx, hr_lat.zy))


class GroundTruthUpscaler(Upscaler):
    """The ground truth shown as a method: the HR image resampled (bicubic) onto
    any lattice of the LR image; at zoom = s it is exactly the HR pixels."""

    name = GROUND_TRUTH
    display = "Ground truth"

    def __init__(self, ref: Reference, device: Any = None) -> None:
        self.ref = ref
        self._bicubic = BicubicUpscaler(device)
        self.device = self._bicubic.device
        source = f"the reference {ref.name}" if ref.path is not None else "the opened image (reference mode)"
        self.weights = WeightsInfo(trained=True, source=source)

    def encode(self, image: np.ndarray) -> Any:
        return self._bicubic.encode(self.ref.hr)

    def decode_lattice(self, features: Any, lattice: Lattice,
                       progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        hr_lat = self.ref.hr_lattice()
        on_hr = Lattice(lattice.zx / hr_lat.zx, lattice.zy / hr_lat.zy, lattice.u0, lattice.v0,
                        lattice.width, lattice.height)
        return self._bicubic.decode_lattice(features, on_hr, progress)


class StoppableUpscaler(Upscaler):
    """Another upscaler whose decodes run in bands of rows (the one piecewise
    decode), asking `should_stop` between bands and raising Cancelled. A band
    is a crop of the same lattice, so the pixels are those of one whole decode."""

    def __init__(self, inner: Upscaler, should_stop: Callable[[], bool], band_pixels: int = 1 << 16) -> None:
        self.inner = inner
        self.should_stop = should_stop
        self.band_pixels = band_pixels
        self.name = inner.name
        self.display = inner.display
        self.weights = inner.weights
        self.device = inner.device

    def encode(self, image: np.ndarray) -> Any:
        if self.should_stop():
            raise Cancelled()
        return self.inner.encode(image)

    def decode_lattice(self, features: Any, lattice: Lattice,
                       progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        return decode_piecewise(self.inner, features, lattice, band_pixels=self.band_pixels, progress=progress,
                                cancel=self.should_stop)


def whole_image_score(upscaler: Upscaler, ref: Reference, should_stop: Callable[[], bool] = lambda: False
                      ) -> tuple[float, float]:
    """evaluate_image on the opened image at the reference scale: the number the
    evaluation table would print for it. With a separate reference, the same
    protocol on the given pair: the input decoded to the cropped reference's
    size, Y channel, ceil(s) pixels shaved."""
    stoppable = StoppableUpscaler(upscaler, should_stop)
    if ref.source is not None:
        return evaluate_image(stoppable, ref.source, ref.scale)
    w, h = ref.hr_size
    sr = super_resolve(stoppable, ref.lr, w, h)
    return psnr_y(sr, ref.hr, ref.shave), ssim_y(sr, ref.hr, ref.shave)
