"""One registry of every method (timm-style decorators): the interpolations
(an `Upscaler` class each: bicubic, nearest) and the learned implicit methods
(a model builder each), with what the application says about them: display
name, paper, where the shipped weights are looked for, which parts run in bf16.

The registry imports nothing from `inference` at run time (methods.base for an
annotation only, which imports no method): each method module registers
itself when imported. `inference.methods` imports every learned method (and
anything that builds or loads a model imports it), `inference.interpolations`
both interpolations; `inference.catalog` imports the two, so after importing
the catalog every method is here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import resources

if TYPE_CHECKING:  # what a builder returns; methods.base imports no method and not this module
    from .methods.base import ImplicitSR

# The interpolation the viewer previews with and flips back to: the baseline.
BASELINE = "bicubic"
# The method the command line uses when none is named: the one shipped trained.
DEFAULT_METHOD = "liif"
# Where shipped weights are looked for (tests point it elsewhere).
WEIGHTS_DIR = resources.weights_dir()


class Interpolation(Protocol):
    """What the registry reads off an interpolation's Upscaler class."""

    name: str
    display: str
    paper: str


Builder = TypeVar("Builder", bound=Callable[..., "ImplicitSR"])
InterpolationClass = TypeVar("InterpolationClass", bound=type[Interpolation])


# Which parts of a method run in bf16 by default on a device that has it
# natively (inference/precision.py): "all" (encoder, features and decoder),
# "decoder" (fp32 encoder and features) or "none" (fp32). Each method's is the
# fastest that `main.py bench --precision-check` found within the PSNR
# tolerance on Set5 and Set14 at x2, x4 and x8 (benchmarks/results/README.md).
BF16_SCOPES = ("all", "decoder", "none")


@dataclass(frozen=True)
class MethodSpec:
    """A method: `builder` (a learned method's model) or `upscaler` (an
    interpolation's Upscaler class, which needs no weights)."""

    name: str
    display: str
    paper: str
    builder: Callable[..., ImplicitSR] | None = None
    upscaler: Callable[..., Any] | None = None  # (device) -> upscaler.Upscaler
    # Where an interpolation is listed among the interpolations (bicubic, the
    # baseline, first), whichever module was imported first.
    order: int = 0
    bf16: str = "none"  # one of BF16_SCOPES; interpolation has no precision choice

    @property
    def learned(self) -> bool:
        return self.builder is not None

    @property
    def default_weights(self) -> Path | None:
        """Where a learned method's shipped weights are looked for (None: no weights)."""
        return WEIGHTS_DIR / f"{self.name}.safetensors" if self.learned else None

    @property
    def shipped_weights(self) -> Path | None:
        """The shipped weights file, if there is one."""
        path = self.default_weights
        return path if path is not None and path.is_file() else None


_METHODS: dict[str, MethodSpec] = {}


def _add(spec: MethodSpec) -> None:
    if spec.name in _METHODS:
        raise ValueError(f"method {spec.name!r} registered twice")
    _METHODS[spec.name] = spec


def register(name: str, display: str, paper: str, bf16: str = "none") -> Callable[[Builder], Builder]:
    """Decorator for a learned method's model builder."""
    if bf16 not in BF16_SCOPES:
        raise ValueError(f"bf16 must be one of {BF16_SCOPES}, got {bf16!r}")

    def wrap(builder: Builder) -> Builder:
        _add(MethodSpec(name, display, paper, builder=builder, bf16=bf16))
        return builder

    return wrap


def register_interpolation(order: int) -> Callable[[InterpolationClass], InterpolationClass]:
    """Decorator for an interpolation's Upscaler class (its `name`, `display`
    and `paper` class attributes describe it), listed at `order` among them."""

    def wrap(cls: InterpolationClass) -> InterpolationClass:
        _add(MethodSpec(cls.name, cls.display, cls.paper, upscaler=cls, order=order))
        return cls

    return wrap


def all_names() -> list[str]:
    """Every method: the interpolations, then the learned ones, each in registration order."""
    interpolations = sorted((s for s in _METHODS.values() if not s.learned), key=lambda s: s.order)
    return [s.name for s in interpolations] + method_names()


def method_names() -> list[str]:
    """Implicit (learned) methods, in registration order."""
    return [n for n, s in _METHODS.items() if s.learned]


def spec(name: str) -> MethodSpec:
    if name not in _METHODS:
        raise KeyError(f"unknown method {name!r}; known: {', '.join(all_names())}")
    return _METHODS[name]


def is_interpolation(name: str) -> bool:
    """True for a registered method that has no weights (bicubic, nearest)."""
    return name in _METHODS and not _METHODS[name].learned


def bf16_scope(name: str) -> str:
    """Which parts of method `name` run in bf16 by default where the device has
    it natively (one of BF16_SCOPES; inference/precision.py applies it); "none"
    for a name the registry does not know."""
    return _METHODS[name].bf16 if name in _METHODS else "none"


def build(name: str, **args: Any) -> ImplicitSR:
    """Method `name`'s model built with `args`."""
    builder = spec(name).builder
    if builder is None:
        raise KeyError(f"{name!r} is an interpolation: it has no model to build")
    return builder(**args)
