"""Training images: listing, deterministic shards, and an in-memory pool that
makes LIIF-style training batches on the training device.

Shards exist because a training segment on a lent GPU machine can only carry
a few tens of MB of files: `shard(paths, k, n)` splits the image list into n
parts of about equal file size (deterministically, whatever the order of the
input), so that rotating k between segments visits all the data.

The pool decodes a shard's images once into uint8 tensors on the device. Every
batch is then made there: random crops, flips and transposes, bicubic
antialiased downsampling (torch's, which uses Pillow's kernel, a = -0.5) and
the sampling of target pixels, with one torch.Generator so that a run is
reproducible and resumable.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from inference.files import IMAGE_SUFFIXES, list_images
from inference.imageio import load_rgb8

# A shard folder written by `make_shard` describes itself in this file.
MANIFEST = "SHARD.json"
# Default upper bound on a shard's files: what fits, with a run's state, in
# the 64 MiB that travel to a lent GPU machine.
DEFAULT_SHARD_BYTES = 35 * 1000 * 1000


def shard(paths: Sequence[Path], k: int, n: int) -> list[Path]:
    """Shard k (taken modulo n) of n: the files split into n groups of about
    equal total size (largest file first into the lightest group; ties broken
    by name), each returned sorted by name. Independent of the input's order."""
    if n < 1:
        raise ValueError(f"number of shards must be >= 1, got {n}")
    items = sorted(((Path(p).stat().st_size, Path(p).as_posix(), Path(p)) for p in paths),
                   key=lambda t: (-t[0], t[1]))
    loads = [0] * n
    groups: list[list[Path]] = [[] for _ in range(n)]
    for size, _name, path in items:
        g = min(range(n), key=lambda i: (loads[i], i))
        loads[g] += size
        groups[g].append(path)
    return sorted(groups[k % n], key=lambda p: p.as_posix())


def shards_needed(paths: Sequence[Path], max_bytes: int = DEFAULT_SHARD_BYTES) -> int:
    """The fewest shards whose largest one holds at most max_bytes of files."""
    total = sum(Path(p).stat().st_size for p in paths)
    n = max(1, math.ceil(total / max_bytes))
    while n < len(paths) and max(sum(p.stat().st_size for p in shard(paths, k, n)) for k in range(n)) > max_bytes:
        n += 1
    return n


@dataclass
class DataSelection:
    """Which images a run trains on, and how to say so in provenance."""

    root: Path
    paths: list[Path]
    shard_index: int | None
    shard_count: int | None
    source: str  # the original data set (a shard folder's manifest names it)

    @property
    def description(self) -> str:
        part = f", shard {self.shard_index} of {self.shard_count}" if self.shard_count and self.shard_count > 1 else ""
        return f"{self.source}{part} ({len(self.paths)} images)"


def select(root: str | Path, shard_index: int | None = None, shard_count: int | None = None,
           shard_bytes: int = DEFAULT_SHARD_BYTES) -> DataSelection:
    """The images of `root`, or of one of its shards. shard_count 0/None with a
    shard_index means "as many shards as needed for shard_bytes each". A folder
    written by `make_shard` reports the shard it holds."""
    root = Path(root)
    paths = list_images(root)
    if not paths:
        raise FileNotFoundError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)})")
    source = root.as_posix()
    index, count = None, None
    manifest = root / MANIFEST
    if manifest.is_file():
        info = json.loads(manifest.read_text())
        source = str(info.get("source", source))
        index, count = info.get("shard"), info.get("shards")
    if shard_index is not None:
        if index is not None:
            raise ValueError(f"{root} is already shard {index} of {count}; do not shard it again")
        count = int(shard_count) if shard_count else shards_needed(paths, shard_bytes)
        index = int(shard_index) % count
        paths = shard(paths, index, count)
    return DataSelection(root, paths, index, count, source)


def make_shard(root: str | Path, dest: str | Path, shard_index: int, shard_count: int | None = None,
               shard_bytes: int = DEFAULT_SHARD_BYTES) -> DataSelection:
    """Copy one shard of root into dest (emptied of images first), keeping the
    relative paths, with a manifest naming the source and the shard."""
    root, dest = Path(root), Path(dest)
    chosen = select(root, shard_index, shard_count, shard_bytes)
    if dest.resolve() == root.resolve():
        raise ValueError("the shard folder must differ from the data folder")
    if dest.exists():
        for old in list_images(dest):
            old.unlink()
    dest.mkdir(parents=True, exist_ok=True)
    for path in chosen.paths:
        target = dest / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    manifest: dict[str, Any] = {"source": chosen.source, "shard": chosen.shard_index, "shards": chosen.shard_count,
                "files": [p.relative_to(root).as_posix() for p in chosen.paths],
                "bytes": sum(p.stat().st_size for p in chosen.paths)}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return DataSelection(dest, [dest / f for f in manifest["files"]], chosen.shard_index, chosen.shard_count,
                         chosen.source)


def _decode(path: Path) -> np.ndarray:
    """Through the application's own reader (damaged, truncated or huge files
    refused with a message naming them); a writable copy, for torch."""
    return np.array(load_rgb8(path), dtype=np.uint8)


@dataclass
class PointBatch:
    """LIIF-style batch: LR inputs and sampled HR target pixels, all normalised to [-1, 1]."""

    lr: torch.Tensor      # (B, 3, h, w)
    coord: torch.Tensor   # (B, Q, 2) (y, x) in LR pixel units
    cell: torch.Tensor    # (B, Q, 2) size of one HR pixel in LR pixels
    target: torch.Tensor  # (B, Q, 3)


@dataclass
class LatticeBatch:
    """Whole-crop batch for lattice decoders: every sample shares one scale."""

    lr: torch.Tensor      # (B, 3, h, w)
    hr: torch.Tensor      # (B, 3, H, W)
    scale: float          # H / h == W / w


class ImagePool:
    """A shard's images as uint8 (3, H, W) tensors on one device."""

    def __init__(self, paths: Sequence[Path], device: torch.device, threads: int = 8) -> None:
        if not paths:
            raise ValueError("no training images")
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            arrays = list(pool.map(_decode, paths))
        self.device = device
        self.names = [Path(p).name for p in paths]
        self.images = [torch.from_numpy(a).permute(2, 0, 1).contiguous().to(device) for a in arrays]
        self.sizes = torch.tensor([[a.shape[0], a.shape[1]] for a in arrays], dtype=torch.int64)
        self.pixels = int((self.sizes[:, 0] * self.sizes[:, 1]).sum())

    def __len__(self) -> int:
        return len(self.images)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() for t in self.images)

    def pick(self, crop: int, generator: torch.Generator, count: int = 1) -> list[int]:
        """Images that hold a crop x crop patch, chosen with probability
        proportional to their area, so every training pixel is equally likely
        (DIV2K's images are all of a size; ours are not)."""
        fits = (self.sizes[:, 0] >= crop) & (self.sizes[:, 1] >= crop)
        if not bool(fits.any()):
            raise ValueError(f"no training image is at least {crop}x{crop} pixels")
        weights = (self.sizes[:, 0] * self.sizes[:, 1]).double() * fits.double()
        return torch.multinomial(weights, count, replacement=True, generator=generator).tolist()

    def crop(self, index: int, size: int, generator: torch.Generator) -> torch.Tensor:
        """A random size x size patch of image `index`, as float (3, size, size) in [0, 1]."""
        img = self.images[index]
        h, w = img.shape[-2:]
        g = generator
        y0 = int(torch.randint(0, h - size + 1, (1,), generator=g))
        x0 = int(torch.randint(0, w - size + 1, (1,), generator=g))
        return img[:, y0:y0 + size, x0:x0 + size].float().div_(255.0)


def augment(patch: torch.Tensor, hflip: bool, vflip: bool, transpose: bool) -> torch.Tensor:
    """The 8 symmetries of the square: flips and transpose (LIIF's augment)."""
    if hflip:
        patch = patch.flip(-1)
    if vflip:
        patch = patch.flip(-2)
    if transpose:
        patch = patch.transpose(-2, -1)
    return patch


def downsample(hr: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bicubic antialiased resize of (B, 3, H, W) in [0, 1], quantised to 8 bits
    like the LR images the public LIIF code makes (it passes them through PIL)
    and like the LR files of the evaluation."""
    lr = F.interpolate(hr, size=(height, width), mode="bicubic", align_corners=False, antialias=True)
    return lr.clamp_(0, 1).mul_(255.0).round_().div_(255.0)


def pixel_centres(size_h: int, size_w: int, lr_h: int, lr_w: int, device: torch.device) -> torch.Tensor:
    """(H*W, 2) centres (y, x) of an H x W image's pixels in units of an
    lr_h x lr_w image covering the same area."""
    ys = (torch.arange(size_h, device=device, dtype=torch.float32) + 0.5) * (lr_h / size_h)
    xs = (torch.arange(size_w, device=device, dtype=torch.float32) + 0.5) * (lr_w / size_w)
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2)


class Sampler:
    """Draws training batches from a pool with its own random state.

    Host-side choices (image, crop position, scale, flips) come from a CPU
    generator; the choice of target pixels from a generator on the device, so
    the sampling runs there without synchronising."""

    def __init__(self, pool: ImagePool, seed: int) -> None:
        self.pool = pool
        self.host = torch.Generator("cpu")
        self.host.manual_seed(seed)
        self.on_device = torch.Generator(pool.device)
        self.on_device.manual_seed(seed + 1)
        self._centres: dict[tuple[int, int], torch.Tensor] = {}  # (HR side, LR side) -> pixel centres

    def state(self) -> dict[str, torch.Tensor]:
        return {"host": self.host.get_state(), "device": self.on_device.get_state()}

    def set_state(self, state: dict[str, torch.Tensor]) -> bool:
        """Restore; False (state left as seeded) when the saved device state is
        of another kind of device."""
        self.host.set_state(state["host"].cpu())
        try:
            self.on_device.set_state(state["device"].cpu())
        except (RuntimeError, ValueError):
            return False
        return True

    def _flips(self) -> tuple[bool, bool, bool]:
        f = torch.rand(3, generator=self.host) < 0.5
        return bool(f[0]), bool(f[1]), bool(f[2])

    def points(self, batch: int, scales: Sequence[float], lr_size: int = 48, samples: int = 2304) -> PointBatch:
        """LIIF's batch: per sample, an HR patch of round(lr_size * s) pixels, its
        lr_size^2 LR version, and `samples` HR pixels (without replacement) as targets."""
        dev = self.pool.device
        lrs, coords, cells, targets = [], [], [], []
        for s in scales:
            size = max(lr_size, round(lr_size * float(s)))
            (index,) = self.pool.pick(size, self.host)
            patch = augment(self.pool.crop(index, size, self.host), *self._flips())
            lr = downsample(patch[None], lr_size, lr_size)[0]
            n = size * size
            if samples > n:
                raise ValueError(f"cannot sample {samples} pixels from a {size}x{size} patch")
            chosen = torch.randperm(n, generator=self.on_device, device=dev)[:samples]
            key = (size, lr_size)
            if key not in self._centres:
                self._centres[key] = pixel_centres(size, size, lr_size, lr_size, dev)
            coords.append(self._centres[key][chosen])
            targets.append(patch.reshape(3, n).t()[chosen])
            cells.append(torch.full((samples, 2), lr_size / size, device=dev))
            lrs.append(lr)
        return PointBatch(torch.stack(lrs).sub_(0.5).div_(0.5), torch.stack(coords), torch.stack(cells),
                          torch.stack(targets).sub_(0.5).div_(0.5))

    def lattice(self, batch: int, scale: float, hr_size: int = 192) -> LatticeBatch:
        """Whole-crop batch at one scale: the LR side is floor(hr_size / s) and
        the HR crop round(lr * s), so the zoom is exactly s (the evaluation's rule)."""
        lr_side = math.floor(hr_size / scale + 1e-9)
        size = round(lr_side * scale)
        patches = []
        for index in self.pool.pick(size, self.host, batch):
            patches.append(augment(self.pool.crop(index, size, self.host), *self._flips()))
        hr = torch.stack(patches)
        lr = downsample(hr, lr_side, lr_side)
        return LatticeBatch(lr.sub_(0.5).div_(0.5), hr.sub_(0.5).div_(0.5), size / lr_side)
