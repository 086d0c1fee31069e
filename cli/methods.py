"""`main.py methods`: every method, whether its weights are trained, where
they came from, what they measured, and the paper. Never imports Qt."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="everything known, machine-readable")
    parser.add_argument("--long", action="store_true",
                        help="every method's provenance, metrics and paper in full, instead of the table")


def describe(name: str) -> dict[str, Any]:
    """What is known about method `name` without building its model."""
    from inference import catalog, checkpoint, registry
    from inference.errors import first_line

    if catalog.is_interpolation(name):
        return {"name": name, "display": catalog.display_name(name), "paper": catalog.paper(name), "learned": False,
                "trained": None, "weights": None, "provenance": {}, "metrics": {}, "problem": None,
                "expected_weights": None}
    spec = registry.spec(name)
    info: dict[str, Any] = {"name": name, "display": spec.display, "paper": spec.paper, "learned": True,
                            "trained": False, "weights": None, "provenance": {}, "metrics": {}, "problem": None,
                            "expected_weights": str(catalog.expected_weights(name))}
    path = catalog.shipped_weights(name)
    if path is None:
        return info
    info["weights"] = str(path)
    try:
        meta = checkpoint.read_metadata(path)
        info["provenance"] = json.loads(meta.get("provenance", "{}"))
        info["metrics"] = json.loads(meta.get("metrics", "{}"))
        if meta.get("method") not in (None, name):
            raise ValueError(f"it holds weights for {meta.get('method')!r}")
        info["trained"] = catalog.shipped_status(name) == "trained"
        info["in_training"] = not info["trained"]
    except Exception as error:  # noqa: BLE001 - any unreadable file: reported, not raised
        reason = first_line(error)
        info["problem"] = f"{Path(path).name} cannot be used ({reason})"
    return info


def format_text(methods: list[dict[str, Any]]) -> str:
    from inference.provenance import format_fields, ordered_provenance
    from inference.weights import WeightsInfo

    lines: list[str] = []
    width = max(len(m["name"]) for m in methods) + 2
    pad = " " * width
    for m in methods:
        if not m["learned"]:
            status = "interpolation, no weights"
        elif m["problem"]:
            status = f"UNUSABLE WEIGHTS: {m['problem']}"
        elif m["trained"]:
            status = f"trained: {m['weights']}"
        elif m.get("in_training"):
            status = WeightsInfo(False, Path(m["weights"]).name, m["provenance"], m["metrics"]).summary
        else:
            status = "untrained: random weights, output is not a result"
        lines.append(f"{m['name']:<{width}}{m['display']}: {status}")
        if m.get("expected_weights") and not m["weights"]:
            lines.append(f"{pad}weights would be read from {m['expected_weights']}")
        if m["provenance"]:
            lines.append(f"{pad}provenance: {format_fields(ordered_provenance(m['provenance']))}")
        if m["metrics"]:
            lines.append(f"{pad}metrics: {format_fields(m['metrics'])}")
        lines.append(f"{pad}paper: {m['paper']}")
    return "\n".join(lines)


TABLE_COLUMNS = ("method", "state", "steps", "Set5 x4", "precision here", "file")


def precision_here(name: str) -> str:
    """The precision a method runs in by default on this machine's CPU (see inference/precision.py)."""
    from inference import registry
    from inference.precision import cpu_has_native_bf16

    try:
        scope = registry.spec(name).bf16
    except KeyError:  # an interpolation: float32 arithmetic, no model
        return "fp32"
    if scope == "none" or not cpu_has_native_bf16():
        return "fp32"
    return "bf16" if scope == "all" else "bf16 decoder, fp32 encoder"


def table_rows(methods: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for m in methods:
        if not m["learned"]:
            state, steps, figure, file = "interpolation", "", "", ""
        else:
            state = ("unusable" if m["problem"] else "trained" if m["trained"]
                     else "in training" if m.get("in_training") else "untrained")
            provenance = m["provenance"]
            steps = (f"{provenance['steps']:,}" if isinstance(provenance.get("steps"), int)
                     else f"{provenance['epoch']:,} epochs" if isinstance(provenance.get("epoch"), int) else "")
            value = m["metrics"].get("psnr_y/Set5/x4")
            figure = f"{value:.2f} dB" if isinstance(value, (int, float)) else ""
            file = Path(m["weights"]).name if m["weights"] else "(none)"
        rows.append((str(m["name"]), state, steps, figure, precision_here(m["name"]), file))
    return rows


def format_table(methods: list[dict[str, Any]]) -> str:
    rows = [TABLE_COLUMNS, *table_rows(methods)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("precision here: on this machine's CPU (bf16 only where it runs natively).")
    lines.append("main.py methods --long: provenance, metrics and papers; --json: everything.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from inference import catalog

    methods = [describe(name) for name in catalog.all_methods()]
    if args.json:
        text = json.dumps(methods, indent=2, default=str)
    else:
        text = format_text(methods) if args.long else format_table(methods)
    try:
        print(text, flush=True)
    except BrokenPipeError:  # e.g. piped into `head`: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
