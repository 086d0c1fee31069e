"""Training: the papers' recipes (training/recipes.py), resumable in short
segments (training/run_state.py), several methods interleaved on one device.

This module is the loop: each run (training/run.py) takes one step in turn
until it reaches `steps` (the total, default the recipe's full schedule) or
the time budget is nearly spent, leaving time to save; every run is saved
every `save_every` seconds and at the end, also when SIGTERM, SIGHUP or
SIGINT asks the loop to stop. Re-running the same command continues from the
saved step.

Batches are made on the training device from an in-memory pool of the
shard's images (training/data.py).
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from inference.precision import native_bf16
from inference.upscaler import device_label, pick_device

from .data import DataSelection, ImagePool
from .recipes import recipe_for
from .run import MethodRun, TrainConfig


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
