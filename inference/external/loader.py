"""Reading a user's super-resolution network file and recognising it with spandrel.

The file is read here, never by spandrel: `.safetensors` through safetensors,
`.pth` / `.pt` / `.ckpt` through `torch.load(weights_only=True)` (tensors and
plain containers only; a pickled object of any other kind is refused before
anything in it runs; TorchScript is never loaded). spandrel then only sees a
state dict and says which architecture it is.
"""

from __future__ import annotations

import hashlib
import importlib
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from inference.errors import first_line

from . import _torchvision_standin

INSTALL_HINT = "pip install -e '.[models]'"
# Where torch is a local CPU build, the extra's dependencies would pull a torchvision built for another torch.
CPU_TORCH_HINT = "pip install --no-deps spandrel==0.4.2 einops"
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
# Containers a training framework wraps the weights in (BasicSR, Lightning, ...).
WRAPPER_KEYS = ("params_ema", "params-ema", "params", "state_dict", "model_state_dict", "model", "net", "netG")
COMMON_PREFIXES = ("module.", "netG.", "model.module.")


class ExternalModelError(ValueError):
    """A model file that cannot be used; the message is one line naming why."""


@dataclass(frozen=True)
class Recognised:
    """What spandrel made of a state dict, with the file it came from."""

    descriptor: Any  # spandrel.ImageModelDescriptor
    path: Path
    sha256: str
    architecture: str  # spandrel's display name, e.g. "ESRGAN"
    architecture_id: str  # spandrel's id, e.g. "ESRGAN"
    scale: int
    input_channels: int
    output_channels: int
    multiple_of: int
    supports_half: bool
    supports_bfloat16: bool
    parameters: int
    tags: tuple[str, ...]
    tiling: str


_spandrel: Any = None
_standin_used = False


def import_spandrel() -> Any:
    """The spandrel module; one line naming the install command when it is missing.
    Where torchvision cannot be imported, spandrel is imported over a stand-in
    (see _torchvision_standin) that is removed again right after."""
    global _spandrel, _standin_used
    if _spandrel is not None:
        return _spandrel
    standin = None
    try:
        importlib.import_module("torchvision")
    except Exception:  # noqa: BLE001 - ImportError, or a torchvision built for another torch raising at import
        standin = _torchvision_standin.install()
    try:
        module = importlib.import_module("spandrel")
    except ImportError as error:
        if error.name is not None and error.name.split(".")[0] != "spandrel":
            raise ExternalModelError(f"spandrel could not be imported ({error}); {INSTALL_HINT}") from error
        raise ExternalModelError(f"loading your own model needs spandrel, which is not installed: {INSTALL_HINT} "
                                 f"(with a local CPU build of torch: {CPU_TORCH_HINT})") from error
    finally:
        if standin is not None:
            _torchvision_standin.remove(standin)
    _spandrel, _standin_used = module, standin is not None
    return module


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _refused_global(error: BaseException) -> str:
    found = re.search(r"GLOBAL ([\w.]+)", str(error))
    return found.group(1) if found else type(error).__name__


def read_weights(path: Path) -> dict[str, Any]:
    """The file's top-level dict, read without running anything it holds."""
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            return dict(load_file(str(path), device="cpu"))
        except Exception as error:
            raise ExternalModelError(f"{path.name} is not a readable .safetensors file ({error})") from error
    if suffix in PICKLE_SUFFIXES:
        try:
            data = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            raise ExternalModelError(
                f"{path.name} holds a pickled object other than tensors ({_refused_global(error)}): refused, "
                "only plain weights are read (re-save its state_dict, or as .safetensors)") from error
        except Exception as error:
            first = first_line(error)
            raise ExternalModelError(f"{path.name} could not be read as PyTorch weights ({first})") from error
        if not isinstance(data, dict):
            raise ExternalModelError(f"{path.name} holds a {type(data).__name__}, not a dict of weights")
        return data
    raise ExternalModelError(f"{path.name}: expected a .safetensors or .pth file, got {suffix or 'no suffix'!r}")


def unwrap_state_dict(data: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The tensors of a state dict, out of the containers training code wraps them in."""
    for _ in range(3):
        inner = next((data[k] for k in WRAPPER_KEYS if isinstance(data.get(k), dict)), None)
        if inner is None and len(data) == 1 and isinstance(next(iter(data.values())), dict):
            inner = next(iter(data.values()))
        if inner is None:
            break
        data = inner
    tensors = {str(k): v for k, v in data.items() if isinstance(v, torch.Tensor)}
    for prefix in COMMON_PREFIXES:
        if tensors and all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix):]: v for k, v in tensors.items()}
    return tensors


def _first_keys(state: dict[str, Any], n: int = 4) -> str:
    keys = list(state)[:n]
    more = ", ..." if len(state) > n else ""
    return ", ".join(keys) + more


def recognise(path: str | Path) -> Recognised:
    """Read `path` and let spandrel recognise it; an ExternalModelError (one
    line) for anything that is not a fixed-scale image super-resolution network."""
    path = Path(path)
    if not path.is_file():
        raise ExternalModelError(f"no model file at {path}")
    spandrel = import_spandrel()
    state = unwrap_state_dict(read_weights(path))
    if not state:
        raise ExternalModelError(f"{path.name} holds no tensors")
    try:
        descriptor = spandrel.ModelLoader(device="cpu").load_from_state_dict(state)
    except spandrel.UnsupportedModelError as error:
        raise ExternalModelError(
            f"{path.name}: unknown architecture (spandrel {spandrel.__version__} recognises none; "
            f"{len(state)} tensor{'' if len(state) == 1 else 's'}, first keys: {_first_keys(state)})") from error
    except Exception as error:
        first = first_line(error)
        raise ExternalModelError(f"{path.name}: the weights do not build a known architecture ({first})") from error
    arch = descriptor.architecture
    arch_id, arch_name = str(arch.id), str(arch.name)
    if _standin_used and arch_id in _torchvision_standin.STANDIN_ONLY_ARCHITECTURES:
        raise ExternalModelError(f"{path.name} is {arch_name}, which needs torchvision (not importable here)")
    purpose = str(descriptor.purpose)
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or purpose != "SR":
        raise ExternalModelError(f"{path.name} is a {arch_name} {purpose} model (x{descriptor.scale}), "
                                 "not an image super-resolution network")
    if int(descriptor.scale) < 2:
        raise ExternalModelError(f"{path.name} is {arch_name} at scale {descriptor.scale}: not super-resolution")
    channels = (int(descriptor.input_channels), int(descriptor.output_channels))
    if channels not in ((3, 3), (1, 1)):
        raise ExternalModelError(f"{path.name}: {arch_name} takes {channels[0]} channels and gives {channels[1]}; "
                                 "only RGB (3 -> 3) and grey (1 -> 1) networks are supported")
    requirements = descriptor.size_requirements
    return Recognised(
        descriptor=descriptor, path=path.resolve(), sha256=file_sha256(path), architecture=arch_name,
        architecture_id=arch_id, scale=int(descriptor.scale), input_channels=channels[0],
        output_channels=channels[1], multiple_of=int(requirements.multiple_of),
        supports_half=bool(descriptor.supports_half), supports_bfloat16=bool(descriptor.supports_bfloat16),
        parameters=sum(p.numel() for p in descriptor.model.parameters()), tags=tuple(descriptor.tags),
        tiling=str(descriptor.tiling.name))
