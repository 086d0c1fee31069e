"""Checkpoints that describe themselves.

The project's format is one `.safetensors` file: the weights, plus a metadata
header holding JSON for the method, its architecture arguments, provenance
(training data, steps, time, device) and measured metrics. Loading builds the
model from the registry with those arguments and refuses weights that do not
fit, naming the tensor.

The public LIIF checkpoints (`edsr-baseline-liif.pth`, `rdn-liif.pth`) are
imported with `torch.load(weights_only=True)`: no arbitrary unpickling.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from . import registry

FORMAT = "implicit-zoom/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why."""


@dataclass
class Checkpoint:
    method: str
    args: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def build(self) -> nn.Module:
        """The model with these weights, after checking they fit: first on
        torch's shape-only "meta" device, so that arguments declaring a huge
        model are refused before any memory is taken for it."""
        if not isinstance(self.args, dict):
            raise CheckpointError(f"checkpoint's arguments do not fit method {self.method!r}: "
                                  f"expected a JSON object, got {type(self.args).__name__}")
        with torch.device("meta"):
            check_fits(self._construct(), self.state_dict)
        model = self._construct()
        check_fits(model, self.state_dict)
        bad = next((k for k, v in self.state_dict.items() if v.is_floating_point() and not torch.isfinite(v).all()),
                   None)
        if bad is not None:
            raise CheckpointError(f"tensor {bad!r} holds NaN or infinite values (a diverged or damaged checkpoint)")
        model.load_state_dict({k: v.float() for k, v in self.state_dict.items()})
        return model

    def _construct(self) -> nn.Module:
        try:
            return registry.build(self.method, **self.args)
        except KeyError as error:
            raise CheckpointError(f"checkpoint names an unknown method: {error.args[0]}") from None
        except Exception as error:  # the arguments come from the file: any failure of them is the file's
            raise CheckpointError(f"checkpoint's arguments do not fit method {self.method!r}: "
                                  f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from None


def check_fits(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    extra = [k for k in state_dict if k not in expected]
    if missing:
        raise CheckpointError(f"weights do not fit the declared architecture: tensor {missing[0]!r} is missing"
                              + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    if extra:
        raise CheckpointError(f"weights do not fit the declared architecture: unexpected tensor {extra[0]!r}"
                              + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    for key, ref in expected.items():
        if tuple(state_dict[key].shape) != tuple(ref.shape):
            raise CheckpointError(f"weights do not fit the declared architecture: tensor {key!r} has shape "
                                  f"{tuple(state_dict[key].shape)}, expected {tuple(ref.shape)}")


def save(path: str | Path, model: nn.Module, method: str, args: dict[str, Any], *,
         provenance: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
         half: bool = False) -> None:
    """Write atomically (temporary file, then rename)."""
    path = Path(path)
    tensors = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
               for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "method": method, "args": json.dumps(args),
            "provenance": json.dumps(provenance or {}), "metrics": json.dumps(metrics or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors_atomic(tensors, path, meta)


def save_safetensors_atomic(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Write to a temporary file beside `path`, then rename: never a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        return dict(handle.metadata() or {})


def load(path: str | Path) -> Checkpoint:
    """Read a checkpoint of either format; raises CheckpointError with a
    message that says what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.suffix == ".pth" or path.suffix == ".pt":
        return import_liif(path)
    try:
        meta = read_metadata(path)
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path.name}: not a readable safetensors file ({error})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path.name}: not an Implicit Zoom checkpoint (metadata format is {meta.get('format')!r})")
    try:
        args = json.loads(meta.get("args", "{}"))
        provenance = json.loads(meta.get("provenance", "{}"))
        metrics = json.loads(meta.get("metrics", "{}"))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path.name}: corrupt metadata ({error})") from None
    return Checkpoint(meta.get("method", ""), args, tensors, provenance, metrics)


_LIIF_ENCODERS = {"edsr-baseline": ("edsr-baseline", {}), "rdn": ("rdn", {})}


def import_liif(path: str | Path) -> Checkpoint:
    """A public LIIF `.pth` (layout in methods.md), loaded weights-only."""
    path = Path(path)
    try:
        raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"{path.name}: refused: it holds objects other than weights, and only "
                              f"weights-only loading is allowed ({str(error).splitlines()[0]})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as error:
        raise CheckpointError(f"{path.name}: not a readable torch checkpoint ({error})") from None
    try:
        model = raw["model"]
        name = model["name"]
        margs = model["args"]
        sd = model["sd"]
        enc_name = margs["encoder_spec"]["name"]
    except (KeyError, TypeError):
        raise CheckpointError(f"{path.name}: not in the public LIIF layout {{'model': {{'name', 'args', 'sd'}}}}") from None
    if name != "liif":
        raise CheckpointError(f"{path.name}: model {name!r} is not LIIF")
    if enc_name not in _LIIF_ENCODERS:
        raise CheckpointError(f"{path.name}: unknown encoder {enc_name!r}")
    encoder, encoder_args = _LIIF_ENCODERS[enc_name]
    hidden = margs.get("imnet_spec", {}).get("args", {}).get("hidden_list", [256, 256, 256, 256])
    args = {"encoder_spec": {"name": encoder, "args": encoder_args}, "hidden": list(hidden)}
    # Mean-shift layers of the original EDSR/RDN are unused without an upsampler.
    weights = {k: v for k, v in sd.items() if "sub_mean" not in k and "add_mean" not in k}
    provenance = {"source": path.name, "data": "DIV2K (public LIIF release)",
                  "epoch": raw.get("epoch") if isinstance(raw.get("epoch"), int) else None}
    return Checkpoint("liif", args, weights, provenance, {})
