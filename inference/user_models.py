"""The user's own model files, known as methods: the one place that maps a
name ("model:RealESRGAN_x4plus", or the NAME of `evaluate --model NAME=FILE`)
to a network file that inference.external loads. `catalog.load_upscaler`,
`all_methods` and `display_name` consult it, so a user model is a method
like any other for the panes, exports, comparison sheets, reference-mode
scores, batch runs and `evaluate`.

Two files with the same stem get distinct names ("model:x", "model:x-2").
What a file loaded as (display name, native scale, `details()`) is recorded
here when it loads, for the labels and Help › Methods and Weights. The
render worker adds while the GUI thread reads: a lock guards the table.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import checkpoint, registry
from .external import ExternalUpscaler, load_external_model
from .external.resample import resampled_label

PREFIX = "model:"
# The file kinds inference.external reads (a dropped file of these kinds is a model).
SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt")
FILE_FILTER = "Models (*.safetensors *.pth);;All files (*)"
# The ExternalUpscaler options a caller may pass through load_upscaler; others (a learned method's) are not its.
_OPTIONS = ("tile", "max_margin")


@dataclass
class UserModel:
    name: str
    path: Path
    display: str  # the file's stem until it has loaded, then e.g. "x x4 (ESRGAN)"
    scale: int | None = None
    details: dict[str, Any] = field(default_factory=dict)  # ExternalUpscaler.details() once loaded

    @property
    def label(self) -> str:
        """The name without the prefix: what the display name starts with."""
        return self.name[len(PREFIX):] if self.name.startswith(PREFIX) else self.name


_MODELS: dict[str, UserModel] = {}
_LOCK = threading.Lock()


def is_model_file(path: str | Path) -> bool:
    """Whether `path` names a file kind a user model comes in (by its suffix)."""
    return Path(path).suffix.lower() in SUFFIXES


def is_project_checkpoint(path: str | Path) -> bool:
    """Whether `path` is one of this project's own checkpoints (its safetensors
    header says so): weights for a built-in method, not a network of the user's."""
    try:
        return checkpoint.read_metadata(path).get("format") in (checkpoint.FORMAT, checkpoint.ENCODER_FORMAT)
    except (OSError, ValueError):
        return False


def add(path: str | Path, name: str | None = None) -> str:
    """Know the file at `path` as a method and return its name: the name it
    already has, else `name`, else "model:<stem>" (with "-2", "-3" ... when
    another file has that stem). ValueError when `name` is taken or empty."""
    resolved = Path(path).expanduser().resolve()
    with _LOCK:
        for known in _MODELS.values():
            if known.path == resolved and (name is None or known.name == name):
                return known.name
        if name is not None:
            if not name.strip() or any(c in name for c in ",=") or name != name.strip():
                raise ValueError(f"a model's name must be a word without commas or '=', got {name!r}")
            if name in _MODELS or _registered(name):
                raise ValueError(f"the name {name!r} is taken; give the model another")
            chosen = name
        else:
            base = f"{PREFIX}{resolved.stem}"
            chosen, n = base, 2
            while chosen in _MODELS:
                chosen, n = f"{base}-{n}", n + 1
        entry = UserModel(chosen, resolved, "")
        entry.display = entry.label
        _MODELS[chosen] = entry
        return chosen


def _registered(name: str) -> bool:

    return name in registry.all_names()


def remove(name: str) -> None:
    with _LOCK:
        _MODELS.pop(name, None)


def clear() -> None:
    """Forget every user model (tests; a new process starts with none)."""
    with _LOCK:
        _MODELS.clear()


def names() -> list[str]:
    """The user models' names, in the order they were added."""
    with _LOCK:
        return list(_MODELS)


def is_user_model(name: str) -> bool:
    with _LOCK:
        return name in _MODELS


def get(name: str) -> UserModel:
    with _LOCK:
        if name not in _MODELS:
            raise KeyError(f"no model file is known as {name!r}")
        return _MODELS[name]


def find(path: str | Path) -> str | None:
    """The name the file at `path` is known by, if any."""
    resolved = Path(path).expanduser().resolve()
    with _LOCK:
        return next((m.name for m in _MODELS.values() if m.path == resolved), None)


def load(name: str, device: Any = None, precision: str | None = "auto", **options: Any) -> ExternalUpscaler:
    """Model `name` as an ExternalUpscaler on `device`, named `name` (and
    displayed after it); ExternalModelError (one line) when the file cannot be used."""
    entry = get(name)
    kept = {k: v for k, v in options.items() if k in _OPTIONS}
    upscaler = load_external_model(entry.path, device if device is not None else "auto", precision or "auto",
                                   **kept)
    upscaler.name = name
    r = upscaler.recognised
    upscaler.display = f"{entry.label} x{r.scale} ({r.architecture})"
    with _LOCK:
        entry.display, entry.scale, entry.details = upscaler.display, r.scale, upscaler.details()
    return upscaler


def paper(name: str) -> str:
    entry = get(name)
    architecture = entry.details.get("architecture")
    return f"{architecture} (spandrel), your model file" if architecture else "your model file (spandrel)"


def label_for(name: str, zoom: float) -> str:
    """A pane's label for model `name` at `zoom`: "x x4 (ESRGAN), resampled to x3.7" (see ExternalUpscaler)."""
    entry = get(name)
    return resampled_label(entry.display, entry.scale, zoom)
