"""The PSNR cost of reduced precision: each method evaluated in fp32 and in
each reduced precision through `evaluate_image` (the evaluator's own
protocol), per set and scale, with the time each took.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from inference.catalog import all_methods, is_interpolation, load_upscaler
from inference.precision import PSNR_TOLERANCE_DB
from inference.upscaler import Upscaler

from .bench_core import Loader, device_of
from .bench_report import BenchReport, PrecisionDelta

# What each name checked by `add_precision_check` loads, besides fp32.
PRECISION_VARIANTS: dict[str, dict[str, str]] = {
    "bf16": {"precision": "bf16"},  # encoder, features, decoder: all bf16
    "bf16-decoder": {"precision": "bf16", "encoder_precision": "fp32"},  # fp32 encoder and features
    "fp16": {"precision": "fp16"},
    "fp16-features": {"precision": "fp32", "feature_dtype": "fp16"},  # fp32 decode on fp16 features
}


def default_check_precisions(device: torch.device) -> list[str]:
    """The reduced precisions worth checking on `device`: fp16 only on CUDA."""
    cpu = ["bf16", "bf16-decoder"]
    return [*cpu, "fp16", "fp16-features"] if device.type == "cuda" else cpu


def add_precision_check(report: BenchReport, methods: list[str] | None, data_root: str | Path, *,
                        set_name: str | list[str] = "Set5", scales: list[float] | None = None,
                        precisions: list[str] | None = None, weights: dict[str, str] | None = None,
                        limit: int | None = None, loader: Loader = load_upscaler,
                        log: Callable[[str], None] = print) -> None:
    """PSNR change of each reduced precision against fp32, per method, set and
    scale, through `evaluate_image` (the evaluator's own protocol), with the
    time each took."""
    from inference.evaluate import evaluate_image, load_rgb8
    from inference.files import list_images

    dev = device_of(report)
    methods = [m for m in (methods or all_methods()) if not is_interpolation(m)]
    scales = scales or [2.0, 4.0, 8.0]
    precisions = precisions or default_check_precisions(dev)
    unknown = [p for p in precisions if p not in PRECISION_VARIANTS]
    if unknown:
        raise ValueError(f"unknown precision {', '.join(unknown)}; known: {', '.join(PRECISION_VARIANTS)}")
    sets: dict[str, list[tuple[str, np.ndarray]]] = {}
    for name in ([set_name] if isinstance(set_name, str) else list(set_name)):
        folder = Path(data_root) / name
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such benchmark set")
        paths = list_images(folder)[:limit] if limit else list_images(folder)
        sets[name] = [(p.name, load_rgb8(p)) for p in paths]

    def scores(up: Upscaler, images: list[tuple[str, np.ndarray]], s: float) -> tuple[list[float], float]:
        t0 = time.perf_counter()
        got = [evaluate_image(up, hr, s)[0] for _, hr in images]
        return got, time.perf_counter() - t0

    for method in methods:
        chosen = (weights or {}).get(method)
        base = loader(method, dev, weights=chosen, precision="fp32", feature_dtype="fp32", **report.options)
        trained = bool(base.weights.trained)
        reference = {(name, s): scores(base, images, s) for name, images in sets.items() for s in scales}
        for precision in precisions:
            try:
                half = loader(method, dev, weights=chosen, **PRECISION_VARIANTS[precision], **report.options)
            except ValueError as error:
                for name in sets:
                    for s in scales:
                        report.precision_check.append(PrecisionDelta(method, precision, s, 0, None, None, None, None,
                                                                     trained, note=str(error), set_name=name))
                log(f"  precision {method} {precision}: skipped ({error})")
                continue
            for name, images in sets.items():
                for s in scales:
                    ref, ref_s = reference[(name, s)]
                    got, seconds = scores(half, images, s)
                    deltas = [g - r for g, r in zip(got, ref)]
                    row = PrecisionDelta(method, precision, s, len(images), round(float(np.mean(ref)), 4),
                                         round(float(np.mean(got)), 4), round(float(np.mean(deltas)), 5),
                                         round(float(np.max(np.abs(deltas))), 5), trained,
                                         note="" if trained else "untrained weights: indicative only",
                                         set_name=name, fp32_s=round(ref_s, 2), seconds=round(seconds, 2))
                    report.precision_check.append(row)
                    log(f"  precision {method} {precision} {name} x{s:g}: {row.psnr_fp32:.3f} -> {row.psnr:.3f} dB "
                        f"(mean change {row.delta_db:+.4f}, max {row.max_abs_delta_db:.4f}; {ref_s:.1f} s -> "
                        f"{seconds:.1f} s) {'ok' if row.acceptable else 'NOT ok'} (<= {PSNR_TOLERANCE_DB} dB)")
