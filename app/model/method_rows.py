"""What Help › Methods and Weights says about each method, as plain data:
trained or not, Set5 x4 PSNR, the weights file, and for the row picked the
details: PSNR/SSIM per data set and scale, the training data by name, who
trained the file and how, and the licence it is under. Built from the
WeightsInfo that the catalog's load path gives (never by reading checkpoint
files here). No Qt: tested without a window."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from inference.provenance import format_fields

NOT_STATED = "not stated"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The licence of weights this project's trainer made (training/run_state.py writes
# "recipe" and "minutes" into their provenance): the project's own, over the LIIF encoder's.
TRAINED_HERE_LICENCE = "MIT (trained by the Implicit Zoom developers), encoder BSD-3-Clause (LIIF release)"
TRAINED_HERE_BY = "the Implicit Zoom developers, with this project's trainer (training/)"
# Data-set folders known by name: a recorded folder whose path ends so is shown as its sets.
KNOWN_DATA_FOLDERS = {"shared/data/train": "BSDS200 + T91 + Sun-Hays80"}
# The metric keys of `evaluate` ("psnr_y/Set5/x4") and the sets and scales shown, in order.
SET_ORDER = ("Set5", "Set14", "B100", "Urban100", "DIV2K")
FLOOR_KEY = "psnr_y/Set5/x4"
MODEL_STATUS = "your model"


def shown_path(path: str, root: Path = PROJECT_ROOT) -> str:
    """`path` relative to the project when inside it (short enough for a table cell), else as given."""
    if not path:
        return ""
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return path


def data_name(recorded: str) -> str:
    """The training data as a user knows it: a known data-set folder by its
    sets' names ("BSDS200 + T91 + Sun-Hays80 (371 images)"), another folder by
    its last name only (never a development or absolute path), words as given."""
    text = recorded.strip()
    match = re.fullmatch(r"(.*?)\s*\((\d+) images\)", text)
    where, count = (match.group(1), match.group(2)) if match else (text, "")
    if "/" not in where and "\\" not in where:
        return text
    parts = [p for p in PurePosixPath(where.replace("\\", "/")).parts if p not in ("/", ".", "..")]
    name = next((label for folder, label in KNOWN_DATA_FOLDERS.items()
                 if "/".join(parts).endswith(folder)), parts[-1] if parts else where)
    return f"{name} ({count} images)" if count else name


def _trained_here(prov: dict[str, Any]) -> bool:
    return "recipe" in prov and "minutes" in prov


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _scale_order(scale: str) -> float:
    try:
        return float(scale.lstrip("x"))
    except ValueError:
        return math.inf


def metrics_grid(metrics: dict[str, Any]) -> list[list[str]]:
    """PSNR / SSIM (Y channel) per data set (rows) and scale (columns), the
    first row the scales; [] when the file stores none in `evaluate`'s keys."""
    cells: dict[tuple[str, str], dict[str, float]] = {}
    for key, value in metrics.items():
        parts = str(key).split("/")
        v = _number(value)
        if len(parts) == 3 and parts[0] in ("psnr_y", "ssim_y") and v is not None:
            cells.setdefault((parts[1], parts[2]), {})[parts[0]] = v
    if not cells:
        return []
    sets = sorted({s for s, _ in cells}, key=lambda s: (SET_ORDER.index(s) if s in SET_ORDER else len(SET_ORDER), s))
    scales = sorted({x for _, x in cells}, key=_scale_order)
    grid = [["", *scales]]
    for name in sets:
        row = [name]
        for scale in scales:
            cell = cells.get((name, scale), {})
            psnr, ssim = cell.get("psnr_y"), cell.get("ssim_y")
            row.append(" / ".join(t for t in (f"{psnr:.2f}" if psnr is not None else "",
                                              f"{ssim:.4f}" if ssim is not None else "") if t) or "\u2014")
        grid.append(row)
    return grid


def set5_x4(metrics: dict[str, Any]) -> str:
    """Set5 x4 PSNR (Y) as the table shows it ("32.25 dB"), or "—"."""
    v = _number(metrics.get(FLOOR_KEY, metrics.get("psnr_set5_x4")))
    return f"{v:.2f} dB" if v is not None else "\u2014"


def training_summary(prov: dict[str, Any]) -> str:
    """How the file was trained: steps, hours, device, recipe ("2463 steps, 3.1 h on the CPU: …")."""
    parts = []
    steps = prov.get("steps", prov.get("iterations"))
    if steps not in (None, ""):
        parts.append(f"{steps} steps")
    elif prov.get("epoch") not in (None, ""):
        parts.append(f"{prov['epoch']} epochs")
    minutes = _number(prov.get("minutes"))
    if minutes is not None:
        parts.append(f"{minutes / 60.0:.1f} h" + (f" on the {prov['device']}" if prov.get("device") else ""))
    text = ", ".join(parts)
    recipe = prov.get("recipe")
    if isinstance(recipe, str) and recipe:
        text = f"{text}: {recipe}" if text else recipe
    return text


@dataclass(frozen=True)
class MethodRow:
    name: str
    display: str
    status: str  # "interpolation", "trained", "in training", "untrained", "unusable", "checking…"
    source: str
    licence: str
    steps: str
    metrics: str
    expected_path: str  # "" for methods without weights
    loaded_from: str  # the file in use, "" when none
    paper: str
    problem: str = ""
    set5_x4: str = "\u2014"  # Set5 x4 PSNR (Y)
    data: str = ""  # the training data by name
    trained_by: str = ""
    training: str = ""  # steps, hours, recipe
    grid: list[list[str]] = field(default_factory=list)  # metrics_grid
    model: list[tuple[str, str]] = field(default_factory=list)  # a user's model file: (label, value) facts

    @property
    def learned(self) -> bool:
        return self.status != "interpolation"

    @property
    def can_load_weights(self) -> bool:
        return self.learned and self.status != MODEL_STATUS


def format_metrics(metrics: dict[str, Any]) -> str:
    """'psnr_div2k_x4 30.12; ssim 0.9012' (4 significant digits), or '—'."""
    return format_fields(metrics) if metrics else "\u2014"


def _first(provenance: dict[str, Any], *keys: str) -> str:
    for key in keys:
        v = provenance.get(key)
        if v not in (None, ""):
            return str(v)
    return ""


def method_row(name: str, display: str, paper: str, *, interpolation: bool, weights: Any | None,
               expected: Path | None, loaded_from: str | None = None, problem: str = "",
               checked: bool = True) -> MethodRow:
    """One row. `weights` is the method's WeightsInfo (None before it was
    loaded, or when it cannot be); `problem` says why it cannot be loaded;
    `checked` is False while the answer is still on its way."""
    expected_text = str(expected) if expected is not None else ""
    if interpolation:
        return MethodRow(name, display, "interpolation", "no weights (interpolation)", "\u2014", "\u2014",
                         "\u2014", "", "", paper)
    if problem:
        return MethodRow(name, display, "unusable", "\u2014", "\u2014", "\u2014", "\u2014", expected_text,
                         loaded_from or "", paper, problem)
    if weights is None:
        status = "checking\u2026" if not checked else "untrained"
        return MethodRow(name, display, status, "\u2014", "\u2014", "\u2014", "\u2014", expected_text,
                         loaded_from or "", paper)
    if not weights.trained and not weights.in_training:
        return MethodRow(name, display, "untrained", "random initialisation", "\u2014", "0",
                         "\u2014", expected_text, "", paper)
    prov = dict(weights.provenance or {})
    data = data_name(str(prov["data"])) if prov.get("data") else ""
    here = _trained_here(prov)
    source = str(prov.get("source") or prov.get("origin") or "")
    if not source and here:
        source = "trained here (see Training)"
    elif data:
        source = f"{source or weights.source} (trained on {data})"
    source = source or weights.source
    licence = _first(prov, "licence", "license") or (TRAINED_HERE_LICENCE if here else NOT_STATED)
    trained_by = _first(prov, "trained_by") or (TRAINED_HERE_BY if here else "")
    steps = _first(prov, "steps", "iterations") or (f"{prov['epoch']} epochs" if prov.get("epoch") else NOT_STATED)
    used = loaded_from or (expected_text if expected is not None and Path(expected).name == weights.source else "")
    # Never more than the file's own measured figures claim (WeightsInfo.trained).
    status = "trained" if weights.trained else "in training"
    metrics = dict(weights.metrics or {})
    return MethodRow(name, display, status, source, licence, steps, format_metrics(metrics),
                     expected_text, used or weights.source, paper, "", set5_x4(metrics), data, trained_by,
                     training_summary(prov), metrics_grid(metrics))


def model_facts(details: dict[str, Any]) -> list[tuple[str, str]]:
    """What the dialog says of a user's model file, from ExternalUpscaler.details():
    architecture, native scale, parameter count, sha256, path, how tiles join."""
    if not details:
        return []
    radius = details.get("receptive_radius")
    tiling = (f"seamless (exact: receptive radius {radius} px, margin {details.get('margin')} px)"
              if details.get("seamless") else
              f"approximate (a margin of {details.get('margin')} px around each tile)")
    return [("Architecture", str(details.get("architecture", ""))),
            ("Native scale", f"\u00d7{details.get('native_scale', '?')}"),
            ("Parameters", f"{int(details.get('parameters', 0)):,}"),
            ("SHA-256", str(details.get("sha256", ""))),
            ("File", str(details.get("file", ""))),
            ("Tiling", tiling),
            ("Runs in", f"{details.get('precision', '')} on {details.get('device', '')}"),
            ("Other zooms", str(details.get("resampling", "")))]


def model_row(name: str, display: str, path: str, details: dict[str, Any], problem: str = "") -> MethodRow:
    """The row of a user's model file (File › Load Model): `details` once the worker loaded it, else {}."""
    architecture = str(details.get("architecture", ""))
    paper = f"{architecture} (spandrel), your model file" if architecture else "your model file"
    status = "unusable" if problem else MODEL_STATUS if details else "checking\u2026"
    return MethodRow(name, display, status, path, NOT_STATED, "\u2014", "\u2014", "", path, paper, problem,
                     model=model_facts(details))
