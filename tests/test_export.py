"""Exports: the pixels the decoder gives, the size asked for, a record of how
they were made, and nothing on disk when cancelled or refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference import export, piecewise
from inference.catalog import load_upscaler
from inference.export import ExportError, export_comparison, export_region
from inference.geometry import Lattice, Region
from inference.imageio import load_image, read_metadata, save_image
from inference.piecewise import Cancelled


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).random((10, 12, 3)).astype(np.float32)


class CountingUpscaler:
    """Wraps a real upscaler and counts decode calls."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls = 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def decode_lattice(self, features, lattice, progress=None):
        self.calls += 1
        return self.inner.decode_lattice(features, lattice, progress)


def test_bicubic_export_has_requested_size_and_record(tmp_path: Path, image: np.ndarray) -> None:
    up = load_upscaler("bicubic", "cpu")
    lattice = Lattice.from_region(Region(1.5, 2.0, 8.0, 6.0), 37, 29)
    path = export_region(up, up.encode(image), lattice, tmp_path / "crop.png", metadata={"Source": "photo.jpg"})
    loaded = load_image(path)
    assert (loaded.width, loaded.height) == (37, 29)
    meta = read_metadata(path)
    assert meta["Method"] == "Bicubic (bicubic)"
    assert meta["Software"] == "Implicit Zoom"
    assert meta["Scale"] == "4.625 x 4.83333"
    assert meta["Region"] == "x=1.5, y=2, w=8, h=6 (LR pixels)"
    assert meta["Source"] == "photo.jpg"


@pytest.mark.parametrize("bits", [8, 16])
def test_tiled_export_equals_one_decode(tmp_path: Path, image: np.ndarray, monkeypatch: pytest.MonkeyPatch,
                                        bits: int) -> None:
    monkeypatch.setattr(piecewise, "TILE", 7)  # 30 x 20 output -> 15 tiles with ragged edges
    up = CountingUpscaler(load_upscaler("bicubic", "cpu"))
    features = up.encode(image)
    lattice = Lattice.from_region(Region(-1.0, 0.5, 12.0, 8.0), 30, 20)  # partly outside the image
    seen: list[tuple[int, int]] = []
    path = export_region(up, features, lattice, tmp_path / "t.tif", bits=bits,
                         progress=lambda done, total: seen.append((done, total)))
    assert up.calls == 15
    assert seen[0] == (0, 15) and seen[-1] == (15, 15)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    whole = up.inner.decode_lattice(features, lattice)
    step = 1 / 255 if bits == 8 else 1 / 65535
    assert np.abs(load_image(path).rgb - whole).max() <= step / 2 + 1e-6


def test_untrained_method_is_recorded_as_not_a_result(tmp_path: Path, image: np.ndarray,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import inference.registry as registry

    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path / "no-weights")  # random weights, whatever ships
    up = load_upscaler("liif", "cpu")
    assert not up.weights.trained
    lattice = Lattice.full_image(12, 10, 1.5)
    path = export_region(up, up.encode(image), lattice, tmp_path / "liif.webp")
    assert load_image(path).width == 18
    assert "random weights" in read_metadata(path)["Weights"]


def test_cancel_leaves_nothing(tmp_path: Path, image: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(piecewise, "TILE", 8)
    up = CountingUpscaler(load_upscaler("bicubic", "cpu"))
    existing = tmp_path / "keep.png"
    save_image(existing, np.full((3, 3, 3), 0.3))
    before = existing.read_bytes()
    asked = []

    def cancel_after_two() -> bool:
        asked.append(1)
        return len(asked) > 2

    for target in (tmp_path / "new.png", existing):
        asked.clear()
        with pytest.raises(Cancelled):
            export_region(up, up.encode(image), Lattice.full_image(12, 10, 4.0), target, cancel=cancel_after_two)
    assert up.calls == 4  # two tiles per attempt, then stopped
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]
    assert existing.read_bytes() == before


def test_too_large_refused_before_decoding(tmp_path: Path, image: np.ndarray,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    up = CountingUpscaler(load_upscaler("bicubic", "cpu"))
    features = up.encode(image)
    huge = Lattice.full_image(12, 10, 10000.0)  # 120000 x 100000 pixels
    with pytest.raises(ExportError, match=r"output too large for memory.*1000 megapixels"):
        export_region(up, features, huge, tmp_path / "huge.png")
    monkeypatch.setattr(export, "available_memory", lambda: 10_000_000)  # 10 MB free
    with pytest.raises(ExportError, match="output too large for memory: 1200 x 1000 pixels needs about 29 MB"):
        export_region(up, features, Lattice.full_image(12, 10, 100.0), tmp_path / "big.png", bits=16)
    assert up.calls == 0 and not list(tmp_path.iterdir())


def test_bad_target_refused_before_decoding(tmp_path: Path, image: np.ndarray) -> None:
    up = CountingUpscaler(load_upscaler("bicubic", "cpu"))
    features = up.encode(image)
    lattice = Lattice.full_image(12, 10, 2.0)
    with pytest.raises(ExportError, match="unknown output format"):
        export_region(up, features, lattice, tmp_path / "out.gif")
    with pytest.raises(ExportError, match="does not exist"):
        export_region(up, features, lattice, tmp_path / "missing" / "out.png")
    with pytest.raises(ExportError, match="16-bit"):
        export_region(up, features, lattice, tmp_path / "out.jpg", bits=16)
    assert up.calls == 0


def test_comparison_side_by_side_with_labels(tmp_path: Path) -> None:
    red = np.zeros((40, 30, 3), np.float32)
    red[..., 0] = 1
    blue = np.zeros((40, 30, 3), np.float32)
    blue[..., 2] = 1
    path = export_comparison([("Bicubic", red), ("LIIF", blue)], tmp_path / "cmp.png", gap=4, label_height=16)
    out = load_image(path).rgb
    assert out.shape == (4 + 16 + 40 + 4, 4 + 30 + 4 + 30 + 4, 3)
    np.testing.assert_allclose(out[20:60, 4:34], red)
    np.testing.assert_allclose(out[20:60, 38:68], blue)
    for x0 in (4, 38):  # each label strip has text in it: light pixels on the dark background
        assert out[4:20, x0:x0 + 30].max() > 0.6
    assert read_metadata(path)["Panes"] == "Bicubic, LIIF"


def test_comparison_refuses_nothing_to_compare(tmp_path: Path) -> None:
    with pytest.raises(ExportError):
        export_comparison([], tmp_path / "cmp.png")
    with pytest.raises(ExportError, match="pane 'x'"):
        export_comparison([("x", np.zeros((4, 4)))], tmp_path / "cmp.png")
    assert not list(tmp_path.iterdir())


def _rendered(method: str = "liif", zoom: float = 3.0):
    """A Renderer that has decoded every full tile of one pane (tile 16) with a tiny LIIF."""
    from inference.render import Renderer, RenderRequest, ViewState
    from tests.render_helpers import render
    from tests.tiny_methods import sample_image, tiny_loader

    upscalers: dict[str, CountingUpscaler] = {}

    def get(name: str) -> CountingUpscaler:
        if name not in upscalers:
            upscalers[name] = CountingUpscaler(tiny_loader()(name, "cpu"))
        return upscalers[name]

    renderer = Renderer(get, tile=16)
    renderer.set_image("img", sample_image(20, 24))
    pane = ViewState(12.0, 10.0, zoom).lattice(50, 40)
    request = RenderRequest(renderer.generations.issue("p"), "p", method, pane, "img", progressive=False)
    tiles = list(render(renderer, request))
    assert tiles and all(t.error is None for t in tiles)
    return renderer, get(method), pane


def test_export_of_the_view_reuses_every_tile_the_pane_decoded(tmp_path: Path) -> None:
    from inference.render import clip_to_image

    renderer, up, pane = _rendered()
    lattice = clip_to_image(pane, 24, 20)
    _, features = renderer.encoded("liif", "img")
    shown = np.asarray(renderer.decode("liif", "img", lattice))  # the pixels the pane shows, before quantising
    up.calls = 0
    source = renderer.cached_tiles("liif", "img")
    path = export_region(up, features, lattice, tmp_path / "view.png", reuse=source)
    assert up.calls == 0 and source.decoded == 0 and source.reused > 1
    assert np.abs(load_image(path).rgb - shown).max() <= 0.5 / 255 + 1e-6


def test_export_decodes_only_the_tiles_that_are_missing(tmp_path: Path) -> None:
    from inference.render import clip_to_image

    renderer, up, pane = _rendered()
    lattice = clip_to_image(pane, 24, 20)
    _, features = renderer.encoded("liif", "img")
    fresh = up.inner.decode_lattice(features, lattice)
    first = renderer.tiles.keys()[0]
    renderer.tiles.pop(first)  # as if evicted: this one must be decoded again, and only it
    up.calls = 0
    source = renderer.cached_tiles("liif", "img")
    path = export_region(up, features, lattice, tmp_path / "part.png", reuse=source)
    assert up.calls == 1 and source.decoded == 1
    assert np.abs(load_image(path).rgb - fresh).max() <= 0.5 / 255 + 1e-6
    # What it decoded is in the cache for the panes (and the next export) now.
    again = renderer.cached_tiles("liif", "img")
    export_region(up, features, lattice, tmp_path / "again.png", reuse=again)
    assert up.calls == 1 and again.decoded == 0


def test_16_bit_and_off_lattice_exports_decode_afresh(tmp_path: Path) -> None:
    from inference.render import clip_to_image

    renderer, up, pane = _rendered()
    lattice = clip_to_image(pane, 24, 20)
    _, features = renderer.encoded("liif", "img")
    up.calls = 0
    # 16 bits: the tiles hold 8-bit screen pixels, too coarse for it.
    export_region(up, features, lattice, tmp_path / "deep.png", bits=16, reuse=renderer.cached_tiles("liif", "img"))
    assert up.calls > 0
    up.calls = 0
    # Another scale than the panes': nothing cached fits; the old tiling is kept.
    other = Lattice.from_region(lattice.region, lattice.width + 7, lattice.height + 5)
    source = renderer.cached_tiles("liif", "img")
    export_region(up, features, other, tmp_path / "other.png", reuse=source)
    assert up.calls > 0 and source.reused == 0 and source.decoded == 0



def test_export_reusing_pane_tiles_is_byte_identical_to_a_fresh_export(tmp_path: Path) -> None:
    """The panes' tiles are rounded to 8 bits for the screen, a fresh export
    when it is saved: both by the one rule (imageio.pixels.quantise), so an
    export that copies cached tiles writes the very file a fresh one does.
    Bicubic at zoom 3 of 8-bit data lands on exact x.5 ties here, where
    rounding half up and half to even disagree."""
    from inference.render import Renderer, RenderRequest, ViewState, clip_to_image
    from tests.render_helpers import render

    up = CountingUpscaler(load_upscaler("bicubic", "cpu"))
    renderer = Renderer(lambda name: up, tile=16)
    image = np.random.default_rng(1).integers(0, 256, (20, 24, 3)).astype(np.float32) / 255
    renderer.set_image("img", image)
    pane = ViewState(12.0, 10.0, 3.0).lattice(80, 64)
    request = RenderRequest(renderer.generations.issue("p"), "p", "bicubic", pane, "img", progressive=False)
    assert all(t.error is None for t in render(renderer, request))
    lattice = clip_to_image(pane, 24, 20)
    _, features = renderer.encoded("bicubic", "img")
    source = renderer.cached_tiles("bicubic", "img")
    up.calls = 0
    reused = export_region(up, features, lattice, tmp_path / "reused.png", reuse=source)
    assert up.calls == 0 and source.reused > 1
    fresh = export_region(up, features, lattice, tmp_path / "fresh.png")
    assert up.calls > 0
    assert reused.read_bytes() == fresh.read_bytes()


def test_export_panes_decodes_each_method_on_one_lattice_without_a_window(tmp_path: Path, image: np.ndarray) -> None:
    """Export Comparison's assembly (export.export_panes): each method prepared
    in its turn, progress over all panes, the sheet export_comparison makes."""
    ups = {name: load_upscaler(name, "cpu") for name in ("bicubic", "nearest")}
    lattice = Lattice.from_region(Region(1.0, 1.0, 8.0, 6.0), 24, 18)
    prepared: list[str] = []

    def prepare(method: str) -> tuple:
        prepared.append(method)
        return ups[method], ups[method].encode(image), None

    seen: list[tuple[int, int]] = []
    path = export.export_panes([("B", "bicubic"), ("N", "nearest")], prepare, lattice, tmp_path / "cmp.png",
                               progress=lambda d, t: seen.append((d, t)))
    assert prepared == ["bicubic", "nearest"]
    assert seen[-1][0] == seen[-1][1] and all(t == seen[0][1] for _, t in seen)
    by_hand = export_comparison([(label, ups[m].decode_lattice(ups[m].encode(image), lattice))
                                 for label, m in (("B", "bicubic"), ("N", "nearest"))], tmp_path / "hand.png")
    np.testing.assert_array_equal(load_image(path).rgb, load_image(by_hand).rgb)
    with pytest.raises(Cancelled):
        export.export_panes([("B", "bicubic")], prepare, lattice, tmp_path / "x.png", cancel=lambda: True)
    assert not (tmp_path / "x.png").exists()
