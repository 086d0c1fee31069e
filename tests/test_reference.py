"""Reference mode's scoring, Qt-free: the visible region's score agrees with
the whole-image score when the region is the whole image, stops when asked,
and is None for a region that covers no HR pixel; a separate reference file
matches the input at a whole scale by the evaluator's floor, is refused in one
line otherwise, and scores what the evaluator gives for it."""

from __future__ import annotations

import numpy as np
import pytest

from inference.catalog import load_upscaler
from inference.evaluate import evaluate_image, make_pair
from inference.geometry import Lattice, Region
from inference.piecewise import Cancelled
from inference.reference import (
    GroundTruthUpscaler,
    make_reference,
    matching_scale,
    reference_from_file,
    visible_score,
    whole_image_score,
)


def _reference() -> tuple:
    rng = np.random.default_rng(3)
    image = (rng.random((48, 40, 3)) * 255).astype(np.uint8)
    ref = make_reference(image, 2.0)
    up = load_upscaler("bicubic", "cpu")
    return ref, up, up.encode(ref.lr)


def test_visible_score_of_the_whole_image_is_the_whole_image_score() -> None:
    ref, up, features = _reference()
    w, h = ref.lr_size
    visible = visible_score(up, features, ref, (0.0, 0.0, float(w), float(h)))
    assert visible is not None and visible.window == (0, 0, *ref.hr_size)
    assert visible.hr_zoom == (2.0, 2.0)
    psnr, ssim = whole_image_score(up, ref)
    assert visible.score.psnr == pytest.approx(psnr, abs=1e-9)
    assert visible.score.ssim == pytest.approx(ssim, abs=1e-9)
    assert visible.score.error_map is not None and visible.score.error_map.shape[:2] == ref.hr.shape[:2]


def test_visible_score_stops_when_asked_and_covers_nothing_outside() -> None:
    ref, up, features = _reference()
    with pytest.raises(Cancelled):
        visible_score(up, features, ref, (0.0, 0.0, 10.0, 10.0), should_stop=lambda: True)
    assert visible_score(up, features, ref, (50.0, 50.0, 60.0, 60.0)) is None


# ------------------------------------------------------------------ a separate reference file


@pytest.mark.parametrize(("inp", "ref", "scale"), [
    ((40, 30), (160, 120), 4),  # exact
    ((40, 30), (163, 123), 4),  # s - 1 pixels over on both sides: the evaluator's floor crops them
    ((40, 30), (80, 61), 2),
    ((1, 1), (5, 5), 5),  # several integers fit a 1-pixel input: the largest, which crops least
    ((40, 30), (164, 120), None),  # s pixels over: 164 // 4 is 41, not 40
    ((40, 30), (160, 150), None),  # ×4 wide, ×5 high
    ((40, 30), (40, 30), None),  # ×1 is no reference
    ((40, 30), (79, 60), None),  # short of ×2
    ((40, 30), (20, 15), None),  # smaller than the input
    ((0, 30), (160, 120), None),
])
def test_matching_scale_is_the_evaluators_floor_read_backwards(inp, ref, scale) -> None:
    assert matching_scale(inp, ref) == scale
    if scale is not None:
        assert (ref[0] // scale, ref[1] // scale) == inp


def test_a_mismatched_reference_is_refused_in_one_line_naming_both_sizes() -> None:
    lr = np.zeros((30, 40, 3), np.float32)
    with pytest.raises(ValueError, match="not a whole scale") as refused:
        reference_from_file(lr, np.zeros((150, 160, 3), np.uint8), "/photos/ref.png")
    line = str(refused.value)
    assert "\n" not in line and "ref.png" in line
    assert "160 \u00d7 150" in line and "40 \u00d7 30" in line


def test_a_reference_file_scores_what_the_evaluator_gives_for_it() -> None:
    """An input made from the reference the evaluator's way (make_pair): the
    reference taken as its ground truth scores exactly evaluate_image's number,
    the whole image and the visible region of all of it alike."""
    rng = np.random.default_rng(5)
    reference = (rng.random((63, 49, 3)) * 255).astype(np.uint8)  # x3 of 16 x 21, one column over
    _, lr8 = make_pair(reference, 3.0)
    ref = reference_from_file(lr8.astype(np.float32) / 255.0, reference, "/photos/ref.png")
    assert (ref.scale, ref.name, ref.lr_size, ref.hr_size) == (3.0, "ref.png", (16, 21), (48, 63))
    np.testing.assert_array_equal(ref.hr, reference[:63, :48])
    up = load_upscaler("bicubic", "cpu")
    psnr, ssim = whole_image_score(up, ref)
    expected = evaluate_image(up, reference, 3.0)
    assert psnr == pytest.approx(expected[0], abs=1e-6) and ssim == pytest.approx(expected[1], abs=1e-6)
    visible = visible_score(up, up.encode(ref.lr), ref, (0.0, 0.0, 16.0, 21.0))
    assert visible is not None and visible.score.psnr == pytest.approx(psnr, abs=1e-6)


def test_the_ground_truth_of_a_reference_file_is_the_reference_on_any_lattice() -> None:
    rng = np.random.default_rng(6)
    reference = (rng.random((40, 32, 3)) * 255).astype(np.uint8)
    ref = reference_from_file(np.zeros((10, 8, 3), np.float32), reference, "ref.png")
    truth = GroundTruthUpscaler(ref, "cpu")
    assert "ref.png" in truth.weights.source
    features = truth.encode(ref.lr)
    at_scale = truth.decode_lattice(features, Lattice.from_region(Region.whole(8, 10), 32, 40))
    np.testing.assert_allclose(at_scale, reference / 255.0, atol=1e-6)  # zoom = s: the reference's own pixels
    assert truth.decode_lattice(features, Lattice.from_region(Region.whole(8, 10), 16, 20)).shape == (20, 16, 3)
