"""Encoder architectures (one per file) and their registry."""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from .edsr import EDSRBaseline
from .rdn import RDN

ENCODERS: dict[str, Callable[..., nn.Module]] = {
    "edsr-baseline": EDSRBaseline,
    "rdn": RDN,
}


def build_encoder(name: str, **args: Any) -> nn.Module:
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; known: {', '.join(ENCODERS)}")
    return ENCODERS[name](**args)
