"""Releasing a run: the shipped fp16 checkpoint of a run folder, with its
provenance and the metrics measured on it (from an evaluation report).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from inference import checkpoint

from .run_state import MODEL_FILE


def export(run_dir: str | Path, dest: str | Path, metrics: dict[str, Any] | None = None) -> Path:
    """The shipped fp16 checkpoint of a run, with its provenance and (measured) metrics."""
    ck = checkpoint.load(Path(run_dir) / MODEL_FILE)
    if int(ck.provenance.get("steps", 0)) <= 0:
        raise ValueError(f"{run_dir}: nothing trained yet")
    unmeasured = [k for k, v in (metrics or {}).items() if isinstance(v, float) and not math.isfinite(v)]
    if unmeasured:
        raise ValueError(f"{', '.join(unmeasured)}: not a measured figure (NaN or infinite)")
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


def metrics_from_report(path: str | Path, method: str) -> dict[str, float]:
    """PSNR/SSIM of one method from an evaluation JSON (inference/evaluate.py),
    keyed like 'psnr_y/Set5/x4'."""
    report = json.loads(Path(path).read_text())
    out: dict[str, float] = {}
    for cell in report.get("results", []):
        if cell.get("method") == method:
            psnr, ssim = float(cell["psnr"]), float(cell["ssim"])
            if not (math.isfinite(psnr) and math.isfinite(ssim)):
                raise ValueError(f"{path}: {method} on {cell['set']} x{cell['scale']:g} has PSNR {psnr}, SSIM "
                                 f"{ssim}: not a measured figure")
            out[f"psnr_y/{cell['set']}/x{cell['scale']:g}"] = round(psnr, 3)
            out[f"ssim_y/{cell['set']}/x{cell['scale']:g}"] = round(ssim, 4)
    if not out:
        raise ValueError(f"{path}: no results for {method!r}")
    return out

