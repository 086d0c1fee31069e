"""Large images stay within memory: encoder features are kept in a byte budget,
a view encodes only the feature tiles it needs, `prepare` runs once per block
when it fits (and in bands when it does not, with the same pixels), and the
opt-in compiled decoder falls back to eager decoding where it cannot run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference import registry
from inference.features import FeatureMap
from inference.geometry import Lattice
from inference.render import Renderer, RenderRequest, ViewState, weights_id
from inference.upscaler import ImplicitUpscaler
from inference.weights import WeightsInfo
from tests.tiny_methods import TINY_LIIF_ARGS, sample_image, tiny_loader

TINY_DIIF_ARGS = {"encoder_spec": {"name": "edsr-baseline", "args": {"n_resblocks": 1, "n_feats": 8}}, "hidden": 16}


def tiny(method: str = "liif", **options) -> ImplicitUpscaler:
    torch.manual_seed(0)
    args = TINY_DIIF_ARGS if method == "diif" else TINY_LIIF_ARGS
    return ImplicitUpscaler(registry.build(method, **args), WeightsInfo(trained=False), "cpu", **options)


def lazily_tiled(up: ImplicitUpscaler, image: np.ndarray, tile: int = 16, budget: int = 1 << 30) -> FeatureMap:
    up.feature_tile, up.one_pass_pixels, up.feature_budget_bytes = tile, 1, budget
    feats = up.encode(image)
    assert not feats.one_pass
    return feats


def tiles_touching(lo: int, hi: int, tile: int, size: int) -> set[int]:
    return set(range(max(0, lo) // tile, (min(size, hi) - 1) // tile + 1))


def test_feature_cache_never_holds_more_than_its_budget() -> None:
    up = tiny()
    image = sample_image(80, 96)
    tile_bytes = 16 * 16 * 8 * 4  # 16 x 16 LR pixels x 8 channels x float32
    feats = lazily_tiled(up, image, tile=16, budget=5 * tile_bytes)
    rng = np.random.default_rng(0)
    for _ in range(25):
        y, x = int(rng.integers(0, 70)), int(rng.integers(0, 86))
        window = feats.window(y, y + 10, x, x + 10, halo=2)
        assert window.shape == (1, 8, 14, 14)
        assert feats.cached_bytes <= 5 * tile_bytes
    # Evicted tiles are encoded again when needed, with the same values.
    whole = tiny().encode(image).window(0, 80, 0, 96)
    torch.testing.assert_close(feats.window(0, 80, 0, 96), whole, atol=1e-4, rtol=1e-4)
    assert feats.cached_bytes <= 5 * tile_bytes


@pytest.mark.parametrize("method", ["liif", "diif"])
def test_a_viewport_encodes_only_the_feature_tiles_it_needs(method: str) -> None:
    up = tiny(method)
    h, w = 120, 160
    feats = lazily_tiled(up, sample_image(h, w), tile=16)
    lattice = Lattice(4.0, 4.0, 4.0 * 70, 4.0 * 50, 60, 40)  # LR x 70..85, y 50..60
    out = up.decode_lattice(feats, lattice)
    assert out.shape == (40, 60, 3) and out.std() > 0
    y0, y1, x0, x1 = up.model.lattice_window(lattice, h, w)
    halo = up.model.feature_halo
    rows = tiles_touching(y0 - halo, y1 + halo, 16, h)
    cols = tiles_touching(x0 - halo, x1 + halo, 16, w)
    assert feats.tiles_encoded == len(rows) * len(cols)
    assert feats.tiles_encoded < (h // 16) * (w // 16) // 8


def test_the_viewer_encodes_around_the_view_only_and_nothing_when_shrinking() -> None:
    load = tiny_loader()
    upscalers: dict[str, object] = {}

    def get(name: str):
        if name not in upscalers:
            up = load(name, "cpu")
            if name == "liif":
                up.feature_tile, up.one_pass_pixels = 16, 1
            upscalers[name] = up
        return upscalers[name]

    h, w = 128, 192
    renderer = Renderer(get, tile=32)
    renderer.set_image("big", sample_image(h, w))

    def show(view: ViewState) -> None:
        target = "pane"
        renderer.submit(RenderRequest(renderer.generations.issue(target), target, "liif", view.lattice(64, 48), "big"))
        while (tile := renderer.next_result()) is not None:
            assert tile.error is None

    show(ViewState.fit(w, h, 64, 48))  # zoom < 1: bicubic, the model is not even encoded
    assert ("big", "liif", weights_id(get("liif"))) not in renderer.features
    show(ViewState(100.0, 60.0, 4.0))
    feats = renderer.encoded("liif", "big")[1]
    assert 0 < feats.tiles_encoded <= 3 * 3  # a 16 x 12 LR pixel view and its margins
    assert feats.tiles_encoded < (h // 16) * (w // 16)


def count_prepares(up: ImplicitUpscaler) -> list[tuple[int, ...]]:
    calls: list[tuple[int, ...]] = []
    real = up.model.prepare

    def counted(feat: torch.Tensor):
        calls.append(tuple(feat.shape))
        return real(feat)

    up.model.prepare = counted  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("method", ["liif", "diif"])
def test_prepare_runs_once_per_block_that_fits_and_in_bands_otherwise(method: str) -> None:
    image = sample_image(30, 36)
    lattice = Lattice.full_image(36, 30, 5.3)
    roomy = tiny(method, chunk=512)
    roomy.prepared_bytes_per_pixel()
    calls = count_prepares(roomy)
    whole = roomy.decode_lattice(roomy.encode(image), lattice)
    assert len(calls) == 1  # many chunks of 512 points, one preparation

    tight = tiny(method, chunk=512, prepare_budget_bytes=int(6 * 36 * tight_bytes(method)))
    tight.prepared_bytes_per_pixel()
    calls = count_prepares(tight)
    banded = tight.decode_lattice(tight.encode(image), lattice)
    assert len(calls) > 3
    assert max(shape[-2] for shape in calls) < 30  # each band prepares only its own rows (and margins)
    np.testing.assert_allclose(banded, whole, atol=1e-5, rtol=0)


def tight_bytes(method: str) -> float:
    return tiny(method).prepared_bytes_per_pixel()


def test_compile_on_the_cpu_decodes_eagerly_and_says_so() -> None:
    image = sample_image(10, 12)
    lattice = Lattice.full_image(12, 10, 3.3)
    eager = tiny()
    compiled = tiny(compile=True)
    assert not compiled.compile_active and "CUDA" in compiled.compile_note
    np.testing.assert_array_equal(compiled.decode_lattice(compiled.encode(image), lattice),
                                  eager.decode_lattice(eager.encode(image), lattice))


def test_a_compiled_decoder_that_fails_falls_back_to_eager_decoding() -> None:
    image = sample_image(10, 12)
    lattice = Lattice.full_image(12, 10, 3.3)
    up = tiny()
    expected = up.decode_lattice(up.encode(image), lattice)

    def broken(*args):
        raise RuntimeError("inductor: no C++ compiler found")

    up.compile_active, up._prepare, up._decode_window = True, broken, broken
    out = up.decode_lattice(up.encode(image), lattice)
    np.testing.assert_array_equal(out, expected)
    assert not up.compile_active and "no C++ compiler" in up.compile_note


def test_encoding_keeps_no_copy_of_a_float_image() -> None:
    """Each method's features of a large image refer to the one image the
    viewer holds; crops are normalised as the encoder needs them."""
    image = sample_image(48, 64)
    up = tiny()
    feats = lazily_tiled(up, image, tile=16)
    assert np.shares_memory(feats.image.numpy(), image)
    whole = tiny().encode(image).window(0, 48, 0, 64)
    torch.testing.assert_close(feats.window(0, 48, 0, 64), whole, atol=1e-4, rtol=1e-4)
