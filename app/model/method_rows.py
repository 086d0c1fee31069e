"""What Help › Methods and Weights says about each method, as plain data:
trained or not, source and licence, steps, stored metrics, where the weights
are expected and where the ones in use came from. Built from the WeightsInfo
that the catalog's load path gives (never by reading checkpoint files here).
No Qt: tested without a window."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.provenance import format_fields

NOT_STATED = "not stated"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def shown_path(path: str, root: Path = PROJECT_ROOT) -> str:
    """`path` relative to the project when inside it (short enough for a table cell), else as given."""
    if not path:
        return ""
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return path


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

    @property
    def learned(self) -> bool:
        return self.status != "interpolation"

    @property
    def can_load_weights(self) -> bool:
        return self.learned


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
    source = _first(prov, "source", "origin", "data") or weights.source
    if prov.get("data") and source != prov.get("data"):
        source = f"{source} (trained on {prov['data']})"
    licence = _first(prov, "licence", "license") or NOT_STATED
    steps = _first(prov, "steps", "iterations") or NOT_STATED
    used = loaded_from or (expected_text if expected is not None and Path(expected).name == weights.source else "")
    # Never more than the file's own measured figures claim (WeightsInfo.trained).
    status = "trained" if weights.trained else "in training"
    return MethodRow(name, display, status, source, licence, steps, format_metrics(dict(weights.metrics or {})),
                     expected_text, used or weights.source, paper)
