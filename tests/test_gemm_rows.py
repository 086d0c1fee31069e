"""Reduced-precision decodes on the CPU pad their matrix multiplies to a small
set of row counts: oneDNN keeps a kernel (~1 MB) for every new shape, so a
viewer decoding blocks of every size would otherwise grow without end."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from inference.geometry import Lattice
from inference.methods import base, diif
from inference.methods.base import gemm_rows
from tests.tiny_methods import TINY_ARGS, sample_image, tiny_method

# Every method that uses the shared point-query decode (DIIF decodes whole
# lattices its own way: tested on its own below).
POINT_METHODS = [m for m in TINY_ARGS if m != "diif"]


def test_gemm_rows_bounds_waste_and_count() -> None:
    sizes = set()
    for n in range(1, 1 << 20):
        padded = gemm_rows(n)
        assert padded >= n
        assert padded <= max(base.GEMM_MIN_ROWS, n * 1.25)
        sizes.add(padded)
    # Four per octave above the minimum: a million row counts fall into 53 sizes.
    assert len(sizes) == 53
    assert all(gemm_rows(s) == s for s in sizes)  # a padded size pads to itself


class MatmulRows(TorchDispatchMode):
    """Records the row count of every bf16 matrix multiply."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        name = func.overloadpacket.__name__
        if name in ("mm", "addmm", "linear", "_linear_pointwise", "bmm", "baddbmm", "matmul"):
            a = args[1] if name == "addmm" else args[0]
            if a.dtype == torch.bfloat16:
                self.rows.add(a.numel() // a.shape[-1])
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("method", POINT_METHODS)
def test_blocks_of_many_sizes_use_few_matmul_shapes(method: str) -> None:
    upscaler = tiny_method(method, precision="bf16")
    features = upscaler.encode(sample_image(40, 48))
    rng = random.Random(1)
    spy = MatmulRows()
    with spy:
        for _ in range(60):
            zoom = rng.uniform(1.1, 6.0)
            block = Lattice(zoom, zoom, rng.randrange(0, 40), rng.randrange(0, 40),
                            rng.randrange(1, 90), rng.randrange(1, 90))
            upscaler.decode_lattice(features, block)
    # 60 blocks of 60 sizes, each with its own feature window: every multiply
    # has one of the padded row counts (without padding: over 100 counts).
    assert spy.rows, "no bf16 matrix multiply was seen"
    assert all(gemm_rows(rows) == rows for rows in spy.rows), sorted(spy.rows)


class LeadingDims(TorchDispatchMode):
    """Records, for every bf16 matrix multiply, its row count (2-D) or its
    batch count (a batched multiply of small matrices of one shape)."""

    def __init__(self) -> None:
        super().__init__()
        self.dims: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        name = func.overloadpacket.__name__
        if name in ("mm", "addmm", "_linear_pointwise", "bmm", "baddbmm"):
            a = args[1] if name in ("addmm", "baddbmm") else args[0]
            if a.dtype == torch.bfloat16:
                self.dims.add(a.shape[0])
        return func(*args, **(kwargs or {}))


def test_diif_blocks_of_many_sizes_use_padded_multiplies() -> None:
    # DIIF's default where bf16 is native: bf16 decoder, fp32 encoder and features.
    upscaler = tiny_method("diif", precision="bf16", encoder_precision="fp32")
    features = upscaler.encode(sample_image(40, 48))
    rng = random.Random(2)
    spy = LeadingDims()
    with spy:
        for _ in range(60):
            zoom = rng.uniform(1.1, 6.0)  # slices of 1 to 6 pixels: both ways of mixing
            block = Lattice(zoom, zoom, rng.randrange(0, 40), rng.randrange(0, 40),
                            rng.randrange(1, 90), rng.randrange(1, 90))
            upscaler.decode_lattice(features, block)
    assert spy.dims, "no bf16 matrix multiply was seen"
    assert all(gemm_rows(d) == d for d in spy.dims), sorted(spy.dims)


@pytest.mark.parametrize("method", [*POINT_METHODS, "diif"])
def test_padding_changes_no_pixel(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    upscaler = tiny_method(method, precision="bf16")
    features = upscaler.encode(sample_image(30, 34))
    blocks = [Lattice(2.7, 2.7, 5, 9, 37, 23), Lattice(3.7, 3.7, 0, 0, 61, 13), Lattice(1.3, 1.3, 11, 2, 7, 5)]
    padded = [upscaler.decode_lattice(features, b) for b in blocks]
    monkeypatch.setattr(base, "pads_gemm_rows", lambda device, dtype: False)
    monkeypatch.setattr(diif, "pads_gemm_rows", lambda device, dtype: False)
    plain = [upscaler.decode_lattice(features, b) for b in blocks]
    for a, b in zip(padded, plain):
        assert a.shape == b.shape
        # Padded, the first layer multiplies a transposed copy: bf16 rounds a
        # little differently, never by a display level.
        np.testing.assert_allclose(a, b, atol=1 / 255)
        assert np.mean(np.abs(a - b)) < 0.1 / 255
