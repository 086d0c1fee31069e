"""Methods made ready to use: the one place that turns a method name, or a
weights file, into an `Upscaler`. What each method is (display name, paper,
shipped weights) is the registry's (inference/registry.py); importing this
module registers every method there (the learned ones and the
interpolations). The functions below that only ask the registry are kept for
the application's many callers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from . import checkpoint, interpolations, methods, registry, user_models  # noqa: F401  (those two register all)
from .upscaler import ImplicitUpscaler, Upscaler
from .weights import WeightsInfo, meets_trained_floor


def all_methods() -> list[str]:
    """Every registered method, then the user's own model files (inference.user_models)."""
    return registry.all_names() + user_models.names()


def is_interpolation(name: str) -> bool:
    """True for the methods that have no weights (bicubic, nearest)."""
    return registry.is_interpolation(name)


def display_name(name: str) -> str:
    if user_models.is_user_model(name):
        return user_models.get(name).display
    return registry.spec(name).display


def paper(name: str) -> str:
    """The paper (or, for an interpolation, the rule) a method follows."""
    if user_models.is_user_model(name):
        return user_models.paper(name)
    return registry.spec(name).paper


def expected_weights(name: str) -> Path:
    """Where a learned method's shipped weights are looked for."""
    if user_models.is_user_model(name):
        raise KeyError(f"{name!r} is your own model file: it has no shipped weights")
    path = registry.spec(name).default_weights
    if path is None:
        raise KeyError(f"{name!r} is an interpolation: it has no weights")
    return path


def shipped_weights(name: str) -> Path | None:
    if user_models.is_user_model(name):
        return None
    return registry.spec(name).shipped_weights


def shipped_status(name: str) -> str:
    """'trained', 'in training' or 'untrained' for the shipped weights, from
    the file's metadata alone (no model is built); 'trained' for an
    interpolation, which needs no weights, and for a user's model file."""
    if user_models.is_user_model(name):
        return "trained"
    spec = registry.spec(name)
    if not spec.learned:
        return "trained"
    path = spec.shipped_weights
    if path is None:
        return "untrained"
    try:
        metrics = json.loads(checkpoint.read_metadata(path).get("metrics", "{}"))
    except Exception:  # noqa: BLE001 - unreadable: loading it will say why
        return "untrained"
    return "trained" if meets_trained_floor(metrics) else "in training"


def from_checkpoint(ck: checkpoint.Checkpoint, path: str | Path, device: torch.device | str | None = None,
                    **options: Any) -> Upscaler:
    """The upscaler a read checkpoint describes: its method's model with its
    weights. Raises CheckpointError for a method not registered or weights
    that do not fit."""
    path = Path(path)
    if ck.method not in registry.method_names():
        raise checkpoint.CheckpointError(f"{path.name}: it names an unknown method {ck.method!r}")
    try:
        model = ck.build()
    except checkpoint.CheckpointError as error:
        raise checkpoint.CheckpointError(f"{path.name}: {error}") from None
    info = WeightsInfo(trained=meets_trained_floor(ck.metrics), source=str(path.name),
                       provenance=ck.provenance, metrics=ck.metrics)
    return ImplicitUpscaler(model, info, device, display=registry.spec(ck.method).display, **options)


def load_upscaler(name: str, device: torch.device | str | None = None, weights: str | Path | None = None,
                  **options: Any) -> Upscaler:
    """`name` with the given weights file, else the shipped one, else random
    weights marked untrained; the file is read once. Raises CheckpointError
    for an unusable file. A user's model file (inference.user_models) is
    loaded from its file, with `precision` (ExternalModelError, a ValueError, when unusable)."""
    if user_models.is_user_model(name):
        if weights is not None:
            raise checkpoint.CheckpointError(f"{name} is a model file of its own: it takes no other weights")
        return user_models.load(name, device, **options)
    spec = registry.spec(name)
    if spec.upscaler is not None:
        return spec.upscaler(device)
    if weights is not None and not str(weights).strip():
        raise checkpoint.CheckpointError("the weights file name is empty (leave it out for the shipped weights)")
    path = Path(weights) if weights is not None else spec.shipped_weights
    if path is None:
        torch.manual_seed(0)
        return ImplicitUpscaler(registry.build(name), WeightsInfo(trained=False), device, display=spec.display,
                                **options)
    ck = checkpoint.load(path)
    if ck.method != name:
        raise checkpoint.CheckpointError(f"{path.name} holds weights for {ck.method!r}, not {name!r}")
    return from_checkpoint(ck, path, device, **options)

