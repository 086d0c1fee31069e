"""The render worker's pure logic: the shared lattice, tiles that join without
seams, stale work dropped, caches within budget, progressive passes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.geometry import Lattice
from inference.render import (
    DOWNSCALE_METHOD,
    GenerationCounter,
    LRUCache,
    Renderer,
    RenderRequest,
    ViewState,
    fit_zoom,
    image_extent,
    plan_tiles,
    tile_lattice,
    to_display,
)
from tests.render_helpers import assemble, drain, render
from tests.tiny_methods import sample_image, tiny_loader

H, W = 20, 24


class CountingLoader:
    """Upscalers built once each, with their encode calls counted."""

    def __init__(self) -> None:
        self.load = tiny_loader()
        self.upscalers: dict[str, object] = {}
        self.encodes: dict[str, int] = {}

    def __call__(self, name: str):
        if name not in self.upscalers:
            up = self.load(name, "cpu")
            original = up.encode

            def counted(image, _name=name, _orig=original):
                self.encodes[_name] = self.encodes.get(_name, 0) + 1
                return _orig(image)

            up.encode = counted
            self.upscalers[name] = up
        return self.upscalers[name]


@pytest.fixture
def renderer() -> Renderer:
    r = Renderer(CountingLoader(), tile=16)
    r.set_image("img", sample_image(H, W))
    return r


@pytest.mark.parametrize("zoom", [0.37, 1.0, 2.5, 3.7, 7.31, 12.0])
def test_image_extent_matches_inside_mask(zoom: float) -> None:
    cols, rows = image_extent(zoom, W, H)
    big = Lattice(zoom, zoom, 0.0, 0.0, cols + 5, rows + 5)
    inside_rows, inside_cols = big.inside_mask(W, H)
    assert inside_cols.sum() == cols and inside_cols[:cols].all()
    assert inside_rows.sum() == rows and inside_rows[:rows].all()


@pytest.mark.parametrize("lattice", [Lattice(3.7, 3.7, -5.0, -3.0, 120, 90), Lattice(2.5, 1.75, 3.25, -0.5, 80, 50),
                                     Lattice(0.5, 0.5, 2.0, 1.0, 40, 40)])
def test_clip_keeps_exactly_the_pixels_centred_inside_the_image(lattice: Lattice) -> None:
    from inference.geometry import clip, offset_in

    rows, cols = lattice.inside_mask(W, H)
    inside = clip(lattice, W, H)
    assert inside is not None
    c0, r0 = offset_in(inside, lattice)
    assert (inside.width, inside.height) == (cols.sum(), rows.sum())
    assert cols[c0:c0 + inside.width].all() and rows[r0:r0 + inside.height].all()
    np.testing.assert_array_equal(inside.xs(), lattice.xs()[c0:c0 + inside.width])
    # Within a block of the same lattice: the pixels both hold.
    window = lattice.crop(c0 + 2, r0 + 1, 7, 5)
    both = clip(lattice, W, H, within=window)
    assert both == window
    assert clip(Lattice(lattice.zx, lattice.zy, 1e4, 0.0, 8, 8), W, H) is None


@pytest.mark.parametrize(("zoom", "cx", "cy"), [(3.7, 11.3, 9.1), (2.0, 0.0, 0.0), (7.31, 23.5, 19.7)])
def test_planned_tiles_cover_exactly_the_visible_image(zoom: float, cx: float, cy: float) -> None:
    lat = ViewState(cx, cy, zoom).lattice(50, 40)
    covered = np.zeros((lat.height, lat.width), dtype=int)
    for tu, tv in plan_tiles(lat, 16, W, H):
        tl = tile_lattice(lat.zx, tu, tv, 16, W, H)
        c0, r0 = int(tl.u0 - lat.u0), int(tl.v0 - lat.v0)
        rs = slice(max(0, r0), max(0, min(lat.height, r0 + tl.height)))
        cs = slice(max(0, c0), max(0, min(lat.width, c0 + tl.width)))
        covered[rs, cs] += 1
    rows, cols = lat.inside_mask(W, H)
    expected = np.outer(rows, cols).astype(int)
    np.testing.assert_array_equal(covered, expected)


@pytest.mark.parametrize("method", ["bicubic", "liif"])
def test_tiles_assemble_to_the_direct_decode_of_the_pane(renderer: Renderer, method: str) -> None:
    view = ViewState(10.3, 8.6, 3.7)
    lat = view.lattice(61, 47)
    gen = renderer.generations.issue("p")
    tiles = list(render(renderer, RenderRequest(gen, "p", method, lat, "img", progressive=False)))
    assert len(tiles) > 4 and all(t.error is None for t in tiles)
    shown = assemble(tiles, lat)
    direct = to_display(renderer.decode(method, "img", lat))
    # Same lattice points: equal up to a rounding flip where float summation
    # order differs (a misplaced tile would differ by far more).
    diff = np.abs(shown.astype(int) - direct.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_zoom_about_cursor_keeps_the_point_under_it() -> None:
    view = ViewState(12.0, 10.0, 2.0)
    pane = (300, 200)
    before = view.image_point(71.0, 143.0, *pane)
    after = view.zoomed_about(5.3, 71.0, 143.0, *pane)
    assert after.zoom == pytest.approx(5.3)
    x, y = after.image_point(71.0, 143.0, *pane)
    # Within one output pixel: the lattice snaps to integer indices.
    assert abs(x - before[0]) <= 1.0 / after.zoom and abs(y - before[1]) <= 1.0 / after.zoom


def test_panning_by_whole_pixels_shifts_the_lattice_exactly() -> None:
    view = ViewState(12.345, 9.87, 3.7)
    lat = view.lattice(100, 80)
    moved = view.panned(-13, 7).lattice(100, 80)
    assert (moved.u0 - lat.u0, moved.v0 - lat.v0) == (13, -7)
    assert moved.zx == lat.zx


def test_fit_shows_the_whole_image() -> None:
    z = fit_zoom(W, H, 300, 200)
    view = ViewState.fit(W, H, 300, 200)
    lat = view.lattice(300, 200)
    rows, cols = lat.inside_mask(W, H)
    assert view.zoom == z
    assert cols.sum() == image_extent(z, W, H)[0] and rows.sum() == image_extent(z, W, H)[1]
    assert min(300 / W, 200 / H) * 0.99 < z <= min(300 / W, 200 / H)


def test_stale_generation_is_dropped_before_it_starts(renderer: Renderer) -> None:
    lat = ViewState(12, 10, 4.0).lattice(64, 64)
    old = renderer.generations.issue("a")
    renderer.submit(RenderRequest(old, "a", "liif", lat, "img"))
    new = renderer.generations.issue("a")
    lat2 = ViewState(12, 10, 5.0).lattice(64, 64)
    renderer.submit(RenderRequest(new, "a", "liif", lat2, "img"))
    tiles = drain(renderer)
    assert tiles and all(t.generation == new for t in tiles)
    # A generation issued after submission (the user moved on) empties the queue.
    stale = renderer.generations.issue("a")
    renderer.submit(RenderRequest(stale, "a", "liif", lat, "img"))
    renderer.generations.issue("a")
    assert renderer.pending() == 0 and renderer.next_result() is None


def test_render_stops_at_the_next_tile_when_superseded(renderer: Renderer) -> None:
    lat = ViewState(12, 10, 6.0).lattice(96, 96)
    gen = renderer.generations.issue("a")
    produced = []
    for tile in render(renderer, RenderRequest(gen, "a", "liif", lat, "img", progressive=False)):
        produced.append(tile)
        renderer.generations.issue("a")  # a newer view arrives while decoding
    assert len(produced) == 1
    assert len(plan_tiles(lat, 16, W, H)) > 1


def test_other_targets_are_not_cancelled_by_a_new_generation(renderer: Renderer) -> None:
    lat = ViewState(12, 10, 3.0).lattice(40, 40)
    ga = renderer.generations.issue("a")
    gb = renderer.generations.issue("b")
    renderer.submit(RenderRequest(ga, "a", "bicubic", lat, "img"))
    renderer.submit(RenderRequest(gb, "b", "liif", lat, "img", progressive=False))
    renderer.generations.issue("a")
    tiles = drain(renderer)
    assert {t.target for t in tiles} == {"b"}


def test_progressive_phases_come_in_order_and_are_then_cached(renderer: Renderer) -> None:
    lat = ViewState(12, 10, 8.0).lattice(64, 48)
    gen = renderer.generations.issue("a")
    renderer.submit(RenderRequest(gen, "a", "liif", lat, "img"))
    tiles = drain(renderer)
    phases = [t.phase for t in tiles]
    assert phases == sorted(phases, key=["preview", "coarse", "full"].index)
    assert {"preview", "coarse", "full"} <= set(phases)
    assert all(t.zoom == 2.0 for t in tiles if t.phase == "coarse")
    assert all(t.method == "bicubic" for t in tiles if t.phase == "preview")
    assert tiles[-1].final and tiles[-1].phase == "full"
    # Back to the same view: everything from the cache, no preview needed.
    gen2 = renderer.generations.issue("a")
    renderer.submit(RenderRequest(gen2, "a", "liif", lat, "img"))
    again = drain(renderer)
    assert again and all(t.from_cache and t.phase == "full" for t in again)


def test_encoder_runs_once_per_image_and_method(renderer: Renderer) -> None:
    loader: CountingLoader = renderer.get_upscaler
    for i, zoom in enumerate([2.0, 3.3, 5.0]):
        lat = ViewState(12, 10, zoom).lattice(48, 48)
        renderer.submit(RenderRequest(renderer.generations.issue(("p", i)), ("p", i), "liif", lat, "img"))
    drain(renderer)
    assert loader.encodes["liif"] == 1
    renderer.set_image("other", sample_image(H, W, seed=3))
    lat = ViewState(12, 10, 2.0).lattice(48, 48)
    renderer.submit(RenderRequest(renderer.generations.issue("q"), "q", "liif", lat, "other"))
    drain(renderer)
    assert loader.encodes["liif"] == 2


def test_zoom_at_most_one_shows_antialiased_bicubic(renderer: Renderer) -> None:
    lat = ViewState(12, 10, 0.5).lattice(30, 30)
    tiles = list(render(renderer, RenderRequest(renderer.generations.issue("a"), "a", "liif", lat, "img")))
    assert tiles and all(t.method == DOWNSCALE_METHOD and t.phase == "full" for t in tiles)
    assert "bicubic" in tiles[0].note
    assert "liif" not in renderer.get_upscaler.encodes


def test_a_failing_method_reports_an_error_tile() -> None:
    def loader(name: str):
        raise FileNotFoundError("weights missing")

    r = Renderer(loader, tile=16)
    r.set_image("img", sample_image(H, W))
    lat = ViewState(12, 10, 3.0).lattice(40, 40)
    r.submit(RenderRequest(r.generations.issue("a"), "a", "liif", lat, "img"))
    tiles = drain(r)
    assert len(tiles) == 1 and tiles[0].rgb is None and "weights missing" in tiles[0].error


def test_lru_cache_keeps_within_budget_and_evicts_least_recent() -> None:
    cache = LRUCache(budget_bytes=300)
    for name in "abc":
        cache.put(name, np.zeros(100, np.uint8))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", np.zeros(100, np.uint8))
    assert "b" not in cache and all(k in cache for k in "acd")
    assert cache.nbytes <= 300
    cache.put("huge", np.zeros(1000, np.uint8))
    assert "huge" in cache and len(cache) == 1


def test_tile_cache_is_bounded_while_rendering() -> None:
    r = Renderer(CountingLoader(), tile=16, tile_budget_bytes=16 * 16 * 3 * 5)
    r.set_image("img", sample_image(H, W))
    for zoom in (3.0, 4.0, 5.0):
        lat = ViewState(12, 10, zoom).lattice(64, 64)
        list(render(r, RenderRequest(r.generations.issue("a"), "a", "bicubic", lat, "img")))
    assert r.tiles.nbytes <= 16 * 16 * 3 * 5 and len(r.tiles) <= 5


def test_generation_counter_is_per_channel() -> None:
    g = GenerationCounter()
    a1 = g.issue("a")
    b1 = g.issue("b")
    a2 = g.issue("a")
    assert g.is_stale(a1, "a") and not g.is_stale(a2, "a") and not g.is_stale(b1, "b")
    g.retire("b")
    assert g.is_stale(b1, "b")


def _decoded_points(tiles: list, phase: str = "full") -> int:
    """Lattice points the model actually decoded (cache hits excluded)."""
    return sum(t.rgb.shape[0] * t.rgb.shape[1] for t in tiles
               if t.phase == phase and t.rgb is not None and not t.from_cache)


def test_a_first_view_decodes_only_the_pixels_the_pane_shows(renderer: Renderer) -> None:
    # A pane not aligned to the 16-px tiles: whole tiles would cost far more
    # than the pane (that is what made the CPU's first sharp pane slow).
    lat = ViewState(11.3, 9.1, 3.7).lattice(41, 29)
    gen = renderer.generations.issue("p")
    tiles = list(render(renderer, RenderRequest(gen, "p", "liif", lat, "img", progressive=False)))
    rows, cols = lat.inside_mask(W, H)
    whole = sum(tile_lattice(lat.zx, tu, tv, 16, W, H).width * tile_lattice(lat.zx, tu, tv, 16, W, H).height
                for tu, tv in plan_tiles(lat, 16, W, H))
    assert _decoded_points(tiles) == int(rows.sum() * cols.sum()) < whole
    direct = to_display(renderer.decode("liif", "img", lat))
    assert np.abs(assemble(tiles, lat).astype(int) - direct.astype(int)).max() <= 1


def test_panning_grows_partly_seen_tiles_then_hits_the_cache(renderer: Renderer) -> None:
    view = ViewState(11.3, 9.1, 3.7)
    pane = (41, 29)

    def show(v: ViewState) -> list:
        lat = v.lattice(*pane)
        gen = renderer.generations.issue("p")
        tiles = list(render(renderer, RenderRequest(gen, "p", "liif", lat, "img", progressive=False)))
        direct = to_display(renderer.decode("liif", "img", lat))
        assert np.abs(assemble(tiles, lat).astype(int) - direct.astype(int)).max() <= 1
        return tiles

    show(view)
    panned = show(view.panned(3, 2))
    # A tile cut by the first view grows into one block holding both views
    # (what it had is copied, only what the pan uncovered is decoded) ...
    fresh = [t for t in panned if not t.from_cache]
    assert fresh
    # ... so a view between the two costs nothing new.
    between = show(view.panned(1, 1))
    assert between and all(t.from_cache for t in between)


def test_a_cached_whole_tile_answers_a_smaller_view_of_it(renderer: Renderer) -> None:
    zoom = 3.7
    whole = tile_lattice(zoom, 1, 1, 16, W, H)
    gen = renderer.generations.issue("p")
    list(render(renderer, RenderRequest(gen, "p", "liif", whole, "img", progressive=False)))
    part = Lattice(whole.zx, whole.zy, whole.u0 + 3, whole.v0 + 5, 7, 6)
    gen = renderer.generations.issue("p")
    tiles = list(render(renderer, RenderRequest(gen, "p", "liif", part, "img", progressive=False)))
    assert len(tiles) == 1 and tiles[0].from_cache and tiles[0].rgb.shape[:2] == (6, 7)
    assert np.abs(tiles[0].rgb.astype(int) - to_display(renderer.decode("liif", "img", part)).astype(int)).max() <= 1


def _phases_and_zooms(r: Renderer, method: str, lat: Lattice) -> dict[str, set[float]]:
    gen = r.generations.issue("p")
    out: dict[str, set[float]] = {}
    for job in r.plan(RenderRequest(gen, "p", method, lat, "img")):
        out.setdefault(job.phase, set()).add(job.key.tile.zoom)
    return out


def test_the_coarse_pass_is_sized_by_the_measured_speed_of_the_method(renderer: Renderer) -> None:
    lat = ViewState(12.0, 10.0, 12.0).lattice(60, 40)
    points = lat.width * lat.height
    # Speed not yet known: the default factor (12 / 4 = 3).
    assert _phases_and_zooms(renderer, "liif", lat)["coarse"] == {3.0}
    # Slow enough for the whole pane to take 16x the coarse target: a 4x coarser pass.
    renderer.rates["liif"] = points / (16 * 0.7)
    assert _phases_and_zooms(renderer, "liif", lat)["coarse"] == {3.0}
    # Four times slower again: the coarse pass shrinks by another 2x, so it still comes in time.
    renderer.rates["liif"] = points / (64 * 0.7)
    assert _phases_and_zooms(renderer, "liif", lat)["coarse"] == {1.5}
    # Fast (a GPU): the full pass alone is quick, no coarse pass and no preview needed before it.
    renderer.rates["liif"] = points / 0.05
    phases = _phases_and_zooms(renderer, "liif", lat)
    assert "coarse" not in phases and phases["full"] == {12.0}


def test_decoding_measures_the_methods_speed() -> None:
    r = Renderer(CountingLoader(), tile=128)
    r.set_image("img", sample_image(H, W))
    lat = ViewState(12.0, 10.0, 6.0).lattice(100, 80)  # 8000 points in one block: big enough to time
    gen = r.generations.issue("p")
    list(render(r, RenderRequest(gen, "p", "liif", lat, "img", progressive=False)))
    assert "liif" in r.rates and r.rates["liif"] > 0


def test_worker_threads_shrink_to_the_cores_other_processes_leave_free() -> None:
    from inference.render import others_running, threads_for_load

    assert threads_for_load(2, cpus=2, others_running=0) == 2
    assert threads_for_load(2, cpus=2, others_running=1) == 1  # a core is taken: one thread, no stalls
    assert threads_for_load(4, cpus=2, others_running=5) == 1  # never fewer than one
    assert threads_for_load(1, cpus=8, others_running=0) == 1  # never more than configured
    assert threads_for_load(2, cpus=2, others_running=None) == 2  # unknown load (not Linux): as configured
    busy = others_running()
    assert busy is None or busy >= 0


def test_methods_with_the_same_encoder_encode_an_image_once() -> None:
    """Every learned method ships the same frozen encoder: a pane switched to
    another method reuses the image's features instead of encoding it again,
    and decodes exactly what its own encoding would give."""
    from tests.tiny_methods import tiny_methods_loader

    load = tiny_methods_loader()
    encodes: dict[str, int] = {}
    built: dict[str, object] = {}

    def loader(name: str):
        if name not in built:
            up = load(name, "cpu", precision="fp32")
            if name == "a-liif":  # retrained encoder: other weights, its own features
                with torch.no_grad():
                    next(up.model.encoder.parameters()).add_(1e-3)
            original = up.encode

            def counted(image, _name=name, _orig=original):
                encodes[_name] = encodes.get(_name, 0) + 1
                return _orig(image)

            up.encode = counted
            built[name] = up
        return built[name]

    r = Renderer(loader, tile=16)
    image = sample_image(H, W)
    r.set_image("img", image)
    lat = Lattice.full_image(W, H, 2.5)
    for method in ("liif", "diinn", "ipe-liif", "a-liif"):
        shown = r.decode(method, "img", lat)
        up = built[method]
        np.testing.assert_array_equal(shown, up.decode_lattice(up.encode(image), lat))
    # One encode each for the check above, plus one for the cache: only LIIF's
    # and the other encoder's went to the cache.
    assert encodes == {"liif": 2, "diinn": 1, "ipe-liif": 1, "a-liif": 2}
