"""Issue 21 (5, 6) at the Renderer: interpolation panes finish before any model
tile, and a pane that shrinks or grows decodes only what it did not have."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from inference.geometry import Lattice
from inference.render import Phase, Renderer, RenderRequest, ViewState, clip_to_image, to_display
from tests.render_helpers import assemble, drain
from tests.tiny_methods import sample_image, tiny_loader

H, W = 40, 48
LEARNED = ("liif", "diinn")


class CountingUpscaler:
    """Wraps an upscaler; every decode is recorded as (method, lattice)."""

    def __init__(self, inner: Any, log: list[tuple[str, Lattice]], name: str) -> None:
        self.inner, self.log, self.name = inner, log, name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def decode_lattice(self, features: Any, lattice: Lattice, progress: Any = None) -> Any:
        self.log.append((self.name, lattice))
        return self.inner.decode_lattice(features, lattice, progress)


class CountingLoader:
    def __init__(self) -> None:
        self.load = tiny_loader(("bicubic", "nearest", *LEARNED))
        self.ups: dict[str, CountingUpscaler] = {}
        self.decodes: list[tuple[str, Lattice]] = []

    def __call__(self, name: str) -> CountingUpscaler:
        if name not in self.ups:
            self.ups[name] = CountingUpscaler(self.load(name, "cpu"), self.decodes, name)
        return self.ups[name]


@pytest.fixture
def loader() -> CountingLoader:
    return CountingLoader()


@pytest.fixture
def renderer(loader: CountingLoader) -> Renderer:
    r = Renderer(loader, tile=16)
    r.set_image("img", sample_image(H, W))
    return r


def show(r: Renderer, target: str, method: str, lat: Lattice) -> None:
    r.submit(RenderRequest(r.generations.issue(target), target, method, lat, "img"))


def test_every_interpolation_pane_is_done_before_the_first_model_tile(renderer: Renderer) -> None:
    lat = ViewState(24, 20, 8.0).lattice(96, 80)
    panes = {"p1": "liif", "p2": "nearest", "p3": "diinn", "p4": "bicubic", "p5": "liif", "p6": "nearest"}
    for target, method in panes.items():  # the learned ones asked for first
        show(renderer, target, method, lat)
    tiles = drain(renderer)
    assert not any(t.error for t in tiles)
    model_tiles = [i for i, t in enumerate(tiles) if t.phase in (Phase.COARSE, Phase.FULL) and t.method in LEARNED]
    assert model_tiles, "the learned panes decoded nothing"
    first_model = model_tiles[0]
    for target in ("p2", "p4", "p6"):
        own = [i for i, t in enumerate(tiles) if t.target == target]
        assert own and max(own) < first_model, f"{panes[target]} waited behind a model"
        assert tiles[max(own)].final
        # Instant methods get neither a bicubic preview nor a coarse pass.
        assert all(tiles[i].phase is Phase.FULL and tiles[i].method == panes[target] for i in own)


def test_a_pane_shrunk_or_asked_again_decodes_nothing(renderer: Renderer, loader: CountingLoader) -> None:
    view = ViewState(24.3, 19.7, 6.0)
    for target, method in (("a", "liif"), ("b", "nearest")):
        show(renderer, target, method, view.lattice(200, 150))
    drain(renderer)
    before = len(loader.decodes)
    for size in ((200, 150), (131, 150), (97, 77)):  # the same; a pane added beside it; a row added
        for target, method in (("a", "liif"), ("b", "nearest")):
            show(renderer, target, method, view.lattice(*size))
        tiles = drain(renderer)
        assert tiles and all(t.from_cache and t.phase is Phase.FULL for t in tiles)
    assert len(loader.decodes) == before


def _image_columns(lat: Lattice) -> tuple[float, float]:
    return lat.u0 / lat.zx, (lat.u0 + lat.width) / lat.zx


@pytest.mark.parametrize("grow", [6, 40])
def test_a_widened_pane_decodes_only_tiles_covering_the_new_area(renderer: Renderer, loader: CountingLoader,
                                                                 grow: int) -> None:
    view = ViewState(24.3, 19.7, 6.0)
    old = view.lattice(120, 100)
    show(renderer, "a", "liif", old)
    drain(renderer)
    decoded_before = len(loader.decodes)
    new = view.lattice(120 + grow, 100)
    show(renderer, "a", "liif", new)
    tiles = drain(renderer)
    fresh = loader.decodes[decoded_before:]
    assert fresh, "the new columns were not decoded"
    # In image units: what the pane shows now and did not show before.
    (o0, o1), (n0, n1) = _image_columns(old), _image_columns(new)
    strips = [(n0, o0), (o1, n1)]
    for method, lat in fresh:
        x0, x1 = _image_columns(lat)
        assert any(x0 < b and a < x1 for a, b in strips if b > a), f"{method} decoded {lat}, all of it seen before"
    # The full tiles the old view had in whole come from the cache, and no
    # preview is made of them: the tiles it kept never went back to a preview.
    assert any(t.from_cache for t in tiles if t.phase is Phase.FULL)
    previews = [t for t in tiles if t.phase is Phase.PREVIEW]
    for t in previews:
        x0, x1 = t.u0 / t.zoom, (t.u0 + t.rgb.shape[1]) / t.zoom
        assert any(x0 < b and a < x1 for a, b in strips if b > a)
    assert sum(1 for t in tiles if t.phase is Phase.FULL and not t.from_cache) < \
        sum(1 for t in tiles if t.phase is Phase.FULL)
    # Nothing the old view showed is decoded again: a tile it had part of
    # copies that part and decodes the rest.
    had = clip_to_image(old, W, H)
    for method, lat in fresh:
        if method == "liif" and lat.zx == old.zx:
            overlap_u = min(lat.u0 + lat.width, had.u0 + had.width) - max(lat.u0, had.u0)
            overlap_v = min(lat.v0 + lat.height, had.v0 + had.height) - max(lat.v0, had.v0)
            assert overlap_u <= 0 or overlap_v <= 0, f"decoded {lat} again"
    # And the pane's picture is the one a single decode of its view makes.
    direct = to_display(renderer.decode("liif", "img", new))
    assert np.abs(assemble(tiles, new).astype(int) - direct.astype(int)).max() <= 1


def test_the_coarse_pass_of_a_widened_pane_covers_only_the_area_it_gained(loader: CountingLoader) -> None:
    r = Renderer(loader, tile=16, adaptive_coarse=False)  # always a coarse pass
    r.set_image("img", sample_image(H, W))
    view = ViewState(24.3, 19.7, 8.0)
    old, new = view.lattice(160, 120), view.lattice(200, 120)
    show(r, "a", "liif", old)
    drain(r)
    r.coarse_factor = 2.0  # the coarse pass of the wider view is at another zoom: nothing of it is cached
    before = len(loader.decodes)
    show(r, "a", "liif", new)
    tiles = drain(r)
    assert any(t.phase is Phase.COARSE for t in tiles)
    (o0, o1), (n0, n1) = _image_columns(old), _image_columns(new)
    coarse = [lat for method, lat in loader.decodes[before:] if method == "liif" and lat.zx < view.zoom]
    assert coarse
    for lat in coarse:  # within the strips the pane gained, give or take a coarse pixel
        x0, x1 = _image_columns(lat)
        pixel = 1 / lat.zx
        assert (x0 >= n0 - pixel and x1 <= o0 + pixel) or (x0 >= o1 - pixel and x1 <= n1 + pixel), lat
