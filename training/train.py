"""Training: the papers' recipes, resumable in short segments, several methods
interleaved on one device.

A run lives in one folder (`runs/<method>`):

- `last.safetensors`: the model in the project's checkpoint format
  (inference/checkpoint.py), fp32, with provenance (data, steps, minutes, device);
- `train_state.safetensors`: Adam's moment tensors and the samplers' random
  states as plain tensors, and everything else (step, training seconds, data
  seen, devices, loss scaler) as JSON in the file's metadata: no pickle;
- `log.csv`: step, loss, lr, seconds, images_per_s.

Running the same command again continues from the saved step; a run stops at
`steps` (the total, default the recipe's full schedule) or when the time
budget is nearly spent, leaving time to save. The learning rate is a pure
function of the step (halved every `halve_every` steps), so there is no
scheduler state to lose.

Batches are made on the training device from an in-memory pool of the
shard's images (training/data.py): LIIF's recipe per sample (scale, crop,
flips, antialiased bicubic LR quantised to 8 bits, 2304 target pixels), or
whole HR crops decoded as lattices for DIIF.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, cast

import torch
import torch.nn.functional as F
from safetensors import safe_open

from inference import checkpoint, registry
from inference.geometry import Lattice, Region
from inference.methods.liif import NAME as LIIF
from inference.precision import native_bf16
from inference.upscaler import device_label, pick_device

from .data import DataSelection, ImagePool, Sampler

STATE_FORMAT = "implicit-zoom-train/1"
MODEL_FILE = "last.safetensors"
STATE_FILE = "train_state.safetensors"
LOG_FILE = "log.csv"
LOG_COLUMNS = ("step", "loss", "lr", "seconds", "images_per_s")


@dataclass(frozen=True)
class Recipe:
    """How a method is trained. Defaults are LIIF's (methods.md, "Training recipe")."""

    paper: str
    batch: int = 16
    learning_rate: float = 1e-4
    halve_every: int = 200_000          # iterations between learning-rate halvings
    total_steps: int = 1_000_000        # 1000 epochs of 1000 iterations
    scale_min: float = 1.0              # s ~ U(scale_min, scale_max) ...
    scale_max: float = 4.0
    scales: tuple[float, ...] = ()      # ... unless a discrete set is given
    target: str = "points"              # "points": sampled HR pixels; "lattice": whole HR crops
    lr_patch: int = 48                  # points: LR side; the HR crop is round(lr_patch * s)
    samples: int = 2304                 # points: target pixels per sample
    hr_crop: int = 192                  # lattice: HR crop side (the LR side is floor(hr_crop / s))
    warmup: int = 0                     # steps of linear learning-rate warm-up from 0


# Each method's recipe: LIIF's unless its paper says otherwise.
RECIPES: dict[str, Recipe] = {
    # LIIF (Chen et al., CVPR 2021, Sec. 4.1): s ~ U(1, 4), 48x48 LR, 2304 pixels,
    # batch 16, Adam 1e-4 halved every 200 epochs of 1000 iterations, 1000 epochs.
    "liif": Recipe(paper="LIIF, Chen et al. 2021, Sec. 4.1 (methods.md: Training recipe)"),
    # IPE-LIIF (001, "Training and inference details"): the same as LIIF.
    "ipe-liif": Recipe(paper="IPE-LIIF, Liu et al., Sec. 5 'Training and inference details': as LIIF"),
    # DIINN (000, Sec. 4.2): s in {2, 3, 4} for every HR image, 4 HR images per
    # minibatch -> 12 LR/HR pairs; 48s x 48s crops; Adam 1e-4 halved every 200 epochs.
    "diinn": Recipe(paper="DIINN, Nguyen & Beksi, Sec. 4.2: s in {2,3,4}, 4 images x 3 scales = 12 pairs",
                    batch=12, scales=(2.0, 3.0, 4.0)),
    # LIIF-SIREN (004, Sec. 4.3): lr halved every 120 epochs, 600 epochs.
    "liif-siren": Recipe(paper="LIIF+SIREN, Jiang, Sec. 4.3: lr halved every 120 epochs, 600 epochs",
                         halve_every=120_000, total_steps=600_000),
    # A-LIIF (003, Sec. 4.2 / methods.md): as LIIF with batch 8.
    "a-liif": Recipe(paper="A-LIIF, Li et al., Sec. 4.2: as LIIF, batch 8", batch=8),
    # DIIF (002, Sec. 4.1): s from {2, 2.5, 3, 3.5, 4} per iteration, 192x192 HR
    # crops decoded whole, flips and 90-degree rotations, batch 16, lr halved every 2e5.
    "diif": Recipe(paper="DIIF, He & Jin, Sec. 4.1: s in {2,...,4} step 0.5 per iteration, 192x192 HR crops",
                   scales=(2.0, 2.5, 3.0, 3.5, 4.0), target="lattice"),
}


# Training a decoder alone on a frozen, already trained encoder converges with
# a higher rate than the papers' joint training from scratch (measured:
# ../shared/reference/training-notes.md, Adam 1e-4 / 5e-4 / 1e-3 at 1,680 steps
# gave 29.73 / 30.26 / 30.78 dB on Set5 x4), and warm-started layers need a short
# warm-up so that Adam's first steps do not throw them away. The schedule is
# shortened to what CPU training can reach (~10,000 steps per method): past
# ~1,500 steps 5e-4 only makes the weights wander. Measured on IPE-LIIF from
# its step-1,500 state, 90 more steps at 5e-4 / 2e-4 / 1e-4 gave 31.73 /
# 32.04 / 32.06 dB on Set5 x4 (benchmarks/results/lr-ab-2026-12-01.md).
DECODER_ONLY = {"learning_rate": 5e-4, "halve_every": 1_000, "total_steps": 10_000, "warmup": 200}
DECODER_ONLY_BY_METHOD: dict[str, dict[str, Any]] = {
    # DIIF decodes whole HR crops; 192^2 (the paper's) is 16x LIIF's 2304 sampled
    # pixels per sample. On the frozen encoder 96^2 keeps a DIIF step as cheap as a
    # LIIF step while still holding several slices per LR pixel at every scale.
    "diif": {"hr_crop": 96},
    # Sine layers (w0 = 30) amplify every weight step: from its step-1,464 state,
    # 76 steps at 5e-4 / 1e-4 reached a loss of 0.102 / 0.055 on the same
    # batches and 25.32 / 28.82 dB on Set5 x4.
    "liif-siren": {"learning_rate": 1e-4},
}


def recipe_for(method: str, frozen_encoder: bool = False) -> Recipe:
    """The method's paper recipe; with `frozen_encoder`, with the decoder-only schedule."""
    if method not in RECIPES:
        raise KeyError(f"no training recipe for {method!r}; known: {', '.join(RECIPES)}")
    recipe = RECIPES[method]
    if frozen_encoder:
        recipe = replace(recipe, paper=recipe.paper + "; decoder only on the frozen LIIF-release encoder",
                         **{**DECODER_ONLY, **DECODER_ONLY_BY_METHOD.get(method, {})})
    return recipe


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


@dataclass
class Budget:
    """When to stop: a total step count per run and/or a wall-clock deadline."""

    steps: int | None = None            # total steps (None: the recipe's total)
    seconds: float | None = None        # wall-clock seconds from `started`
    started: float = field(default_factory=time.monotonic)
    save_every: float = 120.0           # seconds between safety saves
    log_every: int = 100                # steps between progress lines


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """auto: bf16 where the device runs it natively (CUDA Ampere+, CPUs with
    AVX512-BF16 / AMX / Arm BF16), fp32 elsewhere."""
    if amp == "auto":
        return torch.bfloat16 if native_bf16(device) else None
    if amp == "off":
        return None
    if amp in ("bf16", "fp16"):
        return torch.bfloat16 if amp == "bf16" else torch.float16
    raise ValueError(f"amp must be auto, bf16, fp16 or off, got {amp!r}")


def learning_rate(recipe: Recipe, step: int) -> float:
    """The rate for iteration `step` (0-based): a linear warm-up over `warmup`
    steps, then halved every `halve_every`."""
    ramp = min(1.0, (step + 1) / recipe.warmup) if recipe.warmup > 0 else 1.0
    return recipe.learning_rate * ramp * 0.5 ** (step // recipe.halve_every)


def _format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
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
        self._resume()
        if self.step == 0 and config.warm_start is not None:
            self._warm_start(Path(config.warm_start))
        self._note_segment()
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

    # -- state -------------------------------------------------------------------

    @property
    def total_steps(self) -> int:
        """The step this run is heading for (the recipe's full schedule unless told otherwise)."""
        return self.target_steps if self.target_steps is not None else self.recipe.total_steps

    def _note_segment(self) -> None:
        self.segments += 1
        label = device_label(self.device)
        if label not in self.devices:
            self.devices.append(label)
        entry = {"source": self.data.source, "shard": self.data.shard_index, "shards": self.data.shard_count,
                 "images": len(self.data.paths)}
        if entry not in self.data_seen:
            self.data_seen.append(entry)

    def data_description(self) -> str:
        """E.g. 'shared/data/train shards 0, 1 of 3 (247 images)'."""
        parts = []
        for source in dict.fromkeys(e["source"] for e in self.data_seen):
            entries = [e for e in self.data_seen if e["source"] == source]
            whole = [e["images"] for e in entries if not e["shards"]]
            if whole:  # the whole set was used at some point
                parts.append(f"{source} ({max(whole)} images)")
                continue
            # Shards of one split are disjoint: their images add up.
            shards = sorted({(e["shards"], e["shard"]): e["images"] for e in entries}.items())
            names = ", ".join(f"{k} of {n}" for (n, k), _ in shards)
            parts.append(f"{source} shard{'s' if len(shards) > 1 else ''} {names} "
                         f"({sum(count for _, count in shards)} images)")
        return "; ".join(parts)

    def provenance(self) -> dict[str, Any]:
        recipe = self.recipe.paper
        if self.encoder_tuned:
            assert self.encoder_info is not None
            tuned = self.encoder_info["tuned"]
            recipe += f"; from step {tuned['from_step']} the encoder fine-tuned with it at {tuned['learning_rate']:g}"
        return {"data": self.data_description(), "steps": self.step, "minutes": round(self.seconds / 60.0, 2),
                "device": ", ".join(self.devices), "recipe": recipe,
                "batch": self.recipe.batch, "amp": {None: "off", torch.bfloat16: "bf16",
                                                      torch.float16: "fp16"}[self.amp],
                "segments": self.segments,
                "learning_rate": {"peak": self.recipe.learning_rate, "warmup": self.recipe.warmup,
                                  "halve_every": self.recipe.halve_every},
                **({"encoder": self.encoder_info} if self.encoder_info else {}),
                **({"warm_start": {"from": self.warm_start_source, "tensors": self.warm_started}}
                   if self.warm_started else {})}

    def save(self) -> None:
        """Model checkpoint, then optimizer/RNG state (each written atomically)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        checkpoint.save(self.out_dir / MODEL_FILE, self.model, self.method, self.config.model_args,
                        provenance=self.provenance())
        tensors: dict[str, torch.Tensor] = {}
        for index, slots in self.optimizer.state_dict()["state"].items():
            for key, value in slots.items():
                tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
        for key, value in self.sampler.state().items():
            tensors[f"rng.{key}"] = value.cpu().contiguous()
        info = {"format": STATE_FORMAT, "method": self.method, "model_args": self.config.model_args,
                "step": self.step, "fresh_optimizer_at": self.fresh_optimizer_at,
                "seconds": self.seconds, "segments": self.segments,
                "devices": self.devices, "data_seen": self.data_seen, "rng_device": self.device.type,
                "recipe": asdict(self.recipe),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None}
        checkpoint.save_safetensors_atomic(tensors, self.out_dir / STATE_FILE, {"state": json.dumps(info)})

    def _resume(self) -> None:
        model_path, state_path = self.out_dir / MODEL_FILE, self.out_dir / STATE_FILE
        if not model_path.is_file():
            if state_path.is_file():
                raise RuntimeError(f"{state_path} exists without {MODEL_FILE}: remove it to start afresh")
            if self.config.continue_from is None or not Path(self.config.continue_from).is_file():
                return
            # A fresh machine has no runs/: continue from the exported (shipped)
            # weights and their step count rather than from step 0.
            model_path = Path(self.config.continue_from)
        ck = checkpoint.load(model_path)
        if ck.method != self.method:
            raise RuntimeError(f"{self.out_dir} holds a {ck.method!r} run, not {self.method!r}: use another --out")
        if ck.args != self.config.model_args:
            raise RuntimeError(f"{self.out_dir} was trained with model arguments {ck.args}, not "
                               f"{self.config.model_args}: use the same ones or another --out")
        checkpoint.check_fits(self.model, ck.state_dict)
        self.model.load_state_dict({k: v.float() for k, v in ck.state_dict.items()})
        model_steps = int(ck.provenance.get("steps", 0))
        info: dict[str, Any] = {}
        tensors: dict[str, torch.Tensor] = {}
        if state_path.is_file():
            with safe_open(str(state_path), "pt") as handle:
                info = json.loads((handle.metadata() or {}).get("state", "{}"))
                tensors = {k: handle.get_tensor(k) for k in handle.keys()}
            if info.get("format") != STATE_FORMAT:
                raise RuntimeError(f"{state_path}: not a training state file")
        if self.encoder_info is not None:
            frozen = ck.provenance.get("encoder") or {}
            if frozen.get("sha256") != self.encoder_info["sha256"]:
                raise RuntimeError(f"{self.out_dir} was trained with encoder {frozen.get('file', 'its own')}, not "
                                   f"{self.encoder_info['file']}: use the same --encoder-from or another --out")
            if self.encoder_frozen and frozen.get("frozen") is False:
                raise RuntimeError(f"{model_path} was trained with its encoder fine-tuned: resume with "
                                   f"--encoder-lr or use another --out")
            if self.encoder_tuned:
                # The rate of this segment is the one recorded; where the
                # tuning started survives resumes.
                earlier = frozen.get("tuned") or {}
                self.encoder_info["tuned"]["from_step"] = int(earlier.get("from_step", model_steps))
        elif ck.provenance.get("encoder"):
            raise RuntimeError(f"{self.out_dir} was trained on the frozen encoder {ck.provenance['encoder']['file']}: "
                               f"resume with --encoder-from")
        self.warm_started = list((ck.provenance.get("warm_start") or {}).get("tensors", []))
        self.warm_start_source = (ck.provenance.get("warm_start") or {}).get("from")
        self.seconds = float(info.get("seconds", ck.provenance.get("minutes", 0.0) * 60.0))
        self.segments = int(info.get("segments", ck.provenance.get("segments", 0)))
        self.devices = list(info.get("devices", []))
        self.data_seen = list(info.get("data_seen", []))
        if int(info.get("step", -1)) != model_steps:
            # Interrupted between the two writes (or the state file is gone, or
            # this continues an exported file): keep the weights, start the
            # optimizer afresh and ramp its rate up again (see fresh_optimizer_at).
            if model_path == Path(self.config.continue_from or ""):
                self.say(f"{self.method}: continuing from {model_path.name} at step {model_steps} "
                         f"with a fresh optimizer")
            else:
                self.say(f"{self.method}: training state does not match the checkpoint ({info.get('step')} vs "
                         f"{model_steps} steps): continuing from the weights with a fresh optimizer")
            self.step = model_steps
            self.fresh_optimizer_at = model_steps
            return
        self.step = model_steps
        self.fresh_optimizer_at = int(info.get("fresh_optimizer_at", 0))
        optimizer_state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optimizer."):
                _, index, slot = key.split(".", 2)
                optimizer_state.setdefault(int(index), {})[slot] = value
        if optimizer_state:
            current = self.optimizer.state_dict()
            self.optimizer.load_state_dict({"state": optimizer_state, "param_groups": current["param_groups"]})
        rng = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith("rng.")}
        if rng and info.get("rng_device") == self.device.type:
            self.sampler.set_state(rng)
        else:
            # Another kind of device: its generator state does not transfer.
            # Reseed from the step so the data differ from the first segment's.
            self.sampler.host.manual_seed(self.config.seed * 7919 + self.step)
            self.sampler.on_device.manual_seed(self.config.seed * 7919 + self.step + 1)
        if self.scaler is not None and info.get("scaler"):
            self.scaler.load_state_dict(info["scaler"])

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
        path = self.out_dir / LOG_FILE
        new = not path.is_file()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(LOG_COLUMNS)
            writer.writerow([self.step, f"{loss:.6f}", f"{lr:.3e}", f"{self.seconds:.1f}", f"{images_per_s:.2f}"])
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
        path = self.out_dir / LOG_FILE
        if not path.is_file():
            return
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        if not rows:
            return
        kept = [rows[0]] + [row for row in rows[1:] if row and int(row[0]) <= self.step]
        if len(kept) != len(rows):
            with path.open("w", newline="") as handle:
                csv.writer(handle).writerows(kept)


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of returning
    it to the system. A training step allocates and frees the same large
    activations every time; by default glibc maps each one afresh and the
    kernel zero-fills it page by page (measured: ~105,000 page faults and
    ~10 % of a LIIF step's CPU time, down to ~1,200). Returns False where
    this is not glibc (nothing changes there)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    # Both values are C ints: 1 GiB, far above any activation of a step.
    return bool(mallopt(m_mmap_threshold, 1 << 30)) & bool(mallopt(m_trim_threshold, 1 << 30))


def configure_device(device: torch.device) -> None:
    """Fast defaults: on the CPU, freed activations are kept for the next
    step; on CUDA, TF32 matmuls for the fp32 parts and cuDNN autotuning (the
    LR size is fixed, so tuning pays off)."""
    if device.type == "cpu":
        keep_freed_memory()
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def train(configs: Sequence[TrainConfig], data: DataSelection, budget: Budget, device: str | torch.device = "auto",
          amp: str = "auto", say: Callable[[str], None] = print) -> list[MethodRun]:
    """Train every config (round-robin, one step each) on one device until each
    reaches its step target or the time budget runs out; save and return the runs."""
    dev = device if isinstance(device, torch.device) else pick_device(device)
    configure_device(dev)
    amp_dtype = resolve_amp(amp, dev)
    if amp_dtype is not None and dev.type == "cpu" and amp_dtype == torch.float16:
        raise ValueError("fp16 mixed precision needs CUDA; on the CPU use bf16 or off")
    load_start = time.monotonic()
    pool = ImagePool(data.paths, dev)
    say(f"data: {data.description}: {len(pool)} images, {pool.pixels / 1e6:.1f} MP, "
        f"{pool.nbytes / 2**20:.0f} MiB on {device_label(dev)} ({time.monotonic() - load_start:.1f} s)")
    runs = [MethodRun(c, pool, data, amp_dtype, say) for c in configs]
    deadline = budget.started + budget.seconds if budget.seconds is not None else None
    for run in runs:
        run.target_steps = budget.steps
    targets = {id(r): r.total_steps for r in runs}
    for run in runs:
        run.trim_log()
        state = "resuming at step" if run.step else "starting at step"
        say(f"{run.method}: {state} {run.step} -> {targets[id(run)]} in {run.out_dir} "
            f"(batch {run.recipe.batch}, {sum(p.numel() for p in run.model.parameters()) / 1e6:.2f} M parameters)")
    active = [r for r in runs if r.step < targets[id(r)]]
    for run in active:
        run.start_clock()
    with _stop_requests() as stop:
        stopped_by_time = _train_loop(runs, active, targets, budget, deadline, say, stop)
    for run in runs:
        line = run.flush_log(deadline)
        if line:
            say(line)
        run.save()
        why = ("stop signal" if stop.requested else "time budget") if stopped_by_time and \
            run.step < targets[id(run)] else "step target"
        say(f"{run.method}: saved step {run.step} to {run.out_dir} ({why}; {run.seconds / 60:.1f} min trained)")
    return runs


class _StopRequest:
    requested = False


@contextlib.contextmanager
def _stop_requests() -> Iterator[_StopRequest]:
    """SIGTERM, SIGHUP and SIGINT end a long run after the current step, with
    every run saved (a background job stopped with `kill` loses nothing)."""
    stop = _StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request(signum: int, frame: Any) -> None:
        stop.requested = True

    previous = {sig: signal.signal(sig, request) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
                if hasattr(signal, sig.name)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _train_loop(runs: list[MethodRun], active: list[MethodRun], targets: dict[int, int], budget: Budget,
                deadline: float | None, say: Callable[[str], None], stop: _StopRequest) -> bool:
    """Round-robin steps until every run reaches its target (False) or the
    deadline or a stop signal comes first (True)."""
    save_seconds = 2.0  # until measured
    last_save = time.monotonic()
    while active:
        for run in list(active):
            if stop.requested:
                return True
            if deadline is not None:
                # Leave room for this step and for saving every run.
                room = deadline - time.monotonic()
                if room < 1.5 * run.step_seconds + 2.0 * save_seconds * len(runs) + 1.0:
                    return True
            run.train_step()
            if run.step % budget.log_every == 0 or run.step == targets[id(run)]:
                line = run.flush_log(deadline)
                if line:
                    say(line)
            if run.step >= targets[id(run)]:
                active.remove(run)
        if time.monotonic() - last_save > budget.save_every:
            t = time.monotonic()
            for run in runs:
                run.save()
            save_seconds = max(save_seconds, (time.monotonic() - t) / len(runs))
            last_save = time.monotonic()
    return False


def export(run_dir: str | Path, dest: str | Path, metrics: dict[str, Any] | None = None) -> Path:
    """The shipped fp16 checkpoint of a run, with its provenance and (measured) metrics."""
    ck = checkpoint.load(Path(run_dir) / MODEL_FILE)
    if int(ck.provenance.get("steps", 0)) <= 0:
        raise ValueError(f"{run_dir}: nothing trained yet")
    model = ck.build()
    provenance = dict(ck.provenance)
    provenance["exported"] = time.strftime("%Y-%m-%d %H:%M:%S")
    dest = Path(dest)
    # A decoder trained on a frozen shared encoder references that file (stored
    # once) when it sits beside the destination; save() checks they are equal.
    frozen = provenance.get("encoder") or {}
    encoder_file = dest.parent / frozen["file"] if frozen.get("frozen") else None
    if encoder_file is not None and not encoder_file.is_file():
        raise ValueError(f"{run_dir} was trained on the frozen encoder {frozen['file']}, which is not in "
                         f"{dest.parent}: export beside it")
    checkpoint.save(dest, model, ck.method, ck.args, provenance=provenance,
                    metrics={**ck.metrics, **(metrics or {})}, half=True, encoder_file=encoder_file)
    return dest


def with_overrides(recipe: Recipe, **overrides: Any) -> Recipe:
    """The recipe with the given fields replaced (None leaves one as is)."""
    return replace(recipe, **{k: v for k, v in overrides.items() if v is not None})


def metrics_from_report(path: str | Path, method: str) -> dict[str, float]:
    """PSNR/SSIM of one method from an evaluation JSON (inference/evaluate.py),
    keyed like 'psnr_y/Set5/x4'."""
    report = json.loads(Path(path).read_text())
    out: dict[str, float] = {}
    for cell in report.get("results", []):
        if cell.get("method") == method:
            out[f"psnr_y/{cell['set']}/x{cell['scale']:g}"] = round(float(cell["psnr"]), 3)
            out[f"ssim_y/{cell['set']}/x{cell['scale']:g}"] = round(float(cell["ssim"]), 4)
    if not out:
        raise ValueError(f"{path}: no results for {method!r}")
    return out


@dataclass
class StepTiming:
    """Seconds per training step of one method in one configuration."""

    method: str
    config: str
    batch: int
    pixels_per_step: int
    wall_s: float
    cpu_s: float

    @property
    def samples_per_s(self) -> float:
        return self.batch / self.wall_s if self.wall_s > 0 else math.nan


def time_steps(method: str, data: DataSelection, *, frozen_encoder: Path | None, amp: str, steps: int = 5,
               warmup: int = 2, device: str = "cpu", keep_memory: bool = True,
               out_dir: Path | None = None) -> StepTiming:
    """Median wall and CPU seconds of `steps` training steps at the method's
    recipe batch, after `warmup` untimed ones; nothing is saved."""
    import tempfile

    dev = pick_device(device)
    if keep_memory and dev.type == "cpu":
        keep_freed_memory()
    pool = ImagePool(data.paths, dev)
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(method, recipe_for(method, frozen_encoder=frozen_encoder is not None),
                             Path(out_dir or tmp) / method, encoder_from=frozen_encoder)
        run = MethodRun(config, pool, data, resolve_amp(amp, dev), say=lambda _line: None)
        for _ in range(warmup):
            run.train_step()
        walls, cpus = [], []
        for _ in range(steps):
            wall, cpu = time.perf_counter(), time.process_time()
            run.train_step()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    r = run.recipe
    pixels = r.samples if r.target == "points" else r.hr_crop * r.hr_crop
    name = ("frozen encoder" if frozen_encoder is not None else "joint") + f", amp {amp}"
    return StepTiming(method, name, r.batch, r.batch * pixels, sorted(walls)[len(walls) // 2],
                      sorted(cpus)[len(cpus) // 2])
