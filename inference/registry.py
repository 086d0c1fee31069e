"""One registry: method name -> builder of its model (timm-style decorator).

Method modules register themselves on import; `inference.methods` imports them
all, so `build("diif", **args)` works after `import inference.methods`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn


@dataclass(frozen=True)
class MethodSpec:
    name: str
    display: str
    paper: str
    builder: Callable[..., nn.Module]


_METHODS: dict[str, MethodSpec] = {}


def register(name: str, display: str, paper: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _METHODS:
            raise ValueError(f"method {name!r} registered twice")
        _METHODS[name] = MethodSpec(name, display, paper, builder)
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


def build(name: str, **args: Any) -> nn.Module:
    return spec(name).builder(**args)
