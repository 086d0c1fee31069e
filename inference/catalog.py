"""Which methods exist, and where their weights are: the one place that turns a
method name into a ready `Upscaler`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

import resources

from . import checkpoint, registry
from .methods.bicubic import BicubicUpscaler
from .methods.nearest import NearestUpscaler
from .upscaler import ImplicitUpscaler, Upscaler, WeightsInfo, meets_trained_floor

WEIGHTS_DIR = resources.weights_dir()

# Methods without weights, beside the learned ones of the registry.
INTERPOLATIONS: dict[str, type[BicubicUpscaler] | type[NearestUpscaler]] = {
    "bicubic": BicubicUpscaler, "nearest": NearestUpscaler}


def all_methods() -> list[str]:
    return [*INTERPOLATIONS, *registry.method_names()]


def is_interpolation(name: str) -> bool:
    """True for the methods that have no weights (bicubic, nearest)."""
    return name in INTERPOLATIONS


def display_name(name: str) -> str:
    return INTERPOLATIONS[name].display if name in INTERPOLATIONS else registry.spec(name).display


def paper(name: str) -> str:
    """The paper (or, for an interpolation, the rule) a method follows."""
    return INTERPOLATIONS[name].paper if name in INTERPOLATIONS else registry.spec(name).paper


def expected_weights(name: str) -> Path:
    """Where a learned method's shipped weights are looked for."""
    return WEIGHTS_DIR / f"{name}.safetensors"


def shipped_weights(name: str) -> Path | None:
    path = expected_weights(name)
    return path if path.is_file() else None


def shipped_status(name: str) -> str:
    """'trained', 'in training' or 'untrained' for a learned method's shipped
    file, from its metadata alone (no model is built); 'trained' for the
    interpolations, which need no weights."""
    if is_interpolation(name):
        return "trained"
    path = shipped_weights(name)
    if path is None:
        return "untrained"
    try:
        metrics = json.loads(checkpoint.read_metadata(path).get("metrics", "{}"))
    except Exception:  # unreadable: loading it will say why
        return "untrained"
    return "trained" if meets_trained_floor(metrics) else "in training"


def load_upscaler(name: str, device: torch.device | str | None = None, weights: str | Path | None = None,
                  **options: Any) -> Upscaler:
    """`name` with the given weights file, else the shipped one, else random
    weights marked untrained. Raises CheckpointError for an unusable file."""
    if name in INTERPOLATIONS:
        return INTERPOLATIONS[name](device)
    spec = registry.spec(name)
    if weights is not None and not str(weights).strip():
        raise checkpoint.CheckpointError("the weights file name is empty (leave it out for the shipped weights)")
    path = Path(weights) if weights is not None else shipped_weights(name)
    if path is None:
        torch.manual_seed(0)
        model = registry.build(name)
        info = WeightsInfo(trained=False)
    else:
        ck = checkpoint.load(path)
        if ck.method != name:
            raise checkpoint.CheckpointError(f"{path.name} holds weights for {ck.method!r}, not {name!r}")
        try:
            model = ck.build()
        except checkpoint.CheckpointError as error:
            raise checkpoint.CheckpointError(f"{path.name}: {error}") from None
        info = WeightsInfo(trained=meets_trained_floor(ck.metrics), source=str(path.name),
                           provenance=ck.provenance, metrics=ck.metrics)
    return ImplicitUpscaler(model, info, device, display=spec.display, **options)
