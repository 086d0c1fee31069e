"""What the render tests need from a `Renderer` beyond what the viewer uses:
all tiles of one request, and the picture a pane makes of them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from inference.geometry import Lattice
from inference.render import Phase, RenderedTile, Renderer, RenderRequest


def drain(renderer: Renderer) -> list[RenderedTile]:
    """Every result pending, in the order the renderer gives them."""
    out = []
    while (tile := renderer.next_result()) is not None:
        out.append(tile)
    return out


def render(renderer: Renderer, request: RenderRequest) -> Iterator[RenderedTile]:
    """All tiles of one request, most urgent first, as the worker takes them
    (the test's request is the only one pending); stops before the next tile
    once the request is superseded."""
    renderer.submit(request)
    while not renderer.generations.is_stale(request.generation, request.target):
        tile = renderer.next_result()
        if tile is None:
            return
        yield tile


def assemble(tiles: list[RenderedTile], lattice: Lattice, phase: Phase = Phase.FULL) -> np.ndarray:
    """The uint8 image a pane shows for `lattice` from tiles at its zoom
    (zeros where no tile covers it)."""
    out = np.zeros((lattice.height, lattice.width, 3), dtype=np.uint8)
    for t in tiles:
        if t.rgb is None or t.phase != phase or t.zoom != lattice.zx:
            continue
        h, w = t.rgb.shape[:2]
        c0, r0 = t.u0 - int(lattice.u0), t.v0 - int(lattice.v0)
        a0, b0 = max(0, c0), max(0, r0)
        a1, b1 = min(lattice.width, c0 + w), min(lattice.height, r0 + h)
        if a1 > a0 and b1 > b0:
            out[b0:b1, a0:a1] = t.rgb[b0 - r0:b1 - r0, a0 - c0:a1 - c0]
    return out
