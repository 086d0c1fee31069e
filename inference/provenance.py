"""A checkpoint's provenance and metrics as text, the same words wherever they
are shown (`main.py methods`, Help › Methods and Weights). Plain Python: no
torch, no Qt.

    format_fields({"psnr": 30.1234, "set5": {"x2": 38.0}})  -> "psnr 30.12; set5 x2 38"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Provenance fields shown first, in this order, when a checkpoint has them.
PROVENANCE_ORDER = ("data", "steps", "epoch", "device", "time", "seconds", "date", "source")


def format_value(value: Any) -> str:
    """Floats to 4 significant digits; a nested table as 'key value, key value'."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {format_value(v)}" for k, v in value.items())
    return str(value)


def format_fields(fields: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """'key value; key value' in the given order."""
    items = fields.items() if isinstance(fields, Mapping) else fields
    return "; ".join(f"{k} {format_value(v)}" for k, v in items)


def ordered_provenance(provenance: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The non-empty fields, PROVENANCE_ORDER's first, then the rest as stored."""
    first = [(k, provenance[k]) for k in PROVENANCE_ORDER if k in provenance and provenance[k] not in (None, "")]
    rest = [(k, v) for k, v in provenance.items() if k not in PROVENANCE_ORDER and v not in (None, "")]
    return first + rest
