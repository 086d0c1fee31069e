"""The one interface every method implements, and the one decode path.

    up = load_upscaler("liif")             # or any registered method, or "bicubic"
    feats = up.encode(image)               # once per image; the caller caches it
    rgb = up.decode(feats, region, (W, H)) # any rectangle, any output size

`region` is a rectangle of the continuous image in LR pixel units (fractional,
possibly partly outside); the result is an (H, W, 3) float32 array in [0, 1]
with zeros where output pixel centres fall outside the image. Decoding a
rectangle gives the same pixels as the matching crop of a whole-image decode.
The viewer, exporter, evaluator and CLI all go through `decode_lattice`.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import registry
from .features import ONE_PASS_PIXELS, FeatureMap
from .geometry import Lattice, Region, clip, offset_in
from .imageio.pixels import to_float
from .methods import base as methods_base
from .methods.base import FeatureWindow, ImplicitSR
from .precision import resolve_precision, torch_dtype
from .weights import WeightsInfo

# Default query chunk (points per decoder call): bounds decoder memory. On
# the CPU a chunk's activations (points x 256 floats) should stay near the
# caches: 4096 points decode LIIF ~1.5x faster than 65536 (1 thread) and
# 1.18x faster than 16384 in fp32. Half as many bytes per activation in bf16
# move the optimum up, and fewer chunks mean less per-chunk work (DIIF's plan,
# every method's gathers and small multiplies): 16384 points (one viewer tile)
# decode a 960x540 pane at x4 1.11-1.40x faster than 4096 for every method
# (LIIF 0.82 -> 0.59 s, A-LIIF 1.77 -> 1.52, quiet, 2 threads), 32768 is
# slower again for A-LIIF and LIIF-SIREN (1.40 -> 2.01 s, 1.42 -> 1.94).
CPU_CHUNK = 1 << 12
CPU_REDUCED_CHUNK = 1 << 14
# Columns of a decode block where multiplies pad their rows (see methods.base.gemm_rows).
GEMM_BLOCK_COLS = 128
CUDA_CHUNK = 1 << 20
MIN_CHUNK = 256
# Memory for one block of prepared per-LR-pixel tensors (`ImplicitSR.prepare`).
# A lattice block is prepared once when its window fits, else in bands of rows
# (or strips of columns) that do; chunks then decode against it, so `prepare`
# is never repeated on the overlap of neighbouring chunks.
CPU_PREPARE_BUDGET = 256 << 20
CUDA_PREPARE_BUDGET = 1 << 30
MIN_PREPARE_BUDGET = 1 << 20
# After out-of-memory the chunk and prepare budget are halved; each run of this
# many decodes that complete without running out doubles them back one step,
# up to the configured values, so one transient spike does not slow every
# later decode. A step that runs out again is simply halved again.
RECOVER_AFTER_DECODES = 16


class DecodeError(RuntimeError):
    """A decode that could not complete (e.g. out of memory at the smallest chunk)."""


@dataclass(frozen=True)
class Inside:
    """The part of a lattice block whose pixel centres fall inside the image:
    rows r0:r1 and columns c0:c1 of the block, `lattice` on the same lattice
    (a crop, so its pixels are those of the whole block)."""

    lattice: Lattice
    r0: int
    c0: int

    @property
    def r1(self) -> int:
        return self.r0 + self.lattice.height

    @property
    def c1(self) -> int:
        return self.c0 + self.lattice.width


def blank_decode(lattice: Lattice, image_w: int, image_h: int) -> tuple[np.ndarray, Inside | None]:
    """What every `decode_lattice` starts from: the (H, W, 3) float32 result,
    zeros (what stays outside the image), and where in it the image is (None:
    nowhere, the zeros are the answer)."""
    out = np.zeros((lattice.height, lattice.width, 3), dtype=np.float32)
    inside = clip(lattice, image_w, image_h)
    if inside is None:
        return out, None
    c0, r0 = offset_in(inside, lattice)
    return out, Inside(inside, r0, c0)


def pick_device(name: str | None = None) -> torch.device:
    """'auto' (or None): CUDA when available, else CPU."""
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r} is not supported (use auto, cpu, cuda or cuda:N)")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but is not available on this machine")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"there is no CUDA device {device.index} (this machine has {torch.cuda.device_count()})")
    return device


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    return "CPU"


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """(h, w, 3) in [0, 1] (float) or uint8 / uint16 -> (1, 3, h, w) float32 in [0, 1]."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) RGB image, got shape {arr.shape}")
    return torch.from_numpy(np.ascontiguousarray(to_float(arr))).permute(2, 0, 1).unsqueeze(0)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` says memory ran out: CUDA's, Python's MemoryError, or
    torch's CPU allocator failing ("can't allocate memory", as under a process
    memory limit), so that a decode halves its pieces on the CPU too."""
    if isinstance(error, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(
        words in text for words in ("out of memory", "can't allocate memory", "defaultcpuallocator"))


class Upscaler(ABC):
    """A method ready to use on one device."""

    name: str
    display: str
    # The rule an interpolation follows (the registry's `paper` for it).
    paper: str = ""
    weights: WeightsInfo
    device: torch.device
    # What the decoder runs in; None for interpolation, which has no such choice.
    precision: str | None = None

    @abstractmethod
    def encode(self, image: np.ndarray) -> Any:
        """Everything the decoder needs from one image; computed once, cached by the caller."""

    def features_identity(self) -> str | None:
        """Names what `encode` computes when another upscaler could compute the
        same (one encoder, the same weights, run the same way): upscalers with
        equal identities may share an image's features. None: not shared."""
        return None

    @abstractmethod
    def decode_lattice(self, features: Any, lattice: Lattice,
                       progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """(H, W, 3) float32 in [0, 1] for a lattice block; zeros outside the image."""

    def decode(self, features: Any, region: Region, out_size: tuple[int, int]) -> np.ndarray:
        return self.decode_lattice(features, Lattice.from_region(region, int(out_size[0]), int(out_size[1])))

    def input_margin(self, zoom: float) -> int:
        """Input pixels around a region that decoding it at `zoom` may read, so
        that a crop of the image with this margin decodes the region exactly
        as the whole image does (what lets `main.py upscale --region` convert
        only a part of a large image). Here: bicubic's taps, which widen by
        1/zoom when shrinking, with room to spare."""
        return 4 + int(np.ceil(2.0 / min(max(zoom, 1e-6), 1.0)))

    def upscale(self, image: np.ndarray, scale: float) -> np.ndarray:
        """The whole image at `scale` (sizes rounded)."""
        h, w = image.shape[:2]
        return self.decode_lattice(self.encode(image), Lattice.full_image(w, h, scale))


class ImplicitUpscaler(Upscaler):
    """An ImplicitSR model on a device, with chunked, OOM-resilient decoding: out of
    memory halves the chunk and redoes the band; clean decodes later undo it."""

    def __init__(self, model: ImplicitSR, weights: WeightsInfo, device: torch.device | str | None = None,
                 *, display: str | None = None, precision: str = "auto", chunk: int | None = None,
                 feature_budget_bytes: int = 1 << 30, feature_tile: int = 256,
                 one_pass_pixels: int | None = None, prepare_budget_bytes: int | None = None,
                 compile: bool | str = False, feature_dtype: str = "auto",
                 encoder_precision: str | None = None, bf16_scope: str | None = None) -> None:
        """`precision`: "auto" (the method's default on this device for its
        decoder and its encoder: bf16 where the device has it natively for the
        parts `bf16_scope` names, by default the scope the method registered,
        see inference/precision.py), "fp32", "bf16" or "fp16" (CUDA only). A
        reduced precision stores the weights in it (a method may keep its
        decoder in fp32) and decodes under autocast, so the per-LR-pixel maps
        are made and kept in it too. `encoder_precision`: the encoder's, when
        it should differ (default: `precision`).
        `compile`: True (or a torch.compile mode such as "reduce-overhead",
        which uses CUDA graphs) compiles the decoder on CUDA; elsewhere, or if
        compiling fails, decoding stays eager (`compile_note` says why).
        `feature_dtype`: how encoder features are stored: "auto" is the
        encoder's reduced precision when it has one (half the memory; fp16 on
        CUDA with fp16), else fp32; "fp16" (CUDA only) and "bf16" force one."""
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.name = model.method_name
        self.display = display or self.name
        self.weights = weights
        scope = registry.bf16_scope(self.name) if bf16_scope is None else bf16_scope
        self.precision: str = resolve_precision(precision, scope, self.device)
        # Under "auto" the encoder takes the method's own default, which may be
        # fp32 under a bf16 decoder; a named precision applies to both.
        self.encoder_precision = resolve_precision(encoder_precision or precision, scope, self.device,
                                                   part="encoder")
        if "fp16" in (self.precision, self.encoder_precision) and self.device.type != "cuda":
            raise ValueError("fp16 is for CUDA only; on the CPU use bf16 (where the CPU has it) or fp32")
        if feature_dtype not in ("auto", "fp32", "fp16", "bf16"):
            raise ValueError(f"feature_dtype must be auto, fp32, fp16 or bf16, got {feature_dtype!r}")
        if feature_dtype == "fp16" and self.device.type != "cuda":
            raise ValueError("fp16 feature storage is for CUDA only; on the CPU use bf16 or fp32")
        self.feature_dtype = feature_dtype
        model = model.to(self.device).eval()
        if (self.precision, self.encoder_precision) != ("fp32", "fp32"):
            # A copy: the caller's model keeps its fp32 weights.
            model = copy.deepcopy(model).cast_for_inference(torch_dtype(self.precision),
                                                            torch_dtype(self.encoder_precision))
        self.model = model
        # `chunk` and `prepare_budget_bytes` are these, halved `_memory_halvings`
        # times while recovering from out-of-memory (see RECOVER_AFTER_DECODES).
        self.configured_chunk = int(chunk or (CUDA_CHUNK if self.device.type == "cuda" else
                                              CPU_REDUCED_CHUNK if self._pads_gemm_rows() else CPU_CHUNK))
        self.configured_prepare_budget = int(prepare_budget_bytes or (
            CUDA_PREPARE_BUDGET if self.device.type == "cuda" else CPU_PREPARE_BUDGET))
        self._set_memory_halvings(0)
        self.feature_budget_bytes = feature_budget_bytes
        self.feature_tile = feature_tile
        self.one_pass_pixels = one_pass_pixels
        self._prepared_bytes_per_pixel: float | None = None
        self._features_identity: str | None = None
        self._prepare: Callable[..., Any] = self.model.prepare
        self._decode_window: Callable[..., Any] = self.model.decode_window
        self.compile_active = False
        self.compile_note = ""
        if compile:
            self._compile(compile)

    def _reduced(self, configured: int, floor: int) -> int:
        """`configured`, halved `_memory_halvings` times but not below `floor`."""
        k = self._memory_halvings
        return max(floor, configured >> k) if k else configured

    @property
    def chunk(self) -> int:
        """Points per decoder call now: `configured_chunk`, or less for a while after out-of-memory."""
        return self._reduced(self.configured_chunk, MIN_CHUNK)

    @chunk.setter
    def chunk(self, points: int) -> None:
        """Configures the chunk; the reduced size after out-of-memory (if any) ends."""
        self.configured_chunk = int(points)
        self._set_memory_halvings(0)

    @property
    def prepare_budget_bytes(self) -> int:
        """Bytes for one prepared block now: `configured_prepare_budget`, or less after out-of-memory."""
        return self._reduced(self.configured_prepare_budget, MIN_PREPARE_BUDGET)

    @prepare_budget_bytes.setter
    def prepare_budget_bytes(self, budget: int) -> None:
        """Configures the prepare budget; the reduced size after out-of-memory (if any) ends."""
        self.configured_prepare_budget = int(budget)
        self._set_memory_halvings(0)

    def _set_memory_halvings(self, halvings: int) -> None:
        """Halve the configured chunk and budget this many times; the count of clean decodes restarts."""
        self._memory_halvings = halvings
        self._clean_decodes = 0

    def _halve_for_memory(self, error: BaseException) -> None:
        """One more halving of the chunk and prepare budget; DecodeError at the smallest chunk."""
        if self.chunk <= MIN_CHUNK:
            raise DecodeError(f"{self.display}: out of memory even at {self.chunk} points per chunk") from error
        self._set_memory_halvings(self._memory_halvings + 1)

    def _note_clean_decode(self) -> None:
        """A decode that did not run out of memory: after enough of them, one halving is undone."""
        if not self._memory_halvings:
            return
        self._clean_decodes += 1
        if self._clean_decodes >= RECOVER_AFTER_DECODES:
            self._set_memory_halvings(self._memory_halvings - 1)

    def _compile(self, mode: bool | str) -> None:
        """torch.compile the decoder (CUDA only). Shapes vary from block to
        block, hence dynamic=True; DIIF's slice planning breaks the graph,
        which torch.compile handles by compiling the pieces around it."""
        if self.device.type != "cuda":
            self.compile_note = "compile is for CUDA only: decoding eagerly"
            return
        compiler = getattr(torch, "compile", None)
        if compiler is None:
            self.compile_note = "this torch has no torch.compile: decoding eagerly"
            return
        try:
            options: dict[str, Any] = {"dynamic": True}
            if isinstance(mode, str):
                options["mode"] = mode
            self._prepare = compiler(self.model.prepare, **options)
            self._decode_window = compiler(self.model.decode_window, **options)
        except Exception as error:  # noqa: BLE001 - any failure to compile means: stay eager
            self._fall_back(error)
            return
        self.compile_active = True
        self.compile_note = f"compiled ({mode if isinstance(mode, str) else 'default'} mode)"

    def _fall_back(self, error: BaseException) -> None:
        self._prepare = self.model.prepare
        self._decode_window = self.model.decode_window
        self.compile_active = False
        self.compile_note = f"compile failed, decoding eagerly: {type(error).__name__}: {error}"

    def _run_compiled(self, eager: Callable[..., Any], compiled: Callable[..., Any], *args: Any) -> Any:
        if not self.compile_active:
            return eager(*args)
        try:
            return compiled(*args)
        except Exception as error:
            if is_out_of_memory(error):
                raise
            # A compiler failure shows up on the first call: never fail a decode for it.
            self._fall_back(error)
            return eager(*args)

    def _autocast(self, precision: str | None = None) -> contextlib.AbstractContextManager:
        """Autocast to `precision` (default: the decoder's). The weights are
        already stored in it; autocast casts only the small fp32 tensors a
        method builds per query (coordinates, cells, ensemble weights)."""
        precision = precision or self.precision
        if precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch_dtype(precision))

    @property
    def storage_dtype(self) -> torch.dtype:
        """How encoder features are stored (see `feature_dtype`)."""
        if self.feature_dtype != "auto":
            return torch_dtype(self.feature_dtype)
        return torch_dtype(self.encoder_precision)

    def features_identity(self) -> str:
        """Every learned method ships the same frozen encoder, so methods whose
        encoders run at the same precision compute the same features: the
        viewer encodes an image once for all of them. A digest of the
        encoder's weights as stored, and everything else `encode` depends on."""
        if self._features_identity is None:
            digest = hashlib.blake2b(digest_size=16)
            for name, tensor in sorted(self.model.encoder.state_dict().items()):
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
            self._features_identity = (f"{digest.hexdigest()} {self.model.encoder_spec} "
                                       f"{self.encoder_precision} {self.storage_dtype} {self.device} "
                                       f"{self.feature_tile} {self.one_pass_pixels} {self.feature_budget_bytes}")
        return self._features_identity

    def input_margin(self, zoom: float) -> int:
        """The encoder's receptive field, the padding of the prepared features
        and the decoder's reach in latents, on top of the generic margin."""
        model = self.model
        own = int(model.receptive_radius) + int(model.feature_halo) + int(model.query_reach)
        return own + super().input_margin(zoom)

    def encode(self, image: np.ndarray) -> FeatureMap:
        # The image stays where it is (for a float32 array: no copy at all), and
        # each crop the encoder sees is moved and normalised on its own: a large
        # image is never duplicated per method, on the host or on the device.
        rgb = image_to_tensor(image)

        storage = self.storage_dtype

        # A reduced-precision encoder runs channels-last (oneDNN's fast layout
        # for bf16 convolutions: ~4x its fp32 speed on a CPU with AMX, where
        # the default layout gains nothing); features come out in the default one.
        layout = torch.contiguous_format if self.encoder_precision == "fp32" else torch.channels_last

        def run_encoder(x: torch.Tensor) -> torch.Tensor:
            lr = (x.to(self.device, torch.float32).contiguous(memory_format=layout) - 0.5) / 0.5
            with self._autocast(self.encoder_precision):
                return self.model.encode_normalised(lr).to(storage).contiguous()

        return FeatureMap(run_encoder, rgb, self.model.receptive_radius, tile=self.feature_tile,
                          one_pass_pixels=self.one_pass_pixels or ONE_PASS_PIXELS,
                          budget_bytes=self.feature_budget_bytes, storage_dtype=storage, device=self.device,
                          window_dtype=self.model.decoder_dtype)

    def prepared_bytes_per_pixel(self) -> float:
        """Bytes `prepare` makes per LR pixel (measured once on a small window)."""
        if self._prepared_bytes_per_pixel is None:
            halo, side = self.model.feature_halo, 4
            probe = torch.zeros(1, int(self.model.encoder.out_dim), side + 2 * halo, side + 2 * halo,
                                device=self.device, dtype=self.model.decoder_dtype)
            with torch.no_grad(), self._autocast():
                prepared = self.model.prepare(probe)
            # Count each storage once (DIIF's "vertex_tl" is a view of "vertex").
            storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in prepared.values()}
            self._prepared_bytes_per_pixel = sum(storages.values()) / (side * side)
        return self._prepared_bytes_per_pixel

    def _prepared_window(self, features: FeatureMap, block: Lattice) -> FeatureWindow:
        h, w = features.height, features.width
        y0, y1, x0, x1 = self.model.lattice_window(block, h, w)
        with self._autocast():
            # In this decoder's precision: the features may be shared with another method's.
            feat = features.window(y0, y1, x0, x1, halo=self.model.feature_halo, dtype=self.model.decoder_dtype)
            prepared = self._run_compiled(self.model.prepare, self._prepare, feat)
        return FeatureWindow(prepared, y0, x0, h, w)

    def _decode_block(self, window: FeatureWindow, block: Lattice) -> torch.Tensor:
        """(H, W, 3) float32 in [0, 1] of a block whose window is prepared."""
        with self._autocast():
            rgb = self._run_compiled(self.model.decode_window, self._decode_window, window, block)
        return (rgb.float() * 0.5 + 0.5).clamp_(0, 1)[0].permute(1, 2, 0)

    def _prepare_extent(self, lattice: Lattice, rows: int, cols: int) -> tuple[int, int]:
        """(output rows, output columns) of a block whose prepared window fits
        the budget: whole rows when one row fits, else strips of one row."""
        pixels = self.prepare_budget_bytes / max(self.prepared_bytes_per_pixel(), 1.0)
        # LR lines a span of n output lines touches, with the reach and halo on both sides.
        margin = 2 * (self.model.query_reach + 1)

        def lr_lines(n: int, zoom: float) -> float:
            return n / zoom + margin

        lr_cols = lr_lines(cols, lattice.zx)
        band = int((pixels / lr_cols - margin) * lattice.zy)
        if band >= 1:
            return min(rows, band), cols
        strip = int((pixels / lr_lines(1, lattice.zy) - margin) * lattice.zx)
        return 1, max(1, min(cols, strip))

    def _pads_gemm_rows(self) -> bool:
        with torch.no_grad(), self._autocast():
            return methods_base.pads_gemm_rows(self.device, self.model.decoder_dtype)

    @torch.no_grad()
    def decode_lattice(self, features: FeatureMap, lattice: Lattice,
                       progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        out, inside = blank_decode(lattice, features.width, features.height)
        if inside is None:
            return out
        r0, c0 = inside.r0, inside.c0
        rows, cols = inside.lattice.height, inside.lattice.width
        target = torch.from_numpy(out)
        reported = 0
        row = 0
        ran_out = False
        while row < rows:
            # A prepared band (rows whose window fits the prepare budget), decoded
            # in chunks of whole rows (or strips of one row when a row alone is
            # larger than a chunk); on out-of-memory halve both and redo the band.
            n, strip = self._prepare_extent(lattice, rows - row, cols)
            try:
                for col in range(0, cols, strip):
                    width = min(strip, cols - col)
                    window = self._prepared_window(features, lattice.crop(c0 + col, r0 + row, width, n))
                    chunk_rows = max(1, self.chunk // width)
                    chunk_cols = width if chunk_rows > 1 or width <= self.chunk else self.chunk
                    if width > GEMM_BLOCK_COLS and self._pads_gemm_rows():
                        # Blocks as the viewer's tiles cut them (128 columns x
                        # chunk // 128 rows): row counts that need no padding.
                        chunk_cols = GEMM_BLOCK_COLS
                        chunk_rows = max(1, self.chunk // chunk_cols)
                    for sub_row in range(0, n, chunk_rows):
                        m = min(chunk_rows, n - sub_row)
                        for sub_col in range(0, width, chunk_cols):
                            k = min(chunk_cols, width - sub_col)
                            block = lattice.crop(c0 + col + sub_col, r0 + row + sub_row, k, m)
                            rgb = self._decode_block(window, block)
                            if rgb.device.type != "cpu":
                                rgb = rgb.contiguous().cpu()
                            y, x = r0 + row + sub_row, c0 + col + sub_col
                            target[y:y + m, x:x + k].copy_(rgb)
                        if strip == cols and progress is not None and row + sub_row + m > reported:
                            reported = row + sub_row + m
                            progress(reported, rows)
            except (RuntimeError, MemoryError) as error:  # torch.cuda.OutOfMemoryError is a RuntimeError
                if not is_out_of_memory(error):
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                ran_out = True
                self._halve_for_memory(error)
                continue
            row += n
            if progress is not None and row > reported:
                reported = row
                progress(row, rows)
        if not ran_out:
            self._note_clean_decode()
        return out
