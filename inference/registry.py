"""One registry: method name -> builder of its model (timm-style decorator).

Method modules register themselves on import; `inference.methods` imports them
all, so `build("diif", **args)` works after `import inference.methods`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, TypeVar

if TYPE_CHECKING:  # the methods import this module, so only for annotations
    from .methods.base import ImplicitSR

Builder = TypeVar("Builder", bound=Callable[..., "ImplicitSR"])


# Which parts of a method run in bf16 by default on a device that has it
# natively (inference/precision.py): "all" (encoder, features and decoder),
# "decoder" (fp32 encoder and features) or "none" (fp32). Each method's is the
# fastest that `main.py bench --precision-check` found within the PSNR
# tolerance on Set5 and Set14 at x2, x4 and x8 (benchmarks/results/README.md).
BF16_SCOPES = ("all", "decoder", "none")


@dataclass(frozen=True)
class MethodSpec:
    name: str
    display: str
    paper: str
    builder: Callable[..., ImplicitSR]
    bf16: str = "none"  # one of BF16_SCOPES


_METHODS: dict[str, MethodSpec] = {}


def register(name: str, display: str, paper: str, bf16: str = "none") -> Callable[[Builder], Builder]:
    if bf16 not in BF16_SCOPES:
        raise ValueError(f"bf16 must be one of {BF16_SCOPES}, got {bf16!r}")

    def wrap(builder: Builder) -> Builder:
        if name in _METHODS:
            raise ValueError(f"method {name!r} registered twice")
        _METHODS[name] = MethodSpec(name, display, paper, builder, bf16)
        return builder

    return wrap


def _ensure_loaded() -> None:
    from . import methods  # noqa: F401  (registers every method)


def method_names() -> list[str]:
    """Implicit (learned) methods, in registration order."""
    _ensure_loaded()
    return list(_METHODS)


def spec(name: str) -> MethodSpec:
    _ensure_loaded()
    if name not in _METHODS:
        raise KeyError(f"unknown method {name!r}; known: {', '.join(['bicubic', *_METHODS])}")
    return _METHODS[name]


def build(name: str, **args: Any) -> ImplicitSR:
    return spec(name).builder(**args)
