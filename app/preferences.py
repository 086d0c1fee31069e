"""What Edit › Preferences chooses: the device, the precision it runs in,
the render worker's threads and the cache sizes; stored in QSettings under
"preferences/". Validation and the choices a device allows live here, without
Qt, so they are tested without a window."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

DEVICES = ("auto", "cpu", "cuda")
DEVICE_LABELS = {"auto": "Automatic (CUDA when there is a GPU)", "cpu": "CPU", "cuda": "CUDA"}
PRECISION_LABELS = {"auto": "Automatic (bf16 for the methods it costs no PSNR, where the device has it)",
                    "fp32": "fp32 (exact)", "bf16": "bf16 for every method (faster where the device has it natively)"}
# Cache sizes (MiB) the dialog allows; the defaults are the Renderer's own.
TILE_CACHE_MB = (32, 16384, 512)
FEATURE_CACHE_MB = (64, 65536, 2048)
MAX_THREADS = max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Preferences:
    device: str = "auto"
    precision: str = "auto"  # inference/precision.py: each method's measured default
    worker_threads: int = 0  # 0: automatic (every core, at a lower priority)
    tile_cache_mb: int = TILE_CACHE_MB[2]
    feature_cache_mb: int = FEATURE_CACHE_MB[2]

    def upscaler_options(self) -> dict[str, Any]:
        """Options every learned method is built with (the catalog's load_upscaler keywords)."""
        # "auto" is the catalog's own default; fp32 is passed on, as "auto" may be bf16 for some methods.
        return {} if self.precision == "auto" else {"precision": self.precision}

    def threads(self) -> int | None:
        return self.worker_threads or None

    def tile_budget_bytes(self) -> int:
        return self.tile_cache_mb << 20

    def feature_budget_bytes(self) -> int:
        return self.feature_cache_mb << 20


def resolved_device(choice: str, cuda_available: bool) -> str:
    """'cpu' or 'cuda': what 'auto' means on this machine."""
    if choice == "auto":
        return "cuda" if cuda_available else "cpu"
    return choice


def precisions_for(device: str, native_bf16: Callable[[str], bool]) -> list[str]:
    """auto and fp32 always; bf16 only where `native_bf16(device)` says the device runs it natively."""
    return ["auto", "fp32", "bf16"] if native_bf16(device) else ["auto", "fp32"]


def _clamp_int(value: Any, lo: int, hi: int, default: int) -> int:
    try:
        return min(hi, max(lo, int(value)))
    except (TypeError, ValueError):
        return default


def validated(prefs: Preferences, cuda_available: bool, native_bf16: Callable[[str], bool]) -> Preferences:
    """`prefs` made usable here: CUDA without a GPU becomes auto (the CPU), a
    precision the device lacks becomes auto, numbers are brought into range."""
    device = prefs.device if prefs.device in DEVICES else "auto"
    if device == "cuda" and not cuda_available:
        device = "auto"
    precision = prefs.precision
    if precision not in precisions_for(resolved_device(device, cuda_available), native_bf16):
        precision = "auto"
    return Preferences(
        device, precision, _clamp_int(prefs.worker_threads, 0, MAX_THREADS, 0),
        _clamp_int(prefs.tile_cache_mb, TILE_CACHE_MB[0], TILE_CACHE_MB[1], TILE_CACHE_MB[2]),
        _clamp_int(prefs.feature_cache_mb, FEATURE_CACHE_MB[0], FEATURE_CACHE_MB[1], FEATURE_CACHE_MB[2]))


def load(get: Callable[[str], Any]) -> Preferences:
    """From stored values (`get(key)` -> value or None); missing ones take the defaults."""
    values: dict[str, Any] = {}
    for f in fields(Preferences):
        value = get(f"preferences/{f.name}")
        if value is not None:
            values[f.name] = str(value) if f.type in ("str", str) else value
    return replace(Preferences(), **values)


def stored(prefs: Preferences) -> dict[str, Any]:
    return {f"preferences/{k}": v for k, v in asdict(prefs).items()}
