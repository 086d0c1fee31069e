"""A minimal stand-in for the few torchvision names spandrel 0.4.2 imports.

spandrel imports every architecture it knows when it is imported; two of them,
LaMa (inpainting) and RestoreFormer (face restoration), import
`torchvision.transforms.functional` for `InterpolationMode`, `rotate` and
`normalize` (read from spandrel's source). Neither is a super-resolution
network. Where `import torchvision` fails (e.g. a CPU build of torch beside
PyPI's CUDA torchvision wheels), these modules stand in while spandrel is
imported and are removed from `sys.modules` right after, so no other code sees
them; the two architectures are then refused (`STANDIN_ONLY_ARCHITECTURES`).
"""

from __future__ import annotations

import enum
import sys
import types
from collections.abc import Callable
from typing import Any

# Architectures whose code needs the real torchvision functions.
STANDIN_ONLY_ARCHITECTURES = frozenset({"LaMa", "RestoreFormer"})
_NAMES = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")


class InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


def _unavailable(name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"torchvision.transforms.functional.{name} is not available "
                           "(torchvision could not be imported; LaMa and RestoreFormer are unsupported)")
    return call


def build() -> dict[str, types.ModuleType]:
    root = types.ModuleType("torchvision", "stand-in: torchvision could not be imported")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.__dict__.update(InterpolationMode=InterpolationMode, rotate=_unavailable("rotate"),
                               normalize=_unavailable("normalize"))
    transforms.__dict__["functional"] = functional
    root.__dict__["transforms"] = transforms
    return dict(zip(_NAMES, (root, transforms, functional)))


def install() -> dict[str, types.ModuleType]:
    """Put the stand-in into sys.modules (dropping a half-imported torchvision); returns it for `remove`."""
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]
    modules = build()
    sys.modules.update(modules)
    return modules


def remove(modules: dict[str, types.ModuleType]) -> None:
    for name, module in modules.items():
        if sys.modules.get(name) is module:
            del sys.modules[name]
