"""`main.py methods`: every method, whether its weights are trained, where
they came from, what they measured, and the paper. Never imports Qt."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def describe(name: str) -> dict[str, Any]:
    """What is known about method `name` without building its model."""
    from inference import catalog, checkpoint, registry

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
    except Exception as error:  # any unreadable file: reported, not raised
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
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


def run(args: argparse.Namespace) -> int:
    from inference import catalog

    methods = [describe(name) for name in catalog.all_methods()]
    text = json.dumps(methods, indent=2, default=str) if args.json else format_text(methods)
    try:
        print(text, flush=True)
    except BrokenPipeError:  # e.g. piped into `head`: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
