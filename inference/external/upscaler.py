"""A user's fixed-scale super-resolution network as an `Upscaler`.

`encode` keeps the image (such a network has no separate encoder).
`decode_lattice` finds the input pixels the lattice block needs (the
resampling filter's taps, see resample.py), adds the network's receptive
margin, runs the network at its native scale on that crop in tiles (each tile
with the margin around it; a crop ends where the image ends, so the network
sees the image border exactly as a whole-image run does, padded as spandrel
pads a whole image to the architecture's size multiple), and resamples the
native output onto the lattice. For architectures known to be purely local
convolution stacks (`EXACT_FAMILIES`) the margin is their receptive radius,
measured on the model, so any block equals the matching crop of the whole
image (fp32, ~1e-6) unless `max_margin` cuts it; other architectures
(attention, global pooling) get `max_margin` and tiles are close, not exact.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import resources
from inference.geometry import Lattice, clip, offset_in
from inference.imageio import load_rgb8
from inference.metrics import make_pair, psnr_y, shave_for
from inference.precision import PSNR_TOLERANCE_DB, native_bf16, torch_dtype
from inference.upscaler import DecodeError, Upscaler, WeightsInfo, image_to_tensor, is_out_of_memory, pick_device

from . import resample
from .loader import ExternalModelError, Recognised, recognise

# spandrel architecture ids whose networks are stacks of convolutions,
# pixel (un)shuffles and nearest upsampling only: their receptive radius is
# finite and measured here, so tiles are exact.
EXACT_FAMILIES = frozenset({"Compact", "ESRGAN"})
# Input pixels of margin around each tile, at most: the receptive radius of a
# 23-block RRDBNet is ~350 input pixels, which would make every pane decode
# most of the image; 32 is what practical tiling of such networks uses, and
# the benchmark measures the seam it leaves.
DEFAULT_MAX_MARGIN = 32
# Input pixels of a tile's core side (plus the margin), by device; out of
# memory halves it down to MIN_TILE.
CPU_TILE = 192
CUDA_TILE = 512
MIN_TILE = 16


@dataclass
class KeptImage:
    """What `encode` returns: the image as a (1, C, h, w) float32 CPU tensor."""

    tensor: torch.Tensor

    @property
    def width(self) -> int:
        return int(self.tensor.shape[-1])

    @property
    def height(self) -> int:
        return int(self.tensor.shape[-2])


def receptive_radius(model: torch.nn.Module, in_channels: int, multiple: int) -> int:
    """An upper bound on how far (input pixels) an output pixel of a purely
    convolutional network reads: every convolution's reach, in input pixels at
    the resolution it runs at, summed (at least the longest path through the
    network), plus one pixel for nearest upsampling and the multiple's alignment."""
    reach: list[float] = []
    side = 8 * max(1, multiple)

    def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], _output: Any) -> None:
        assert isinstance(module, torch.nn.Conv2d)
        k = max(module.kernel_size)
        d = max(module.dilation)
        reach.append((k - 1) // 2 * d * side / inputs[0].shape[-1])

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        param = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(1, in_channels, side, side, dtype=param.dtype, device=param.device))
    finally:
        for handle in handles:
            handle.remove()
    return math.ceil(sum(reach)) + 1 + max(1, multiple) - 1


def _choose_precision(requested: str, recognised: Recognised, device: torch.device) -> str:
    bf16 = recognised.supports_bfloat16 and native_bf16(device)
    if requested in ("", "auto"):
        if device.type == "cuda" and recognised.supports_half:
            return "fp16"
        return "bf16" if bf16 else "fp32"
    if requested == "fp32":
        return "fp32"
    if requested == "fp16":
        if device.type != "cuda" or not recognised.supports_half:
            raise ExternalModelError(f"fp16 needs CUDA and an architecture that supports it "
                                     f"({recognised.architecture} on {device.type})")
        return "fp16"
    if requested == "bf16":
        if not bf16:
            raise ExternalModelError(f"bf16 needs a device that runs it natively and an architecture that supports "
                                     f"it ({recognised.architecture} on {device.type})")
        return "bf16"
    raise ExternalModelError(f"precision must be auto, fp32, bf16 or fp16; got {requested!r}")


# The probe a reduced precision is checked on: the bundled sample's centre, this many HR pixels a side.
PROBE_SIDE = 96


def psnr_change(descriptor: Any, scale: int, device: torch.device, dtype: torch.dtype) -> float:
    """PSNR (Y, dB) of the network at `dtype` minus at fp32 on the probe: the
    sample's centre, downscaled by `scale` the evaluator's way (make_pair),
    each output measured against the original, as the built-in methods'
    precision check measures them (inference/precision.py's tolerance)."""
    sample = load_rgb8(resources.sample_image())
    h, w = sample.shape[:2]
    top, left = (h - PROBE_SIDE) // 2, (w - PROBE_SIDE) // 2
    hr, lr = make_pair(sample[top:top + PROBE_SIDE, left:left + PROBE_SIDE], scale)
    x = image_to_tensor(lr).to(device)
    scores = []
    for run_dtype in (torch.float32, dtype):
        net = descriptor.to(dtype=run_dtype)
        with torch.inference_mode():
            sr = net(x.to(run_dtype)).float().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
        scores.append(psnr_y(sr[:hr.shape[0], :hr.shape[1]], hr, shave_for(scale)))
    return float(scores[1] - scores[0])


class ExternalUpscaler(Upscaler):
    """A recognised fixed-scale network on a device, decoding any lattice."""

    def __init__(self, recognised: Recognised, device: torch.device | str | None = None, precision: str = "auto",
                 *, tile: int | None = None, max_margin: int = DEFAULT_MAX_MARGIN) -> None:
        self.recognised = recognised
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.precision = _choose_precision(precision, recognised, self.device)
        self.dtype = torch_dtype(self.precision)
        self.descriptor = recognised.descriptor.to(self.device).eval()
        # In "auto" a reduced precision stays only where it costs no visible
        # quality, checked like the built-in methods' (a user's network may not
        # tolerate it): else fp32, and the details say why.
        self.precision_check = ""
        if self.precision != "fp32" and precision in ("", "auto") and recognised.input_channels == 3 \
                and recognised.output_channels == 3:
            change = psnr_change(self.descriptor, recognised.scale, self.device, self.dtype)
            self.precision_check = f"{self.precision} changes PSNR by {change:+.3f} dB on the probe"
            if abs(change) > PSNR_TOLERANCE_DB:
                self.precision_check += f" (over {PSNR_TOLERANCE_DB} dB): fp32"
                self.precision, self.dtype = "fp32", torch.float32
        if self.precision != "fp32":
            self.descriptor = self.descriptor.to(dtype=self.dtype)
        else:
            self.descriptor = self.descriptor.to(dtype=torch.float32)
        self.scale = recognised.scale
        # Windowed attention (SwinIR, HAT, ...) pads to its window inside the
        # network: crops start on the window grid of a whole-image run too.
        window = getattr(self.descriptor.model, "window_size", None)
        window = window if isinstance(window, int) and window > 0 else 1
        self.multiple = math.lcm(max(1, recognised.multiple_of), window)
        self.stem = recognised.path.stem
        self.name = f"model:{self.stem}"
        self.display = f"{self.stem} x{self.scale} ({recognised.architecture})"
        self.paper = f"{recognised.architecture} (spandrel)"
        self.weights = WeightsInfo(trained=True, source=str(recognised.path),
                                   provenance={"sha256": recognised.sha256, "architecture": recognised.architecture})
        self.exact_tiles = recognised.architecture_id in EXACT_FAMILIES
        if self.exact_tiles:
            self.receptive_radius: int | None = receptive_radius(self.descriptor.model, recognised.input_channels,
                                                                 self.multiple)
            self.margin = min(self.receptive_radius, max_margin)
        else:
            self.receptive_radius = None
            self.margin = max_margin
        self.configured_tile = int(tile or (CUDA_TILE if self.device.type == "cuda" else CPU_TILE))
        self.tile = self.configured_tile

    # ------------------------------------------------------------ description

    @property
    def seamless(self) -> bool:
        """Whether a block decodes to exactly the matching crop of the whole image."""
        return self.receptive_radius is not None and self.margin >= self.receptive_radius

    def label_for(self, zoom: float) -> str:
        """The pane's label: e.g. "RealESRGAN_x4plus x4 (ESRGAN), resampled to x3.7"."""
        return resample.resampled_label(self.display, self.scale, zoom)

    def details(self) -> dict[str, Any]:
        """Everything known about the model, for a dialog or `methods`."""
        r = self.recognised
        return {
            "file": str(r.path), "sha256": r.sha256, "architecture": r.architecture,
            "architecture_id": r.architecture_id, "native_scale": r.scale, "input_channels": r.input_channels,
            "parameters": r.parameters, "tags": list(r.tags), "size_multiple": r.multiple_of,
            "crop_multiple": self.multiple,
            "supports_fp16": r.supports_half, "supports_bf16": r.supports_bfloat16, "precision": self.precision,
            "precision_check": self.precision_check, "device": str(self.device), "margin": self.margin,
            "receptive_radius": self.receptive_radius,
            "seamless": self.seamless, "tile": self.configured_tile,
            "resampling": "bicubic (a=-0.5), antialiased when shrinking (Pillow's convention)",
        }

    def metadata(self) -> dict[str, str]:
        """What an export records about the model (strings, for PNG text chunks)."""
        r = self.recognised
        return {"model_file": str(r.path), "model_sha256": r.sha256, "model_architecture": r.architecture,
                "model_native_scale": str(r.scale)}

    def input_margin(self, zoom: float) -> int:
        taps = resample.SUPPORT * max(1.0, self.scale / max(zoom, 1e-6)) / self.scale
        return self.margin + 2 * self.multiple + math.ceil(taps) + 1

    # ------------------------------------------------------------ decoding

    def encode(self, image: np.ndarray) -> KeptImage:
        tensor = image_to_tensor(image)
        if self.recognised.input_channels == 1:
            tensor = tensor.mean(dim=1, keepdim=True)  # grey networks see the channels' mean
        return KeptImage(tensor)

    def _aligned_crop(self, start: int, stop: int, size: int) -> tuple[int, int]:
        """[a, b) input pixels to run for core [start, stop): the margin on both
        sides, a starting on the size multiple (as windows of a whole-image run
        do), b on it too unless the image ends first."""
        m = self.multiple
        a = max(0, start - self.margin) // m * m
        b = min(size, -(-(stop + self.margin) // m) * m)
        return a, b

    def _run(self, image: torch.Tensor) -> torch.Tensor:
        """The network on an input crop, padded as spandrel pads a whole image."""
        x = image.to(self.device, self.dtype)
        out = self.descriptor(x)
        return out.float()

    def _splits(self, start: int, stop: int, tile: int) -> list[tuple[int, int]]:
        count = max(1, math.ceil((stop - start) / tile))
        step = -(-math.ceil((stop - start) / count) // self.multiple) * self.multiple
        edges = [*list(range(start, stop, step)), stop]
        return list(itertools.pairwise(edges))

    def native(self, kept: KeptImage, x0: int, x1: int, y0: int, y1: int,
               progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """The network's output (C, (y1-y0)*s, (x1-x0)*s) for input pixels [x0, x1) x [y0, y1), in tiles."""
        s = self.scale
        out = torch.zeros(self.recognised.output_channels, (y1 - y0) * s, (x1 - x0) * s)
        while True:
            try:
                tiles = [(ty, tx) for ty in self._splits(y0, y1, self.tile) for tx in self._splits(x0, x1, self.tile)]
                for done, ((ty0, ty1), (tx0, tx1)) in enumerate(tiles):
                    ax0, ax1 = self._aligned_crop(tx0, tx1, kept.width)
                    ay0, ay1 = self._aligned_crop(ty0, ty1, kept.height)
                    with torch.inference_mode():
                        result = self._run(kept.tensor[..., ay0:ay1, ax0:ax1])[0].cpu()
                    core = result[:, (ty0 - ay0) * s:(ty1 - ay0) * s, (tx0 - ax0) * s:(tx1 - ax0) * s]
                    out[:, (ty0 - y0) * s:(ty1 - y0) * s, (tx0 - x0) * s:(tx1 - x0) * s] = core
                    if progress is not None:
                        progress(done + 1, len(tiles))
                return out
            except (RuntimeError, torch.cuda.OutOfMemoryError) as error:
                if not is_out_of_memory(error):
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                if self.tile <= MIN_TILE:
                    raise DecodeError(f"out of memory at the smallest tile ({MIN_TILE} input pixels)") from error
                self.tile = max(MIN_TILE, self.tile // 2)

    def decode_lattice(self, features: KeptImage, lattice: Lattice,
                       progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        out = np.zeros((lattice.height, lattice.width, 3), dtype=np.float32)
        w, h, s = features.width, features.height, self.scale
        inside = clip(lattice, w, h)
        if inside is None:
            return out
        c0, r0 = offset_in(inside, lattice)
        # Output centres in native output pixels (centre of native pixel j is j + 1/2).
        cx = (inside.u0 + np.arange(inside.width, dtype=np.float64) + 0.5) * (s / inside.zx)
        cy = (inside.v0 + np.arange(inside.height, dtype=np.float64) + 0.5) * (s / inside.zy)
        fx, fy = s / inside.zx, s / inside.zy
        nx0, nx1 = resample.native_span(cx, fx, w * s)
        ny0, ny1 = resample.native_span(cy, fy, h * s)
        x0, x1 = nx0 // s, -(-nx1 // s)
        y0, y1 = ny0 // s, -(-ny1 // s)
        native = self.native(features, x0, x1, y0, y1, progress)
        if resample.is_identity(inside.zx, inside.u0, s) and resample.is_identity(inside.zy, inside.v0, s):
            u, v = round(inside.u0) - x0 * s, round(inside.v0) - y0 * s
            block = native[:, v:v + inside.height, u:u + inside.width]
        else:
            mx, first_x = resample.weights(cx, fx, w * s)
            my, first_y = resample.weights(cy, fy, h * s)
            bx, by = first_x - x0 * s, first_y - y0 * s
            window = native[:, by:by + my.shape[1], bx:bx + mx.shape[1]].double()
            block = torch.einsum("ry,cyx,qx->crq", torch.from_numpy(my), window, torch.from_numpy(mx)).float()
        rgb = block.permute(1, 2, 0)
        if rgb.shape[2] == 1:
            rgb = rgb.expand(-1, -1, 3)
        out[r0:r0 + inside.height, c0:c0 + inside.width] = rgb.clamp(0, 1).numpy()
        return out


def load_external_model(path: str | Path, device: torch.device | str | None = "auto", precision: str = "auto",
                        **options: Any) -> ExternalUpscaler:
    """A user's SR network file as an Upscaler (see ExternalUpscaler for `options`:
    `tile`, `max_margin`); ExternalModelError, one line, when it cannot be used."""
    return ExternalUpscaler(recognise(path), device, precision, **options)
