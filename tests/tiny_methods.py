"""Small, fast stand-ins for the viewer tests: a tiny LIIF (one residual block,
8 features, one hidden layer) through the real ImplicitUpscaler, plus bicubic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

TINY_LIIF_ARGS: dict[str, Any] = {
    "encoder_spec": {"name": "edsr-baseline", "args": {"n_resblocks": 1, "n_feats": 8}},
    "hidden": [16],
}


def tiny_liif(device: str = "cpu", **options: Any) -> Any:
    import torch

    from inference import registry
    from inference.upscaler import ImplicitUpscaler
    from inference.weights import WeightsInfo

    torch.manual_seed(0)
    model = registry.build("liif", **TINY_LIIF_ARGS)
    return ImplicitUpscaler(model, WeightsInfo(trained=False), device, display="LIIF", **options)


def tiny_loader(methods: tuple[str, ...] = ("bicubic", "liif")) -> Callable[[str, Any], Any]:
    """A `load_upscaler(name, device)` replacement: the interpolations
    (bicubic, nearest) are the real ones, every implicit name gets the tiny LIIF."""
    from inference.catalog import is_interpolation, load_upscaler

    def load(name: str, device: Any = "cpu", **options: Any) -> Any:
        if is_interpolation(name):
            return load_upscaler(name, device)
        if name not in methods:
            raise KeyError(f"unknown method {name!r}")
        return tiny_liif(str(device), **options)

    return load


def sample_image(h: int = 20, w: int = 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.3 * np.sin(xx[..., None] * np.array([0.3, 0.5, 0.7]) + yy[..., None] * np.array([0.4, 0.2, 0.6]))
    return np.clip(base + 0.1 * rng.standard_normal((h, w, 3)), 0, 1).astype(np.float32)



TINY_ENCODER: dict[str, Any] = {"name": "edsr-baseline", "args": {"n_resblocks": 1, "n_feats": 8}}
# Each registered method at toy size: its own decode path, a one-block encoder.
TINY_ARGS: dict[str, dict[str, Any]] = {
    "liif": {"hidden": [16]},
    "ipe-liif": {"hidden": [16], "frequencies": 2},
    "diinn": {"width": 16, "depth": 2},
    "diif": {"hidden": 16},
    "a-liif": {"expansion_hidden": [16], "bases": 2, "basis_hidden": [8]},
    "liif-siren": {"hidden": [16]},
}


def tiny_method(name: str, device: str = "cpu", **options: Any) -> Any:
    """Method `name` (its real model class and decoder) with toy layer sizes, untrained."""
    import torch

    from inference import registry
    from inference.upscaler import ImplicitUpscaler
    from inference.weights import WeightsInfo

    torch.manual_seed(0)
    model = registry.build(name, encoder_spec=TINY_ENCODER, **TINY_ARGS[name])
    return ImplicitUpscaler(model, WeightsInfo(trained=False), device, display=registry.spec(name).display,
                            **options)


def tiny_methods_loader() -> Callable[[str, Any], Any]:
    """A `load_upscaler(name, device)` replacement giving every method at toy size."""
    from inference.catalog import load_upscaler

    def load(name: str, device: Any = "cpu", **options: Any) -> Any:
        if name == "bicubic":
            return load_upscaler("bicubic", device)
        if name not in TINY_ARGS:
            raise KeyError(f"unknown method {name!r}")
        return tiny_method(name, str(device), **options)

    return load
