"""One method's run: its model, optimizer and sampler, one training step
(LIIF's recipe per sample: scale, crop, flips, antialiased bicubic LR
quantised to 8 bits, 2304 target pixels; or whole HR crops decoded as
lattices for DIIF) and its progress lines. What it saves and resumes from is
in training/run_state.py.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F

from inference import checkpoint, registry
from inference.geometry import Lattice, Region
from inference.methods.liif import NAME as LIIF

from . import run_state
from .data import DataSelection, ImagePool, Sampler
from .recipes import Recipe, learning_rate


@dataclass
class TrainConfig:
    """One method's run. `recipe` carries any overrides (batch, samples, ...)."""

    method: str
    recipe: Recipe
    out_dir: Path
    model_args: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    encoder_from: Path | None = None    # frozen encoder taken from this checkpoint or encoder file
    encoder_lr: float | None = None     # with encoder_from: fine-tune that encoder at this rate instead
    warm_start: Path | None = None      # LIIF checkpoint whose matching layers start the decoder
    continue_from: Path | None = None   # exported checkpoint of this method a new run continues from


def _format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class MethodRun:
    """A model, its optimizer and sampler, and the state that survives segments."""

    def __init__(self, config: TrainConfig, pool: ImagePool, data: DataSelection, amp: torch.dtype | None,
                 say: Callable[[str], None] = print) -> None:
        self.config = config
        self.method = config.method
        self.recipe = config.recipe
        self.out_dir = Path(config.out_dir)
        self.device = pool.device
        self.amp = amp
        self.say = say
        self.data = data
        torch.manual_seed(config.seed)
        self.model = registry.build(self.method, **config.model_args).to(self.device).train()
        if self.recipe.target == "lattice" and not hasattr(self.model, "forward_lattice"):
            raise NotImplementedError(f"{self.method}: its recipe decodes whole lattices, but the model has no "
                                      f"forward_lattice(lr, lattice) yet")
        self.encoder_info: dict[str, Any] | None = None
        self._encoder_copy: torch.nn.Module | None = None  # see _reduced_encoder
        self.warm_started: list[str] = []
        self.warm_start_source: str | None = None
        if config.encoder_from is not None:
            self._take_encoder(Path(config.encoder_from), config.encoder_lr)
        fused = self.device.type == "cuda"
        # The decoder's parameters come first, in model order, whether the
        # encoder is frozen or tuned: a frozen run's optimizer state then fits
        # a fine-tune that continues it.
        named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        groups: list[dict[str, Any]] = [{"params": [p for _, p in named]}]
        if self.encoder_tuned:
            groups = [{"params": [p for n, p in named if not n.startswith("encoder.")]},
                      {"params": [p for n, p in named if n.startswith("encoder.")]}]
        self.optimizer = torch.optim.Adam(groups, lr=self.recipe.learning_rate,
                                          betas=(0.9, 0.999), **({"fused": True} if fused else {}))
        self.scaler = torch.amp.GradScaler(self.device.type) if amp == torch.float16 else None
        self.sampler = Sampler(pool, seed=config.seed * 1_000_003 + sum(map(ord, self.method)))
        self.step = 0
        # Step at which Adam started without moments on trained weights: its
        # first updates are full-size whatever the gradient, so the rate ramps
        # up again over the recipe's warm-up from there.
        self.fresh_optimizer_at = 0
        self.target_steps: int | None = None
        self.seconds = 0.0           # training seconds over all segments
        self.devices: list[str] = []
        self.data_seen: list[dict[str, Any]] = []
        self.segments = 0
        run_state.resume(self)
        if self.step == 0 and config.warm_start is not None:
            self._warm_start(Path(config.warm_start))
        run_state.note_segment(self)
        # Progress since the last log line; the loss is summed on the device
        # so that no step waits for the GPU.
        self._loss_sum = torch.zeros((), device=self.device)
        self._loss_count = 0
        self._interval_start = time.monotonic()
        self._interval_steps = 0
        self.step_seconds = 0.0      # running estimate of one step's wall time
        self.last_loss = math.nan

    @property
    def encoder_frozen(self) -> bool:
        return self.encoder_info is not None and bool(self.encoder_info["frozen"])

    @property
    def encoder_tuned(self) -> bool:
        """A trained encoder (--encoder-from) fine-tuned with the decoder at its own low rate."""
        return self.encoder_info is not None and not self.encoder_info["frozen"]

    def _take_encoder(self, source: Path, tune_lr: float | None) -> None:
        """Load the trained encoder. Without `tune_lr` it is taken out of
        training: no gradients, eval mode, run once per batch under no_grad
        (`loss_on_batch`); with it, it trains beside the decoder at that rate."""
        shared = checkpoint.load_encoder(source)
        if shared.spec != self.model.encoder_spec:
            raise RuntimeError(f"{source.name}: holds a {shared.spec} encoder, but {self.method} is built with "
                               f"{self.model.encoder_spec}")
        try:
            self.model.encoder.load_state_dict({k: v.float() for k, v in shared.tensors.items()})
        except RuntimeError as error:
            raise RuntimeError(f"{source.name}: encoder weights do not fit: {str(error).splitlines()[0]}") from None
        self.encoder_info = {"frozen": tune_lr is None, "file": source.name, "sha256": shared.sha256,
                             "source": shared.provenance.get("source", source.name)}
        if tune_lr is None:
            self.model.encoder.requires_grad_(False).eval()
        else:
            if not tune_lr > 0:
                raise ValueError(f"the encoder's fine-tuning rate must be positive, got {tune_lr}")
            self.encoder_info["tuned"] = {"learning_rate": tune_lr, "from_step": 0}

    def _warm_start(self, source: Path) -> None:
        ck = checkpoint.load(source)
        if ck.method != LIIF:
            raise RuntimeError(f"--warm-start wants a LIIF checkpoint; {source.name} holds {ck.method!r}")
        liif = {k: v.float().to(self.device) for k, v in ck.state_dict.items() if k.startswith("imnet.")}
        self.warm_started = self.model.warm_start_from_liif(liif)
        self.warm_start_source = ck.provenance.get("source", source.name) if self.warm_started else None
        if self.warm_started:
            self.say(f"{self.method}: warm start from {source.name}: {len(self.warm_started)} tensors "
                     f"({', '.join(sorted({n.rsplit('.', 1)[0] for n in self.warm_started}))})")
        else:
            self.say(f"{self.method}: no layer matches LIIF's: starting from its paper's initialisation")

    # -- state (saved and resumed by training/run_state.py) ------------------------

    @property
    def total_steps(self) -> int:
        """The step this run is heading for (the recipe's full schedule unless told otherwise)."""
        return self.target_steps if self.target_steps is not None else self.recipe.total_steps

    def save(self) -> None:
        """Model checkpoint, then optimizer/RNG state (each written atomically)."""
        run_state.save(self)

    # -- one iteration -------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp)

    def _draw_scale(self) -> float:
        r = self.recipe
        if r.scales:
            return float(r.scales[int(torch.randint(len(r.scales), (1,), generator=self.sampler.host))])
        return r.scale_min + (r.scale_max - r.scale_min) * float(torch.rand(1, generator=self.sampler.host))

    def _sample_scales(self) -> list[float]:
        r = self.recipe
        if r.scales:
            # Every scale equally often in a batch (DIINN: each HR image at
            # every scale), starting at a random one.
            first = int(torch.randint(len(r.scales), (1,), generator=self.sampler.host))
            return [float(r.scales[(first + i) % len(r.scales)]) for i in range(r.batch)]
        return [self._draw_scale() for _ in range(r.batch)]

    def _features(self, lr: torch.Tensor) -> torch.Tensor:
        """Encoder features; a frozen encoder runs without building a graph."""
        if not self.encoder_frozen:
            return self.model.encode_normalised(lr)
        with torch.no_grad():
            if self.amp is None:
                return self.model.encode_normalised(lr)
            encoder = self._reduced_encoder()
            x = lr.to(self.amp).contiguous(memory_format=torch.channels_last)
            return encoder(x).contiguous()

    def _reduced_encoder(self) -> torch.nn.Module:
        """The frozen encoder with its weights cast once to the autocast dtype
        and laid out channels-last (oneDNN's fast layout for reduced-precision
        convolutions): the same convolutions autocast would run, without
        casting every weight on every call or converting every activation
        between layouts. Made on first use, after any resume has loaded the
        weights; the model's own fp32 encoder is what gets saved."""
        if self._encoder_copy is None:
            import copy

            reduced = copy.deepcopy(self.model.encoder).to(self.amp)
            # nn.Module.to takes memory_format at run time; its stubs do not say so.
            self._encoder_copy = reduced.to(memory_format=torch.channels_last).eval()  # type: ignore[call-overload]
        return self._encoder_copy

    def loss_on_batch(self) -> torch.Tensor:
        r = self.recipe
        if r.target == "points":
            points = self.sampler.points(r.batch, self._sample_scales(), r.lr_patch, r.samples)
            with self._autocast():
                pred = self.model.query_features(self._features(points.lr), points.coord, points.cell)
            return F.l1_loss(pred.float(), points.target)
        crops = self.sampler.lattice(r.batch, self._draw_scale(), r.hr_crop)
        h, w = crops.lr.shape[-2:]
        lattice = Lattice.from_region(Region.whole(w, h), crops.hr.shape[-1], crops.hr.shape[-2])
        # Lattice recipes' models have it (checked when the run was made).
        decode = cast(Callable[[torch.Tensor, Lattice], torch.Tensor], self.model.decode_lattice_features)
        with self._autocast():
            pred = decode(self._features(crops.lr), lattice)
        return F.l1_loss(pred.float(), crops.hr)

    def _ramp_from(self, start: int) -> float:
        """Factor of a rate ramping up linearly over the recipe's warm-up from step `start`."""
        if self.recipe.warmup <= 0:
            return 1.0
        return min(1.0, (self.step - start + 1) / self.recipe.warmup)

    def _rewarm(self) -> float:
        """Factor of the rate while a fresh optimizer ramps up on trained weights."""
        return self._ramp_from(self.fresh_optimizer_at) if self.fresh_optimizer_at > 0 else 1.0

    def _encoder_rate(self) -> float:
        """A tuned encoder's constant rate, ramped up over the recipe's warm-up
        from the step its tuning started or its optimizer was made afresh
        (Adam starts without its moments either way)."""
        assert self.encoder_info is not None
        tuned = self.encoder_info["tuned"]
        return float(tuned["learning_rate"]) * self._ramp_from(max(int(tuned["from_step"]), self.fresh_optimizer_at))

    def train_step(self) -> None:
        started = time.monotonic()
        decoder_group, *encoder_group = self.optimizer.param_groups
        decoder_group["lr"] = learning_rate(self.recipe, self.step) * self._rewarm()
        for group in encoder_group:
            group["lr"] = self._encoder_rate()
        self.optimizer.zero_grad(set_to_none=True)
        if self.encoder_frozen:
            self.model.encoder.eval()  # frozen: never back to training mode
        loss = self.loss_on_batch()
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        self.step += 1
        self._loss_sum += loss.detach()
        self._loss_count += 1
        self._interval_steps += 1
        # Host time of this step: on CUDA the queue is bounded, so in steady
        # state this is the device time too (also with several runs interleaved).
        elapsed = time.monotonic() - started
        self.seconds += elapsed
        # Exponential average: what the next step will probably take.
        self.step_seconds = elapsed if self.step_seconds == 0 else 0.9 * self.step_seconds + 0.1 * elapsed

    def start_clock(self) -> None:
        """Call right before the first step of a segment."""
        self._interval_start = time.monotonic()

    # -- reporting -----------------------------------------------------------------

    def flush_log(self, deadline: float | None) -> str | None:
        """Write a CSV row and return a progress line for the steps since the last call."""
        if self._loss_count == 0:
            return None
        loss = float(self._loss_sum) / self._loss_count  # waits for the device: only here
        now = time.monotonic()
        interval = max(now - self._interval_start, 1e-9)
        steps_per_s = self._interval_steps / interval
        images_per_s = steps_per_s * self.recipe.batch
        lr = float(self.optimizer.param_groups[0]["lr"])  # the rate of the last step
        self.last_loss = loss
        run_state.append_log_row(self.out_dir, [self.step, f"{loss:.6f}", f"{lr:.3e}", f"{self.seconds:.1f}",
                                                f"{images_per_s:.2f}"])
        self._loss_sum.zero_()
        self._loss_count = 0
        self._interval_steps = 0
        self._interval_start = now
        eta = (self.total_steps - self.step) / steps_per_s if steps_per_s > 0 else math.inf
        left = f", segment {_format_seconds(deadline - now)} left" if deadline is not None else ""
        if not math.isfinite(loss):
            raise FloatingPointError(f"{self.method}: loss became {loss} at step {self.step}")
        return (f"{self.method} step {self.step}/{self.total_steps} loss {loss:.4f} lr {lr:.2e} "
                f"{steps_per_s:.2f} it/s {images_per_s:.1f} img/s ETA {_format_seconds(eta)}{left}")

    def trim_log(self) -> None:
        """Drop log rows past the resumed step (written after the last save)."""
        run_state.trim_log(self.out_dir, self.step)
