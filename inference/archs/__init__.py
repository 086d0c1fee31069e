"""Encoder architectures (one per file) and their registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .edsr import EDSRBaseline
from .encoder import Encoder
from .rdn import RDN

ENCODERS: dict[str, Callable[..., Encoder]] = {
    "edsr-baseline": EDSRBaseline,
    "rdn": RDN,
}


def build_encoder(name: str, **args: Any) -> Encoder:
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; known: {', '.join(ENCODERS)}")
    return ENCODERS[name](**args)
