"""Which reduced precision a device runs natively, decided at run time.

bf16 pays on a CPU only where the instruction set has it (AVX512-BF16 or AMX
on x86, BF16 on Arm): elsewhere torch emulates it and it is slower than fp32.
On CUDA, bf16 needs compute capability 8.0 (Ampere) or newer.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

import torch

# CPU feature flags (as Linux's /proc/cpuinfo names them) that give native bf16 arithmetic.
_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def _cpu_flags(cpuinfo: str) -> set[str]:
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return flags


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """True when this CPU does bf16 arithmetic in hardware. `cpuinfo` (the text of
    /proc/cpuinfo) is read from the system unless given (tests pass their own)."""
    if cpuinfo is None:
        return _system_cpu_has_native_bf16()
    return bool(_cpu_flags(cpuinfo) & _BF16_CPU_FLAGS)


@functools.lru_cache(maxsize=1)
def _system_cpu_has_native_bf16() -> bool:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        # No /proc (macOS, Windows): Apple M2 and later have bf16, but torch's
        # CPU kernels gain little there; fp32 is the safe default.
        return False
    if platform.machine().lower() not in ("x86_64", "amd64", "aarch64", "arm64"):
        return False
    return cpu_has_native_bf16(text)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` runs bf16 natively (and so faster than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


# ------------------------------------------------------------ the default

PRECISIONS = ("fp32", "bf16", "fp16")
# The most a reduced precision may change PSNR against fp32 (mean over a set,
# per scale) and still be a method's default.
PSNR_TOLERANCE_DB = 0.02


def default_precision(bf16_scope: str, device: torch.device, part: str = "decoder") -> str:
    """The fastest precision for `part` ("decoder" or "encoder") of a method on
    `device` that costs no visible quality: bf16 where the device runs it
    natively and the method's measured `bf16_scope` ("all", "decoder" or
    "none", as the method registered it: inference/registry.py) covers that
    part, else fp32."""
    covered = bf16_scope == "all" or (bf16_scope == "decoder" and part == "decoder")
    return "bf16" if covered and native_bf16(device) else "fp32"


def resolve_precision(requested: str | None, bf16_scope: str, device: torch.device, part: str = "decoder") -> str:
    """'auto' (or None): `default_precision` of that part of a method with this
    `bf16_scope`; else the named precision, checked."""
    if requested in (None, "", "auto"):
        return default_precision(bf16_scope, device, part)
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be auto, {', '.join(PRECISIONS)}; got {requested!r}")
    return requested


def torch_dtype(precision: str) -> torch.dtype:
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
